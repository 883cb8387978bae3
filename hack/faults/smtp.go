package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// mailbox is an SMTP server on a fixed loopback port that keeps every email
// it accepts, and can go down and come back on the same port.
type mailbox struct {
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	stopping bool
	received []email
}

// email is one accepted message for one recipient.
type email struct {
	To, MessageID, Subject string
	At                     time.Time
}

// newMailbox starts a mailbox on a free loopback port.
func newMailbox() (*mailbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &mailbox{addr: ln.Addr().String()}
	m.serve(ln)
	return m, nil
}

// port is the mailbox's port.
func (m *mailbox) port() string {
	_, port, _ := net.SplitHostPort(m.addr)
	return port
}

func (m *mailbox) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{box: m}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 1 << 20
	m.mu.Lock()
	m.srv, m.stopping = srv, false
	m.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down takes the server away: commands get "421 service not available"
// for a moment, so that no message in flight is half accepted, then every
// connection is closed and new ones are refused.
func (m *mailbox) down() {
	m.mu.Lock()
	srv := m.srv
	m.stopping = true
	m.mu.Unlock()
	if srv == nil {
		return
	}
	time.Sleep(200 * time.Millisecond)
	_ = srv.Close()
	m.mu.Lock()
	m.srv = nil
	m.mu.Unlock()
}

// up serves again on the same port.
func (m *mailbox) up() error {
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return fmt.Errorf("mailbox back on %s: %w", m.addr, err)
	}
	m.serve(ln)
	return nil
}

// emails returns what was accepted so far.
func (m *mailbox) emails() []email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]email(nil), m.received...)
}

// recipients is how many distinct recipients got mail so far.
func (m *mailbox) recipients() int {
	seen := map[string]bool{}
	for _, e := range m.emails() {
		seen[e.To] = true
	}
	return len(seen)
}

var errUnavailable = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service not available"}

type mailSession struct {
	box  *mailbox
	rcpt []string
}

func (s *mailSession) refused() bool {
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	return s.box.stopping
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	if s.refused() {
		return errUnavailable
	}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.refused() {
		return errUnavailable
	}
	s.rcpt = append(s.rcpt, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return errors.New("unreadable message")
	}
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	if s.box.stopping {
		return errUnavailable
	}
	for _, to := range s.rcpt {
		s.box.received = append(s.box.received, email{
			To: to, MessageID: msg.Header.Get("Message-Id"), Subject: msg.Header.Get("Subject"), At: time.Now(),
		})
	}
	return nil
}

func (s *mailSession) Reset()        { s.rcpt = nil }
func (s *mailSession) Logout() error { return nil }
