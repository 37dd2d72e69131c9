package sms

import (
	"context"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

// BenchmarkParseReply: one handler_api.php text answer (the activate family's hot path).
func BenchmarkParseReply(b *testing.B) {
	body := []byte("STATUS_OK:Your verification code is 246801. Do not share it.")
	b.ReportAllocs()
	for b.Loop() {
		if r := ParseReply(body); r.JSON {
			b.Fatal("parsed as JSON")
		}
	}
}

// BenchmarkPlatformPoll: a whole poll of an activate platform watching two pairs, against
// its fake on loopback (balance each poll; prices from the cache, as in steady state).
func BenchmarkPlatformPoll(b *testing.B) {
	f := fake.NewActivate("k")
	f.SetOffer("tg", "187", 10, 5)
	f.SetOffer("wa", "187", 18, 40)
	p := newPlatform(b, "act", Settings{Platform: FamilyActivate, APIKey: "k", BaseURL: serve(b, f)})
	newRouter(b, &providers.MemoryKV{}, RouterSettings{Watch: watchUS}, p)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		snap, err := p.Poll(ctx)
		if err != nil || len(snap.Devices) != 1 {
			b.Fatalf("poll: %v, %d devices", err, len(snap.Devices))
		}
	}
}
