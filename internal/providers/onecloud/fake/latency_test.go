package fake

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// SetLatency delays only the named endpoints, and a client that gives up is not kept
// waiting.
func TestLatencyOnNamedEndpointsOnly(t *testing.T) {
	s := New(Default())
	s.SetLatency(time.Hour, "/listPeer")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/user/login", strings.NewReader("")))
	if !strings.Contains(rec.Body.String(), `"iRet"`) {
		t.Fatalf("login (not delayed): %s", rec.Body.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/listPeer", nil).WithContext(ctx))
	if s.Count("/listPeer") != 1 {
		t.Errorf("listPeer calls = %d, want 1", s.Count("/listPeer"))
	}
}
