package main

// The host is the child process of the load scenario: it serves every provider's fake
// upstream for all generated accounts, optionally the embedded broker, and an MQTT proxy
// that counts what the daemon publishes. It runs apart from the daemon so that the
// daemon's CPU and RSS are measured alone.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accountbridge/accountbridge/internal/mqtt/broker"
	"github.com/accountbridge/accountbridge/internal/providers/fakeutil"
	gasfake "github.com/accountbridge/accountbridge/internal/providers/gas/fake"
	onecloudfake "github.com/accountbridge/accountbridge/internal/providers/onecloud/fake"
	smsfake "github.com/accountbridge/accountbridge/internal/providers/sms/fake"
	telecomfake "github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

// hostInfo is what the host prints (one JSON line) once it serves.
type hostInfo struct {
	TelecomURL  string `json:"telecom_url"`
	TelecomKey  string `json:"telecom_key"`
	GasURL      string `json:"gas_url"`
	OneCloudURL string `json:"onecloud_url"`
	SMSURL      string `json:"sms_url"`
	SMSKey      string `json:"sms_key"`
	BrokerURL   string `json:"broker_url"` // the counting proxy the daemon connects to
	Upstream    string `json:"upstream"`   // the broker behind it
	StatsURL    string `json:"stats_url"`
}

// hostStats are cumulative counters.
type hostStats struct {
	Logins   int `json:"logins"`
	Requests int `json:"requests"`
	Delayed  int `json:"delayed"` // requests that waited the configured latency

	Messages       int64            `json:"messages"` // PUBLISH packets from the daemon
	Bytes          int64            `json:"bytes"`    // their size on the wire
	ByKind         map[string]int64 `json:"by_kind"`  // discovery, state, availability, poll, summary, info, bridge, alerts, other
	StateChanges   int64            `json:"state_changes"`
	StateLastPoll  int64            `json:"state_last_poll_only"` // state publishes that differ only in last_poll
	StateFirstSeen int64            `json:"state_first"`          // first state of a device
}

// Account generation is shared by the host (fakes) and the daemon side (config).
type acct struct {
	ID, Kind string
	N        int // index within its kind
}

func planAccounts(n int, kinds []string) []acct {
	out := make([]acct, n)
	per := map[string]int{}
	for i := range out {
		k := kinds[i%len(kinds)]
		out[i] = acct{ID: fmt.Sprintf("%s%05d", k[:1], per[k]), Kind: k, N: per[k]}
		per[k]++
	}
	return out
}

func telecomPhone(n int) string  { return fmt.Sprintf("189%08d", n) }
func gasUserCode(n int) string   { return fmt.Sprintf("%08d", 20000000+n) }
func gasMobile(n int) string     { return fmt.Sprintf("138%08d", n) }
func onecloudPhone(n int) string { return fmt.Sprintf("137%08d", n) }
func smsKey(n int) string        { return fmt.Sprintf("load-activate-key-%05d", n) }

// telecomPlans: what the telecom accounts answer, by account number. Every other account
// has the full plan (packages and a 2-member shared plan, the heaviest answer); the others
// cycle through the remaining plans, so answers differ in shape as well as in values.
var telecomPlans = []telecomfake.Plan{
	telecomfake.PlanNormal, telecomfake.PlanOverQuota, telecomfake.PlanNormal, telecomfake.PlanCapped,
	telecomfake.PlanNormal, telecomfake.PlanUnlimited, telecomfake.PlanNormal, telecomfake.PlanSparse,
	telecomfake.PlanNormal, telecomfake.PlanBalanceOnly,
}

const telecomPassword = "123456"

// serve serves h on a free loopback port, over TLS when cert is given (the upstreams are
// HTTPS in real life, and the handshakes and encryption are part of a poll's cost).
func serve(h http.Handler, cert *tls.Certificate) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	if cert == nil {
		go func() { _ = srv.Serve(ln) }()
		return "http://" + ln.Addr().String(), nil
	}
	ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"h2", "http/1.1"}})
	go func() { _ = srv.Serve(ln) }()
	return "https://" + ln.Addr().String(), nil
}

// selfSigned makes a certificate for 127.0.0.1 that is its own CA and writes it (PEM) to
// caFile, which the daemon is told to trust (SSL_CERT_FILE).
func selfSigned(caFile string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "accountbridge load fakes"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// withLatency delays every request by d (for fakes without a latency knob) and counts them.
type withLatency struct {
	h     http.Handler
	d     time.Duration
	count atomic.Int64
}

func (l *withLatency) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.count.Add(1)
	if l.d > 0 {
		t := time.NewTimer(l.d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	l.h.ServeHTTP(w, r)
}

// runHost serves until stdin closes (the parent ended).
func runHost(cfg loadConfig) error {
	accts := planAccounts(cfg.Accounts, cfg.Kinds)
	tel := telecomfake.New()
	var gas []*gasfake.Server
	var one []*onecloudfake.Server
	var sms []*smsfake.Activate
	// Every account answers differently: its own plan, data use, balance, history, boxes.
	for _, a := range accts {
		switch a.Kind {
		case "telecom":
			tel.AddAccount(telecomPhone(a.N), telecomPassword, telecomPlans[a.N%len(telecomPlans)])
			tel.AddDataUse(telecomPhone(a.N), int64(a.N%4096)*37)
		case "gas":
			gas = append(gas, gasfake.New(gasfake.Options{UserCode: gasUserCode(a.N), Mobile: gasMobile(a.N),
				HistoryDays: 300 + a.N%200, InitialReading: 500 + float64(a.N%1000), Balance: 20 + float64(a.N%300)/3}))
		case "onecloud":
			o := onecloudfake.Default()
			o.Phone = onecloudPhone(a.N)
			o.Balance += float64(a.N%100) / 7
			o.TotalIncomeBefore += float64(a.N % 1000)
			if a.N%3 == 0 {
				o.Boxes = o.Boxes[:1]
			}
			one = append(one, onecloudfake.New(o))
		case "sms":
			f := smsfake.NewActivate(smsKey(a.N))
			f.SetBalance(100 + float64(a.N%500))
			f.SetOffer("tg", "187", 8+float64(a.N%7), a.N%50)
			f.SetOffer("wa", "187", 12+float64(a.N%5), 40)
			sms = append(sms, f)
		}
	}
	// The latency: on the one call every poll makes once ("poll"), or on every request.
	perPoll := cfg.LatencyOn == "poll"
	if cfg.Latency > 0 {
		if perPoll {
			tel.SetLatency(cfg.Latency, telecomfake.OpImportantData)
		} else {
			tel.SetLatency(cfg.Latency)
		}
		for _, g := range gas {
			g.Set(func(s *gasfake.Switches) {
				s.Latency = cfg.Latency
				if perPoll {
					s.LatencyOn = []string{gasfake.Debt}
				}
			})
		}
		for _, o := range one {
			if perPoll {
				o.SetLatency(cfg.Latency, "/listPeer")
			} else {
				o.SetLatency(cfg.Latency)
			}
		}
	}
	var info hostInfo
	var err error
	var cert *tls.Certificate
	if cfg.CAFile != "" {
		if cert, err = selfSigned(cfg.CAFile); err != nil {
			return err
		}
	}
	info.TelecomKey = tel.PublicKeyPEM()
	if info.TelecomURL, err = serve(tel, cert); err != nil {
		return err
	}
	gr := make(fakeutil.Prefixed, len(gas))
	for i, g := range gas {
		gr[i] = g
	}
	if info.GasURL, err = serve(gr, cert); err != nil {
		return err
	}
	or := make(fakeutil.Prefixed, len(one))
	for i, o := range one {
		or[i] = o
	}
	if info.OneCloudURL, err = serve(or, cert); err != nil {
		return err
	}
	// SMS: the Activate fake has no latency knob; the wrapper delays every request.
	sr := make(fakeutil.Prefixed, len(sms))
	for i, f := range sms {
		sr[i] = f
	}
	smsH := &withLatency{h: sr, d: cfg.Latency}
	if info.SMSURL, err = serve(smsH, cert); err != nil {
		return err
	}

	// The broker is always this process's own: the load must never reach a broker that
	// other programs on the machine use.
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		return err
	}
	defer b.Close()
	info.Upstream = b.URL()
	px := &proxy{upstream: strings.TrimPrefix(info.Upstream, "tcp://"), last: map[string][]byte{}, byKind: map[string]int64{}}
	if info.BrokerURL, err = px.start(); err != nil {
		return err
	}

	stats := func() hostStats {
		var s hostStats
		s.Logins = tel.Logins()
		s.Requests = tel.Logins()
		for _, op := range []string{telecomfake.OpImportantData, telecomfake.OpFluxPackage, telecomfake.OpShareUsage} {
			s.Requests += tel.Queries(op)
		}
		if perPoll {
			s.Delayed += tel.Queries(telecomfake.OpImportantData)
		}
		for _, g := range gas {
			s.Logins += g.Logins()
			for _, ep := range []string{gasfake.OpenDebt, gasfake.Login, gasfake.Debt, gasfake.Payments, gasfake.Monthly, gasfake.Daily, gasfake.Companies} {
				s.Requests += g.Count(ep)
			}
			if perPoll {
				s.Delayed += g.Count(gasfake.Debt)
			}
		}
		for _, o := range one {
			for ep, c := range o.Counts() {
				s.Requests += c
				if ep == "/user/login" {
					s.Logins += c
				}
			}
			if perPoll {
				s.Delayed += o.Count("/listPeer")
			}
		}
		// Every SMS request waits the latency (a poll makes about two).
		n := int(smsH.count.Load())
		s.Requests += n
		if cfg.Latency > 0 {
			s.Delayed += n
		}
		if !perPoll && cfg.Latency > 0 {
			s.Delayed = s.Requests
		}
		px.fill(&s)
		return s
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(stats())
	})
	// Every telecom and gas session ends, as upstream tokens expire: the next poll of each
	// of those accounts must notice and log in again. (OneCloud waits at least 5 minutes
	// between logins, a constant, so its sessions are left alone; SMS keys do not expire.)
	mux.HandleFunc("/expire", func(w http.ResponseWriter, _ *http.Request) {
		tel.ExpireTokens()
		for _, g := range gas {
			g.ExpireTokens()
		}
	})
	if info.StatsURL, err = serve(mux, nil); err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes the pipe or exits
	return nil
}

// proxy forwards MQTT connections to the broker and counts the PUBLISH packets clients
// send (MQTT 3.1.1, as paho speaks it).
type proxy struct {
	upstream string

	mu        sync.Mutex
	messages  int64
	bytes     int64
	byKind    map[string]int64
	changes   int64
	lastPoll  int64
	firstSeen int64
	last      map[string][]byte // state topic → last payload without last_poll
}

func (p *proxy) start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return "tcp://" + ln.Addr().String(), nil
}

func (p *proxy) handle(c net.Conn) {
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	go func() { _, _ = io.Copy(c, up); c.Close() }()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(up, 64<<10)
	defer up.Close()
	for {
		pkt, err := readPacket(r)
		if err != nil {
			return
		}
		if pkt[0]>>4 == 3 {
			p.count(pkt)
		}
		if _, err := w.Write(pkt); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// readPacket reads one whole MQTT control packet.
func readPacket(r *bufio.Reader) ([]byte, error) {
	head := make([]byte, 1, 5)
	b, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	head[0] = b
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return nil, errors.New("bad remaining length")
		}
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		head = append(head, b)
		n += int(b&127) * mult
		mult *= 128
		if b&128 == 0 {
			break
		}
	}
	pkt := make([]byte, len(head)+n)
	copy(pkt, head)
	if _, err := io.ReadFull(r, pkt[len(head):]); err != nil {
		return nil, err
	}
	return pkt, nil
}

var lastPollRe = regexp.MustCompile(`"(last_poll|updated)":"[^"]*",?`)

func (p *proxy) count(pkt []byte) {
	i := 1
	for pkt[i]&128 != 0 {
		i++
	}
	body := pkt[i+1:]
	if len(body) < 2 {
		return
	}
	tl := int(binary.BigEndian.Uint16(body))
	if len(body) < 2+tl {
		return
	}
	topic := string(body[2 : 2+tl])
	payload := body[2+tl:]
	if (pkt[0]>>1)&3 > 0 && len(payload) >= 2 {
		payload = payload[2:] // packet id
	}
	kind := "other"
	switch {
	case strings.Contains(topic, "/device/") && strings.HasSuffix(topic, "/config"):
		kind = "discovery"
	case strings.HasSuffix(topic, "/bridge/info"):
		kind = "info"
	case strings.HasSuffix(topic, "/bridge/state"):
		kind = "bridge"
	case strings.HasSuffix(topic, "/state"):
		kind = "state"
	case strings.HasSuffix(topic, "/availability"):
		kind = "availability"
	case strings.HasSuffix(topic, "/poll"):
		kind = "poll" // the last successful poll time of an account (daemon.PollTopic)
	case strings.HasSuffix(topic, "/summary"):
		kind = "summary" // telecom's legacy ChinaTelecomMonitor /summary JSON
	case strings.HasSuffix(topic, "/alerts") || strings.HasSuffix(topic, "/event"):
		kind = "alerts"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.messages++
	p.bytes += int64(len(pkt))
	p.byKind[kind]++
	if kind == "other" && os.Getenv("LOAD_DEBUG") != "" && p.byKind[kind] <= 3 {
		fmt.Fprintf(os.Stderr, "other %s: %.300s\n", topic, payload)
	}
	if kind != "state" {
		return
	}
	stripped := lastPollRe.ReplaceAll(payload, nil)
	prev, seen := p.last[topic]
	switch {
	case !seen:
		p.firstSeen++
	case string(prev) == string(stripped):
		p.lastPoll++
	default:
		p.changes++
		if os.Getenv("LOAD_DEBUG") != "" && p.changes <= 3 {
			fmt.Fprintf(os.Stderr, "state change %s:\n  was %s\n  now %s\n", topic, prev, stripped)
		}
	}
	p.last[topic] = stripped
}

func (p *proxy) fill(s *hostStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.Messages, s.Bytes = p.messages, p.bytes
	s.ByKind = make(map[string]int64, len(p.byKind))
	for k, v := range p.byKind {
		s.ByKind[k] = v
	}
	s.StateChanges, s.StateLastPoll, s.StateFirstSeen = p.changes, p.lastPoll, p.firstSeen
}
