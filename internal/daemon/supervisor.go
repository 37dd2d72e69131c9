package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/supervisor"
)

// UseSupervisorBroker points cfg at Home Assistant's MQTT broker when running as the HA
// app (token set) and the config names no broker of its own. It waits, retrying, until
// the Supervisor has one or ctx ends.
func UseSupervisorBroker(ctx context.Context, cfg *config.Config, log *slog.Logger, red *logging.Redactor, base, token string) error {
	if token == "" || !cfg.MQTT.BrokerDefault {
		return nil
	}
	m, err := supervisor.WaitMQTT(ctx, &http.Client{Timeout: 10 * time.Second}, base, token, log, 5*time.Second)
	if err != nil {
		return err
	}
	red.AddSecret(m.Password)
	cfg.MQTT.Broker = m.BrokerURL()
	if cfg.MQTT.Username == "" {
		cfg.MQTT.Username, cfg.MQTT.Password = m.Username, m.Password
	}
	return nil
}
