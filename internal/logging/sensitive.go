package logging

// sensitiveWords are the word parts that mark a name as holding a secret.
// Compound spellings (apikey, accesstoken) are listed because an all-lower
// name has no boundary to split on; adjacent parts are also tried joined,
// so "passWord" and "api-key" are caught as well.
var sensitiveWords = map[string]struct{}{
	"password": {}, "passwords": {}, "passwd": {}, "pwd": {}, "passphrase": {}, "passcode": {},
	"token": {}, "tokens": {}, "accesstoken": {}, "refreshtoken": {}, "authtoken": {},
	"cookie": {}, "cookies": {}, "setcookie": {},
	"secret": {}, "secrets": {}, "appsecret": {}, "clientsecret": {},
	"key": {}, "keys": {}, "apikey": {}, "appkey": {}, "privatekey": {}, "secretkey": {},
	"authorization": {}, "credential": {}, "credentials": {},
	"sign": {}, "signature": {},
	"sessionid": {},
}

// longestWord bounds the lookup buffer; longer parts cannot match.
// init checks it covers every entry of sensitiveWords.
const longestWord = 16

func init() {
	for w := range sensitiveWords {
		if len(w) > longestWord {
			panic("logging: longestWord too small for " + w)
		}
	}
}

// SensitiveKey reports whether an attribute, header or parameter name
// names a secret. Names are split into word parts at '_', '-', '.', spaces
// and camelCase/digit boundaries and compared case-insensitively, so
// "api_key", "userToken" and "X-Auth-Token" match while "monkey" and
// "keyboard" do not. It does not allocate.
func SensitiveKey(name string) bool {
	prevStart, prevEnd := -1, -1
	for i := 0; i < len(name); {
		if isSep(name[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(name) && !isSep(name[j]) && !isBoundary(name, j) {
			j++
		}
		if wordIs(name[i:j], "") {
			return true
		}
		if prevStart >= 0 && wordIs(name[prevStart:prevEnd], name[i:j]) {
			return true
		}
		prevStart, prevEnd = i, j
		i = j
	}
	return false
}

// wordIs looks up the lower-cased concatenation a+b in sensitiveWords.
func wordIs(a, b string) bool {
	if len(a)+len(b) > longestWord {
		return false
	}
	var buf [longestWord]byte
	n := copy(buf[:], a)
	n += copy(buf[n:], b)
	for k := range n {
		if c := buf[k]; 'A' <= c && c <= 'Z' {
			buf[k] = c + ('a' - 'A')
		}
	}
	_, ok := sensitiveWords[string(buf[:n])] // the compiler avoids a copy here
	return ok
}

func isSep(c byte) bool { return c == '_' || c == '-' || c == '.' || c == ' ' }

// isBoundary reports whether a new word part starts at name[j]:
// "userToken" (lower→Upper), "HTTPToken" (the last capital of an acronym
// before a lower-case letter) and letter↔digit changes.
func isBoundary(name string, j int) bool {
	p, c := name[j-1], name[j]
	switch {
	case isUpper(c) && (isLower(p) || isDigit(p)):
		return true
	case isUpper(p) && isUpper(c) && j+1 < len(name) && isLower(name[j+1]):
		return true
	case isDigit(p) != isDigit(c):
		return true
	}
	return false
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
