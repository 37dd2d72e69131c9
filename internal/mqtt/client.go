// Package mqtt is the daemon's connection to the MQTT broker: paho, the last will, the
// subscriptions (renewed after every reconnect) and reconnecting. What is published on
// it — Home Assistant devices and their retained state — is internal/hapublish's job.
package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/accountbridge/accountbridge/internal/logging"
)

// Options configure the client.
type Options struct {
	Broker    string // tcp://host:1883, ssl://host:8883, ws://host/mqtt …
	Username  string
	Password  string
	TLS       *tls.Config
	ClientID  string
	KeepAlive time.Duration // default 30s
	// AvailabilityTopic is the bridge's own availability: retained "online" after every
	// connect, "offline" as the last will and on Close. Required.
	AvailabilityTopic string
	// Online and Offline replace "online" and "offline" when Online is set (an instance
	// claim: the claim, and the claim marked gone). Offline must not be empty: brokers
	// refuse a will without a payload.
	Online, Offline []byte
	// ClearOnClose: Close deletes the retained message on AvailabilityTopic (an empty
	// payload) instead of publishing Offline.
	ClearOnClose bool
	// Ordered hands messages to the handlers one at a time, in the order they arrived,
	// instead of each on its own goroutine; handlers must then return quickly.
	Ordered     bool
	QoS         byte // of every publish and subscription; at most 1
	Logger      *slog.Logger
	PublishWait time.Duration // how long to wait for a QoS 1 acknowledgement, default 10s
	// ProbeInterval is how often the client tries again while the broker is unreachable
	// (no TCP connection, or it drops during the handshake), default 1s: a connection
	// attempt to a host that is down costs nothing, and the client is back within about
	// a second of the broker, however long the outage.
	ProbeInterval time.Duration
	// RefusedBackoff is the first wait after the broker or TLS refused the connection
	// (credentials, ACL, certificate), doubling up to MaxReconnect; defaults 2s and 1m. A
	// refusal does not go away by itself: trying every second would only load the broker.
	RefusedBackoff time.Duration
	MaxReconnect   time.Duration
}

// Handler receives a message on a subscribed filter. It runs on its own goroutine.
type Handler func(topic string, payload []byte)

// Subscription is a filter the client keeps subscribed, and what to do with its messages.
type Subscription struct {
	Filter  string
	Handler Handler
	// Retained: hand retained messages to Handler too. Off for command topics: a retained
	// command would replay on every reconnect, so it is ignored with a warning.
	Retained bool
	// MaxPayload is the largest payload handed to Handler, in bytes (default
	// DefaultMaxPayload). A larger one is dropped with a log line giving its size.
	MaxPayload int
}

// DefaultMaxPayload bounds the payload of a subscription that sets no MaxPayload: a
// status word, a button press or a number.
const DefaultMaxPayload = 256

// Message is one retained message to publish.
type Message struct {
	Topic   string
	Payload []byte
}

// Client is the daemon's MQTT connection.
type Client struct {
	opts Options
	log  *slog.Logger
	c    paho.Client

	mu        sync.Mutex
	subs      map[string]Subscription
	onConnect []func()

	// availMu orders the bridge's own availability messages: "online" after a connect or
	// after our stale will, "offline" on Close.
	availMu  sync.Mutex
	closed   atomic.Bool
	done     chan struct{} // closed by Close: the connect loop ends
	lost     chan error    // the connection was lost
	connects atomic.Int64

	problemMu sync.Mutex
	problem   string // why the client is not connected; "" when connected or not tried yet
}

// New validates the options and prepares the client; Start connects.
func New(opts Options) (*Client, error) {
	if opts.Broker == "" {
		return nil, errors.New("mqtt: no broker URL")
	}
	if opts.AvailabilityTopic == "" {
		return nil, errors.New("mqtt: no availability topic")
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 30 * time.Second
	}
	if opts.PublishWait == 0 {
		opts.PublishWait = 10 * time.Second
	}
	if opts.MaxReconnect == 0 {
		opts.MaxReconnect = time.Minute
	}
	opts.QoS = min(opts.QoS, 1)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = time.Second
	}
	if opts.RefusedBackoff == 0 {
		opts.RefusedBackoff = 2 * time.Second
	}
	if opts.Online == nil {
		opts.Online, opts.Offline = []byte("online"), []byte("offline")
	}
	cl := &Client{opts: opts, log: opts.Logger, subs: map[string]Subscription{},
		done: make(chan struct{}), lost: make(chan error, 1)}
	// Our own retained availability is expected on subscribe and needs no action.
	cl.subs[opts.AvailabilityTopic] = Subscription{Filter: opts.AvailabilityTopic, Handler: cl.onOwnAvailability,
		MaxPayload: max(16, len(opts.Offline))}

	// paho's own reconnect is off: its backoff doubles up to MaxReconnectInterval whatever
	// the cause, so after a long outage the client came back up to a minute after the
	// broker. The connect loop (run) retries an unreachable broker at ProbeInterval and
	// backs off only on refusals.
	po := paho.NewClientOptions().
		AddBroker(opts.Broker).
		SetClientID(opts.ClientID).
		SetUsername(opts.Username).
		SetPassword(opts.Password).
		SetKeepAlive(opts.KeepAlive).
		SetCleanSession(true).
		SetOrderMatters(opts.Ordered).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		// 3.1.1 only: paho's fallback to 3.1 after a refusal would replace the broker's
		// reason (bad password) with "unacceptable protocol version".
		SetProtocolVersion(4).
		SetConnectTimeout(10*time.Second).
		SetBinaryWill(opts.AvailabilityTopic, opts.Offline, opts.QoS, true).
		SetOnConnectHandler(cl.connected).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case cl.lost <- err:
			default:
			}
		})
	if opts.TLS != nil {
		po.SetTLSConfig(opts.TLS)
	}
	cl.c = paho.NewClient(po)
	return cl, nil
}

// OnConnect adds fn to what runs after every (re)connect, once the subscriptions are
// renewed and before "online" is published: "online" then means everything is back on
// the broker. Call it before Start.
func (cl *Client) OnConnect(fn func()) {
	cl.mu.Lock()
	cl.onConnect = append(cl.onConnect, fn)
	cl.mu.Unlock()
}

// Start begins connecting in the background, and reconnecting whenever the connection
// is lost, until Close.
func (cl *Client) Start() {
	cl.log.Info("connecting to mqtt broker", "broker", cl.opts.Broker, "client_id", cl.opts.ClientID)
	go cl.run()
}

// run is the connect loop: connect; when that fails, wait (ProbeInterval while the broker
// is unreachable, a doubling backoff while it refuses) and try again; once connected,
// wait for the connection to be lost and reconnect at once.
func (cl *Client) run() {
	// A connect that completes while Close runs must not leave the connection open.
	defer func() {
		if cl.c.IsConnectionOpen() {
			cl.c.Disconnect(0)
		}
	}()
	refusals := 0
	for !cl.closed.Load() {
		tok := cl.c.Connect()
		select {
		case <-tok.Done():
		case <-cl.done:
			tok.Wait() // Close's Disconnect ends the attempt
			return
		}
		err := tok.Error()
		if err == nil {
			refusals = 0
			cl.setProblem("", false)
			select {
			case err := <-cl.lost:
				if !cl.closed.Load() {
					cl.log.Warn("mqtt connection lost; reconnecting", "broker", cl.opts.Broker, "err", err)
				}
				continue
			case <-cl.done:
				return
			}
		}
		reason, refused := Classify(err)
		wait := cl.opts.ProbeInterval
		if refused {
			wait = RefusalDelay(cl.opts.RefusedBackoff, cl.opts.MaxReconnect, refusals)
			refusals++
		} else {
			refusals = 0
		}
		cl.setProblem(reason, refused)
		select {
		case <-time.After(wait):
		case <-cl.done:
			return
		}
	}
}

// RefusalDelay is the wait before the next attempt after n earlier refusals in a row:
// first, doubling, capped at most.
func RefusalDelay(first, most time.Duration, n int) time.Duration {
	d := first
	for range n {
		if d >= most/2 {
			return most
		}
		d *= 2
	}
	return min(d, most)
}

// setProblem records why the client is not connected and logs it when it changed: a
// broker that keeps refusing is one log line, not one per attempt.
func (cl *Client) setProblem(reason string, refused bool) {
	cl.problemMu.Lock()
	changed := reason != cl.problem
	cl.problem = reason
	cl.problemMu.Unlock()
	if !changed || reason == "" {
		return
	}
	if refused {
		cl.log.Error("mqtt broker refused the connection; retrying with backoff", "broker", cl.opts.Broker, "reason", reason)
	} else {
		cl.log.Warn("cannot reach the mqtt broker; retrying", "broker", cl.opts.Broker, "reason", reason,
			"every", cl.opts.ProbeInterval.String())
	}
}

// Classify says why a connection attempt failed, in words for the log and the health
// file, and whether the broker (or TLS) refused it, as opposed to being unreachable.
func Classify(err error) (reason string, refused bool) {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		alert     tls.AlertError
	)
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return "bad user name or password (check mqtt.username and mqtt.password)", true
	case errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return "not authorised (check mqtt.username, mqtt.password and the broker's ACL)", true
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return "client id rejected (check mqtt.client_id)", true
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return "the broker does not accept MQTT 3.1.1", true
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return "the broker says it is unavailable", true
	case errors.As(err, &unknownCA):
		return "TLS: certificate signed by unknown authority (check mqtt.ca_file)", true
	case errors.As(err, &hostname):
		return "TLS: certificate name mismatch: " + hostname.Error() + " (the host in mqtt.broker must be in the certificate)", true
	case errors.As(err, &invalid):
		return "TLS: certificate not valid: " + invalid.Error(), true
	case errors.As(err, &record):
		return "TLS: the broker does not speak TLS on this port (use tcp:// or the TLS port)", true
	case errors.As(err, &alert):
		return "TLS: the broker refused the handshake: " + alert.Error() + " (check mqtt.cert_file and mqtt.key_file)", true
	}
	// Unreachable: a stable reason (no addresses or ports), so that it is logged once.
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return "unreachable: cannot resolve " + dnsErr.Name + ": " + dnsErr.Err, false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "unreachable: connection refused (is the broker running?)", false
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable: no route to the broker's host", false
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unreachable: the connection closed during the handshake", false
	case errors.As(err, &netErr) && netErr.Timeout():
		return "unreachable: timed out", false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return "unreachable: " + opErr.Op + ": " + opErr.Err.Error(), false
	}
	return err.Error(), false
}

// Connected reports whether the connection is up now.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }

// Problem is why the client is not connected (the broker's or TLS's reason, or that the
// broker is unreachable); "" when connected or before the first attempt ended.
func (cl *Client) Problem() string {
	if cl.Connected() {
		return ""
	}
	cl.problemMu.Lock()
	defer cl.problemMu.Unlock()
	return cl.problem
}

// Reconnects counts connections after the first.
func (cl *Client) Reconnects() int {
	if n := cl.connects.Load(); n > 1 {
		return int(n - 1)
	}
	return 0
}

// Subscribe keeps s subscribed, now and after every reconnect.
func (cl *Client) Subscribe(s Subscription) {
	cl.mu.Lock()
	cl.subs[s.Filter] = s
	cl.mu.Unlock()
	if cl.Connected() {
		cl.subscribeAll(map[string]Subscription{s.Filter: s})
	}
}

// subscribeAll subscribes every filter in one SUBSCRIBE packet. Separate packets can be
// refused by some brokers (mochi answers 0x91 when the client's packet id collides with
// one it uses for retained replays), and one packet is also one round trip.
func (cl *Client) subscribeAll(subs map[string]Subscription) {
	filters := make(map[string]byte, len(subs))
	for filter, s := range subs {
		filters[filter] = cl.opts.QoS
		limit := s.MaxPayload
		if limit <= 0 {
			limit = DefaultMaxPayload
		}
		cl.c.AddRoute(filter, func(_ paho.Client, m paho.Message) {
			if n := len(m.Payload()); n > limit {
				cl.log.Warn("mqtt payload over the size limit of its topic; dropped",
					"topic", logging.Excerpt([]byte(m.Topic())), "bytes", n, "limit", limit)
				return
			}
			if m.Retained() && !s.Retained {
				if filter != cl.opts.AvailabilityTopic {
					cl.log.Warn("ignoring retained message on a command topic", "topic", m.Topic())
				}
				return
			}
			if cl.opts.Ordered && filter != cl.opts.AvailabilityTopic { // that one publishes: it must not block the reader
				s.Handler(m.Topic(), m.Payload())
			} else {
				go s.Handler(m.Topic(), m.Payload())
			}
		})
	}
	t := cl.c.SubscribeMultiple(filters, nil)
	if !t.WaitTimeout(cl.opts.PublishWait) || t.Error() != nil {
		cl.log.Warn("mqtt subscribe failed", "filters", slices.Sorted(maps.Keys(filters)), "err", t.Error())
		return
	}
	for filter, code := range t.(*paho.SubscribeToken).Result() {
		if code > 2 {
			cl.log.Error("mqtt broker refused a subscription (check its ACL)", "filter", filter, "code", code)
		}
	}
}

func (cl *Client) connected(paho.Client) {
	n := cl.connects.Add(1)
	if n == 1 {
		cl.log.Info("mqtt connected", "broker", cl.opts.Broker)
	} else {
		cl.log.Info("mqtt reconnected; re-publishing everything", "broker", cl.opts.Broker, "reconnects", n-1)
	}
	cl.mu.Lock()
	subs := maps.Clone(cl.subs)
	hooks := slices.Clone(cl.onConnect)
	cl.mu.Unlock()
	cl.subscribeAll(subs)
	for _, fn := range hooks {
		fn()
	}
	cl.sayOnline()
}

func (cl *Client) sayOnline() {
	cl.availMu.Lock()
	defer cl.availMu.Unlock()
	if cl.closed.Load() {
		return
	}
	if err := cl.Enqueue([]Message{{cl.opts.AvailabilityTopic, cl.opts.Online}})(); err != nil {
		cl.log.Warn("could not publish online; repeated on the next connect", "err", err)
	}
}

// onOwnAvailability re-asserts online when our own last will arrives while we are
// connected: after a quick reconnect with the same client id, the broker may publish the
// old connection's will after our new "online".
func (cl *Client) onOwnAvailability(_ string, payload []byte) {
	// Anything but our own "online" (our old will, or someone deleting the topic) is put right.
	if string(payload) == string(cl.opts.Online) || cl.closed.Load() || !cl.c.IsConnectionOpen() {
		return
	}
	cl.log.Info("our availability was overwritten (our last will after a reconnect?); saying online again",
		"topic", cl.opts.AvailabilityTopic, "payload", logging.Excerpt(payload))
	cl.sayOnline()
}

// Enqueue hands retained messages to paho in order and returns a function that waits for
// their acknowledgements. The order of Enqueue calls is the order on the wire, so callers
// that must not overtake each other serialize their Enqueue calls, and should wait after
// releasing their lock: then the round trips of concurrent batches overlap instead of
// queueing behind each other. That matters with brokers that delay acknowledgements
// (Mosquitto's default set_tcp_nodelay false meets the client's delayed ACK: about 40 ms
// for every batch of two or more messages). While disconnected nothing is sent.
func (cl *Client) Enqueue(msgs []Message) (wait func() error) {
	if len(msgs) == 0 {
		return func() error { return nil }
	}
	if !cl.c.IsConnectionOpen() {
		return func() error { return errors.New("not connected") }
	}
	tokens := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		tokens[i] = cl.c.Publish(m.Topic, cl.opts.QoS, true, m.Payload)
	}
	return func() error {
		var errs []error
		for i, t := range tokens {
			if !t.WaitTimeout(cl.opts.PublishWait) {
				errs = append(errs, fmt.Errorf("%s: no acknowledgement", msgs[i].Topic))
			} else if err := t.Error(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", msgs[i].Topic, err))
			}
		}
		return errors.Join(errs...)
	}
}

// Publish sends one message now (alerts, events, command replies). Retained state that
// must survive a broker restart goes through hapublish, which re-publishes it.
func (cl *Client) Publish(topic string, payload []byte, retained bool) error {
	if !cl.c.IsConnectionOpen() {
		return fmt.Errorf("mqtt: publish %s: not connected", topic)
	}
	t := cl.c.Publish(topic, cl.opts.QoS, retained, payload)
	if !t.WaitTimeout(cl.opts.PublishWait) {
		return fmt.Errorf("mqtt: publish %s: no acknowledgement", topic)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	return nil
}

// Close publishes offline (a clean disconnect does not fire the last will) and disconnects.
func (cl *Client) Close() {
	cl.availMu.Lock()
	if !cl.closed.CompareAndSwap(false, true) {
		cl.availMu.Unlock()
		return
	}
	if cl.c.IsConnectionOpen() {
		last := cl.opts.Offline
		if cl.opts.ClearOnClose {
			last = []byte{}
		}
		if err := cl.Enqueue([]Message{{cl.opts.AvailabilityTopic, last}})(); err != nil {
			cl.log.Warn("could not publish offline before disconnecting", "err", err)
		}
	}
	close(cl.done)
	cl.availMu.Unlock()
	cl.c.Disconnect(250)
}

// CommandTopicParts splits <base>/<device>/<key>/set into device and key.
func CommandTopicParts(base, topic string) (device, key string, ok bool) {
	rest, found := strings.CutPrefix(topic, base+"/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "set" {
		return "", "", false
	}
	return parts[0], parts[1], true
}
