package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// testGroup is the group of kind "testgrp": it answers <base>/testgrp/order with the
// member count, and reports one router device.
type testGroup struct {
	members []providers.GroupMember
	deps    providers.GroupDeps
	running atomic.Bool
	ended   chan struct{}
}

var lastGroup atomic.Pointer[testGroup]

type grpMember struct{ id string }

func (m grpMember) Poll(context.Context) (providers.Snapshot, error) {
	return providers.Snapshot{Devices: []providers.Device{{ID: "testgrp_" + m.id, Name: m.id,
		Entities: []providers.Entity{{Key: "n", Name: "N", Component: providers.Sensor, StateClass: "measurement"}},
		Values:   map[string]any{"n": 1}}}}, nil
}

func init() {
	providers.Register(providers.Info{Kind: "testgrp", DefaultSchedule: "@every 1h",
		Factory: func(a providers.Account, d providers.Deps) (providers.Provider, error) {
			var s struct{}
			return grpMember{a.ID}, a.Decode(&s)
		},
		Group: func(members []providers.GroupMember, deps providers.GroupDeps) (providers.Group, error) {
			g := &testGroup{members: members, deps: deps, ended: make(chan struct{})}
			lastGroup.Store(g)
			return g, nil
		},
	})
}

func (g *testGroup) Poll(context.Context) (providers.Snapshot, error) {
	return providers.Snapshot{Devices: []providers.Device{{ID: "testgrp_router", Name: "Router",
		Entities: []providers.Entity{{Key: "members", Name: "Members", Component: providers.Sensor, StateClass: "measurement"}},
		Values:   map[string]any{"members": len(g.members)}}}}, nil
}

func (g *testGroup) Topics() []string { return []string{"testgrp/order"} }

func (g *testGroup) Handle(_ context.Context, topic string, payload []byte) {
	reply := fmt.Sprintf("%s from %s to %d members", payload, topic, len(g.members))
	g.deps.Publish("testgrp/order/reply", []byte(reply), false)
}

func (g *testGroup) Run(ctx context.Context) error {
	g.running.Store(true)
	<-ctx.Done()
	close(g.ended)
	return nil
}

func TestGroupOfAKind(t *testing.T) {
	e := newEnv(t)
	sfx := strings.TrimPrefix(e.base, "ab_")
	w := e.watch()
	stop := e.start(e.config(fmt.Sprintf("  - id: a%s\n    provider: testgrp\n  - id: b%s\n    provider: testgrp\n", sfx, sfx)))
	w.WaitAll(map[string]string{
		e.StateTopic("testgrp_router"):     `~"members":2`,
		e.DiscoveryTopic("testgrp_router"): "*",
		e.base + "/bridge/state":           `~"accounts_ok":2,`, // the group's job is not an account
	})
	w.Publish(e.base+"/testgrp/order", "hello", false)
	w.WaitFor(e.base+"/testgrp/order/reply", "hello from testgrp/order to 2 members")
	g := lastGroup.Load()
	if !g.running.Load() {
		t.Error("Run was not started")
	}
	stop()
	select {
	case <-g.ended:
	default:
		t.Error("Run did not end with the daemon")
	}
}
