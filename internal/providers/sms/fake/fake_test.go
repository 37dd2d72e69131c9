package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// get sends one request to h and returns the status and body.
func get(t *testing.T, h http.Handler, target string, hdr ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, strings.TrimSpace(string(b))
}

// Protocol details the adapters do not exercise, but the fakes promise (docs/sms.md, "Protocol: the fakes").
func TestFakeWireShapes(t *testing.T) {
	act := NewActivate("k")
	act.SetOffer("tg", "187", 18, 43)
	five := NewFiveSim("tok")
	five.SetOffer("telegram", "england", 0.8, 4557)
	self := NewSMSAPI("u", "p")
	self.SetOffer("123456", "cn", 0.5, 1)
	man := NewSMSMan("t")
	man.SetOffer("3", "4", 0.15, 32302)
	osim := NewOnlineSim("k")
	osim.SetOffer("telegram", "7", 25, 312)

	tests := []struct {
		name   string
		h      http.Handler
		target string
		hdr    []string
		status int
		want   string // JSON (compared as values) or text
	}{
		{"activate numbers status", act, "/stubs/handler_api.php?api_key=k&action=getNumbersStatus&country=187", nil, 200, `{"tg_0":43}`},
		{"activate no key", act, "/stubs/handler_api.php?action=getBalance", nil, 200, "NO_KEY"},
		{"activate bad action", act, "/stubs/handler_api.php?api_key=k&action=nope", nil, 200, "BAD_ACTION"},
		{"activate wrong path", act, "/handler/index?api_key=k&action=getBalance", nil, 404, "404 page not found"},
		{"5sim prices flip with only product", five, "/v1/guest/prices?product=telegram", nil, 200,
			`{"telegram":{"england":{"virtual21":{"cost":0.8,"count":4557,"rate":92.6}}}}`},
		{"5sim prices by country", five, "/v1/guest/prices?country=england", nil, 200,
			`{"england":{"telegram":{"virtual21":{"cost":0.8,"count":4557,"rate":92.6}}}}`},
		{"5sim user without bearer", five, "/v1/user/profile", nil, 401, ""},
		{"5sim order not found", five, "/v1/user/check/1", []string{"Authorization", "Bearer tok"}, 404, "order not found"},
		{"sms_api unknown route", self, "/api/nope", nil, 404, `{"error":"资源未找到"}`},
		{"sms_api missing login fields", self, "/api/login?username=u", nil, 400, `{"success":false,"message":"缺少必要的登录信息"}`},
		{"sms_api without token", self, "/api/balance", nil, 400, `{"success":false,"message":"缺少必要的token信息"}`},
		{"sms_api bad token, number family", self, "/api/get_phone?token=x&project_id=1", nil, 401,
			`{"stat":false,"message":"无效的token，请重新登录","code":-1,"data":null}`},
		{"sms-man limits list", man, "/control/limits?token=t", nil, 200, `[{"application_id":"3","country_id":"4","numbers":"32302"}]`},
		{"sms-man prices", man, "/control/get-prices?token=t&country_id=4", nil, 200, `{"4":{"3":{"cost":"0.15","count":32302}}}`},
		{"sms-man wrong token", man, "/control/get-balance?token=x", nil, 200,
			`{"success":false,"error_code":"wrong_token","error_msg":"Wrong token!"}`},
		{"onlinesim no key", osim, "/api/getBalance.php", nil, 200, `{"response":"ERROR_NO_KEY"}`},
		{"onlinesim unknown tzid", osim, "/api/getState.php?apikey=k&tzid=5", nil, 200, `{"response":"ERROR_NO_OPERATIONS"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, tc.h, tc.target, tc.hdr...)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			var gotV, wantV any
			if json.Unmarshal([]byte(tc.want), &wantV) == nil && json.Unmarshal([]byte(body), &gotV) == nil {
				g, _ := json.Marshal(gotV)
				w, _ := json.Marshal(wantV)
				if string(g) != string(w) {
					t.Fatalf("body %s, want %s", g, w)
				}
				return
			}
			if body != tc.want {
				t.Fatalf("body %q, want %q", body, tc.want)
			}
		})
	}
}

// TestFakeStates walks one order through each fake's state wording.
func TestFakeStates(t *testing.T) {
	osim := NewOnlineSim("k")
	osim.SetOffer("telegram", "7", 25, 1)
	osim.SetCodeAfter(-1)
	_, body := get(t, osim, "/api/getNum.php?apikey=k&service=telegram&country=7&number=true")
	var num struct {
		TZID int `json:"tzid"`
	}
	if err := json.Unmarshal([]byte(body), &num); err != nil || num.TZID == 0 {
		t.Fatalf("getNum: %s", body)
	}
	id := osim.Orders()[0].ID
	state := func() string {
		_, body := get(t, osim, "/api/getState.php?apikey=k&message_to_code=1&tzid="+id)
		var st []map[string]any
		if err := json.Unmarshal([]byte(body), &st); err != nil || len(st) != 1 {
			t.Fatalf("getState is not a one-element array: %s", body)
		}
		return st[0]["response"].(string)
	}
	if s := state(); s != "TZ_NUM_WAIT" {
		t.Fatalf("state %s", s)
	}
	osim.Deliver(id, "code 1234")
	if s := state(); s != "TZ_NUM_ANSWER" {
		t.Fatalf("state %s", s)
	}
	get(t, osim, "/api/setOperationOk.php?apikey=k&tzid="+id)
	if s := state(); s != "TZ_OVER_OK" {
		t.Fatalf("state %s", s)
	}
	if osim.Count(OpFinish) != 1 || osim.Count(OpCheck) != 3 || osim.Refunds() != 0 {
		t.Fatalf("finish %d check %d refunds %d", osim.Count(OpFinish), osim.Count(OpCheck), osim.Refunds())
	}
}

func TestFakeFailOnce(t *testing.T) {
	pva := NewSMSPVA("k")
	pva.FailOnce(OpBalance, "5")
	if _, body := get(t, pva, "/priemnik.php?apikey=k&metod=get_balance"); body != `{"response":"5"}` {
		t.Fatalf("injected: %s", body)
	}
	if _, body := get(t, pva, "/priemnik.php?apikey=k&metod=get_balance"); !strings.Contains(body, `"response":"1"`) {
		t.Fatalf("after the injected failure: %s", body)
	}
	if pva.Count(OpBalance) != 2 {
		t.Fatalf("count %d", pva.Count(OpBalance))
	}
}
