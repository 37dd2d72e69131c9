package daemon

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Check is `bridge check`: it validates what config.Inspect returned as far as can be
// done without I/O — every enabled account's provider settings and schedule, every
// group's section, the broker's TLS files — and returns every problem at once, the file's
// own included (loadErr), sorted by line and none twice. nil means the config can run.
// The secrets the config holds are registered with red. The web UI's config editor runs it
// too (CheckData).
func Check(cfg *config.Config, loadErr error, red *logging.Redactor) error {
	var errs config.Errors
	if loadErr != nil {
		if !errors.As(loadErr, &errs) || cfg == nil {
			return loadErr
		}
	}
	for _, s := range cfg.Secrets {
		red.AddSecret(s)
	}
	opts := BuildOptions{Redactor: red}
	accounts, err := BuildAccounts(cfg, opts)
	errs = appendNew(errs, err)
	groups, err := BuildGroups(cfg, accounts, opts)
	errs = appendNew(errs, err)
	errs = appendNew(errs, checkLoneSections(cfg, accounts, groups, red))
	if _, err := TLSConfig(cfg.MQTT); err != nil {
		// TLSConfig's messages start with the key: "mqtt.ca_file: …".
		key, msg, _ := strings.Cut(err.Error(), ": ")
		key, _, _ = strings.Cut(key, "/")
		errs = appendNew(errs, config.Errors{cfg.Errorf(key, "%s", msg)})
	}
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b config.Error) int { return a.Line - b.Line })
	return errs
}

// checkLoneSections decodes the sections of kinds whose group was not built because
// none of its accounts did (they are all wrong, or disabled), so that their mistakes
// show up in the same run: the group factory gets no members.
func checkLoneSections(cfg *config.Config, accounts []Account, groups []Group, red *logging.Redactor) error {
	built := map[string]bool{}
	for _, g := range groups {
		built[g.Kind] = true
	}
	for _, a := range accounts {
		built[a.Info.Kind] = true // built, or failed with its errors reported
	}
	var errs config.Errors
	for kind, section := range cfg.Sections {
		info, ok := providers.Lookup(kind)
		if !ok || info.Group == nil || built[kind] || !section.Present() {
			continue
		}
		_, err := info.Group(nil, providers.GroupDeps{
			Logger:  slog.New(slog.DiscardHandler),
			KV:      &providers.MemoryKV{},
			Now:     time.Now,
			Decode:  func(v any) error { return section.Decode(v, red.AddSecret) },
			Publish: func(string, []byte, bool) error { return errors.New("not publishing while validating") },
			Secret:  red.AddSecret,
		})
		errs = append(errs, settingErrors(err, func(key, msg string) config.Error { return section.Errorf(key, "%s", msg) }, "")...)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// appendNew adds the config errors in err that are not there yet: a key already wrong
// in the file (an unknown provider, say) is not reported again by what builds on it.
func appendNew(errs config.Errors, err error) config.Errors {
	var more config.Errors
	if err == nil {
		return errs
	}
	if !errors.As(err, &more) {
		return append(errs, config.Error{Msg: err.Error()})
	}
	have := map[string]bool{}
	for _, e := range errs {
		have[e.Path] = true
	}
	for _, e := range more {
		if !have[e.Path] || e.Path == "" {
			errs = append(errs, e)
		}
	}
	return errs
}
