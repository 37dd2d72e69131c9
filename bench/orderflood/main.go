// Command orderflood measures the SMS router under a flood of orders: N orders with
// distinct request ids published on <base>/sms/order at once, against a real store (a
// SQLite file in a temp dir) and no platform that serves them, so each order is stored,
// fails (no_platform or too_many_orders) and its reply is published. It prints the wall
// and CPU time until every reply is out, per size, to show how the cost grows.
//
//	go run ./bench/orderflood -n 1000,2000,5000,10000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/sms"
	"github.com/accountbridge/accountbridge/internal/store"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(n int) (wall, cpuUsed time.Duration, dbBytes int64, err error) {
	dir, err := os.MkdirTemp("", "orderflood")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "s.db"), store.Options{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer st.Close()
	var replies atomic.Int64
	done := make(chan struct{})
	g, err := sms.NewRouter(nil, providers.GroupDeps{KV: st.KV("@sms"), Publish: func(topic string, _ []byte, _ bool) error {
		if strings.HasPrefix(topic, "sms/order/") && replies.Add(1) == int64(n) {
			close(done)
		}
		return nil
	}})
	if err != nil {
		return 0, 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { _ = g.Run(rctx); close(stopped) }()
	c0, t0 := cpu(), time.Now()
	for i := range n {
		g.Handle(ctx, sms.TopicOrder, []byte(`{"request_id":"flood-`+strconv.Itoa(i)+`","service":"tg","country":"us"}`))
	}
	select {
	case <-done:
	case <-time.After(30 * time.Minute):
		cancel()
		<-stopped
		return 0, 0, 0, fmt.Errorf("%d of %d replies after 30 minutes", replies.Load(), n)
	}
	wall, cpuUsed = time.Since(t0), cpu()-c0
	cancel()
	<-stopped
	for _, f := range []string{"s.db", "s.db-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			dbBytes += fi.Size()
		}
	}
	return wall, cpuUsed, dbBytes, nil
}

func main() {
	sizes := flag.String("n", "1000,2000,5000,10000", "flood sizes, comma-separated")
	flag.Parse()
	fmt.Printf("%8s %10s %10s %12s %12s\n", "orders", "wall", "cpu", "cpu/order", "store bytes")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("bad size %q", s)
		}
		wall, c, db, err := run(n)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%8d %10s %10s %12s %12d\n", n, wall.Round(time.Millisecond), c.Round(time.Millisecond),
			(c / time.Duration(n)).Round(time.Microsecond), db)
	}
}
