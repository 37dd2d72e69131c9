package fake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers/telecom"
	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

// login posts a login built by the provider's own helpers, after mutate.
func login(t *testing.T, f *fake.Server, pubPEM string, mutate func(*telecom.Request[telecom.LoginFields], *string)) string {
	t.Helper()
	pub, err := telecom.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	ts := "20250615163000"
	plain := telecom.LoginPlaintext("123456789012", "18912345678", ts, "123456")
	var req telecom.Request[telecom.LoginFields]
	mutate(&req, &plain)
	cipher, err := telecom.EncryptLogin(pub, plain)
	if err != nil {
		t.Fatal(err)
	}
	req.HeaderInfos = telecom.Header{Code: "userLoginNormal", ClientType: telecom.ClientType("12.2.0"), Timestamp: ts,
		ShopID: "20002", Source: "110003", SourcePassword: "Sid98s", UserLoginName: telecom.Shift("18912345678", 2)}
	fd := &req.Content.FieldData
	fd.Cipher, fd.LoginType, fd.DeviceUID = cipher, "4", "1234567890123456"
	if fd.PhoneNum == "" {
		fd.PhoneNum = telecom.Shift("18912345678", 2)
	}
	if fd.Authentication == "" {
		fd.Authentication = telecom.Shift("123456", 2)
	}
	body, _ := json.Marshal(req)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, telecom.PathLogin, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=UTF-8")
	f.ServeHTTP(rec, r)
	out, _ := io.ReadAll(rec.Result().Body)
	return string(out)
}

func TestFakeEnforcesLogin(t *testing.T) {
	f := fake.New()
	f.AddAccount("18912345678", "123456", fake.PlanNormal)
	if got := login(t, f, f.PublicKeyPEM(), func(*telecom.Request[telecom.LoginFields], *string) {}); !strings.Contains(got, `"resultCode":"0000"`) {
		t.Fatalf("a correct login failed: %s", got)
	}
	for name, tc := range map[string]struct {
		key    string
		mutate func(*telecom.Request[telecom.LoginFields], *string)
		want   string
	}{
		"cipher timestamp differs": {mutate: func(_ *telecom.Request[telecom.LoginFields], p *string) {
			*p = telecom.LoginPlaintext("123456789012", "18912345678", "20250615163100", "123456")
		}, want: "timestamp"},
		"phone not shifted": {mutate: func(r *telecom.Request[telecom.LoginFields], _ *string) {
			r.Content.FieldData.PhoneNum = "18912345678"
		}, want: "phoneNum"},
		"password not shifted": {mutate: func(r *telecom.Request[telecom.LoginFields], _ *string) {
			r.Content.FieldData.Authentication = "123456"
		}, want: "password differs"},
		"wrong key":  {key: telecom.DefaultRSAPublicKey, mutate: func(*telecom.Request[telecom.LoginFields], *string) {}, want: "decrypt"},
		"bad layout": {mutate: func(_ *telecom.Request[telecom.LoginFields], p *string) { *p = "iPhone 14 15.4." + *p }, want: "layout"},
	} {
		key := tc.key
		if key == "" {
			key = f.PublicKeyPEM()
		}
		before := len(f.Violations())
		got := login(t, f, key, tc.mutate)
		v := f.Violations()
		if !strings.Contains(got, `"resultCode":"1000"`) || len(v) != before+1 || !strings.Contains(v[len(v)-1], tc.want) {
			t.Errorf("%s: answer %s, violations %q", name, got, v[before:])
		}
	}
	if f.LoginSuccesses() != 1 || f.Logins() != 6 {
		t.Errorf("counters: %d ok of %d", f.LoginSuccesses(), f.Logins())
	}
}
