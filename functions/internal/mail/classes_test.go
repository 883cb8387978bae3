package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// class is how a failed send is classified (see Sender).
type class string

const (
	sent      class = "sent"
	temporary class = "temporary"
	configErr class = "config"
	refused   class = "permanent"
	both      class = "permanent and config" // never right
)

func classOf(err error) class {
	switch {
	case err == nil:
		return sent
	case IsPermanent(err) && IsConfigError(err):
		return both
	case IsPermanent(err):
		return refused
	case IsConfigError(err):
		return configErr
	}
	return temporary
}

// TestSMTPFailureClasses drives a real SMTP server to each refusal and
// checks whose fault Send says it is: only a refusal of the recipient is
// permanent; what is ours is a configuration error; the rest is temporary.
func TestSMTPFailureClasses(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	const rcpt = "vendor@example.com"
	tests := []struct {
		name    string
		server  smtptest.Options       // how the server listens
		setup   func(*smtptest.Server) // how it misbehaves
		client  func(*SMTPConfig)      // our settings
		message func(*Message)         // our message
		want    class                  // the classification
		wantMsg int                    // messages the server accepted
	}{
		{name: "accepted", want: sent, wantMsg: 1},
		// RCPT TO (RFC 5321 §4.2.2, §4.5.3.1.10).
		{name: "rcpt 550 5.1.1 no such user", setup: failRcpt(550, 5, 1, 1), want: refused},
		{name: "rcpt 553 mailbox name not allowed", setup: failRcpt(553, 5, 1, 3), want: refused},
		{name: "rcpt 554 5.7.1 refused", setup: failRcpt(554, 5, 7, 1), want: refused},
		{name: "rcpt 451 try later", setup: failRcpt(451, 4, 3, 0), want: temporary},
		{name: "rcpt 450 greylisted", setup: failRcpt(450, 4, 7, 1), want: temporary},
		{name: "rcpt 552 too many recipients is temporary", setup: failRcpt(552, 5, 5, 3), want: temporary},
		{name: "rcpt 530 authentication required", setup: failRcpt(530, 5, 7, 0), want: configErr},
		{name: "rcpt 503 bad sequence", setup: failRcpt(503, 5, 5, 1), want: configErr},
		{name: "rcpt 550 5.1.8 bad sender domain", setup: failRcpt(550, 5, 1, 8), want: configErr},
		// End of data: one recipient, so a refusal is about it, unless the
		// enhanced code blames the sender or the message.
		{name: "data 554 5.7.1 message refused", setup: failData(554, 5, 7, 1), want: refused},
		{name: "data 552 5.2.2 mailbox full", setup: failData(552, 5, 2, 2), want: refused},
		{name: "data 550 5.0.0 generic", setup: failData(550, 5, 0, 0), want: refused},
		{name: "data 552 5.3.4 message too big", setup: failData(552, 5, 3, 4), want: configErr},
		{name: "data 550 5.7.26 DMARC", setup: failData(550, 5, 7, 26), want: configErr},
		{name: "data 550 5.7.23 SPF", setup: failData(550, 5, 7, 23), want: configErr},
		{name: "data 554 5.6.0 bad content", setup: failData(554, 5, 6, 0), want: configErr},
		{name: "data 451 local error", setup: failData(451, 4, 3, 0), want: temporary},
		// MAIL FROM: our sender, the same for every vendor.
		{name: "mail from 550 5.1.8 sender refused", setup: failMail(550, 5, 1, 8), want: configErr},
		{name: "mail from 553 5.7.1 not owned by user", setup: failMail(553, 5, 7, 1), want: configErr},
		{name: "mail from 421 shutting down", setup: failMail(421, 4, 3, 2), want: temporary},
		{name: "mail from 530 without credentials", server: smtptest.Options{Username: "u", Password: "p"}, want: configErr},
		// Connection set-up.
		{name: "connection refused", setup: func(s *smtptest.Server) { s.Refuse() }, want: temporary},
		{name: "auth 535 wrong password", server: smtptest.Options{Username: "u", Password: "right"},
			client: func(c *SMTPConfig) { c.Username, c.Password, c.AllowInsecureAuth = "u", "wrong", true }, want: configErr},
		{name: "starttls required, not offered", client: func(c *SMTPConfig) { c.TLS = TLSStartTLS }, want: configErr},
		{name: "starttls, certificate not trusted", server: smtptest.Options{TLSConfig: serverTLS},
			client: func(c *SMTPConfig) { c.TLS, c.TLSConfig = TLSStartTLS, &tls.Config{ServerName: "127.0.0.1"} }, want: configErr},
		{name: "implicit tls to a plain server", client: func(c *SMTPConfig) { c.TLS, c.TLSConfig = TLSImplicit, clientTLS }, want: configErr},
		// Our message.
		{name: "invalid MAIL_FROM", message: func(m *Message) { m.From = "not an email" }, want: configErr},
		{name: "invalid recipient", message: func(m *Message) { m.To = "two@example.com, three@example.com" }, want: refused},
		{name: "control character in subject", message: func(m *Message) { m.Subject = "a\rb" }, want: configErr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.StartWithOptions(t, tc.server)
			s := newTestSMTP(t, srv, tc.client)
			if tc.setup != nil {
				tc.setup(srv)
			}
			m := testMessage(rcpt)
			if tc.message != nil {
				tc.message(&m)
			}
			err := s.Send(context.Background(), m)
			if got := classOf(err); got != tc.want {
				t.Errorf("Send = %v: %s, want %s", err, got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), rcpt) {
				t.Errorf("error names the address: %v", err)
			}
			if got := len(srv.Messages()); got != tc.wantMsg {
				t.Errorf("server accepted %d messages, want %d", got, tc.wantMsg)
			}
		})
	}
}

func failRcpt(code, a, b, c int) func(*smtptest.Server) {
	return func(s *smtptest.Server) {
		s.FailRcpt("vendor@example.com", smtptest.Reply{Code: code, Enhanced: smtp.EnhancedCode{a, b, c}})
	}
}

func failData(code, a, b, c int) func(*smtptest.Server) {
	return func(s *smtptest.Server) {
		s.FailData("vendor@example.com", smtptest.Reply{Code: code, Enhanced: smtp.EnhancedCode{a, b, c}})
	}
}

func failMail(code, a, b, c int) func(*smtptest.Server) {
	return func(s *smtptest.Server) { s.FailMail(smtptest.Reply{Code: code, Enhanced: smtp.EnhancedCode{a, b, c}}) }
}

// TestSMTPRefusalKeepsConnection: after each kind of refusal the kept
// connection (checked with RSET) carries the next email.
func TestSMTPRefusalKeepsConnection(t *testing.T) {
	for _, setup := range []func(*smtptest.Server){failRcpt(550, 5, 1, 1), failData(554, 5, 7, 1), failMail(451, 4, 3, 0)} {
		srv := smtptest.Start(t)
		s := newTestSMTP(t, srv, nil)
		setup(srv)
		if err := s.Send(context.Background(), testMessage("vendor@example.com")); err == nil {
			t.Fatal("Send succeeded")
		}
		srv.FailRcpt("vendor@example.com", smtptest.Reply{})
		srv.FailData("vendor@example.com", smtptest.Reply{})
		srv.FailMail(smtptest.Reply{})
		if err := s.Send(context.Background(), testMessage("vendor@example.com")); err != nil {
			t.Fatalf("Send after a refusal: %v", err)
		}
		if got := srv.Connections(); got != 1 {
			t.Errorf("%d connections, want 1", got)
		}
	}
}

func TestErrorClassesAreDistinct(t *testing.T) {
	if errors.Is(ErrPermanent, ErrConfig) || errors.Is(ErrConfig, ErrPermanent) {
		t.Error("ErrPermanent and ErrConfig overlap")
	}
	got := []class{classOf(permanent(errors.New("x"))), classOf(config(errors.New("x"))), classOf(errors.New("x"))}
	if diff := cmp.Diff([]class{refused, configErr, temporary}, got); diff != "" {
		t.Errorf("classes (-want, +got):\n%s", diff)
	}
}

// TestSendGridClasses checks SendGrid's answers against the classes.
func TestSendGridClasses(t *testing.T) {
	tests := []struct {
		name   string
		status int    // SendGrid's answer
		body   string // its error body
		want   class
	}{
		{name: "accepted", status: 202, want: sent},
		{name: "invalid recipient", status: 400, body: `{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email"}]}`, want: refused},
		{name: "recipient list", status: 400, body: `{"errors":[{"message":"invalid","field":"personalizations.0.to"}]}`, want: refused},
		{name: "our subject in a personalization", status: 400, body: `{"errors":[{"message":"too long","field":"personalizations.0.subject"}]}`, want: configErr},
		{name: "recipient and our from", status: 400, body: `{"errors":[{"message":"invalid","field":"personalizations.0.to.0.email"},{"message":"invalid","field":"from.email"}]}`, want: configErr},
		{name: "our from", status: 400, body: `{"errors":[{"message":"The from object must be provided","field":"from"}]}`, want: configErr},
		{name: "400 without details", status: 400, body: "<html>", want: configErr},
		{name: "bad key", status: 401, body: `{"errors":[{"message":"The provided authorization grant is invalid","field":null}]}`, want: configErr},
		{name: "sender not verified", status: 403, want: configErr},
		{name: "too large", status: 413, want: configErr},
		{name: "rate limited", status: 429, want: configErr},
		{name: "server error", status: 500, want: configErr},
		{name: "unavailable", status: 503, body: "<html>", want: configErr},
		{name: "not found", status: 404, want: temporary},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				decodeSendGrid(t, r) // the request has the v3 shape
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer ts.Close()
			sg, err := NewSendGrid(SendGridConfig{APIKey: "k", BaseURL: ts.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = sg.Send(context.Background(), testMessage("vendor@example.com"))
			if got := classOf(err); got != tc.want {
				t.Errorf("Send = %v: %s, want %s", err, got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "vendor@example.com") {
				t.Errorf("error names the address: %v", err)
			}
		})
	}
	t.Run("invalid MAIL_FROM is not sent", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("request sent")
		}))
		defer ts.Close()
		sg, _ := NewSendGrid(SendGridConfig{APIKey: "k", BaseURL: ts.URL})
		m := testMessage("vendor@example.com")
		m.From = "not an email"
		if err := sg.Send(context.Background(), m); classOf(err) != configErr {
			t.Errorf("Send = %v: %s, want %s", err, classOf(err), configErr)
		}
	})
}
