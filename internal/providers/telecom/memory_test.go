package telecom

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

// Accounts that give the same RSA key share one parsed key and one copy of its text.
func TestPublicKeyShared(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	a := r.newProvider(r.settings())
	b := r.newProvider(r.settings())
	if a.c.pub != b.c.pub {
		t.Error("two accounts with the same rsa_public_key hold two parsed keys")
	}
	if a.settings().RSAPublicKey != r.fake.PublicKeyPEM() || b.settings().RSAPublicKey != a.settings().RSAPublicKey {
		t.Error("the kept settings do not carry the configured key")
	}
}

// The hash a permanent refusal is stored with is still PBKDF2 over the canonical JSON of
// the settings (defaults applied), so records written before keep matching: the provider
// no longer keeps a copy of its Settings but rebuilds them, for every shape they can have.
func TestSettingsHashFormat(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	no, yes, interval, fails := false, true, 90*time.Second, 0
	all := r.settings()
	all.DeviceID, all.ClientVersion, all.SummaryFullNumber = "dev-1", "9.9.9", true
	all.Packages, all.ShareUsage, all.MinLoginInterval, all.MaxLoginFailuresPerDay = &no, &yes, &interval, &fails
	// Every field set: a field added to Settings must be added here, and to settings().
	for i, v := range reflect.VisibleFields(reflect.TypeOf(all)) {
		if reflect.ValueOf(all).Field(i).IsZero() {
			t.Fatalf("the all-fields case leaves %s unset", v.Name)
		}
	}
	withDefaults := r.settings()
	withDefaults.ClientVersion = DefaultClientVersion
	for _, tc := range []struct {
		name          string
		given         Settings
		afterDefaults Settings
	}{
		{"defaults", r.settings(), withDefaults},
		{"every field", all, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := r.newProvider(tc.given)
			if got := p.settings(); !reflect.DeepEqual(got, tc.afterDefaults) {
				t.Fatalf("settings() = %+v, want %+v", got, tc.afterDefaults)
			}
			canon, err := json.Marshal(tc.afterDefaults)
			if err != nil {
				t.Fatal(err)
			}
			salt := []byte("0123456789abcdef")
			k, err := pbkdf2.Key(sha256.New, string(canon), salt, blockIterations, 32)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.settingsHash(salt); got != hex.EncodeToString(k) {
				t.Errorf("settingsHash = %s, want %s", got, hex.EncodeToString(k))
			}
		})
	}
}
