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

// Sender delivers one email. A nil error means the provider accepted it.
// Otherwise the error says whose fault it is, and so what the caller does:
//
//   - IsPermanent(err): the recipient was refused (no such mailbox). Only
//     this email can never succeed; record it as failed.
//   - IsConfigError(err): our settings, our request or the provider's
//     account or service failed, the same for every recipient (an invalid
//     MAIL_FROM, SMTP AUTH or TLS refused, a 5xx to MAIL FROM, SendGrid
//     401/403/413/429/5xx). Transient for the email: retry it later, and
//     tell an operator (log at error level), because retrying alone may
//     never fix it.
//   - anything else: transient (connection refused, timeout, a 4xx);
//     retry later.
//
// An error is never both permanent and a configuration error.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a refusal of the recipient: retrying the same email
// cannot succeed. SMTP: a 5xx reply to RCPT TO (RFC 5321 §4.2.2 and
// §4.2.3: 550 mailbox unavailable, 551 user not local, 553 mailbox name
// not allowed), or a 5xx to DATA or to the end of the data (RFC 5321
// §4.3.2; 550, 552, 554), which for our one-recipient messages is a refusal
// of this message to this recipient, unless its enhanced status code
// (RFC 3463) blames the sender or the message itself. SendGrid: a 400
// whose errors all name the recipient field (personalizations.N.to.N.email).
var ErrPermanent = errors.New("recipient refused")

// ErrConfig marks a failure that is ours or the provider's, not the
// recipient's: it hits every email alike until someone fixes settings or
// the provider recovers. Such an error is transient (never ErrPermanent):
// the email is tried again, and the caller logs it at error level.
var ErrConfig = errors.New("mail configuration or provider error")

// IsPermanent reports whether err is a refusal of the recipient.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// IsConfigError reports whether err is ours or the provider's (settings,
// credentials, TLS, sender, request, provider limits or outage): transient,
// but worth an operator's attention.
func IsConfigError(err error) bool { return errors.Is(err, ErrConfig) }

// classified wraps err as class (ErrPermanent or ErrConfig) while keeping
// err's own message and chain.
type classified struct {
	class error
	err   error
}

func (c *classified) Error() string   { return c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.class, c.err} }

func permanent(err error) error { return &classified{class: ErrPermanent, err: err} }
func config(err error) error    { return &classified{class: ErrConfig, err: err} }

// check refuses a message whose fields could smuggle a header or a
// recipient: addresses must be single bare addresses, and no header value
// may contain a control character. Package events validates vendor
// addresses already; this is the last line, in front of every backend.
// A bad To is the recipient's (permanent); anything else is ours, the same
// for every vendor (a configuration error).
func (m Message) check() error {
	if !bareAddress(m.From) {
		return config(errors.New("from must be a single bare address (check MAIL_FROM)"))
	}
	if !bareAddress(m.To) {
		return permanent(errors.New("to must be a single bare address"))
	}
	for _, h := range []struct{ name, value string }{{"from name", m.FromName}, {"subject", m.Subject}, {"message id", m.MessageID}} {
		if hasControl(h.value) {
			return config(fmt.Errorf("%s must not contain control characters", h.name))
		}
	}
	if m.MessageID == "" || strings.ContainsAny(m.MessageID, "<> \t") || strings.Count(m.MessageID, "@") != 1 {
		return config(errors.New("message id must look like local@domain, without angle brackets"))
	}
	return nil
}

func bareAddress(a string) bool {
	parsed, err := netmail.ParseAddress(a)
	return err == nil && parsed.Name == "" && parsed.Address == a && !hasControl(a)
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' })
}
