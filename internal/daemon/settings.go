package daemon

import (
	"errors"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// settingErrors turns what a factory returned into config errors: the config's own
// (from Decode) as they are, each providers.SettingError at its key through at, anything
// else at fallback's key. A setting Decode already found wrong gets no second error.
func settingErrors(err error, at func(key, msg string) config.Error, fallback string) config.Errors {
	var decoded, settings config.Errors
	var walk func(error)
	walk = func(e error) {
		var ce config.Errors
		var se *providers.SettingError
		switch x := e.(type) {
		case nil:
		case config.Errors:
			decoded = append(decoded, x...)
		case config.Error:
			decoded = append(decoded, x)
		case *providers.SettingError:
			settings = append(settings, at(x.Key, x.Err.Error()))
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		default:
			switch {
			case errors.As(e, &ce):
				decoded = append(decoded, ce...)
			case errors.As(e, &se):
				settings = append(settings, at(se.Key, se.Err.Error()))
			default:
				settings = append(settings, at(fallback, e.Error()))
			}
		}
	}
	walk(err)
	failed := map[string]bool{}
	for _, e := range decoded {
		failed[e.Path] = true
	}
	out := decoded
	for _, e := range settings {
		if !failed[e.Path] {
			out = append(out, e)
		}
	}
	return out
}
