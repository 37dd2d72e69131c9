package telecom

import (
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

func TestChineseNamesCoverEveryEntity(t *testing.T) {
	dev := providers.Device{Name: "China Telecom 189****5678", Entities: Entities(true, true)}
	if missing := Names["zh"].MissingNames(dev); len(missing) > 0 {
		t.Errorf("no Chinese name for %v", missing)
	}
	zh := Names["zh"].Apply(dev)
	if zh.Name != "中国电信 189****5678" || zh.Entities[0].Key != dev.Entities[0].Key {
		t.Errorf("localized = %q %+v", zh.Name, zh.Entities[0])
	}
}
