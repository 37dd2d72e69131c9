package daemon

import (
	"context"
	"fmt"
	"strings"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/mqtt"
	"github.com/accountbridge/accountbridge/internal/poller"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Group is a provider kind's coordinator (see providers.Group), ready to run.
type Group struct {
	Kind     string
	Job      string // its poller job and store KV name: "@<kind>"
	Group    providers.Group
	Schedule string
}

// BuildGroups builds the group of every kind that declares one and has enabled accounts.
func BuildGroups(cfg *config.Config, accounts []Account, opts BuildOptions) ([]Group, error) {
	opts = opts.withDefaults()
	members := map[string][]providers.GroupMember{}
	var kinds []string
	firstLine := map[string]int{}
	for _, a := range accounts {
		if a.Info.Group == nil {
			continue
		}
		if _, ok := firstLine[a.Info.Kind]; !ok {
			firstLine[a.Info.Kind] = a.Config.Line()
		}
		if _, seen := members[a.Info.Kind]; !seen {
			kinds = append(kinds, a.Info.Kind)
		}
		members[a.Info.Kind] = append(members[a.Info.Kind], providers.GroupMember{
			Account:  providers.Account{ID: a.Config.ID, Provider: a.Config.Provider, Name: a.Config.Name, Proxy: a.Config.Proxy},
			Provider: a.Provider,
		})
	}
	var groups []Group
	var errs config.Errors
	for _, kind := range kinds {
		info, _ := providers.Lookup(kind)
		job := "@" + kind
		section := cfg.Section(kind)
		g, err := info.Group(members[kind], providers.GroupDeps{
			Logger:  opts.Logger.With("group", kind),
			KV:      opts.KV(job),
			Now:     opts.Now,
			Decode:  func(v any) error { return section.Decode(v, opts.Redactor.AddSecret) },
			Publish: opts.Publish,
			Secret:  opts.Redactor.AddSecret,
		})
		if err != nil {
			errs = append(errs, settingErrors(err, func(key, msg string) config.Error {
				if section.Present() {
					return section.Errorf(key, "%s", msg)
				}
				// No section to point at: the line of the kind's first account.
				e := cfg.Errorf(strings.TrimSuffix(kind+"."+key, "."), "%s", msg)
				e.Line = firstLine[kind]
				return e
			}, "")...)
			continue
		}
		spec := info.GroupSchedule
		if spec == "" {
			spec = "@every 1m"
		}
		groups = append(groups, Group{Kind: kind, Job: job, Group: g, Schedule: spec})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return groups, nil
}

// groupJobs are the poller jobs of the groups' own devices.
func groupJobs(groups []Group) ([]poller.Job, error) {
	var jobs []poller.Job
	for _, g := range groups {
		sched, err := poller.ParseSchedule(g.Schedule)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", g.Kind, err)
		}
		jobs = append(jobs, poller.Job{Account: g.Job, Provider: g.Group, Schedule: sched, Jitter: 0})
	}
	return jobs, nil
}

// GroupMaxPayload bounds a message on a group's topics: the largest is an SMS order, a
// JSON object of a few short fields.
const GroupMaxPayload = 4 << 10

// startGroups subscribes each group to its topics and runs it until ctx ends.
func (d *Daemon) startGroups(ctx context.Context) {
	base := d.topics.BaseTopic + "/"
	for _, g := range d.groups {
		// Only the instance holding the group's claim takes its messages (orders): see
		// claim.go. Without the claim (not connected, or another instance has it) they
		// are left to the owner.
		var claim *groupClaim
		if len(g.Group.Topics()) > 0 {
			var err error
			if claim, err = newGroupClaim(d.cfg.MQTT, base+g.Kind+"/claim", d.log.With("group", g.Kind, "component", "claim")); err != nil {
				d.log.Error("group claim not set up: its orders are not taken", "group", g.Kind, "err", err)
				continue
			}
			claim.start(ctx, d.mqtt.Connected)
		}
		for _, filter := range g.Group.Topics() {
			d.mqtt.Subscribe(mqtt.Subscription{Filter: base + filter, MaxPayload: GroupMaxPayload, Handler: func(topic string, payload []byte) {
				if !claim.Offer(func() { g.Group.Handle(ctx, strings.TrimPrefix(topic, base), payload) }) {
					d.log.Info("message left to the instance that holds the claim", "group", g.Kind, "topic", topic)
				}
			}})
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := g.Group.Run(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("group stopped", "group", g.Kind, "err", err)
			}
			if claim != nil {
				claim.close()
			}
		}()
	}
}
