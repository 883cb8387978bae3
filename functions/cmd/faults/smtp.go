package main

import (
	"bytes"
	"net/mail"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// mailbox is the SMTP server of the tests and of the dev stack's catcher
// (smtptest) on a loopback port, keeping when each email was accepted; it
// can go down and come back on the same port.
type mailbox struct {
	srv *smtptest.Server

	mu       sync.Mutex
	received []email
}

// email is one accepted message for one recipient.
type email struct {
	To, MessageID, Subject string
	At                     time.Time
}

// newMailbox starts a mailbox on a free loopback port.
func newMailbox() (*mailbox, error) {
	m := &mailbox{}
	srv, err := smtptest.NewWithOptions("127.0.0.1:0", smtptest.Options{OnMessage: m.accepted})
	if err != nil {
		return nil, err
	}
	m.srv = srv
	return m, nil
}

func (m *mailbox) accepted(msg smtptest.Message) {
	at := time.Now()
	var id, subject string
	if parsed, err := mail.ReadMessage(bytes.NewReader(msg.Data)); err == nil {
		id, subject = parsed.Header.Get("Message-Id"), parsed.Header.Get("Subject")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, to := range msg.To {
		m.received = append(m.received, email{To: to, MessageID: id, Subject: subject, At: at})
	}
}

// port is the mailbox's port.
func (m *mailbox) port() string { return strconv.Itoa(m.srv.Port()) }

// down takes the server away: commands get "421 service not available"
// for a moment, so that no message in flight is half accepted, then every
// connection is closed and new ones are refused.
func (m *mailbox) down() {
	m.srv.FailAll(smtptest.Reply{Code: 421, Enhanced: smtp.EnhancedCode{4, 3, 2}, Message: "service not available"})
	time.Sleep(200 * time.Millisecond)
	_ = m.srv.Refuse()
}

// up serves again on the same port.
func (m *mailbox) up() error {
	if err := m.srv.Resume(); err != nil {
		return err
	}
	m.srv.FailAll(smtptest.Reply{})
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
