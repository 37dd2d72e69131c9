package httpx

import (
	"testing"
	"unsafe"
)

// The default User-Agent of a provider is one string shared by all its clients.
func TestDefaultUserAgentShared(t *testing.T) {
	a, b := defaultUserAgent("telecom"), defaultUserAgent("telecom")
	if a != DefaultUserAgent("telecom") || defaultUserAgent("gas") != DefaultUserAgent("gas") {
		t.Fatalf("defaultUserAgent = %q, want %q", a, DefaultUserAgent("telecom"))
	}
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("two clients of one provider hold two copies of its User-Agent")
	}
}
