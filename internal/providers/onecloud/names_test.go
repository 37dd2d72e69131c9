package onecloud

import (
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

func TestChineseNamesCoverEveryEntity(t *testing.T) {
	acct := providers.Device{Name: "OneCloud Home", Entities: accountEntities}
	box := providers.Device{Name: "客厅", Entities: boxEntities}
	if missing := Names["zh"].MissingNames(acct, box); len(missing) > 0 {
		t.Errorf("no Chinese name for %v", missing)
	}
	if zh := Names["zh"].Apply(acct); zh.Name != "玩客云 Home" {
		t.Errorf("account device name = %q", zh.Name)
	}
	if zh := Names["zh"].Apply(box); zh.Name != "客厅" {
		t.Errorf("box name changed: %q", zh.Name)
	}
}
