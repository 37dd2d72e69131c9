package fake

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
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

// Switches are safe to use while requests are served, and Flap toggles a box.
func TestSwitchesConcurrently(t *testing.T) {
	s := New(Default())
	a, c, stop := s.Start()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	s.Flap(ctx, "OCPG121190002", time.Millisecond)
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := s.Box("OCPG121190002"); b.Status == "online" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Flap never brought the box online")
		}
		runtime.Gosched()
	}
	cancel()
}
