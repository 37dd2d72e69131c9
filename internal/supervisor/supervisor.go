// Package supervisor talks to the Home Assistant Supervisor from inside the app (add-on):
// it asks for the MQTT broker that HA's Mosquitto app provides.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// DefaultURL is the Supervisor's address inside an app container.
const DefaultURL = "http://supervisor"

// MQTT is the broker the Supervisor hands out.
type MQTT struct {
	Host     string
	Port     int
	SSL      bool
	Username string
	Password string
	Protocol string
	Addon    string // the app providing it, e.g. core_mosquitto
}

// BrokerURL is the broker as an MQTT URL.
func (m MQTT) BrokerURL() string {
	scheme := "tcp"
	if m.SSL {
		scheme = "ssl"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, m.Host, m.Port)
}

// Errors worth telling apart.
var (
	ErrNoBroker = errors.New("no MQTT broker in Home Assistant: install and start the Mosquitto broker app, or set mqtt.broker in this app's options")
	ErrToken    = errors.New("the Supervisor refused this app's token: is `services: [mqtt:need]` in the app's config.yaml, and SUPERVISOR_TOKEN set?")
)

// port accepts the number the Supervisor sends, or the string its docs describe.
type port int

func (p *port) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*p = port(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("port: %s is neither a number nor a string", b)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("port: %q is not a number", s)
	}
	*p = port(n)
	return nil
}

type envelope struct {
	Result  string `json:"result"`
	Message string `json:"message"`
	Data    struct {
		Addon    string `json:"addon"`
		Host     string `json:"host"`
		Port     port   `json:"port"`
		SSL      bool   `json:"ssl"`
		Username string `json:"username"`
		Password string `json:"password"`
		Protocol string `json:"protocol"`
	} `json:"data"`
}

// MQTTService asks the Supervisor at base (DefaultURL in production) for the MQTT broker.
func MQTTService(ctx context.Context, client *http.Client, base, token string) (MQTT, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/services/mqtt", nil)
	if err != nil {
		return MQTT{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return MQTT{}, fmt.Errorf("supervisor: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return MQTT{}, fmt.Errorf("supervisor: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return MQTT{}, ErrToken
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return MQTT{}, fmt.Errorf("supervisor: HTTP %d with an unreadable answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || env.Result != "ok" {
		if resp.StatusCode == http.StatusBadRequest {
			return MQTT{}, fmt.Errorf("%w (Supervisor: %s)", ErrNoBroker, env.Message)
		}
		return MQTT{}, fmt.Errorf("supervisor: HTTP %d: %s", resp.StatusCode, env.Message)
	}
	d := env.Data
	if d.Host == "" || d.Port <= 0 {
		return MQTT{}, fmt.Errorf("supervisor: the MQTT service has no host or port")
	}
	return MQTT{Host: d.Host, Port: int(d.Port), SSL: d.SSL, Username: d.Username, Password: d.Password,
		Protocol: d.Protocol, Addon: d.Addon}, nil
}

// WaitMQTT asks until the Supervisor has a broker or ctx ends, backing off from delay
// (5 s in production) to 5 min and logging each distinct problem once, in one line.
func WaitMQTT(ctx context.Context, client *http.Client, base, token string, log *slog.Logger, delay time.Duration) (MQTT, error) {
	last := ""
	for {
		m, err := MQTTService(ctx, client, base, token)
		if err == nil {
			log.Info("using the MQTT broker of Home Assistant", "broker", m.BrokerURL(), "provided_by", m.Addon)
			return m, nil
		}
		if err.Error() != last {
			log.Error(err.Error()+"; retrying", "retry_in", delay)
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return MQTT{}, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Minute)
	}
}
