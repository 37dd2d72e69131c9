package supervisor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const token = "sv-token-123"

func fakeSupervisor(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/mqtt" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte("401: Unauthorized"))
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMQTTService(t *testing.T) {
	ok := `{"result":"ok","data":{"addon":"core_mosquitto","host":"core-mosquitto","port":1883,"ssl":false,"protocol":"3.1.1","username":"addons","password":"Ohr0y"}}`
	okStringPort := strings.Replace(ok, `"port":1883`, `"port":"8883"`, 1)
	okStringPort = strings.Replace(okStringPort, `"ssl":false`, `"ssl":true`, 1)
	tests := []struct {
		name    string
		status  int
		body    string
		token   string
		want    string // broker URL, or an error substring
		wantErr error
	}{
		{"mosquitto app", 200, ok, token, "tcp://core-mosquitto:1883", nil},
		{"port as string, TLS", 200, okStringPort, token, "ssl://core-mosquitto:8883", nil},
		{"no broker installed", 400, `{"result":"error","message":"Service not enabled"}`, token, "Service not enabled", ErrNoBroker},
		{"bad token", 200, ok, "wrong", "refused this app's token", ErrToken},
		{"garbage", 200, `<html>`, token, "unreadable answer", nil},
		{"no host", 200, `{"result":"ok","data":{"port":1883}}`, token, "no host or port", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeSupervisor(t, tt.status, tt.body)
			m, err := MQTTService(context.Background(), srv.Client(), srv.URL, tt.token)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			switch {
			case err == nil && m.BrokerURL() != tt.want:
				t.Errorf("broker = %s, want %s", m.BrokerURL(), tt.want)
			case err != nil && !strings.Contains(err.Error(), tt.want):
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			case err == nil && (m.Username != "addons" || m.Password != "Ohr0y" || m.Addon != "core_mosquitto"):
				t.Errorf("credentials = %+v", m)
			}
		})
	}
}

func TestWaitMQTTRetriesAndLogsOnce(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(400)
			w.Write([]byte(`{"result":"error","message":"Service not enabled"}`))
			return
		}
		w.Write([]byte(`{"result":"ok","data":{"host":"core-mosquitto","port":1883,"username":"addons","password":"x"}}`))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := WaitMQTT(ctx, srv.Client(), srv.URL, token, log, time.Millisecond)
	if err != nil || m.Host != "core-mosquitto" {
		t.Fatalf("m = %+v, err = %v", m, err)
	}
	if n := strings.Count(logs.String(), "install and start the Mosquitto broker app"); n != 1 {
		t.Errorf("the same problem was logged %d times:\n%s", n, logs.String())
	}
}
