package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/accountbridge/accountbridge/internal/config"
)

// ClaimSettle is how long an instance holds an uncontested claim before it takes orders:
// two instances that claim at once both see the broker's last claim win within it.
const ClaimSettle = 2 * time.Second

// released is the claim of nobody: the owner's last will and what it publishes when it
// stops. (Not an empty retained message, which would delete the claim: some brokers
// refuse a last will without payload.)
const released = `{"owner":""}`

// claimPayload is the retained message on <base>/<kind>/claim.
type claimPayload struct {
	Owner    string    `json:"owner"`    // <client_id>/<run id>: one run of one instance
	Instance string    `json:"instance"` // mqtt.client_id
	Active   bool      `json:"active"`   // settled: the owner takes orders
	Since    time.Time `json:"since"`
}

// groupClaim makes one instance at most take a group's orders (the SMS router's) per
// base topic, whatever the number of instances on the broker: an order published once
// is bought once, and max_daily_spend, counted in the owner's store, holds for the fleet
// (docs/sms.md#several-instances).
//
// The claim is a retained message on its own MQTT connection, whose last will is an
// released claim on the same topic: when the owner dies, the broker releases the claim
// and another instance claims. The connection is separate because the main
// one's will is the bridge's availability, and MQTT gives a connection one will.
type groupClaim struct {
	topic string
	me    claimPayload
	log   *slog.Logger
	c     paho.Client

	mu       sync.Mutex
	current  claimPayload // the last claim seen (zero: none)
	first    bool         // the next claim message is the retained one found at connect
	settle   *time.Timer
	owned    bool
	closing  bool   // released: claim nothing again
	lastSeen string // owner last logged, to log each change once
	// pending are messages that came while this instance was still claiming: run once it
	// owns the claim, dropped when another instance does.
	pending []func()
}

// maxPending bounds the messages held while claiming.
const maxPending = 256

func runID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newGroupClaim prepares the claim of topic for this instance; start connects.
func newGroupClaim(m config.MQTT, topic string, log *slog.Logger) (*groupClaim, error) {
	tlsCfg, err := TLSConfig(m)
	if err != nil {
		return nil, err
	}
	run := runID()
	g := &groupClaim{topic: topic, log: log,
		me: claimPayload{Owner: m.ClientID + "/" + run, Instance: m.ClientID}}
	po := paho.NewClientOptions().
		AddBroker(m.Broker).
		SetClientID(m.ClientID+"-claim-"+run). // never kicks another instance's connection
		SetUsername(m.Username).
		SetPassword(m.Password).
		SetKeepAlive(m.KeepAlive.D()).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5*time.Second).
		SetWill(topic, released, 1, true). // releases the claim when this connection dies
		SetOnConnectHandler(g.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) { g.log.Debug("claim connection lost", "err", err); g.lost() })
	if tlsCfg != nil {
		po.SetTLSConfig(tlsCfg)
	}
	g.c = paho.NewClient(po)
	return g, nil
}

// start connects once the daemon's main connection is up (ready): a broker that refuses
// the daemon (a wrong password) is not also hammered by the claim's connection.
func (g *groupClaim) start(ctx context.Context, ready func() bool) {
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for !ready() {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		g.mu.Lock()
		closing := g.closing
		g.mu.Unlock()
		if !closing {
			g.c.Connect()
		}
	}()
}

func (g *groupClaim) onConnect(c paho.Client) {
	g.mu.Lock()
	g.first, g.current, g.owned = true, claimPayload{}, false
	g.mu.Unlock()
	c.Subscribe(g.topic, 1, func(_ paho.Client, m paho.Message) { g.onClaim(m.Payload(), m.Retained()) })
	// No retained claim within a moment: nobody owns the orders; claim them.
	time.AfterFunc(500*time.Millisecond, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.first && !g.closing {
			g.first = false
			g.claimLocked()
		}
	})
}

func (g *groupClaim) lost() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.owned {
		g.log.Warn("claim connection lost: not taking orders until it is back", "topic", g.topic)
	}
	g.owned, g.current = false, claimPayload{}
	if g.settle != nil {
		g.settle.Stop()
	}
}

// claimLocked publishes this instance's claim and takes the orders after ClaimSettle,
// unless another claim came in meanwhile.
func (g *groupClaim) claimLocked() {
	g.me.Active, g.me.Since = false, time.Now().UTC()
	g.publishLocked(g.me)
	g.settleLocked()
}

// settleLocked (re)starts the wait after which this instance's claim, if it is still the
// last one seen, becomes active. It restarts when our claim comes back from the broker:
// every instance sees the claims in the broker's order, so the one whose claim came last
// for all of them is the one whose timer runs out.
func (g *groupClaim) settleLocked() {
	if g.settle != nil {
		g.settle.Stop()
	}
	g.settle = time.AfterFunc(ClaimSettle, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.closing || g.current.Owner != g.me.Owner || !g.c.IsConnectionOpen() {
			return
		}
		g.me.Active = true
		g.publishLocked(g.me)
		g.owned = true
		g.log.Info("this instance takes the orders", "topic", g.topic, "owner", g.me.Owner, "held", len(g.pending))
		held := g.pending
		g.pending = nil
		go func() {
			for _, fn := range held {
				fn()
			}
		}()
	})
}

func (g *groupClaim) publishLocked(p claimPayload) {
	b, _ := json.Marshal(p)
	g.current = p // our own message comes back too; until then, it is what we expect
	g.c.Publish(g.topic, 1, true, b)
}

func (g *groupClaim) onClaim(payload []byte, retained bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := g.first
	g.first = false
	var p claimPayload
	if len(payload) > 0 && json.Unmarshal(payload, &p) != nil {
		p = claimPayload{}
	}
	if g.closing {
		return
	}
	switch {
	case p.Owner == "":
		// Nobody (the owner stopped, or its will deleted the claim): claim.
		g.current, g.owned = claimPayload{}, false
		g.claimLocked()
	case p.Owner == g.me.Owner:
		g.current = p
		if !p.Active && !g.owned {
			g.settleLocked()
		}
	case first && retained && p.Instance == g.me.Instance:
		// Left by an earlier run of this same instance (its will never reached a broker
		// that kept the claim): take it over.
		g.log.Info("claim of an earlier run of this instance taken over", "topic", g.topic, "was", p.Owner)
		g.claimLocked()
	default:
		g.current = p
		if g.owned {
			g.log.Warn("another instance claimed the orders: this one stops taking them", "topic", g.topic, "owner", p.Owner)
		}
		g.owned = false
		if g.settle != nil {
			g.settle.Stop()
		}
		if len(g.pending) > 0 {
			g.log.Info("messages held while claiming left to the owner", "topic", g.topic, "count", len(g.pending))
			g.pending = nil
		}
		if g.lastSeen != p.Owner {
			g.lastSeen = p.Owner
			g.log.Info("another instance takes the orders; this one leaves them to it", "topic", g.topic, "owner", p.Owner,
				"hint", "run one instance per base_topic, or shards (docs/scaling.md)")
		}
	}
}

// Offer runs fn (the handling of one message) now when this instance owns the claim;
// later, once it does, while it is still claiming (or connecting); never when another
// instance owns it. It reports whether fn ran or will run.
func (g *groupClaim) Offer(fn func()) bool {
	g.mu.Lock()
	switch {
	case g.owned && g.current.Owner == g.me.Owner && g.c.IsConnectionOpen():
		g.mu.Unlock()
		fn()
		return true
	case g.current.Owner == "" || g.current.Owner == g.me.Owner:
		defer g.mu.Unlock()
		if len(g.pending) >= maxPending {
			return false
		}
		g.pending = append(g.pending, fn)
		return true
	default:
		g.mu.Unlock()
		return false
	}
}

// close gives the claim up (releases it, so another instance claims at once) and
// disconnects.
func (g *groupClaim) close() {
	g.mu.Lock()
	if g.settle != nil {
		g.settle.Stop()
	}
	mine := g.current.Owner == g.me.Owner
	g.owned, g.pending, g.closing = false, nil, true
	g.mu.Unlock()
	if mine && g.c.IsConnectionOpen() {
		g.c.Publish(g.topic, 1, true, []byte(released)).WaitTimeout(2 * time.Second)
	}
	g.c.Disconnect(250)
}
