package mqtt_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
)

type fixture struct {
	b      *mqtttest.Broker
	topics discovery.Options
	client *mqtt.Client
}

func setup(t *testing.T) *fixture {
	t.Helper()
	b := mqtttest.Start(t)
	f := &fixture{b: b, topics: discovery.Options{
		BaseTopic: b.Prefix("ab"), DiscoveryPrefix: b.Prefix("ha"), QoS: 1,
		Origin: discovery.Origin{Name: "accountbridge", SWVersion: "test"},
	}}
	return f
}

func (f *fixture) connect(t *testing.T) *mqtt.Client {
	t.Helper()
	c, err := mqtt.New(mqtt.Options{Broker: f.b.URL(), ClientID: "test-" + f.topics.BaseTopic,
		AvailabilityTopic: f.topics.BridgeAvailabilityTopic(), QoS: 1,
		ProbeInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Close)
	f.client = c
	return c
}

func (f *fixture) watch(t *testing.T) *mqtttest.Watcher {
	return f.b.Watch(t, f.topics.BaseTopic+"/#", f.topics.DiscoveryPrefix+"/#")
}

func TestOnlineIsRetainedAfterConnect(t *testing.T) {
	f := setup(t)
	f.connect(t)
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.watch(t)
	w.WaitFor(avail, "online")
	// A subscriber that arrives later still gets it: it is retained.
	m := f.b.Watch(t, avail).WaitFor(avail, "online")
	if !m.Retained {
		t.Error("online was not retained")
	}
}

func TestLastWillFiresOnUncleanDisconnect(t *testing.T) {
	f := setup(t)
	f.connect(t)
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.b.Watch(t, avail)
	w.WaitFor(avail, "online")
	// Down, not DropConnections: were the client allowed straight back, it could take over
	// its session before the broker noticed the dropped connection, and the will would
	// race the new "online" (this test failed so under load). Refusing connections until
	// the will is seen makes the order certain.
	f.b.Down()
	w.WaitFor(avail, "offline")
	f.b.Up()
	// The client reconnects by itself and says online again.
	w.WaitFor(avail, "online")
}

func TestCloseSaysOffline(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.b.Watch(t, avail)
	w.WaitFor(avail, "online")
	c.Close()
	w.WaitFor(avail, "offline")
	if m := f.b.Watch(t, avail).WaitFor(avail, "*"); m.Payload != "offline" || !m.Retained {
		t.Errorf("retained availability after close = %+v", m)
	}
}

func TestCommandsReachHandlerButRetainedOnesDoNot(t *testing.T) {
	f := setup(t)
	c := f.connect(t)
	w := f.watch(t)
	w.WaitFor(f.topics.BridgeAvailabilityTopic(), "online")
	// A command left retained on the broker (a misconfigured flow) must not fire on subscribe.
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "stale", true)
	// Subscribe only once the broker has fanned it out (mochi acknowledges before it does),
	// so the client gets it as a retained replay and not as a live message.
	w.WaitFor(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "stale")
	got := make(chan string, 4)
	c.Subscribe(mqtt.Subscription{Filter: f.topics.BaseTopic + "/+/+/set", Handler: func(topic string, payload []byte) {
		dev, key, ok := mqtt.CommandTopicParts(f.topics.BaseTopic, topic)
		if ok {
			got <- dev + "." + key + "=" + string(payload)
		}
	}})
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "PRESS", false)
	if cmd := <-got; cmd != "onecloud_a.withdraw=PRESS" {
		t.Errorf("command = %q (a retained command must be ignored)", cmd)
	}
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "", true) // clear it
}

// logRecords collects the client's log records for assertions.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
	seen chan slog.Record
}

func newLogRecords() *logRecords { return &logRecords{seen: make(chan slog.Record, 1000)} }

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	select {
	case l.seen <- r.Clone():
	default:
	}
	return nil
}

// count is how many records carry an attribute key whose value contains text.
func (l *logRecords) count(key, text string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key && strings.Contains(a.Value.String(), text) {
				n++
			}
			return true
		})
	}
	return n
}

// waitFor waits for a record with message msg.
func (l *logRecords) waitFor(t *testing.T, msg string) slog.Record {
	t.Helper()
	deadline := time.After(mqtttest.Wait)
	for {
		select {
		case r := <-l.seen:
			if r.Message == msg {
				return r
			}
		case <-deadline:
			t.Fatalf("no log record %q within %s", msg, mqtttest.Wait)
		}
	}
}

func (f *fixture) connectWith(t *testing.T, opts mqtt.Options) *mqtt.Client {
	t.Helper()
	opts.Broker, opts.ClientID = f.b.URL(), "test-"+f.topics.BaseTopic
	opts.AvailabilityTopic, opts.QoS = f.topics.BridgeAvailabilityTopic(), 1
	c, err := mqtt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Close)
	f.client = c
	return c
}

// However long the broker was away, the client is back at the next probe: it does not
// back off while the broker is unreachable. paho's own reconnect (1s doubling) would need
// over eight minutes for the twenty attempts this test waits for before the broker returns.
func TestReconnectDoesNotBackOffWhileUnreachable(t *testing.T) {
	f := setup(t)
	f.connectWith(t, mqtt.Options{ProbeInterval: 10 * time.Millisecond, RefusedBackoff: time.Hour, MaxReconnect: time.Hour})
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.b.Watch(t, avail)
	w.WaitFor(avail, "online")
	f.b.Down()
	w.WaitFor(avail, "offline")
	f.b.WaitTurnedAway(t, f.b.TurnedAway()+20)
	f.b.Up()
	w.WaitFor(avail, "online")
}

// A broker that refuses says why, once per change of reason; the reason is what Problem
// reports (the health file), and it clears on connect.
func TestRefusalReasonIsLoggedOncePerChange(t *testing.T) {
	f := setup(t)
	logs := newLogRecords()
	c := f.connectWith(t, mqtt.Options{Logger: slog.New(logs), ProbeInterval: time.Millisecond,
		RefusedBackoff: time.Millisecond, MaxReconnect: 2 * time.Millisecond})
	avail := f.topics.BridgeAvailabilityTopic()
	w := f.b.Watch(t, avail)
	w.WaitFor(avail, "online")

	for _, tc := range []struct {
		code byte
		want string
	}{{4, "bad user name or password"}, {5, "not authorised"}} {
		f.b.Refuse(tc.code)
		if tc.code == 4 {
			w.WaitFor(avail, "offline") // the will: only now is every earlier "online" behind us
		}
		f.b.WaitTurnedAway(t, f.b.TurnedAway()+5)
		if p := c.Problem(); !strings.Contains(p, tc.want) {
			t.Errorf("code %d: Problem() = %q, want it to say %q", tc.code, p, tc.want)
		}
		if n := logs.count("reason", tc.want); n != 1 {
			t.Errorf("code %d: the reason %q was logged %d times over 5 refusals, want once", tc.code, tc.want, n)
		}
	}
	f.b.Up()
	w.WaitFor(avail, "online")
	if p := c.Problem(); p != "" {
		t.Errorf("Problem() = %q once connected", p)
	}
}

func TestRefusalDelayDoublesToItsCap(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, 2 * time.Second}, {1, 4 * time.Second}, {3, 16 * time.Second}, {4, 32 * time.Second}, {5, time.Minute}, {60, time.Minute}} {
		if got := mqtt.RefusalDelay(2*time.Second, time.Minute, tc.n); got != tc.want {
			t.Errorf("after %d refusals: %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		want    string
		refused bool
	}{
		{"password", packets.ErrorRefusedBadUsernameOrPassword, "bad user name or password", true},
		{"acl", packets.ErrorRefusedNotAuthorised, "not authorised", true},
		{"unknown CA", fmt.Errorf("network Error : %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "unknown authority", true},
		{"name mismatch", fmt.Errorf("network Error : %w", &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mqtt.lan"}}), "name mismatch", true},
		{"plain TCP port", fmt.Errorf("network Error : %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "does not speak TLS", true},
		{"down", fmt.Errorf("network Error : %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), "unreachable: connection refused", false},
		{"dropped", fmt.Errorf("network Error : %w", io.EOF), "unreachable: the connection closed during the handshake", false},
		{"reset", fmt.Errorf("network Error : %w", &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}), "unreachable: the connection closed during the handshake", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, refused := mqtt.Classify(tc.err)
			if !strings.Contains(got, tc.want) || refused != tc.refused {
				t.Errorf("Classify = %q, %v; want %q, %v", got, refused, tc.want, tc.refused)
			}
		})
	}
}

// A payload over its topic's limit never reaches the handler, and its log line gives
// the size, not the content.
func TestOversizedPayloadIsDroppedWithItsSize(t *testing.T) {
	f := setup(t)
	logs := newLogRecords()
	c := f.connectWith(t, mqtt.Options{Logger: slog.New(logs), ProbeInterval: 20 * time.Millisecond})
	w := f.watch(t)
	w.WaitFor(f.topics.BridgeAvailabilityTopic(), "online")
	got := make(chan string, 4)
	filter := f.topics.BaseTopic + "/+/+/set"
	c.Subscribe(mqtt.Subscription{Filter: filter, MaxPayload: 16, Handler: func(_ string, payload []byte) {
		got <- fmt.Sprintf("%.20s (%d bytes)", payload, len(payload))
	}})
	big := strings.Repeat("x", 1<<20)
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", big, false)
	rec := logs.waitFor(t, "mqtt payload over the size limit of its topic; dropped")
	w.Publish(f.topics.BaseTopic+"/onecloud_a/withdraw/set", "PRESS", false)
	if p := <-got; p != "PRESS (5 bytes)" {
		t.Errorf("handler got %s", p)
	}
	var size int64
	var line strings.Builder
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "bytes" {
			size = a.Value.Int64()
		}
		line.WriteString(a.String())
		return true
	})
	if size != 1<<20 || line.Len() > 300 || strings.Contains(line.String(), "xxxx") {
		t.Errorf("log line: %.400s", line.String())
	}
	select {
	case p := <-got:
		t.Errorf("handler got %s", p)
	default:
	}
}
