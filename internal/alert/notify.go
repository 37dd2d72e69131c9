package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/accountbridge/accountbridge/internal/config"
)

// Notifier delivers alerts somewhere. Notify may block (it runs on the notifier's own
// goroutine) and returns an error to be retried.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, a Alert) error
}

const (
	queueSize   = 256
	maxAttempts = 5
)

// Start runs one worker per notifier. Dispatch never blocks polling: a full queue drops
// the alert with an error in the log.
func (e *Engine) Start() {
	for _, n := range e.opts.Notifiers {
		q := make(chan Alert, queueSize)
		e.queues = append(e.queues, q)
		e.workers.Add(1)
		go e.work(n, q)
	}
}

// Dispatch hands alerts to every notifier.
func (e *Engine) Dispatch(alerts []Alert) {
	for _, a := range alerts {
		e.opts.Logger.Info("alert", "id", a.ID, "state", a.State, "reminder", a.Reminder, "message", a.Message)
		for i, q := range e.queues {
			select {
			case q <- a:
			default:
				e.opts.Logger.Error("alert dropped: notifier queue full", "notifier", e.opts.Notifiers[i].Name(), "id", a.ID)
			}
		}
	}
}

// Stop lets the workers deliver what is queued until ctx ends.
func (e *Engine) Stop(ctx context.Context) {
	close(e.stopping)
	for _, q := range e.queues {
		close(q)
	}
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.opts.Logger.Warn("stopped with alerts still undelivered")
	}
}

func (e *Engine) work(n Notifier, q <-chan Alert) {
	defer e.workers.Done()
	for a := range q {
		delay := e.opts.RetryDelay
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := n.Notify(ctx, a)
			cancel()
			if err == nil {
				break
			}
			if attempt == maxAttempts {
				e.opts.Logger.Error("alert not delivered; giving up", "notifier", n.Name(), "id", a.ID, "attempts", attempt, "err", err)
				break
			}
			e.opts.Logger.Warn("alert delivery failed; retrying", "notifier", n.Name(), "id", a.ID, "attempt", attempt, "retry_in", delay, "err", err)
			select {
			case <-time.After(delay):
			case <-e.stopping:
				// Shutting down: one last immediate try is all we can afford.
				delay = 0
			}
			delay *= 2
		}
	}
}

// Webhook POSTs each alert as JSON.
type Webhook struct {
	URL     string
	Retries int
	Client  *http.Client
}

// NewWebhook builds the webhook notifier from config.
func NewWebhook(c config.Webhook) *Webhook {
	return &Webhook{URL: c.URL, Retries: c.Retries, Client: &http.Client{Timeout: c.Timeout.D()}}
}

func (w *Webhook) Name() string { return "webhook" }

// Notify makes one delivery with up to Retries quick retries on 5xx and network errors.
func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt <= w.Retries; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "accountbridge")
		resp, err := w.Client.Do(req)
		if err != nil {
			var ue interface{ Unwrap() error }
			if errors.As(err, &ue) {
				err = ue.Unwrap() // the URL may carry a token: keep it out of the message
			}
			last = fmt.Errorf("webhook: %w", err)
		} else {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return nil
			}
			last = fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				return last // the receiver refuses it; retrying will not help
			}
		}
		if ctx.Err() != nil {
			return last
		}
	}
	return last
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
