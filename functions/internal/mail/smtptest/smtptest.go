// Package smtptest is a real SMTP server on loopback that keeps what it
// receives: the mail catcher of tests and of the local dev runner. It can
// refuse connections for a while, answer MAIL FROM, a chosen recipient's
// RCPT TO or the end of its data with a chosen reply (550 no such user, 451
// try later, 552 5.3.4 message too big), speak STARTTLS or implicit TLS,
// require AUTH PLAIN (a wrong password gets 535 5.7.8), and drop idle
// connections as real servers do.
package smtptest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted email: its envelope and its raw data.
type Message struct {
	From string
	To   []string
	Data []byte
	// User is the name the client authenticated as, "" without AUTH.
	User string
	// TLS reports whether the message came over TLS.
	TLS bool
}

// Options shape the server. The zero value is a plain catcher on loopback.
type Options struct {
	// TLSConfig enables TLS: STARTTLS, or from the first byte with
	// ImplicitTLS.
	TLSConfig   *tls.Config
	ImplicitTLS bool
	// Username and Password, when set, are required (AUTH PLAIN) before
	// MAIL FROM.
	Username, Password string
	// IdleTimeout, when set, closes a connection on which the client sent
	// nothing for that long, as real servers do (Postfix: 300s; many
	// providers: far less). It applies to every read, the data included.
	IdleTimeout time.Duration
	// OnMessage, when set, is called with each accepted message (the dev
	// runner saves .eml files with it). It must not block for long.
	OnMessage func(Message)
}

// Server is a running SMTP server.
type Server struct {
	opts Options
	addr string

	mu          sync.Mutex
	srv         *smtp.Server
	ln          net.Listener
	served      chan struct{}
	msgs        []Message
	mailReply   Reply
	allReply    Reply
	rcptReplies map[string]Reply
	dataReplies map[string]Reply
	connections int
	open        int
}

// Reply is an SMTP reply the server gives instead of accepting a command.
// The zero Reply means "accept".
type Reply struct {
	Code int // 4xx or 5xx (RFC 5321 §4.2)
	// Enhanced is the RFC 3463 status code; zero derives one from Code
	// (5.0.0, 4.0.0).
	Enhanced smtp.EnhancedCode
	Message  string // "" for a generic text
}

func (r Reply) err() error {
	if r.Code == 0 {
		return nil
	}
	msg := r.Message
	if msg == "" {
		msg = "Refused by the test server"
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: r.Enhanced, Message: msg}
}

// New starts a server on addr ("127.0.0.1:0" picks a free port).
func New(addr string) (*Server, error) { return NewWithOptions(addr, Options{}) }

// NewWithOptions starts a server on addr with opts.
func NewWithOptions(addr string, opts Options) (*Server, error) {
	s := &Server{opts: opts, rcptReplies: map[string]Reply{}, dataReplies: map[string]Reply{}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtptest: listening on %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// Start starts a server on a free loopback port, closed when the test ends.
func Start(t testing.TB) *Server { return StartWithOptions(t, Options{}) }

// StartWithOptions is Start with opts.
func StartWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := NewWithOptions("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Host and Port split Addr.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.addr); return h }

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

// Messages returns a copy of the accepted messages, in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Connections is how many connections the server has accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// Open is how many connections are open now: accepted and not yet closed
// by either side.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// RcptError makes the server answer RCPT TO:<rcpt> with code (550 5.1.1
// no such user, 451 4.3.0 try again later); 0 accepts rcpt again.
func (s *Server) RcptError(rcpt string, code int) {
	switch {
	case code >= 500:
		s.FailRcpt(rcpt, Reply{Code: code, Enhanced: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"})
	case code >= 400:
		s.FailRcpt(rcpt, Reply{Code: code, Enhanced: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"})
	default:
		s.FailRcpt(rcpt, Reply{})
	}
}

// FailRcpt makes the server answer RCPT TO:<rcpt> with r; the zero Reply
// accepts rcpt again.
func (s *Server) FailRcpt(rcpt string, r Reply) { s.setReply(s.rcptReplies, rcpt, r) }

// FailData makes the server answer the end of the data of a message to
// rcpt with r, refusing the message; the zero Reply accepts again.
func (s *Server) FailData(rcpt string, r Reply) { s.setReply(s.dataReplies, rcpt, r) }

// FailMail makes the server answer every MAIL FROM with r; the zero Reply
// accepts again.
func (s *Server) FailMail(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailReply = r
}

// FailAll makes the server answer MAIL FROM, every RCPT TO and the end of
// every message's data with r (421 4.3.2: a server going down), so that no
// message is accepted; the zero Reply accepts again.
func (s *Server) FailAll(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allReply = r
}

func (s *Server) setReply(m map[string]Reply, rcpt string, r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Code == 0 {
		delete(m, rcpt)
	} else {
		m[rcpt] = r
	}
}

// Refuse closes the listener and every open connection: a client now gets
// "connection refused" until Resume.
func (s *Server) Refuse() error {
	s.mu.Lock()
	srv, ln, served := s.srv, s.ln, s.served
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	// Closing the listener ourselves covers a Serve that has not started
	// yet; Close then drops the open connections.
	err := ln.Close()
	_ = srv.Close() // "use of closed network connection" from the listener
	<-served
	return err
}

// Resume listens again on the same address after Refuse.
func (s *Server) Resume() error {
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtptest: listening again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// Close stops the server.
func (s *Server) Close() error { return s.Refuse() }

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	if s.opts.IdleTimeout > 0 {
		srv.ReadTimeout = s.opts.IdleTimeout
	}
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = s.opts.TLSConfig == nil
	srv.ErrorLog = discardLogger{}
	if s.opts.TLSConfig != nil {
		if s.opts.ImplicitTLS {
			ln = tls.NewListener(ln, s.opts.TLSConfig)
		} else {
			srv.TLSConfig = s.opts.TLSConfig
		}
	}
	served := make(chan struct{})
	s.mu.Lock()
	s.srv, s.ln, s.served = srv, ln, served
	s.mu.Unlock()
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.connections++
	s.open++
	s.mu.Unlock()
	sess := &session{srv: s, conn: c}
	if s.opts.Username != "" {
		return &authSession{sess}, nil
	}
	return sess, nil
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.Username != "" && ss.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	ss.srv.mu.Lock()
	r, all := ss.srv.mailReply, ss.srv.allReply
	ss.srv.mu.Unlock()
	if err := all.err(); err != nil {
		return err
	}
	if err := r.err(); err != nil {
		return err
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.srv.mu.Lock()
	r := ss.srv.rcptReplies[to]
	if ss.srv.allReply.Code != 0 {
		r = ss.srv.allReply
	}
	ss.srv.mu.Unlock()
	if err := r.err(); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, User: ss.user, TLS: isTLS}
	// Refused or kept under one lock: a FailAll never lets half a message in.
	ss.srv.mu.Lock()
	refused := ss.srv.allReply.err()
	for _, rcpt := range ss.to {
		if refused != nil {
			break
		}
		refused = ss.srv.dataReplies[rcpt].err()
	}
	if refused == nil {
		ss.srv.msgs = append(ss.srv.msgs, m)
	}
	ss.srv.mu.Unlock()
	if refused != nil {
		return refused
	}
	if ss.srv.opts.OnMessage != nil {
		ss.srv.opts.OnMessage(m)
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }
func (ss *session) Logout() error {
	ss.srv.mu.Lock()
	ss.srv.open--
	ss.srv.mu.Unlock()
	return nil
}

type authSession struct{ *session }

func (as *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (as *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != as.srv.opts.Username || password != as.srv.opts.Password {
			return smtp.ErrAuthFailed
		}
		as.user = username
		return nil
	}), nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
