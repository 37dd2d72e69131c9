package sms

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// Class is how an upstream error is handled (docs/sms.md, "How platforms are picked, and failover").
type Class string

const (
	// ClassFatal: the platform cannot work until the user acts (wrong key, account
	// banned, login refused). The platform is quarantined and skipped by the router.
	ClassFatal Class = "fatal"
	// ClassFunds: the balance is too low. The platform is skipped and its low-balance
	// sensor turns on until a balance check shows more money.
	ClassFunds Class = "needs_funds"
	// ClassNoNumbers: nothing in stock for the pair right now; the router tries the next
	// platform.
	ClassNoNumbers Class = "no_numbers"
	// ClassTryNext: this attempt failed (timeouts, 5xx, server errors, price changed,
	// service unknown on this platform); the router tries the next platform.
	ClassTryNext Class = "try_next"
	// ClassRateLimited: the platform asks us to slow down; the router tries the next
	// platform and the health check backs off.
	ClassRateLimited Class = "rate_limited"
	// ClassOrder: the order itself is refused (unknown activation, bad status
	// transition, early cancel); reported to the caller, no failover.
	ClassOrder Class = "order"
)

// Error is an upstream failure with its class and the platform's own token.
type Error struct {
	Class Class
	Code  string // the upstream token: NO_NUMBERS, wrong_token, "no free phones", HTTP 503…
	Msg   string // what happened, for users
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Code
	}
	if e.Code == "" {
		return e.Msg
	}
	return e.Msg + " (" + e.Code + ")"
}

func newErr(c Class, code, format string, args ...any) *Error {
	return &Error{Class: c, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ClassOf classifies err: an *Error by its class, a cancelled context or a transport
// failure as try-next.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassTryNext
}

// CodeOf is the upstream token of err, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// pollError turns an upstream error into what the poller acts on.
func pollError(err error) error {
	switch ClassOf(err) {
	case ClassFatal:
		return providers.Permanent("%v: check the platform account (api_key, username/password, ban) and fix the config", err)
	case ClassRateLimited:
		return fmt.Errorf("%v: %w", err, providers.ErrRateLimited)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return err
}
