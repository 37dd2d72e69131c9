// Package fleettest runs several daemons as separate processes on one broker, as a sharded
// fleet runs (docs/scaling.md): each instance is the test binary started again as a
// daemon, so a test can kill one with SIGKILL and the broker publishes its last will.
package fleettest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/demo"
	claims "github.com/accountbridge/accountbridge/internal/instance"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/mqtt/mqtttest"
	"github.com/accountbridge/accountbridge/internal/providers"
	_ "github.com/accountbridge/accountbridge/internal/providers/all"
	gasfake "github.com/accountbridge/accountbridge/internal/providers/gas/fake"
	"github.com/accountbridge/accountbridge/internal/shard"
	"gopkg.in/yaml.v3"
)

// childEnv names the config file of a daemon child process.
const childEnv = "FLEETTEST_DAEMON_CONFIG"

// init turns the test binary into a daemon when started by startInstance: it runs until
// SIGTERM or until its standard input closes (the test ended), or until it is killed.
func init() {
	path := os.Getenv(childEnv)
	if path == "" {
		return
	}
	os.Exit(runDaemon(path))
}

func runDaemon(path string) int {
	cfg, err := config.Load(path, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	red := logging.NewRedactor()
	log, err := daemon.Logger(cfg, red)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Logger: log, Redactor: red})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := d.Run(ctx); err != nil {
		log.Error("stopped with errors", "err", err)
		if claims.IsConflict(err) {
			return exitRefused
		}
		return 1
	}
	return 0
}

// exitRefused is a child's exit code when it refused to run next to another instance.
const exitRefused = 3

// instance is one daemon process of the fleet.
type instance struct {
	t      *testing.T
	index  int
	config string
	log    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan error
}

func startInstance(t *testing.T, index int, configPath string) *instance {
	t.Helper()
	in := &instance{t: t, index: index, config: configPath, log: configPath + ".log"}
	in.start()
	t.Cleanup(in.stop)
	return in
}

func (in *instance) start() {
	in.t.Helper()
	logf, err := os.OpenFile(in.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		in.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+in.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		in.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		in.t.Fatalf("starting instance %d: %v", in.index, err)
	}
	in.cmd, in.stdin, in.done = cmd, stdin, make(chan error, 1)
	go func() {
		in.done <- cmd.Wait()
		logf.Close()
	}()
}

// kill ends the process with SIGKILL: no clean stop, no offline message of its own.
func (in *instance) kill() {
	in.t.Helper()
	if err := in.cmd.Process.Kill(); err != nil {
		in.t.Fatal(err)
	}
	<-in.done
	in.cmd = nil
}

// exited waits for the process to end by itself and returns its exit code.
func (in *instance) exited() int {
	in.t.Helper()
	select {
	case <-in.done:
	case <-time.After(mqtttest.Wait):
		in.t.Fatalf("instance %d still runs after %s", in.index, mqtttest.Wait)
	}
	code := in.cmd.ProcessState.ExitCode()
	in.cmd = nil
	return code
}

// stop ends the process cleanly (its standard input closes) and reports what it logged
// when the test failed or the daemon raced.
func (in *instance) stop() {
	if in.cmd != nil {
		in.stdin.Close()
		select {
		case <-in.done:
		case <-time.After(mqtttest.Wait):
			_ = in.cmd.Process.Kill()
			<-in.done
		}
		in.cmd = nil
	}
	b, _ := os.ReadFile(in.log)
	if strings.Contains(string(b), "WARNING: DATA RACE") {
		in.t.Errorf("instance %d raced", in.index)
	}
	if in.t.Failed() {
		in.t.Logf("instance %d log:\n%s", in.index, b)
	}
}

// fleet is the broker, the fakes and the config every instance shares.
type fleet struct {
	t            *testing.T
	b            *mqtttest.Broker
	base, prefix string
	dir          string
	ids          []string
	fakes        map[string]*gasfake.Server
	accountsYAML string
}

func newFleet(t *testing.T, ids []string) *fleet {
	f := &fleet{t: t, b: mqtttest.Start(t), dir: t.TempDir(), ids: ids, fakes: map[string]*gasfake.Server{}}
	f.base, f.prefix = f.b.Prefix("ab"), f.b.Prefix("ha")
	var y strings.Builder
	for _, id := range ids {
		// One fake per meter, so that logins and polls are counted per account.
		srv := gasfake.New(gasfake.Options{})
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		f.fakes[id] = srv
		fmt.Fprintf(&y, "  - id: %s\n    provider: gas\n    user_code: \"%s\"\n    mobile: \"%s\"\n    password: %s\n    base_url: %s\n",
			id, gasfake.DefaultUserCode, gasfake.DefaultMobile, gasfake.DefaultPassword, ts.URL)
	}
	f.accountsYAML = y.String()
	return f
}

// writeConfig writes the config of instance index of count (count 0: no shard section).
func (f *fleet) writeConfig(index, count int) string {
	f.t.Helper()
	shardYAML := ""
	if count > 0 {
		shardYAML = fmt.Sprintf("shard:\n  index: %d\n  count: %d\n", index, count)
	}
	dir := filepath.Join(f.dir, fmt.Sprintf("instance%d", index))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	text := fmt.Sprintf(`mqtt:
  broker: %s
  base_topic: %s
  discovery_prefix: %s
  client_id: %s_%d
  birth_delay: 0s
store:
  path: %s
log:
  level: debug
  format: json
defaults:
  schedule: "@every 2s"
  jitter: 0s
%saccounts:
%s`, f.b.URL(), f.base, f.prefix, f.base, index, filepath.Join(dir, "ab.db"), shardYAML, f.accountsYAML)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// retained returns every retained message under the fleet's topics, read by a new
// subscriber: what Home Assistant would see if it connected now.
func (f *fleet) retained() map[string]string {
	f.t.Helper()
	w := f.b.Watch(f.t, f.base+"/#", f.prefix+"/#")
	marker := f.base + "/__marker"
	w.Publish(marker, "x", false)
	out := map[string]string{}
	for _, m := range w.Until(marker) {
		if m.Retained && m.Payload != "" {
			out[m.Topic] = m.Payload
		}
	}
	return out
}

// discoveryOf is what the test reads in a device's discovery payload.
type discoveryOf struct {
	Availability []struct{ Topic string } `json:"availability"`
	Device       struct {
		Via string `json:"via_device"`
	} `json:"device"`
}

// availableInHA says whether Home Assistant shows the device available: every one of its
// availability topics says online (availability_mode all).
func availableInHA(t *testing.T, retained map[string]string, discovery string) bool {
	t.Helper()
	var d discoveryOf
	if err := json.Unmarshal([]byte(discovery), &d); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	for _, a := range d.Availability {
		if retained[a.Topic] != "online" {
			return false
		}
	}
	return len(d.Availability) > 0
}

// bridgeInfo is what the test reads in <base>/bridge_<i>/info.
type bridgeInfo struct {
	Accounts []infoAccount `json:"accounts"`
}

type infoAccount struct {
	ID      string    `json:"id"`
	State   string    `json:"state"`
	LastRun time.Time `json:"last_run"`
}

// Three instances, shards 0–2 of 3, on one broker over the fake upstreams: every account
// is polled by exactly one instance, the one its id hashes to; every device is in Home
// Assistant's discovery once, published by its owner; killing an instance makes exactly
// its accounts unavailable, and restarting it brings them back without logging in again;
// a fourth instance without a shard is refused.
func TestThreeShards(t *testing.T) {
	const count = 3
	ids := []string{"meter_a", "meter_b", "meter_c", "meter_d", "meter_e", "meter_f", "meter_g", "meter_h", "meter_i"}
	owner := map[string]int{}
	per := make([]int, count)
	for _, id := range ids {
		owner[id] = shard.Of(id, count)
		per[owner[id]]++
	}
	if slices.Contains(per, 0) {
		t.Fatalf("the ids must give every shard an account; per shard: %v", per)
	}
	f := newFleet(t, ids)
	w := f.b.Watch(t, f.base+"/#", f.prefix+"/#")
	instances := make([]*instance, count)
	for i := range count {
		instances[i] = startInstance(t, i, f.writeConfig(i, count))
	}

	// Wait until every instance reports all of its accounts polled, recording every
	// discovery message on the way.
	bridge := func(i int) string { return fmt.Sprintf("bridge_%d", i) }
	discoveries := map[string][]string{} // device → payloads published
	polled := map[string][]int{}         // account → instances whose info lists it as ok
	infos := make([]bridgeInfo, count)
	w.Next(func(m mqtttest.Message) bool {
		if dev, ok := strings.CutPrefix(m.Topic, f.prefix+"/device/"); ok && m.Payload != "" {
			dev = strings.TrimSuffix(dev, "/config")
			discoveries[dev] = append(discoveries[dev], m.Payload)
		}
		for i := range count {
			if m.Topic == f.base+"/"+bridge(i)+"/info" {
				infos[i] = bridgeInfo{}
				if err := json.Unmarshal([]byte(m.Payload), &infos[i]); err != nil {
					t.Fatalf("%s: %v", m.Topic, err)
				}
			}
		}
		clear(polled)
		for i, in := range infos {
			for _, a := range in.Accounts {
				if a.State == "ok" {
					polled[a.ID] = append(polled[a.ID], i)
				}
			}
		}
		return len(polled) == len(ids)
	})
	for _, id := range ids {
		if want := []int{owner[id]}; !slices.Equal(polled[id], want) {
			t.Errorf("%s polled by instances %v, want %v", id, polled[id], want)
		}
		for i, in := range infos {
			listed := slices.ContainsFunc(in.Accounts, func(a infoAccount) bool { return a.ID == id })
			if listed != (i == owner[id]) {
				t.Errorf("instance %d lists %s: %v; its owner is %d", i, id, listed, owner[id])
			}
		}
		if n := f.fakes[id].Logins(); n != 1 {
			t.Errorf("%s: %d logins at its upstream, want 1 (one instance, once)", id, n)
		}
	}

	// Discovery: the account devices and one diagnostics device per instance, each
	// published only by its owner (its availability is the owner's last will).
	rt := f.retained()
	var devices []string
	for topic := range rt {
		if dev, ok := strings.CutPrefix(topic, f.prefix+"/device/"); ok {
			devices = append(devices, strings.TrimSuffix(dev, "/config"))
		}
	}
	slices.Sort(devices)
	var want []string
	for _, id := range ids {
		want = append(want, "gas_"+id)
	}
	for i := range count {
		want = append(want, bridge(i))
	}
	slices.Sort(want)
	if !slices.Equal(devices, want) {
		t.Errorf("devices in discovery:\n%v\nwant\n%v", devices, want)
	}
	for _, id := range ids {
		dev := "gas_" + id
		ownerWill := f.base + "/" + bridge(owner[id]) + "/availability"
		for _, p := range discoveries[dev] {
			var d discoveryOf
			if err := json.Unmarshal([]byte(p), &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Availability) == 0 || d.Availability[0].Topic != ownerWill || d.Device.Via != "accountbridge_"+bridge(owner[id]) {
				t.Errorf("%s published with availability %v and via %q; its owner is instance %d", dev, d.Availability, d.Device.Via, owner[id])
			}
		}
		if !availableInHA(t, rt, rt[f.prefix+"/device/"+dev+"/config"]) {
			t.Errorf("%s is not available before any instance stopped", dev)
		}
	}

	// Kill the instance that owns the first account: its will makes its accounts, and only
	// them, unavailable.
	victim := owner[ids[0]]
	instances[victim].kill()
	w.WaitFor(f.base+"/"+bridge(victim)+"/availability", "offline")
	rt = f.retained()
	for _, id := range ids {
		dev := "gas_" + id
		if got, want := availableInHA(t, rt, rt[f.prefix+"/device/"+dev+"/config"]), owner[id] != victim; got != want {
			t.Errorf("with instance %d killed, %s (owner %d) available = %v, want %v", victim, dev, owner[id], got, want)
		}
	}
	for i := range count {
		if want := map[bool]string{true: "offline", false: "online"}[i == victim]; rt[f.base+"/"+bridge(i)+"/availability"] != want {
			t.Errorf("instance %d availability = %q, want %q", i, rt[f.base+"/"+bridge(i)+"/availability"], want)
		}
	}

	// Restart it: its accounts come back, polled again on the sessions in its store.
	restarted := time.Now()
	instances[victim].start()
	w.WaitFor(f.base+"/"+bridge(victim)+"/availability", "online")
	w.Next(func(m mqtttest.Message) bool {
		if m.Topic != f.base+"/"+bridge(victim)+"/info" {
			return false
		}
		var in bridgeInfo
		if err := json.Unmarshal([]byte(m.Payload), &in); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		return len(in.Accounts) == per[victim] && !slices.ContainsFunc(in.Accounts, func(a infoAccount) bool {
			return a.State != "ok" || a.LastRun.Before(restarted)
		})
	})
	rt = f.retained()
	for _, id := range ids {
		dev := "gas_" + id
		if !availableInHA(t, rt, rt[f.prefix+"/device/"+dev+"/config"]) {
			t.Errorf("after the restart %s is unavailable", dev)
		}
		if n := f.fakes[id].Logins(); n != 1 {
			t.Errorf("%s: %d logins after the restart, want 1 (the session is in the instance's store)", id, n)
		}
	}

	// A fourth instance without a shard would poll every account: it refuses to run, names
	// the fleet, and the fleet is not disturbed.
	fourth := startInstance(t, count, f.writeConfig(count, 0))
	if code := fourth.exited(); code != exitRefused {
		t.Errorf("the fourth instance exited with %d, want %d (refused)", code, exitRefused)
	}
	if b, _ := os.ReadFile(fourth.log); !strings.Contains(string(b), "another instance already serves base topic") {
		t.Errorf("the fourth instance's log does not say why it stopped:\n%s", b)
	}
	marker := f.base + "/__after_fourth"
	w.Publish(marker, "x", false)
	for _, m := range w.Until(marker) {
		if strings.HasSuffix(m.Topic, "/availability") && m.Payload != "online" {
			t.Errorf("while the fourth instance tried to start: %s %q", m.Topic, m.Payload)
		}
		if dev, ok := strings.CutPrefix(m.Topic, f.prefix+"/device/gas_"); ok {
			var d discoveryOf
			if err := json.Unmarshal([]byte(m.Payload), &d); err != nil || len(d.Availability) == 0 ||
				d.Availability[0].Topic != f.base+"/"+bridge(owner[strings.TrimSuffix(dev, "/config")])+"/availability" {
				t.Errorf("while the fourth instance tried to start, a device was published by another than its owner: %s %q", m.Topic, m.Payload)
			}
		}
	}
}

// fleetConfigs turns the config `bridge demo --fakes-only` wrote into the configs of count
// instances: the test's broker, topics and stores, and each instance's shard.
func (f *fleet) fleetConfigs(demoConfig string, count int) []string {
	f.t.Helper()
	data, err := os.ReadFile(demoConfig)
	if err != nil {
		f.t.Fatal(err)
	}
	var paths []string
	for i := range count {
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			f.t.Fatal(err)
		}
		mq := doc["mqtt"].(map[string]any)
		mq["broker"], mq["base_topic"], mq["discovery_prefix"] = f.b.URL(), f.base, f.prefix
		mq["client_id"], mq["birth_delay"] = fmt.Sprintf("%s_%d", f.base, i), "0s"
		dir := filepath.Join(f.dir, fmt.Sprintf("instance%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			f.t.Fatal(err)
		}
		doc["store"] = map[string]any{"path": filepath.Join(dir, "ab.db")}
		doc["log"] = map[string]any{"level": "debug", "format": "json"}
		doc["shard"] = map[string]any{"index": i, "count": count}
		out, err := yaml.Marshal(doc)
		if err != nil {
			f.t.Fatal(err)
		}
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			f.t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// Three instances over the fakes of `bridge demo --fakes-only --accounts 3` (every
// provider, the SMS router included): each account is polled by exactly one instance,
// every device is published by its owner only, the SMS accounts and their router live on
// one instance, and an SMS order published once gets one number.
func TestThreeShardsOverDemoFakes(t *testing.T) {
	const count = 3
	f := &fleet{t: t, b: mqtttest.Start(t), dir: t.TempDir()}
	f.base, f.prefix = f.b.Prefix("ab"), f.b.Prefix("ha")
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan demo.Info, 1), make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{FakesOnly: true, Accounts: 3, DataDir: filepath.Join(f.dir, "fakes"),
			Broker: f.b.URL(), Every: 2 * time.Second, Out: io.Discard, Log: io.Discard,
			Ready: func(i demo.Info) { ready <- i }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo fakes: %v", err)
		}
	})
	var info demo.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("the fakes ended before they were ready: %v", err)
	case <-time.After(mqtttest.Wait):
		t.Fatal("the fakes are not ready")
	}
	paths := f.fleetConfigs(info.ConfigPath, count)
	cfg, err := config.Load(paths[0], config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]int{}
	var sms []string
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		owner[a.ID] = shard.Of(daemon.ShardKey(a.ID, a.Provider), count)
		if a.Provider == "sms" {
			sms = append(sms, a.ID)
		}
	}
	if len(owner) != 12 || len(sms) != 3 {
		t.Fatalf("demo accounts: %v (sms %v), want 3 of each of the four providers", owner, sms)
	}
	routerShard := shard.Of("@sms", count)

	w := f.b.Watch(t, f.base+"/#", f.prefix+"/#")
	for i, p := range paths {
		startInstance(t, i, p)
	}
	bridge := func(i int) string { return fmt.Sprintf("bridge_%d", i) }
	type account struct {
		ID      string    `json:"id"`
		LastRun time.Time `json:"last_run"`
		Devices []string  `json:"devices"`
	}
	infos := make([][]account, count)
	discoveries := map[string][]string{}
	w.Next(func(m mqtttest.Message) bool {
		if dev, ok := strings.CutPrefix(m.Topic, f.prefix+"/device/"); ok && m.Payload != "" {
			dev = strings.TrimSuffix(dev, "/config")
			discoveries[dev] = append(discoveries[dev], m.Payload)
		}
		for i := range count {
			if m.Topic == f.base+"/"+bridge(i)+"/info" {
				var in struct{ Accounts []account }
				if err := json.Unmarshal([]byte(m.Payload), &in); err != nil {
					t.Fatalf("%s: %v", m.Topic, err)
				}
				infos[i] = in.Accounts
			}
		}
		polled := 0
		listed := map[string]bool{"sms_router": true}
		for i, in := range infos {
			listed[bridge(i)] = true
			for _, a := range in {
				if !a.LastRun.IsZero() {
					polled++
				}
				for _, dev := range a.Devices {
					listed[dev] = true
				}
			}
		}
		// The ownership below is read from these documents: they must list every
		// discovered device.
		for dev := range discoveries {
			if !listed[dev] {
				return false
			}
		}
		return polled >= len(owner) && len(discoveries["sms_router"]) > 0
	})

	deviceOwner := map[string]int{"sms_router": routerShard}
	for i := range count {
		deviceOwner[bridge(i)] = i
	}
	listedBy := map[string][]int{}
	for i, in := range infos {
		for _, a := range in {
			listedBy[a.ID] = append(listedBy[a.ID], i)
			for _, dev := range a.Devices {
				deviceOwner[dev] = i
			}
		}
	}
	for id, o := range owner {
		if want := []int{o}; !slices.Equal(listedBy[id], want) {
			t.Errorf("%s polled by instances %v, want %v", id, listedBy[id], want)
		}
	}
	for _, id := range sms {
		if owner[id] != routerShard {
			t.Errorf("SMS account %s is on shard %d, its router on %d", id, owner[id], routerShard)
		}
	}
	rt := f.retained()
	for topic := range rt {
		dev, ok := strings.CutPrefix(topic, f.prefix+"/device/")
		if !ok {
			continue
		}
		dev = strings.TrimSuffix(dev, "/config")
		if _, known := deviceOwner[dev]; !known {
			t.Errorf("device %s is in discovery but no instance owns it", dev)
		}
	}
	for dev, o := range deviceOwner {
		if rt[f.prefix+"/device/"+dev+"/config"] == "" {
			t.Errorf("device %s (instance %d) is not in discovery", dev, o)
		}
		for _, p := range discoveries[dev] {
			var d discoveryOf
			if err := json.Unmarshal([]byte(p), &d); err != nil {
				t.Fatal(err)
			}
			if want := f.base + "/" + bridge(o) + "/availability"; len(d.Availability) == 0 || d.Availability[0].Topic != want {
				t.Errorf("%s published with availability %v; its owner is instance %d", dev, d.Availability, o)
			}
		}
	}

	// One order, one number: only the router's instance takes orders.
	w.Publish(f.base+"/sms/order", `{"request_id":"fleet-1","service":"wa","country":"us","strategy":"price"}`, false)
	var statuses []string
	w.Next(func(m mqtttest.Message) bool {
		if m.Topic != f.base+"/sms/order/fleet-1" {
			return false
		}
		var st struct{ Status string }
		if err := json.Unmarshal([]byte(m.Payload), &st); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		statuses = append(statuses, st.Status)
		return st.Status == "done" || st.Status == "failed" || st.Status == "cancelled"
	})
	marker := f.base + "/__after_order"
	w.Publish(marker, "x", false)
	for _, m := range w.Until(marker) {
		if m.Topic == f.base+"/sms/order/fleet-1" {
			statuses = append(statuses, m.Payload)
		}
	}
	if n := strings.Count(strings.Join(statuses, " "), "number"); n != 1 || statuses[len(statuses)-1] != "done" {
		t.Errorf("order statuses %q: want one number, then done", statuses)
	}
}
