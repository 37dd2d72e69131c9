// Package onecloud polls Xunlei OneCloud (玩客云) accounts: every box bound to the account
// (online state, disks, addresses, firmware) and the account's mining income, and
// withdraws the balance when its Home Assistant button is pressed. The user guide and the
// protocol notes ("Protocol notes") are in docs/onecloud.md; fake/ fakes both hosts.
package onecloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Kind is the provider name used in the config.
const Kind = "onecloud"

func init() {
	providers.Register(providers.Info{Kind: Kind, Description: "Xunlei OneCloud (玩客云) boxes and mining income",
		DefaultSchedule: "@every 10m", Factory: New, Names: Names, Settings: &Settings{}})
}

// Settings are the account keys of a onecloud account.
type Settings struct {
	Phone    string `yaml:"phone"` // mainland mobile number; or Email
	Email    string `yaml:"email"`
	Password string `yaml:"password" secret:"true"`
	// Upstream knobs; the defaults are the production service.
	AccountBaseURL string `yaml:"account_base_url"` // default https://account.onethingpcs.com
	ControlBaseURL string `yaml:"control_base_url"` // default https://control.onethingpcs.com
	AppVersion     string `yaml:"app_version"`      // default 1.6.2
	// RemoveAfter is how long a box missing from the account's list is still reported
	// (offline) before its device is removed from Home Assistant. Default 7d.
	RemoveAfter *time.Duration `yaml:"remove_after"`
}

// DefaultRemoveAfter is remove_after's default.
const DefaultRemoveAfter = 7 * 24 * time.Hour

// Login guard: a session lives 7 days, so a login is rare; never more often than this.
const (
	loginMinInterval  = 5 * time.Minute
	loginMaxFailures  = 5
	kvSession         = "session"
	kvBoxes           = "boxes"
	commandPress      = "PRESS"
	withdrawEntityKey = "withdraw"
)

var (
	phonePattern      = regexp.MustCompile(`^1[0-9]{10}$`)
	appVersionPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
)

// Provider polls one OneCloud account. Poll and Command may run concurrently.
type Provider struct {
	acct        providers.Account
	deps        providers.Deps
	log         *slog.Logger
	now         func() time.Time
	c           *client
	cred        credentials
	removeAfter time.Duration
	guard       providers.LoginGuard

	mu   sync.Mutex // the session and logins
	sess *session

	drawMu sync.Mutex // one withdraw at a time

	lastMu    sync.Mutex
	lastAcct  providers.Device // the last statistics (statKeys) of the account device, to keep values of a failed statistic call
	lastAttrs []byte           // their attributes, JSON
	warned    map[string]bool
}

// New validates the account's settings and builds its provider. It does no I/O.
func New(acct providers.Account, deps providers.Deps) (providers.Provider, error) {
	var s Settings
	// Decode's errors and the checks below are reported together; a key Decode rejected
	// is left zero here, and the daemon drops the second error about it.
	problems := []error{acct.Decode(&s)}
	bad := func(key, format string, args ...any) {
		problems = append(problems, providers.Settingf(key, format, args...))
	}
	s.Phone = strings.TrimPrefix(strings.Join(strings.Fields(s.Phone), ""), "+86")
	s.Email = strings.TrimSpace(s.Email)
	switch {
	case s.Phone == "" && s.Email == "":
		bad("phone", "set `phone` (the mobile number of the OneCloud account) or `email`")
	case s.Phone != "" && s.Email != "":
		bad("email", "set only one of `phone` and `email`")
	case s.Phone != "" && !phonePattern.MatchString(s.Phone):
		bad("phone", "`phone` must be an 11-digit mainland mobile number such as \"13800138000\" (quoted)")
	case s.Email != "" && !strings.Contains(s.Email, "@"):
		bad("email", "`email` must be an e-mail address")
	}
	if s.Password == "" {
		bad("password", "set `password` (the OneCloud app password; `password_file` works too)")
	}
	var err error
	if s.AccountBaseURL, err = baseURL(s.AccountBaseURL, DefaultAccountBaseURL); err != nil {
		bad("account_base_url", "%v", err)
	}
	if s.ControlBaseURL, err = baseURL(s.ControlBaseURL, DefaultControlBaseURL); err != nil {
		bad("control_base_url", "%v", err)
	}
	if s.AppVersion == "" {
		s.AppVersion = DefaultAppVersion
	} else if !appVersionPattern.MatchString(s.AppVersion) {
		bad("app_version", "`app_version` must look like %s", DefaultAppVersion)
	}
	removeAfter := DefaultRemoveAfter
	if s.RemoveAfter != nil {
		if removeAfter = *s.RemoveAfter; removeAfter < 0 {
			bad("remove_after", "`remove_after` must not be negative, got %s", removeAfter)
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	deps = deps.WithDefaults()
	if deps.KV == nil {
		deps.KV = &providers.MemoryKV{}
	}
	// Cookies are kept in the KV and sent explicitly; the client's jar would add stale
	// copies (and mix the two hosts, which share a domain).
	noJar := *deps.HTTP
	noJar.Jar = nil

	pwd := PasswordHash(s.Password)
	deps.Secret(pwd) // the hash logs in as well as the password does
	p := &Provider{
		acct: acct, deps: deps, log: deps.Logger, now: deps.Now, removeAfter: removeAfter,
		c: &client{http: &noJar, accountBase: s.AccountBaseURL, controlBase: s.ControlBaseURL, appVersion: s.AppVersion,
			userAgent: "MineCrafter3/" + s.AppVersion + " (iPhone; iOS 11.3.1; Scale/2.00)"},
		cred:   credentials{phone: s.Phone, email: s.Email, pwd: pwd},
		guard:  providers.LoginGuard{KV: deps.KV, Now: deps.Now, MinInterval: loginMinInterval, MaxFailuresPerDay: loginMaxFailures},
		warned: map[string]bool{},
	}
	return p, nil
}

func baseURL(v, def string) (string, error) {
	if v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", fmt.Errorf("expected an http(s) URL such as %s, got %q", def, v)
	}
	return strings.TrimRight(v, "/"), nil
}

// accountDeviceID is the id of the account's main device.
func (p *Provider) accountDeviceID() string { return providers.DeviceID(Kind, p.acct.ID) }

// session returns the stored session, logging in (under the login guard) when there is
// none or it is older than the cookies' 7-day life.
func (p *Provider) session(ctx context.Context) (session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess == nil {
		raw, ok, err := p.deps.KV.Get(ctx, kvSession)
		if err != nil {
			return session{}, fmt.Errorf("reading the stored session: %w", err)
		}
		var s session
		if ok && json.Unmarshal(raw, &s) == nil && s.SessionID != "" && s.UserID != "" {
			p.deps.Secret(s.SessionID)
			p.sess = &s
		}
	}
	now := p.now()
	if p.sess != nil {
		if now.Sub(p.sess.Created) < sessionLife {
			return *p.sess, nil
		}
		p.log.Info("the OneCloud session is older than its 7-day life; logging in again")
		p.sess = nil
		if err := p.deps.KV.Delete(ctx, kvSession); err != nil {
			return session{}, fmt.Errorf("forgetting the session: %w", err)
		}
	}
	if err := p.guard.Begin(ctx); err != nil {
		return session{}, err
	}
	s, err := p.c.login(ctx, p.cred)
	if gerr := p.guard.End(ctx, err); gerr != nil {
		p.log.Warn("login guard not updated", "err", gerr)
	}
	if err != nil {
		return session{}, err
	}
	p.deps.Secret(s.SessionID)
	s.Created = now
	raw, _ := json.Marshal(s)
	if err := p.deps.KV.Set(ctx, kvSession, raw); err != nil {
		return session{}, fmt.Errorf("storing the session: %w", err)
	}
	p.log.Info("logged in to OneCloud", "user", maskUser(p.cred.username()))
	p.sess = &s
	return s, nil
}

// forget drops s (if it is still the current session) after the upstream rejected it.
func (p *Provider) forget(ctx context.Context, s session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess != nil && p.sess.SessionID != s.SessionID {
		return // another call already logged in again
	}
	p.sess = nil
	if err := p.deps.KV.Delete(ctx, kvSession); err != nil {
		p.log.Warn("stored session not deleted", "err", err)
	}
}

func maskUser(u string) string {
	if i := strings.IndexByte(u, '@'); i >= 0 {
		if i > 2 {
			return u[:2] + "***" + u[i:]
		}
		return "***" + u[i:]
	}
	return logging.MaskPhoneNumber(u) // a phone number, or a user name masked as hard
}

// Poll fetches the boxes and the account statistics once.
func (p *Provider) Poll(ctx context.Context) (providers.Snapshot, error) {
	s, err := p.session(ctx)
	if err != nil {
		return providers.Snapshot{}, err
	}
	snap, err := p.poll(ctx, s)
	if errors.Is(err, providers.ErrAuth) {
		p.forget(ctx, s)
	}
	return snap, err
}

// boxRecord is what the KV remembers of a box between polls (and restarts).
type boxRecord struct {
	LastSeen time.Time       `json:"last_seen"`
	Peer     json.RawMessage `json:"peer"`
	USB      json.RawMessage `json:"usb,omitempty"` // the last good getUSBInfo payload
}

func (p *Provider) poll(ctx context.Context, s session) (providers.Snapshot, error) {
	now := p.now()
	payload, err := p.c.listPeer(ctx, s)
	if err != nil {
		return providers.Snapshot{}, err
	}
	peers, warns, err := parsePeers(payload)
	if err != nil {
		return providers.Snapshot{}, err
	}
	p.warn(warns...)

	records, err := p.loadBoxes(ctx)
	if err != nil {
		return providers.Snapshot{}, err
	}
	listed := map[string]bool{}
	for _, pe := range peers {
		listed[pe.Key] = true
		rec := records[pe.Key]
		rec.LastSeen, rec.Peer = now, pe.Raw
		// An offline box has nothing to say about its disks: keep the last known ones.
		if strings.ToLower(pe.Wire.Status.String()) != statusOffline && string(pe.Wire.DeviceID) != "" {
			raw, err := p.c.usbInfo(ctx, s, string(pe.Wire.DeviceID))
			switch {
			case errors.Is(err, providers.ErrAuth):
				return providers.Snapshot{}, err
			case err != nil:
				p.warn(fmt.Sprintf("box %s: disks not read: %v", pe.Key, err))
			default:
				if _, err := parseUSB(raw); err != nil {
					p.warn(fmt.Sprintf("box %s: %v", pe.Key, err))
				} else {
					rec.USB = raw
				}
			}
		}
		records[pe.Key] = rec
	}

	acctIn, err := p.accountStats(ctx, s)
	if err != nil {
		return providers.Snapshot{}, err
	}

	for key, rec := range records {
		if !listed[key] && now.Sub(rec.LastSeen) > p.removeAfter {
			p.log.Info("box missing from the account for longer than remove_after; removing its device",
				"box", key, "last_seen", rec.LastSeen, "remove_after", p.removeAfter)
			delete(records, key)
		}
	}
	if err := p.saveBoxes(ctx, records); err != nil {
		return providers.Snapshot{}, err
	}

	boxes := make([]providers.Device, 0, len(records))
	for key, rec := range records {
		in := boxInput{Key: key, Listed: listed[key]}
		if err := json.Unmarshal(rec.Peer, &in.Wire); err != nil {
			continue // cannot happen: stored from a parsed answer
		}
		if len(rec.USB) > 0 {
			if u, err := parseUSB(rec.USB); err == nil {
				in.USB = &u
			}
		}
		dev, w := boxDevice(p.acct.ID, in)
		p.warn(w...)
		boxes = append(boxes, dev)
	}
	sortDevices(boxes)
	acctIn.Boxes = boxes
	acct, w := accountDevice(p.acct.ID, p.acct.Name, acctIn)
	p.warn(w...)
	p.keepFailedStats(&acct, acctIn)
	return providers.Snapshot{Account: p.acct.ID, Time: now, Devices: append([]providers.Device{acct}, boxes...)}, nil
}

// accountStats reads the account host. An expired session fails the poll (ErrAuth); any
// other failure of one statistic leaves that part nil (its last values are kept) so the
// boxes are still reported.
func (p *Provider) accountStats(ctx context.Context, s session) (accountInput, error) {
	var in accountInput
	get := func(what string, call func() (json.RawMessage, error), into any) (bool, error) {
		raw, err := call()
		if errors.Is(err, providers.ErrAuth) {
			return false, err
		}
		if err == nil {
			if err = json.Unmarshal(raw, into); err != nil {
				err = fmt.Errorf("%s: unexpected data: %v", what, err)
			}
		}
		if err != nil {
			p.log.Warn("OneCloud statistic not read; its last values are kept", "what", what, "err", err)
			return false, nil
		}
		return true, nil
	}
	var m0, m1 wireIncome
	ok, err := get("income-history", func() (json.RawMessage, error) { return p.c.income(ctx, s, "0") }, &m0)
	if err != nil {
		return in, err
	}
	if ok {
		in.Month = &m0
		if prev := strings.TrimSpace(string(m0.Month)); len(m0.IncomeArr) < 7 && prev != "" && prev != "0" {
			ok, err := get("income-history (previous month)", func() (json.RawMessage, error) { return p.c.income(ctx, s, prev) }, &m1)
			if err != nil {
				return in, err
			}
			if ok {
				in.PrevMonth = &m1
			}
		}
	}
	var out wireOutcome
	if ok, err := get("outcome-history", func() (json.RawMessage, error) { return p.c.outcome(ctx, s) }, &out); err != nil {
		return in, err
	} else if ok {
		in.Outcome = &out
	}
	var info wireAccountInfo
	if ok, err := get("account-info", func() (json.RawMessage, error) { return p.c.accountInfo(ctx, s) }, &info); err != nil {
		return in, err
	} else if ok {
		in.Info = &info
	}
	return in, nil
}

// keepFailedStats copies the last values of the statistics whose call failed this time.
func (p *Provider) keepFailedStats(d *providers.Device, in accountInput) {
	p.lastMu.Lock()
	defer p.lastMu.Unlock()
	var keys []string
	if in.Month == nil {
		keys = append(keys, "total_income", "month_income", "yesterday_income", "income_7d")
	}
	if in.Outcome == nil {
		keys = append(keys, "total_withdrawn")
	}
	if in.Info == nil {
		keys = append(keys, "balance")
	}
	var lastAttrs map[string]map[string]any
	if len(keys) > 0 && len(p.lastAttrs) > 0 {
		_ = json.Unmarshal(p.lastAttrs, &lastAttrs) // our own encoding
	}
	for _, k := range keys {
		if v, ok := p.lastAcct.Values[k]; ok {
			d.Values[k] = v
		}
		if a, ok := lastAttrs[k]; ok {
			if d.Attributes == nil {
				d.Attributes = map[string]map[string]any{}
			}
			d.Attributes[k] = a
		}
	}
	// Only the statistics are kept, their attributes (a week of daily income) encoded:
	// a daemon may have thousands of accounts.
	last := providers.Device{Values: map[string]any{}}
	var attrs map[string]map[string]any
	for _, k := range statKeys {
		if v, ok := d.Values[k]; ok {
			last.Values[k] = v
		}
		if a, ok := d.Attributes[k]; ok {
			if attrs == nil {
				attrs = map[string]map[string]any{}
			}
			attrs[k] = a
		}
	}
	p.lastAcct, p.lastAttrs = last, nil
	if attrs != nil {
		p.lastAttrs, _ = json.Marshal(attrs)
	}
}

// statKeys are the account values keepFailedStats may need again.
var statKeys = []string{"total_income", "month_income", "yesterday_income", "income_7d", "total_withdrawn", "balance"}

func (p *Provider) loadBoxes(ctx context.Context) (map[string]boxRecord, error) {
	raw, ok, err := p.deps.KV.Get(ctx, kvBoxes)
	if err != nil {
		return nil, fmt.Errorf("reading the known boxes: %w", err)
	}
	records := map[string]boxRecord{}
	if ok {
		if err := json.Unmarshal(raw, &records); err != nil {
			p.log.Warn("stored box list unreadable; starting afresh", "err", err)
			records = map[string]boxRecord{}
		}
	}
	return records, nil
}

func (p *Provider) saveBoxes(ctx context.Context, records map[string]boxRecord) error {
	raw, err := json.Marshal(records)
	if err != nil {
		return err
	}
	if err := p.deps.KV.Set(ctx, kvBoxes, raw); err != nil {
		return fmt.Errorf("storing the known boxes: %w", err)
	}
	return nil
}

// warn logs each distinct warning once per provider.
func (p *Provider) warn(msgs ...string) {
	if len(msgs) == 0 {
		return
	}
	p.lastMu.Lock()
	defer p.lastMu.Unlock()
	for _, m := range msgs {
		if p.warned[m] {
			continue
		}
		if len(p.warned) < 1000 {
			p.warned[m] = true
		}
		p.log.Warn("OneCloud answer: "+m, "account", p.acct.ID)
	}
}

// Command handles a press of the account device's withdraw button: one wkb/draw call,
// its outcome reported as an event (withdrawn, already_withdrawn, withdraw_failed).
func (p *Provider) Command(ctx context.Context, device, key string, payload []byte) ([]providers.DeviceEvent, error) {
	acctDev := p.accountDeviceID()
	if device != acctDev || key != withdrawEntityKey {
		return nil, fmt.Errorf("onecloud: no command %q on device %s", key, device)
	}
	if strings.TrimSpace(string(payload)) != commandPress {
		return nil, fmt.Errorf("onecloud: withdraw: payload %q ignored (a press is %s)", payload, commandPress)
	}
	p.drawMu.Lock()
	defer p.drawMu.Unlock()
	event := func(typ string, attrs map[string]any) []providers.DeviceEvent {
		return []providers.DeviceEvent{{Device: acctDev, Type: typ, Attributes: attrs}}
	}
	failed := func(msg string, err error) ([]providers.DeviceEvent, error) {
		return event(eventWithdrawFailed, map[string]any{"message": msg}), err
	}

	// account-info reads the balance to withdraw and proves the session; an expired
	// session is renewed once here, before the one draw call.
	s, err := p.session(ctx)
	if err != nil {
		return failed("not logged in to OneCloud: "+err.Error(), fmt.Errorf("withdraw: %w", err))
	}
	raw, err := p.c.accountInfo(ctx, s)
	if errors.Is(err, providers.ErrAuth) {
		p.forget(ctx, s)
		if s, err = p.session(ctx); err != nil {
			return failed("not logged in to OneCloud: "+err.Error(), fmt.Errorf("withdraw: %w", err))
		}
		raw, err = p.c.accountInfo(ctx, s)
	}
	if err != nil {
		return failed("the balance could not be read: "+err.Error(), fmt.Errorf("withdraw: %w", err))
	}
	var info wireAccountInfo
	if err := json.Unmarshal(raw, &info); err != nil || !info.Balance.OK {
		return failed("the balance could not be read from OneCloud's answer", fmt.Errorf("withdraw: account-info without a balance"))
	}
	amount := strconv.FormatFloat(info.Balance.V, 'f', 8, 64)

	data, err := p.c.draw(ctx, s, amount, p.peerID(ctx))
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Code == codeAlreadyDrawn:
		return event(eventAlreadyWithdrawn, map[string]any{"message": nonEmpty(ae.Msg, "already withdrawn this week")}), nil
	case errors.As(err, &ae) && ae.auth:
		p.forget(ctx, s)
		return failed("the OneCloud session expired during the withdraw; nothing was withdrawn, press again", fmt.Errorf("withdraw: %w", err))
	case errors.As(err, &ae):
		return event(eventWithdrawFailed, map[string]any{"message": nonEmpty(ae.Msg, "refused"), "code": ae.Code}), nil
	case err != nil:
		return failed("no answer from OneCloud ("+err.Error()+"); check the app before pressing again", fmt.Errorf("withdraw: %w", err))
	}
	var d wireDraw
	_ = json.Unmarshal(data, &d)
	if d.DrawRet.OK && d.DrawRet.V != 0 {
		return event(eventWithdrawFailed, map[string]any{"message": nonEmpty(string(d.DrawMsg), "refused"), "code": int(d.DrawRet.V)}), nil
	}
	attrs := map[string]any{"amount": wire.Round(info.Balance.V, 8)}
	if d.OriginBalance.OK {
		attrs["amount"] = wire.Round(d.OriginBalance.V, 8)
	}
	if d.GasCost.OK {
		attrs["gas_cost"] = wire.Round(d.GasCost.V, 8)
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", string(d.DrawTime), wire.CST); err == nil {
		attrs["time"] = t.Format(time.RFC3339)
	}
	p.log.Info("OneCloud balance withdrawn", "amount", attrs["amount"])
	return event(eventWithdrawn, attrs), nil
}

func nonEmpty(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// peerID is the peer id of a known box (an online one first), sent as a cookie with
// wkb/draw as the app does; "" when no box is known.
func (p *Provider) peerID(ctx context.Context) string {
	records, err := p.loadBoxes(ctx)
	if err != nil {
		return ""
	}
	keys := make([]string, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	best := ""
	for _, k := range keys {
		var w wirePeer
		if json.Unmarshal(records[k].Peer, &w) != nil || string(w.PeerID) == "" {
			continue
		}
		if w.Status.String() == statusOnline {
			return string(w.PeerID)
		}
		if best == "" {
			best = string(w.PeerID)
		}
	}
	return best
}
