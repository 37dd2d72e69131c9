package providers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Provider polls one configured account.
type Provider interface {
	// Poll fetches the account once. It honours ctx and leaves no goroutine behind.
	Poll(ctx context.Context) (Snapshot, error)
}

// Commander is implemented by providers whose entities take commands (buttons). The
// payload is what HA or a flow published on <base>/<device>/<key>/set. The outcome is
// reported as events (published on <base>/<device>/event for the device's HA event
// entity); an error is only for commands that could not be carried out at all.
type Commander interface {
	Command(ctx context.Context, device, key string, payload []byte) ([]DeviceEvent, error)
}

// DeviceEvent is a one-off happening on a device, e.g. {Type: "withdrawn", Attributes:
// {"amount": 1.5}}. Type must be one of the EventTypes of the device's event entity.
type DeviceEvent struct {
	Device     string
	Type       string
	Attributes map[string]any
}

// Closer is implemented by providers holding resources beyond the poll.
type Closer interface {
	Close() error
}

// Account is one configured account as the provider sees it.
type Account struct {
	ID       string // [a-z0-9_]+, unique
	Provider string
	Name     string // user-facing name; may be empty
	Proxy    string // per-account proxy URL (also applied by httpx)
	// Decode strictly decodes the provider-specific keys of the account into v (a pointer
	// to a struct with yaml tags). Unknown keys and type errors come back with file:line.
	// Fields tagged `secret:"true"` are registered with the log redactor. It is always set
	// (by the daemon, or by a test): a factory calls it without checking for nil, and
	// keeps going after its errors so that they are reported with its own (SettingError).
	Decode func(v any) error
}

// KV is a per-account persistent key/value store for sessions, tokens and cookies.
type KV interface {
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// Deps are what a factory gets besides the account: everything with side effects.
type Deps struct {
	Logger *slog.Logger     // already carries the account id
	HTTP   *http.Client     // from httpx: timeouts, proxy, cookie jar, debug transport
	KV     KV               // survives restarts
	Now    func() time.Time // the clock
	// Secret registers a value (password, token) that must never appear in logs.
	Secret func(value string)
}

// WithDefaults fills what a caller left unset (tests, tools; the daemon sets everything):
// a discarding logger, the wall clock, a no-op secret registry and an HTTP client with a
// one-minute timeout. KV is left as given: whether a provider can do without a
// persistent store is its own decision.
func (d Deps) WithDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Secret == nil {
		d.Secret = func(string) {}
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: time.Minute}
	}
	return d
}

// Factory validates the account and builds its provider. It does no I/O.
type Factory func(acct Account, deps Deps) (Provider, error)

// Info describes a registered provider kind.
type Info struct {
	Kind            string
	Description     string
	DefaultSchedule string // used when neither the account nor defaults set a schedule
	Factory         Factory
	// Group, when set, coordinates all accounts of the kind (see Group); GroupSchedule is
	// how often its own devices are polled (default @every 1m).
	Group         GroupFactory
	GroupSchedule string
	// Names are the provider's entity and device names by language ("zh"); English is what
	// the provider itself produces.
	Names map[string]Names
	// Settings is a pointer to the zero value of the struct an account's provider keys
	// decode into (yaml tags): tests walk it to keep the app schema, its translations and
	// config.example.yaml in step with the code.
	Settings any
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Info{}
)

// Register adds a provider kind; call it from the provider package's init.
func Register(info Info) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[info.Kind]; dup {
		panic("providers: duplicate registration of " + info.Kind)
	}
	registry[info.Kind] = info
}

// Lookup returns the registered provider kind.
func Lookup(kind string) (Info, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	info, ok := registry[kind]
	return info, ok
}

// Kinds lists the registered provider kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	kinds := make([]string, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// SectionKinds lists the kinds that own a top-level config section named after them
// (those with a Group, which decodes it), sorted: config.LoadOptions.Sections.
func SectionKinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	var kinds []string
	for k, info := range registry {
		if info.Group != nil {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	return kinds
}

// New builds the provider for acct through its registered factory.
func New(acct Account, deps Deps) (Provider, error) {
	info, ok := Lookup(acct.Provider)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q (known: %v)", acct.Provider, Kinds())
	}
	p, err := info.Factory(acct, deps)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", acct.ID, err)
	}
	return p, nil
}
