package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
)

// HealthInterval is how often the daemon writes its health file.
const HealthInterval = 30 * time.Second

// Health is the content of the health file read by `bridge health` (the Docker healthcheck).
type Health struct {
	Time          time.Time `json:"time"`
	MQTTConnected bool      `json:"mqtt_connected"`
	// MQTTProblem is why MQTT is not connected: the broker's or TLS's reason, or that the
	// broker is unreachable.
	MQTTProblem string    `json:"mqtt_problem,omitempty"`
	LastPoll    time.Time `json:"last_poll,omitzero"`
	PID         int       `json:"pid"`
	// Stopped is when the daemon shut down cleanly; zero while it runs.
	Stopped time.Time `json:"stopped,omitzero"`
}

// HealthPath is where the daemon with this config writes its health file.
func HealthPath(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Store.Path), "health.json")
}

// writeHealth writes the health file; stopped marks a clean shutdown. healthMu holds the
// read and the write together, so an older view never overwrites a newer one.
func (d *Daemon) writeHealth(stopped bool) {
	d.healthMu.Lock()
	defer d.healthMu.Unlock()
	d.mu.Lock()
	h := Health{Time: time.Now(), MQTTConnected: d.mqtt.Connected(), MQTTProblem: d.mqtt.Problem(),
		LastPoll: d.lastPoll, PID: os.Getpid()}
	d.mu.Unlock()
	if stopped {
		h.Stopped, h.MQTTConnected, h.MQTTProblem = h.Time, false, ""
	}
	b, _ := json.Marshal(h)
	path := HealthPath(d.cfg)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		err = os.Rename(tmp, path)
		if err != nil {
			d.log.Debug("health file not written", "err", err)
		}
	}
}

// CheckHealth reads the health file: healthy when it is fresh, the daemon that wrote it
// has not stopped and still runs, and MQTT is connected.
func CheckHealth(cfg *config.Config, now time.Time) error {
	b, err := os.ReadFile(HealthPath(cfg))
	if err != nil {
		return fmt.Errorf("no health file (is the daemon running?): %w", err)
	}
	var h Health
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("health file unreadable: %w", err)
	}
	if !h.Stopped.IsZero() {
		return fmt.Errorf("the daemon stopped at %s", h.Stopped.Format(time.RFC3339))
	}
	if h.PID > 0 && !processAlive(h.PID) {
		return fmt.Errorf("the daemon (pid %d) is not running: it ended without a clean shutdown", h.PID)
	}
	if age := now.Sub(h.Time); age > 3*HealthInterval {
		return fmt.Errorf("health file is %s old: the daemon is stuck or stopped", age.Round(time.Second))
	}
	if !h.MQTTConnected {
		if h.MQTTProblem != "" {
			return fmt.Errorf("not connected to the MQTT broker: %s", h.MQTTProblem)
		}
		return errors.New("not connected to the MQTT broker")
	}
	return nil
}
