package fake

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Latency applies to the endpoints in LatencyOn only, and a client that gives up is not
// kept waiting.
func TestLatencyOnNamedEndpointsOnly(t *testing.T) {
	s := New(Options{})
	s.Set(func(sw *Switches) { sw.Latency, sw.LatencyOn = time.Hour, []string{Debt} })
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/open/recharge/getUserDebtByUserCode",
		strings.NewReader(`{"userCode":"`+DefaultUserCode+`","cid":2}`)))
	if !strings.Contains(rec.Body.String(), `"success":true`) {
		t.Fatalf("open debt (not delayed): %s", rec.Body.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/close/recharge/getUserDebt", strings.NewReader(`{}`)).WithContext(ctx))
	if s.Count(Debt) != 1 {
		t.Errorf("debt calls = %d, want 1", s.Count(Debt))
	}
}
