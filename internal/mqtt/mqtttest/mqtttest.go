// Package mqtttest gives tests a real MQTT broker: the embedded mochi broker, or the
// broker named by MQTT_TEST_BROKER (Mosquitto in CI). Clients reach it through a TCP proxy
// so a test can cut connections uncleanly (the last will fires) or simulate a restart.
//
// The embedded broker runs in a child process of the test binary (started from this
// package's init). mochi v2.7.9 has a data race of its own (retained-message index written
// while a wildcard subscribe scans it); in the test process it would fail every -race run
// of our packages, while our code is what the race detector must watch.
package mqtttest

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/accountbridge/accountbridge/internal/mqtt/broker"
)

// Env names the variable that points the tests at a real broker.
const Env = "MQTT_TEST_BROKER"

// Wait bounds every wait in these tests. It is a deadline for failing, not a timing assertion.
const Wait = 30 * time.Second

const childEnv = "MQTTTEST_BROKER_CHILD"

// init turns the test binary into a broker when started as the child of startChild: it
// prints the broker's address and serves until its standard input closes (the parent
// ended or killed it).
func init() {
	if os.Getenv(childEnv) != "1" {
		return
	}
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(b.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

func startChild(t testing.TB) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// The child's own races are mochi's; do not let them end the child.
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE=halt_on_error=0 exitcode=0 log_path=/dev/null")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the broker process: %v", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("the broker process did not start: %v", err)
	}
	return &child{cmd: cmd, stdin: stdin, addr: strings.TrimSpace(line)}
}

// Embedded is the embedded broker run in a child process of the test binary (never the
// broker of MQTT_TEST_BROKER), for tests of code that would start one of its own: its
// address and stop, which is idempotent and also runs when the test ends.
func Embedded(t testing.TB) (addr string, stop func()) {
	t.Helper()
	c := startChild(t)
	var once sync.Once
	stop = func() { once.Do(c.stop) }
	t.Cleanup(stop)
	return c.addr, stop
}

func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// Broker is the broker under test behind a proxy.
type Broker struct {
	t        testing.TB
	embedded *child
	upstream string // host:port the proxy forwards to
	external bool
	proxy    net.Listener
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	up       bool
	refuse   byte // when not 0: answer every CONNECT with a CONNACK of this return code
	prefixes []string
	// turnedAway counts connection attempts refused while down or refusing; changed is
	// closed (and replaced) at every count.
	turnedAway int
	changed    chan struct{}
}

// Start returns a broker for the test, cleaned up when it ends.
func Start(t testing.TB) *Broker {
	t.Helper()
	b := &Broker{t: t, conns: map[net.Conn]struct{}{}, up: true, changed: make(chan struct{})}
	if ext := os.Getenv(Env); ext != "" {
		u, err := url.Parse(ext)
		if err != nil || u.Host == "" {
			t.Fatalf("%s=%q is not a tcp://host:port URL", Env, ext)
		}
		b.upstream, b.external = u.Host, true
	} else {
		b.embedded = startChild(t)
		b.upstream = b.embedded.addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.proxy = ln
	go b.accept()
	t.Cleanup(func() {
		ln.Close()
		b.DropConnections()
		if b.external {
			for _, p := range b.prefixes {
				b.clearRetained(p)
			}
		}
		if b.embedded != nil {
			b.embedded.stop()
		}
	})
	return b
}

// External reports whether the tests run against a real broker.
func (b *Broker) External() bool { return b.external }

// URL is what clients under test connect to (the proxy).
func (b *Broker) URL() string { return "tcp://" + b.proxy.Addr().String() }

// Prefix returns a topic prefix unique to this test run, so tests sharing a real broker
// never see each other's retained messages; it is cleared at the end of the test.
func (b *Broker) Prefix(name string) string {
	p := fmt.Sprintf("%s_%08x", name, rand.Uint32())
	b.mu.Lock()
	b.prefixes = append(b.prefixes, p)
	b.mu.Unlock()
	return p
}

func (b *Broker) accept() {
	for {
		c, err := b.proxy.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		up, refuse, upstream := b.up, b.refuse, b.upstream
		if !up || refuse != 0 {
			b.turnedAway++
			close(b.changed)
			b.changed = make(chan struct{})
		}
		b.mu.Unlock()
		if refuse != 0 {
			go refuseConnect(c, refuse)
			continue
		}
		if !up {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			continue
		}
		b.mu.Lock()
		b.conns[c], b.conns[s] = struct{}{}, struct{}{}
		b.mu.Unlock()
		go b.pipe(c, s)
		go b.pipe(s, c)
	}
}

func (b *Broker) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	b.mu.Lock()
	delete(b.conns, dst)
	delete(b.conns, src)
	b.mu.Unlock()
}

// DropConnections cuts every proxied connection without an MQTT DISCONNECT, as a crash
// or a network failure would: the broker fires the clients' last wills.
func (b *Broker) DropConnections() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
}

// Down cuts every client connection and refuses new ones until Up, as an unreachable
// broker would. Watchers are not affected.
func (b *Broker) Down() {
	b.mu.Lock()
	b.up = false
	b.mu.Unlock()
	b.DropConnections()
}

// Up lets clients connect again (also after Refuse).
func (b *Broker) Up() {
	b.mu.Lock()
	b.up, b.refuse = true, 0
	b.mu.Unlock()
}

// Refuse cuts every client connection and answers each new CONNECT with a CONNACK
// carrying code (4: bad user name or password, 5: not authorised), as a broker that
// refuses the client's credentials would, until Up.
func (b *Broker) Refuse(code byte) {
	b.mu.Lock()
	b.refuse = code
	b.mu.Unlock()
	b.DropConnections()
}

// refuseConnect reads the client's CONNECT and answers with a refusal.
func refuseConnect(c net.Conn, code byte) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(Wait))
	r := bufio.NewReader(c)
	if _, err := r.ReadByte(); err != nil { // fixed header: CONNECT
		return
	}
	n, shift := 0, 0
	for { // remaining length, a varint
		by, err := r.ReadByte()
		if err != nil {
			return
		}
		n |= int(by&0x7f) << shift
		if by&0x80 == 0 {
			break
		}
		shift += 7
	}
	if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
		return
	}
	_, _ = c.Write([]byte{0x20, 0x02, 0x00, code})
}

// TurnedAway counts the connection attempts turned away so far (Down or Refuse).
func (b *Broker) TurnedAway() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.turnedAway
}

// WaitTurnedAway waits until TurnedAway reaches n.
func (b *Broker) WaitTurnedAway(t testing.TB, n int) {
	t.Helper()
	deadline := time.After(Wait)
	for {
		b.mu.Lock()
		got, changed := b.turnedAway, b.changed
		b.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%d connection attempts turned away within %s, want %d", got, Wait, n)
		}
	}
}

// Restart simulates a broker restart that loses retained messages: connections drop,
// the broker comes back empty (a new embedded broker, or the real broker with this test's
// retained topics cleared), and clients may reconnect.
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	b.up = false
	b.mu.Unlock()
	b.DropConnections()
	if b.embedded != nil {
		b.embedded.stop()
		b.embedded = startChild(b.t)
		b.mu.Lock()
		b.upstream = b.embedded.addr
		b.mu.Unlock()
	} else {
		b.mu.Lock()
		prefixes := append([]string(nil), b.prefixes...)
		b.mu.Unlock()
		for _, p := range prefixes {
			b.clearRetained(p)
		}
	}
	b.mu.Lock()
	b.up = true
	b.mu.Unlock()
}

// clearRetained removes every retained message under prefix on the real broker.
func (b *Broker) clearRetained(prefix string) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.upstream).SetClientID(fmt.Sprintf("cleaner%08x", rand.Uint32())))
	if t := c.Connect(); !t.WaitTimeout(Wait) || t.Error() != nil {
		return
	}
	defer c.Disconnect(100)
	var mu sync.Mutex
	var topics []string
	done := make(chan struct{})
	marker := prefix + "/__end_of_retained"
	// QoS 0: Mosquitto queues at most 1,000 QoS 1 messages for a client by default and
	// drops the rest, the marker among them, with thousands of retained topics.
	c.Subscribe(prefix+"/#", 0, func(_ paho.Client, m paho.Message) {
		if m.Topic() == marker {
			close(done)
			return
		}
		if m.Retained() {
			mu.Lock()
			topics = append(topics, m.Topic())
			mu.Unlock()
		}
	}).WaitTimeout(Wait)
	c.Publish(marker, 1, false, "x").WaitTimeout(Wait)
	select {
	case <-done:
	case <-time.After(Wait):
	}
	mu.Lock()
	defer mu.Unlock()
	// All sent before any acknowledgement is awaited: one round trip each, in turn, took
	// over a minute for the 1,500 topics of TestRepublishInBatches.
	tokens := make([]paho.Token, len(topics))
	for i, tp := range topics {
		tokens[i] = c.Publish(tp, 1, true, []byte{})
	}
	for _, tok := range tokens {
		tok.WaitTimeout(Wait)
	}
}

// Message is one message a Watcher saw.
type Message struct {
	Topic    string
	Payload  string
	Retained bool
}

// Watcher is an observing client subscribed to filters. It connects directly to the
// broker, not through the proxy, so DropConnections does not disturb it.
type Watcher struct {
	t    testing.TB
	c    paho.Client
	msgs chan Message
}

// Watch subscribes a new observer to filters.
func (b *Broker) Watch(t testing.TB, filters ...string) *Watcher {
	t.Helper()
	b.mu.Lock()
	upstream := b.upstream
	b.mu.Unlock()
	w := &Watcher{t: t, msgs: make(chan Message, 10000)}
	w.c = paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + upstream).
		SetClientID(fmt.Sprintf("watcher%08x", rand.Uint32())).SetAutoReconnect(false).SetOrderMatters(true))
	if tok := w.c.Connect(); !tok.WaitTimeout(Wait) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	// One SUBSCRIBE for all filters: mochi refuses a second SUBSCRIBE whose packet id it
	// is using itself for retained replays of the first (SUBACK 0x91).
	want := map[string]byte{}
	for _, f := range filters {
		want[f] = 1
	}
	tok := w.c.SubscribeMultiple(want, func(_ paho.Client, m paho.Message) {
		w.msgs <- Message{m.Topic(), string(m.Payload()), m.Retained()}
	})
	if !tok.WaitTimeout(Wait) || tok.Error() != nil {
		t.Fatalf("watcher subscribe %v: %v", filters, tok.Error())
	}
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code > 2 { // paho reports a refusal only in the SUBACK return code
			t.Fatalf("watcher subscribe %s: refused by the broker (code %#x)", f, code)
		}
	}
	t.Cleanup(func() { w.c.Disconnect(50) })
	return w
}

// Publish sends a message from the watcher's own connection.
func (w *Watcher) Publish(topic, payload string, retained bool) {
	w.t.Helper()
	if tok := w.c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(Wait) || tok.Error() != nil {
		w.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// Next waits for the next message matching pred and returns it.
func (w *Watcher) Next(pred func(Message) bool) Message {
	w.t.Helper()
	deadline := time.After(Wait)
	for {
		select {
		case m := <-w.msgs:
			if os.Getenv("MQTTTEST_TRACE") != "" {
				w.t.Logf("saw %s %.120s", m.Topic, m.Payload)
			}
			if pred(m) {
				return m
			}
		case <-deadline:
			w.t.Fatalf("no matching message within %s", Wait)
			return Message{}
		}
	}
}

// WaitFor waits for a message on topic (and with payload, when payload is not "*").
func (w *Watcher) WaitFor(topic, payload string) Message {
	w.t.Helper()
	return w.Next(func(m Message) bool { return m.Topic == topic && (payload == "*" || m.Payload == payload) })
}

// Until collects every message up to and including the first one on topic. Publish a
// marker after the action under test to learn exactly what the action published.
func (w *Watcher) Until(topic string) []Message {
	w.t.Helper()
	var got []Message
	w.Next(func(m Message) bool {
		if m.Topic == topic {
			return true
		}
		got = append(got, m)
		return false
	})
	return got
}

// Topics filters messages whose topic starts with prefix.
func Topics(msgs []Message, prefix string) []string {
	var out []string
	for _, m := range msgs {
		if strings.HasPrefix(m.Topic, prefix) {
			out = append(out, m.Topic)
		}
	}
	return out
}

// WaitAll waits until every topic in want has been seen with its payload, in any order:
// retained messages replayed on subscribe come in no guaranteed order. A wanted payload
// "*" matches any payload and "~text" any payload containing text.
func (w *Watcher) WaitAll(want map[string]string) {
	w.t.Helper()
	pending := make(map[string]string, len(want))
	for k, v := range want {
		pending[k] = v
	}
	deadline := time.After(Wait)
	for len(pending) > 0 {
		select {
		case m := <-w.msgs:
			if os.Getenv("MQTTTEST_TRACE") != "" {
				w.t.Logf("saw %s %.120s", m.Topic, m.Payload)
			}
			if p, ok := pending[m.Topic]; ok && payloadMatches(p, m.Payload) {
				delete(pending, m.Topic)
			}
		case <-deadline:
			w.t.Fatalf("still waiting for %v after %s", pending, Wait)
		}
	}
}

func payloadMatches(want, got string) bool {
	switch {
	case want == "*":
		return true
	case strings.HasPrefix(want, "~"):
		return strings.Contains(got, want[1:])
	default:
		return want == got
	}
}
