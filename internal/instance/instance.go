// Package instance gives a daemon an identity on its broker and keeps two daemons from
// serving the same base topic (and overlapping shards) at once.
//
// Each daemon holds a retained claim on <base>/bridge/claims/<run id>: who it is (client
// id, run id, host, pid, start time, shard). The claim is held on a connection of its
// own whose last will is the same claim marked gone, so the broker ends a killed
// instance's claim; a clean stop deletes it, and whoever sees a gone claim deletes it
// (brokers refuse an empty will, which would have deleted it at once). A newcomer
// reads the claims before it publishes or polls anything; when a live instance with an
// overlapping shard holds one, it refuses to run. The running instance is not disturbed:
// the newcomer never connects with its client id (which would take over its session).
package instance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/shard"
)

// Identity is who a daemon is; its claim payload.
type Identity struct {
	ClientID string      `json:"client_id"`
	RunID    string      `json:"run_id"` // random, new at every start
	Host     string      `json:"host,omitempty"`
	PID      int         `json:"pid,omitempty"`
	Started  time.Time   `json:"started"`
	Shard    shard.Shard `json:"shard"`
	Version  string      `json:"version,omitempty"`
	Gone     bool        `json:"gone,omitempty"` // the last will: this instance is no more
}

// New is the identity of this process: clientID and a new random run id.
func New(clientID string, s shard.Shard, version string, now time.Time) Identity {
	var b [4]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return Identity{ClientID: clientID, RunID: hex.EncodeToString(b[:]), Host: host, PID: os.Getpid(),
		Started: now.UTC(), Shard: s, Version: version}
}

// String names the instance for people: "accountbridge (run 1a2b3c4d, pid 42 on nas, shard 0/1, since …)".
func (id Identity) String() string {
	where := ""
	if id.PID > 0 {
		where = fmt.Sprintf(", pid %d", id.PID)
		if id.Host != "" {
			where += " on " + id.Host
		}
	}
	return fmt.Sprintf("%s (run %s%s, shard %s, since %s)", id.ClientID, id.RunID, where, id.Shard,
		id.Started.Format(time.RFC3339))
}

// Overlaps reports whether two instances would poll some of the same accounts: unless
// both split the accounts the same way (the same count) into different shards, they do.
func Overlaps(a, b shard.Shard) bool {
	if a.Single() || b.Single() || a.Count != b.Count {
		return true
	}
	return a.Index == b.Index
}

// ClaimsFilter subscribes to every claim under base.
func ClaimsFilter(base string) string { return base + "/bridge/claims/+" }

// ClaimTopic is where id holds its claim.
func ClaimTopic(base string, id Identity) string { return base + "/bridge/claims/" + id.RunID }

// ConflictError is the refusal to run next to another live instance.
type ConflictError struct {
	Base  string
	Self  Identity
	Other Identity
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("another instance already serves base topic %q on this broker: %s. "+
		"Stop it first, or run both: give this one another mqtt.base_topic (and mqtt.client_id), "+
		"or split the accounts with shard: {index: I, count: N} (a different index in each instance, the same count)",
		e.Base, e.Other)
}

// Options configure Claim.
type Options struct {
	// MQTT is the daemon's connection settings (broker, credentials, TLS). ClientID,
	// AvailabilityTopic, Online, Offline and Ordered are set by Claim.
	MQTT   mqtt.Options
	Base   string
	Self   Identity
	Logger *slog.Logger
}

// Holder holds this instance's claim until Close.
type Holder struct {
	conn     *mqtt.Client
	base     string
	self     Identity
	log      *slog.Logger
	conflict chan *ConflictError // an overlapping claim of an older instance (a start race)
	once     sync.Once
}

// Claim connects (waiting while the broker is unreachable or refuses, until ctx ends),
// reads the claims under opts.Base and either publishes this instance's claim and
// returns its holder, or returns a *ConflictError naming the live instance in the way.
func Claim(ctx context.Context, opts Options) (*Holder, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	self, err := json.Marshal(opts.Self)
	if err != nil {
		return nil, err
	}
	gone := opts.Self
	gone.Gone = true
	will, err := json.Marshal(gone)
	if err != nil {
		return nil, err
	}
	h := &Holder{base: opts.Base, self: opts.Self, log: opts.Logger, conflict: make(chan *ConflictError, 1)}
	mo := opts.MQTT
	// Its own client id (the daemon's would take over the running instance's session),
	// short: MQTT 3.1.1 brokers need only accept 23 characters.
	mo.ClientID = opts.Self.ClientID + "-" + opts.Self.RunID
	mo.AvailabilityTopic = ClaimTopic(opts.Base, opts.Self)
	mo.Online, mo.Offline, mo.ClearOnClose = self, will, true
	mo.Ordered = true // claims replayed on subscribe arrive before the probe sent after it
	mo.Logger = opts.Logger
	conn, err := mqtt.New(mo)
	if err != nil {
		return nil, err
	}
	h.conn = conn

	var checking atomic.Bool
	checking.Store(true)
	var mu sync.Mutex
	var older *ConflictError // the oldest overlapping live claim seen
	probe := opts.Base + "/bridge/claims/probe-" + opts.Self.RunID
	probed := make(chan struct{}, 1)
	conn.Subscribe(mqtt.Subscription{Filter: ClaimsFilter(opts.Base), Retained: true, MaxPayload: 1 << 10,
		Handler: func(topic string, payload []byte) {
			if topic == probe {
				select {
				case probed <- struct{}{}:
				default:
				}
				return
			}
			var other Identity
			if len(payload) == 0 || json.Unmarshal(payload, &other) != nil || other.RunID == "" || other.RunID == opts.Self.RunID {
				return // deleted, not a claim, or ours
			}
			if other.Gone {
				// A killed instance's will: the newcomer deletes the ones it finds, or every
				// run would leave one behind. Only while checking (they are the retained
				// ones): a live one may be of an instance that is reconnecting and about to
				// claim again. Not on this goroutine: publishing waits for the broker, and
				// this handler must not block the reader.
				if checking.Load() {
					go func() { _ = conn.Publish(topic, []byte{}, true) }()
				}
				return
			}
			if !Overlaps(other.Shard, opts.Self.Shard) || !olderThan(other, opts.Self) {
				return // a newer instance gives way to us
			}
			c := &ConflictError{Base: opts.Base, Self: opts.Self, Other: other}
			mu.Lock()
			if older == nil {
				older = c
			}
			mu.Unlock()
			select {
			case h.conflict <- c:
			default:
			}
		}})
	// On every connect, before the claim is published: read the claims, then send a probe
	// to ourselves; when it is back, every retained claim has been seen.
	granted := make(chan struct{})
	var grantOnce sync.Once
	conn.OnConnect(func() {
		if err := conn.Publish(probe, []byte("?"), false); err != nil {
			h.log.Warn("instance check: probe not sent; other instances may go unnoticed", "err", err)
		} else {
			select {
			case <-probed:
			case <-time.After(10 * time.Second):
				h.log.Warn("instance check: probe did not come back (the broker's ACL?); other instances may go unnoticed")
			}
		}
		grantOnce.Do(func() { checking.Store(false); close(granted) })
	})
	conn.Start()
	select {
	case <-granted:
	case <-ctx.Done():
		conn.Close()
		return nil, ctx.Err()
	}
	mu.Lock()
	c := older
	mu.Unlock()
	if c != nil {
		conn.Close() // clears the claim it may have published meanwhile
		return nil, c
	}
	h.log.Info("instance claimed its base topic", "base_topic", opts.Base, "instance", opts.Self.String())
	return h, nil
}

// olderThan orders instances by start time, then run id: the older one keeps running.
func olderThan(a, b Identity) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.Before(b.Started)
	}
	return strings.Compare(a.RunID, b.RunID) < 0
}

// Conflict delivers a claim of an older overlapping instance that appeared after Claim
// returned: two instances that started at the same moment. The younger one must stop.
func (h *Holder) Conflict() <-chan *ConflictError { return h.conflict }

// Self is the identity the claim carries.
func (h *Holder) Self() Identity { return h.self }

// Close clears the claim and disconnects.
func (h *Holder) Close() {
	h.once.Do(h.conn.Close)
}

// IsConflict reports whether err is a refusal to run next to another instance.
func IsConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}
