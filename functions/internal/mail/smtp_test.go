package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

func testMessage(to string) Message {
	return Message{
		FromName:  "Sopaipillas Don Pepe",
		From:      "reportes@sopaipillas.example",
		To:        to,
		Subject:   "Reporte de sopaipillas — 13/11/2021",
		Text:      "Fecha: 13/11/2021\nCantidad de ordenes recibidas: 2\nCantidad de sopaipillas vendidas: 101\n",
		HTML:      "<p>Fecha: <strong>13/11/2021</strong></p><p>Cantidad de sopaipillas vendidas: 101 &amp; más</p>",
		MessageID: "0123abcd@sopaipillas.example",
		Date:      time.Date(2021, 11, 14, 0, 5, 0, 0, time.UTC),
	}
}

// testTLS returns a server certificate for 127.0.0.1 and a client config
// trusting it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func newTestSMTP(t *testing.T, srv *smtptest.Server, mutate func(*SMTPConfig)) *SMTP {
	t.Helper()
	cfg := SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, Timeout: 5 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSMTPModes(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	tests := []struct {
		name     string
		server   smtptest.Options // how the server listens
		tls      string           // SMTP_TLS
		user     string           // SMTP_USERNAME; "" means no AUTH
		insecure bool             // SMTP_ALLOW_INSECURE_AUTH
		wantTLS  bool             // the message arrived over TLS
	}{
		{name: "none", tls: TLSNone},
		{name: "none with auth on a local catcher", server: smtptest.Options{Username: "u", Password: "p"}, tls: TLSNone, user: "u", insecure: true},
		{name: "starttls", server: smtptest.Options{TLSConfig: serverTLS}, tls: TLSStartTLS, wantTLS: true},
		{name: "starttls with auth", server: smtptest.Options{TLSConfig: serverTLS, Username: "u", Password: "p"}, tls: TLSStartTLS, user: "u", wantTLS: true},
		{name: "implicit tls with auth", server: smtptest.Options{TLSConfig: serverTLS, ImplicitTLS: true, Username: "u", Password: "p"}, tls: TLSImplicit, user: "u", wantTLS: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.StartWithOptions(t, tc.server)
			s := newTestSMTP(t, srv, func(c *SMTPConfig) {
				c.TLS, c.Username, c.Password, c.AllowInsecureAuth, c.TLSConfig = tc.tls, tc.user, "p", tc.insecure, clientTLS
			})
			if err := s.Send(context.Background(), testMessage("vendor@example.com")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("server got %d messages, want 1", len(got))
			}
			want := smtptest.Message{From: "reportes@sopaipillas.example", To: []string{"vendor@example.com"}, User: tc.user, TLS: tc.wantTLS}
			got[0].Data = nil
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("envelope (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestSMTPConfigRefused(t *testing.T) {
	tests := []struct {
		name string
		cfg  SMTPConfig
	}{
		{name: "password in clear", cfg: SMTPConfig{Host: "h", Port: 25, TLS: TLSNone, Username: "u", Password: "p"}},
		{name: "unknown tls mode", cfg: SMTPConfig{Host: "h", Port: 25, TLS: "maybe"}},
		{name: "no host", cfg: SMTPConfig{Port: 25, TLS: TLSNone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSMTP(tc.cfg); err == nil {
				t.Error("NewSMTP accepted the settings")
			}
		})
	}
}

// TestSMTPMIME checks the email as a mail reader sees it.
func TestSMTPMIME(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, nil)
	m := testMessage("vendor@example.com")
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := parseEmail(t, srv.Messages()[0].Data)
	want := parsedEmail{
		From:      `"Sopaipillas Don Pepe" <reportes@sopaipillas.example>`,
		To:        []string{"<vendor@example.com>"},
		Subject:   "Reporte de sopaipillas — 13/11/2021",
		MessageID: "<0123abcd@sopaipillas.example>",
		Date:      m.Date,
		Text:      m.Text,
		HTML:      m.HTML,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("email (-want, +got):\n%s", diff)
	}
}

type parsedEmail struct {
	From      string
	To        []string
	Subject   string
	MessageID string
	Date      time.Time
	Text      string
	HTML      string
	Headers   []string // only when asked for
}

// parseEmail reads raw as a mail reader would: headers with net/mail, the
// body as multipart/alternative with a text and an HTML part.
func parseEmail(t *testing.T, raw []byte) parsedEmail {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v", err)
	}
	var p parsedEmail
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		t.Fatalf("From: %v %v", from, err)
	}
	p.From = from[0].String()
	to, err := msg.Header.AddressList("To")
	if err != nil {
		t.Fatalf("To: %v", err)
	}
	for _, a := range to {
		p.To = append(p.To, a.String())
	}
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	p.MessageID = msg.Header.Get("Message-Id")
	if p.Date, err = msg.Header.Date(); err != nil {
		t.Fatalf("Date: %v", err)
	}
	p.Date = p.Date.UTC()
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading parts: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("reading part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html":
			p.HTML = strings.ReplaceAll(string(body), "\r\n", "\n")
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

// TestSMTPReusesConnections sends sequentially and concurrently and counts
// the connections the server saw; a connection the server dropped is
// replaced without failing the send.
func TestSMTPReusesConnections(t *testing.T) {
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, func(c *SMTPConfig) { c.MaxIdle = 4 })
	ctx := context.Background()
	for i := range 20 {
		if err := s.Send(ctx, testMessage("vendor@example.com")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("20 sequential sends used %d connections, want 1", got)
	}

	// A rejected recipient leaves the connection usable.
	srv.RcptError("gone@example.com", 550)
	if err := s.Send(ctx, testMessage("gone@example.com")); !IsPermanent(err) {
		t.Fatalf("Send to a 550 recipient: %v", err)
	}
	if err := s.Send(ctx, testMessage("vendor@example.com")); err != nil {
		t.Fatal(err)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("after a 550: %d connections, want 1", got)
	}

	// The server drops every connection: the kept one is stale.
	if err := srv.Refuse(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, testMessage("vendor@example.com")); err != nil {
		t.Fatalf("send after the server dropped the connection: %v", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() { errs <- s.Send(ctx, testMessage("vendor@example.com")) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := len(srv.Messages()), 20+1+1+40; got != want {
		t.Errorf("server got %d messages, want %d", got, want)
	}
	if got := srv.Connections(); got > 2+40 {
		t.Errorf("%d connections", got)
	}
}
