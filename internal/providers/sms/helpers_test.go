package sms

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

// wait bounds every wait of these tests: a deadline for failing, not a timing assertion.
const wait = 15 * time.Second

// newPlatform builds a platform account from settings.
func newPlatform(t testing.TB, id string, s Settings) *Platform {
	t.Helper()
	p, err := New(providers.Account{ID: id, Provider: Kind, Decode: func(v any) error {
		*v.(*Settings) = s
		return nil
	}}, providers.Deps{KV: &providers.MemoryKV{}})
	if err != nil {
		t.Fatalf("New(%s): %v", id, err)
	}
	return p.(*Platform)
}

// pub is one message the router published.
type pub struct {
	Topic string
	Msg   Message
	Raw   string
}

// publisher records the router's messages; it fails the first `failures` publishes.
type publisher struct {
	mu       sync.Mutex
	msgs     []pub
	failures int
	ch       chan pub
}

func newPublisher() *publisher { return &publisher{ch: make(chan pub, 1000)} }

func (p *publisher) publish(topic string, payload []byte, retained bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if retained {
		panic("order messages must not be retained")
	}
	if p.failures > 0 {
		p.failures--
		return context.DeadlineExceeded
	}
	var m Message
	if err := json.Unmarshal(payload, &m); err != nil {
		panic(err)
	}
	x := pub{topic, m, string(payload)}
	p.msgs = append(p.msgs, x)
	p.ch <- x
	return nil
}

func (p *publisher) all() []pub {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pub(nil), p.msgs...)
}

// count counts messages of a request with status.
func (p *publisher) count(rid, status string) int {
	n := 0
	for _, m := range p.all() {
		if m.Msg.RequestID == rid && m.Msg.Status == status {
			n++
		}
	}
	return n
}

// testRouter is a running router over platforms.
type testRouter struct {
	*Router
	pub    *publisher
	cancel context.CancelFunc
	done   chan error
}

func fastSettings() RouterSettings {
	return RouterSettings{CodePollInterval: 5 * time.Millisecond, CodeTimeout: 10 * time.Second}
}

func newRouter(t testing.TB, kv providers.KV, set RouterSettings, ps ...*Platform) *Router {
	t.Helper()
	var members []providers.GroupMember
	for _, p := range ps {
		members = append(members, providers.GroupMember{Account: providers.Account{ID: p.ID(), Provider: Kind}, Provider: p})
	}
	g, err := NewRouter(members, providers.GroupDeps{KV: kv, Decode: func(v any) error {
		*v.(*RouterSettings) = set
		return nil
	}})
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	return g.(*Router)
}

func startRouter(t testing.TB, kv providers.KV, set RouterSettings, ps ...*Platform) *testRouter {
	t.Helper()
	r := newRouter(t, kv, set, ps...)
	pb := newPublisher()
	r.deps.Publish = pb.publish
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testRouter{Router: r, pub: pb, cancel: cancel, done: make(chan error, 1)}
	go func() { tr.done <- r.Run(ctx) }()
	t.Cleanup(tr.stop)
	return tr
}

func (tr *testRouter) stop() {
	tr.cancel()
	<-tr.done
	tr.done <- nil // later stops return at once
}

func (tr *testRouter) order(req string) {
	tr.Handle(context.Background(), TopicOrder, []byte(req))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// waitFor waits until a message of request rid with one of statuses was published (at
// any time) and returns the first.
func (p *publisher) waitFor(t testing.TB, rid string, statuses ...string) pub {
	t.Helper()
	deadline := time.After(wait)
	for {
		for _, m := range p.all() {
			if m.Msg.RequestID != rid {
				continue
			}
			for _, s := range statuses {
				if m.Msg.Status == s {
					return m
				}
			}
		}
		select {
		case <-p.ch:
		case <-deadline:
			t.Fatalf("no %v message for %s within %s; got %v", statuses, rid, wait, p.all())
			return pub{}
		}
	}
}

// activateAt is an activate platform account over a running fake.
func activateAt(t testing.TB, id, url string, priority int) *Platform {
	t.Helper()
	return newPlatform(t, id, Settings{Platform: FamilyActivate, APIKey: "key-" + id, BaseURL: url, Priority: priority})
}

// startActivate starts an SMS-Activate fake selling tg/us (country 187) at price with
// count in stock, and returns it with its platform account.
func startActivate(t testing.TB, id string, price float64, count, priority int) (*Platform, *fake.Activate, string) {
	t.Helper()
	f := fake.NewActivate("key-" + id)
	f.SetOffer("tg", "187", price, count)
	url, stop := fake.Serve(f)
	t.Cleanup(stop)
	return activateAt(t, id, url, priority), f, url
}

// startFiveSim starts a 5SIM fake selling telegram/usa.
func startFiveSim(t testing.TB, id string, price float64, count int) (*Platform, *fake.FiveSim) {
	t.Helper()
	f := fake.NewFiveSim("tok-" + id)
	f.SetOffer("telegram", "usa", price, count)
	url, stop := fake.Serve(f)
	t.Cleanup(stop)
	return newPlatform(t, id, Settings{Platform: FamilyFiveSim, APIKey: "tok-" + id, BaseURL: url}), f
}

// orderJSON is an order request for tg/us.
func orderJSON(rid string, extra ...string) string {
	s := `{"request_id":"` + rid + `","service":"tg","country":"us"`
	for _, x := range extra {
		s += "," + x
	}
	return s + "}"
}
