package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
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
	// Timeout bounds the dial, the handshake and each command.
	Timeout time.Duration
	// AllowInsecureAuth lets credentials go over a connection without TLS.
	// Only for a local catcher.
	AllowInsecureAuth bool
	// TLSConfig overrides the TLS settings (a private CA in tests); nil
	// verifies Host against the system roots.
	TLSConfig *tls.Config
	// MaxIdle is how many open connections are kept for reuse; 0 means 4.
	MaxIdle int
	// IdleTimeout closes a kept connection unused for that long, before the
	// server does; 0 means 30s.
	IdleTimeout time.Duration
}

// SMTP sends through an SMTP server. It keeps up to MaxIdle authenticated
// connections open between sends, so a summary for 1,000 vendors costs a few
// TLS handshakes and logins, not 1,000. Safe for concurrent use: each send
// has a connection to itself.
type SMTP struct {
	client      *gomail.Client // settings only; connections live in idle
	maxIdle     int
	idleTimeout time.Duration

	mu   sync.Mutex
	idle []idleConn
}

type idleConn struct {
	c     *gosmtp.Client
	since time.Time
}

// NewSMTP checks cfg and returns an SMTP sender. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("SMTP host is required")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(timeout)}
	if cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(cfg.TLSConfig))
	}
	auth := gomail.SMTPAuthAutoDiscover
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
		auth = gomail.SMTPAuthPlainNoEnc
	default:
		return nil, fmt.Errorf("SMTP_TLS must be starttls, tls or none, got %q", cfg.TLS)
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP settings: %w", err)
	}
	s := &SMTP{client: client, maxIdle: cfg.MaxIdle, idleTimeout: cfg.IdleTimeout}
	if s.maxIdle <= 0 {
		s.maxIdle = 4
	}
	if s.idleTimeout <= 0 {
		s.idleTimeout = 30 * time.Second
	}
	return s, nil
}

// Send delivers m, on a kept connection when there is one. A kept connection
// the server has closed meanwhile is replaced once, transparently.
//
// Classification: a 5xx answer to RCPT TO or to the message data is
// permanent (no such mailbox, message refused for this recipient); anything
// else — refused connection, timeout, TLS or AUTH failure, 4xx, 5xx to MAIL
// FROM (our own sender or settings, the same for every vendor) — is
// transient, so nothing is dropped for a fault that is not the recipient's.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	for attempt := 0; ; attempt++ {
		conn, reused, err := s.conn(ctx)
		if err != nil {
			return fmt.Errorf("connecting to SMTP server: %w", err)
		}
		err = s.client.SendWithSMTPClient(conn, msg)
		if err == nil {
			s.put(conn)
			return nil
		}
		if msg.IsDelivered() {
			// The server accepted the message; only the RSET after it
			// failed. Reporting that as a failure would send it again.
			s.discard(conn)
			return nil
		}
		var se *gomail.SendError
		isSendErr := errors.As(err, &se)
		if reused && attempt == 0 && isSendErr && se.Reason == gomail.ErrConnCheck {
			// The kept connection went stale (server idle timeout): the
			// message was not started, so a fresh connection is safe.
			s.discard(conn)
			continue
		}
		if isSendErr && se.ErrorCode() >= 400 && se.Reason != gomail.ErrSMTPReset {
			// The server answered and go-mail reset the session: reusable.
			s.put(conn)
		} else {
			s.discard(conn)
		}
		if isSendErr && isPermanent(se) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return fmt.Errorf("sending through SMTP: %w", err)
	}
}

func isPermanent(se *gomail.SendError) bool {
	code := se.ErrorCode()
	if code < 500 || code > 599 {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return true
	}
	return false
}

// conn returns a kept connection or dials a new one.
func (s *SMTP) conn(ctx context.Context) (c *gosmtp.Client, reused bool, err error) {
	now := time.Now()
	s.mu.Lock()
	for len(s.idle) > 0 {
		ic := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if now.Sub(ic.since) < s.idleTimeout {
			s.mu.Unlock()
			return ic.c, true, nil
		}
		go s.discard(ic.c)
	}
	s.mu.Unlock()
	c, err = s.client.DialToSMTPClientWithContext(ctx)
	return c, false, err
}

// put keeps c for the next send, or closes it when enough are kept.
func (s *SMTP) put(c *gosmtp.Client) {
	s.mu.Lock()
	if len(s.idle) < s.maxIdle {
		s.idle = append(s.idle, idleConn{c: c, since: time.Now()})
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.discard(c)
}

// discard closes c, politely when it still works.
func (s *SMTP) discard(c *gosmtp.Client) {
	if err := s.client.CloseWithSMTPClient(c); err != nil {
		_ = c.Close()
	}
}

// Close closes the kept connections.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, ic := range idle {
		s.discard(ic.c)
	}
	return nil
}

// build turns m into a go-mail message. go-mail encodes every header value
// (RFC 2047) and parses each address as exactly one, so nothing in m can add
// a header or a recipient; check refuses what should never get this far.
func (s *SMTP) build(m Message) (*gomail.Msg, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
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
