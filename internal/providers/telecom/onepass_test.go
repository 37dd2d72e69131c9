package telecom

import (
	"errors"
	"reflect"
	"testing"

	"github.com/accountbridge/accountbridge/internal/providers"
	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// queryResponse wraps data in a successful query envelope.
func queryResponse(data string) []byte {
	return []byte(`{"headerInfos":{"code":"0000","reason":"ok"},"responseData":{"resultCode":"0000","resultDesc":"","data":` + data + `}}`)
}

// onePassSeeds are answers whose decoding is lenient or odd in some way: every one must
// decode exactly as encoding/json decodes it.
var onePassSeeds = []string{
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"flowInfo":""}}}`,
	`{"HEADERINFOS":{"Code":"0000"},"responsedata":{"RESULTCODE":"0000","Data":{"BalanceInfo":{"indexbalancedatainfo":{"BALANCE":"1,024"}}}}}`,
	`{"headerInfos":{"code":"0000"},"headerInfos":{"reason":"merged"},"responseData":{"resultCode":"0000","data":{"flowInfo":{"flowList":[1,"x",null,{"title":"a"},[],{"title":2}]}},"data":null}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"flowInfo":{"flowList":[]},"flowInfo":{"totalAmount":{"used":"1"}}}}}`,
	"{\"headerInfos\":{\"code\":\"0000\"},\"responseData\":{\"resultCode\":\"0000\",\"data\":{\"integralInfo\":{\"integral\":\"\xff\xfe a\"},\"balanceInfo\":{\"indexBalanceDataInfo\":{\"balance\":\"\\u00e9\xff\\\"x \\ud800\"}}}}}", // invalid UTF-8, escapes
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"voiceInfo":{"voiceDataInfo":{"t\u006ftal":"5","used":{"a":[1]},"balance":null}}}}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"productOFFRatable":{"ratableResourcePackages":[{"title":"t","productInfos":[{"title":"p","isInvalid":false,"infiniteValue":1e400}]},""]}}}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"shareTypeBeans":[{"shareType":1,"shareUsageInfos":[{"shareUsageAmounts":[{"phoneNum":"1","usageAmount":"2"}]}]}],"sharePhoneBeans":{}}}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":""}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":[]}}`,
	`{"headerInfos":{"code":"X201"},"responseData":{"resultCode":"0000","data":"broken"}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"X201","resultDesc":"expired"}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000"}}`,
	`{"headerInfos":{"code":"0000"},"responseData":null}`,
	`{"headerInfos":"","responseData":{}}`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{}}} x`,
	`{"headerInfos":{"code":"0000"},"responseData":{"resultCode":"0000","data":{"flowInfo":{"flowList":[{"title":"a"`,
	`[]`,
	``,
}

// checkOnePass fails when parseQuery and parseQuerySlow (encoding/json) disagree on body.
func checkOnePass[D any](t *testing.T, body []byte) {
	t.Helper()
	got, err := parseQuery[D]("op", body)
	want, werr := parseQuerySlow[D]("op", body)
	if (err == nil) != (werr == nil) || err != nil && (err.Error() != werr.Error() ||
		providers.Kind(err) != providers.Kind(werr) || errors.Is(err, providers.ErrAuth) != errors.Is(werr, providers.ErrAuth)) {
		t.Fatalf("%q: error %v, encoding/json %v", body, err, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decoded\n%+v\nencoding/json\n%+v", body, got, want)
	}
}

// The one-pass decoding gives every answer exactly what encoding/json gives it: the same
// data, lenient where the wire types are, and the same error.
func TestParseQueryOnePass(t *testing.T) {
	var bodies [][]byte
	for _, p := range fake.Plans() {
		bodies = append(bodies, fake.ImportantResponse(p), queryResponse(string(fake.PackagesData(p))), queryResponse(string(fake.ShareData(p))))
	}
	for _, s := range onePassSeeds {
		bodies = append(bodies, []byte(s))
	}
	for i, b := range bodies {
		if i < 3*len(fake.Plans()) { // the fakes' answers: never the encoding/json path
			for j, a := range []any{new(answer[importantData]), new(answer[fluxPackageData]), new(answer[shareData])} {
				if err := wire.Decode(b, a); j == i%3 && err != nil {
					t.Errorf("%.60q: not decoded in one pass: %v", b, err)
				}
			}
		}
		checkOnePass[importantData](t, b)
		checkOnePass[fluxPackageData](t, b)
		checkOnePass[shareData](t, b)
	}
}

func FuzzParseQueryOnePass(f *testing.F) {
	for _, p := range fake.Plans() {
		f.Add(fake.ImportantResponse(p))
		f.Add(queryResponse(string(fake.PackagesData(p))))
		f.Add(queryResponse(string(fake.ShareData(p))))
	}
	for _, s := range onePassSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkOnePass[importantData](t, body)
		checkOnePass[fluxPackageData](t, body)
		checkOnePass[shareData](t, body)
	})
}
