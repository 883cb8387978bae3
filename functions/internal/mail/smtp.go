package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"syscall"
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
	timeout     time.Duration
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
	// WithoutNoop: Send checks kept connections itself (conn), and a new
	// one needs no check.
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(timeout), gomail.WithoutNoop()}
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
	s := &SMTP{client: client, timeout: timeout, maxIdle: cfg.MaxIdle, idleTimeout: cfg.IdleTimeout}
	if s.maxIdle <= 0 {
		s.maxIdle = 4
	}
	if s.idleTimeout <= 0 {
		s.idleTimeout = 30 * time.Second
	}
	return s, nil
}

// Send delivers m, on a kept connection when one still works: each kept
// connection is checked with RSET (which also clears what a refused
// transaction left) before it is used, and one that fails the check — the
// server closed it while idle, or its deadline passed — is closed and the
// next one tried, then a new one dialled. A stale connection is never an
// error to the caller.
//
// The error's class follows Sender; the SMTP rules are in classifySend and
// classifyDial.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	fresh := false
	for {
		conn, reused, err := s.conn(ctx, fresh)
		if err != nil {
			return classifyDial(err)
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
		if reused && isSendErr && brokeBeforeTransaction(se) {
			// The kept connection passed its check and died before MAIL
			// FROM was answered: nothing was sent, a new one is safe.
			s.drop(conn)
			fresh = true
			continue
		}
		if isSendErr && se.ErrorCode() >= 400 && se.Reason != gomail.ErrSMTPReset {
			// The server answered: the connection still works (the next
			// use checks it with RSET).
			s.put(conn)
		} else {
			s.discard(conn)
		}
		return classifySend(redact(err, m.To), se)
	}
}

// redacted is an error whose message hides the recipient's address: go-mail
// lists the affected recipients, and servers often quote the address in
// their reply ("550 <x@y>: Recipient address rejected"). Logs never carry
// full addresses.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

func redact(err error, addr string) error {
	msg := err.Error()
	if addr == "" || !strings.Contains(strings.ToLower(msg), strings.ToLower(addr)) {
		return err
	}
	re := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(addr))
	return &redacted{msg: re.ReplaceAllString(msg, "recipient"), err: err}
}

// brokeBeforeTransaction reports whether the connection failed at or before
// MAIL FROM — no answer, or 421 "closing transmission channel" (RFC 5321
// §3.8, the reply of a server dropping an idle connection) — so no part of
// the message went out.
func brokeBeforeTransaction(se *gomail.SendError) bool {
	if se.Reason == gomail.ErrConnCheck {
		return true
	}
	return se.Reason == gomail.ErrSMTPMailFrom && (se.ErrorCode() == 0 || se.ErrorCode() == 421)
}

// classifySend classifies a failed transaction (see Sender). err is what
// go-mail returned; se is err as a *gomail.SendError, or nil.
//
//   - MAIL FROM: a 5xx (RFC 5321 §4.2.2: 550, 553 sender refused; RFC 4954
//     §6: 530 authentication required) refuses our sender, the same for
//     every vendor: a configuration error. A 4xx is transient.
//   - RCPT TO: see rcptClass.
//   - DATA and the end of the data: see dataClass.
//   - no reply at all (connection lost, timeout): transient.
func classifySend(err error, se *gomail.SendError) error {
	err = fmt.Errorf("sending through SMTP: %w", err)
	if se == nil {
		return err
	}
	code, enh := se.ErrorCode(), se.EnhancedStatusCode()
	switch se.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		return config(err) // our message as built
	case gomail.ErrSMTPMailFrom:
		if code >= 500 {
			return config(err)
		}
	case gomail.ErrSMTPRcptTo:
		return rcptClass(code, enh)(err)
	case gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return dataClass(code, enh)(err)
	}
	return err
}

func transient(err error) error { return err }

// rcptClass classifies a reply to RCPT TO. A 5xx refuses the recipient
// (RFC 5321 §4.2.2, §4.2.3: 550 mailbox unavailable, 551 user not local,
// 553 mailbox name not allowed, 554; 501 a syntax error in the address;
// RFC 7504: 556 domain does not accept mail), except:
//   - 552, which RFC 5321 §4.5.3.1.10 says to treat as temporary at RCPT
//     (too many recipients);
//   - 530, 535, 538 (RFC 4954 §6: authentication required, credentials
//     invalid, encryption required) and 500, 502, 503, 504 (our client's
//     command: unrecognised, not implemented, bad sequence), which are ours;
//   - an enhanced status code (RFC 3463) that blames the sender or the
//     message rather than the recipient (senderOrMessage).
func rcptClass(code int, enhanced string) func(error) error {
	switch {
	case code < 500, code == 552:
		return transient
	case code == 530, code == 535, code == 538, code == 500, code == 502, code == 503, code == 504:
		return config
	case senderOrMessage(enhanced):
		return config
	}
	return permanent
}

// dataClass classifies a 5xx to DATA or to the end of the data. Our
// messages have one recipient, so a refusal of the message (RFC 5321
// §4.2.3: 550 mailbox unavailable or rejected for policy reasons, 552
// storage allocation exceeded, 554 transaction failed) is a refusal of this
// message to this recipient: permanent. Ours instead, a configuration
// error: a protocol reply (500-504, RFC 5321 §4.2.2), an authentication
// reply (530, 535, 538, RFC 4954 §6), and any enhanced status code that
// blames the sender or the message (senderOrMessage), such as 5.3.4
// message too big or 5.7.26 DMARC: those hit every vendor alike.
func dataClass(code int, enhanced string) func(error) error {
	switch {
	case code < 500:
		return transient
	case code <= 504, code == 530, code == 535, code == 538:
		return config
	case senderOrMessage(enhanced):
		return config
	}
	return permanent
}

// senderOrMessage reports whether an RFC 3463 enhanced status code (with
// the RFC 7372 and IANA registry additions) blames the sender or the
// message, not the recipient:
//   - X.1.7, X.1.8: bad sender mailbox or system address;
//   - X.2.3: message longer than the mailbox's administrative limit;
//   - X.3.4: message too big for the system;
//   - X.5.*: protocol status (our client's commands);
//   - X.6.*: message content or media (our encoding);
//   - X.7.8, X.7.9, X.7.11: authentication invalid, too weak, encryption
//     required; X.7.20-X.7.27: DKIM, SPF, reverse DNS, DMARC or null-MX
//     checks of the sender; X.7.30: REQUIRETLS.
func senderOrMessage(enhanced string) bool {
	parts := strings.Split(enhanced, ".")
	if len(parts) != 3 {
		return false
	}
	subject, detail := parts[1], parts[2]
	switch subject {
	case "1":
		return detail == "7" || detail == "8"
	case "2":
		return detail == "3"
	case "3":
		return detail == "4"
	case "5", "6":
		return true
	case "7":
		switch detail {
		case "8", "9", "11", "20", "21", "22", "23", "24", "25", "26", "27", "30":
			return true
		}
	}
	return false
}

// classifyDial classifies a failure to open a working connection: dial,
// greeting, EHLO, TLS, AUTH. A lost or refused connection, a timeout or a
// 4xx (421 service not available, RFC 5321 §4.2.3; 454 temporary
// authentication failure, RFC 4954 §6) is transient. Everything else is a
// configuration error: a certificate that does not verify, a server that
// does not speak the TLS mode set (SMTP_TLS, SMTP_PORT), no STARTTLS or
// AUTH offered, and a 5xx such as 535 authentication credentials invalid
// (RFC 4954 §6).
func classifyDial(err error) error {
	werr := fmt.Errorf("connecting to SMTP server: %w", err)
	var (
		reply   *textproto.Error
		netErr  net.Error
		verify  *tls.CertificateVerificationError
		alert   tls.AlertError
		header  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &reply):
		if reply.Code >= 500 {
			return config(werr)
		}
		return werr
	case errors.As(err, &verify), errors.As(err, &alert), errors.As(err, &header),
		errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return config(werr)
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return werr
	}
	// go-mail's own refusals: the server offers no STARTTLS or no AUTH
	// mechanism we may use.
	return config(werr)
}

// conn returns a kept connection that passed a check, or dials a new one
// (always when fresh).
func (s *SMTP) conn(ctx context.Context, fresh bool) (c *gosmtp.Client, reused bool, err error) {
	for !fresh {
		ic, ok := s.take()
		if !ok {
			break
		}
		if time.Since(ic.since) >= s.idleTimeout {
			go s.discard(ic.c)
			continue
		}
		// A kept connection's deadline is from its last use: renew it
		// first, or the check fails on a connection that works.
		if ic.c.UpdateDeadline(s.timeout) == nil && ic.c.Reset() == nil {
			return ic.c, true, nil
		}
		s.drop(ic.c)
	}
	c, err = s.client.DialToSMTPClientWithContext(ctx)
	return c, false, err
}

// take pops the most recently kept connection.
func (s *SMTP) take() (idleConn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) == 0 {
		return idleConn{}, false
	}
	ic := s.idle[len(s.idle)-1]
	s.idle = s.idle[:len(s.idle)-1]
	return ic, true
}

// drop closes a connection known to be broken, without a QUIT that could
// only wait for a timeout.
func (s *SMTP) drop(c *gosmtp.Client) { _ = c.Close() }

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
		return nil, config(fmt.Errorf("from address: %w", err))
	}
	if err := msg.To(m.To); err != nil {
		return nil, permanent(fmt.Errorf("to address: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(m.Date)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}
