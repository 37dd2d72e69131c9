package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
	"github.com/accountbridge/accountbridge/internal/httpx"
)

// Notifier delivers alerts to one output. Notify may block (it runs on the output's own
// goroutine); an error means "not delivered, try again later".
type Notifier interface {
	Name() string // the output's name in the outbox: mqtt, homeassistant, email, webhook
	Notify(ctx context.Context, a Alert) error
}

// Gate is a Notifier that can deliver only at times, e.g. MQTT while connected. Its
// alerts wait, without attempts or backoff, until it is Ready, so they go out as soon as
// the connection is back.
type Gate interface {
	Ready() bool
}

// notifyTimeout bounds one Notify call (a webhook's own retries included).
const notifyTimeout = 5 * time.Minute

// outputs are the names of the configured notifiers, in order.
func (e *Engine) outputs() []string {
	out := make([]string, len(e.opts.Notifiers))
	for i, n := range e.opts.Notifiers {
		out[i] = n.Name()
	}
	return out
}

// Expired counts the alerts dropped from the outbox unsent (per output), since the store
// was created.
func (e *Engine) Expired() int64 { return e.expired.Load() }

// Start runs one worker per notifier, each delivering its outbox entries in order.
func (e *Engine) Start() {
	for _, n := range e.opts.Notifiers {
		kick := make(chan struct{}, 1)
		e.kicks = append(e.kicks, kick)
		e.workers.Add(1)
		go e.work(n, kick)
	}
	e.kick()
}

func (e *Engine) kick() {
	for _, k := range e.kicks {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// Dispatch logs alerts and releases them to the notifiers. They are already in the
// outbox (Observe and Tick put them there with their state change); holding them back
// until Dispatch lets the daemon publish a device before the first event about it.
// It never blocks.
func (e *Engine) Dispatch(alerts []Alert) {
	var last int64
	for _, a := range alerts {
		e.opts.Logger.Info("alert", "id", a.ID, "state", a.State, "reminder", a.Reminder, "message", a.Message)
		last = max(last, a.Seq)
	}
	for {
		cur := e.released.Load()
		if last <= cur {
			// Nothing new for the workers: most polls fire nothing, and a kick would make
			// every worker read the outbox once per poll.
			return
		}
		if e.released.CompareAndSwap(cur, last) {
			break
		}
	}
	e.kick()
}

// Stop makes every worker try once what is ready to go and return; what is left stays in
// the outbox for the next start. It waits until ctx ends at most.
func (e *Engine) Stop(ctx context.Context) {
	close(e.stopping)
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.opts.Logger.Warn("stopped with alert deliveries in flight; they are retried at the next start")
	}
}

func (e *Engine) isStopping() bool {
	select {
	case <-e.stopping:
		return true
	default:
		return false
	}
}

// pause waits d, a kick (when kickable) or the stop; it reports false on stop.
func (e *Engine) pause(d time.Duration, kick <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-kick:
	case <-e.stopping:
		return false
	}
	return true
}

// work delivers the outbox entries of one notifier, oldest first, each until it is
// delivered or expires: a failing head holds back the entries behind it, so the order
// holds. After a delivery the entry is deleted; an entry whose deletion failed is not
// sent again (done), so a store hiccup does not repeat an alert.
func (e *Engine) work(n Notifier, kick chan struct{}) {
	defer e.workers.Done()
	name := n.Name()
	log := e.opts.Logger.With("notifier", name)
	gate, _ := n.(Gate)
	ctx := context.Background()
	var (
		delay    time.Duration
		failures int
		lastErr  string
		done     int64
	)
	for {
		stopping := e.isStopping()
		ent, ok, err := e.opts.Store.NextOutbox(ctx, name, e.released.Load())
		if err != nil {
			log.Error("alert outbox unreadable", "err", err)
			if stopping || !e.pause(e.opts.RetryDelay, nil) {
				return
			}
			continue
		}
		if !ok {
			if stopping || !e.pause(time.Hour, kick) {
				return
			}
			continue
		}
		if ent.ID == done {
			if err := e.opts.Store.DeleteOutbox(ctx, ent.ID); err != nil {
				log.Error("delivered alert not removed from the outbox", "id", ent.AlertID, "err", err)
				if stopping || !e.pause(e.opts.RetryDelay, nil) {
					return
				}
			}
			continue
		}
		if age := e.opts.Now().Sub(time.Unix(0, ent.Created)); age > e.opts.Expiry {
			if err := e.opts.Store.ExpireOutbox(ctx, ent.ID); err != nil {
				log.Error("expired alert not removed from the outbox", "id", ent.AlertID, "err", err)
				if stopping || !e.pause(e.opts.RetryDelay, nil) {
					return
				}
				continue
			}
			e.expired.Add(1)
			log.Warn("alert dropped undelivered: it expired", "id", ent.AlertID, "queued", time.Unix(0, ent.Created).UTC(),
				"expire_after", e.opts.Expiry, "attempts", failures, "last_err", lastErr)
			failures, delay, lastErr = 0, 0, ""
			continue
		}
		if gate != nil && !gate.Ready() {
			if stopping || !e.pause(e.opts.ReadyPoll, nil) {
				return
			}
			continue
		}
		var a Alert
		if err := json.Unmarshal(ent.Payload, &a); err != nil {
			// Cannot happen with what CommitAlert stored; never block the queue on it.
			log.Error("outbox entry unreadable; dropped", "id", ent.AlertID, "err", err)
			_ = e.opts.Store.ExpireOutbox(ctx, ent.ID)
			continue
		}
		a.Seq = ent.ID
		nctx, cancel := context.WithTimeout(ctx, notifyTimeout)
		err = n.Notify(nctx, a)
		cancel()
		if err == nil {
			done = ent.ID
			if failures > 0 {
				log.Info("alert delivered after failures", "id", a.ID, "failures", failures)
			}
			failures, delay, lastErr = 0, 0, ""
			if err := e.opts.Store.DeleteOutbox(ctx, ent.ID); err != nil {
				log.Error("delivered alert not removed from the outbox", "id", a.ID, "err", err)
			}
			continue
		}
		if gate != nil && !gate.Ready() {
			// Lost the connection meanwhile: wait for it, not for a backoff.
			continue
		}
		failures++
		if stopping {
			log.Warn("alert not delivered before stopping; kept for the next start", "id", a.ID, "err", err)
			return
		}
		delay = min(max(2*delay, e.opts.RetryDelay), e.opts.RetryMax)
		// One line per new reason and then at doubling counts: a receiver down for a day
		// does not fill the log.
		if msg := err.Error(); msg != lastErr || failures&(failures-1) == 0 {
			log.Warn("alert delivery failed; retrying", "id", a.ID, "attempt", failures, "retry_in", delay, "err", err)
			lastErr = msg
		}
		if !e.pause(delay, nil) {
			return
		}
	}
}

// Webhook POSTs each alert as JSON through httpx (proxy, timeouts, debug log with
// redaction). A failed attempt is retried Retries times with a doubling pause (1s, 2s,
// 4s …, or what a 429/503 Retry-After asks, at most a minute); after that the outbox
// tries again later with its own backoff.
type Webhook struct {
	URL     string
	Retries int
	Client  *http.Client
	// FirstRetry is the first pause between attempts (default 1s).
	FirstRetry time.Duration
}

// NewWebhook builds the webhook notifier from config. log (may be nil) gets httpx's
// debug lines; redact hides secrets in them (the URL may carry a token).
func NewWebhook(c config.Webhook, log *slog.Logger, redact func(string) string) (*Webhook, error) {
	client, err := httpx.New(httpx.Options{Provider: "webhook", Proxy: c.Proxy, Timeout: c.Timeout.D(),
		Logger: log, Redact: redact})
	if err != nil {
		return nil, fmt.Errorf("alerts.webhook: %w", err)
	}
	return &Webhook{URL: c.URL, Retries: c.Retries, Client: client, FirstRetry: time.Second}, nil
}

func (w *Webhook) Name() string { return "webhook" }

// maxRetryAfter caps how long a receiver's Retry-After can hold one delivery.
const maxRetryAfter = time.Minute

// Notify delivers one alert: up to 1+Retries attempts on 5xx, 408, 429 and network
// errors, with backoff. Other 4xx answers are not retried here (the outbox retries later:
// a receiver's configuration can be fixed).
func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	pause := w.FirstRetry
	if pause <= 0 {
		pause = time.Second
	}
	var last error
	for attempt := 0; attempt <= w.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return last
			case <-t.C:
			}
			pause *= 2
		}
		wait, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		last = err
		if wait < 0 || ctx.Err() != nil {
			return last
		}
		if wait > 0 {
			pause = wait
		}
	}
	return last
}

// post makes one attempt. wait < 0: not worth retrying now; wait > 0: the receiver's
// Retry-After.
func (w *Webhook) post(ctx context.Context, body []byte) (wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return -1, errors.New("webhook: invalid request") // the URL may carry a token
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token: keep it out of the message
		}
		return 0, fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if s, convErr := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); convErr == nil && s > 0 {
			return min(time.Duration(s)*time.Second, maxRetryAfter), err
		}
		return 0, err
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return 0, err
	default:
		return -1, err // the receiver refuses it; retrying now will not help
	}
}

// Email sends each alert as a plain-text mail.
type Email struct {
	cfg config.Email
}

// NewEmail builds the email notifier from config.
func NewEmail(c config.Email) *Email { return &Email{cfg: c} }

func (m *Email) Name() string { return "email" }

// Notify sends one mail over SMTP with STARTTLS, implicit TLS or plain, as configured.
func (m *Email) Notify(ctx context.Context, a Alert) error {
	c := m.cfg
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	deadline := time.Now().Add(c.Timeout.D())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := &net.Dialer{Deadline: deadline}
	var conn net.Conn
	var err error
	if c.Security == "tls" {
		conn, err = tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12})
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	conn.SetDeadline(deadline)
	client, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer client.Close()
	if c.Security == "starttls" {
		if err := client.StartTLS(&tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp %s: STARTTLS: %w", addr, err)
		}
	}
	if c.Username != "" {
		if err := client.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return fmt.Errorf("smtp %s: login as %s: %w", addr, c.Username, err)
		}
	}
	if err := client.Mail(c.From); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", addr, err)
	}
	for _, to := range c.To {
		if err := client.Rcpt(to); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, to, err)
		}
	}
	w, err := client.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(mailBody(c, a)); err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	return client.Quit()
}

func mailBody(c config.Email, a Alert) []byte {
	state := "FIRING"
	if a.State == Resolved {
		state = "RESOLVED"
	} else if a.Reminder {
		state = "STILL FIRING"
	}
	subject := "[accountbridge] " + state + ": " + a.Message
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", c.From, strings.Join(c.To, ", "),
		mime.QEncoding.Encode("utf-8", subject), a.At.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&b, "%s\r\n\r\n", a.Message)
	fmt.Fprintf(&b, "State:  %s\r\nRule:   %s\r\nDevice: %s (%s)\r\nEntity: %s\r\nSince:  %s\r\n",
		strings.ToLower(state), a.Rule, a.DeviceName, a.Device, a.Entity, a.Since.In(shanghai).Format("2006-01-02 15:04:05 -07:00"))
	if a.Value != nil {
		fmt.Fprintf(&b, "Value:  %s\r\n", formatValue(a.Value, a.Unit))
	}
	return []byte(b.String())
}
