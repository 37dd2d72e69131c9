package fake_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/telecom"
	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

// SetLatency delays only the named operations, and a client that gives up is not kept
// waiting.
func TestLatencyOnNamedOperationsOnly(t *testing.T) {
	f := fake.New()
	f.AddAccount("18912345678", "123456", fake.PlanNormal)
	f.SetLatency(time.Hour, fake.OpImportantData)
	if got := login(t, f, f.PublicKeyPEM(), func(*telecom.Request[telecom.LoginFields], *string) {}); !strings.Contains(got, `"resultCode":"0000"`) {
		t.Fatalf("login (not delayed) failed: %s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/query/qryImportantData",
		strings.NewReader(`{"headerInfos":{"timestamp":"20250615163000","shopId":"20002","source":"110003","sourcePassword":"Sid98s"}}`)).WithContext(ctx)
	r.Header.Set("Content-Type", "application/json")
	f.ServeHTTP(rec, r) // returns at once: the client is gone
	if f.Queries(fake.OpImportantData) != 1 {
		t.Errorf("queries = %d, want 1", f.Queries(fake.OpImportantData))
	}
}

func TestAddDataUse(t *testing.T) {
	f := fake.New()
	f.AddAccount("18912345678", "123456", fake.PlanNormal)
	if f.AddDataUse("18900000000", 1) {
		t.Error("AddDataUse of an unknown number reported true")
	}
	if !f.AddDataUse("18912345678", 1024*1024) {
		t.Error("AddDataUse of a known number reported false")
	}
}
