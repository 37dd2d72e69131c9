package config

import (
	"strings"
	"testing"
)

// A released config keeps what a running daemon needs (common settings, lines for
// errors, fingerprints) without the accounts' YAML nodes, and leaves the original alone.
func TestReleased(t *testing.T) {
	src := `accounts:
  - id: phone
    provider: telecom
    name: Mobile
    phone: "18912345678"
    password: hunter2
    limits: {balance: 10}
  - id: other
    provider: telecom
    enabled: false
    phone: "18900000000"
`
	cfg := mustParse(t, src, LoadOptions{})
	fps := []string{cfg.Accounts[0].Fingerprint(), cfg.Accounts[1].Fingerprint()}
	rel := cfg.Released()

	for i := range rel.Accounts {
		a := &rel.Accounts[i]
		if a.extra != nil || a.files != nil || a.keyLines != nil {
			t.Errorf("account %s still holds its nodes, files or key lines", a.ID)
		}
		if got := a.Fingerprint(); got != fps[i] {
			t.Errorf("account %s: fingerprint %s after release, %s before", a.ID, got, fps[i])
		}
	}
	a := rel.Accounts[0]
	if a.ID != "phone" || a.Provider != "telecom" || a.Name != "Mobile" || !a.IsEnabled() || rel.Accounts[1].IsEnabled() {
		t.Errorf("common settings lost: %+v", a)
	}
	if a.Line() != 2 || rel.Accounts[1].Line() != 8 {
		t.Errorf("lines %d %d, want 2 8", a.Line(), rel.Accounts[1].Line())
	}
	// Errors still name file:line: the account's own line, its keys' lines being gone.
	if got := a.Errorf("phone", "bad").Error(); !strings.HasPrefix(got, "config.yaml:2: accounts[0].phone: ") {
		t.Errorf("Errorf after release: %s", got)
	}
	var s telecomLike
	if err := a.Decode(&s); err == nil || !strings.Contains(err.Error(), "released") {
		t.Errorf("Decode after release: %v", err)
	}
	if _, err := rel.Masked(); err == nil {
		t.Error("Masked of a released config succeeded")
	}
	if rel.Secrets != nil {
		t.Errorf("released config keeps secrets %v", rel.Secrets)
	}
	if again := rel.Released(); again.Accounts[0].Fingerprint() != fps[0] {
		t.Error("releasing twice changes the fingerprint")
	}

	// The original is unchanged: it still decodes, names key lines and masks.
	orig := cfg.Accounts[0]
	if err := orig.Decode(&s); err != nil || s.Phone != "18912345678" || s.Limits.Balance != 10 {
		t.Errorf("original Decode: %v %+v", err, s)
	}
	if got := orig.Errorf("phone", "bad").Error(); !strings.HasPrefix(got, "config.yaml:5: ") {
		t.Errorf("original Errorf: %s", got)
	}
	if _, err := cfg.Masked(); err != nil {
		t.Errorf("original Masked: %v", err)
	}
}
