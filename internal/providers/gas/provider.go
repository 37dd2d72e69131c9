// Package gas is the Kunlun/PetroChina gas (昆仑燃气, bol.grs.petrochina.com.cn) provider:
// balance, payments, daily/monthly/yearly use and cost with real tier crossing, and a meter
// reading for Home Assistant's Energy dashboard. See docs/gas.md for users and
// its "Protocol notes" for the upstream.
package gas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
)

// Kind is the provider kind used in the config (`provider: gas`).
const Kind = "gas"

// Production defaults of every upstream knob (docs/gas.md, "Protocol notes").
const (
	DefaultBaseURL       = "https://bol.grs.petrochina.com.cn"
	DefaultAESKey        = "F9ce3yf0GPpbtal2YOE/Vg==" // 24 ASCII bytes used as-is: AES-192
	DefaultSignKey       = "d7b85f6e214abcda"
	DefaultCID           = 2 // 云南中石油昆仑燃气有限公司昆明分公司
	DefaultTierYearStart = "01-01"
	DefaultLoginInterval = 5 * time.Minute
	DefaultUserAgent     = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"
	// kunmingMDM is the company code the clients fall back to for cid 2.
	kunmingMDM = "9AH1"
	// maxLoginFailuresPerDay stops a broken setup from hammering the login endpoint.
	maxLoginFailuresPerDay = 5
)

// KV keys (per account).
const (
	kvSession = "gas.session"
	kvRefused = "gas.login_refused"
	kvDaily   = "gas.daily"
	kvMeter   = "gas.meter_last"
)

func init() {
	providers.Register(providers.Info{Kind: Kind, Description: "Kunlun/PetroChina gas (昆仑燃气) account and meter",
		DefaultSchedule: "@every 1h", Factory: New, Names: Names, Settings: &Settings{}})
}

// Settings are the account's provider keys.
type Settings struct {
	UserCode         string         `yaml:"user_code"` // 户号
	CID              int64          `yaml:"cid"`       // gas company id; default 2 (Kunming)
	Mobile           string         `yaml:"mobile"`    // optional: web account login
	Password         string         `yaml:"password" secret:"true"`
	MDMCode          string         `yaml:"mdm_code"` // company code for the daily call; default from the upstream
	TierYearStart    string         `yaml:"tier_year_start"`
	LowBalance       float64        `yaml:"low_balance"` // used by the alerts feature
	BaseURL          string         `yaml:"base_url"`
	AESKey           string         `yaml:"aes_key"`
	SignKey          string         `yaml:"sign_key"`
	UserAgent        string         `yaml:"user_agent"`
	MinLoginInterval *time.Duration `yaml:"min_login_interval"` // minimum time between two logins
}

// Provider polls one gas account.
type Provider struct {
	acct      providers.Account
	set       Settings
	deps      providers.Deps
	log       *slog.Logger
	c         *client
	guard     providers.LoginGuard
	loggedIn  bool
	lastMeter *float64 // the stored meter reading (kvMeter), once read or written; guarded by mu
	yearStart MonthDay
	devID     string

	mu     sync.Mutex
	warned map[string]bool
}

var (
	userCodeRe = regexp.MustCompile(`^[0-9A-Za-z]{8,20}$`)
	mobileRe   = regexp.MustCompile(`^\+?[0-9]{5,15}$`)
)

// New validates the account and builds its provider; it does no I/O.
// mdmCodeRe is a gas company code (mdm_code), e.g. 9AH1.
var mdmCodeRe = regexp.MustCompile(`^[0-9A-Za-z]{1,16}$`)

func New(acct providers.Account, deps providers.Deps) (providers.Provider, error) {
	var s Settings
	// Decode's errors and the checks below are reported together; a key Decode rejected
	// is left zero here, and the daemon drops the second error about it.
	errs := []error{acct.Decode(&s)}
	bad := func(key, format string, args ...any) { errs = append(errs, providers.Settingf(key, format, args...)) }

	s.UserCode = strings.TrimSpace(s.UserCode)
	if s.UserCode == "" {
		bad("user_code", "required: the 8-digit 户号 on your gas bill or in the app")
	} else if !userCodeRe.MatchString(s.UserCode) {
		bad("user_code", "%q must be the 户号: 8 to 20 letters or digits", s.UserCode)
	}
	if s.CID == 0 {
		s.CID = DefaultCID
	} else if s.CID < 0 {
		bad("cid", "must be a positive gas company id (2 = Kunming), got %d", s.CID)
	}
	s.Mobile = strings.TrimSpace(s.Mobile)
	switch {
	case s.Mobile != "" && s.Password == "":
		bad("password", "required with mobile: set both (to log in) or neither (balance only)")
	case s.Mobile == "" && s.Password != "":
		bad("mobile", "required with password: set both (to log in) or neither (balance only)")
	case s.Mobile != "" && !mobileRe.MatchString(s.Mobile):
		bad("mobile", "%s is not a phone number", logging.MaskPhoneNumber(s.Mobile))
	}
	if s.TierYearStart == "" {
		s.TierYearStart = DefaultTierYearStart
	}
	md, err := ParseMonthDay(s.TierYearStart)
	if err != nil {
		bad("tier_year_start", "%v", err)
	}
	if s.LowBalance < 0 {
		bad("low_balance", "must be 0 or more (CNY), got %g", s.LowBalance)
	}
	if s.BaseURL == "" {
		s.BaseURL = DefaultBaseURL
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "%q must be an http(s) URL such as %s", s.BaseURL, DefaultBaseURL)
	}
	if s.AESKey == "" {
		s.AESKey = DefaultAESKey
	}
	if n := len(s.AESKey); n != 16 && n != 24 && n != 32 {
		bad("aes_key", "must be 16, 24 or 32 characters (the default is %d), got %d", len(DefaultAESKey), n)
	}
	if s.SignKey == "" {
		s.SignKey = DefaultSignKey
	}
	if s.UserAgent == "" {
		s.UserAgent = DefaultUserAgent
	}
	interval := DefaultLoginInterval
	if s.MinLoginInterval != nil {
		if *s.MinLoginInterval < 0 {
			bad("min_login_interval", "must not be negative, got %s", *s.MinLoginInterval)
		}
		interval = *s.MinLoginInterval
	}
	if s.MDMCode != "" && !mdmCodeRe.MatchString(s.MDMCode) {
		bad("mdm_code", "%q must be a company code like 9AH1", s.MDMCode)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	deps = deps.WithDefaults()
	if deps.KV == nil {
		return nil, errors.New("gas: no key/value store")
	}
	if s.Password != "" {
		deps.Secret(s.Password)
	}
	p := &Provider{
		acct: acct, set: s, deps: deps, log: deps.Logger,
		c: &client{http: deps.HTTP, base: s.BaseURL, ua: s.UserAgent, aesKey: []byte(s.AESKey),
			signKey: s.SignKey, cid: s.CID, userCode: s.UserCode, now: deps.Now},
		guard: providers.LoginGuard{KV: deps.KV, Now: deps.Now, MinInterval: interval,
			MaxFailuresPerDay: maxLoginFailuresPerDay},
		loggedIn:  s.Mobile != "",
		yearStart: md,
		devID:     providers.DeviceID(Kind, acct.ID),
		warned:    map[string]bool{},
	}
	return p, nil
}

// Settings returns the validated settings with defaults applied.
func (p *Provider) Settings() Settings { return p.set }

// Poll reads the account once.
func (p *Provider) Poll(ctx context.Context) (providers.Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.deps.Now()
	in := Input{Now: now, UserCode: p.set.UserCode, YearStart: p.yearStart, LoggedIn: p.loggedIn, BaseURL: p.set.BaseURL}
	if p.lastMeter != nil {
		m := *p.lastMeter // read from the store once, then kept with every write
		in.LastMeter = &m
	} else if raw, ok, err := p.deps.KV.Get(ctx, kvMeter); err == nil && ok {
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			in.LastMeter = &f
			p.lastMeter = &f
		}
	}
	if !p.loggedIn {
		d, err := p.c.openDebt(ctx)
		if err != nil {
			return providers.Snapshot{}, err
		}
		in.Debt = &d
	} else {
		sess, err := p.session(ctx)
		if err != nil {
			return providers.Snapshot{}, err
		}
		if err := p.fetch(ctx, sess, &in); err != nil {
			if errors.Is(err, errExpired) {
				if derr := p.deps.KV.Delete(ctx, kvSession); derr != nil {
					return providers.Snapshot{}, fmt.Errorf("%v (and forgetting the token failed: %v)", err, derr)
				}
				return providers.Snapshot{}, fmt.Errorf("%v; the token was dropped and the next try logs in again: %w", err, providers.ErrAuth)
			}
			return providers.Snapshot{}, err
		}
	}
	dev, warns := Convert(in)
	dev.ID = p.devID
	p.warnOnce(warns)
	if m, ok := dev.Values["meter_reading"].(float64); ok && (in.LastMeter == nil || *in.LastMeter != m) {
		if err := p.deps.KV.Set(ctx, kvMeter, []byte(strconv.FormatFloat(m, 'f', -1, 64))); err != nil {
			return providers.Snapshot{}, fmt.Errorf("gas: saving the meter reading: %w", err)
		}
		p.lastMeter = &m
	}
	return providers.Snapshot{Account: p.acct.ID, Time: now, Devices: []providers.Device{dev}}, nil
}

func (p *Provider) warnOnce(warns []string) {
	for _, w := range warns {
		if p.warned[w] {
			continue
		}
		if len(p.warned) > 500 {
			clear(p.warned)
		}
		p.warned[w] = true
		p.log.Warn("gas: unexpected upstream data", "detail", w)
	}
}

// fetch makes the logged-in calls and merges the daily records into the stored history.
func (p *Provider) fetch(ctx context.Context, sess session, in *Input) error {
	d, err := p.c.debt(ctx, sess)
	if err != nil {
		return err
	}
	in.Debt = &d
	userCodeID := ""
	var bound []string
	for _, r := range d.UserCodeList {
		bound = append(bound, string(r.UserCode))
		if string(r.UserCode) == p.set.UserCode && userCodeID == "" {
			userCodeID = string(r.ID)
		}
	}
	switch {
	case userCodeID == "" && len(d.UserCodeList) > 0 && bound[0] == "":
		userCodeID = string(d.UserCodeList[0].ID) // the list does not say which 户号: take the first
	case userCodeID == "" && len(d.UserCodeList) > 0:
		return providers.Permanent("user code %s is not bound to the web account %s (bound: %s): bind it in the app or fix `user_code`",
			p.set.UserCode, logging.MaskPhoneNumber(p.set.Mobile), strings.Join(bound, ", "))
	}
	if userCodeID != "" {
		pay, err := p.c.payments(ctx, sess, userCodeID)
		if err != nil {
			return err
		}
		in.Payments = &pay
	} else {
		p.warnOnce([]string{"the balance answer lists no userCodeList: payments are not read"})
	}
	m, err := p.c.monthly(ctx, sess)
	if err != nil {
		return err
	}
	in.Monthly = &m
	mdm := firstNonEmpty(p.set.MDMCode, string(d.MDMCode), sess.MDMCode)
	if mdm == "" && p.set.CID == DefaultCID {
		mdm = kunmingMDM
	}
	if mdm == "" {
		return providers.Permanent("the company code of cid %d is unknown: set `mdm_code` (for example 9AH1 for Kunming)", p.set.CID)
	}
	daily, err := p.c.daily(ctx, sess, mdm)
	if err != nil {
		return err
	}
	hist, err := p.loadHistory(ctx)
	if err != nil {
		return err
	}
	changed, warns := hist.Merge(daily.Records)
	p.warnOnce(warns)
	if hist.Prune() || changed {
		raw, err := json.Marshal(storedHistory{Version: 1, Days: hist})
		if err != nil {
			return err
		}
		if err := p.deps.KV.Set(ctx, kvDaily, raw); err != nil {
			return fmt.Errorf("gas: saving the daily history: %w", err)
		}
	}
	in.History = hist
	return nil
}

type storedHistory struct {
	Version int     `json:"version"`
	Days    History `json:"days"`
}

func (p *Provider) loadHistory(ctx context.Context) (History, error) {
	raw, ok, err := p.deps.KV.Get(ctx, kvDaily)
	if err != nil {
		return nil, fmt.Errorf("gas: reading the daily history: %w", err)
	}
	var sh storedHistory
	if ok && len(raw) > 0 {
		if err := json.Unmarshal(raw, &sh); err != nil {
			p.log.Error("gas: the stored daily history is unreadable; starting a new one", "err", err)
		}
	}
	if sh.Days == nil {
		sh.Days = History{}
	}
	return sh.Days, nil
}

// HistoryOf reads the daily history stored in kv (for tests and diagnostics).
func HistoryOf(ctx context.Context, kv providers.KV) (History, error) {
	p := &Provider{deps: providers.Deps{KV: kv}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return p.loadHistory(ctx)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

type refusal struct {
	Fingerprint string `json:"fp"`
	Message     string `json:"message"`
}

// fingerprint identifies the login settings, so a refused password is not retried until
// the user changes it (also across restarts).
func (p *Provider) fingerprint() string {
	h := sha256.New()
	for _, s := range []string{"accountbridge-gas-login-v1", strconv.FormatInt(p.set.CID, 10), p.set.BaseURL,
		p.set.AESKey, p.set.Mobile, p.set.Password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// session returns the stored session, or logs in (through the login guard).
func (p *Provider) session(ctx context.Context) (session, error) {
	kv := p.deps.KV
	if raw, ok, err := kv.Get(ctx, kvSession); err != nil {
		return session{}, fmt.Errorf("gas: reading the session: %w", err)
	} else if ok {
		var s session
		if json.Unmarshal(raw, &s) == nil && s.headerToken() != "" {
			p.secrets(s)
			return s, nil
		}
	}
	if raw, ok, err := kv.Get(ctx, kvRefused); err != nil {
		return session{}, fmt.Errorf("gas: reading the login state: %w", err)
	} else if ok {
		var r refusal
		if json.Unmarshal(raw, &r) == nil && r.Fingerprint == p.fingerprint() {
			return session{}, providers.Permanent("%s", r.Message)
		}
	}
	if err := p.guard.Begin(ctx); err != nil {
		return session{}, fmt.Errorf("gas: login: %w", err)
	}
	s, err := p.c.login(ctx, p.set.Mobile, p.set.Password)
	var ue *UpstreamError
	// Only answers count as login outcomes: a network failure is not a failed login (the
	// attempt time recorded by Begin still spaces the next try).
	if err == nil || errors.As(err, &ue) {
		if gerr := p.guard.End(ctx, err); gerr != nil {
			p.log.Error("gas: recording the login attempt", "err", gerr)
		}
	}
	if err != nil {
		if ue == nil {
			return session{}, err
		}
		for _, busy := range []string{"频繁", "稍后", "繁忙", "超时"} {
			if strings.Contains(ue.Message, busy) {
				return session{}, fmt.Errorf("%w: %w", err, providers.ErrRateLimited)
			}
		}
		msg := fmt.Sprintf("PetroChina gas refused the login of %s: %q. Check `mobile` and `password` "+
			"(the 网上营业厅 web account's password) and `cid`; polling resumes when the config changes",
			logging.MaskPhoneNumber(p.set.Mobile), ue.Message)
		raw, _ := json.Marshal(refusal{Fingerprint: p.fingerprint(), Message: msg})
		if serr := kv.Set(ctx, kvRefused, raw); serr != nil {
			p.log.Error("gas: recording the refused login", "err", serr)
		}
		return session{}, providers.Permanent("%s", msg)
	}
	p.secrets(s)
	raw, err := json.Marshal(s)
	if err != nil {
		return session{}, err
	}
	if err := kv.Set(ctx, kvSession, raw); err != nil {
		return session{}, fmt.Errorf("gas: saving the session: %w", err)
	}
	_ = kv.Delete(ctx, kvRefused)
	p.log.Info("gas: logged in", "mobile", logging.MaskPhoneNumber(p.set.Mobile))
	return s, nil
}

func (p *Provider) secrets(s session) {
	for _, t := range []string{s.Token, s.RefreshToken} {
		if t != "" {
			p.deps.Secret(t)
		}
	}
}
