// Package fake holds faithful fakes of the SMS platform protocols the sms provider
// speaks (docs/sms.md, "Protocol notes"): one http.Handler per protocol family — Activate
// (handler_api.php text protocol), FiveSim (REST JSON, bearer), SMSAPI (the self-hosted
// sms_api of seed 002), SMSMan, OnlineSim, SMSPVA and GetSMSCode.
//
// Each handler embeds a Market: the account balance, per-(service, country) offers
// (price and stock, in the platform's own codes), the orders and their state machine,
// counters per operation. Knobs are goroutine-safe, for tests and the demo:
//
//   - SetBalance, SetOffer: money and stock;
//   - SetCodeAfter(d): an order's code arrives d after purchase (0: at the first poll;
//     negative: never, until Deliver); Deliver(id, text) makes one arrive now;
//     Expire(id) ends an order without a code;
//   - Fail(op, token) / FailOnce(op, token): answer the operation with one of the
//     protocol's documented error tokens (or "HTTP 503" etc.) — ops are balance,
//     prices, countries, buy, check, finish, cancel, login;
//   - SetEarlyCancel(d): cancels within d of the purchase are refused;
//   - Count(op), Orders(), Order(id), Refunds(): what the client did.
package fake

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/fakeutil"
)

// Operations counted and injectable.
const (
	OpLogin     = "login"
	OpBalance   = "balance"
	OpPrices    = "prices"
	OpCountries = "countries"
	OpBuy       = "buy"
	OpCheck     = "check"
	OpFinish    = "finish"
	OpCancel    = "cancel"
)

// Order states.
const (
	Waiting   = "waiting"
	Received  = "received"
	Finished  = "finished"
	Cancelled = "cancelled"
	Expired   = "expired"
)

// Offer is the price and stock of one (service, country).
type Offer struct {
	Price float64
	Count int
}

// Order is one bought number.
type Order struct {
	ID, Service, Country, Phone string
	Price                       float64
	Created                     time.Time
	State                       string
	Code, Text                  string
	Polls                       int
	delivered                   bool
}

type key struct{ service, country string }

// Market is the upstream state a protocol handler serves. Safe for concurrent use.
type Market struct {
	mu          sync.Mutex
	now         func() time.Time
	balance     float64
	offers      map[key]Offer
	orders      map[string]*Order
	order       []string
	seq         int
	codeAfter   time.Duration
	earlyCancel time.Duration
	ep          fakeutil.Endpoints // counters and injected failure tokens, by operation
	refunds     int
	phonePrefix string
	phoneDigits int
}

func newMarket(phonePrefix string, digits int) *Market {
	return &Market{now: time.Now, offers: map[key]Offer{}, orders: map[string]*Order{},
		phonePrefix: phonePrefix, phoneDigits: digits}
}

// SetNow replaces the market's clock.
func (m *Market) SetNow(now func() time.Time) { m.mu.Lock(); m.now = now; m.mu.Unlock() }

// SetBalance sets the account balance.
func (m *Market) SetBalance(v float64) { m.mu.Lock(); m.balance = v; m.mu.Unlock() }

// Balance is the account balance.
func (m *Market) Balance() float64 { m.mu.Lock(); defer m.mu.Unlock(); return m.balance }

// SetOffer sets the price and stock of (service, country) in the platform's codes.
func (m *Market) SetOffer(service, country string, price float64, count int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offers[key{service, country}] = Offer{price, count}
}

// SetStock changes only the stock of an offer.
func (m *Market) SetStock(service, country string, count int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.offers[key{service, country}]
	o.Count = count
	m.offers[key{service, country}] = o
}

// SetCodeAfter sets when codes arrive after purchase; negative: never (until Deliver).
func (m *Market) SetCodeAfter(d time.Duration) { m.mu.Lock(); m.codeAfter = d; m.mu.Unlock() }

// SetEarlyCancel refuses cancels within d of the purchase.
func (m *Market) SetEarlyCancel(d time.Duration) { m.mu.Lock(); m.earlyCancel = d; m.mu.Unlock() }

// Fail answers every call of op with token until ClearFail.
func (m *Market) Fail(op, token string) { m.ep.Fail(op, token) }

// FailOnce answers the next call of op with token.
func (m *Market) FailOnce(op, token string) { m.ep.FailOnce(op, token) }

// ClearFail removes injected failures of op ("" = all).
func (m *Market) ClearFail(op string) { m.ep.ClearFail(op) }

// Count is how many calls of op were made.
func (m *Market) Count(op string) int { return m.ep.Count(op) }

// Refunds is how many orders were cancelled with a refund.
func (m *Market) Refunds() int { m.mu.Lock(); defer m.mu.Unlock(); return m.refunds }

// Orders returns copies of the orders, oldest first.
func (m *Market) Orders() []Order {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Order, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, *m.orders[id])
	}
	return out
}

// Order returns a copy of one order.
func (m *Market) Order(id string) (Order, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// Deliver makes an SMS arrive on an order now ("" text: a default text with a code).
func (m *Market) Deliver(id, text string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok || o.State != Waiting {
		return false
	}
	if text != "" {
		o.Text, o.Code = text, codeIn(text)
	}
	o.delivered = true
	return true
}

// Expire ends an order without a code (the platform's lifetime ran out); refunded.
func (m *Market) Expire(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok || o.State != Waiting {
		return false
	}
	o.State = Expired
	m.balance += o.Price
	return true
}

// begin counts op and returns an injected failure token, if any.
func (m *Market) begin(op string) (string, bool) {
	_, token, failed := m.ep.Hit(op)
	return token, failed
}

// Outcomes of market operations, rendered by each protocol in its own words.
type outcome int

const (
	ok outcome = iota
	noBalance
	noNumbers
	noOrder
	badStatus
	earlyCancel
	notOffered
)

func (m *Market) offer(service, country string) (Offer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.offers[key{service, country}]
	return o, ok
}

// offersOf lists the offers, sorted by country then service.
func (m *Market) offersOf() map[string]map[string]Offer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]map[string]Offer{}
	for k, o := range m.offers {
		if out[k.country] == nil {
			out[k.country] = map[string]Offer{}
		}
		out[k.country][k.service] = o
	}
	return out
}

func (m *Market) buy(service, country string) (Order, outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	of, exists := m.offers[key{service, country}]
	switch {
	case !exists:
		return Order{}, notOffered
	case of.Count <= 0:
		return Order{}, noNumbers
	case m.balance < of.Price:
		return Order{}, noBalance
	}
	m.seq++
	of.Count--
	m.offers[key{service, country}] = of
	m.balance -= of.Price
	id := strconv.Itoa(1000000 + m.seq)
	num := strconv.Itoa(m.seq)
	phone := m.phonePrefix + strings.Repeat("0", max(0, m.phoneDigits-len(m.phonePrefix)-len(num))) + num
	code := fmt.Sprintf("%06d", 246800+m.seq)
	o := &Order{ID: id, Service: service, Country: country, Phone: phone, Price: of.Price, Created: m.now(), State: Waiting,
		Code: code, Text: "Your verification code is " + code + ". Do not share it."}
	m.orders[id] = o
	m.order = append(m.order, id)
	return *o, ok
}

// check polls an order: the code arrives once delivered or codeAfter has passed.
func (m *Market) check(id string) (Order, outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, exists := m.orders[id]
	if !exists {
		return Order{}, noOrder
	}
	o.Polls++
	if o.State == Waiting && (o.delivered || (m.codeAfter >= 0 && m.now().Sub(o.Created) >= m.codeAfter)) {
		o.State = Received
	}
	return *o, ok
}

func (m *Market) finish(id string) (Order, outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, exists := m.orders[id]
	switch {
	case !exists:
		return Order{}, noOrder
	case o.State == Finished:
		return *o, ok
	case o.State != Received:
		return *o, badStatus
	}
	o.State = Finished
	return *o, ok
}

func (m *Market) cancel(id string) (Order, outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, exists := m.orders[id]
	switch {
	case !exists:
		return Order{}, noOrder
	case o.State != Waiting:
		return *o, badStatus
	case m.now().Sub(o.Created) < m.earlyCancel:
		return *o, earlyCancel
	}
	o.State = Cancelled
	m.balance += o.Price
	m.refunds++
	return *o, ok
}

// codeIn finds a 4-8 digit code in an SMS text.
func codeIn(text string) string {
	best, cur := "", ""
	for _, c := range text + " " {
		if c >= '0' && c <= '9' {
			cur += string(c)
			continue
		}
		if len(cur) >= 4 && len(cur) <= 8 && len(cur) > len(best) {
			best = cur
		}
		cur = ""
	}
	return best
}

// httpStatus parses an injected "HTTP nnn" token.
func httpStatus(token string) (int, bool) {
	rest, ok := strings.CutPrefix(token, "HTTP ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

func param(r *http.Request, name string) string {
	if v := r.URL.Query().Get(name); v != "" {
		return v
	}
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		return r.PostForm.Get(name)
	}
	return ""
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Serve starts h on a loopback test server; stop closes it.
func Serve(h http.Handler) (url string, stop func()) {
	s := httptest.NewServer(h)
	return s.URL, s.Close
}

func sortedCountries(m map[string]map[string]Offer) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
