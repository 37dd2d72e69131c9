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
	LastPoll      time.Time `json:"last_poll,omitzero"`
	PID           int       `json:"pid"`
}

// HealthPath is where the daemon with this config writes its health file.
func HealthPath(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Store.Path), "health.json")
}

func (d *Daemon) writeHealth() {
	d.mu.Lock()
	h := Health{Time: time.Now(), MQTTConnected: d.mqtt.Connected(), LastPoll: d.lastPoll, PID: os.Getpid()}
	d.mu.Unlock()
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

// CheckHealth reads the health file: healthy when it is fresh and MQTT is connected.
func CheckHealth(cfg *config.Config, now time.Time) error {
	b, err := os.ReadFile(HealthPath(cfg))
	if err != nil {
		return fmt.Errorf("no health file (is the daemon running?): %w", err)
	}
	var h Health
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("health file unreadable: %w", err)
	}
	if age := now.Sub(h.Time); age > 3*HealthInterval {
		return fmt.Errorf("health file is %s old: the daemon is stuck or stopped", age.Round(time.Second))
	}
	if !h.MQTTConnected {
		return errors.New("not connected to the MQTT broker")
	}
	return nil
}
