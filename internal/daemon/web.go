package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/alert"
	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/hapublish"
	"github.com/accountbridge/accountbridge/internal/logging"
	"github.com/accountbridge/accountbridge/internal/poller"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms"
	"github.com/accountbridge/accountbridge/internal/store"
	"github.com/accountbridge/accountbridge/internal/version"
	"github.com/accountbridge/accountbridge/internal/web"
)

// WebIngressPort is where the Home Assistant app serves the UI for ingress
// (addon/config.yaml ingress_port).
const WebIngressPort = 8099

// CheckData parses data as the content of the config file path and checks it as
// `bridge check` does; the problems are listed by line.
func CheckData(path string, data []byte) []web.Problem {
	cfg, err := config.Inspect(path, data, config.LoadOptions{Providers: providers.Kinds(), Sections: providers.SectionKinds()})
	err = Check(cfg, err, logging.NewRedactor())
	if err == nil {
		return nil
	}
	var ce config.Errors
	if !errors.As(err, &ce) {
		return []web.Problem{{Msg: err.Error()}}
	}
	out := make([]web.Problem, len(ce))
	for i, e := range ce {
		out[i] = web.Problem{Line: e.Line, Path: e.Path, Msg: e.Msg}
	}
	return out
}

// setupWeb builds the web UI when the config or the options ask for it, and opens its
// socket so its address is known (and an address in use is an error) before Run.
func (d *Daemon) setupWeb(cfg *config.Config, opts Options) error {
	listen := webListen(cfg, opts)
	if listen == "" {
		return nil
	}
	masked, err := cfg.Masked()
	if err != nil {
		return err
	}
	var editable string
	if ext := strings.ToLower(filepath.Ext(cfg.File)); ext == ".yaml" || ext == ".yml" {
		editable = cfg.File
	}
	secrets := slices.Clone(cfg.Secrets)
	b := &webBackend{d: d, masked: masked, hist: d.history}
	d.web, err = web.New(web.Options{
		Listen: listen, Token: cfg.Web.Token, IngressOnly: opts.WebIngress, Language: cfg.Language,
		Version: version.String(), ConfigPath: editable, Backend: b, Logger: d.log.With("component", "web"),
		Secrets: func() []string { return secrets },
	})
	if err != nil {
		return err
	}
	return d.web.Listen()
}

// webListen is the UI's address: --web, else web.listen, else the ingress port in the
// app; "" when the UI is off.
func webListen(cfg *config.Config, opts Options) string {
	switch {
	case opts.WebListen != "":
		return opts.WebListen
	case cfg.Web.Listen != "":
		return cfg.Web.Listen
	case opts.WebIngress:
		return fmt.Sprintf(":%d", WebIngressPort)
	}
	return ""
}

// newAlertHistory loads the kept history.
func newAlertHistory(ctx context.Context, st *store.Store) *alertHistory {
	h := &alertHistory{kv: st.KV(historyKV)}
	raw, ok, err := h.kv.Get(ctx, "history")
	if err == nil && ok {
		_ = json.Unmarshal(raw, &h.items)
	}
	return h
}

// WebAddr is the web UI's address ("" when it is off).
func (d *Daemon) WebAddr() string {
	if d.web == nil {
		return ""
	}
	return d.web.Addr()
}

// webBackend implements web.Backend over the running daemon.
type webBackend struct {
	d      *Daemon
	masked []byte
	hist   *alertHistory
}

func (b *webBackend) Accounts() []web.Account {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]web.Account, 0, len(d.cfg.Accounts))
	for _, c := range d.cfg.Accounts {
		// The publisher's index, as bridge/info lists them (sorted; [] when none).
		wa := web.Account{ID: c.ID, Provider: c.Provider, Name: c.Name, Enabled: c.IsEnabled(),
			Devices: d.pub.AppendDevices([]string{}, c.ID)}
		if !c.IsEnabled() {
			wa.State, wa.DisabledInConfig = poller.StateDisabled, true
			out = append(out, wa)
			continue
		}
		if a, ok := d.accounts[c.ID]; ok {
			wa.Schedule = a.Spec
		}
		st, ok := d.pollStatus(c.ID)
		wa.State = st.State
		if !ok || wa.State == "" {
			wa.State = poller.StatePending
		}
		wa.Enabled = wa.State != poller.StateDisabled
		wa.ConsecutiveFailures, wa.LastRun, wa.LastOK, wa.NextRun, wa.BackoffUntil = st.ConsecutiveFailures, st.LastRun, st.LastOK, st.NextRun, st.BackoffUntil
		wa.LastErrorKind, wa.LastError = st.LastErrorKind, d.red.Redact(st.LastError)
		out = append(out, wa)
	}
	return out
}

func (b *webBackend) known(id string) error {
	if _, ok := b.d.accounts[id]; !ok {
		return fmt.Errorf("account %q (enabled in the config): %w", id, web.ErrNotFound)
	}
	return nil
}

func (b *webBackend) PollNow(id string) error {
	if err := b.known(id); err != nil {
		return err
	}
	if !b.d.poller.RunNow(id) {
		return fmt.Errorf("%s is quarantined, disabled or being polled right now", id)
	}
	return nil
}

func (b *webBackend) Reset(ctx context.Context, id string) error {
	if err := b.known(id); err != nil {
		return err
	}
	return b.d.poller.Lift(ctx, id)
}

func (b *webBackend) SetEnabled(ctx context.Context, id string, enabled bool) error {
	if err := b.known(id); err != nil {
		return err
	}
	return b.d.poller.SetEnabled(ctx, id, enabled)
}

func (b *webBackend) Device(ctx context.Context, id string) (web.Device, bool, error) {
	d := b.d
	rec, found, err := d.store.Device(ctx, id)
	if err != nil {
		return web.Device{}, false, err
	}
	model, ok := d.pub.Model(id)
	if !ok {
		if !found {
			return web.Device{}, false, nil
		}
		if model, err = hapublish.DecodeModel(rec.Model); err != nil {
			return web.Device{}, false, err
		}
	}
	model = d.alerts.Augment(model)
	state := map[string]any{}
	out := web.Device{ID: model.ID, Name: model.Name, Model: model.Model, Entities: []web.Entity{}}
	if found {
		_ = json.Unmarshal(rec.State, &state)
		out.Account = rec.Account
		if !rec.Updated.IsZero() {
			out.Updated = rec.Updated.Format(time.RFC3339)
		}
	}
	for k, v := range model.Values { // alert values, patched into the published state
		if _, ok := state[k]; !ok {
			state[k] = v
		}
	}
	if out.Account != "" {
		st, _ := d.pollStatus(out.Account)
		d.mu.Lock()
		isMain := d.mainDev[out.Account] == id
		d.mu.Unlock()
		if !st.LastOK.IsZero() && isMain {
			state["last_poll"] = st.LastOK.Format(time.RFC3339)
		}
	}
	for _, e := range model.Entities {
		out.Entities = append(out.Entities, web.Entity{Key: e.Key, Name: e.Name, Component: string(e.Component),
			DeviceClass: e.DeviceClass, Unit: e.Unit, Category: e.Category, State: state[e.Key]})
	}
	return out, true, nil
}

func (b *webBackend) Alerts(ctx context.Context) (web.Alerts, error) {
	states, err := b.d.store.AlertStates(ctx)
	if err != nil {
		return web.Alerts{}, err
	}
	hist := b.hist.list()
	last := map[string]alert.Alert{}
	for _, a := range hist {
		if _, seen := last[a.ID]; !seen {
			last[a.ID] = a
		}
	}
	out := web.Alerts{Active: []web.Alert{}, History: make([]web.Alert, 0, len(hist))}
	for _, s := range states {
		if s.State != "firing" && s.State != "pending" {
			continue
		}
		var subj struct {
			Device     string `json:"device"`
			DeviceName string `json:"device_name"`
			Entity     string `json:"entity"`
			EntityName string `json:"entity_name"`
			Value      any    `json:"value"`
			Unit       string `json:"unit"`
		}
		_ = json.Unmarshal(s.Data, &subj)
		wa := web.Alert{ID: s.Rule + ":" + s.Subject, Rule: s.Rule, Device: subj.Device, DeviceName: subj.DeviceName,
			Entity: subj.Entity, State: s.State, Since: s.Since, Value: subj.Value, Unit: subj.Unit, Message: subj.EntityName}
		if h, ok := last[wa.ID]; ok && h.State == alert.Firing {
			wa.Kind, wa.Message = h.Kind, h.Message
		}
		out.Active = append(out.Active, wa)
	}
	for _, a := range hist {
		out.History = append(out.History, web.Alert{ID: a.ID, Rule: a.Rule, Kind: a.Kind, Device: a.Device, DeviceName: a.DeviceName,
			Entity: a.Entity, State: a.State, Since: a.Since, At: a.At, Value: a.Value, Unit: a.Unit, Message: a.Message})
	}
	return out, nil
}

func (b *webBackend) router() *sms.Router {
	for _, g := range b.d.groups {
		if r, ok := g.Group.(*sms.Router); ok {
			return r
		}
	}
	return nil
}

func (b *webBackend) SMS() *web.SMS {
	r := b.router()
	if r == nil {
		return nil
	}
	v := r.View()
	out := &web.SMS{Currency: v.Currency, SpendToday: v.SpendToday, Strategies: sms.Strategies, Default: v.DefaultStrategy,
		Platforms: []web.SMSPlatform{}, Watch: []web.SMSWatch{}, Orders: []web.SMSOrder{}}
	for _, p := range v.Platforms {
		wp := web.SMSPlatform{ID: p.ID, Family: p.Family, Currency: p.Currency, Healthy: p.Usable, Problem: b.d.red.Redact(p.Problem),
			LatencyMs: p.Health.LatencyMs, Checked: p.Health.Checked, Orders: p.Stats.Orders}
		if p.Health.HasBalance {
			bal := p.Health.Balance
			wp.Balance = &bal
		}
		if p.Stats.HasRate {
			rate := p.Stats.SuccessRate
			wp.SuccessRate = &rate
		}
		out.Platforms = append(out.Platforms, wp)
	}
	for _, w := range v.Watch {
		ww := web.SMSWatch{Service: w.Service, Country: w.Country, Offers: []web.SMSOffer{}}
		for _, o := range w.Offers {
			ww.Offers = append(ww.Offers, web.SMSOffer{Platform: o.Platform, Price: o.Price, Currency: o.Currency,
				RouterPrice: o.RouterPrice, Count: o.Count, Healthy: o.Healthy, InStock: o.InStock})
		}
		out.Watch = append(out.Watch, ww)
	}
	for _, o := range v.Orders {
		out.Orders = append(out.Orders, web.SMSOrder{RequestID: o.Request.RequestID, Service: o.Request.Service, Country: o.Request.Country,
			Strategy: o.Request.Strategy, State: o.State, Active: o.Active, Platform: o.Platform, Phone: o.Phone, Code: o.Code,
			Price: o.Price, Currency: o.Currency, Created: o.Created, Ended: o.Ended, Reason: o.Reason, Message: b.d.red.Redact(o.Message)})
	}
	return out
}

// PlaceOrder publishes nothing: it hands the router the payload an MQTT order on
// <base>/sms/order carries, through the same Handle.
func (b *webBackend) PlaceOrder(ctx context.Context, req web.OrderRequest) error {
	r := b.router()
	if r == nil {
		return errors.New("no SMS platform accounts are configured")
	}
	payload, err := json.Marshal(sms.Request{RequestID: req.RequestID, Service: req.Service, Country: req.Country,
		Strategy: req.Strategy, Platform: req.Platform, MaxPrice: req.MaxPrice})
	if err != nil {
		return err
	}
	r.Handle(ctx, sms.TopicOrder, payload)
	return nil
}

func (b *webBackend) CancelOrder(ctx context.Context, rid string) error {
	r := b.router()
	if r == nil {
		return errors.New("no SMS platform accounts are configured")
	}
	for _, o := range r.View().Orders {
		if o.Request.RequestID == rid {
			if !o.Active {
				return fmt.Errorf("order %s already ended (%s)", rid, o.State)
			}
			r.Handle(ctx, sms.TopicOrder+"/"+rid+"/cancel", nil)
			return nil
		}
	}
	return fmt.Errorf("order %q: %w", rid, web.ErrNotFound)
}

func (b *webBackend) ConfigMasked() ([]byte, error) { return b.masked, nil }

func (b *webBackend) CheckConfig(data []byte) []web.Problem { return CheckData(b.d.cfg.File, data) }

// historyKV is the store KV name of the alert history (not an account id: those match
// [a-z0-9_]+).
const historyKV = "@alerts"

// historyMax is how many alert notifications the history keeps.
const historyMax = 200

// alertHistory is an alert notifier that keeps the last notifications in the store, for
// the web UI's history.
type alertHistory struct {
	kv    providers.KV
	mu    sync.Mutex
	items []alert.Alert // newest first
}

func (h *alertHistory) list() []alert.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.items)
}

func (h *alertHistory) Name() string { return "history" }

func (h *alertHistory) Notify(ctx context.Context, a alert.Alert) error {
	h.mu.Lock()
	h.items = append([]alert.Alert{a}, h.items...)
	if len(h.items) > historyMax {
		h.items = h.items[:historyMax]
	}
	raw, err := json.Marshal(h.items)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	// Not retried (a retry would list the alert twice): the next alert stores it again.
	_ = h.kv.Set(ctx, "history", raw)
	return nil
}
