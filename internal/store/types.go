package store

import "time"

// DeviceRecord is the last published form of one device, kept so states can be
// re-published at start before the first poll finishes.
type DeviceRecord struct {
	Account  string
	DeviceID string
	Model    []byte // JSON of the device model (providers.Device without values)
	State    []byte // the exact JSON state payload last published
	Updated  time.Time
}

// Run is one poll of one account.
type Run struct {
	Account   string
	Started   time.Time
	Duration  time.Duration
	OK        bool
	ErrorKind string // "", auth, rate_limited, permanent, transient, panic, timeout
	Message   string // already redacted
}

// AccountState is what the poller must remember about an account across restarts.
type AccountState struct {
	Account             string
	ConsecutiveFailures int
	LastRun             time.Time
	LastOK              time.Time
	LastErrorKind       string
	LastError           string // already redacted
	BackoffUntil        time.Time
	// QuarantineFingerprint is the config fingerprint the account was quarantined with;
	// empty when not quarantined. A different fingerprint at start lifts the quarantine.
	QuarantineFingerprint string
	QuarantineReason      string
}

// AlertState is the persisted state of one alert rule for one subject.
type AlertState struct {
	Rule    string
	Subject string
	State   string // ok, pending, firing, resolved
	Since   time.Time
	Updated time.Time
	Data    []byte // rule-specific JSON (last value, last notification, …)
}
