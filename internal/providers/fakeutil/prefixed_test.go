package fakeutil

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPrefixed(t *testing.T) {
	echo := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(name + " " + r.URL.Path)) })
	}
	p := Prefixed{echo("zero"), echo("one")}
	for _, tt := range []struct{ path, want string }{
		{"/a/0/api/login", "zero /api/login"},
		{"/a/1/x", "one /x"},
		{"/a/2/x", ""}, {"/a/-1/x", ""}, {"/a/one/x", ""}, {"/a/1", ""}, {"/b/0/x", ""},
	} {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if tt.want == "" {
			if rec.Code != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", tt.path, rec.Code)
			}
		} else if rec.Body.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.path, rec.Body.String(), tt.want)
		}
	}
}
