package sms

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/accountbridge/accountbridge/internal/discovery"
	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

var watchUS = []Pair{{"tg", "us"}, {"wa", "us"}}

// everyFamily builds one platform account of each family (no I/O) and the router over
// them, watching watchUS.
func everyFamily(t *testing.T) (*Router, []*Platform) {
	t.Helper()
	u := "http://127.0.0.1:1"
	ps := []*Platform{
		newPlatform(t, "act", Settings{Platform: FamilyActivate, APIKey: "k"}),
		newPlatform(t, "five", Settings{Platform: FamilyFiveSim, APIKey: "k"}),
		newPlatform(t, "self", Settings{Platform: FamilySMSAPI, Username: "u", Password: "p", BaseURL: u,
			Services: map[string]string{"tg": "100001"}, Countries: map[string]string{"us": "cn"}}),
		newPlatform(t, "man", Settings{Platform: FamilySMSMan, APIKey: "k"}),
		newPlatform(t, "online", Settings{Platform: FamilyOnlineSim, APIKey: "k"}),
		newPlatform(t, "pva", Settings{Platform: FamilySMSPVA, APIKey: "k", Services: map[string]string{"tg": "opt29"}}),
		newPlatform(t, "gsc", Settings{Platform: FamilyGetSMSCode, Username: "u", APIKey: "k", Currency: "credits",
			Services: map[string]string{"tg": "10"}}),
	}
	set := RouterSettings{Watch: watchUS, Currency: "RUB", Rates: map[string]float64{"CNY": 12.5, "USD": 90, "credits": 1}}
	return newRouter(t, &providers.MemoryKV{}, set, ps...), ps
}

func entityOf(d providers.Device, key string) (providers.Entity, bool) {
	for _, e := range d.Entities {
		if e.Key == key {
			return e, true
		}
	}
	return providers.Entity{}, false
}

// checkDiscovery builds d's discovery config and state and checks them against the
// sensor rules; every value has an entity.
func checkDiscovery(t *testing.T, d providers.Device) {
	t.Helper()
	opts := discovery.Options{BaseTopic: "ab", DiscoveryPrefix: "homeassistant", Origin: discovery.Origin{Name: "accountbridge"}}
	for _, e := range d.Entities {
		if err := discovery.ValidateEntity(e); err != nil {
			t.Errorf("%s: %v", d.ID, err)
		}
	}
	res, err := discovery.Build(opts, d, nil)
	if err != nil || len(res.Invalid) > 0 {
		t.Errorf("%s: err %v, invalid %v", d.ID, err, res.Invalid)
	}
	if len(res.Components) != len(d.Entities) {
		t.Errorf("%s: %d of %d entities published", d.ID, len(res.Components), len(d.Entities))
	}
	if _, err := discovery.State(d); err != nil {
		t.Errorf("%s: state: %v", d.ID, err)
	}
	for k := range d.Values {
		if _, ok := entityOf(d, k); !ok {
			t.Errorf("%s: value %s has no entity", d.ID, k)
		}
	}
	for k := range d.Attributes {
		if e, ok := entityOf(d, k); !ok || !e.Attributes {
			t.Errorf("%s: attributes of %s, which does not declare any", d.ID, k)
		}
	}
}

func TestEverySMSDeviceIsValidDiscovery(t *testing.T) {
	r, ps := everyFamily(t)
	for _, p := range ps {
		checkDiscovery(t, p.device())
	}
	checkDiscovery(t, r.device())

	act := ps[0].device()
	if act.ID != "sms_act" || act.Name != "SMS platform act" {
		t.Errorf("device %s %q", act.ID, act.Name)
	}
	want := map[string]func(providers.Entity) bool{
		"balance": func(e providers.Entity) bool {
			return e.Component == providers.Sensor && e.DeviceClass == "monetary" && e.Unit == "RUB" && e.StateClass == "total"
		},
		"problem": func(e providers.Entity) bool {
			return e.Component == providers.BinarySensor && e.DeviceClass == "problem"
		},
		"low_balance": func(e providers.Entity) bool {
			return e.Component == providers.BinarySensor && e.DeviceClass == "problem"
		},
		"response_time": func(e providers.Entity) bool {
			return e.DeviceClass == "duration" && e.Unit == "ms" && e.Category == providers.CategoryDiagnostic
		},
		"last_api_error": func(e providers.Entity) bool { return e.Category == providers.CategoryDiagnostic },
		"price_tg_us": func(e providers.Entity) bool {
			return e.DeviceClass == "monetary" && e.Unit == "RUB" && e.StateClass == ""
		},
		"stock_tg_us":  func(e providers.Entity) bool { return e.StateClass == "measurement" && e.Unit == "" },
		"price_wa_us":  func(e providers.Entity) bool { return e.Unit == "RUB" },
		"success_rate": func(e providers.Entity) bool { return e.Unit == "%" && e.Category == providers.CategoryDiagnostic },
		"spend_today":  func(e providers.Entity) bool { return e.DeviceClass == "monetary" && e.Unit == "RUB" },
	}
	for key, ok := range want {
		if e, found := entityOf(act, key); !found || !ok(e) {
			t.Errorf("activate %s: %+v (found %v)", key, e, found)
		}
	}
	// A pair the platform cannot map has no entities; a currency that is no ISO code
	// makes plain numbers.
	self := ps[2].device()
	if _, ok := entityOf(self, "price_wa_us"); ok {
		t.Error("sms_api has wa/us entities without a mapping for wa")
	}
	if e, _ := entityOf(self, "balance"); e.Unit != "CNY" {
		t.Errorf("sms_api balance unit %q", e.Unit)
	}
	if e, _ := entityOf(ps[6].device(), "balance"); e.DeviceClass != "" || e.Unit != "credits" || e.StateClass != "measurement" {
		t.Errorf("non-ISO balance %+v", e)
	}
	router := r.device()
	for _, key := range []string{"cheapest_tg_us", "cheapest_wa_us", "healthy_platforms", "spend_today", "active_orders"} {
		if _, ok := entityOf(router, key); !ok {
			t.Errorf("router has no %s", key)
		}
	}
	if e, _ := entityOf(router, "spend_today"); e.Unit != "RUB" || e.DeviceClass != "monetary" {
		t.Errorf("router spend_today %+v", e)
	}
}

// TestPlatformAndRouterSensors: values after polls of live fakes, and when a platform
// becomes unhealthy.
func TestPlatformAndRouterSensors(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 12.5, 40, 2) // RUB
	b, fb := startFiveSim(t, "b", 9, 0)            // RUB, cheapest but out of stock
	c, fc, _ := startActivate(t, "c", 14, 7, 1)
	fa.SetBalance(321.5)
	set := fastSettings()
	set.Watch = []Pair{{"tg", "us"}}
	r := newRouter(t, &providers.MemoryKV{}, set, a, b, c)
	ctx := context.Background()
	for _, p := range []*Platform{a, b, c} {
		snap, err := p.Poll(ctx)
		if err != nil || len(snap.Devices) != 1 {
			t.Fatalf("%s: %v %v", p.ID(), snap, err)
		}
		checkDiscovery(t, snap.Devices[0])
	}
	da := a.device()
	for k, v := range map[string]any{"balance": 321.5, "problem": false, "low_balance": false, "price_tg_us": 12.5,
		"stock_tg_us": 40, "last_api_error": "", "spend_today": 0.0} {
		if da.Values[k] != v {
			t.Errorf("a %s = %#v, want %#v", k, da.Values[k], v)
		}
	}
	if rt, ok := da.Values["response_time"].(float64); !ok || rt < 0 {
		t.Errorf("response_time %v", da.Values["response_time"])
	}
	if _, has := da.Values["success_rate"]; has {
		t.Error("success rate without any order")
	}
	if db := b.device(); db.Values["stock_tg_us"] != 0 || db.Values["price_tg_us"] != 9.0 {
		t.Errorf("b values %v", db.Values)
	}

	snap, err := r.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rd := snap.Devices[0]
	if rd.ID != "sms_router" || rd.Values["cheapest_tg_us"] != "a" || rd.Values["healthy_platforms"] != 3 || rd.Values["spend_today"] != 0.0 {
		t.Errorf("router values %v", rd.Values)
	}
	attrs := rd.Attributes["cheapest_tg_us"]
	list := attrs["prices"].([]PriceEntry)
	var order []string
	for _, pe := range list {
		order = append(order, pe.Platform)
	}
	if len(order) != 3 || order[0] != "b" || order[1] != "a" || order[2] != "c" || list[0].InStock || !list[1].InStock ||
		attrs["price"] != 12.5 || attrs["currency"] != "RUB" {
		t.Errorf("cheapest attributes %v (order %v)", attrs, order)
	}
	raw, _ := json.Marshal(attrs)
	if !contains(string(raw), `"platform":"b","price":9,"currency":"RUB","router_price":9,"count":0,"healthy":true,"in_stock":false`) {
		t.Errorf("price list JSON %s", raw)
	}

	// a fails its health check: problem on, last error set, the cheapest moves to c.
	fa.Fail(fake.OpBalance, "HTTP 503")
	if _, err := a.Poll(ctx); err != nil {
		t.Fatalf("a 503 is not a failed poll: %v", err)
	}
	da = a.device()
	if da.Values["problem"] != true || da.Values["last_api_error"] == "" || da.Values["balance"] != 321.5 {
		t.Errorf("a unhealthy: %v", da.Values)
	}
	if _, has := da.Values["response_time"]; has {
		t.Error("response time of a failed check")
	}
	if at := da.Attributes["last_api_error"]; at["class"] != string(ClassTryNext) || at["code"] != "HTTP 503" {
		t.Errorf("last_api_error attributes %v", at)
	}
	rd = r.device()
	if rd.Values["cheapest_tg_us"] != "c" || rd.Values["healthy_platforms"] != 2 {
		t.Errorf("router with a unhealthy: %v", rd.Values)
	}
	// Recovery clears the error.
	fa.ClearFail("")
	a.Poll(ctx)
	if da = a.device(); da.Values["problem"] != false || da.Values["last_api_error"] != "" {
		t.Errorf("a recovered: %v", da.Values)
	}
	// A wrong key is a permanent poll failure.
	fc.Fail(fake.OpBalance, "BAD_KEY")
	if _, err := c.Poll(ctx); err == nil || !errors.Is(err, providers.ErrPermanent) {
		t.Errorf("BAD_KEY poll: %v", err)
	}
	_ = fb
}

func TestRouterSuccessRateAndSpend(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 10, 10, 1)
	fa.SetCodeAfter(0)
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a)
	tr.order(orderJSON("r1"))
	tr.pub.waitFor(t, "r1", StatusDone)
	d := a.device()
	if d.Values["success_rate"] != 100.0 || d.Values["spend_today"] != 10.0 {
		t.Errorf("after one good order: %v", d.Values)
	}
}

func TestChineseNames(t *testing.T) {
	r, ps := everyFamily(t)
	devs := []providers.Device{r.device()}
	for _, p := range ps {
		devs = append(devs, p.device())
	}
	zh := Names["zh"]
	if missing := zh.MissingNames(devs...); len(missing) > 0 {
		t.Errorf("no Chinese name for %v", missing)
	}
	if n := zh.Apply(r.device()); n.Name != "接码路由" {
		t.Errorf("router name %q", n.Name)
	}
	p := zh.Apply(ps[0].device())
	if p.Name != "接码平台 act" {
		t.Errorf("platform name %q", p.Name)
	}
	if e, _ := entityOf(p, "price_tg_us"); e.Name != "价格 tg/us" {
		t.Errorf("pair entity name %q", e.Name)
	}
	if e, _ := entityOf(p, "balance"); e.Name != "余额" {
		t.Errorf("balance name %q", e.Name)
	}
	// A name the user gave stays.
	named, err := New(providers.Account{ID: "x", Name: "我的平台", Decode: func(v any) error {
		*v.(*Settings) = Settings{Platform: FamilyActivate, APIKey: "k"}
		return nil
	}}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if n := zh.Apply(named.(*Platform).device()); n.Name != "我的平台" {
		t.Errorf("user name changed: %q", n.Name)
	}
	if info, ok := providers.Lookup(Kind); !ok || info.Names["zh"].Entities["balance"] != "余额" {
		t.Error("the zh names are not registered with the provider")
	}
}
