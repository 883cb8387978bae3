// Package mail delivers emails through a configured backend (SMTP or
// SendGrid) and classifies failures into those worth retrying and those
// that are not.
package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
)

// Message is one email, ready to send. Addresses are bare (validated by
// package events); headers are built by the backend's library, never by
// string concatenation.
type Message struct {
	FromName  string
	From      string
	To        string
	Subject   string
	Text      string
	HTML      string
	MessageID string // without angle brackets
	Date      time.Time
}

// Sender delivers one email. An error wrapping ErrPermanent means retrying
// the same email cannot succeed (no such mailbox); any other error is
// transient.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a failure that retrying will not fix.
var ErrPermanent = errors.New("permanent delivery failure")

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// check refuses a message whose fields could smuggle a header or a
// recipient: addresses must be single bare addresses, and no header value
// may contain a control character. Package events validates vendor
// addresses already; this is the last line, in front of every backend.
func (m Message) check() error {
	for _, a := range []struct{ name, addr string }{{"from", m.From}, {"to", m.To}} {
		parsed, err := netmail.ParseAddress(a.addr)
		if err != nil || parsed.Name != "" || parsed.Address != a.addr || hasControl(a.addr) {
			return fmt.Errorf("%s must be a single bare address", a.name)
		}
	}
	for _, h := range []struct{ name, value string }{{"from name", m.FromName}, {"subject", m.Subject}, {"message id", m.MessageID}} {
		if hasControl(h.value) {
			return fmt.Errorf("%s must not contain control characters", h.name)
		}
	}
	if m.MessageID == "" || strings.ContainsAny(m.MessageID, "<> \t") || strings.Count(m.MessageID, "@") != 1 {
		return errors.New("message id must look like local@domain, without angle brackets")
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' })
}
