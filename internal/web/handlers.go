package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html"
	"io"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// indexPage is the page shell; renderIndex fills its few placeholders. Not
// html/template: its reflection makes the linker keep every exported method of
// the program, 2 MB of the 17 MB binary, all of it mapped by a daemon at idle
// (docs/benchmarks.md, "Seventh round"); five escaped values need none of it.
var indexPage = mustRead(assets, "assets/index.html")

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", s.index)
	m.HandleFunc("GET /api/accounts", s.getJSON(func(r *http.Request) (any, error) { return s.opts.Backend.Accounts(), nil }))
	m.HandleFunc("GET /api/alerts", s.getJSON(func(r *http.Request) (any, error) { return s.opts.Backend.Alerts(r.Context()) }))
	m.HandleFunc("GET /api/sms", s.getJSON(func(r *http.Request) (any, error) { return s.opts.Backend.SMS(), nil }))
	m.HandleFunc("GET /api/devices/{id}", s.device)
	m.HandleFunc("GET /api/config", s.config)
	m.HandleFunc("GET /api/events", s.events)
	m.HandleFunc("POST /api/accounts/{id}/poll", s.action(func(r *http.Request) error { return s.opts.Backend.PollNow(r.PathValue("id")) }))
	m.HandleFunc("POST /api/accounts/{id}/reset", s.action(func(r *http.Request) error { return s.opts.Backend.Reset(r.Context(), r.PathValue("id")) }))
	m.HandleFunc("POST /api/accounts/{id}/enable", s.action(func(r *http.Request) error {
		return s.opts.Backend.SetEnabled(r.Context(), r.PathValue("id"), true)
	}))
	m.HandleFunc("POST /api/accounts/{id}/disable", s.action(func(r *http.Request) error {
		return s.opts.Backend.SetEnabled(r.Context(), r.PathValue("id"), false)
	}))
	m.HandleFunc("POST /api/sms/orders", s.placeOrder)
	m.HandleFunc("POST /api/sms/orders/{rid}/cancel", s.action(func(r *http.Request) error {
		return s.opts.Backend.CancelOrder(r.Context(), r.PathValue("rid"))
	}))
	m.HandleFunc("POST /api/config/check", s.configCheck(false))
	m.HandleFunc("POST /api/config/save", s.configCheck(true))
	s.mux = m
}

type pageData struct {
	Base, CSRF, Lang, Version string
	Editor                    bool
}

func mustRead(fsys fs.FS, name string) string {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// renderIndex fills the page's placeholders; every value is HTML-escaped, so
// it is safe in the quoted attributes and the text it lands in.
func renderIndex(d pageData) string {
	editor := "off"
	if d.Editor {
		editor = "on"
	}
	return strings.NewReplacer(
		"{{.Lang}}", html.EscapeString(d.Lang),
		"{{.Base}}", html.EscapeString(d.Base),
		"{{.CSRF}}", html.EscapeString(d.CSRF),
		"{{.Version}}", html.EscapeString(d.Version),
		"{{if .Editor}}on{{else}}off{{end}}", editor,
	).Replace(indexPage)
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	page := renderIndex(pageData{Base: s.prefix(r) + "/", CSRF: s.csrf, Lang: s.opts.Language,
		Version: s.opts.Version, Editor: s.opts.ConfigPath != ""})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, page)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

type apiError struct {
	Error string `json:"error"`
}

func (s *Server) getJSON(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, ErrNotFound) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, apiError{Error: err.Error()})
}

func (s *Server) action(fn func(r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(r); err != nil {
			s.fail(w, err)
			return
		}
		s.log.Info("web action", "path", r.URL.Path)
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	d, ok, err := s.opts.Backend.Device(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		s.fail(w, err)
	case !ok:
		writeJSON(w, http.StatusNotFound, apiError{Error: "no device " + r.PathValue("id")})
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

// requestIDRe is the MQTT order's rule for request ids (one topic level).
var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request) {
	var req OrderRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fail(w, errors.New("the order form is not valid: "+err.Error()))
		return
	}
	if req.RequestID == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		req.RequestID = "web-" + time.Now().UTC().Format("150405") + "-" + hex.EncodeToString(b)
	}
	if !requestIDRe.MatchString(req.RequestID) {
		s.fail(w, errors.New("request_id: letters, digits and _ . : - only, at most 64"))
		return
	}
	if s.opts.Backend.SMS() == nil {
		s.fail(w, errors.New("no SMS platform accounts are configured"))
		return
	}
	if err := s.opts.Backend.PlaceOrder(r.Context(), req); err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("web action: SMS order", "request_id", req.RequestID)
	writeJSON(w, http.StatusOK, map[string]string{"request_id": req.RequestID})
}

// configView is GET api/config: the config in use (masked) and, when the editor is on,
// the file with its secrets masked.
type configView struct {
	Masked      string       `json:"masked"`
	Editor      *editorState `json:"editor,omitempty"`
	EditorError string       `json:"editor_error,omitempty"`
}

func (s *Server) secrets() []string {
	if s.opts.Secrets == nil {
		return nil
	}
	return s.opts.Secrets()
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	masked, err := s.opts.Backend.ConfigMasked()
	if err != nil {
		s.fail(w, err)
		return
	}
	v := configView{Masked: string(masked)}
	if p := s.opts.ConfigPath; p != "" {
		data, err := os.ReadFile(p)
		if err == nil {
			var text []byte
			text, err = maskConfig(data, s.secrets())
			if err == nil {
				v.Editor = &editorState{Path: p, Text: string(text), Base: hashOf(data)}
			}
		}
		if err != nil {
			v.EditorError = err.Error()
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// checkResult answers api/config/check and api/config/save.
type checkResult struct {
	OK       bool      `json:"ok"`
	Problems []Problem `json:"problems"`
	Saved    bool      `json:"saved"`
	Backup   string    `json:"backup,omitempty"`
	Base     string    `json:"base,omitempty"`
}

type configEdit struct {
	Text string `json:"text"`
	Base string `json:"base"`
}

// configCheck validates the edited text as `bridge check` does; with save, a valid text
// is written (the previous file kept as .bak). The running daemon applies it at restart.
func (s *Server) configCheck(save bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.ConfigPath == "" {
			s.fail(w, errors.New("the config editor is off: the config in use is not a YAML file"))
			return
		}
		var in configEdit
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			s.fail(w, errors.New("bad request: "+err.Error()))
			return
		}
		s.editMu.Lock()
		defer s.editMu.Unlock()
		saved, err := os.ReadFile(s.opts.ConfigPath)
		if err != nil {
			s.fail(w, err)
			return
		}
		known := s.secrets()
		full, problems := unmaskConfig([]byte(in.Text), saved, known)
		if len(problems) == 0 {
			problems = s.opts.Backend.CheckConfig(full)
		}
		var hidden []string
		if spots, err := findSecrets(full, known); err == nil {
			for _, sp := range spots {
				hidden = append(hidden, sp.value)
			}
		}
		res := checkResult{OK: len(problems) == 0, Problems: redactProblems(problems, append(hidden, known...))}
		if res.Problems == nil {
			res.Problems = []Problem{}
		}
		if save && res.OK {
			if in.Base != "" && in.Base != hashOf(saved) {
				writeJSON(w, http.StatusConflict, apiError{Error: "the file changed on disk since it was loaded: reload the page"})
				return
			}
			backup, err := saveFile(s.opts.ConfigPath, full, saved)
			if err != nil {
				s.fail(w, err)
				return
			}
			s.log.Info("config saved from the web UI; it applies at the next restart", "file", s.opts.ConfigPath, "backup", backup)
			res.Saved, res.Backup, res.Base = true, backup, hashOf(full)
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// events streams the accounts, alerts and SMS state as server-sent events, each when it
// changed (checked every Options.Interval), starting with all three.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	last := map[string][]byte{}
	send := func(name string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil || bytes.Equal(last[name], b) {
			return err == nil
		}
		last[name] = b
		if _, err := io.WriteString(w, "event: "+name+"\ndata: "+string(b)+"\n\n"); err != nil {
			return false
		}
		return true
	}
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		ok := send("accounts", s.opts.Backend.Accounts())
		if a, err := s.opts.Backend.Alerts(r.Context()); err == nil {
			ok = ok && send("alerts", a)
		}
		if sms := s.opts.Backend.SMS(); sms != nil {
			ok = ok && send("sms", sms)
		}
		if !ok {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
