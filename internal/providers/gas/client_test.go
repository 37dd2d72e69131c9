package gas

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers/gas/fake"
)

// Vectors computed independently with openssl and md5sum:
//
//	printf 13800138000 | openssl enc -aes-192-ecb -K $(printf 'F9ce3yf0GPpbtal2YOE/Vg==' | xxd -p) | base64
//	printf 'cid=2&timestamp=1760000000000&token=eyJ.test.refresh&userCode=12345678d7b85f6e214abcda' | md5sum
func TestEncryptCredentialVectors(t *testing.T) {
	for plain, want := range map[string]string{
		"13800138000":   "VNldH03wYSOCAqpmBDIkTw==",
		"secret-pass-1": "kOMZpB888ecIr19UQcACSA==",
	} {
		got, err := EncryptCredential([]byte(DefaultAESKey), plain)
		if err != nil || got != want {
			t.Errorf("EncryptCredential(%q) = %q, %v; want %q", plain, got, err, want)
		}
	}
	if _, err := EncryptCredential([]byte("short"), "x"); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

func TestSignVectors(t *testing.T) {
	cases := []struct {
		body map[string]any
		ts   int64
		tok  string
		want string
	}{
		{map[string]any{"cid": int64(2), "userCode": "12345678"}, 1760000000000, "eyJ.test.refresh", "4d1b99c7f800cc5c6f82cf93c268816b"},
		{map[string]any{}, 1760000000000, "eyJ.test.refresh", "c9f49f4ca31a0cdc9c65f6b511077a9c"}, // the daily call's {}
		{map[string]any{"a": true, "cid": 2}, 1, "t", "4ca4acfbbb642ceb569e20ade901e0dc"},         // Python's True
	}
	for _, c := range cases {
		if got := Sign(c.body, c.ts, c.tok, DefaultSignKey); got != c.want {
			t.Errorf("Sign(%v) = %s, want %s", c.body, got, c.want)
		}
		// The fake checks signatures on the decoded JSON body; both must agree.
		raw, _ := json.Marshal(c.body)
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if got := fake.Signature(m, jsonInt(c.ts), c.tok, DefaultSignKey); got != c.want {
			t.Errorf("fake.Signature(%v) = %s, want %s", c.body, got, c.want)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
