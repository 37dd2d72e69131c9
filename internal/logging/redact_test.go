package logging_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/accountbridge/accountbridge/internal/logging"
)

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"18912345678", "189****5678"},
		{"13000000000", "130****0000"},
		{"19999999999", "199****9999"},
		{"user 18912345678 logged in", "user 189****5678 logged in"},
		{"tel:18912345678;", "tel:189****5678;"},
		{"a18912345678b", "a189****5678b"},
		{"+86 18912345678", "+86 189****5678"},
		{"+8618912345678", "+86189****5678"},
		{"8618912345678", "86189****5678"},
		{"008618912345678", "0086189****5678"},
		{"18912345678,13812345678", "189****5678,138****5678"},
		{"", ""},
		{"no digits here", "no digits here"},
		{"12912345678", "12912345678"},     // 1[2] is not a mobile prefix
		{"11912345678", "11912345678"},     // nor 1[1]
		{"28912345678", "28912345678"},     // must start with 1
		{"1700000000000", "1700000000000"}, // 13-digit ms timestamp
		{"1891234567", "1891234567"},       // 10 digits
		{"189123456789", "189123456789"},   // 12 digits: part of a longer run
		{"order 202406011234567890", "order 202406011234567890"},
		{"8612912345678", "8612912345678"}, // +86 but not a mobile
		{"8518912345678", "8518912345678"}, // 13 digits, other prefix
	}
	for _, tt := range tests {
		if got := logging.MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	r := logging.NewRedactor()
	r.AddSecret("")
	r.AddSecret("abc") // too short: would mangle logs
	r.AddSecret("hunter22")
	r.AddSecret("hunter22-and-more") // longer secret containing a shorter one
	r.AddSecret("p@ss w0rd")
	r.AddSecret("hunter22") // duplicate is harmless

	tests := []struct{ in, want string }{
		{"plain abc text", "plain abc text"},
		{"pw=hunter22", "pw=***"},
		{"hunter22hunter22", "***"},
		{"x hunter22-and-more y", "x *** y"},
		{"p@ss w0rd", "***"},
		{"password=p%40ss+w0rd&x=1", "password=***&x=1"}, // query-escaped form
		{"/p@ss%20w0rd/", "/***/"},                       // path-escaped form
		{"hunter22 from 18912345678", "*** from 189****5678"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactOverlappingSecretsLeaveNoFragment(t *testing.T) {
	r := logging.NewRedactor()
	r.AddSecret("xxab")
	r.AddSecret("abcdef")
	if got := r.Redact("<xxabcdef>"); got != "<***>" {
		t.Errorf("Redact = %q, want %q", got, "<***>")
	}
}

func TestNilAndZeroRedactor(t *testing.T) {
	var nilR *logging.Redactor
	nilR.AddSecret("ignored-secret")
	if got := nilR.Redact("18912345678"); got != "189****5678" {
		t.Errorf("nil Redactor: got %q", got)
	}
	var zero logging.Redactor
	zero.AddSecret("zero-secret")
	if got := zero.Redact("a zero-secret"); got != "a ***" {
		t.Errorf("zero Redactor: got %q", got)
	}
}

func TestSensitiveKey(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"password", true},
		{"Password", true},
		{"PASSWORD", true},
		{"passwd", true},
		{"passWord", true},
		{"user_password", true},
		{"token", true},
		{"access_token", true},
		{"accessToken", true},
		{"accesstoken", true},
		{"userToken", true},
		{"X-Auth-Token", true},
		{"XAuthToken", true},
		{"cookie", true},
		{"Cookie", true},
		{"set-cookie", true},
		{"Set-Cookie", true},
		{"secret", true},
		{"client.secret", true},
		{"appSecret", true},
		{"key", true},
		{"api_key", true},
		{"apikey", true},
		{"apiKey", true},
		{"API-KEY", true},
		{"authorization", true},
		{"Authorization", true},
		{"private_key", true},
		{"sign", true},
		{"md5Sign", true},
		{"signature", true},
		{"key1", true},

		{"", false},
		{"monkey", false},
		{"keyboard", false},
		{"tokenizer", false},
		{"passenger", false},
		{"signal", false},
		{"design", false},
		{"user", false},
		{"phone", false},
		{"account", false},
		{"status", false},
		{"url", false},
		{"secretary", false},
		{"cookiecutter", false},
	}
	for _, tt := range tests {
		if got := logging.SensitiveKey(tt.name); got != tt.want {
			t.Errorf("SensitiveKey(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRedactNoAllocWhenClean(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	r := logging.NewRedactor()
	r.AddSecret("hunter22")
	s := "poll finished for account home at 1700000000000 in 120ms"
	if n := testing.AllocsPerRun(100, func() { _ = r.Redact(s) }); n != 0 {
		t.Errorf("Redact of clean text allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = logging.SensitiveKey("X-Auth-Token") }); n != 0 {
		t.Errorf("SensitiveKey allocates %v times", n)
	}
}

func BenchmarkRedactClean(b *testing.B) {
	r := logging.NewRedactor()
	for _, s := range []string{"hunter22", "tok_abcdef123456", "another-secret"} {
		r.AddSecret(s)
	}
	s := "poll finished for account home at 1700000000000 in 120ms, 3 entities changed"
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Redact(s)
	}
}

// One rule for numbers known to be phone numbers, and it agrees with MaskPhone wherever
// MaskPhone recognises one.
func TestMaskPhoneNumber(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"18912345678", "189****5678"},
		{"8618912345678", "86189****5678"},
		{"+8618912345678", "+86189****5678"},
		{"+86 189-1234-5678", "+86189****5678"}, // formatting does not move the hidden part
		{"+79161234567", "+791****4567"},        // 5SIM, SMS-Activate: international numbers
		{"447911123456", "4479****3456"},
		{"9161234567", "****4567"}, // under 11: only the last four
		{"1234567", "****"},        // under 8: nothing
		{"", "****"},
	} {
		if got := logging.MaskPhoneNumber(tt.in); got != tt.want {
			t.Errorf("MaskPhoneNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, n := range []string{"18912345678", "13800138000", "8618912345678", "008618912345678"} {
		if a, b := logging.MaskPhone("tel "+n), "tel "+logging.MaskPhoneNumber(n); a != b {
			t.Errorf("%s: MaskPhone %q, MaskPhoneNumber %q", n, a, b)
		}
	}
}

// No mainland mobile number survives MaskPhone, whatever surrounds it, and text without
// one comes back unchanged.
func FuzzMaskPhone(f *testing.F) {
	for _, s := range []string{"18912345678", "x8618912345678y", "008618912345678", "1700000000000", "+86 189 1234 5678", "١٨٩"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := logging.MaskPhone(s)
		if logging.MaskPhone(out) != out {
			t.Fatalf("masking %q twice changes it again: %q", s, out)
		}
		for i := 0; i+11 <= len(out); i++ {
			run := out[i : i+11]
			if isMobileRun(out, i) {
				t.Fatalf("%q left the number %q in %q", s, run, out)
			}
		}
		if len(out) != len(s) {
			t.Fatalf("length changed: %q -> %q", s, out)
		}
	})
}

// isMobileRun reports whether out[i:i+11] is a maximal 11-digit run 1[3-9]… (or one
// after a bare 86 / 0086 country code), which MaskPhone must have masked.
func isMobileRun(out string, i int) bool {
	digit := func(k int) bool { return k >= 0 && k < len(out) && out[k] >= '0' && out[k] <= '9' }
	for k := i; k < i+11; k++ {
		if !digit(k) {
			return false
		}
	}
	if out[i] != '1' || out[i+1] < '3' || out[i+1] > '9' || digit(i+11) {
		return false
	}
	start := i
	for digit(start - 1) {
		start--
	}
	switch i - start {
	case 0:
		return true
	case 2:
		return out[start:i] == "86"
	case 4:
		return out[start:i] == "0086"
	}
	return false
}

// referenceRedact masks the union of all occurrences of all secrets the plain way (every
// secret searched in the text), without phone masking.
func referenceRedact(secrets []string, s string) string {
	covered := make([]bool, len(s))
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		for i := 0; i+len(sec) <= len(s); i++ {
			if s[i:i+len(sec)] == sec {
				for k := i; k < i+len(sec); k++ {
					covered[k] = true
				}
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !covered[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		for i < len(s) && covered[i] {
			i++
		}
		b.WriteString(logging.Mask)
	}
	return b.String()
}

// With few secrets (walked one by one) and with many (indexed by prefix), a redaction
// masks exactly the union of every occurrence of every form.
func FuzzRedactManySecrets(f *testing.F) {
	f.Add("tok_abcd", "abcdefgh", "xx tok_abcdefgh tok_abcd abcdefghij", uint8(3))
	f.Add("aaaa", "aaaab", "aaaaaaab aaaab", uint8(200))
	f.Add("p@ss w/rd", "s w/", "login p%40ss+w%2Frd p@ss%20w%2Frd", uint8(70))
	f.Fuzz(func(t *testing.T, a, b, text string, many uint8) {
		r := logging.NewRedactor()
		var forms []string
		add := func(s string) {
			r.AddSecret(s)
			if len(s) >= 4 {
				forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
			}
		}
		for i := range int(many) {
			add(fmt.Sprintf("filler-%03d-secret", i))
		}
		add(a)
		add(b)
		got := r.Redact(text)
		want := logging.MaskPhone(referenceRedact(forms, text))
		if got != want {
			t.Fatalf("%d fillers, secrets %q %q, text %q:\n got %q\nwant %q", many, a, b, text, got, want)
		}
	})
}

// BenchmarkRedactManySecrets is a redaction with as many secrets as 20,000 accounts
// register (password and token, three forms each): it must not walk them.
func BenchmarkRedactManySecrets(b *testing.B) {
	for _, n := range []int{10, 20000, 60000} {
		b.Run(fmt.Sprint(n, "-accounts"), func(b *testing.B) {
			r := logging.NewRedactor()
			for i := range n {
				r.AddSecret(fmt.Sprintf("pw%06d", i))
				r.AddSecret(fmt.Sprintf("%08x%08x", uint32(i)*2654435761, uint32(i)*40503)) // random-looking token
			}
			s := "qryImportantData: China Telecom answered code X201 (token 9e3779b900067ab7 expired) for account home_7"
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Redact(s)
			}
		})
	}
}
