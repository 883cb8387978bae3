package mail

import (
	"context"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of an SMTP connection.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS; required
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // a local catcher only
)

// SMTPConfig is how to reach an SMTP server.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      string
	Timeout  time.Duration
	// AllowInsecureAuth lets credentials go over a connection without TLS.
	// Only for a local catcher.
	AllowInsecureAuth bool
}

// SMTP sends through an SMTP server.
type SMTP struct {
	opts []gomail.Option
	host string
}

// NewSMTP checks cfg and returns an SMTP sender.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout)}
	switch cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		if cfg.Username != "" && !cfg.AllowInsecureAuth {
			return nil, errors.New("SMTP_TLS=none with SMTP_USERNAME set would send the password in clear; use starttls or tls, or set SMTP_ALLOW_INSECURE_AUTH=true for a local catcher")
		}
	default:
		return nil, fmt.Errorf("SMTP_TLS must be starttls, tls or none, got %q", cfg.TLS)
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	if _, err := gomail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("SMTP settings: %w", err)
	}
	return &SMTP{opts: opts, host: cfg.Host}, nil
}

// Send delivers m over its own connection. A 5xx answer to the recipient or
// the data is permanent; anything else (refused connection, timeout, 4xx) is
// transient.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("SMTP client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && isRecipientOrData(se) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return fmt.Errorf("sending through SMTP: %w", err)
	}
	return nil
}

func isRecipientOrData(se *gomail.SendError) bool {
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return true
	}
	return false
}

func (s *SMTP) build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.FromFormat(m.FromName, m.From); err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("to address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(m.Date)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}
