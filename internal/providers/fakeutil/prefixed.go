package fakeutil

import (
	"net/http"
	"strconv"
	"strings"
)

// Prefixed serves fake n under /a/<n>/ (the path after the prefix is the fake's own), so
// one listener holds many fakes of one account each: the demo with --accounts N and the
// load scenario. Anything else is 404.
type Prefixed []http.Handler

func (p Prefixed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/a/")
	i := strings.IndexByte(rest, '/')
	if !ok || i < 0 {
		http.NotFound(w, r)
		return
	}
	n, err := strconv.Atoi(rest[:i])
	if err != nil || n < 0 || n >= len(p) {
		http.NotFound(w, r)
		return
	}
	r.URL.Path, r.URL.RawPath = rest[i:], ""
	p[n].ServeHTTP(w, r)
}
