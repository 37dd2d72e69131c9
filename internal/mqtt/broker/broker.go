// Package broker runs an embedded MQTT broker (mochi-mqtt) for tests, the demo and the
// load scenario. It is not meant to replace a real broker in production.
package broker

import (
	"fmt"
	"log/slog"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running embedded broker.
type Broker struct {
	srv *mochi.Server
	tcp *listeners.TCP
}

// Start listens on addr ("127.0.0.1:0" for any free port) and accepts every client.
func Start(addr string, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: logger})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	go func() { _ = srv.Serve() }()
	return &Broker{srv: srv, tcp: tcp}, nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL is the broker's tcp:// URL.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Close stops the broker and disconnects every client.
func (b *Broker) Close() error { return b.srv.Close() }
