package providers

import (
	"errors"
	"fmt"
)

// Error kinds. Providers wrap them with %w; the poller classifies with errors.Is.
var (
	// ErrAuth: the session is no longer valid (token expired, logged in elsewhere). The
	// provider forgets its session before returning it; the poller retries the poll once,
	// which logs in again. Never a loop.
	ErrAuth = errors.New("authentication expired")
	// ErrRateLimited: the upstream (or our own login guard) asks us to wait. The poller
	// backs off and the last good values stay.
	ErrRateLimited = errors.New("rate limited")
	// ErrPermanent: polling cannot succeed until the user acts (wrong password, captcha,
	// client version refused). The poller quarantines the account until its config changes.
	ErrPermanent = errors.New("permanent failure")
)

// Kind names the class of err for logs, the store and diagnostics.
func Kind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrPermanent):
		return "permanent"
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	default:
		return "transient"
	}
}

// Permanent wraps a user-facing instruction as a permanent error, e.g.
// Permanent("wrong service password (2 tries left): check `password`").
func Permanent(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPermanent, fmt.Sprintf(format, args...))
}

// SettingError is a problem with one setting of an account, or of a group's config
// section. A factory returns one per problem (errors.Join them); the daemon reports each
// at the line of its key, e.g. "config.yaml:12: accounts[0].user_code: required (…)".
type SettingError struct {
	// Key is the setting as written under the account (or section): "user_code",
	// "watch[1].service"; "" is the account or section as a whole.
	Key string
	Err error
}

func (e *SettingError) Error() string {
	if e.Key == "" {
		return e.Err.Error()
	}
	return e.Key + ": " + e.Err.Error()
}

func (e *SettingError) Unwrap() error { return e.Err }

// Settingf returns a SettingError about key; the message should not repeat the key.
func Settingf(key, format string, args ...any) error {
	return &SettingError{Key: key, Err: fmt.Errorf(format, args...)}
}
