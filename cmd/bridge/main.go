// Command bridge is the accountbridge daemon and its tools.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/daemon"
	"github.com/accountbridge/accountbridge/internal/demo"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	_ "github.com/accountbridge/accountbridge/internal/providers/all"
	"github.com/accountbridge/accountbridge/internal/supervisor"
	"github.com/accountbridge/accountbridge/internal/version"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the daemon or a poll failed
	exitConfig  = 2 // usage or configuration error
)

const usage = `accountbridge: household service accounts → MQTT / Home Assistant

Usage:
  bridge [run] [-c config.yaml]        run the daemon (the default)
  bridge check [-c config.yaml]        validate the config and print it with secrets masked
  bridge once [-c config.yaml] [ID]    poll every account (or account ID) once, print JSON Lines; no MQTT
  bridge reset [-c config.yaml] ID     lift account ID's quarantine and backoff (takes effect at the next start)
  bridge health [-c config.yaml]       exit 0 when the running daemon is healthy (Docker healthcheck)
  bridge demo [--broker URL] [--data DIR] [--every 10s] [--web ADDR]  fake upstreams, a broker and the daemon (and its web UI), all on this machine
  bridge demo --fakes-only [--data DIR] [--accounts N]  only the fake upstreams, and DIR/config.yaml for them
  bridge version                       print the version

Without -c the config is /config/accountbridge.yaml or /data/options.json when one exists
(Home Assistant app), else config.yaml.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("bridge "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var path string
	fs.StringVar(&path, "c", "", "config file")
	fs.StringVar(&path, "config", "", "config file")
	var demoOpts demo.Options
	if cmd == "demo" {
		fs.StringVar(&demoOpts.Broker, "broker", "", "MQTT broker URL (default: embedded on 127.0.0.1:1883, or the broker already there)")
		fs.StringVar(&demoOpts.DataDir, "data", "", "keep the demo's config and store in this directory (default: a temporary one, removed on exit)")
		fs.DurationVar(&demoOpts.Every, "every", 10*time.Second, "poll interval of the demo accounts")
		fs.BoolVar(&demoOpts.FakesOnly, "fakes-only", false, "start only the fake upstreams and write DIR/config.yaml for them (no broker, no daemon)")
		fs.IntVar(&demoOpts.Accounts, "accounts", 0, "accounts per provider (default: one each, three SMS platforms)")
		fs.StringVar(&demoOpts.Web, "web", "127.0.0.1:0", "serve the web UI on this address (default: a free loopback port; off: no UI)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "accountbridge %s\n", version.String())
		return exitOK
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "run", "check", "once", "health", "reset":
	case "demo":
		if demoOpts.Accounts < 0 {
			fmt.Fprintf(stderr, "bridge demo: --accounts %d: want a count of accounts per provider (0: the usual demo)\n", demoOpts.Accounts)
			return exitConfig
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "bridge demo: unexpected argument %q\n\n%s", fs.Arg(0), usage)
			return exitConfig
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		demoOpts.Out, demoOpts.Log = stdout, stderr
		if err := demo.Run(ctx, demoOpts); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return exitFailure
		}
		return exitOK
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return exitConfig
	}

	path = config.ResolvePath(path, config.AppConfigPath, config.OptionsPath)
	opts := config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()}
	if cmd == "check" {
		return check(path, opts, stdout, stderr)
	}
	cfg, err := config.Load(path, opts)
	if err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			// The complete list, as `bridge check` gives it, not only the file's own errors.
			if data, rerr := os.ReadFile(path); rerr == nil {
				partial, ierr := config.Inspect(path, data, opts)
				err = daemon.Check(partial, ierr, logging.NewRedactor())
			}
		}
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	red := logging.NewRedactor()
	log, err := daemon.Logger(cfg, red)
	if err != nil {
		fmt.Fprintf(stderr, "%s: log: %v\n", path, err)
		return exitConfig
	}

	switch cmd {
	case "reset":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: bridge reset [-c config.yaml] ACCOUNT")
			return exitConfig
		}
		prev, err := daemon.ResetAccount(context.Background(), cfg, fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailure
		}
		if prev.QuarantineReason != "" {
			fmt.Fprintf(stdout, "%s: quarantine lifted (was: %s); restart the daemon to poll it again\n", fs.Arg(0), prev.QuarantineReason)
		} else {
			fmt.Fprintf(stdout, "%s: was not quarantined; backoff cleared\n", fs.Arg(0))
		}
		return exitOK

	case "health":
		if err := daemon.CheckHealth(cfg, time.Now()); err != nil {
			fmt.Fprintln(stderr, "unhealthy:", err)
			return exitFailure
		}
		return exitOK

	case "once":
		only := fs.Arg(0)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		snaps, err := daemon.PollOnce(ctx, cfg, log, red, only)
		var ce config.Errors
		if errors.As(err, &ce) || errors.Is(err, daemon.ErrNoSuchAccount) {
			fmt.Fprintln(stderr, err)
			return exitConfig
		}
		// JSON Lines: one snapshot per line, for jq and line-reading scripts alike.
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, s := range snaps {
			res, perr := daemon.Present(s)
			if perr != nil {
				fmt.Fprintln(stderr, perr)
				return exitFailure
			}
			if err := enc.Encode(res); err != nil {
				fmt.Fprintln(stderr, err)
				return exitFailure
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailure
		}
		if len(snaps) == 0 {
			fmt.Fprintln(stderr, "no enabled accounts in", path)
		}
		return exitOK
	}

	daemon.TuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := daemon.UseSupervisorBroker(ctx, cfg, log, red, supervisor.DefaultURL, os.Getenv("SUPERVISOR_TOKEN")); err != nil {
		log.Error("stopped before an MQTT broker was found", "err", err)
		return exitFailure
	}
	// Inside the Home Assistant app the UI is the ingress panel.
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Logger: log, Redactor: red, WebIngress: os.Getenv("SUPERVISOR_TOKEN") != ""})
	if err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, err)
			return exitConfig
		}
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	if err := d.Run(ctx); err != nil {
		log.Error("stopped with errors", "err", err)
		return exitFailure
	}
	return exitOK
}

// check is `bridge check`: every problem of the file and of every provider's settings in
// one run, or the resolved config with secrets masked.
func check(path string, opts config.LoadOptions, stdout, stderr io.Writer) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "read config:", err)
		return exitConfig
	}
	cfg, err := config.Inspect(path, data, opts)
	if err := daemon.Check(cfg, err, logging.NewRedactor()); err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	masked, err := cfg.Masked()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	stdout.Write(masked)
	fmt.Fprintf(stderr, "%s: config OK (%d accounts)\n", path, len(cfg.Accounts))
	return exitOK
}
