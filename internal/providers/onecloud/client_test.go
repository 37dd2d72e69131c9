package onecloud

import (
	"errors"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// Vectors of docs/onecloud.md, "Protocol: password hash" and docs/onecloud.md, "Protocol: sign".
func TestPasswordHash(t *testing.T) {
	if got := md5Hex("123456"); got != "e10adc3949ba59abbe56e057f20f883e" {
		t.Fatalf("md5 = %s", got)
	}
	if got := PasswordHash("123456"); got != "377baf4cf67cb10ff55883d528c82c8b" {
		t.Errorf("PasswordHash(123456) = %s, want 377baf4cf67cb10ff55883d528c82c8b", got)
	}
}

func TestSignVectors(t *testing.T) {
	const sid = "dc3dee9cbb367601e3483835c7eacc9b"
	for _, tt := range []struct {
		name   string
		params map[string]string
		key    string
		want   string
	}{
		{"captured listPeer (JK README)", map[string]string{"X-LICENCE-PUB": "1", "appversion": "2.2.1", "ct": "2", "userid": "5458114", "v": "9"}, sid, "1fbb87357a71e379db26b3ac76743418"},
		{"listPeer as JK sends it", map[string]string{"X-LICENCE-PUB": "1", "appversion": "1.6.2", "ct": "2", "userid": "5458114", "v": "3"}, sid, "338cc29f11a409d214b3c53056d395e8"},
		{"getUSBInfo", map[string]string{"appversion": "1.6.2", "ct": "2", "deviceid": "TgjNiUqA6469", "v": "1"}, sid, "843beb310dec3e2e5e23582c6e5551d3"},
		{"login", map[string]string{"account_type": "4", "deviceid": "ABCDEF0123456789", "imeiid": "ABCDEF012345678", "phone": "13800138000", "pwd": "377baf4cf67cb10ff55883d528c82c8b"}, "", "8a22fe6d33ede07ab6460026bd8e8667"},
		{"income JK style", map[string]string{"appversion": "1.6.2", "page": "0"}, "", "e875d4405ca455f498a3118452177860"},
		{"income SEN style", map[string]string{"appversion": "1.6.2", "page": "0"}, sid, "e430435b437b0c142fdc06cbaecd7ab3"},
		{"sign itself is excluded", map[string]string{"X-LICENCE-PUB": "1", "appversion": "2.2.1", "ct": "2", "userid": "5458114", "v": "9", "sign": "x"}, sid, "1fbb87357a71e379db26b3ac76743418"},
	} {
		if got := Sign(tt.params, tt.key); got != tt.want {
			t.Errorf("%s: sign = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParseControlErrors(t *testing.T) {
	for _, tt := range []struct {
		body     string
		auth, ok bool
	}{
		{`{"rtn":0,"result":[0,{"devices":[]}]}`, false, true},
		{`{"rtn":11,"msg":"session invalid"}`, true, false},
		{`{"rtn":5,"msg":"please login"}`, false, false},
		{`{"rtn":7,"msg":"Session timeout"}`, true, false},
		{`{"rtn":12,"msg":"sign error"}`, false, false},
		{`{"rtn":0,"result":[0]}`, false, false},
		{`<html>`, false, false},
		{`{"msg":"no rtn"}`, false, false},
	} {
		_, err := parseControl("/listPeer", []byte(tt.body))
		if (err == nil) != tt.ok || errors.Is(err, providers.ErrAuth) != tt.auth {
			t.Errorf("%s: err = %v (auth %v), want ok=%v auth=%v", tt.body, err, errors.Is(err, providers.ErrAuth), tt.ok, tt.auth)
		}
	}
}
