package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	st := AlertState{Rule: "offline", Subject: "box.online", State: "firing", Updated: at}
	last, err := s.CommitAlert(ctx, st, false, []string{"mqtt", "webhook"}, "offline:box.online", []byte(`{"id":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	// The state and both entries were stored together.
	if got, ok, _ := s.AlertState(ctx, "offline", "box.online"); !ok || got.State != "firing" {
		t.Errorf("state = %+v, %v", got, ok)
	}
	second, err := s.CommitAlert(ctx, st, true, []string{"mqtt", "webhook"}, "offline:box.online", []byte(`{"id":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.AlertState(ctx, "offline", "box.online"); ok {
		t.Error("state not deleted")
	}
	steps := []struct {
		name    string
		output  string
		upTo    int64
		wantOK  bool
		payload string
	}{
		{"oldest first", "mqtt", second, true, `{"id":"a"}`},
		{"not released yet", "mqtt", last - 2, false, ""},
		{"other output", "webhook", second, true, `{"id":"a"}`},
		{"unknown output", "email", second, false, ""},
	}
	for _, tt := range steps {
		e, ok, err := s.NextOutbox(ctx, tt.output, tt.upTo)
		if err != nil || ok != tt.wantOK || (ok && (string(e.Payload) != tt.payload || e.Created != at.UnixNano())) {
			t.Errorf("%s: %+v %v %v", tt.name, e, ok, err)
		}
	}
	e, _, _ := s.NextOutbox(ctx, "mqtt", second)
	if err := s.DeleteOutbox(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if e2, _, _ := s.NextOutbox(ctx, "mqtt", second); string(e2.Payload) != `{"id":"b"}` {
		t.Errorf("after delete: %+v", e2)
	}
	w, _, _ := s.NextOutbox(ctx, "webhook", second)
	for range 2 { // the second call finds nothing and counts nothing
		if err := s.ExpireOutbox(ctx, w.ID); err != nil {
			t.Fatal(err)
		}
	}
	pending, lastID, expired, err := s.OutboxStats(ctx)
	if err != nil || pending != 2 || lastID != second || expired != 1 {
		t.Errorf("stats = %d %d %d %v", pending, lastID, expired, err)
	}
	if n, err := s.DeleteOutboxExcept(ctx, []string{"webhook"}); err != nil || n != 1 {
		t.Errorf("prune = %d %v", n, err)
	}
	if n, err := s.DeleteOutboxExcept(ctx, nil); err != nil || n != 1 {
		t.Errorf("prune all = %d %v", n, err)
	}
	// Ids are never reused, so a released id keeps meaning "queued before".
	next, err := s.CommitAlert(ctx, st, false, []string{"mqtt"}, "x", nil)
	if err != nil || next <= second {
		t.Errorf("id after emptying = %d (%v), want > %d", next, err, second)
	}
}
