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
