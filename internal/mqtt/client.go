// Package mqtt is the daemon's connection to the MQTT broker: paho, the last will, the
// subscriptions (renewed after every reconnect) and reconnecting. What is published on
// it — Home Assistant devices and their retained state — is internal/hapublish's job.
package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
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
	QoS               byte // of every publish and subscription; at most 1
	Logger            *slog.Logger
	PublishWait       time.Duration // how long to wait for a QoS 1 acknowledgement, default 10s
	ConnectRetry      time.Duration // retry interval of the first connect, default 2s
	// MaxReconnect caps paho's reconnect backoff (1s doubling), default 1m. Tests that
	// take the broker down for a while lower it so the client is back promptly.
	MaxReconnect time.Duration
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
}

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
	connects atomic.Int64
	attempts atomic.Int64 // connection attempts since the last successful connect
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
	if opts.ConnectRetry == 0 {
		opts.ConnectRetry = 2 * time.Second
	}
	if opts.MaxReconnect == 0 {
		opts.MaxReconnect = time.Minute
	}
	opts.QoS = min(opts.QoS, 1)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cl := &Client{opts: opts, log: opts.Logger, subs: map[string]Subscription{}}
	// Our own retained availability is expected on subscribe and needs no action.
	cl.subs[opts.AvailabilityTopic] = Subscription{Filter: opts.AvailabilityTopic, Handler: cl.onOwnAvailability}

	po := paho.NewClientOptions().
		AddBroker(opts.Broker).
		SetClientID(opts.ClientID).
		SetUsername(opts.Username).
		SetPassword(opts.Password).
		SetKeepAlive(opts.KeepAlive).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(opts.ConnectRetry).
		SetMaxReconnectInterval(opts.MaxReconnect).
		SetConnectTimeout(10*time.Second).
		SetWill(opts.AvailabilityTopic, "offline", opts.QoS, true).
		SetOnConnectHandler(cl.connected).
		SetConnectionAttemptHandler(func(broker *url.URL, tc *tls.Config) *tls.Config {
			// paho retries silently; say so, without flooding the log.
			if n := cl.attempts.Add(1); n == 2 || n%10 == 0 {
				cl.log.Warn("cannot connect to the mqtt broker yet; retrying (check mqtt.broker, credentials and TLS settings)",
					"broker", opts.Broker, "attempts", n-1)
			}
			return tc
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			cl.log.Warn("mqtt connection lost; reconnecting", "broker", opts.Broker, "err", err)
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

// Start begins connecting in the background; paho retries until it succeeds.
func (cl *Client) Start() {
	cl.log.Info("connecting to mqtt broker", "broker", cl.opts.Broker, "client_id", cl.opts.ClientID)
	cl.c.Connect() // with ConnectRetry the token completes only once connected
}

// Connected reports whether the connection is up now.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }

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
		cl.c.AddRoute(filter, func(_ paho.Client, m paho.Message) {
			if m.Retained() && !s.Retained {
				if filter != cl.opts.AvailabilityTopic {
					cl.log.Warn("ignoring retained message on a command topic", "topic", m.Topic())
				}
				return
			}
			go s.Handler(m.Topic(), m.Payload())
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
	cl.attempts.Store(0)
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
	if err := cl.Enqueue([]Message{{cl.opts.AvailabilityTopic, []byte("online")}})(); err != nil {
		cl.log.Warn("could not publish online; repeated on the next connect", "err", err)
	}
}

// onOwnAvailability re-asserts online when our own last will arrives while we are
// connected: after a quick reconnect with the same client id, the broker may publish the
// old connection's will after our new "online".
func (cl *Client) onOwnAvailability(_ string, payload []byte) {
	if string(payload) != "offline" || cl.closed.Load() || !cl.c.IsConnectionOpen() {
		return
	}
	cl.log.Info("our last will arrived after we reconnected; saying online again")
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
		if err := cl.Enqueue([]Message{{cl.opts.AvailabilityTopic, []byte("offline")}})(); err != nil {
			cl.log.Warn("could not publish offline before disconnecting", "err", err)
		}
	}
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
