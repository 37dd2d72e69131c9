// Package hapublish publishes devices to Home Assistant (and Node-RED) over an MQTT
// connection (internal/mqtt).
//
// It keeps the desired retained state of every device (discovery config, JSON state,
// availability) and the broker in step with it: a change is published once, an unchanged
// snapshot publishes nothing, and every (re)connect or Home Assistant birth message
// re-publishes everything, so a broker that lost its retained messages is repaired.
package hapublish

import (
	"encoding/json"
	"errors"
	"hash/maphash"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Options configure the publisher.
type Options struct {
	Topics      discovery.Options
	Discovery   bool          // publish HA discovery configs
	StatusTopic string        // HA's birth topic, default <discovery prefix>/status
	BirthDelay  time.Duration // max random delay before re-publishing after HA's birth
	Logger      *slog.Logger
}

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

// Publisher keeps Home Assistant's devices on the broker.
type Publisher struct {
	opts Options
	log  *slog.Logger
	conn *mqtt.Client

	// pubMu serializes every publish, so a re-publish after reconnect can never overwrite
	// a newer state with an older one.
	pubMu    sync.Mutex
	mu       sync.Mutex // guards the maps below
	devices  map[string]*device
	accounts map[string][]string  // account → ids of its devices, sorted (a map each would cost ~10 ×)
	retained map[string]keptState // other retained topics re-published on connect (bridge info), deflated
	seed     maphash.Seed         // for discovery and state payload hashes
	dictMu   sync.Mutex
	dicts    map[string]*dictionary // by payload kind; see dictionaryFor
	// tombstones are removed devices whose removal has not reached the broker yet.
	tombstones map[string]struct{}

	birthTimer atomic.Bool
	// deflating turns on once the publisher has held deflateFrom devices; see keep.
	deflating atomic.Bool
}

// New prepares a publisher on conn: it re-publishes after every connect of conn and
// after Home Assistant's birth message. Call it before conn.Start.
func New(conn *mqtt.Client, opts Options) *Publisher {
	if opts.StatusTopic == "" {
		opts.StatusTopic = opts.Topics.DiscoveryPrefix + "/status"
	}
	opts.Topics.QoS = min(opts.Topics.QoS, 1)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		opts:       opts,
		log:        opts.Logger,
		conn:       conn,
		devices:    map[string]*device{},
		accounts:   map[string][]string{},
		retained:   map[string]keptState{},
		seed:       maphash.MakeSeed(),
		tombstones: map[string]struct{}{},
	}
	conn.OnConnect(func() { p.republish("connect") })
	// HA's birth and will are "online" and "offline".
	conn.Subscribe(mqtt.Subscription{Filter: opts.StatusTopic, Handler: p.onHAStatus, Retained: true, MaxPayload: 16})
	return p
}

// onHAStatus re-publishes after Home Assistant's birth message, after a random delay so
// that many publishers do not answer HA at the same instant.
func (p *Publisher) onHAStatus(_ string, payload []byte) {
	if string(payload) != "online" {
		p.log.Info("home assistant status", "status", logging.Excerpt(payload))
		return
	}
	if !p.birthTimer.CompareAndSwap(false, true) {
		return // a re-publish is already scheduled
	}
	delay := time.Duration(0)
	if p.opts.BirthDelay > 0 {
		delay = rand.N(p.opts.BirthDelay)
	}
	p.log.Info("home assistant came online; re-publishing", "delay", delay.Round(time.Millisecond))
	time.AfterFunc(delay, func() {
		p.birthTimer.Store(false)
		p.republish("home assistant birth")
	})
}

// republishBatch is how many devices a re-publish builds messages for at a time: their
// discovery payloads are built anew (about 10 KB each), and building them all at once
// took about 140 MB with 10,000 accounts.
const republishBatch = 256

// republish sends every retained message the broker should hold.
func (p *Publisher) republish(why string) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	var msgs []mqtt.Message // the client says "online" after this
	p.mu.Lock()
	for _, topic := range slices.Sorted(maps.Keys(p.retained)) {
		msgs = append(msgs, msg(topic, p.retained[topic].bytes()))
	}
	tombstones := slices.Sorted(maps.Keys(p.tombstones))
	for _, id := range tombstones {
		msgs = append(msgs, p.removalMessages(id)...)
	}
	ids := slices.Sorted(maps.Keys(p.devices))
	p.mu.Unlock()
	// Devices do not change meanwhile: that takes pubMu. The first batch carries the
	// messages above, so it is sent even with no devices.
	sent := 0
	for start := 0; ; start += republishBatch {
		end := min(start+republishBatch, len(ids))
		p.mu.Lock()
		for _, id := range ids[start:end] {
			msgs = append(msgs, p.deviceMessages(id, p.devices[id])...)
		}
		p.mu.Unlock()
		if err := p.send(msgs); err != nil {
			p.log.Warn("re-publish incomplete; it is repeated on the next connect", "why", why, "err", err)
			return
		}
		sent += len(msgs)
		if end == len(ids) {
			break
		}
		msgs = msgs[:0]
		clear(msgs[:cap(msgs)]) // let the sent payloads go
	}
	p.clearTombstones(tombstones)
	p.log.Debug("re-published", "why", why, "messages", sent)
}

// deviceMessages are the retained messages of device id (d). Callers hold p.mu.
func (p *Publisher) deviceMessages(id string, d *device) []mqtt.Message {
	var msgs []mqtt.Message
	if p.opts.Discovery && d.haveModel {
		if res, err := discovery.Build(p.opts.Topics, d.model, nil); err == nil {
			msgs = append(msgs, msg(res.Topic, res.Payload))
		}
	}
	if d.haveOnline {
		msgs = append(msgs, msg(p.opts.Topics.AvailabilityTopic(id), availabilityPayload(d.online)))
	}
	if state := d.state.bytes(); state != nil {
		msgs = append(msgs, msg(p.opts.Topics.StateTopic(id), state))
	}
	for _, t := range d.topics {
		msgs = append(msgs, msg(p.extraTopic(id, t.name), t.kept.bytes()))
	}
	return msgs
}

// modelKind is the kind of a device's state payload: devices of one model have states
// with the same keys, so they share a dictionary.
func modelKind(dev providers.Device) string {
	return dev.Manufacturer + "\x00" + dev.Model
}

func msg(topic string, payload []byte) mqtt.Message {
	return mqtt.Message{Topic: topic, Payload: payload}
}

// send publishes retained messages in order and waits for their acknowledgements.
// Callers hold pubMu. While disconnected nothing is sent: the desired state is kept and
// the next connect re-publishes it.
func (p *Publisher) send(msgs []mqtt.Message) error {
	return p.conn.Enqueue(msgs)()
}

// enqueue is mqtt.Client.Enqueue: callers hold pubMu while enqueueing and release it
// before waiting.
func (p *Publisher) enqueue(msgs []mqtt.Message) (wait func() error) {
	return p.conn.Enqueue(msgs)
}

// SetRetained keeps topic at payload on the broker, re-published on every connect; an
// unchanged payload publishes nothing. The kept copy is deflated: bridge info is megabytes
// with thousands of accounts and compresses about tenfold.
func (p *Publisher) SetRetained(topic string, payload []byte) {
	if payload == nil {
		payload = []byte{}
	}
	p.pubMu.Lock()
	p.mu.Lock()
	old := p.retained[topic]
	p.mu.Unlock()
	if old.same(p, payload) {
		p.pubMu.Unlock()
		return
	}
	kept := p.keep("", payload)
	p.mu.Lock()
	p.retained[topic] = kept
	p.mu.Unlock()
	wait := p.enqueue([]mqtt.Message{msg(topic, payload)})
	p.pubMu.Unlock()
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
func (p *Publisher) PublishSnapshot(snap providers.Snapshot) ([]DeviceChange, []string, error) {
	p.pubMu.Lock()
	var msgs []mqtt.Message
	var changes []DeviceChange
	seen := map[string]bool{}
	var errs []error
	for _, dev := range snap.Devices {
		seen[dev.ID] = true
		ch, m, err := p.updateDevice(snap.Account, dev)
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
	p.mu.Lock()
	for _, id := range p.accounts[snap.Account] {
		if !seen[id] {
			removed = append(removed, id)
		}
	}
	p.mu.Unlock()
	slices.Sort(removed)
	for _, id := range removed {
		msgs = append(msgs, p.removeLocked(id)...)
	}
	wait := p.enqueue(msgs)
	p.pubMu.Unlock()
	if err := wait(); err != nil {
		p.log.Debug("publish deferred until the broker is reachable", "account", snap.Account, "err", err)
	} else {
		p.clearTombstones(removed)
	}
	return changes, removed, errors.Join(errs...)
}

// PatchState changes some values in the published state of device id (of account) and
// publishes it when that changed it (see discovery.PatchState). It reports whether the
// device is known.
func (p *Publisher) PatchState(account, id string, values map[string]any) (bool, error) {
	p.pubMu.Lock()
	p.mu.Lock()
	d, ok := p.devices[id]
	if !ok || d.account != account || d.state.z == nil {
		p.mu.Unlock()
		p.pubMu.Unlock()
		return false, nil
	}
	state, err := discovery.PatchState(d.state.bytes(), values)
	if err != nil || d.state.same(p, state) {
		p.mu.Unlock()
		p.pubMu.Unlock()
		return true, err
	}
	d.state = p.keepState(modelKind(d.model), state)
	p.mu.Unlock()
	wait := p.enqueue([]mqtt.Message{msg(p.opts.Topics.StateTopic(id), state)})
	p.pubMu.Unlock()
	return true, wait()
}

func availabilityPayload(online bool) []byte {
	if online {
		return []byte("online")
	}
	return []byte("offline")
}

// Model returns the device id as last published (or restored), without its values.
func (p *Publisher) Model(id string) (providers.Device, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.devices[id]
	if !ok || !d.haveModel {
		return providers.Device{}, false
	}
	return d.model, true
}

// Owner returns the account a device belongs to. The publisher records it before it
// queues the device's discovery, so a command for any discovered device finds it.
func (p *Publisher) Owner(id string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.devices[id]
	if !ok {
		return "", false
	}
	return d.account, true
}

// AppendDevices appends the ids of account's devices to dst, sorted.
func (p *Publisher) AppendDevices(dst []string, account string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(dst, p.accounts[account]...)
}

// updateDevice records dev as desired and returns the messages that bring the broker in
// line; a successful poll also makes the device available. Discovery is
// rebuilt only when the device model (everything but its values) changed.
func (p *Publisher) updateDevice(account string, dev providers.Device) (DeviceChange, []mqtt.Message, error) {
	ch := DeviceChange{DeviceID: dev.ID}
	p.mu.Lock()
	d, ok := p.devices[dev.ID]
	if !ok {
		d = &device{}
		p.devices[dev.ID] = d
	}
	p.setAccountLocked(dev.ID, d, account)
	same := d.haveModel && providers.SameModel(d.model, dev)
	p.mu.Unlock()

	var msgs []mqtt.Message
	if !same {
		res, err := discovery.Build(p.opts.Topics, dev, nil)
		if err != nil {
			return ch, nil, err
		}
		var invalid []string
		for _, inv := range res.Invalid {
			invalid = append(invalid, inv.Error())
			if !d.haveModel || !slices.Contains(d.invalid, inv.Error()) {
				p.log.Error("entity left out of discovery: Home Assistant would reject it", "account", account, "err", inv)
			}
		}
		hash := maphash.Bytes(p.seed, res.Payload)
		if !d.haveModel || hash != d.discoHash {
			ch.Discovery = true
			if p.opts.Discovery {
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
					rm, err := discovery.Build(p.opts.Topics, dev, removed)
					if err == nil {
						msgs = append(msgs, msg(rm.Topic, rm.Payload))
					}
				}
				msgs = append(msgs, msg(res.Topic, res.Payload))
			}
		}
		model := dev
		model.Values, model.Attributes, model.Topics = nil, nil, nil
		model.Entities = providers.InternEntities(dev.Entities)
		p.mu.Lock()
		d.model, d.haveModel, d.discoHash, d.invalid = model, true, hash, invalid
		p.mu.Unlock()
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
				p.log.Error("extra topic also carries entity values; the values win", "device", dev.ID, "topic", name)
			}
			topics[name] = payload
		}
	}
	// A name not allowed is left out of the kept topics too, or a re-publish would send it.
	cloned := false
	for name := range topics {
		if !providers.ValidTopicName(name) {
			p.log.Error("extra topic name not allowed; left out", "device", dev.ID, "topic", name)
			if !cloned {
				topics, cloned = maps.Clone(topics), true // the provider's map is not ours
			}
			delete(topics, name)
		}
	}
	var kept keptState
	sameState := false
	p.mu.Lock()
	sameState = d.state.same(p, state)
	p.mu.Unlock()
	if !sameState {
		kept = p.keepState(modelKind(dev), state) // deflate outside the lock
	}
	p.mu.Lock()
	if !sameState {
		d.state = kept
		ch.StateChanged = true
		msgs = append(msgs, msg(p.opts.Topics.StateTopic(dev.ID), state))
	}
	ch.State = state // the kept state when unchanged: equal to it
	for _, t := range d.topics {
		if _, still := topics[t.name]; !still {
			msgs = append(msgs, msg(p.extraTopic(dev.ID, t.name), nil))
		}
	}
	p.mu.Unlock()
	// Deflating outside p.mu: d.topics changes only under pubMu, which the caller holds.
	keptTopics, changed := p.keepTopics(d.topics, topics)
	for _, name := range changed {
		msgs = append(msgs, msg(p.extraTopic(dev.ID, name), topics[name]))
	}
	p.mu.Lock()
	d.topics = keptTopics
	if dev.ID != p.opts.Topics.Bridge() && (!d.haveOnline || !d.online) {
		d.online, d.haveOnline = true, true
		msgs = append(msgs, msg(p.opts.Topics.AvailabilityTopic(dev.ID), availabilityPayload(true)))
	}
	p.mu.Unlock()
	if ch.Discovery || ch.StateChanged {
		ch.Model, _ = modelJSON(dev)
	}
	return ch, msgs, nil
}

// setAccountLocked records that device id (d) belongs to account. p.mu must be held.
func (p *Publisher) setAccountLocked(id string, d *device, account string) {
	if len(p.devices) >= deflateFrom && !p.deflating.Load() {
		p.deflating.Store(true)
	}
	if d.account == account {
		if _, ok := slices.BinarySearch(p.accounts[account], id); ok {
			return
		}
	}
	p.unindexLocked(d.account, id)
	d.account = account
	ids := p.accounts[account]
	i, _ := slices.BinarySearch(ids, id)
	p.accounts[account] = slices.Insert(ids, i, id)
}

// unindexLocked removes device id from the index of account. p.mu must be held.
func (p *Publisher) unindexLocked(account, id string) {
	ids := p.accounts[account]
	i, ok := slices.BinarySearch(ids, id)
	if !ok {
		return
	}
	if len(ids) == 1 {
		delete(p.accounts, account)
		return
	}
	p.accounts[account] = slices.Delete(ids, i, i+1)
}

// deleteLocked forgets device id. p.mu must be held.
func (p *Publisher) deleteLocked(id string) {
	if d, ok := p.devices[id]; ok {
		p.unindexLocked(d.account, id)
	}
	delete(p.devices, id)
}

// removeLocked forgets a device and returns the messages that remove it from HA and
// clear its retained topics. The removal stays a tombstone until it reached the broker.
// Callers hold pubMu.
func (p *Publisher) removeLocked(id string) []mqtt.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var extra []mqtt.Message
	if d, ok := p.devices[id]; ok {
		for _, t := range d.topics {
			extra = append(extra, msg(p.extraTopic(id, t.name), nil))
		}
	}
	p.deleteLocked(id)
	p.tombstones[id] = struct{}{}
	return append(p.removalMessages(id), extra...)
}

func (p *Publisher) extraTopic(id, name string) string {
	return p.opts.Topics.ExtraTopic(id, name)
}

func (p *Publisher) removalMessages(id string) []mqtt.Message {
	var msgs []mqtt.Message
	if p.opts.Discovery {
		msgs = append(msgs, msg(p.opts.Topics.DiscoveryTopic(id), nil))
	}
	return append(msgs,
		msg(p.opts.Topics.StateTopic(id), nil),
		msg(p.opts.Topics.AvailabilityTopic(id), nil))
}

func (p *Publisher) clearTombstones(ids []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.tombstones, id)
	}
}

// RemoveDevice removes a device from Home Assistant and clears its retained topics, also
// one not known in this process (a device of an account removed from the config).
func (p *Publisher) RemoveDevice(id string) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.send(p.removeLocked(id)) == nil {
		p.clearTombstones([]string{id})
	}
}

// Restore seeds a device from the store at start, so its discovery and last state are on
// the broker before the first poll of its account finishes. Nothing is marked online.
func (p *Publisher) Restore(account string, dev providers.Device, state []byte) error {
	res, err := discovery.Build(p.opts.Topics, dev, nil)
	if err != nil {
		return err
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	model := dev
	model.Values, model.Attributes, model.Topics = nil, nil, nil
	model.Entities = providers.InternEntities(dev.Entities)
	invalid := make([]string, len(res.Invalid))
	for i, inv := range res.Invalid {
		invalid[i] = inv.Error()
	}
	p.mu.Lock()
	p.deleteLocked(dev.ID)
	d := &device{model: model, haveModel: true, discoHash: maphash.Bytes(p.seed, res.Payload),
		invalid: invalid, state: p.keepState(modelKind(dev), state)}
	d.topics, _ = p.keepTopics(nil, dev.Topics)
	p.devices[dev.ID] = d
	p.setAccountLocked(dev.ID, d, account)
	p.mu.Unlock()
	msgs := []mqtt.Message{msg(p.opts.Topics.StateTopic(dev.ID), state)}
	for _, name := range slices.Sorted(maps.Keys(dev.Topics)) {
		msgs = append(msgs, msg(p.extraTopic(dev.ID, name), dev.Topics[name]))
	}
	if p.opts.Discovery {
		msgs = append([]mqtt.Message{msg(res.Topic, res.Payload)}, msgs...)
	}
	_ = p.send(msgs)
	return nil
}

// SetAccountAvailable marks every device of account online or offline.
func (p *Publisher) SetAccountAvailable(account string, online bool) {
	p.pubMu.Lock()
	var msgs []mqtt.Message
	p.mu.Lock()
	for _, id := range p.accounts[account] {
		d := p.devices[id]
		if id == p.opts.Topics.Bridge() {
			continue
		}
		if d.haveOnline && d.online == online {
			continue
		}
		d.online, d.haveOnline = online, true
		msgs = append(msgs, msg(p.opts.Topics.AvailabilityTopic(id), availabilityPayload(online)))
	}
	p.mu.Unlock()
	wait := p.enqueue(msgs)
	p.pubMu.Unlock()
	_ = wait()
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
