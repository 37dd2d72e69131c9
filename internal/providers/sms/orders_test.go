package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
	"github.com/accountbridge/accountbridge/internal/store"
)

// Orders that are not exactly one valid JSON object, or carry fields past their limits,
// are refused with invalid_request: nothing is bought, and the reply stays small.
func TestOrderStrictAndBounded(t *testing.T) {
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	tr := startRouter(t, &providers.MemoryKV{}, fastSettings(), a)
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		rid, payload, wantErr string
	}{
		{"trail", `{"request_id":"trail","service":"tg","country":"us"} {"request_id":"trail2","service":"tg","country":"us"}`, "trailing data"},
		{"trail-junk", `{"request_id":"trail-junk","service":"tg","country":"us"}x`, "trailing data"},
		{"dup", `{"request_id":"dup","service":"tg","country":"us","country":"gb"}`, `duplicate key "country"`},
		{"dup-case", `{"request_id":"dup-case","service":"tg","SERVICE":"wa","country":"us"}`, `duplicate key "SERVICE"`},
		{"long-service", `{"request_id":"long-service","service":"` + strings.Repeat("s", 33) + `","country":"us"}`, "`service` is 33 bytes; at most 32"},
		{"long-country", `{"request_id":"long-country","service":"tg","country":"` + strings.Repeat("c", 40) + `"}`, "`country` is 40 bytes"},
		{"long-strategy", `{"request_id":"long-strategy","service":"tg","country":"us","strategy":"` + strings.Repeat("p", 17) + `"}`, "`strategy` is 17 bytes"},
		{"long-platform", `{"request_id":"long-platform","service":"tg","country":"us","platform":"` + strings.Repeat("p", 65) + `"}`, "`platform` is 65 bytes"},
		{"huge", `{"request_id":"huge","service":"` + huge + `","country":"us"}`, fmt.Sprintf("the order is %d bytes; at most 4096", len(huge)+49)},
	}
	for _, tt := range tests {
		t.Run(tt.rid, func(t *testing.T) {
			tr.order(tt.payload)
			m := tr.pub.waitFor(t, tt.rid, StatusFailed, StatusNumber)
			if m.Msg.Reason != ReasonInvalidRequest || !strings.Contains(m.Msg.Error, tt.wantErr) {
				t.Errorf("reply %+v, want invalid_request with %q", m.Msg, tt.wantErr)
			}
			if len(m.Raw) > 1024 {
				t.Errorf("reply is %d bytes", len(m.Raw))
			}
		})
	}
	tr.order(orderJSON("marker"))
	tr.pub.waitFor(t, "marker", StatusNumber)
	if n := fa.Count(fake.OpBuy); n != 1 {
		t.Errorf("buys = %d, want only the marker's", n)
	}
	if n := tr.pub.count("trail2", StatusNumber) + tr.pub.count("trail2", StatusFailed); n != 0 {
		t.Errorf("the trailing object was taken as an order")
	}
}

// Each order is a row of the store's order table; a change writes that row alone, and a
// restart reads them back.
func TestOrdersAreRowsAndSurviveRestart(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv := st.KV("@sms")
	a, fa, _ := startActivate(t, "a", 5, 10, 1)
	// No code until the restart: r1 is still waiting when the first router stops, however
	// slow the machine (qemu-arm in CI).
	fa.SetCodeAfter(time.Hour)
	tr := startRouter(t, kv, fastSettings(), a)
	tr.order(orderJSON("r1"))
	tr.pub.waitFor(t, "r1", StatusNumber)
	tr.order(`{"request_id":"r2","service":"tg"}`)
	tr.pub.waitFor(t, "r2", StatusFailed)
	tr.stop()

	rows := map[string]order{}
	if err := kv.LoadOrders(ctx, func(id string, data []byte) error {
		var o order
		if err := json.Unmarshal(data, &o); err != nil {
			return err
		}
		rows[id] = o
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows["r1"].State != stateWaiting || rows["r2"].Reason != ReasonInvalidRequest {
		t.Errorf("rows = %+v", rows)
	}
	if _, ok, _ := kv.Get(ctx, kvOrders); ok {
		t.Error("orders also kept as one KV value")
	}

	fa.SetCodeAfter(0)
	tr2 := startRouter(t, kv, fastSettings(), a)
	tr2.order(orderJSON("r1")) // a request_id already used: ignored
	tr2.pub.waitFor(t, "r1", StatusCode, StatusDone, StatusFailed, StatusCancelled)
	if n := tr2.pub.count("r1", StatusNumber); n != 0 {
		t.Errorf("r1 bought again after the restart")
	}
}

// Orders stored by an older version as one KV value are moved into the table once.
func TestLegacyOrdersImported(t *testing.T) {
	ctx := context.Background()
	kv := &providers.MemoryKV{}
	legacy := map[string]*order{"old": {Req: Request{RequestID: "old", Service: "tg", Country: "us"}, State: stateFailed, Reason: ReasonNoPlatform}}
	raw, _ := json.Marshal(legacy)
	if err := kv.Set(ctx, kvOrders, raw); err != nil {
		t.Fatal(err)
	}
	r := newRouter(t, kv, fastSettings())
	r.mu.Lock()
	r.loadLocked()
	_, have := r.orders["old"]
	r.mu.Unlock()
	if !have {
		t.Error("legacy order not loaded")
	}
	if _, ok, _ := kv.Get(ctx, kvOrders); ok {
		t.Error("legacy value not deleted")
	}
	n := 0
	_ = kv.LoadOrders(ctx, func(string, []byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("rows = %d", n)
	}
}

// Orders that bought nothing are remembered up to max_rejected_orders, oldest forgotten
// first, in memory and in the store; orders that bought a number are kept.
func TestRejectedOrdersAreCapped(t *testing.T) {
	ctx := context.Background()
	kv := &providers.MemoryKV{}
	a, _, _ := startActivate(t, "a", 5, 10, 1)
	set := fastSettings()
	set.MaxRejectedOrders = 5
	tr := startRouter(t, kv, set, a)
	tr.order(orderJSON("bought"))
	tr.pub.waitFor(t, "bought", StatusNumber)
	for i := range 20 {
		rid := fmt.Sprintf("bad%02d", i)
		tr.order(`{"request_id":"` + rid + `","service":"tg"}`)
		tr.pub.waitFor(t, rid, StatusFailed)
	}
	// Orders that fail in their worker (nobody serves them) are capped too, also while
	// their workers are still running (make chaos found a crash there).
	for i := range 20 {
		rid := fmt.Sprintf("none%02d", i)
		tr.order(`{"request_id":"` + rid + `","service":"zz","country":"us"}`)
		tr.pub.waitFor(t, rid, StatusFailed)
	}
	for i := range 5 {
		rid := fmt.Sprintf("bad%02d", 15+i)
		tr.order(`{"request_id":"` + rid + `","service":"tg"}`)
		tr.pub.waitFor(t, rid, StatusFailed)
	}
	tr.stop()
	var ids []string
	_ = kv.LoadOrders(ctx, func(id string, _ []byte) error { ids = append(ids, id); return nil })
	if got := strings.Join(ids, ","); got != "bad15,bad16,bad17,bad18,bad19,bought" {
		t.Errorf("stored orders: %s", got)
	}
	tr.Router.mu.Lock()
	n := len(tr.Router.orders)
	tr.Router.mu.Unlock()
	if n != 6 {
		t.Errorf("orders in memory = %d", n)
	}
}
