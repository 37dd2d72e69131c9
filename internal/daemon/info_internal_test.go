package daemon

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// encodeInfo writes exactly what json.Marshal writes, for no accounts, one, and several
// (with characters Marshal escapes), whatever the size hint.
func TestEncodeInfoIsMarshal(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	acct := func(id string) AccountInfo {
		return AccountInfo{ID: id, Provider: "telecom", Name: "Mum <phone> & \"data\"", Schedule: "@every 5m",
			State: "ok", Available: true, LastRun: at, LastOK: at, NextRun: at.Add(5 * time.Minute),
			Devices: []string{id, id + "_b"}}
	}
	for _, accounts := range [][]AccountInfo{{}, {acct("a")}, {acct("a"), acct("b"), acct("c\u2028")}} {
		in := Info{Version: "0.1.0", Started: at, Accounts: accounts}
		want, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		each := func(yield func(*AccountInfo) bool) {
			for i := range accounts {
				if !yield(&accounts[i]) {
					return
				}
			}
		}
		for _, hint := range []int{0, 10, len(want), 10 * len(want)} {
			got, err := encodeInfo(Info{Version: in.Version, Started: in.Started}, each, hint)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("hint %d:\n got %s\nwant %s", hint, got, want)
			}
		}
	}
}
