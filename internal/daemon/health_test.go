package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/daemon/daemontest"
	"github.com/accountbridge/accountbridge/internal/instance"
)

// A clean stop marks the health file: `bridge health` fails at once, not once the file
// has aged.
func TestCleanStopMarksHealthStopped(t *testing.T) {
	e := daemontest.New(t)
	cfg := e.Config("  []")
	w := e.Watch()
	stop := e.Start(cfg)
	w.WaitFor(e.Base+"/bridge/availability", "online")
	// Healthy as soon as it is online, not only after the next periodic write.
	if err := daemon.CheckHealth(cfg, time.Now()); err != nil {
		t.Errorf("CheckHealth once online = %v", err)
	}
	stop()
	if err := daemon.CheckHealth(cfg, time.Now()); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("CheckHealth after a clean stop = %v", err)
	}
}

func TestCheckHealth(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name string
		h    daemon.Health
		want string // "" healthy
	}{
		{"healthy", daemon.Health{Time: now, MQTTConnected: true, PID: os.Getpid()}, ""},
		{"stopped", daemon.Health{Time: now, PID: os.Getpid(), Stopped: now}, "the daemon stopped at"},
		{"killed", daemon.Health{Time: now, MQTTConnected: true, PID: gone.Process.Pid}, "is not running"},
		{"stale", daemon.Health{Time: now.Add(-time.Hour), MQTTConnected: true, PID: os.Getpid()}, "old"},
		{"refused", daemon.Health{Time: now, PID: os.Getpid(), MQTTProblem: "bad user name or password (check mqtt.username and mqtt.password)"},
			"not connected to the MQTT broker: bad user name or password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := &config.Config{Store: config.Store{Path: filepath.Join(dir, "ab.db")}}
			b, _ := json.Marshal(tc.h)
			if err := os.WriteFile(daemon.HealthPath(cfg), b, 0o600); err != nil {
				t.Fatal(err)
			}
			err := daemon.CheckHealth(cfg, now)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("CheckHealth = %v, want %q", err, tc.want)
			}
		})
	}
}

// A killed daemon that its parent has not reaped yet is not alive.
func TestCheckHealthSeesAZombie(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: zombies are not told apart here")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill() // not waited for yet: a zombie
	defer cmd.Wait()
	// The kill is asynchronous: wait until the kernel made it a zombie.
	stat := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat"
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), ") Z") {
			break
		}
		runtime.Gosched()
	}
	dir := t.TempDir()
	cfg := &config.Config{Store: config.Store{Path: filepath.Join(dir, "ab.db")}}
	b, _ := json.Marshal(daemon.Health{Time: time.Now(), MQTTConnected: true, PID: cmd.Process.Pid})
	if err := os.WriteFile(daemon.HealthPath(cfg), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := daemon.CheckHealth(cfg, time.Now()); err == nil || !strings.Contains(err.Error(), "is not running") {
		t.Errorf("CheckHealth = %v", err)
	}
}

// A second daemon with the same base topic refuses to run, naming the first; the first
// keeps running.
func TestSecondDaemonOnTheSameBaseTopicIsRefused(t *testing.T) {
	e := daemontest.New(t)
	cfg := e.Config("  []")
	w := e.Watch()
	e.Start(cfg)
	avail := e.Base + "/bridge/availability"
	w.WaitFor(avail, "online")

	// The same base topic and client id, another store, and an account of its own: a
	// refused newcomer must not even poll it (it would log in upstream beside the first).
	id := "r" + strings.TrimPrefix(e.Base, "ab_")
	second := e.Config(fmt.Sprintf("  - id: %s\n    provider: testfake\n    balance: 1\n", id))
	second.Store.Path = filepath.Join(t.TempDir(), "ab.db")
	d, err := daemon.New(context.Background(), daemon.Options{Config: second})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background())
	if !instance.IsConflict(err) || !strings.Contains(err.Error(), cfg.MQTT.ClientID) {
		t.Fatalf("the second daemon's Run = %v, want a refusal naming %s", err, cfg.MQTT.ClientID)
	}
	if n := behaviourOf(id).polls.Load(); n != 0 {
		t.Errorf("the refused daemon polled its account %d times, want none", n)
	}
	// The first is undisturbed: its availability is still the retained "online" (the
	// second never connected with their shared client id).
	if m := e.Broker.Watch(t, avail).WaitFor(avail, "*"); m.Payload != "online" {
		t.Errorf("the first daemon's availability is %q", m.Payload)
	}
}
