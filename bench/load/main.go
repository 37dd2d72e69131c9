// Command load is the load scenario: it runs the shipped daemon (`bridge run`, as its own
// process) against the fake upstreams with many generated accounts and reports cycle
// time, throughput, poll latency, CPU, MQTT traffic, memory and logins per cycle. See
// docs/benchmarks.md.
//
//	go run ./bench/load -accounts 1000 -latency 50ms -concurrency 64
//
// The fakes (over TLS), the broker (always its own, embedded) and a counting MQTT proxy run
// in a child process of this program; the daemon in another (or, with -daemon inprocess,
// in this one). CPU and RSS are read from /proc for the daemon alone. Everything listens
// on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	_ "github.com/accountbridge/accountbridge/internal/providers/all"
)

// loadConfig is what the flags say; the host child gets it as JSON.
type loadConfig struct {
	Accounts    int
	Kinds       []string
	Latency     time.Duration
	LatencyOn   string // poll | request
	Concurrency int
	Cycles      int
	Interval    time.Duration
	Idle        time.Duration
	ExpireCycle int    // before this cycle every upstream session expires (0: never)
	CAFile      string // the fakes' self-signed certificate ("": plain HTTP)
	Daemon      string // process | inprocess
	Bridge      string // the bridge binary (process mode)
	// BridgeEnv are NAME=value settings for the bridge process alone (process mode): a
	// GOGC or GOMEMLIMIT in the load tool's own environment would also reach the fakes.
	BridgeEnv []string
}

// envList is a repeatable NAME=value flag.
type envList []string

func (l *envList) String() string { return strings.Join(*l, " ") }

func (l *envList) Set(v string) error {
	if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
		return fmt.Errorf("want NAME=value, got %q", v)
	}
	*l = append(*l, v)
	return nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-host" {
		var cfg loadConfig
		if err := json.Unmarshal([]byte(os.Args[2]), &cfg); err != nil {
			fmt.Fprintln(os.Stderr, "host:", err)
			os.Exit(2)
		}
		if err := runHost(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "host:", err)
			os.Exit(1)
		}
		return
	}
	var cfg loadConfig
	var provider, jsonOut, cpuProfile, memProfile string
	var profileCycle int
	var plainHTTP bool
	flag.IntVar(&cfg.Accounts, "accounts", 100, "number of accounts")
	flag.StringVar(&provider, "provider", "mixed", "mixed (telecom, gas, onecloud in turn), all (the same and sms), or one provider: telecom, gas, onecloud, sms")
	flag.DurationVar(&cfg.Latency, "latency", 50*time.Millisecond, "upstream latency added by the fakes")
	flag.StringVar(&cfg.LatencyOn, "latency-on", "request", "request: on every request (as a distant upstream); poll: only on the one call every poll makes once")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "defaults.concurrency: polls in flight at once")
	flag.IntVar(&cfg.Cycles, "cycles", 4, "full cycles to measure (the first logs in, later ones reuse sessions)")
	flag.IntVar(&cfg.ExpireCycle, "expire-cycle", 3, "every upstream session expires before this cycle, so each account logs in again (0: never)")
	flag.StringVar(&cfg.Daemon, "daemon", "process", "process: the bridge binary as its own process; inprocess: daemon.New in this process (profiles, Go heap figures)")
	flag.Var((*envList)(&cfg.BridgeEnv), "bridge-env", "NAME=value for the bridge process alone, e.g. GOGC=100 (repeatable; process mode)")
	flag.StringVar(&cfg.Bridge, "bridge", "", "the bridge binary to measure (default: go build ./cmd/bridge into a temporary directory)")
	flag.BoolVar(&plainHTTP, "plain-http", false, "serve the fakes over plain HTTP instead of TLS")
	flag.DurationVar(&cfg.Interval, "interval", 0, "poll schedule (@every); default: long enough for a cycle to finish before the next")
	flag.DurationVar(&cfg.Idle, "idle", 0, "after the cycles, keep running this long and report RSS again (idle RSS)")
	flag.StringVar(&jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the cycles")
	flag.StringVar(&memProfile, "memprofile", "", "write a heap profile at the end of the cycles")
	flag.IntVar(&profileCycle, "profile-cycle", 0, "with -cpuprofile: profile only this cycle (0: from the start, daemon setup included)")
	flag.Parse()
	switch provider {
	case "mixed":
		cfg.Kinds = []string{"telecom", "gas", "onecloud"}
	case "all":
		cfg.Kinds = []string{"telecom", "gas", "onecloud", "sms"}
	case "telecom", "gas", "onecloud", "sms":
		cfg.Kinds = []string{provider}
	default:
		fmt.Fprintf(os.Stderr, "-provider %q: want mixed, all, telecom, gas, onecloud or sms\n", provider)
		os.Exit(2)
	}
	if cfg.Daemon != "process" && cfg.Daemon != "inprocess" {
		fmt.Fprintln(os.Stderr, "-daemon: want process or inprocess")
		os.Exit(2)
	}
	if cfg.Daemon == "process" && (cpuProfile != "" || memProfile != "") {
		fmt.Fprintln(os.Stderr, "-cpuprofile and -memprofile need -daemon inprocess")
		os.Exit(2)
	}
	if memProfile != "" {
		// A sample every 16 KB instead of 512 KB: per-account structures of a few hundred
		// bytes show up by site, not as a few lucky samples.
		runtime.MemProfileRate = 16 << 10
	}
	if cfg.LatencyOn != "poll" && cfg.LatencyOn != "request" {
		fmt.Fprintln(os.Stderr, "-latency-on: want poll or request")
		os.Exit(2)
	}
	if cfg.Accounts < 1 || cfg.Accounts > 100000 || cfg.Cycles < 1 || cfg.Cycles > 20 || cfg.Concurrency < 1 {
		fmt.Fprintln(os.Stderr, "want 1 ≤ accounts ≤ 100000, 1 ≤ cycles ≤ 20, concurrency ≥ 1")
		os.Exit(2)
	}
	if cfg.Interval == 0 {
		lb := time.Duration(cfg.Accounts) * cfg.Latency / time.Duration(cfg.Concurrency)
		if cfg.LatencyOn == "request" {
			lb *= 6
		}
		cfg.Interval = max(10*time.Second, 3*lb+time.Duration(cfg.Accounts)*time.Millisecond+5*time.Second).Round(time.Second)
	}
	res, err := run(cfg, !plainHTTP, cpuProfile, memProfile, profileCycle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	res.print(os.Stdout)
	if jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
	}
}

// cycleResult is one full cycle.
type cycleResult struct {
	N              int     `json:"n"`
	Kind           string  `json:"kind"` // first (logs in), steady, re-login (sessions expired)
	Polls          int     `json:"polls"`
	Failed         int     `json:"failed"`
	Seconds        float64 `json:"seconds"`     // first poll start → last poll end
	LowerBound     float64 `json:"lower_bound"` // delayed requests × latency ÷ concurrency
	PollsPerSecond float64 `json:"polls_per_second"`
	P50            float64 `json:"p50_ms"` // poll latency
	P95            float64 `json:"p95_ms"`
	P99            float64 `json:"p99_ms"`
	CPUSeconds     float64 `json:"cpu_seconds"` // the daemon's process
	CPUPer1000     float64 `json:"cpu_seconds_per_1000_polls"`
	HostCPU        float64 `json:"host_cpu_seconds"` // the fakes' (and embedded broker's) process, for context
	Messages       int64   `json:"messages"`
	Bytes          int64   `json:"bytes"`
	ByKind         map[string]int64
	StateChanged   int64 `json:"state_changed"`
	StateLastPoll  int64 `json:"state_last_poll_only"`
	StateFirst     int64 `json:"state_first"`
	Logins         int   `json:"logins"`
	Requests       int   `json:"requests"`
	RSSMB          float64
}

type result struct {
	Config     loadConfig
	Load1      float64 // the machine's load average (1 min) at the end
	Bridge     string  // the measured binary (process mode)
	GoMaxProcs int
	BaselineMB float64 // RSS before the daemon was built
	Cycles     []cycleResult
	PeakMB     float64 // VmHWM
	SteadyMB   float64 // VmRSS after the last cycle
	// The Go runtime's view after the last cycle (MB): live heap after a GC, heap spans
	// in use, goroutine stacks, and everything obtained from the OS.
	HeapLiveMB, HeapInuseMB, StackMB, GoSysMB float64
	Goroutines                                int
	IdleMB                                    float64 // VmRSS after -idle
	// VmRSS splits into private memory (RssAnon: heap, stacks, SQLite's cache) and pages
	// of files (RssFile: mostly the executable's code and read-only data, shared with
	// other processes running it and reclaimable by the kernel).
	SteadyAnonMB, SteadyFileMB, IdleAnonMB, IdleFileMB float64
	IdleSeconds                                        float64
	IdleMsgs                                           int64
}

func (r *result) print(w io.Writer) {
	c := r.Config
	daemon := "in this process"
	if c.Daemon == "process" {
		daemon = "own process " + r.Bridge
		if len(c.BridgeEnv) > 0 {
			daemon += " with " + strings.Join(c.BridgeEnv, " ")
		}
	}
	tlsText := "TLS"
	if c.CAFile == "" {
		tlsText = "plain HTTP"
	}
	fmt.Fprintf(w, "accounts %d (%s), latency %s on each %s, %s upstreams, concurrency %d, schedule @every %s, sessions expire before cycle %d, embedded broker, daemon: %s, GOMAXPROCS %d, load average %.2f\n",
		c.Accounts, strings.Join(c.Kinds, "+"), c.Latency, c.LatencyOn, tlsText, c.Concurrency, c.Interval, c.ExpireCycle, daemon, r.GoMaxProcs, r.Load1)
	fmt.Fprintf(w, "%-6s %-8s %7s %9s %9s %6s %9s %7s %7s %7s %9s %9s %7s %10s %8s %7s %7s\n",
		"cycle", "kind", "polls", "time s", "bound s", "ratio", "polls/s", "p50 ms", "p95 ms", "p99 ms", "cpu s", "cpu/1k s", "msgs", "bytes", "states", "lp-only", "logins")
	for _, x := range r.Cycles {
		ratio := 0.0
		if x.LowerBound > 0 {
			ratio = x.Seconds / x.LowerBound
		}
		fmt.Fprintf(w, "%-6d %-8s %7d %9.2f %9.2f %6.2f %9.0f %7.1f %7.1f %7.1f %9.2f %9.3f %7d %10d %8d %7d %7d\n",
			x.N, x.Kind, x.Polls, x.Seconds, x.LowerBound, ratio, x.PollsPerSecond, x.P50, x.P95, x.P99, x.CPUSeconds, x.CPUPer1000,
			x.Messages, x.Bytes, x.StateChanged+x.StateFirst, x.StateLastPoll, x.Logins)
		if x.Failed > 0 {
			fmt.Fprintf(w, "       %d polls failed\n", x.Failed)
		}
		fmt.Fprintf(w, "       fakes' process (not the daemon): %.2f cpu s\n", x.HostCPU)
		fmt.Fprintf(w, "       messages by kind: %v\n", x.ByKind)
	}
	var steady []cycleResult
	for _, x := range r.Cycles {
		if x.Kind == "steady" {
			steady = append(steady, x)
		}
	}
	if len(r.Cycles) > 0 {
		x := r.Cycles[0]
		fmt.Fprintf(w, "first cycle: %.2f s (%.2f × bound), %.3f ms CPU per poll\n", x.Seconds, ratio(x), x.CPUPer1000)
	}
	if len(steady) > 0 {
		var sec, cpu, polls, rt float64
		for _, x := range steady {
			sec += x.Seconds
			cpu += x.CPUSeconds
			polls += float64(x.Polls)
			rt += ratio(x)
		}
		n := float64(len(steady))
		fmt.Fprintf(w, "steady cycles (%d): %.2f s mean (%.2f × bound), %.3f ms CPU per poll\n", len(steady), sec/n, rt/n, cpu/polls*1000)
	}
	if c.Daemon == "inprocess" {
		fmt.Fprintf(w, "Go runtime after the cycles: live heap %.1f MB, heap in use %.1f MB, stacks %.1f MB, from the OS %.1f MB, %d goroutines\n",
			r.HeapLiveMB, r.HeapInuseMB, r.StackMB, r.GoSysMB, r.Goroutines)
		fmt.Fprintf(w, "RSS: baseline %.1f MB, peak %.1f MB, steady %.1f MB (%.1f KB per account above baseline)",
			r.BaselineMB, r.PeakMB, r.SteadyMB, (r.SteadyMB-r.BaselineMB)*1024/float64(c.Accounts))
	} else {
		fmt.Fprintf(w, "RSS of the bridge process: peak %.1f MB, steady %.1f MB (%.1f KB per account)",
			r.PeakMB, r.SteadyMB, r.SteadyMB*1024/float64(c.Accounts))
	}
	fmt.Fprintf(w, "\n     steady = %.1f MB private (RssAnon) + %.1f MB file-backed (RssFile: the executable's pages)", r.SteadyAnonMB, r.SteadyFileMB)
	if r.IdleSeconds > 0 {
		fmt.Fprintf(w, "\nidle: after %.0f s more (polling on schedule): VmRSS %.1f MB = %.1f MB private + %.1f MB file-backed (%d messages meanwhile)",
			r.IdleSeconds, r.IdleMB, r.IdleAnonMB, r.IdleFileMB, r.IdleMsgs)
	}
	fmt.Fprintln(w)
}

func ratio(x cycleResult) float64 {
	if x.LowerBound <= 0 {
		return 0
	}
	return x.Seconds / x.LowerBound
}

// loadAverage is the 1-minute load average: the figures are only as good as the machine
// was quiet.
func loadAverage() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	var l float64
	fmt.Sscanf(string(b), "%f", &l)
	return l
}

// daemonSide is the measured daemon: in this process or its own.
type daemonSide struct {
	pid    int           // 0: this process
	exited chan struct{} // closed when the daemon ended, err then says why
	err    error
	stop   func() error
}

func (d *daemonSide) cpu() float64 {
	if d.pid == 0 {
		return cpuSeconds()
	}
	return procCPU(d.pid)
}

func (d *daemonSide) status(field string) float64 {
	if d.pid == 0 {
		return procStatus("self", field)
	}
	return procStatus(strconv.Itoa(d.pid), field)
}

func run(cfg loadConfig, useTLS bool, cpuProfile, memProfile string, profileCycle int) (*result, error) {
	res := &result{Config: cfg, GoMaxProcs: runtime.GOMAXPROCS(0)}
	dir, err := os.MkdirTemp("", "accountbridge-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if useTLS {
		cfg.CAFile = filepath.Join(dir, "fakes-ca.pem")
		res.Config.CAFile = cfg.CAFile
	}
	if cfg.Daemon == "process" {
		if cfg.Bridge == "" {
			cfg.Bridge = filepath.Join(dir, "bridge")
			build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", cfg.Bridge, "./cmd/bridge")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				return nil, fmt.Errorf("go build ./cmd/bridge (run from the module root, or pass -bridge): %w", err)
			}
		}
		// The daemon runs in the temporary directory: a relative path would resolve there.
		if cfg.Bridge, err = filepath.Abs(cfg.Bridge); err != nil {
			return nil, err
		}
		res.Bridge = cfg.Bridge
	}

	// The host child: fakes + embedded broker + counting MQTT proxy.
	arg, _ := json.Marshal(cfg)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	child := exec.Command(self, "-host", string(arg))
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		return nil, err
	}
	defer func() {
		stdin.Close()
		_ = child.Wait()
	}()
	var host hostInfo
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("host did not start: %w", err)
	}
	if err := json.Unmarshal(line, &host); err != nil {
		return nil, err
	}
	hc := &hostClient{url: host.StatsURL}

	dbPath := filepath.Join(dir, "accountbridge.db")
	text := configText(cfg, host, dbPath)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		return nil, err
	}

	profiling := false
	startProfile := func() error {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		profiling = true
		return nil
	}
	stopProfile := func() {
		if profiling {
			pprof.StopCPUProfile()
			profiling = false
		}
	}
	defer stopProfile()
	if cpuProfile != "" && profileCycle <= 1 {
		if err := startProfile(); err != nil {
			return nil, err
		}
	}

	before, err := hc.stats()
	if err != nil {
		return nil, err
	}
	var d *daemonSide
	if cfg.Daemon == "process" {
		d, err = startProcess(cfg, cfgPath, dir)
	} else {
		res.BaselineMB = procStatus("self", "VmRSS")
		d, err = startInProcess(cfg, cfgPath)
	}
	if err != nil {
		return nil, err
	}
	defer d.stop()
	cpu0, host0 := d.cpu(), procCPU(child.Process.Pid)

	// The store is written by the daemon; wait for it before opening it here (opening
	// first would create it). The same connection settings as the store's read pool (a
	// mode=ro connection does not share the WAL index properly and would see stale data).
	for t0 := time.Now(); ; {
		if _, err := os.Stat(dbPath); err == nil {
			break
		}
		if time.Since(t0) > 2*time.Minute {
			return nil, errors.New("the daemon did not create its store")
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("daemon stopped: %v", d.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?_journal_mode=WAL&_busy_timeout=5000&_query_only=true")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	lastID := int64(0)
	var nextStart time.Time // when the next cycle is due (zero: now)
	for k := 1; k <= cfg.Cycles; k++ {
		// A cycle is over when every generated account (t00000, g00000, …: not the bridge
		// nor the SMS router) has recorded its k-th run; the runs are
		// recorded after the snapshot is published and stored.
		deadline := time.Now().Add(cfg.Interval*2 + time.Duration(cfg.Accounts)*10*time.Millisecond + time.Minute)
		// Sleep until shortly before the cycle is due: with -daemon inprocess this
		// process's CPU is the daemon's measure, and polling the database meanwhile would
		// add to it.
		if wait := time.Until(nextStart) - 200*time.Millisecond; !nextStart.IsZero() && wait > 0 {
			select {
			case <-d.exited:
				return nil, fmt.Errorf("daemon stopped: %v", d.err)
			case <-time.After(wait):
			}
		}
		var runs []runRow
		for {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM runs WHERE id > ? AND account GLOB '[tgos][0-9]*'`, lastID).Scan(&n); err != nil || n < cfg.Accounts {
				n = 0
			}
			if n == 0 {
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("cycle %d: not done by %s", k, deadline.Format(time.TimeOnly))
				}
				select {
				case <-d.exited:
					return nil, fmt.Errorf("daemon stopped: %v", d.err)
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			rows, err := readRuns(db, lastID)
			if err != nil && !errors.Is(err, errBusy) {
				return nil, err
			}
			runs = rows
			if len(runs) >= cfg.Accounts {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("cycle %d: only %d of %d polls done by %s", k, len(runs), cfg.Accounts, deadline.Format(time.TimeOnly))
			}
			select {
			case <-d.exited:
				return nil, fmt.Errorf("daemon stopped: %v", d.err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		runs = runs[:cfg.Accounts]
		cpu1 := d.cpu()
		after, err := hc.stats()
		if err != nil {
			return nil, err
		}
		c := summarize(k, runs, before, after, cpu1-cpu0, cfg)
		switch {
		case k == 1:
			c.Kind = "first"
		case k == cfg.ExpireCycle:
			c.Kind = "re-login"
		default:
			c.Kind = "steady"
		}
		c.RSSMB = d.status("VmRSS")
		host1 := procCPU(child.Process.Pid)
		c.HostCPU, host0 = host1-host0, host1
		res.Cycles = append(res.Cycles, c)
		fmt.Fprintf(os.Stderr, "cycle %d done: %.2f s, %d polls, %.3f ms CPU per poll\n", k, c.Seconds, c.Polls, c.CPUPer1000)
		lastID = runs[len(runs)-1].id
		first := runs[0].started
		for _, r := range runs {
			first = min(first, r.started)
		}
		// jitter 0: every account is due again one interval after its last start.
		nextStart = time.Unix(0, first).Add(cfg.Interval)
		if k+1 == cfg.ExpireCycle {
			// Between cycles, while the daemon waits: every session ends upstream.
			if err := hc.expire(); err != nil {
				return nil, err
			}
		}
		before, cpu0 = after, cpu1
		if cpuProfile != "" && profileCycle > 0 {
			if k == profileCycle {
				stopProfile()
			} else if k == profileCycle-1 {
				if err := startProfile(); err != nil {
					return nil, err
				}
			}
		}
	}
	stopProfile()
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return nil, err
		}
		runtime.GC()
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	res.SteadyMB = d.status("VmRSS")
	res.SteadyAnonMB, res.SteadyFileMB = d.status("RssAnon"), d.status("RssFile")
	if d.pid == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms) // the runtime's counters as they are, no GC forced here
		res.HeapInuseMB, res.StackMB, res.GoSysMB = mb(ms.HeapInuse), mb(ms.StackInuse), mb(ms.Sys)
		res.HeapLiveMB = mb(liveHeap())
		res.Goroutines = runtime.NumGoroutine()
	}
	if cfg.Idle > 0 {
		t0 := time.Now()
		select {
		case <-time.After(cfg.Idle):
		case <-d.exited:
			return nil, fmt.Errorf("daemon stopped: %v", d.err)
		}
		res.IdleSeconds = time.Since(t0).Seconds()
		res.IdleMB = d.status("VmRSS")
		res.IdleAnonMB, res.IdleFileMB = d.status("RssAnon"), d.status("RssFile")
		if s, err := hc.stats(); err == nil {
			res.IdleMsgs = s.Messages - before.Messages
		}
	}
	res.PeakMB = d.status("VmHWM")
	res.Load1 = loadAverage()
	if err := d.stop(); err != nil {
		return nil, fmt.Errorf("daemon stopped with errors: %w", err)
	}
	return res, nil
}

// startProcess runs `bridge run` on the generated config, trusting the fakes' certificate.
func startProcess(cfg loadConfig, cfgPath, dir string) (*daemonSide, error) {
	cmd := exec.Command(cfg.Bridge, "run", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = os.Environ()
	if cfg.CAFile != "" {
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+cfg.CAFile)
	}
	cmd.Env = append(cmd.Env, cfg.BridgeEnv...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemonSide{pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	d.stop = func() error {
		select {
		case <-d.exited:
			return d.err
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
			return d.err
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-d.exited
			return fmt.Errorf("bridge did not stop within 60 s of SIGTERM: %v", d.err)
		}
	}
	return d, nil
}

// startInProcess builds the daemon in this process, as `bridge run` wires it.
func startInProcess(cfg loadConfig, cfgPath string) (*daemonSide, error) {
	if cfg.CAFile != "" {
		// Read by crypto/x509 when the system roots are first loaded, at the first handshake.
		os.Setenv("SSL_CERT_FILE", cfg.CAFile)
	}
	conf, err := config.Load(cfgPath, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	if err != nil {
		return nil, err
	}
	red := logging.NewRedactor()
	for _, s := range conf.Secrets {
		red.AddSecret(s)
	}
	log, err := logging.New(os.Stderr, logging.Options{Level: "warn", Format: "json", Redactor: red})
	if err != nil {
		return nil, err
	}
	daemon.TuneGC(os.Getenv) // as `bridge run` does
	ctx, cancel := context.WithCancel(context.Background())
	dm, err := daemon.New(ctx, daemon.Options{Config: conf, Logger: log, Redactor: red})
	if err != nil {
		cancel()
		return nil, err
	}
	d := &daemonSide{exited: make(chan struct{})}
	go func() { d.err = dm.Run(ctx); close(d.exited) }()
	d.stop = func() error {
		cancel()
		<-d.exited
		return d.err
	}
	return d, nil
}

func configText(cfg loadConfig, host hostInfo, dbPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `mqtt:
  broker: %s
  client_id: accountbridge-load-%d
  base_topic: abload
  discovery_prefix: abload_ha
store:
  path: %s
log:
  level: warn
defaults:
  schedule: "@every %s"
  jitter: 0s
  timeout: 120s
  concurrency: %d
accounts:
`, host.BrokerURL, os.Getpid(), dbPath, cfg.Interval, cfg.Concurrency)
	key := "      " + strings.ReplaceAll(strings.TrimSpace(host.TelecomKey), "\n", "\n      ")
	for _, a := range planAccounts(cfg.Accounts, cfg.Kinds) {
		switch a.Kind {
		case "telecom":
			fmt.Fprintf(&b, "  - id: %s\n    provider: telecom\n    phone: \"%s\"\n    password: \"%s\"\n    base_url: %s\n    login_url: %s\n    min_login_interval: 1s\n    rsa_public_key: |\n%s\n",
				a.ID, telecomPhone(a.N), telecomPassword, host.TelecomURL, host.TelecomURL, key)
		case "gas":
			fmt.Fprintf(&b, "  - id: %s\n    provider: gas\n    user_code: \"%s\"\n    mobile: \"%s\"\n    password: \"secret-pass-1\"\n    min_login_interval: 1s\n    base_url: %s/a/%d\n",
				a.ID, gasUserCode(a.N), gasMobile(a.N), host.GasURL, a.N)
		case "onecloud":
			fmt.Fprintf(&b, "  - id: %s\n    provider: onecloud\n    phone: \"%s\"\n    password: \"123456\"\n    account_base_url: %s/a/%d\n    control_base_url: %s/a/%d\n",
				a.ID, onecloudPhone(a.N), host.OneCloudURL, a.N, host.OneCloudURL, a.N)
		case "sms":
			fmt.Fprintf(&b, "  - id: %s\n    provider: sms\n    platform: activate\n    api_key: %s\n    base_url: %s/a/%d\n    currency: RUB\n",
				a.ID, smsKey(a.N), host.SMSURL, a.N)
		}
	}
	if slices.Contains(cfg.Kinds, "sms") {
		// What the SMS accounts watch: the price and stock of two (service, country) pairs.
		b.WriteString("sms:\n  watch:\n    - {service: tg, country: us}\n    - {service: wa, country: us}\n  currency: RUB\n")
	}
	return b.String()
}

type runRow struct {
	id       int64
	started  int64
	duration int64
	ok       bool
}

var errBusy = errors.New("busy")

func readRuns(db *sql.DB, after int64) ([]runRow, error) {
	rows, err := db.Query(`SELECT id, started, duration_ns, ok FROM runs WHERE id > ? AND account GLOB '[tgos][0-9]*' ORDER BY id`, after)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
			return nil, errBusy
		}
		return nil, err
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		var r runRow
		if err := rows.Scan(&r.id, &r.started, &r.duration, &r.ok); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func summarize(k int, runs []runRow, before, after hostStats, cpu float64, cfg loadConfig) cycleResult {
	c := cycleResult{N: k, Polls: len(runs), CPUSeconds: cpu, ByKind: map[string]int64{}}
	first, last := runs[0].started, runs[0].started+runs[0].duration
	lat := make([]float64, 0, len(runs))
	for _, r := range runs {
		first = min(first, r.started)
		last = max(last, r.started+r.duration)
		lat = append(lat, float64(r.duration)/1e6)
		if !r.ok {
			c.Failed++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	c.P50, c.P95, c.P99 = pct(0.50), pct(0.95), pct(0.99)
	c.Seconds = float64(last-first) / 1e9
	c.PollsPerSecond = float64(c.Polls) / c.Seconds
	c.CPUPer1000 = cpu / float64(c.Polls) * 1000
	c.LowerBound = float64(after.Delayed-before.Delayed) * cfg.Latency.Seconds() / float64(cfg.Concurrency)
	c.Messages, c.Bytes = after.Messages-before.Messages, after.Bytes-before.Bytes
	for kind, v := range after.ByKind {
		if d := v - before.ByKind[kind]; d > 0 {
			c.ByKind[kind] = d
		}
	}
	c.StateChanged = after.StateChanges - before.StateChanges
	c.StateLastPoll = after.StateLastPoll - before.StateLastPoll
	c.StateFirst = after.StateFirstSeen - before.StateFirstSeen
	c.Logins = after.Logins - before.Logins
	c.Requests = after.Requests - before.Requests
	return c
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

// liveHeap is the heap that survived the last completed GC (what the heap profile shows).
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// procStatus reads a "kB" field of /proc/<pid>/status, in MB (pid "self": this process).
func procStatus(pid, field string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// procCPU is the user+system CPU time of process pid, in seconds (0 when unreadable).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields follow the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st float64
	fmt.Sscanf(f[11], "%f", &ut) // utime, field 14
	fmt.Sscanf(f[12], "%f", &st) // stime, field 15
	return (ut + st) / 100       // USER_HZ is 100 on Linux
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// hostClient reads the host's counters.
type hostClient struct{ url string }

func (h *hostClient) expire() error {
	resp, err := http.Get(h.url + "/expire")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (h *hostClient) stats() (hostStats, error) {
	var s hostStats
	resp, err := http.Get(h.url + "/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}
