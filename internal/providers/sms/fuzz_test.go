package sms

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/accountbridge/accountbridge/internal/providers"
)

// Fuzz targets for the parsers of upstream answers. `go test` runs the seed corpus;
// `go test -fuzz=FuzzParseReply ./internal/providers/sms/` explores further.

var activateSeeds = []string{
	"ACCESS_BALANCE:123.45",
	"ACCESS_NUMBER:1234567890:79001234567",
	"ACCESS_NUMBER:1:",
	"ACCESS_NUMBER",
	"STATUS_OK:123456",
	"STATUS_OK:12:34",
	"STATUS_WAIT_RETRY:123456",
	"STATUS_WAIT_CODE",
	"FULL_SMS:Your code: 1234. Do not share",
	"BANNED:'2024-3-1 12-00-00'",
	"WRONG_MAX_PRICE:6.50",
	"ERROR_SQL",
	"BAD_KEY",
	"\ufeffACCESS_BALANCE:1\r\n",
	"",
	":",
	"::::",
	`{"title":"WRONG_MAX_PRICE","info":{"min":6.5}}`,
	`{"title":"WRONG MAX","info":{"min":"x"}}`,
	`{"title":"NO_NUMBERS"}`,
	`{"0":{"tg":{"cost":18,"count":1203}},"6":{"tg":{"cost":"9.5","count":"5120"}}}`,
	`{"vk_0":"43","vk_1":"0"}`,
	`[]`,
	`[{"activation":"1","phone":"7900","service":"tg"}]`,
	"<html><body>502</body></html>",
}

func FuzzParseReply(f *testing.F) {
	for _, s := range activateSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := ParseReply(body)
		want := strings.TrimSpace(strings.TrimPrefix(string(body), "\ufeff"))
		if r.Raw != want {
			t.Fatalf("Raw %q, want %q", r.Raw, want)
		}
		if r.JSON != (strings.HasPrefix(want, "{") || strings.HasPrefix(want, "[")) {
			t.Fatalf("JSON = %v for %q", r.JSON, want)
		}
		if !r.JSON {
			status, rest, has := strings.Cut(want, ":")
			if r.Status != strings.TrimSpace(status) {
				t.Fatalf("Status %q for %q", r.Status, want)
			}
			// Nothing of the answer is lost: the arguments joined give back the payload.
			if has && strings.Join(r.Args, ":") != rest {
				t.Fatalf("Args %q lose part of %q", r.Args, rest)
			}
			if !has && len(r.Args) != 0 {
				t.Fatalf("Args %q without a colon", r.Args)
			}
			if r.Status == "ACCESS_NUMBER" && len(r.Args) > 2 {
				t.Fatalf("ACCESS_NUMBER with %d fields", len(r.Args))
			}
		}
		_ = r.Arg(0) + r.Arg(5) // never out of range
		if e, ok := activateError(r); ok {
			if e.Class == "" || e.Code != r.Status {
				t.Fatalf("error %+v for %q", e, r.Status)
			}
		}
	})
}

func FuzzExtractCode(f *testing.F) {
	for _, s := range []string{"Your code is 123456.", "1|Telegram code 51234", "12 123 1234567890 98765", "", "٣٤٥٦٧", "code:0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c := extractCode(text)
		if c == "" {
			return
		}
		if len(c) < 4 || len(c) > 8 || !isDigits(c) || !strings.Contains(text, c) {
			t.Fatalf("code %q from %q", c, text)
		}
	})
}

// answerRT answers every request with one status and body, in memory.
type answerRT struct {
	status int
	body   []byte
}

func (a answerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// fuzzFamilies are the families whose answers FuzzAdapterAnswers feeds garbage to.
var fuzzFamilies = []Settings{
	{Platform: FamilyActivate, APIKey: "fuzz-key-123456"},
	{Platform: FamilyFiveSim, APIKey: "fuzz-key-123456"},
	{Platform: FamilySMSAPI, Username: "u", Password: "fuzz-pass-123456", BaseURL: "http://smsapi.invalid/api"},
	{Platform: FamilySMSMan, APIKey: "fuzz-key-123456"},
	{Platform: FamilyOnlineSim, APIKey: "fuzz-key-123456"},
	{Platform: FamilySMSPVA, APIKey: "fuzz-key-123456"},
	{Platform: FamilyGetSMSCode, Username: "u", APIKey: "fuzz-key-123456"},
}

// FuzzAdapterAnswers feeds every adapter an arbitrary answer to every call: it must
// never panic, every failure must be classified, and a success must hold usable values.
func FuzzAdapterAnswers(f *testing.F) {
	seeds := append([]string{}, activateSeeds...)
	seeds = append(seeds,
		`{"id":11631253,"phone":"+447350690992","price":0.8,"status":"PENDING","sms":null}`,
		`{"id":"1","phone":"+1","status":"RECEIVED","sms":[{"text":"Telegram code: 12345","code":12345}]}`,
		`{"balance":100.5}`, `{"balance":"1e400"}`, `{"balance":null}`,
		`{"usa":{"telegram":{"virtual21":{"cost":0.8,"count":4557,"rate":92.6}}}}`,
		`{"success":true,"message":"查询成功","balance":100.5}`,
		`{"success":true,"message":"登录成功","user":{"token":"t","balance":1}}`,
		`{"stat":true,"message":"ok","code":"807272","data":[{"modle":"x"}]}`,
		`{"stat":false,"message":"账户余额不足","code":-2,"data":null}`,
		`{"request_id":1,"number":"12125551234","sms_code":"1243"}`,
		`{"success":false,"error_code":"wait_sms","error_msg":"Still waiting..."}`,
		`{"response":"1","tzid":12345678,"number":"+79001234567"}`,
		`[{"tzid":1,"response":"TZ_NUM_ANSWER","msg":"12345"}]`,
		`{"response":"ERROR_WRONG_KEY"}`,
		`{"response":"1","number":"9001234567","id":25623,"CountryCode":"+7"}`,
		`{"response":"5"}`, "API KEY NOT FOUND!",
		"u|12.5|0", "13800138000", "1|code 1234", "Message|not receive",
	)
	for i, s := range seeds {
		f.Add(uint8(i), uint16(200), []byte(s))
	}
	f.Add(uint8(1), uint16(401), []byte(""))
	f.Add(uint8(0), uint16(500), []byte(strings.Repeat("服务器内部错误", 20))) // snippets cut inside a rune
	f.Add(uint8(3), uint16(502), []byte("x"+strings.Repeat("错", 60)))
	f.Add(uint8(3), uint16(400), []byte(`{"success":false,"error_code":"wrong_token"}`))
	f.Fuzz(func(t *testing.T, fam uint8, status uint16, body []byte) {
		s := fuzzFamilies[int(fam)%len(fuzzFamilies)]
		st := int(status)
		if st < 100 || st > 599 {
			st = 200
		}
		p, err := New(testAccount(s), providers.Deps{KV: &providers.MemoryKV{}, HTTP: &http.Client{Transport: answerRT{st, body}}})
		if err != nil {
			t.Fatal(err)
		}
		a := p.(*Platform).a
		ctx := context.Background()
		n := Number{ID: "123", Phone: "79001234567", Service: "tg", Country: "0"}
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: unclassified error %T %v", what, err, err)
			}
			if !utf8.ValidString(err.Error()) && utf8.Valid(body) {
				t.Fatalf("%s: error text not UTF-8: %q", what, err)
			}
			if strings.Contains(err.Error(), "fuzz-key-123456") || strings.Contains(err.Error(), "fuzz-pass-123456") {
				t.Fatalf("%s: error leaks the secret: %q", what, err)
			}
		}
		_, err = a.balance(ctx)
		check("balance", err)
		_, err = a.quote(ctx, "tg", "0")
		check("quote", err)
		got, err := a.buy(ctx, "tg", "0", 1)
		check("buy", err)
		if err == nil && (got.ID == "" || got.Phone == "" || !isDigits(got.Phone)) {
			t.Fatalf("buy succeeded with %+v", got)
		}
		sms, err := a.check(ctx, n)
		check("check", err)
		if err == nil {
			switch sms.State {
			case StateWaiting, StateCode, StateCancelled, StateExpired:
			default:
				t.Fatalf("check state %q", sms.State)
			}
		}
		check("finish", a.finish(ctx, n))
		check("cancel", a.cancel(ctx, n))
		if cl, ok := a.(countryLister); ok {
			_, err = cl.countries(ctx)
			check("countries", err)
		}
	})
}
