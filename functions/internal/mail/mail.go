// Package mail delivers emails through a configured backend (SMTP or
// SendGrid) and classifies failures into those worth retrying and those
// that are not.
package mail

import (
	"context"
	"errors"
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
