package gas

import (
	"testing"
	"time"

	"github.com/accountbridge/accountbridge/internal/providers/wire"
)

// FuzzParsers feeds any body to every response parser and the conversion: nothing panics,
// and whatever is published is valid for its entity.
func FuzzParsers(f *testing.F) {
	for _, name := range []string{"debt.json", "payments.json", "monthly.b64", "monthly.decoded.json", "daily.json", "login.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"success":true,"data":{"recordsInfo":[{"gasYear":"2026/02/30","gasVolume":"-1","gasFee":"1e308"}]}}`))
	f.Add([]byte(`{"success":true,"data":{"rateItemInfo":[{"beginVolume":"540","endVolume":"360","price":"NaN"}],"recordsInfo":[{"gasYear":"0000年00月"}]}}`))
	f.Add([]byte(`{"success":false}`))
	f.Add([]byte(`eyJzdWNjZXNzIjp0cnVlfQ`))
	f.Add([]byte(`{"success":true,"data":[1,2]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in := Input{Now: time.Date(2026, 2, 15, 9, 0, 0, 0, wire.CST), UserCode: "12345678", YearStart: MonthDay{3, 15},
			LoggedIn: true, History: History{}}
		if d, err := ParseDebt(body); err == nil {
			in.Debt = &d
		}
		if p, err := ParsePayments(body); err == nil {
			in.Payments = &p
		}
		if m, err := ParseMonthly(body); err == nil {
			in.Monthly = &m
			ParseLadder(m.Tiers)
		}
		if d, err := ParseDaily(body); err == nil {
			in.History.Merge(d.Records)
			in.History.Prune()
		}
		if l, err := ParseLogin(body); err == nil {
			l.CompanyOf()
		}
		dev, _ := Convert(in)
		for k, v := range dev.Values {
			if f, ok := v.(float64); ok && (f != f || f > 1e300 || f < -1e300) {
				t.Errorf("%s = %v", k, f)
			}
		}
	})
}

// BenchmarkParseConvert parses one poll's four answers (the monthly one base64) and
// converts them into the device.
func BenchmarkParseConvert(b *testing.B) {
	debt, pay := readTestdata(b, "debt.json"), readTestdata(b, "payments.json")
	monthly, daily := readTestdata(b, "monthly.b64"), readTestdata(b, "daily.json")
	now := time.Date(2026, 2, 15, 9, 0, 0, 0, wire.CST)
	b.ReportAllocs()
	for b.Loop() {
		d, err1 := ParseDebt(debt)
		p, err2 := ParsePayments(pay)
		m, err3 := ParseMonthly(monthly)
		dl, err4 := ParseDaily(daily)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			b.Fatal(err1, err2, err3, err4)
		}
		h := History{}
		h.Merge(dl.Records)
		dev, _ := Convert(Input{Now: now, UserCode: "12345678", YearStart: MonthDay{1, 1}, LoggedIn: true,
			Debt: &d, Payments: &p, Monthly: &m, History: h})
		if dev.Values["year_cost"] != 81.97 {
			b.Fatalf("year_cost = %v", dev.Values["year_cost"])
		}
	}
}
