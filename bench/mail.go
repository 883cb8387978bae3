package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/emersion/go-smtp"

	"github.com/sopaipillas/sopaipillas/events"
)

// catcher is an SMTP server on loopback that accepts every email and notes
// when the last one arrived.
type catcher struct {
	mu   sync.Mutex
	to   map[string]int
	last time.Time
}

func (c *catcher) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{c: c}, nil }

type session struct {
	c  *catcher
	to []string
}

func (s *session) Reset()                                    { s.to = nil }
func (s *session) Logout() error                             { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *session) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for _, to := range s.to {
		s.c.to[to]++
	}
	s.c.last = time.Now()
	return nil
}

// mail delivers one summary with 1,000 vendors to sendMail as a KafkaSource
// would (binary-mode HTTP CloudEvent) and times it to the last email the SMTP
// server accepted.
func (b *bench) mail(ctx context.Context) error {
	vendors := 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c := &catcher{to: map[string]int{}}
	srv := smtp.NewServer(c)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()

	env := b.functionEnv("sendmail")
	env["SMTP_PORT"] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	// The loopback server has no provider's rate limit: let sendMail go as
	// fast as it can.
	env["MAIL_RATE_PER_SECOND"] = "100000"
	fn, err := startFunction(ctx, b.binDir, b.workDir, "sendmail", env)
	if err != nil {
		return err
	}
	defer fn.stop()

	day := events.DateOf(time.Now(), time.UTC).AddDays(-1)
	s := events.NewSummary(day)
	for i := range vendors {
		s.Ventas[vendorAddr(i)] = events.Sales{NOrdenes: int64(i + 1), NSopaipillas: int64(10 * (i + 1))}
	}
	e, err := events.NewSummaryEvent(s, events.ReportMeta{Status: events.StatusFinal, CountedUntil: time.Now(), Computed: time.Now()})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+fn.addr+"/", nil)
	if err != nil {
		return err
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&e), req); err != nil {
		return err
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answered := time.Since(t0)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sendMail answered %d: %s", resp.StatusCode, tail(string(out), 500))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.to) != vendors {
		return fmt.Errorf("%d vendors got an email, want %d", len(c.to), vendors)
	}
	for to, n := range c.to {
		if n != 1 || !strings.HasPrefix(to, "vendor") {
			return fmt.Errorf("%s got %d emails", to, n)
		}
	}
	last := c.last.Sub(t0)
	b.logf("mail: %d emails, last accepted after %s, answered after %s", vendors, last.Round(time.Millisecond), answered.Round(time.Millisecond))
	b.add(figure{name: "mail_seconds_1000_vendors", value: last.Seconds(), unit: "s", target: targetFor("mail_seconds_1000_vendors")})
	b.add(figure{name: "mail_emails_per_s", value: float64(vendors) / last.Seconds(), unit: "emails/s"})
	return nil
}
