package sms

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

// TestRankStrategies: each strategy puts the right platform first, and ties fall back to
// price, then priority, then id.
func TestRankStrategies(t *testing.T) {
	table := []Candidate{
		{ID: "a", Price: 10, Priority: 2, Balance: 50, Success: 0.5},
		{ID: "b", Price: 8, Priority: 3, Balance: 100, Success: 0.3},
		{ID: "c", Price: 12, Priority: 1, Balance: 20, Success: 0.9},
	}
	reverse := func(n int, swap func(i, j int)) {
		for i := 0; i < n/2; i++ {
			swap(i, n-1-i)
		}
	}
	for _, tc := range []struct {
		strategy string
		want     []string
	}{
		{StrategyPrice, []string{"b", "a", "c"}},
		{StrategySuccess, []string{"c", "a", "b"}},
		{StrategyBalance, []string{"b", "a", "c"}},
		{StrategyPriority, []string{"c", "a", "b"}},
		{StrategyRandom, []string{"c", "b", "a"}}, // sorted by id, then the (reversing) shuffle
		{"", []string{"b", "a", "c"}},             // unknown or empty: price
	} {
		cs := slices.Clone(table)
		Rank(tc.strategy, cs, reverse)
		var got []string
		for _, c := range cs {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: order %v, want %v", tc.strategy, got, tc.want)
		}
	}

	ties := []Candidate{
		{ID: "z", Price: 5, Priority: 1, Balance: 10, Success: 0.5},
		{ID: "y", Price: 5, Priority: 1, Balance: 10, Success: 0.5},
		{ID: "x", Price: 4, Priority: 9, Balance: 10, Success: 0.5},
	}
	for _, s := range []string{StrategyPrice, StrategySuccess, StrategyBalance} {
		cs := slices.Clone(ties)
		Rank(s, cs, nil)
		if cs[0].ID != "x" || cs[1].ID != "y" || cs[2].ID != "z" {
			t.Errorf("%s ties: %v", s, cs)
		}
	}
	cs := slices.Clone(ties)
	Rank(StrategyPriority, cs, nil)
	if cs[0].ID != "y" || cs[1].ID != "z" || cs[2].ID != "x" {
		t.Errorf("priority ties: %v", cs)
	}
}

// TestRouterStrategyPicksPlatform: with three live platforms, an order of each strategy
// is bought where the strategy says.
func TestRouterStrategyPicksPlatform(t *testing.T) {
	// cheap: price 5, balance 20, priority 3; rich: price 9, balance 500, priority 2;
	// first: price 7, balance 100, priority 1.
	cheap, fc, _ := startActivate(t, "cheap", 5, 10, 3)
	rich, fr, _ := startActivate(t, "rich", 9, 10, 2)
	first, ff, _ := startActivate(t, "first", 7, 10, 1)
	fc.SetBalance(20)
	fr.SetBalance(500)
	ff.SetBalance(100)
	for _, f := range []*fake.Activate{fc, fr, ff} {
		f.SetCodeAfter(0)
	}
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), cheap, rich, first)
	for _, tc := range []struct{ strategy, want string }{
		{StrategyPrice, "cheap"},
		{StrategyBalance, "rich"},
		{StrategyPriority, "first"},
	} {
		rid := "s-" + tc.strategy
		tr.order(orderJSON(rid, `"strategy":"`+tc.strategy+`"`))
		m := tr.pub.waitFor(t, rid, StatusNumber, StatusFailed)
		if m.Msg.Status != StatusNumber || m.Msg.Platform != tc.want {
			t.Errorf("%s: %+v, want a number from %s", tc.strategy, m.Msg, tc.want)
		}
		tr.pub.waitFor(t, rid, StatusDone)
	}
	// The explicit platform wins over the strategy.
	tr.order(orderJSON("pinned", `"strategy":"price"`, `"platform":"rich"`))
	if m := tr.pub.waitFor(t, "pinned", StatusNumber, StatusFailed); m.Msg.Platform != "rich" {
		t.Errorf("pinned to rich: %+v", m.Msg)
	}
	// The default strategy (price) applies without one.
	tr.order(orderJSON("default"))
	if m := tr.pub.waitFor(t, "default", StatusNumber, StatusFailed); m.Msg.Platform != "cheap" {
		t.Errorf("default strategy: %+v", m.Msg)
	}
	// max_price leaves out what costs more.
	tr.order(orderJSON("capped", `"strategy":"balance"`, `"max_price":8`))
	if m := tr.pub.waitFor(t, "capped", StatusNumber, StatusFailed); m.Msg.Platform != "first" {
		t.Errorf("balance under max_price 8: %+v", m.Msg)
	}
}

// TestRouterSuccessStrategyAvoidsFailingPlatform: the success strategy ranks by the
// outcome of our own orders.
func TestRouterSuccessStrategyAvoidsFailingPlatform(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	b, fb, _ := startActivate(t, "b", 6, 10, 2)
	fa.SetCodeAfter(-1) // a never delivers
	fb.SetCodeAfter(0)
	set := fastSettings()
	set.CodeTimeout = 50 * time.Millisecond
	tr := startRouter(t, &providers.MemoryKV{}, set, a, b)
	tr.order(orderJSON("first", `"strategy":"success"`)) // no history: ties go to the cheaper a
	if m := tr.pub.waitFor(t, "first", StatusDone, StatusFailed); m.Msg.Reason != ReasonTimeout || m.Msg.Platform != "a" {
		t.Fatalf("first order: %+v", m.Msg)
	}
	tr.order(orderJSON("second", `"strategy":"success"`))
	if m := tr.pub.waitFor(t, "second", StatusNumber, StatusFailed); m.Msg.Platform != "b" {
		t.Errorf("after a failed, success picks %+v", m.Msg)
	}
}

func TestRouterFailoverOnNoNumbers(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1) // cheapest; its quote says in stock
	b, fb, _ := startActivate(t, "b", 6, 10, 2)
	fa.Fail(fake.OpBuy, "NO_NUMBERS")
	fb.SetCodeAfter(0)
	set := fastSettings()
	set.Watch = []Pair{{"tg", "us"}}
	tr := startRouter(t, &providers.MemoryKV{}, set, a, b)
	tr.order(orderJSON("r1"))
	m := tr.pub.waitFor(t, "r1", StatusNumber, StatusFailed)
	if m.Msg.Status != StatusNumber || m.Msg.Platform != "b" {
		t.Fatalf("want a number from b after a's NO_NUMBERS: %+v", m.Msg)
	}
	done := tr.pub.waitFor(t, "r1", StatusDone)
	if done.Msg.Code == "" {
		t.Errorf("done without the code: %+v", done.Msg)
	}
	if fa.Count(fake.OpBuy) != 1 || fb.Count(fake.OpBuy) != 1 {
		t.Errorf("buys a=%d b=%d", fa.Count(fake.OpBuy), fb.Count(fake.OpBuy))
	}
	// The refusal counts as an empty stock until the next quote; a stays usable.
	if v := a.device().Values[stockKey(Pair{"tg", "us"})]; v != 0 {
		t.Errorf("a's stock after NO_NUMBERS = %v", v)
	}
	if ok, why := a.usable(); !ok || a.lowBalance() {
		t.Errorf("NO_NUMBERS disabled a: %s", why)
	}
}

func TestRouterFailoverOnNoBalanceRaisesLowBalance(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	b, fb, _ := startActivate(t, "b", 6, 10, 2)
	fa.SetBalance(1) // healthy, but less than the price: the purchase says NO_BALANCE
	fb.SetCodeAfter(0)
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a, b)
	tr.order(orderJSON("r1"))
	if m := tr.pub.waitFor(t, "r1", StatusNumber, StatusFailed); m.Msg.Platform != "b" {
		t.Fatalf("want b after a's NO_BALANCE: %+v", m.Msg)
	}
	done := tr.pub.waitFor(t, "r1", StatusDone)
	if fa.Count(fake.OpBuy) != 1 || fa.Refunds() != 0 || len(fa.Orders()) != 0 {
		t.Errorf("a: buys %d orders %v", fa.Count(fake.OpBuy), fa.Orders())
	}
	_ = done
	dev := a.device()
	if dev.Values["low_balance"] != true || dev.Values["last_api_error"] == "" {
		t.Errorf("a after NO_BALANCE: low_balance %v, last_api_error %q", dev.Values["low_balance"], dev.Values["last_api_error"])
	}
	if ok, _ := a.usable(); ok {
		t.Error("a platform that needs funds is still a candidate")
	}
	if n := tr.device().Values["healthy_platforms"]; n != 1 {
		t.Errorf("healthy platforms = %v, want 1", n)
	}
	// The next order does not even try a.
	tr.order(orderJSON("r2"))
	tr.pub.waitFor(t, "r2", StatusDone)
	if fa.Count(fake.OpBuy) != 1 {
		t.Errorf("a was tried again while it needs funds: %d buys", fa.Count(fake.OpBuy))
	}
	// A top-up seen by the health check clears the condition.
	fa.SetBalance(100)
	if _, err := a.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.lowBalance() {
		t.Error("low balance still on after a top-up")
	}
	if ok, why := a.usable(); !ok {
		t.Errorf("a not usable after a top-up: %s", why)
	}
}

func TestRouterFailoverOnFatalDisablesPlatform(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	b, fb, _ := startActivate(t, "b", 6, 10, 2)
	fa.Fail(fake.OpBuy, "BAD_KEY")
	fb.SetCodeAfter(0)
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a, b)
	tr.order(orderJSON("r1"))
	if m := tr.pub.waitFor(t, "r1", StatusNumber, StatusFailed); m.Msg.Platform != "b" {
		t.Fatalf("want b after a's BAD_KEY: %+v", m.Msg)
	}
	if ok, _ := a.usable(); ok {
		t.Error("a refused key leaves the platform usable")
	}
	if d := a.device(); d.Values["problem"] != true {
		t.Errorf("problem = %v", d.Values["problem"])
	}
}

func TestRouterNoFailoverOnOrderError(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	b, fb, _ := startActivate(t, "b", 6, 10, 2)
	fa.Fail(fake.OpBuy, "ORDER_ALREADY_EXISTS")
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a, b)
	tr.order(orderJSON("r1"))
	m := tr.pub.waitFor(t, "r1", StatusNumber, StatusFailed)
	if m.Msg.Status != StatusFailed || m.Msg.Reason != ReasonOrderError {
		t.Fatalf("want failed/order_error: %+v", m.Msg)
	}
	if fb.Count(fake.OpBuy) != 0 {
		t.Errorf("an order-level error failed over to b (%d buys)", fb.Count(fake.OpBuy))
	}
	if len(m.Msg.Attempts) != 1 || m.Msg.Attempts[0].Platform != "a" || m.Msg.Attempts[0].Code != "ORDER_ALREADY_EXISTS" ||
		m.Msg.Attempts[0].Outcome != string(ClassOrder) {
		t.Errorf("attempts %+v", m.Msg.Attempts)
	}
}

func TestRouterAllPlatformsFailReportsEveryAttempt(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	b, fb, _ := startActivate(t, "b", 6, 10, 2)
	c, fc, _ := startActivate(t, "c", 7, 10, 3)
	d, fd, _ := startActivate(t, "d", 8, 10, 4)
	for _, f := range []*fake.Activate{fa, fb, fc, fd} {
		f.Fail(fake.OpBuy, "NO_NUMBERS")
	}
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a, b, c, d)
	tr.order(orderJSON("r1"))
	m := tr.pub.waitFor(t, "r1", StatusNumber, StatusFailed)
	if m.Msg.Status != StatusFailed || m.Msg.Reason != ReasonAllFailed || len(m.Msg.Attempts) != DefaultMaxPlatformTries {
		t.Fatalf("want failed/all_failed after %d tries: %+v", DefaultMaxPlatformTries, m.Msg)
	}
	if fd.Count(fake.OpBuy) != 0 {
		t.Error("more platforms tried than max_platform_tries")
	}
}

func TestRouterNoCandidate(t *testing.T) {
	a, _, _ := startActivate(t, "a", 5, 0, 1) // no stock
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a)
	tr.order(orderJSON("r1"))
	m := tr.pub.waitFor(t, "r1", StatusNumber, StatusFailed)
	if m.Msg.Reason != ReasonNoPlatform || len(m.Msg.Attempts) != 1 || m.Msg.Attempts[0].Op != "skip" {
		t.Errorf("%+v", m.Msg)
	}
	tr.order(`{"request_id":"r2","service":"tg","country":"zz"}`)
	if m := tr.pub.waitFor(t, "r2", StatusFailed); m.Msg.Reason != ReasonNoPlatform {
		t.Errorf("unserved country: %+v", m.Msg)
	}
}

func TestRouterTimeoutCancelsUpstream(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	fa.SetCodeAfter(-1) // never
	set := fastSettings()
	set.CodeTimeout = 50 * time.Millisecond
	tr := startRouter(t, &providers.MemoryKV{}, set, a)
	tr.order(orderJSON("r1"))
	num := tr.pub.waitFor(t, "r1", StatusNumber)
	m := tr.pub.waitFor(t, "r1", StatusFailed, StatusDone, StatusCancelled)
	if m.Msg.Status != StatusFailed || m.Msg.Reason != ReasonTimeout || m.Msg.Refunded == nil || !*m.Msg.Refunded {
		t.Fatalf("want failed/timeout refunded: %+v", m.Msg)
	}
	if m.Msg.Phone != num.Msg.Phone || m.Msg.OrderID != num.Msg.OrderID {
		t.Errorf("the failure does not name the number: %+v", m.Msg)
	}
	if fa.Refunds() != 1 || fa.Count(fake.OpCancel) != 1 || fa.Balance() != 100 {
		t.Errorf("fake: refunds %d cancels %d balance %v", fa.Refunds(), fa.Count(fake.OpCancel), fa.Balance())
	}
	if o, _ := fa.Order(num.Msg.OrderID); o.State != fake.Cancelled {
		t.Errorf("fake order state %s", o.State)
	}
	if v := tr.device().Values["spend_today"]; v != 0.0 {
		t.Errorf("a refunded order counts in spend_today: %v", v)
	}
}

func TestRouterTimeoutWithCancelRefused(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	fa.SetCodeAfter(-1)
	fa.Fail(fake.OpCancel, "NO_ACTIVATION")
	set := fastSettings()
	set.CodeTimeout = 50 * time.Millisecond
	tr := startRouter(t, &providers.MemoryKV{}, set, a)
	tr.order(orderJSON("r1"))
	m := tr.pub.waitFor(t, "r1", StatusFailed, StatusDone)
	if m.Msg.Reason != ReasonTimeout || m.Msg.Refunded == nil || *m.Msg.Refunded {
		t.Errorf("want timeout, not refunded: %+v", m.Msg)
	}
}

func TestRouterRestartResumesAndDeliversOnce(t *testing.T) {
	kv := &providers.MemoryKV{}
	_, fa, url := startActivate(t, "a", 5, 10, 1)
	fa.SetCodeAfter(-1)
	tr1 := startRouter(t, kv, fastSettings(), activateAt(t, "a", url, 1))
	tr1.order(orderJSON("r1"))
	num := tr1.pub.waitFor(t, "r1", StatusNumber)
	tr1.stop()

	fa.Deliver(num.Msg.OrderID, "Telegram code 55123, do not share")
	// A new router (as after a restart) over the same store, and a new platform account.
	tr2 := startRouter(t, kv, fastSettings(), activateAt(t, "a", url, 1))
	done := tr2.pub.waitFor(t, "r1", StatusDone)
	if done.Msg.Code != "55123" {
		t.Errorf("done %+v", done.Msg)
	}
	all := append(tr1.pub.all(), tr2.pub.all()...)
	counts := map[string]int{}
	for _, m := range all {
		counts[m.Msg.Status]++
		if m.Topic != topicOrderPrefix+"r1" {
			t.Errorf("message on %s", m.Topic)
		}
	}
	if counts[StatusNumber] != 1 || counts[StatusCode] != 1 || counts[StatusDone] != 1 || len(all) != 3 {
		t.Errorf("messages %v", counts)
	}
	code := tr2.pub.waitFor(t, "r1", StatusCode)
	if code.Msg.Code != "55123" || code.Msg.Text != "Telegram code 55123, do not share" || code.Msg.Phone != num.Msg.Phone {
		t.Errorf("code message %+v", code.Msg)
	}
	if fa.Count(fake.OpBuy) != 1 {
		t.Errorf("bought %d times", fa.Count(fake.OpBuy))
	}
	if o, _ := fa.Order(num.Msg.OrderID); o.State != fake.Finished {
		t.Errorf("not finished upstream: %s", o.State)
	}
	// A third start sends nothing again.
	tr2.stop()
	tr3 := startRouter(t, kv, fastSettings(), activateAt(t, "a", url, 1))
	tr3.order(orderJSON("marker"))
	tr3.pub.waitFor(t, "marker", StatusNumber, StatusFailed)
	for _, m := range tr3.pub.all() {
		if m.Msg.RequestID == "r1" {
			t.Errorf("r1 reported again after a restart: %+v", m.Msg)
		}
	}
}

// TestRouterKeepsMessagesUntilPublished: progress messages that could not be published
// (broker down) survive a restart and are sent in order.
func TestRouterKeepsMessagesUntilPublished(t *testing.T) {
	kv := &providers.MemoryKV{}
	_, fa, url := startActivate(t, "a", 5, 10, 1)
	fa.SetCodeAfter(0)
	r1 := newRouter(t, kv, fastSettings(), activateAt(t, "a", url, 1))
	published := make(chan struct{}, 100)
	r1.deps.Publish = func(string, []byte, bool) error {
		published <- struct{}{}
		return context.DeadlineExceeded // the broker is down
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r1.Run(ctx) }()
	r1.Handle(ctx, TopicOrder, []byte(orderJSON("r1")))
	// Wait until the order ended (all its messages are kept) and a publish was tried.
	deadline := time.After(wait)
	for {
		r1.mu.Lock()
		o := r1.orders["r1"]
		ended := o != nil && o.terminal() && len(o.Outbox) == 3
		r1.mu.Unlock()
		if ended {
			break
		}
		select {
		case <-published:
		case <-deadline:
			t.Fatal("the order did not end")
		}
	}
	cancel()
	<-done
	tr2 := startRouter(t, kv, fastSettings(), activateAt(t, "a", url, 1))
	tr2.pub.waitFor(t, "r1", StatusDone)
	var got []string
	for _, m := range tr2.pub.all() {
		got = append(got, m.Msg.Status)
	}
	if !slices.Equal(got, []string{StatusNumber, StatusCode, StatusDone}) {
		t.Errorf("messages after the restart: %v", got)
	}
	if fa.Count(fake.OpBuy) != 1 {
		t.Errorf("bought %d times", fa.Count(fake.OpBuy))
	}
}

func TestRouterDuplicateRequestIDDoesNotBuyTwice(t *testing.T) {
	kv := &providers.MemoryKV{}
	a, fa, url := startActivate(t, "a", 5, 10, 1)
	fa.SetCodeAfter(-1)
	tr := startRouter(t, kv, fastSettings(), a)
	tr.order(orderJSON("r1"))
	tr.order(orderJSON("r1")) // while the first is in progress
	num := tr.pub.waitFor(t, "r1", StatusNumber)
	tr.order(orderJSON("r1", `"strategy":"random"`))
	fa.Deliver(num.Msg.OrderID, "")
	tr.pub.waitFor(t, "r1", StatusDone)
	tr.order(orderJSON("r1")) // after it ended
	tr.stop()
	tr2 := startRouter(t, kv, fastSettings(), activateAt(t, "a", url, 1))
	tr2.order(orderJSON("r1")) // after a restart
	tr2.order(orderJSON("marker"))
	tr2.pub.waitFor(t, "marker", StatusNumber, StatusFailed)
	if n := fa.Count(fake.OpBuy); n != 2 {
		t.Errorf("buys = %d, want 2 (r1 once, marker once)", n)
	}
	if n := tr.pub.count("r1", StatusNumber) + tr2.pub.count("r1", StatusNumber); n != 1 {
		t.Errorf("%d number messages for r1", n)
	}
}

func TestRouterMaxDailySpendRefusesBeforeBuying(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 10, 10, 1)
	b, fb, _ := startActivate(t, "b", 12, 10, 2)
	fa.SetCodeAfter(0)
	set := fastSettings()
	set.MaxDailySpend = 21
	tr := startRouter(t, &providers.MemoryKV{}, set, a, b)
	tr.order(orderJSON("r1"))
	tr.pub.waitFor(t, "r1", StatusDone)
	// 10 spent: a (10) still fits, then only 1 is left.
	tr.order(orderJSON("r2"))
	tr.pub.waitFor(t, "r2", StatusDone)
	tr.order(orderJSON("r3"))
	m := tr.pub.waitFor(t, "r3", StatusNumber, StatusFailed)
	if m.Msg.Status != StatusFailed || m.Msg.Reason != ReasonMaxDailySpend {
		t.Fatalf("want failed/max_daily_spend: %+v", m.Msg)
	}
	if fa.Count(fake.OpBuy) != 2 || fb.Count(fake.OpBuy) != 0 {
		t.Errorf("buys a=%d b=%d: the cap did not refuse before buying", fa.Count(fake.OpBuy), fb.Count(fake.OpBuy))
	}
	if v := tr.device().Values["spend_today"]; v != 20.0 {
		t.Errorf("spend_today = %v", v)
	}
	if v := a.device().Values["spend_today"]; v != 20.0 {
		t.Errorf("a spend_today = %v", v)
	}
}

func TestRouterCancel(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	fa.SetCodeAfter(-1)
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a)
	tr.order(orderJSON("r1"))
	num := tr.pub.waitFor(t, "r1", StatusNumber)
	tr.Handle(context.Background(), topicOrderPrefix+"r1/cancel", []byte(`{"reason":"user"}`))
	m := tr.pub.waitFor(t, "r1", StatusCancelled, StatusFailed, StatusDone)
	if m.Msg.Status != StatusCancelled || m.Msg.Refunded == nil || !*m.Msg.Refunded || m.Msg.Phone != num.Msg.Phone {
		t.Fatalf("want cancelled and refunded: %+v", m.Msg)
	}
	if fa.Refunds() != 1 {
		t.Errorf("refunds = %d", fa.Refunds())
	}
	// A cancel of an ended or unknown order does nothing.
	tr.Handle(context.Background(), topicOrderPrefix+"r1/cancel", nil)
	tr.Handle(context.Background(), topicOrderPrefix+"nope/cancel", nil)
	if fa.Count(fake.OpCancel) != 1 {
		t.Errorf("cancels = %d", fa.Count(fake.OpCancel))
	}
}

func TestRouterEarlyCancelIsRetried(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	fa.SetCodeAfter(-1)
	fa.FailOnce(fake.OpCancel, "EARLY_CANCEL_DENIED")
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a)
	tr.order(orderJSON("r1"))
	tr.pub.waitFor(t, "r1", StatusNumber)
	tr.Handle(context.Background(), topicOrderPrefix+"r1/cancel", nil)
	if m := tr.pub.waitFor(t, "r1", StatusCancelled, StatusFailed); m.Msg.Status != StatusCancelled {
		t.Fatalf("%+v", m.Msg)
	}
	if fa.Count(fake.OpCancel) != 2 || fa.Refunds() != 1 {
		t.Errorf("cancels %d refunds %d", fa.Count(fake.OpCancel), fa.Refunds())
	}
}

func TestRouterRejectsInvalidOrders(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a)
	for rid, payload := range map[string]string{
		"bad1": `{"request_id":"bad1","service":"tg"}`,
		"bad2": `{"request_id":"bad2","service":"tg","country":"us","strategy":"cheapest"}`,
		"bad3": `{"request_id":"bad3","service":"tg","country":"us","platform":"nowhere"}`,
		"bad4": `{"request_id":"bad4","service":"tg","country":"us","max_price":-1}`,
		"bad5": `{"request_id":"bad5","service":"tg","country":"us","colour":"red"}`,
		"bad6": `{"request_id":"bad6","service":5,"country":"us"}`,
	} {
		tr.order(payload)
		if m := tr.pub.waitFor(t, rid, StatusFailed, StatusNumber); m.Msg.Reason != ReasonInvalidRequest || m.Msg.Error == "" {
			t.Errorf("%s: %+v", rid, m.Msg)
		}
	}
	tr.order(`{"request_id":"a/b","service":"tg","country":"us"}`) // not one topic level: ignored
	tr.order(`{"request_id":"trunc",`)                             // no request_id can be read: ignored
	tr.order(orderJSON("marker"))
	tr.pub.waitFor(t, "marker", StatusNumber)
	if fa.Count(fake.OpBuy) != 1 {
		t.Errorf("buys = %d", fa.Count(fake.OpBuy))
	}
	for _, m := range tr.pub.all() {
		if m.Msg.RequestID == "a/b" || m.Msg.RequestID == "trunc" {
			t.Errorf("answered on a request_id that is not a topic level: %+v", m)
		}
	}
}

func TestRouterSettingsDefaultsAndErrors(t *testing.T) {
	a := newPlatform(t, "a", Settings{Platform: FamilyActivate, APIKey: "k", BaseURL: "http://127.0.0.1:1"})
	r := newRouter(t, &providers.MemoryKV{}, RouterSettings{}, a)
	s := r.Settings()
	if s.DefaultStrategy != StrategyPrice || s.MaxPlatformTries != 3 || s.CodePollInterval != 20*time.Second ||
		s.CodeTimeout != 10*time.Minute || s.CountriesTTL != 24*time.Hour || s.PricesTTL != time.Hour ||
		s.HealthTTL != 5*time.Minute || s.MaxDailySpend != 0 || s.Currency != "RUB" {
		t.Errorf("defaults %+v", s)
	}
	f := newPlatform(t, "f", Settings{Platform: FamilySMSAPI, Username: "u", Password: "p", BaseURL: "http://127.0.0.1:1"})
	for _, tc := range []struct {
		set  RouterSettings
		want string
	}{
		{RouterSettings{DefaultStrategy: "cheap"}, "default_strategy: must be one of"},
		{RouterSettings{MaxPlatformTries: -1}, "max_platform_tries"},
		{RouterSettings{CodeTimeout: -time.Second}, "code_timeout"},
		{RouterSettings{MaxDailySpend: -1}, "max_daily_spend"},
		{RouterSettings{Watch: []Pair{{"tg", ""}}}, "watch[0]: needs both"},
		{RouterSettings{Watch: []Pair{{"tg", "us"}, {"TG", "US"}}}, "repeats"},
	} {
		_, err := NewRouter([]providers.GroupMember{{Account: providers.Account{ID: "a"}, Provider: a}},
			providers.GroupDeps{Decode: func(v any) error { *v.(*RouterSettings) = tc.set; return nil }})
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.set, err, tc.want)
		}
	}
	// Mixed currencies need sms.currency and rates.
	members := []providers.GroupMember{{Account: providers.Account{ID: "a"}, Provider: a}, {Account: providers.Account{ID: "f"}, Provider: f}}
	if _, err := NewRouter(members, providers.GroupDeps{}); err == nil || !contains(err.Error(), "sms.currency") {
		t.Errorf("mixed currencies: %v", err)
	}
	_, err := NewRouter(members, providers.GroupDeps{Decode: func(v any) error {
		*v.(*RouterSettings) = RouterSettings{Currency: "CNY", Rates: map[string]float64{"RUB": 0.08}}
		return nil
	}})
	if err != nil {
		t.Errorf("with rates: %v", err)
	}
}
