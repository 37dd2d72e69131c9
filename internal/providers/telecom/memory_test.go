package telecom

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

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
	if a.settings.RSAPublicKey != r.fake.PublicKeyPEM() || b.settings.RSAPublicKey != a.settings.RSAPublicKey {
		t.Error("the kept settings do not carry the configured key")
	}
}

// The hash a permanent refusal is stored with is still PBKDF2 over the canonical JSON of
// the settings (defaults applied), so records written before keep matching.
func TestSettingsHashFormat(t *testing.T) {
	r := newRig(t, fake.PlanNormal)
	s := r.settings()
	p := r.newProvider(s)
	want := s
	want.ClientVersion = DefaultClientVersion
	canon, err := json.Marshal(want)
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
}
