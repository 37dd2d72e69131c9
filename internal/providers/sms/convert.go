package sms

import (
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// Entities and values of the platform and router devices.

// isoCurrency reports whether unit can be a monetary unit (ISO 4217 shaped).
func isoCurrency(unit string) bool { return currencyRe.MatchString(unit) }

// moneyEntity is a monetary sensor in unit, or a plain numeric sensor when unit is not
// an ISO 4217 code (HA would reject it as monetary).
func moneyEntity(key, name, unit, stateClass string) providers.Entity {
	e := providers.Entity{Key: key, Name: name, Component: providers.Sensor, Unit: unit, Precision: providers.Precision(2), Icon: "mdi:cash"}
	if isoCurrency(unit) {
		e.DeviceClass = "monetary"
		e.StateClass = stateClass
	} else {
		e.StateClass = "measurement"
	}
	return e
}

// round is wire.Round, the bridge's one rounding, under the name the order code uses.
func round(v float64, places int) float64 { return wire.Round(v, places) }

func pairLabel(w Pair) string { return w.Service + "/" + w.Country }

// Entity keys of a watched pair.
func priceKey(w Pair) string    { return "price_" + pairKey(w.Service, w.Country) }
func stockKey(w Pair) string    { return "stock_" + pairKey(w.Service, w.Country) }
func cheapestKey(w Pair) string { return "cheapest_" + pairKey(w.Service, w.Country) }

var platformNames = map[string]string{
	FamilyActivate: "SMS-Activate protocol", FamilyFiveSim: "5SIM", FamilySMSAPI: "sms_api (self-hosted)",
	FamilySMSMan: "SMS-Man", FamilyOnlineSim: "OnlineSIM", FamilySMSPVA: "SMSPVA", FamilyGetSMSCode: "GetSMSCode",
}

// platformEntities lists the entities of a platform device; they depend only on the
// config (the watched pairs the platform serves), never on upstream data.
func (p *Platform) platformEntities(watch []Pair) []providers.Entity {
	es := []providers.Entity{
		moneyEntity("balance", "Balance", p.currency, "total"),
		{Key: "problem", Name: "Problem", Component: providers.BinarySensor, DeviceClass: "problem", Attributes: true},
		{Key: "low_balance", Name: "Low balance", Component: providers.BinarySensor, DeviceClass: "problem", Icon: "mdi:cash-remove"},
		{Key: "response_time", Name: "API response time", Component: providers.Sensor, DeviceClass: "duration", StateClass: "measurement",
			Unit: "ms", Precision: providers.Precision(0), Category: providers.CategoryDiagnostic},
		{Key: "last_api_error", Name: "Last API error", Component: providers.Sensor, Category: providers.CategoryDiagnostic,
			Icon: "mdi:alert-circle-outline", Attributes: true},
	}
	for _, w := range watch {
		if _, _, ok := p.serves(w.Service, w.Country); !ok {
			continue
		}
		price := moneyEntity(priceKey(w), "Price "+pairLabel(w), p.currency, "")
		price.Attributes = true
		es = append(es, price, providers.Entity{Key: stockKey(w), Name: "Numbers available " + pairLabel(w), Component: providers.Sensor,
			StateClass: "measurement", Icon: "mdi:sim"})
	}
	es = append(es,
		providers.Entity{Key: "success_rate", Name: "Order success rate", Component: providers.Sensor, StateClass: "measurement",
			Unit: "%", Precision: providers.Precision(0), Category: providers.CategoryDiagnostic, Icon: "mdi:percent"},
		moneyEntity("spend_today", "Spend today", p.currency, "total"),
	)
	return es
}

// device builds the platform device from the caches.
func (p *Platform) device() providers.Device {
	p.mu.Lock()
	cfg, h, stats := p.cfg, p.health, p.stats
	fatal, low, lastErr := p.fatal, p.lowBalanceLocked(), p.lastErr
	quotes := make(map[string]quoteEntry, len(p.quotes))
	for k, v := range p.quotes {
		quotes[k] = v
	}
	p.mu.Unlock()

	name := p.acct.Name
	if name == "" {
		name = "SMS platform " + p.acct.ID
	}
	model := platformNames[p.family]
	if p.preset != "" {
		model += " (" + p.preset + ")"
	}
	d := providers.Device{ID: p.deviceID(), Name: name, Manufacturer: "accountbridge SMS", Model: model,
		Entities: p.platformEntities(cfg.watch), Values: map[string]any{}, Attributes: map[string]map[string]any{}}
	problem := !h.OK || fatal != nil
	d.Values["problem"] = problem
	attrs := map[string]any{"checked": h.Checked.Format("2006-01-02T15:04:05Z07:00")}
	if !h.OK {
		attrs["error"] = h.Err
		attrs["error_class"] = string(h.Class)
	}
	if fatal != nil {
		attrs["error"], attrs["error_class"] = fatal.Error(), string(ClassFatal)
	}
	d.Attributes["problem"] = attrs
	d.Values["low_balance"] = low
	d.Values["last_api_error"] = ""
	if lastErr != nil {
		d.Values["last_api_error"] = lastErr.Msg
		d.Attributes["last_api_error"] = map[string]any{"at": lastErr.At.Format(time.RFC3339), "class": string(lastErr.Class), "code": lastErr.Code}
	}
	if h.HasBalance {
		d.Values["balance"] = round(h.Balance, 4)
	}
	if h.OK {
		d.Values["response_time"] = round(h.LatencyMs, 1)
	}
	for _, w := range cfg.watch {
		if _, _, ok := p.serves(w.Service, w.Country); !ok {
			continue
		}
		e, ok := quotes[pairKey(w.Service, w.Country)]
		if !ok {
			continue
		}
		switch {
		case e.Err == nil:
			d.Values[priceKey(w)] = round(e.Q.Price, 4)
			if e.Q.CountKnown {
				d.Values[stockKey(w)] = e.Q.Count
			}
			d.Attributes[priceKey(w)] = map[string]any{"fetched": e.Fetched.Format("2006-01-02T15:04:05Z07:00")}
		case ClassOf(e.Err) == ClassNoNumbers:
			d.Values[stockKey(w)] = 0
			d.Attributes[priceKey(w)] = map[string]any{"error": e.Err.Error()}
		}
	}
	if stats != nil {
		st := stats(p.acct.ID)
		if st.HasRate {
			d.Values["success_rate"] = round(st.SuccessRate, 1)
		}
		d.Values["spend_today"] = round(st.SpendToday, 4)
	}
	return d
}

// routerEntities are the SMS router's entities for the watched pairs.
func routerEntities(watch []Pair, currency string) []providers.Entity {
	var es []providers.Entity
	for _, w := range watch {
		es = append(es, providers.Entity{Key: cheapestKey(w), Name: "Cheapest " + pairLabel(w), Component: providers.Sensor,
			Icon: "mdi:sale", Attributes: true})
	}
	return append(es,
		providers.Entity{Key: "healthy_platforms", Name: "Healthy platforms", Component: providers.Sensor, StateClass: "measurement", Icon: "mdi:check-network"},
		moneyEntity("spend_today", "Spend today", currency, "total"),
		providers.Entity{Key: "active_orders", Name: "Orders in progress", Component: providers.Sensor, StateClass: "measurement", Icon: "mdi:message-processing"},
	)
}
