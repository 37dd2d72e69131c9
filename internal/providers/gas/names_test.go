package gas

import (
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

func TestChineseNamesCoverEveryEntity(t *testing.T) {
	dev := providers.Device{Name: "PetroChina Gas 12345678", Entities: Entities(true, 3)}
	if missing := Names["zh"].MissingNames(dev); len(missing) > 0 {
		t.Errorf("no Chinese name for %v", missing)
	}
	if zh := Names["zh"].Apply(dev); zh.Name != "昆仑燃气 12345678" {
		t.Errorf("device name = %q", zh.Name)
	}
}
