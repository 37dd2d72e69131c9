package daemon

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/shard"
)

// ShardKey is what an account's shard is computed from (docs/scaling.md): its id, or
// "@<kind>" for every account of a provider that runs a group job over its accounts (the
// SMS router): a group needs all of its members, and must run on one instance only so
// that, e.g., an SMS order is bought once.
func ShardKey(id, provider string) string {
	if info, ok := providers.Lookup(provider); ok && info.Group != nil {
		return "@" + info.Kind
	}
	return id
}

// Owns reports whether the instance of shard s polls account a.
func Owns(s shard.Shard, a *config.Account) bool { return s.Owns(ShardKey(a.ID, a.Provider)) }

// ofShard is cfg with only the accounts its shard polls: a shallow copy, cfg unchanged.
func ofShard(cfg *config.Config) *config.Config {
	if cfg.Shard.Single() {
		return cfg
	}
	c := *cfg
	c.Accounts = nil
	for i := range cfg.Accounts {
		if Owns(cfg.Shard, &cfg.Accounts[i]) {
			c.Accounts = append(c.Accounts, cfg.Accounts[i])
		}
	}
	return &c
}

// movedAway reports whether stored records of job (an account id, or a group's "@<kind>")
// belong to an account or group that is still configured but polled by another shard now.
// Such devices are forgotten here but stay in Home Assistant: their new instance
// publishes them under the same ids.
func (d *Daemon) movedAway(job string) bool {
	s := d.cfg.Shard
	if s.Single() {
		return false
	}
	if kind, ok := strings.CutPrefix(job, "@"); ok {
		for i := range d.cfg.Accounts {
			if d.cfg.Accounts[i].Provider == kind {
				return !s.Owns(job)
			}
		}
		return false
	}
	for i := range d.cfg.Accounts {
		if a := &d.cfg.Accounts[i]; a.ID == job {
			return !Owns(s, a)
		}
	}
	return false
}

// bridgeIDs are the ids of the diagnostics devices of a fleet of count instances.
func bridgeIDs(count int) []string {
	if count <= 1 {
		return []string{shard.Shard{}.BridgeID()}
	}
	ids := make([]string, count)
	for i := range ids {
		ids[i] = shard.Shard{Index: i, Count: count}.BridgeID()
	}
	return ids
}

// metaShardCount is the store key of the shard count the instance last ran with.
const metaShardCount = "shard_count"

// removeOldBridges: when the number of instances changed, instance 0 removes from Home
// Assistant the diagnostics devices that no instance has any more (bridge_3 when going
// from 4 to 3 instances, bridge_<i> when going back to one; the single instance's "bridge"
// when going to several), with their info topics: an instance dropped by shrinking is not
// there to clean up after itself. Instance 0 exists in every layout and remembers in its
// store the count it ran with last.
func (d *Daemon) removeOldBridges(ctx context.Context) error {
	s := d.cfg.Shard
	count := max(s.Count, 1)
	v, ok, err := d.store.Meta(ctx, metaShardCount)
	if err != nil {
		return err
	}
	// A store without the count (new, or from before sharding) removes nothing: the devices
	// may be another daemon's (discovery ids are not namespaced by base topic). Its own
	// stored diagnostics device is handled by restore.
	if prev, err := strconv.Atoi(v); ok && err == nil && prev >= 1 && s.Index == 0 && prev != count {
		now := bridgeIDs(count)
		for _, id := range bridgeIDs(prev) {
			if !slices.Contains(now, id) {
				d.log.Info("removing the diagnostics device of an instance that no longer exists",
					"device", id, "shards_before", prev, "shards", count)
				d.removeBridge(id)
			}
		}
	}
	return d.store.SetMeta(ctx, metaShardCount, strconv.Itoa(count))
}

// removeBridge removes a diagnostics device of another shard layout from Home Assistant,
// with its retained topics (discovery, state, availability, info). It runs before the
// connection is up: the publisher sends both once connected (the info topic is kept
// empty, re-sent on every connect like the other retained topics).
func (d *Daemon) removeBridge(id string) {
	d.pub.RemoveDevice(id)
	d.pub.SetRetained(d.topics.BaseTopic+"/"+id+"/info", []byte{})
}

// providerOf is the provider of a configured account id ("" for a group job "@<kind>",
// whose shard key is itself).
func providerOf(configured map[string]*config.Account, id string) string {
	if a, ok := configured[id]; ok {
		return a.Provider
	}
	return ""
}
