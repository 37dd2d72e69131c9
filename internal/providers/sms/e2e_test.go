package sms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/instance"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

// market is the three fakes of the acceptance check, selling Telegram numbers in China:
// activate is the cheapest (0.5 RUB) but has none in stock, 5SIM is second (0.8 RUB),
// the self-hosted sms_api asks 0.1 CNY (1 RUB at the configured rate).
type market struct {
	act  *fake.Activate
	five *fake.FiveSim
	self *fake.SMSAPI
	cfg  string // accounts YAML
	sms  string // the sms: section
}

func startMarket(t *testing.T) *market {
	t.Helper()
	m := &market{act: fake.NewActivate("act-key"), five: fake.NewFiveSim("five-token"), self: fake.NewSMSAPI("alice", "alice-pw")}
	m.act.SetOffer("tg", "3", 0.5, 0)
	m.five.SetOffer("telegram", "china", 0.8, 25)
	m.self.SetOffer("100001", "cn", 0.1, 50)
	ua, stopA := fake.Serve(m.act)
	uf, stopF := fake.Serve(m.five)
	us, stopS := fake.Serve(m.self)
	t.Cleanup(func() { stopA(); stopF(); stopS() })
	m.cfg = fmt.Sprintf(`  - id: act
    provider: sms
    platform: activate
    api_key: act-key
    base_url: %s
  - id: five
    provider: sms
    platform: fivesim
    api_key: five-token
    base_url: %s
  - id: self
    provider: sms
    platform: smsapi
    username: alice
    password: alice-pw
    base_url: %s/api
    services:
      tg: "100001"
`, ua, uf, us)
	m.sms = `sms:
  watch:
    - service: tg
      country: cn
  default_strategy: priority
  currency: RUB
  rates:
    CNY: 10
  code_poll_interval: 20ms
  code_timeout: 1m
`
	return m
}

// progress is one message on <base>/sms/order/<request_id>.
type progress struct {
	Status   string   `json:"status"`
	Phone    string   `json:"phone"`
	Platform string   `json:"platform"`
	OrderID  string   `json:"order_id"`
	Price    *float64 `json:"price"`
	Currency string   `json:"currency"`
	Code     string   `json:"code"`
	Text     string   `json:"text"`
	Reason   string   `json:"reason"`
	Refunded *bool    `json:"refunded"`
	Attempts []any    `json:"attempts"`
}

// await reads the watcher until a message of status on topic, and returns the messages
// seen on topic up to it.
func await(t *testing.T, w *mqtttest.Watcher, topic string, statuses ...string) []progress {
	t.Helper()
	var got []progress
	w.Next(func(m mqtttest.Message) bool {
		if m.Topic != topic {
			return false
		}
		if m.Retained {
			t.Errorf("order progress retained: %s", m.Payload)
		}
		var p progress
		if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
			t.Fatalf("progress is not JSON: %q", m.Payload)
		}
		got = append(got, p)
		for _, s := range statuses {
			if p.Status == s {
				return true
			}
		}
		return false
	})
	return got
}

// TestSMSOrderEndToEnd is issue 6's acceptance check, first part: the real daemon with
// three platform fakes, orders over MQTT.
func TestSMSOrderEndToEnd(t *testing.T) {
	m := startMarket(t)
	m.five.SetCodeAfter(300 * time.Millisecond)
	e := daemontest.New(t)
	w := e.Watch()
	e.Start(e.Config(m.cfg, m.sms))

	// The router's cheapest healthy platform with stock is 5SIM, and its attributes list
	// every offer, cheapest first, in the router's currency.
	// One pass over the watcher: retained messages come in no guaranteed order.
	var last mqtttest.Message
	seen := map[string]bool{}
	w.Next(func(msg mqtttest.Message) bool {
		switch {
		case msg.Topic == e.StateTopic("sms_router") && strings.Contains(msg.Payload, `"healthy_platforms":3`):
			last, seen["state"] = msg, true
		case msg.Topic == e.DiscoveryTopic("sms_router") && msg.Payload != "":
			seen["router"] = true
		case msg.Topic == e.DiscoveryTopic("sms_five") && strings.Contains(msg.Payload, `"unit_of_measurement":"RUB"`):
			seen["five"] = true
		}
		return len(seen) == 3
	})
	var state struct {
		Cheapest   string `json:"cheapest_tg_cn"`
		Attributes map[string]struct {
			Price  float64 `json:"price"`
			Prices []struct {
				Platform    string  `json:"platform"`
				RouterPrice float64 `json:"router_price"`
				InStock     bool    `json:"in_stock"`
			} `json:"prices"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(last.Payload), &state); err != nil {
		t.Fatal(err)
	}
	attrs := state.Attributes["cheapest_tg_cn"]
	if state.Cheapest != "five" || attrs.Price != 0.8 || len(attrs.Prices) != 3 ||
		attrs.Prices[0].Platform != "act" || attrs.Prices[0].RouterPrice != 0.5 || attrs.Prices[0].InStock ||
		attrs.Prices[1].Platform != "five" || attrs.Prices[1].RouterPrice != 0.8 ||
		attrs.Prices[2].Platform != "self" || attrs.Prices[2].RouterPrice != 1 {
		t.Errorf("router state %s", last.Payload)
	}

	topic := e.Base + "/sms/order/e2e-1"
	w.Publish(e.Base+"/sms/order", `{"request_id":"e2e-1","service":"tg","country":"cn","strategy":"price"}`, false)
	msgs := await(t, w, topic, "done", "failed", "cancelled")
	var statuses []string
	for _, p := range msgs {
		statuses = append(statuses, p.Status)
	}
	if strings.Join(statuses, ",") != "number,code,done" {
		t.Fatalf("progress %v: %+v", statuses, msgs)
	}
	num, code := msgs[0], msgs[1]
	orders := m.five.Orders()
	if len(orders) != 1 {
		t.Fatalf("5SIM orders %v", orders)
	}
	want := orders[0]
	if num.Platform != "five" || num.Phone != strings.TrimPrefix(want.Phone, "+") || num.OrderID != want.ID ||
		num.Price == nil || *num.Price != 0.8 || num.Currency != "RUB" {
		t.Errorf("number message %+v (5SIM order %+v)", num, want)
	}
	if code.Code != want.Code || code.Text != want.Text || code.Phone != num.Phone {
		t.Errorf("code message %+v, want %s", code, want.Code)
	}
	if m.act.Count(fake.OpBuy) != 0 || m.self.Count(fake.OpBuy) != 0 || m.five.Count(fake.OpBuy) != 1 {
		t.Errorf("buys: act %d five %d self %d", m.act.Count(fake.OpBuy), m.five.Count(fake.OpBuy), m.self.Count(fake.OpBuy))
	}
	if o, _ := m.five.Order(want.ID); o.State != fake.Finished {
		t.Errorf("5SIM order not finished: %s", o.State)
	}

	// Cancel over MQTT cancels upstream (refund).
	m.five.SetCodeAfter(-1)
	topic = e.Base + "/sms/order/e2e-2"
	w.Publish(e.Base+"/sms/order", `{"request_id":"e2e-2","service":"tg","country":"cn"}`, false)
	await(t, w, topic, "number")
	w.Publish(topic+"/cancel", `{"reason":"user"}`, false)
	end := await(t, w, topic, "done", "failed", "cancelled")
	if p := end[len(end)-1]; p.Status != "cancelled" || p.Refunded == nil || !*p.Refunded {
		t.Errorf("after cancel: %+v", p)
	}
	if m.five.Refunds() != 1 {
		t.Errorf("5SIM refunds = %d", m.five.Refunds())
	}
	if logs := e.Logs(); strings.Contains(logs, "five-token") || strings.Contains(logs, "act-key") || strings.Contains(logs, "alice-pw") {
		t.Error("a platform secret reached the log")
	}
}

// TestSMSOrderSurvivesRestart is the acceptance check's second part: the bridge is
// stopped after the number was bought; a new one on the same store delivers the code,
// exactly once, and buys nothing again.
func TestSMSOrderSurvivesRestart(t *testing.T) {
	m := startMarket(t)
	m.five.SetCodeAfter(-1) // the code arrives while the bridge is down
	e := daemontest.New(t)
	w := e.Watch()
	cfg := e.Config(m.cfg, m.sms)
	stop := e.Start(cfg)
	w.WaitFor(e.StateTopic("sms_router"), "*") // the daemon is subscribed once it publishes

	topic := e.Base + "/sms/order/restart-1"
	w.Publish(e.Base+"/sms/order", `{"request_id":"restart-1","service":"tg","country":"cn","strategy":"price"}`, false)
	first := await(t, w, topic, "number", "failed")
	num := first[len(first)-1]
	if num.Status != "number" || num.Platform != "five" {
		t.Fatalf("first start: %+v", first)
	}
	stop()

	if !m.five.Deliver(num.OrderID, "Telegram code 73519") {
		t.Fatal("the fake has no waiting order to deliver to")
	}
	e.Start(cfg)
	// A restart must keep the router: its device and its store (the orders in flight).
	// Removing the router's discovery config is the sign of a daemon that takes the
	// group's job "@sms" for an account no longer configured, and deletes its data.
	var after []progress
	w.Next(func(msg mqtttest.Message) bool {
		if msg.Topic == e.DiscoveryTopic("sms_router") && msg.Payload == "" {
			t.Fatal("the restarted daemon removed the SMS router device (and with it the group's stored orders): " +
				"daemon.restore must not treat the group job @sms as an account no longer configured")
		}
		if msg.Topic != topic {
			return false
		}
		var p progress
		if err := json.Unmarshal([]byte(msg.Payload), &p); err != nil || msg.Retained {
			t.Fatalf("progress %+v", msg)
		}
		after = append(after, p)
		return p.Status == "done" || p.Status == "failed" || p.Status == "cancelled"
	})
	marker := e.Base + "/test_marker"
	w.Publish(marker, "end", false)
	rest := w.Until(marker)
	codes := 0
	var statuses []string
	for _, p := range append(first, after...) {
		statuses = append(statuses, p.Status)
		if p.Status == "code" {
			codes++
			if p.Code != "73519" || p.Text != "Telegram code 73519" || p.Phone != num.Phone {
				t.Errorf("code message %+v", p)
			}
		}
	}
	for _, msg := range rest {
		if msg.Topic == topic {
			t.Errorf("more progress after done: %s", msg.Payload)
		}
	}
	if codes != 1 || strings.Join(statuses, ",") != "number,code,done" {
		t.Errorf("progress over the restart: %v", statuses)
	}
	if n := m.five.Count(fake.OpBuy); n != 1 {
		t.Errorf("5SIM buys = %d", n)
	}
	if o, _ := m.five.Order(num.OrderID); o.State != fake.Finished {
		t.Errorf("5SIM order %s", o.State)
	}
	// The same request_id again buys nothing.
	w.Publish(e.Base+"/sms/order", `{"request_id":"restart-1","service":"tg","country":"cn"}`, false)
	w.Publish(e.Base+"/sms/order", `{"request_id":"restart-2","service":"tg","country":"cn","strategy":"price"}`, false)
	await(t, w, e.Base+"/sms/order/restart-2", "number", "failed")
	if n := m.five.Count(fake.OpBuy); n != 2 {
		t.Errorf("5SIM buys after a duplicate and a new order = %d, want 2", n)
	}
}

// TestSMSOrderBoughtOnceByTwoInstances: two daemons with the same base topic and SMS
// accounts on one broker (issue 14's "both bought a number"). The second is refused while
// the first runs (internal/instance), so an order published once is bought once. When the
// first stops, the second runs, claims the router and takes the next order, again once.
func TestSMSOrderBoughtOnceByTwoInstances(t *testing.T) {
	m := startMarket(t)
	e := daemontest.New(t)
	w := e.Watch()
	cfgA := e.Config(m.cfg, m.sms)
	cfgB := e.Config(m.cfg, m.sms)
	cfgB.MQTT.ClientID += "_b"
	cfgB.Store.Path = filepath.Join(t.TempDir(), "b.db")
	stopA := e.Start(cfgA)
	// One claim settles as the owner's.
	activeClaim := func(not string) (owner string) {
		w.Next(func(msg mqtttest.Message) bool {
			var c struct {
				Owner  string `json:"owner"`
				Active bool   `json:"active"`
			}
			if msg.Topic == e.Base+"/sms/claim" && json.Unmarshal([]byte(msg.Payload), &c) == nil && c.Active && c.Owner != not {
				owner = c.Owner
				return true
			}
			return false
		})
		return owner
	}
	owner := activeClaim("")

	order := func(rid string) {
		t.Helper()
		w.Publish(e.Base+"/sms/order", `{"request_id":"`+rid+`","service":"tg","country":"cn"}`, false)
		if got := await(t, w, e.Base+"/sms/order/"+rid, "done", "failed", "cancelled"); got[len(got)-1].Status != "done" {
			t.Fatalf("%s: %+v", rid, got)
		}
	}
	order("twice-1")
	// The second daemon is refused while the first runs.
	d, err := daemon.New(context.Background(), daemon.Options{Config: cfgB})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); !instance.IsConflict(err) {
		t.Fatalf("the second daemon ran next to the first: %v", err)
	}
	// Stop the owner (it finishes what it does, and releases the claim): the other one
	// starts, claims and takes the next order.
	stopA()
	stopB := e.Start(cfgB)
	activeClaim(owner) // orders published before the new owner's claim settles reach nobody
	order("twice-2")
	stopB()
	if n := m.five.Count(fake.OpBuy); n != 2 {
		t.Errorf("5SIM buys = %d, want one per order", n)
	}
}
