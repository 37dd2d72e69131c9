package web

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// tokenCookie carries the token after the user opened /?token=….
const tokenCookie = "accountbridge_token"

// csrfHeader carries the per-process CSRF token on every action (the page embeds it).
const csrfHeader = "X-CSRF-Token"

// ingressPathRe: what Home Assistant sends (/api/hassio_ingress/<token>); anything else
// is ignored rather than written into the page.
var ingressPathRe = regexp.MustCompile(`^/[A-Za-z0-9_./-]{0,200}$`)

// ServeHTTP applies the security rules, then routes:
//  1. IngressOnly: the peer must be the Supervisor's ingress proxy (403 otherwise).
//  2. A configured token is required (401 otherwise), except from the ingress proxy.
//  3. Anything but GET/HEAD must be a POST with the CSRF token, and not cross-site.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	// frame-ancestors 'self': the ingress panel frames the page from Home Assistant's own
	// origin, which is the origin the browser sees for the page too.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")

	if len(s.peers) > 0 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !slices.Contains(s.peers, host) {
			s.log.Warn("web request refused: not from the Home Assistant ingress proxy", "peer", r.RemoteAddr)
			http.Error(w, "forbidden: open accountbridge from the Home Assistant sidebar", http.StatusForbidden)
			return
		}
	}
	if s.opts.Token != "" && len(s.peers) == 0 {
		if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && s.tokenOK(q) {
			// Trade the token in the URL for a cookie, and drop it from the address bar.
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			qs := u.Query()
			qs.Del("token")
			u.RawQuery = qs.Encode()
			http.Redirect(w, r, s.prefix(r)+u.Path+query(u.RawQuery), http.StatusSeeOther)
			return
		}
		if !s.authorized(r) {
			h.Set("WWW-Authenticate", `Bearer realm="accountbridge"`)
			http.Error(w, "unauthorized: open this page as /?token=<web.token> once, or send Authorization: Bearer <web.token>", http.StatusUnauthorized)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if msg := s.csrfProblem(r); msg != "" {
			s.log.Warn("web action refused", "path", r.URL.Path, "why", msg)
			http.Error(w, "forbidden: "+msg, http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	}
	s.mux.ServeHTTP(w, r)
}

func query(raw string) string {
	if raw == "" {
		return ""
	}
	return "?" + raw
}

func (s *Server) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.opts.Token)) == 1
}

func (s *Server) authorized(r *http.Request) bool {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.tokenOK(v) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && s.tokenOK(c.Value) {
		return true
	}
	return false
}

// csrfProblem says why an action must be refused, or "".
func (s *Server) csrfProblem(r *http.Request) string {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(s.csrf)) != 1 {
		return "missing or wrong " + csrfHeader + " (reload the page)"
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "cross-site request"
	}
	// Behind ingress the browser's origin is Home Assistant's and the Host is the
	// proxy's; the peer check above already pins the caller.
	if o := r.Header.Get("Origin"); o != "" && len(s.peers) == 0 {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return "request from another origin"
		}
	}
	return ""
}

// prefix is the ingress path prefix ("" when not behind ingress).
func (s *Server) prefix(r *http.Request) string {
	p := strings.TrimSuffix(r.Header.Get("X-Ingress-Path"), "/")
	if p == "" || !ingressPathRe.MatchString(p) || strings.Contains(p, "..") {
		return ""
	}
	return p
}
