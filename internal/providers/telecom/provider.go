// Package telecom polls China Telecom (中国电信) phone plans through the app API: balance,
// arrears, voice, data, packages and shared-plan members, plus the legacy /summary JSON of
// ChinaTelecomMonitor on <base>/<device>/summary. The user guide and the
// protocol notes (section "Protocol notes") are in docs/telecom.md.
package telecom

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"crypto/pbkdf2"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Kind is the provider name in the config.
const Kind = "telecom"

func init() {
	providers.Register(providers.Info{Kind: Kind, Description: "China Telecom phone plan (balance, voice, data)",
		DefaultSchedule: "@every 1h", Factory: New, Names: Names, Settings: &Settings{}})
}

// Defaults of the settings that are not protocol constants.
const (
	DefaultMinLoginInterval       = 10 * time.Minute
	DefaultMaxLoginFailuresPerDay = 5
)

// Settings are the account's provider-specific keys.
type Settings struct {
	Phone                  string         `yaml:"phone"`
	Password               string         `yaml:"password" secret:"true"` // the 6-digit service password (服务密码)
	DeviceID               string         `yaml:"device_id"`              // an SMS-verified DeviceId, for code 3006
	ClientVersion          string         `yaml:"client_version"`         // default DefaultClientVersion
	BaseURL                string         `yaml:"base_url"`               // query host, default DefaultBaseURL
	LoginURL               string         `yaml:"login_url"`              // login host, default DefaultLoginURL
	RSAPublicKey           string         `yaml:"rsa_public_key"`         // PEM or Base64; default DefaultRSAPublicKey
	Packages               *bool          `yaml:"packages"`               // userFluxPackage detail; default true
	ShareUsage             *bool          `yaml:"share_usage"`            // qryShareUsage; default true
	SummaryFullNumber      bool           `yaml:"summary_full_number"`    // the full number in /summary's phonenum; default masked
	MinLoginInterval       *time.Duration `yaml:"min_login_interval"`     // default 10m
	MaxLoginFailuresPerDay *int           `yaml:"max_login_failures_per_day"`
}

// KV keys (per account).
const (
	kvSession = "telecom.session"    // session JSON: token, userId, provinceCode, cityCode
	kvDevice  = "telecom.device_uid" // the stable random device uid
	kvBlocked = "telecom.blocked"    // a permanent login refusal for these settings
)

// Provider polls one phone number.
type Provider struct {
	id        string
	deviceID  string
	phone     string
	summaryNo string // phonenum of /summary: masked unless summary_full_number
	packages  bool
	share     bool
	setDevice string
	c         *client
	kv        providers.KV
	secret    func(string)
	log       *slog.Logger
	guard     providers.LoginGuard // its Now is the clock, its MaxFailuresPerDay the daily limit
	rest      restSettings         // with the fields above: the settings (see settings)
	mu        sync.Mutex

	sessMu sync.Mutex
	sess   *session // the stored session, once read or made: not re-read on every poll

	// The hash of the last /summary content without createTime, and that createTime:
	// while the content stays the same, the payload is returned with the kept createTime,
	// byte for byte the last one, and nothing is re-published. Not the payload itself:
	// the publisher keeps that (deflated), and thousands of accounts would hold it twice.
	sumMu   sync.Mutex
	sumSet  bool
	sumHash uint64
	sumTime [len(summaryTimeLayout)]byte
}

// restSettings are the account's settings that the Provider's other fields do not hold,
// as given (nil: not set). A whole copy of Settings cost about 150 bytes per account.
type restSettings struct {
	rsaPublicKey         string
	packages, shareUsage *bool
	minLoginInterval     *time.Duration
	maxLoginFailures     *int
	summaryFullNumber    bool
}

// settings are the account's settings after defaults, which a permanent refusal is tied
// to (never logged).
func (p *Provider) settings() Settings {
	return Settings{Phone: p.phone, Password: p.c.password, DeviceID: p.setDevice,
		ClientVersion: p.c.clientVersion, BaseURL: p.c.baseURL, LoginURL: p.c.loginURL,
		RSAPublicKey: p.rest.rsaPublicKey, Packages: p.rest.packages, ShareUsage: p.rest.shareUsage,
		SummaryFullNumber: p.rest.summaryFullNumber, MinLoginInterval: p.rest.minLoginInterval,
		MaxLoginFailuresPerDay: p.rest.maxLoginFailures}
}

var (
	phoneRe    = regexp.MustCompile(`^1[0-9]{10}$`)
	passwordRe = regexp.MustCompile(`^[0-9]{6}$`)
	versionRe  = regexp.MustCompile(`^[0-9]+(\.[0-9]+){1,3}$`)
	deviceRe   = regexp.MustCompile(`^[0-9A-Za-z._-]{1,64}$`)
)

// New validates the account and builds its provider. It does no I/O.
func New(acct providers.Account, deps providers.Deps) (providers.Provider, error) {
	var s Settings
	// Decode's errors and the checks below are reported together; a key Decode rejected
	// is left zero here, and the daemon drops the second error about it.
	problems := []error{acct.Decode(&s)}
	bad := func(key, format string, args ...any) {
		problems = append(problems, providers.Settingf(key, format, args...))
	}

	s.Phone = strings.TrimSpace(s.Phone)
	switch {
	case s.Phone == "":
		bad("phone", "required: the 11-digit China Telecom mobile number, quoted (phone: \"18912345678\")")
	case !phoneRe.MatchString(s.Phone):
		bad("phone", "expected an 11-digit mobile number starting with 1, quoted (phone: \"18912345678\")")
	}
	switch {
	case s.Password == "":
		bad("password", "required: the 6-digit service password (服务密码) of the number, quoted")
	case !passwordRe.MatchString(s.Password):
		bad("password", "expected the 6-digit service password (服务密码), quoted (password: \"012345\"); the 天翼账号/web password does not work")
	}
	if s.DeviceID != "" && !deviceRe.MatchString(s.DeviceID) {
		bad("device_id", "expected letters, digits, '.', '_' or '-' (at most 64), as shown by the SMS authorisation")
	}
	s.ClientVersion = or(strings.TrimSpace(s.ClientVersion), DefaultClientVersion)
	if !versionRe.MatchString(s.ClientVersion) {
		bad("client_version", "expected an app version like %s", DefaultClientVersion)
	}
	checkURL := func(key string, v *string, def string) {
		*v = strings.TrimRight(or(strings.TrimSpace(*v), def), "/")
		u, err := url.Parse(*v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			bad(key, "expected an http(s)://host[:port] URL (default %s)", def)
		}
	}
	checkURL("base_url", &s.BaseURL, DefaultBaseURL)
	checkURL("login_url", &s.LoginURL, DefaultLoginURL)
	var pub *rsa.PublicKey
	if text, k, err := sharedPublicKey(or(s.RSAPublicKey, DefaultRSAPublicKey)); err != nil {
		bad("rsa_public_key", "%v: expected a PEM \"PUBLIC KEY\" block or its Base64 body", err)
	} else if k.Size() < 64 || k.Size() > 512 {
		bad("rsa_public_key", "unexpected key size %d bits", k.N.BitLen())
	} else {
		pub = k
		if s.RSAPublicKey != "" {
			s.RSAPublicKey = text // the same text, shared by every account that gives it
		}
	}
	interval := DefaultMinLoginInterval
	if s.MinLoginInterval != nil {
		if *s.MinLoginInterval < 0 {
			bad("min_login_interval", "must not be negative, got %s", *s.MinLoginInterval)
		}
		interval = *s.MinLoginInterval
	}
	maxFail := DefaultMaxLoginFailuresPerDay
	if s.MaxLoginFailuresPerDay != nil {
		maxFail = *s.MaxLoginFailuresPerDay
		if maxFail < 0 {
			bad("max_login_failures_per_day", "expected 0 (no limit) or more")
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	deps = deps.WithDefaults()
	if deps.KV == nil {
		return nil, errors.New("telecom: no key/value store")
	}
	deps.Secret(s.Password)
	p := &Provider{
		id: acct.ID, deviceID: providers.DeviceID(Kind, acct.ID), phone: s.Phone, summaryNo: logging.MaskPhoneNumber(s.Phone),
		packages: s.Packages == nil || *s.Packages, share: s.ShareUsage == nil || *s.ShareUsage,
		setDevice: s.DeviceID,
		c: &client{http: deps.HTTP, loginURL: s.LoginURL, baseURL: s.BaseURL, clientVersion: s.ClientVersion,
			pub: pub, phone: s.Phone, password: s.Password},
		kv: deps.KV, secret: deps.Secret, log: deps.Logger,
		guard: providers.LoginGuard{KV: deps.KV, Now: deps.Now, MinInterval: interval,
			MaxFailuresPerDay: maxFail, Location: wire.CST},
		// Any change of the account's settings lifts a recorded permanent refusal, as any
		// change of the account's config lifts the poller's quarantine.
		rest: restSettings{rsaPublicKey: s.RSAPublicKey, packages: s.Packages, shareUsage: s.ShareUsage,
			minLoginInterval: s.MinLoginInterval, maxLoginFailures: s.MaxLoginFailuresPerDay,
			summaryFullNumber: s.SummaryFullNumber},
	}
	if s.SummaryFullNumber {
		p.summaryNo = s.Phone // the user's choice: panels that show the number (docs/telecom.md)
	}
	return p, nil
}

// publicKeys holds the parsed RSA keys by their configured text: every account that
// gives the same key (usually the app's) shares one parsed key and one copy of the text.
var publicKeys sync.Map // string → *publicKey

type publicKey struct {
	text string
	key  *rsa.PublicKey
}

// sharedPublicKey is ParsePublicKey, parsing each distinct text once. The key is only
// read (encryption), so it can be shared.
func sharedPublicKey(text string) (string, *rsa.PublicKey, error) {
	if v, ok := publicKeys.Load(text); ok {
		pk := v.(*publicKey)
		return pk.text, pk.key, nil
	}
	k, err := ParsePublicKey(text)
	if err != nil {
		return "", nil, err
	}
	v, _ := publicKeys.LoadOrStore(text, &publicKey{text: strings.Clone(text), key: k})
	pk := v.(*publicKey)
	return pk.text, pk.key, nil
}

// Poll logs in when needed (token reused across polls and restarts), queries the plan and
// converts it.
func (p *Provider) Poll(ctx context.Context) (providers.Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.guard.Now()
	sess, err := p.session(ctx, now)
	if err != nil {
		return providers.Snapshot{}, err
	}
	data, err := p.c.importantData(ctx, sess, now)
	if err != nil {
		return providers.Snapshot{}, p.queryFailed(ctx, err)
	}
	in := Input{DeviceID: p.deviceID, Phone: p.phone, Now: now, Data: data, WithPlan: p.packages, WithShr: p.share}
	if p.packages {
		pk, err := p.c.packages(ctx, sess, now)
		if errors.Is(err, providers.ErrAuth) || ctx.Err() != nil {
			return providers.Snapshot{}, p.queryFailed(ctx, err)
		} else if err != nil {
			p.log.Warn("package detail unavailable this poll; the plan and package attributes are left out", "err", err)
		}
		in.Packages = pk
	}
	if p.share {
		sh, err := p.c.share(ctx, sess, now)
		if errors.Is(err, providers.ErrAuth) || ctx.Err() != nil {
			return providers.Snapshot{}, p.queryFailed(ctx, err)
		} else if err != nil {
			p.log.Warn("shared-plan usage unavailable this poll; the members sensor is left out", "err", err)
		}
		in.Share = sh
	}
	dev := Convert(in)
	dev.Topics = map[string][]byte{"summary": p.summary(data, now)}
	return providers.Snapshot{Account: p.id, Time: now, Devices: []providers.Device{dev}}, nil
}

var summarySeed = maphash.MakeSeed()

// summary is the /summary payload of this poll. createTime is when the content last
// changed: while everything else stays the same, the previous payload is returned as it
// was, so an unchanged account re-publishes nothing (docs/telecom.md, "Migrating from
// ChinaTelecomMonitor").
func (p *Provider) summary(data *importantData, now time.Time) []byte {
	b := SummaryJSON(p.summaryNo, data, now)
	var h maphash.Hash
	h.SetSeed(summarySeed)
	const field = `"createTime":"`
	var created []byte // b's createTime, patched in place
	if i := bytes.Index(b, []byte(field)); i >= 0 {
		j := i + len(field)
		if k := bytes.IndexByte(b[j:], '"'); k == len(summaryTimeLayout) {
			created = b[j : j+k]
		}
		h.Write(b[:j])
		h.Write(b[j+len(created):])
	} else {
		h.Write(b)
	}
	sum := h.Sum64()
	p.sumMu.Lock()
	defer p.sumMu.Unlock()
	if created == nil {
		p.sumSet = false // cannot happen: BuildSummary always writes it
		return b
	}
	if p.sumSet && sum == p.sumHash {
		copy(created, p.sumTime[:])
		return b
	}
	p.sumSet, p.sumHash = true, sum
	copy(p.sumTime[:], created)
	return b
}

// queryFailed forgets the session when the upstream says it is dead (X201): the poller
// then retries the poll once, and that retry logs in again.
func (p *Provider) queryFailed(ctx context.Context, err error) error {
	if err == nil {
		err = ctx.Err()
	}
	if errors.Is(err, providers.ErrAuth) {
		p.setSession(nil)
		if derr := p.kv.Delete(ctx, kvSession); derr != nil {
			return fmt.Errorf("forgetting the expired session: %w", derr)
		}
		return fmt.Errorf("session of %s expired or was logged in elsewhere: %w", logging.MaskPhoneNumber(p.phone), err)
	}
	return err
}

// session returns the stored session, or logs in.
func (p *Provider) session(ctx context.Context, now time.Time) (session, error) {
	p.sessMu.Lock()
	cached := p.sess
	p.sessMu.Unlock()
	if cached != nil {
		return *cached, nil
	}
	raw, ok, err := p.kv.Get(ctx, kvSession)
	if err != nil {
		return session{}, err
	}
	if ok {
		var s session
		if json.Unmarshal(raw, &s) == nil && s.Token != "" && s.Phone == p.phone {
			p.secret(s.Token)
			p.setSession(&s)
			return s, nil
		}
	}
	return p.login(ctx, now)
}

// setSession caches the stored session (nil: forgotten).
func (p *Provider) setSession(s *session) {
	p.sessMu.Lock()
	p.sess = s
	p.sessMu.Unlock()
}

// login runs one guarded login and stores its session.
func (p *Provider) login(ctx context.Context, now time.Time) (session, error) {
	if msg, blocked, err := p.blocked(ctx); err != nil {
		return session{}, err
	} else if blocked {
		// A permanent refusal for exactly these settings: never ask again (a restart must not
		// bypass it). Editing the account's settings lifts it.
		return session{}, providers.Permanent("%s", msg)
	}
	if err := p.guard.Begin(ctx); err != nil {
		return session{}, fmt.Errorf("login of %s not attempted: %w", logging.MaskPhoneNumber(p.phone), err)
	}
	dev, err := p.device(ctx)
	if err != nil {
		_ = p.guard.End(ctx, err)
		return session{}, err
	}
	s, err := p.c.login(ctx, dev, now)
	if gerr := p.guard.End(ctx, err); gerr != nil {
		p.log.Warn("recording the login outcome", "err", gerr)
	}
	if err != nil {
		var le *loginError
		if !errors.As(err, &le) {
			return session{}, err
		}
		left := -1
		if maxFail := p.guard.MaxFailuresPerDay; maxFail > 0 {
			if n, ferr := p.guard.FailuresToday(ctx); ferr == nil {
				left = max(maxFail-n, 0)
			}
		}
		out := loginOutcome(le, left, p.c.clientVersion)
		if errors.Is(out, providers.ErrPermanent) {
			p.block(ctx, strings.TrimPrefix(out.Error(), providers.ErrPermanent.Error()+": "))
		}
		return session{}, out
	}
	p.secret(s.Token)
	buf, _ := json.Marshal(s)
	if err := p.kv.Set(ctx, kvSession, buf); err != nil {
		return session{}, fmt.Errorf("storing the session: %w", err)
	}
	p.setSession(&s)
	p.log.Info("logged in to China Telecom", "phone", logging.MaskPhoneNumber(p.phone))
	return s, nil
}

// device returns the login's device identity: the configured device_id (as the HA
// integration does for code 3006), or a random uid created once and kept in the KV so the
// server sees one stable device per account.
func (p *Provider) device(ctx context.Context) (device, error) {
	if p.setDevice != "" {
		return device{Slot: p.setDevice, UID: "3" + p.phone, AndroidID: p.setDevice}, nil
	}
	raw, ok, err := p.kv.Get(ctx, kvDevice)
	if err != nil {
		return device{}, err
	}
	uid := string(raw)
	if !ok || len(uid) != 16 {
		var b strings.Builder
		for range 16 {
			d, err := rand.Int(rand.Reader, big.NewInt(10))
			if err != nil {
				return device{}, err
			}
			b.WriteByte(byte('0' + d.Int64()))
		}
		uid = b.String()
		if err := p.kv.Set(ctx, kvDevice, []byte(uid)); err != nil {
			return device{}, err
		}
	}
	return device{Slot: uid[:12], UID: uid}, nil
}

// blockedRecord ties a permanent refusal to the settings it happened with. The settings
// (which include the password) are kept only as a salted PBKDF2 hash.
type blockedRecord struct {
	Salt    string `json:"salt"`
	Hash    string `json:"hash"`
	Message string `json:"message"`
}

const blockIterations = 4096

// settingsHash hashes the canonical JSON of the settings (after defaults), as stored
// records were made.
func (p *Provider) settingsHash(salt []byte) string {
	canon, _ := json.Marshal(p.settings())
	k, _ := pbkdf2.Key(sha256.New, string(canon), salt, blockIterations, 32)
	return hex.EncodeToString(k)
}

func (p *Provider) blocked(ctx context.Context) (string, bool, error) {
	raw, ok, err := p.kv.Get(ctx, kvBlocked)
	if err != nil || !ok {
		return "", false, err
	}
	var r blockedRecord
	if json.Unmarshal(raw, &r) != nil {
		return "", false, p.kv.Delete(ctx, kvBlocked)
	}
	salt, herr := hex.DecodeString(r.Salt)
	if herr == nil && subtle.ConstantTimeCompare([]byte(p.settingsHash(salt)), []byte(r.Hash)) == 1 {
		return r.Message, true, nil
	}
	// The settings changed since the refusal: try again.
	return "", false, p.kv.Delete(ctx, kvBlocked)
}

func (p *Provider) block(ctx context.Context, msg string) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	buf, _ := json.Marshal(blockedRecord{Salt: hex.EncodeToString(salt), Hash: p.settingsHash(salt), Message: msg})
	if err := p.kv.Set(ctx, kvBlocked, buf); err != nil {
		p.log.Warn("recording the permanent login refusal", "err", err)
	}
}
