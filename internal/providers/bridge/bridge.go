// Package bridge is the daemon's own diagnostics device: version, start time, account
// health, cycle duration and MQTT reconnects. It is always present and never configured,
// so a fresh install shows a device in Home Assistant before any account is added.
package bridge

import (
	"context"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/shard"
)

// Kind is the provider kind and also the account id of the bridge's single job.
const Kind = "bridge"

// DeviceID is the bridge device's id when the daemon runs alone (its topics are
// <base>/bridge/…); a shard's is "bridge_<index>" (shard.Shard.BridgeID).
const DeviceID = "bridge"

// Stats is what the daemon knows about itself.
type Stats struct {
	Version             string
	Started             time.Time
	AccountsTotal       int
	AccountsOK          int
	AccountsFailing     int
	AccountsQuarantined int
	LastCycle           time.Duration // duration of the last completed poll cycle; 0 = none yet
	MQTTReconnects      int
	Shard               shard.Shard // which instance this is; the zero value is the only one
	AlertsExpired       int64       // alerts dropped from the outbox unsent (alerts.expire_after)
	// Instance is who this daemon is on the broker: "<client id> <run id>", the run id new
	// at every start (its claim is on <base>/bridge/claims/<run id>). "" before it is known.
	Instance string
}

// Provider reports Stats as a device.
type Provider struct {
	stats func() Stats
	now   func() time.Time
}

// New returns the bridge provider reading stats on every poll.
func New(stats func() Stats, now func() time.Time) *Provider {
	if now == nil {
		now = time.Now
	}
	return &Provider{stats: stats, now: now}
}

var entities = []providers.Entity{
	{Key: "version", Name: "Version", Component: providers.Sensor, Icon: "mdi:tag-outline",
		Category: providers.CategoryDiagnostic},
	{Key: "started", Name: "Started", Component: providers.Sensor, DeviceClass: "timestamp",
		Category: providers.CategoryDiagnostic},
	{Key: "accounts_total", Name: "Accounts", Component: providers.Sensor, StateClass: "measurement",
		Icon: "mdi:account-multiple"},
	{Key: "accounts_ok", Name: "Accounts OK", Component: providers.Sensor, StateClass: "measurement",
		Icon: "mdi:account-check"},
	{Key: "accounts_failing", Name: "Accounts failing", Component: providers.Sensor, StateClass: "measurement",
		Icon: "mdi:account-alert"},
	{Key: "accounts_quarantined", Name: "Accounts quarantined", Component: providers.Sensor,
		StateClass: "measurement", Icon: "mdi:account-cancel"},
	{Key: "last_cycle_duration", Name: "Last cycle duration", Component: providers.Sensor,
		DeviceClass: "duration", StateClass: "measurement", Unit: "s", Precision: providers.Precision(2),
		Category: providers.CategoryDiagnostic},
	{Key: "mqtt_reconnects", Name: "MQTT reconnects", Component: providers.Sensor,
		StateClass: "total_increasing", Icon: "mdi:lan-pending", Category: providers.CategoryDiagnostic},
	{Key: "alerts_expired", Name: "Alerts expired", Component: providers.Sensor,
		StateClass: "total_increasing", Icon: "mdi:bell-cancel", Category: providers.CategoryDiagnostic},
	{Key: "instance", Name: "Instance", Component: providers.Sensor, Icon: "mdi:identifier",
		Category: providers.CategoryDiagnostic},
}

// Device describes the bridge device with the given stats.
func Device(s Stats) providers.Device {
	values := map[string]any{
		"version":              s.Version,
		"accounts_total":       s.AccountsTotal,
		"accounts_ok":          s.AccountsOK,
		"accounts_failing":     s.AccountsFailing,
		"accounts_quarantined": s.AccountsQuarantined,
		"mqtt_reconnects":      s.MQTTReconnects,
		"alerts_expired":       s.AlertsExpired,
	}
	if !s.Started.IsZero() {
		values["started"] = s.Started
	}
	if s.Instance != "" {
		values["instance"] = s.Instance
	}
	if s.LastCycle > 0 {
		values["last_cycle_duration"] = s.LastCycle.Seconds()
	}
	name := "accountbridge"
	if !s.Shard.Single() {
		name += " " + s.Shard.String()
	}
	return providers.Device{
		ID:           s.Shard.BridgeID(),
		Name:         name,
		Manufacturer: "accountbridge",
		Model:        "Bridge",
		SWVersion:    s.Version,
		Entities:     entities,
		Values:       values,
	}
}

// Poll reports the current stats.
func (p *Provider) Poll(ctx context.Context) (providers.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return providers.Snapshot{}, err
	}
	return providers.Snapshot{Account: Kind, Time: p.now(), Devices: []providers.Device{Device(p.stats())}}, nil
}

// Names of the bridge device's entities by language.
var Names = map[string]providers.Names{
	"zh": {Entities: map[string]string{
		"version":              "版本",
		"started":              "启动时间",
		"accounts_total":       "账户总数",
		"accounts_ok":          "正常账户",
		"accounts_failing":     "失败账户",
		"accounts_quarantined": "已隔离账户",
		"last_cycle_duration":  "上轮轮询耗时",
		"mqtt_reconnects":      "MQTT 重连次数",
		"alerts_expired":       "过期未送达告警",
		"instance":             "实例",
	}},
}
