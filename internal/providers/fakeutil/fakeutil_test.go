package fakeutil

import (
	"context"
	"testing"
	"time"
)

func TestCountsFaultsAndStatus(t *testing.T) {
	var e Endpoints
	if st, _, faulty := e.Hit("a"); st != 0 || faulty {
		t.Fatal("zero value injects something")
	}
	e.SetHTTPStatus("a", 503)
	e.Fail("b", "ERR")
	e.FailOnce("b", "ONCE")
	if st, _, _ := e.Hit("a"); st != 503 {
		t.Errorf("status %d", st)
	}
	if _, f, ok := e.Hit("b"); !ok || f != "ONCE" {
		t.Errorf("first fault %q %v", f, ok)
	}
	if _, f, ok := e.Hit("b"); !ok || f != "ERR" {
		t.Errorf("lasting fault %q %v", f, ok)
	}
	e.ClearFail("")
	e.SetHTTPStatus("a", 0)
	if st, _, ok := e.Hit("b"); ok || st != 0 {
		t.Error("cleared fault still injected")
	}
	if e.Count("a") != 2 || e.Count("b") != 3 || e.Counts()["b"] != 3 {
		t.Errorf("counts %v", e.Counts())
	}
}

// Latency applies to the named endpoints only, and a cancelled request stops waiting.
func TestLatency(t *testing.T) {
	var e Endpoints
	e.SetLatency(time.Hour, "slow")
	done := make(chan struct{})
	go func() { e.Delay(context.Background(), "fast"); close(done) }()
	<-done // would hang for an hour if "fast" were delayed
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { e.Delay(ctx, "slow"); close(done) }()
	cancel()
	<-done
}
