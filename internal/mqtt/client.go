// Package mqtt publishes devices to an MQTT broker for Home Assistant and Node-RED.
//
// It keeps the desired retained state of every device (discovery config, JSON state,
// availability) and the broker in step with it: a change is published once, an unchanged
// snapshot publishes nothing, and every (re)connect or Home Assistant birth message
// re-publishes everything, so a broker that lost its retained messages is repaired.
package mqtt

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Options configure the client.
type Options struct {
	Broker       string // tcp://host:1883, ssl://host:8883, ws://host/mqtt …
	Username     string
	Password     string
	TLS          *tls.Config
	ClientID     string
	KeepAlive    time.Duration // default 30s
	StatusTopic  string        // HA's birth topic, default <discovery prefix>/status
	Discovery    bool          // publish HA discovery configs
	BirthDelay   time.Duration // max random delay before re-publishing after HA's birth
	Topics       discovery.Options
	Logger       *slog.Logger
	PublishWait  time.Duration // how long to wait for a QoS 1 acknowledgement, default 10s
	ConnectRetry time.Duration // retry interval of the first connect, default 2s
	// MaxReconnect caps paho's reconnect backoff (1s doubling), default 1m. Tests that
	// take the broker down for a while lower it so the client is back promptly.
	MaxReconnect time.Duration
}

// Handler receives a message on a subscribed filter. It runs on its own goroutine.
type Handler func(topic string, payload []byte)

// device is what the broker should hold for one device. Memory matters here (one per
// device, tens of thousands with many accounts): the discovery payload (~10 KB) is not
// kept, only its hash and the model it was built from, and it is rebuilt for a re-publish.
type device struct {
	account    string
	model      providers.Device // the last device given, without values: compared to skip rebuilding discovery
	haveModel  bool
	discoHash  uint64   // hash of the last discovery payload (valid when haveModel)
	invalid    []string // entities left out of discovery (logged once)
	state      keptState
	topics     []extraTopic // extra retained topics, sorted by name
	online     bool
	haveOnline bool
}

// Client is the daemon's MQTT connection.
type Client struct {
	opts Options
	log  *slog.Logger
	c    paho.Client

	// pubMu serializes every publish, so a re-publish after reconnect can never overwrite
	// a newer state with an older one.
	pubMu    sync.Mutex
	mu       sync.Mutex // guards the maps below
	devices  map[string]*device
	accounts map[string][]string // account → ids of its devices, sorted (a map each would cost ~10 ×)
	retained map[string][]byte   // other retained topics re-published on connect (bridge info)
	seed     maphash.Seed        // for discovery and state payload hashes
	// tombstones are removed devices whose removal has not reached the broker yet.
	tombstones map[string]struct{}
	handlers   map[string]Handler

	connects   atomic.Int64
	attempts   atomic.Int64 // connection attempts since the last successful connect
	birthTimer atomic.Bool
	closed     atomic.Bool
	connected  chan struct{} // closed on first connect
	onceConn   sync.Once
}

// New validates the options and prepares the client; Start connects.
func New(opts Options) (*Client, error) {
	if opts.Broker == "" {
		return nil, errors.New("mqtt: no broker URL")
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
	if opts.StatusTopic == "" {
		opts.StatusTopic = opts.Topics.DiscoveryPrefix + "/status"
	}
	if opts.Topics.QoS > 1 {
		opts.Topics.QoS = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cl := &Client{
		opts:       opts,
		log:        opts.Logger,
		devices:    map[string]*device{},
		accounts:   map[string][]string{},
		retained:   map[string][]byte{},
		seed:       maphash.MakeSeed(),
		tombstones: map[string]struct{}{},
		handlers:   map[string]Handler{},
		connected:  make(chan struct{}),
	}
	cl.handlers[opts.StatusTopic] = cl.onHAStatus
	cl.handlers[opts.Topics.BridgeAvailabilityTopic()] = cl.onOwnAvailability

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
		SetWill(opts.Topics.BridgeAvailabilityTopic(), "offline", 1, true).
		SetOnConnectHandler(cl.onConnect).
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

// Start begins connecting in the background; paho retries until it succeeds.
func (cl *Client) Start() {
	cl.log.Info("connecting to mqtt broker", "broker", cl.opts.Broker, "client_id", cl.opts.ClientID)
	cl.c.Connect() // with ConnectRetry the token completes only once connected
}

// WaitConnected blocks until the first connection succeeded or ctx ends.
func (cl *Client) WaitConnected(ctx context.Context) error {
	select {
	case <-cl.connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt: not connected to %s: %w", cl.opts.Broker, ctx.Err())
	}
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

// Handle subscribes fn to filter, now and after every reconnect.
func (cl *Client) Handle(filter string, fn Handler) {
	cl.mu.Lock()
	cl.handlers[filter] = fn
	cl.mu.Unlock()
	if cl.Connected() {
		cl.subscribe(filter, fn)
	}
}

func (cl *Client) subscribe(filter string, fn Handler) {
	cl.subscribeAll(map[string]Handler{filter: fn})
}

// subscribeAll subscribes every filter in one SUBSCRIBE packet. Separate packets can be
// refused by some brokers (mochi answers 0x91 when the client's packet id collides with
// one it uses for retained replays), and one packet is also one round trip.
func (cl *Client) subscribeAll(handlers map[string]Handler) {
	filters := make(map[string]byte, len(handlers))
	for filter, fn := range handlers {
		filters[filter] = 1
		cl.c.AddRoute(filter, func(_ paho.Client, m paho.Message) {
			if m.Retained() && filter != cl.opts.StatusTopic {
				// A retained command would replay on every reconnect: never act on one. Our
				// own retained availability is expected and needs no action either.
				if filter != cl.opts.Topics.BridgeAvailabilityTopic() {
					cl.log.Warn("ignoring retained message on a command topic", "topic", m.Topic())
				}
				return
			}
			go fn(m.Topic(), m.Payload())
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

func (cl *Client) onConnect(paho.Client) {
	cl.attempts.Store(0)
	n := cl.connects.Add(1)
	if n == 1 {
		cl.log.Info("mqtt connected", "broker", cl.opts.Broker)
	} else {
		cl.log.Info("mqtt reconnected; re-publishing everything", "broker", cl.opts.Broker, "reconnects", n-1)
	}
	cl.mu.Lock()
	handlers := maps.Clone(cl.handlers)
	cl.mu.Unlock()
	cl.subscribeAll(handlers)
	cl.republish("connect")
	cl.onceConn.Do(func() { close(cl.connected) })
}

// onOwnAvailability re-asserts online when our own last will arrives while we are
// connected: after a quick reconnect with the same client id, the broker may publish the
// old connection's will after our new "online".
func (cl *Client) onOwnAvailability(topic string, payload []byte) {
	if string(payload) != "offline" || cl.closed.Load() || !cl.c.IsConnectionOpen() {
		return
	}
	cl.log.Info("our last will arrived after we reconnected; saying online again")
	cl.pubMu.Lock()
	defer cl.pubMu.Unlock()
	if !cl.closed.Load() {
		_ = cl.send([]message{{topic, []byte("online")}})
	}
}

// onHAStatus re-publishes after Home Assistant's birth message, after a random delay so
// that many publishers do not answer HA at the same instant.
func (cl *Client) onHAStatus(_ string, payload []byte) {
	if string(payload) != "online" {
		cl.log.Info("home assistant status", "status", string(payload))
		return
	}
	if !cl.birthTimer.CompareAndSwap(false, true) {
		return // a re-publish is already scheduled
	}
	delay := time.Duration(0)
	if cl.opts.BirthDelay > 0 {
		delay = rand.N(cl.opts.BirthDelay)
	}
	cl.log.Info("home assistant came online; re-publishing", "delay", delay.Round(time.Millisecond))
	time.AfterFunc(delay, func() {
		cl.birthTimer.Store(false)
		if !cl.closed.Load() {
			cl.republish("home assistant birth")
		}
	})
}

// republish sends every retained message the broker should hold.
func (cl *Client) republish(why string) {
	cl.pubMu.Lock()
	defer cl.pubMu.Unlock()
	var msgs []message
	msgs = append(msgs, message{cl.opts.Topics.BridgeAvailabilityTopic(), []byte("online")})
	cl.mu.Lock()
	for _, topic := range slices.Sorted(maps.Keys(cl.retained)) {
		msgs = append(msgs, message{topic, cl.retained[topic]})
	}
	tombstones := slices.Sorted(maps.Keys(cl.tombstones))
	for _, id := range tombstones {
		msgs = append(msgs, cl.removalMessages(id)...)
	}
	for _, id := range slices.Sorted(maps.Keys(cl.devices)) {
		d := cl.devices[id]
		if cl.opts.Discovery && d.haveModel {
			if res, err := discovery.Build(cl.opts.Topics, d.model, nil); err == nil {
				msgs = append(msgs, message{res.Topic, res.Payload})
			}
		}
		if d.haveOnline {
			msgs = append(msgs, message{cl.opts.Topics.AvailabilityTopic(id), availabilityPayload(d.online)})
		}
		if state := d.state.bytes(); state != nil {
			msgs = append(msgs, message{cl.opts.Topics.StateTopic(id), state})
		}
		for _, t := range d.topics {
			msgs = append(msgs, message{cl.extraTopic(id, t.name), t.payload})
		}
	}
	cl.mu.Unlock()
	if err := cl.send(msgs); err != nil {
		cl.log.Warn("re-publish incomplete; it is repeated on the next connect", "why", why, "err", err)
		return
	}
	cl.clearTombstones(tombstones)
	cl.log.Debug("re-published", "why", why, "messages", len(msgs))
}

type message struct {
	topic   string
	payload []byte
}

// send publishes retained messages in order and waits for their acknowledgements.
// Callers hold pubMu. While disconnected nothing is sent: the desired state is kept and
// the next connect re-publishes it.
func (cl *Client) send(msgs []message) error {
	return cl.enqueue(msgs)()
}

// enqueue hands retained messages to paho in order and returns a function that waits for
// their acknowledgements. Callers hold pubMu while enqueueing (the order of enqueue calls
// is the order on the wire) and should release it before waiting: then the round trips of
// concurrent snapshots overlap instead of queueing behind each other. That matters with
// brokers that delay acknowledgements (Mosquitto's default set_tcp_nodelay false meets
// the client's delayed ACK: about 40 ms for every batch of two or more messages).
func (cl *Client) enqueue(msgs []message) (wait func() error) {
	if len(msgs) == 0 {
		return func() error { return nil }
	}
	if !cl.c.IsConnectionOpen() {
		return func() error { return errors.New("not connected") }
	}
	tokens := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		tokens[i] = cl.c.Publish(m.topic, cl.opts.Topics.QoS, true, m.payload)
	}
	return func() error {
		var errs []error
		for i, t := range tokens {
			if !t.WaitTimeout(cl.opts.PublishWait) {
				errs = append(errs, fmt.Errorf("%s: no acknowledgement", msgs[i].topic))
			} else if err := t.Error(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", msgs[i].topic, err))
			}
		}
		return errors.Join(errs...)
	}
}

// Publish sends one message now (alerts, events, command replies). Retained messages
// should go through SetRetained so they survive a broker restart.
func (cl *Client) Publish(topic string, payload []byte, retained bool) error {
	if !cl.c.IsConnectionOpen() {
		return fmt.Errorf("mqtt: publish %s: not connected", topic)
	}
	t := cl.c.Publish(topic, cl.opts.Topics.QoS, retained, payload)
	if !t.WaitTimeout(cl.opts.PublishWait) {
		return fmt.Errorf("mqtt: publish %s: no acknowledgement", topic)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	return nil
}

// SetRetained keeps topic at payload on the broker, re-published on every connect; an
// unchanged payload publishes nothing.
func (cl *Client) SetRetained(topic string, payload []byte) {
	cl.pubMu.Lock()
	cl.mu.Lock()
	old, had := cl.retained[topic]
	cl.retained[topic] = payload
	cl.mu.Unlock()
	if had && string(old) == string(payload) {
		cl.pubMu.Unlock()
		return
	}
	wait := cl.enqueue([]message{{topic, payload}})
	cl.pubMu.Unlock()
	_ = wait()
}

// DeviceChange is the outcome of publishing one device that changed.
type DeviceChange struct {
	DeviceID     string
	Discovery    bool   // the discovery config changed
	StateChanged bool   // the state payload changed
	State        []byte // the current state payload
	Model        []byte // the device model (without values), for the store
}

// PublishSnapshot brings the broker in line with a successful poll of one account: devices
// whose discovery or state changed are published, devices of the account that are gone
// are removed from Home Assistant, and the account's devices are marked online.
func (cl *Client) PublishSnapshot(snap providers.Snapshot) ([]DeviceChange, []string, error) {
	cl.pubMu.Lock()
	var msgs []message
	var changes []DeviceChange
	seen := map[string]bool{}
	var errs []error
	for _, dev := range snap.Devices {
		seen[dev.ID] = true
		ch, m, err := cl.updateDevice(snap.Account, dev, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		msgs = append(msgs, m...)
		if ch.Discovery || ch.StateChanged {
			changes = append(changes, ch)
		}
	}
	var removed []string
	cl.mu.Lock()
	for _, id := range cl.accounts[snap.Account] {
		if !seen[id] {
			removed = append(removed, id)
		}
	}
	cl.mu.Unlock()
	slices.Sort(removed)
	for _, id := range removed {
		msgs = append(msgs, cl.removeLocked(id)...)
	}
	wait := cl.enqueue(msgs)
	cl.pubMu.Unlock()
	if err := wait(); err != nil {
		cl.log.Debug("publish deferred until the broker is reachable", "account", snap.Account, "err", err)
	} else {
		cl.clearTombstones(removed)
	}
	return changes, removed, errors.Join(errs...)
}

// UpdateDevice publishes what changed in one device of account, leaving the account's
// other devices alone (PublishSnapshot would remove them).
func (cl *Client) UpdateDevice(account string, dev providers.Device) (DeviceChange, error) {
	cl.pubMu.Lock()
	ch, msgs, err := cl.updateDevice(account, dev, false)
	if err != nil {
		cl.pubMu.Unlock()
		return ch, err
	}
	wait := cl.enqueue(msgs)
	cl.pubMu.Unlock()
	_ = wait()
	return ch, nil
}

// PatchState changes some values in the published state of device id (of account) and
// publishes it when that changed it (see discovery.PatchState). It reports whether the
// device is known.
func (cl *Client) PatchState(account, id string, values map[string]any) (bool, error) {
	cl.pubMu.Lock()
	cl.mu.Lock()
	d, ok := cl.devices[id]
	if !ok || d.account != account || d.state.z == nil {
		cl.mu.Unlock()
		cl.pubMu.Unlock()
		return false, nil
	}
	state, err := discovery.PatchState(d.state.bytes(), values)
	if err != nil || d.state.same(cl, state) {
		cl.mu.Unlock()
		cl.pubMu.Unlock()
		return true, err
	}
	d.state = cl.keepState(state)
	cl.mu.Unlock()
	wait := cl.enqueue([]message{{cl.opts.Topics.StateTopic(id), state}})
	cl.pubMu.Unlock()
	return true, wait()
}

func availabilityPayload(online bool) []byte {
	if online {
		return []byte("online")
	}
	return []byte("offline")
}

// updateDevice records dev as desired and returns the messages that bring the broker in
// line. markOnline: a successful poll also makes the device available. Discovery is
// rebuilt only when the device model (everything but its values) changed.
func (cl *Client) updateDevice(account string, dev providers.Device, markOnline bool) (DeviceChange, []message, error) {
	ch := DeviceChange{DeviceID: dev.ID}
	cl.mu.Lock()
	d, ok := cl.devices[dev.ID]
	if !ok {
		d = &device{}
		cl.devices[dev.ID] = d
	}
	cl.setAccountLocked(dev.ID, d, account)
	same := d.haveModel && providers.SameModel(d.model, dev)
	cl.mu.Unlock()

	var msgs []message
	if !same {
		res, err := discovery.Build(cl.opts.Topics, dev, nil)
		if err != nil {
			return ch, nil, err
		}
		var invalid []string
		for _, inv := range res.Invalid {
			invalid = append(invalid, inv.Error())
			if !d.haveModel || !slices.Contains(d.invalid, inv.Error()) {
				cl.log.Error("entity left out of discovery: Home Assistant would reject it", "account", account, "err", inv)
			}
		}
		hash := maphash.Bytes(cl.seed, res.Payload)
		if !d.haveModel || hash != d.discoHash {
			ch.Discovery = true
			if cl.opts.Discovery {
				removed := map[string]providers.Component{}
				if d.haveModel {
					for key, platform := range discovery.Components(d.model) {
						if _, still := res.Components[key]; !still {
							removed[key] = platform
						}
					}
				}
				if len(removed) > 0 {
					// HA removes a component of a device config when it is sent with its platform only.
					rm, err := discovery.Build(cl.opts.Topics, dev, removed)
					if err == nil {
						msgs = append(msgs, message{rm.Topic, rm.Payload})
					}
				}
				msgs = append(msgs, message{res.Topic, res.Payload})
			}
		}
		model := dev
		model.Values, model.Attributes, model.Topics = nil, nil, nil
		model.Entities = providers.InternEntities(dev.Entities)
		cl.mu.Lock()
		d.model, d.haveModel, d.discoHash, d.invalid = model, true, hash, invalid
		cl.mu.Unlock()
	}
	state, err := discovery.State(dev)
	if err != nil {
		return ch, nil, err
	}
	topics := dev.Topics
	valueTopics, err := discovery.ValueTopics(dev)
	if err != nil {
		return ch, nil, err
	}
	if len(valueTopics) > 0 {
		topics = make(map[string][]byte, len(dev.Topics)+len(valueTopics))
		maps.Copy(topics, dev.Topics)
		for name, payload := range valueTopics {
			if _, clash := dev.Topics[name]; clash {
				cl.log.Error("extra topic also carries entity values; the values win", "device", dev.ID, "topic", name)
			}
			topics[name] = payload
		}
	}
	var kept keptState
	sameState := false
	cl.mu.Lock()
	sameState = d.state.same(cl, state)
	cl.mu.Unlock()
	if !sameState {
		kept = cl.keepState(state) // deflate outside the lock
	}
	cl.mu.Lock()
	if !sameState {
		d.state = kept
		ch.StateChanged = true
		msgs = append(msgs, message{cl.opts.Topics.StateTopic(dev.ID), state})
	}
	ch.State = state // the kept state when unchanged: equal to it
	for name, payload := range topics {
		if !providers.ValidID(name) || name == "state" || name == "availability" || name == "event" {
			cl.log.Error("extra topic name not allowed; left out", "device", dev.ID, "topic", name)
			continue
		}
		if old, ok := topicPayload(d.topics, name); !ok || string(old) != string(payload) {
			msgs = append(msgs, message{cl.extraTopic(dev.ID, name), payload})
		}
	}
	for _, t := range d.topics {
		if _, still := topics[t.name]; !still {
			msgs = append(msgs, message{cl.extraTopic(dev.ID, t.name), nil})
		}
	}
	d.topics = keepTopics(d.topics, topics)
	if markOnline && dev.ID != discovery.BridgeDeviceID && (!d.haveOnline || !d.online) {
		d.online, d.haveOnline = true, true
		msgs = append(msgs, message{cl.opts.Topics.AvailabilityTopic(dev.ID), availabilityPayload(true)})
	}
	cl.mu.Unlock()
	if ch.Discovery || ch.StateChanged {
		ch.Model, _ = modelJSON(dev)
	}
	return ch, msgs, nil
}

// setAccountLocked records that device id (d) belongs to account. cl.mu must be held.
func (cl *Client) setAccountLocked(id string, d *device, account string) {
	if d.account == account {
		if _, ok := slices.BinarySearch(cl.accounts[account], id); ok {
			return
		}
	}
	cl.unindexLocked(d.account, id)
	d.account = account
	ids := cl.accounts[account]
	i, _ := slices.BinarySearch(ids, id)
	cl.accounts[account] = slices.Insert(ids, i, id)
}

// unindexLocked removes device id from the index of account. cl.mu must be held.
func (cl *Client) unindexLocked(account, id string) {
	ids := cl.accounts[account]
	i, ok := slices.BinarySearch(ids, id)
	if !ok {
		return
	}
	if len(ids) == 1 {
		delete(cl.accounts, account)
		return
	}
	cl.accounts[account] = slices.Delete(ids, i, i+1)
}

// deleteLocked forgets device id. cl.mu must be held.
func (cl *Client) deleteLocked(id string) {
	if d, ok := cl.devices[id]; ok {
		cl.unindexLocked(d.account, id)
	}
	delete(cl.devices, id)
}

// removeLocked forgets a device and returns the messages that remove it from HA and
// clear its retained topics. The removal stays a tombstone until it reached the broker.
// Callers hold pubMu.
func (cl *Client) removeLocked(id string) []message {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var extra []message
	if d, ok := cl.devices[id]; ok {
		for _, t := range d.topics {
			extra = append(extra, message{cl.extraTopic(id, t.name), nil})
		}
	}
	cl.deleteLocked(id)
	cl.tombstones[id] = struct{}{}
	return append(cl.removalMessages(id), extra...)
}

func (cl *Client) extraTopic(id, name string) string {
	return cl.opts.Topics.ExtraTopic(id, name)
}

func (cl *Client) removalMessages(id string) []message {
	var msgs []message
	if cl.opts.Discovery {
		msgs = append(msgs, message{cl.opts.Topics.DiscoveryTopic(id), nil})
	}
	return append(msgs,
		message{cl.opts.Topics.StateTopic(id), nil},
		message{cl.opts.Topics.AvailabilityTopic(id), nil})
}

func (cl *Client) clearTombstones(ids []string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, id := range ids {
		delete(cl.tombstones, id)
	}
}

// RemoveDevice removes a device from Home Assistant and clears its retained topics, also
// one not known in this process (a device of an account removed from the config).
func (cl *Client) RemoveDevice(id string) {
	cl.pubMu.Lock()
	defer cl.pubMu.Unlock()
	if cl.send(cl.removeLocked(id)) == nil {
		cl.clearTombstones([]string{id})
	}
}

// Restore seeds a device from the store at start, so its discovery and last state are on
// the broker before the first poll of its account finishes. Nothing is marked online.
func (cl *Client) Restore(account string, dev providers.Device, state []byte) error {
	res, err := discovery.Build(cl.opts.Topics, dev, nil)
	if err != nil {
		return err
	}
	cl.pubMu.Lock()
	defer cl.pubMu.Unlock()
	model := dev
	model.Values, model.Attributes, model.Topics = nil, nil, nil
	model.Entities = providers.InternEntities(dev.Entities)
	invalid := make([]string, len(res.Invalid))
	for i, inv := range res.Invalid {
		invalid[i] = inv.Error()
	}
	cl.mu.Lock()
	cl.deleteLocked(dev.ID)
	d := &device{model: model, haveModel: true, discoHash: maphash.Bytes(cl.seed, res.Payload),
		invalid: invalid, state: cl.keepState(state), topics: keepTopics(nil, dev.Topics)}
	cl.devices[dev.ID] = d
	cl.setAccountLocked(dev.ID, d, account)
	cl.mu.Unlock()
	msgs := []message{{cl.opts.Topics.StateTopic(dev.ID), state}}
	for _, name := range slices.Sorted(maps.Keys(dev.Topics)) {
		msgs = append(msgs, message{cl.extraTopic(dev.ID, name), dev.Topics[name]})
	}
	if cl.opts.Discovery {
		msgs = append([]message{{res.Topic, res.Payload}}, msgs...)
	}
	_ = cl.send(msgs)
	return nil
}

// SetAccountAvailable marks every device of account online or offline.
func (cl *Client) SetAccountAvailable(account string, online bool) {
	cl.pubMu.Lock()
	var msgs []message
	cl.mu.Lock()
	for _, id := range cl.accounts[account] {
		d := cl.devices[id]
		if id == discovery.BridgeDeviceID {
			continue
		}
		if d.haveOnline && d.online == online {
			continue
		}
		d.online, d.haveOnline = online, true
		msgs = append(msgs, message{cl.opts.Topics.AvailabilityTopic(id), availabilityPayload(online)})
	}
	cl.mu.Unlock()
	wait := cl.enqueue(msgs)
	cl.pubMu.Unlock()
	_ = wait()
}

// AccountDevices lists the device ids known for account.
func (cl *Client) AccountDevices(account string) []string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.accounts[account]) == 0 {
		return nil
	}
	return slices.Clone(cl.accounts[account])
}

// Close publishes offline (a clean disconnect does not fire the last will) and disconnects.
func (cl *Client) Close() {
	if !cl.closed.CompareAndSwap(false, true) {
		return
	}
	if cl.c.IsConnectionOpen() {
		cl.pubMu.Lock()
		if err := cl.send([]message{{cl.opts.Topics.BridgeAvailabilityTopic(), []byte("offline")}}); err != nil {
			cl.log.Warn("could not publish offline before disconnecting", "err", err)
		}
		cl.pubMu.Unlock()
	}
	cl.c.Disconnect(250)
}

// modelJSON is the device without its values, as kept in the store for Restore.
func modelJSON(dev providers.Device) ([]byte, error) {
	dev.Values, dev.Attributes = nil, nil
	return json.Marshal(dev)
}

// DecodeModel reverses modelJSON.
func DecodeModel(b []byte) (providers.Device, error) {
	var dev providers.Device
	err := json.Unmarshal(b, &dev)
	return dev, err
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
