package instance_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/instance"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/shard"
)

func claim(t *testing.T, b *mqtttest.Broker, base string, id instance.Identity) (*instance.Holder, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mqtttest.Wait)
	defer cancel()
	h, err := instance.Claim(ctx, instance.Options{Base: base, Self: id,
		MQTT: mqtt.Options{Broker: b.URL(), QoS: 1, ProbeInterval: 20 * time.Millisecond}})
	if h != nil {
		t.Cleanup(h.Close)
	}
	return h, err
}

func TestSecondInstanceIsRefusedAndTheFirstUndisturbed(t *testing.T) {
	b := mqtttest.Start(t)
	base := b.Prefix("ab")
	first := instance.New("accountbridge", shard.Shard{}, "test", time.Now())
	h1, err := claim(t, b, base, first)
	if err != nil {
		t.Fatal(err)
	}
	w := b.Watch(t, instance.ClaimsFilter(base))
	w.WaitAll(map[string]string{instance.ClaimTopic(base, first): "~" + first.RunID})

	second := instance.New("accountbridge", shard.Shard{}, "test", time.Now().Add(time.Second))
	_, err = claim(t, b, base, second)
	var c *instance.ConflictError
	if !errors.As(err, &c) || c.Other.RunID != first.RunID {
		t.Fatalf("second Claim = %v, want a conflict naming run %s", err, first.RunID)
	}
	for _, want := range []string{first.RunID, "accountbridge", "mqtt.base_topic", "shard"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	// The first instance was not disturbed: its claim is still there, and it saw no
	// conflict (it is the older one).
	if m := b.Watch(t, instance.ClaimTopic(base, first)).WaitFor(instance.ClaimTopic(base, first), "*"); !strings.Contains(m.Payload, first.RunID) {
		t.Errorf("the first claim is now %q", m.Payload)
	}
	select {
	case c := <-h1.Conflict():
		t.Errorf("the first instance was told of a conflict: %v", c)
	default:
	}

	// Once the first stops cleanly, its claim is cleared and a new instance may run.
	h1.Close()
	w.WaitFor(instance.ClaimTopic(base, first), "")
	third := instance.New("accountbridge", shard.Shard{}, "test", time.Now().Add(2*time.Second))
	if _, err := claim(t, b, base, third); err != nil {
		t.Errorf("after a clean stop: %v", err)
	}
}

// A killed instance's last will ends its claim, so its successor is not refused, and the
// successor deletes the ended claim.
func TestKilledInstancesWillEndsItsClaim(t *testing.T) {
	b := mqtttest.Start(t)
	base := b.Prefix("ab")
	first := instance.New("accountbridge", shard.Shard{}, "test", time.Now())
	h1, err := claim(t, b, base, first)
	if err != nil {
		t.Fatal(err)
	}
	topic := instance.ClaimTopic(base, first)
	w := b.Watch(t, instance.ClaimsFilter(base))
	w.WaitAll(map[string]string{topic: "~" + first.RunID})
	b.Down() // as a kill would: the connection ends without a DISCONNECT
	w.WaitAll(map[string]string{topic: `~"gone":true`})
	h1.Close() // while the broker is away: nothing more leaves this "killed" instance
	b.Up()
	second := instance.New("accountbridge", shard.Shard{}, "test", time.Now().Add(time.Second))
	if _, err := claim(t, b, base, second); err != nil {
		t.Fatalf("the successor of a killed instance: %v", err)
	}
	w.WaitFor(topic, "") // deleted
}

func TestShardsThatDoNotOverlapRunTogether(t *testing.T) {
	b := mqtttest.Start(t)
	base := b.Prefix("ab")
	for i := range 3 {
		id := instance.New("accountbridge-"+string(rune('a'+i)), shard.Shard{Index: i, Count: 3}, "test", time.Now())
		if _, err := claim(t, b, base, id); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	// An instance without a shard overlaps them all.
	if _, err := claim(t, b, base, instance.New("accountbridge-d", shard.Shard{}, "test", time.Now().Add(time.Second))); !instance.IsConflict(err) {
		t.Errorf("an unsharded fourth instance: %v, want a conflict", err)
	}
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b shard.Shard
		want bool
	}{
		{shard.Shard{}, shard.Shard{}, true},
		{shard.Shard{}, shard.Shard{Index: 1, Count: 3}, true},
		{shard.Shard{Index: 0, Count: 3}, shard.Shard{Index: 1, Count: 3}, false},
		{shard.Shard{Index: 1, Count: 3}, shard.Shard{Index: 1, Count: 3}, true},
		{shard.Shard{Index: 0, Count: 2}, shard.Shard{Index: 1, Count: 3}, true},
	} {
		if got := instance.Overlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("Overlaps(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}
