package sms

import (
	"sort"
	"time"
)

// View is the router at a glance, for the web UI: platforms, the watch list's offers and
// the kept orders. It reads caches and the order book only: no upstream call.
type View struct {
	Currency        string
	SpendToday      float64
	DefaultStrategy string
	Platforms       []PlatformView
	Watch           []WatchView
	Orders          []OrderView // newest first
}

// PlatformView is one platform account's health and figures.
type PlatformView struct {
	ID, Family, Currency string
	Health               Health
	Usable               bool
	Problem              string // why the router does not buy here now
	Stats                PlatformStats
}

// WatchView is one watched pair with every platform's cached offer.
type WatchView struct {
	Pair
	Offers []PriceEntry
}

// OrderView is one order as the UI lists it.
type OrderView struct {
	Request  Request
	State    string
	Active   bool
	Platform string
	Phone    string
	Code     string
	Price    *float64
	Currency string
	Created  time.Time
	Ended    time.Time
	Reason   string
	Message  string
}

// View returns the router's current view.
func (r *Router) View() View {
	v := View{Currency: r.set.Currency, DefaultStrategy: r.set.DefaultStrategy}
	for _, p := range r.platforms {
		ok, why := p.usable()
		v.Platforms = append(v.Platforms, PlatformView{ID: p.ID(), Family: p.Family(), Currency: p.Currency(),
			Health: p.Health(), Usable: ok, Problem: why, Stats: r.platformStats(p.ID())})
	}
	for _, w := range r.set.Watch {
		v.Watch = append(v.Watch, WatchView{Pair: w, Offers: r.PriceList(w)})
	}
	r.mu.Lock()
	r.loadLocked()
	v.SpendToday = round(r.spendTodayLocked(), 4)
	for _, o := range r.orders {
		ov := OrderView{Request: o.Req, State: o.State, Active: !o.terminal(), Platform: o.Platform, Code: o.Code,
			Currency: o.Currency, Created: o.Created, Ended: o.Ended, Reason: o.Reason, Message: o.Message}
		if o.Number != nil {
			ov.Phone = o.Number.Phone
			price := o.Number.Price
			ov.Price = &price
		}
		v.Orders = append(v.Orders, ov)
	}
	r.mu.Unlock()
	sort.Slice(v.Orders, func(i, j int) bool {
		if !v.Orders[i].Created.Equal(v.Orders[j].Created) {
			return v.Orders[i].Created.After(v.Orders[j].Created)
		}
		return v.Orders[i].Request.RequestID < v.Orders[j].Request.RequestID
	})
	return v
}
