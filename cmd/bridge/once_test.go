package main

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers/sms/fake"
)

// onceConfig: two SMS-Activate platforms on fakes that sell tg/us, the watch list asking
// for it, and a third platform whose key the fake refuses.
func onceConfig(t *testing.T) string {
	t.Helper()
	var urls []string
	for i, price := range []float64{12.5, 9} {
		f := fake.NewActivate("key")
		f.SetOffer("tg", "187", price, 40+i)
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return writeConfig(t, `store:
  path: `+filepath.Join(t.TempDir(), "x.db")+`
sms:
  watch:
    - {service: tg, country: us}
accounts:
  - {id: sms_a, provider: sms, platform: activate, api_key: key, base_url: "`+urls[0]+`"}
  - {id: sms_b, provider: sms, platform: activate, api_key: key, base_url: "`+urls[1]+`"}
  - {id: sms_off, provider: sms, platform: activate, api_key: key, base_url: "`+urls[1]+`", enabled: false}
`)
}

type onceLine struct {
	Account string `json:"account"`
	Devices []struct {
		ID    string         `json:"id"`
		State map[string]any `json:"state"`
	} `json:"devices"`
}

// parseLines reads JSON Lines: every line one complete JSON object.
func parseLines(t *testing.T, out string) []onceLine {
	t.Helper()
	var lines []onceLine
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var o onceLine
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("line %q is not one JSON object: %v\nall output:\n%s", l, err, out)
		}
		lines = append(lines, o)
	}
	return lines
}

func TestOncePrintsJSONLinesWithWatchList(t *testing.T) {
	path := onceConfig(t)
	code, out, errOut := runCLI("once", "-c", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := parseLines(t, out)
	want := map[string]float64{"sms_a": 12.5, "sms_b": 9}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want one per enabled account (%d):\n%s", len(lines), len(want), out)
	}
	for _, l := range lines {
		price, ok := want[l.Account]
		if !ok || len(l.Devices) == 0 {
			t.Errorf("unexpected line %+v", l)
			continue
		}
		st := l.Devices[0].State
		if st["price_tg_us"] != price || st["stock_tg_us"] == nil {
			t.Errorf("%s: state lacks the watched tg/us quote (price %v): %v", l.Account, price, st)
		}
	}

	code, out, errOut = runCLI("once", "-c", path, "sms_b")
	if lines := parseLines(t, out); code != exitOK || len(lines) != 1 || lines[0].Account != "sms_b" {
		t.Errorf("once sms_b: exit %d, output %q, stderr %q", code, out, errOut)
	}
}

func TestOnceExitCodes(t *testing.T) {
	path := onceConfig(t)
	for _, id := range []string{"nosuch", "sms_off"} {
		code, out, errOut := runCLI("once", "-c", path, id)
		if code != exitConfig || out != "" || !strings.Contains(errOut, `no enabled account "`+id+`"`) {
			t.Errorf("once %s: exit %d, stdout %q, stderr %q; want %d (usage)", id, code, out, errOut, exitConfig)
		}
	}

	// A poll that fails: the others are still printed, the failure goes to stderr, exit 1.
	bad := strings.Replace(readFile(t, path), "api_key: key, base_url", "api_key: wrong, base_url", 1)
	code, out, errOut := runCLI("once", "-c", writeConfig(t, bad))
	if lines := parseLines(t, out); code != exitFailure || len(lines) != 1 || lines[0].Account != "sms_b" ||
		!strings.Contains(errOut, "account sms_a: permanent") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
