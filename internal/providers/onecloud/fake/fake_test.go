package fake

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The fake's own hash and sign reproduce the protocol's vectors.
func TestProtocolVectors(t *testing.T) {
	if got := pwdHash("123456"); got != "377baf4cf67cb10ff55883d528c82c8b" {
		t.Errorf("pwdHash = %s", got)
	}
	v := url.Values{"X-LICENCE-PUB": {"1"}, "appversion": {"2.2.1"}, "ct": {"2"}, "userid": {"5458114"}, "v": {"9"}, "sign": {"ignored"}}
	if got := sign(v, "dc3dee9cbb367601e3483835c7eacc9b"); got != "1fbb87357a71e379db26b3ac76743418" {
		t.Errorf("sign = %s", got)
	}
	login := url.Values{"account_type": {"4"}, "deviceid": {"ABCDEF0123456789"}, "imeiid": {"ABCDEF012345678"},
		"phone": {"13800138000"}, "pwd": {"377baf4cf67cb10ff55883d528c82c8b"}}
	if got := sign(login, ""); got != "8a22fe6d33ede07ab6460026bd8e8667" {
		t.Errorf("login sign = %s", got)
	}
}

func TestControlRequiresSessionAndSign(t *testing.T) {
	s := New(Default())
	_, c, stop := s.Start()
	defer stop()
	resp, err := http.Get(c + "/listPeer?appversion=1.6.2&ct=2&v=3&sign=x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 256)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	if !strings.Contains(b.String(), `"rtn":11`) {
		t.Errorf("answer without a session = %s", b.String())
	}
	if s.Count("/listPeer") != 1 {
		t.Errorf("counts = %v", s.Counts())
	}
}

// Switches are safe to use while requests are served, and Toggle flips a box.
func TestSwitchesConcurrently(t *testing.T) {
	s := New(Default())
	a, c, stop := s.Start()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	toggled := make(chan struct{})
	go func() { // toggles a box while requests are served
		defer close(toggled)
		for ctx.Err() == nil {
			s.Toggle("OCPG121190002")
			runtime.Gosched()
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				for _, u := range []string{a + "/wkb/account-info", c + "/listPeer"} {
					if resp, err := http.Post(u, "application/x-www-form-urlencoded", nil); err == nil {
						resp.Body.Close()
					}
				}
				s.SetStatus("OCPG121196469", "exception", "disk")
				s.SetPartitions("OCPG121196469", nil)
				s.ExpireSessions()
			}
		}()
	}
	wg.Wait()
	cancel()
	<-toggled
	// Toggle flips the status each call.
	before, _ := s.Box("OCPG121190002")
	next := s.Toggle("OCPG121190002")
	if after, _ := s.Box("OCPG121190002"); after.Status != next || after.Status == before.Status {
		t.Fatalf("Toggle: %s -> %s (reported %s)", before.Status, after.Status, next)
	}
	if got := s.Toggle("OCPG121190002"); got != before.Status {
		t.Fatalf("second Toggle = %s, want back to %s", got, before.Status)
	}
	if s.Toggle("nosuchbox") != "" {
		t.Error("Toggle of an unknown box reported a status")
	}
}
