// Package alerttest has test doubles for alert outputs: an in-process SMTP server.
package alerttest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// SMTPServer is a minimal in-process SMTP server (no TLS, no auth) that records every
// message it accepts.
type SMTPServer struct {
	Addr string
	Host string
	Port string

	mu   sync.Mutex
	msgs []string
	got  chan struct{}
}

// StartSMTP listens on a free loopback port until the test ends.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &SMTPServer{Addr: ln.Addr().String(), got: make(chan struct{}, 100)}
	s.Host, s.Port, _ = net.SplitHostPort(s.Addr)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *SMTPServer) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) { io.WriteString(conn, line+"\r\n") }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case cmd == "DATA":
			say("354 go ahead")
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				body.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, body.String())
			s.mu.Unlock()
			say("250 queued")
			s.got <- struct{}{}
		case cmd == "QUIT":
			say("221 bye")
			return
		default: // EHLO, MAIL FROM, RCPT TO, RSET, NOOP
			say("250 ok")
		}
	}
}

// Messages returns every message received so far.
func (s *SMTPServer) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// Received is signalled once per accepted message.
func (s *SMTPServer) Received() <-chan struct{} { return s.got }
