package daemon_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/shard"
)

// idInShard returns the first of prefix0, prefix1, … that falls in shard index of count.
func idInShard(t *testing.T, prefix string, index, count int) string {
	t.Helper()
	for n := range 1000 {
		if id := fmt.Sprintf("%s%d", prefix, n); shard.Of(id, count) == index {
			return id
		}
	}
	t.Fatalf("no id %s… in shard %d of %d", prefix, index, count)
	return ""
}

// record collects the watcher's messages until done says the phase is over, then up to a
// marker published after it: everything the daemon published meanwhile.
func record(w *mqtttest.Watcher, marker string, done func(seen []mqtttest.Message) bool) []mqtttest.Message {
	var seen []mqtttest.Message
	w.Next(func(m mqtttest.Message) bool {
		seen = append(seen, m)
		return done(seen)
	})
	w.Publish(marker, "x", false)
	return append(seen, w.Until(marker)...)
}

func sawPayload(msgs []mqtttest.Message, topic, substr string) bool {
	for _, m := range msgs {
		if m.Topic == topic && strings.Contains(m.Payload, substr) {
			return true
		}
	}
	return false
}

func sawEmpty(msgs []mqtttest.Message, topic string) bool {
	for _, m := range msgs {
		if m.Topic == topic && m.Payload == "" {
			return true
		}
	}
	return false
}

// Changing the number of shards moves accounts between instances: the instance an
// account left forgets it without removing it from Home Assistant (its new instance
// publishes it with the same ids), and the diagnostics devices of layouts that no longer
// exist are removed.
func TestShardCountChangeMovesAccountsWithoutRemovingThem(t *testing.T) {
	e := newEnv(t)
	sfx := strings.TrimPrefix(e.base, "ab_")
	stay, leave := idInShard(t, "s"+sfx+"_", 0, 2), idInShard(t, "s"+sfx+"_", 1, 2)
	accts := fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 1\n  - id: %s\n    provider: testfake\n    balance: 2\n", stay, leave)
	devStay, devLeave := "testfake_"+stay, "testfake_"+leave
	disc := func(dev string) string { return e.prefix + "/device/" + dev + "/config" }
	marker := e.base + "/__marker"

	// One instance polls both.
	w := e.watch()
	stop := e.start(e.config(accts))
	w.WaitAll(map[string]string{
		disc(devStay): "*", disc(devLeave): "*", e.AvailabilityTopic(devLeave): "online",
		e.AvailabilityTopic(devStay): "online", disc("bridge"): "*", e.base + "/bridge/availability": "online",
	})
	stop()
	w.Publish(marker, "x", false)
	w.Until(marker)
	pollsOfLeave := behaviourOf(leave).polls.Load()

	// The same instance becomes shard 0 of 2: it keeps one account and forgets the other.
	stop = e.start(e.Config(accts, "shard:\n  index: 0\n  count: 2\n"))
	seen := record(w, marker, func(seen []mqtttest.Message) bool {
		return sawPayload(seen, e.base+"/bridge_0/availability", "online") &&
			sawPayload(seen, e.base+"/bridge_0/info", `"id":"`+stay+`"`) &&
			sawPayload(seen, e.base+"/bridge_0/state", `"accounts_ok":1`)
	})
	stop()
	for _, m := range seen {
		if strings.Contains(m.Topic, devLeave) {
			t.Errorf("the moved account's device was touched: %s %q", m.Topic, m.Payload)
		}
	}
	if n := behaviourOf(leave).polls.Load(); n != pollsOfLeave {
		t.Errorf("the moved account was polled %d more times", n-pollsOfLeave)
	}
	if !sawEmpty(seen, disc("bridge")) || !sawEmpty(seen, e.base+"/bridge/info") {
		t.Error("the single instance's diagnostics device (and its info) was not removed")
	}
	if !sawPayload(seen, disc("bridge_0"), `"name":"accountbridge 0/2"`) {
		t.Error("no diagnostics device bridge_0")
	}
	var in daemon.Info
	for _, m := range seen {
		if m.Topic == e.base+"/bridge_0/info" {
			in = daemon.Info{}
			if err := json.Unmarshal([]byte(m.Payload), &in); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(in.Accounts) != 1 || in.Accounts[0].ID != stay {
		t.Errorf("bridge_0/info lists %+v, want only %s", in.Accounts, stay)
	}
	if !strings.Contains(e.Logs(), "account moved to another shard") {
		t.Error("the move was not logged")
	}
	rt := retainedNow(e)
	if rt[disc(devLeave)] == "" || rt[disc(devStay)] == "" {
		t.Errorf("both account devices must stay in discovery; retained: %q / %q", rt[disc(devLeave)], rt[disc(devStay)])
	}

	// Back to one instance: instance 0 polls the account again and removes the
	// diagnostics devices of the two-shard layout (its own and shard 1's).
	stop = e.start(e.config(accts))
	seen = record(w, marker, func(seen []mqtttest.Message) bool {
		return sawPayload(seen, e.base+"/bridge/availability", "online") &&
			sawPayload(seen, e.base+"/bridge/state", `"accounts_ok":2`)
	})
	stop()
	if !sawEmpty(seen, disc("bridge_0")) || !sawEmpty(seen, disc("bridge_1")) || !sawEmpty(seen, e.base+"/bridge_1/info") {
		t.Error("the diagnostics devices of the two-shard layout were not removed")
	}
	if behaviourOf(leave).polls.Load() == pollsOfLeave {
		t.Error("the account that came back was not polled")
	}
	if sawEmpty(seen, disc(devLeave)) || sawEmpty(seen, disc(devStay)) {
		t.Error("an account device was removed")
	}
}

// retainedNow reads every retained message under the test's topics.
func retainedNow(e *env) map[string]string {
	w := e.watch()
	marker := e.base + "/__retained_marker"
	w.Publish(marker, "x", false)
	out := map[string]string{}
	for _, m := range w.Until(marker) {
		if m.Retained {
			out[m.Topic] = m.Payload
		}
	}
	return out
}

// The accounts of a provider with a group job (the SMS router) all go to the shard of
// "@<kind>", whatever their ids; other accounts go by their ids.
func TestGroupAccountsShareTheirGroupsShard(t *testing.T) {
	var y strings.Builder
	y.WriteString("accounts:\n")
	for n := range 12 {
		fmt.Fprintf(&y, "  - id: g%d\n    provider: testgrp\n  - id: f%d\n    provider: testfake\n", n, n)
	}
	cfg, err := config.Parse("c.yaml", []byte(y.String()), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for count := 1; count <= 4; count++ {
		for i := range cfg.Accounts {
			a := &cfg.Accounts[i]
			key := a.ID
			if a.Provider == "testgrp" {
				key = "@testgrp"
			}
			owners := 0
			for index := range count {
				if daemon.Owns(shard.Shard{Index: index, Count: count}, a) {
					owners++
					if want := shard.Of(key, count); index != want {
						t.Errorf("%d shards: %s (%s) owned by shard %d, want %d", count, a.ID, a.Provider, index, want)
					}
				}
			}
			if owners != 1 {
				t.Errorf("%d shards: %s has %d owners", count, a.ID, owners)
			}
		}
	}
}
