package logging

import (
	"strconv"
	"unicode/utf8"
)

// ExcerptLen is how many bytes of an untrusted payload a log line may carry.
const ExcerptLen = 64

// Excerpt is what a log line may say about an untrusted payload (an MQTT message, an
// upstream answer): its first ExcerptLen bytes, quoted and escaped so that it cannot
// forge log lines, and its size when it was cut. A 10 MiB payload stays a short line.
func Excerpt(b []byte) string {
	if len(b) <= ExcerptLen {
		return strconv.Quote(string(b))
	}
	cut := ExcerptLen
	for cut > ExcerptLen-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut-- // do not split a character
	}
	return strconv.Quote(string(b[:cut])) + "… (" + strconv.Itoa(len(b)) + " bytes)"
}

// CutBytes returns s when it has at most n bytes, else its longest prefix of at most n
// bytes that does not split a character, followed by "…": a bound on the bytes an
// upstream's text may take in a message or a log line.
func CutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// CutRunes returns s when it has at most n characters, else its first n characters
// (an invalid byte among them made U+FFFD) followed by "…".
func CutRunes(s string, n int) string {
	if len(s) <= n {
		return s // no more bytes than n: no more characters either
	}
	i := 0
	for k := range s {
		if i == n {
			return string([]rune(s[:k])) + "…"
		}
		i++
	}
	return s
}
