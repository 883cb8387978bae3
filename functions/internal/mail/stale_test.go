package mail

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// TestSMTPStaleConnections: every kept connection has gone stale — the
// server closed it for being idle, or its deadline passed — when a summary's
// emails go out concurrently. Each kept connection is checked and replaced;
// no send fails.
func TestSMTPStaleConnections(t *testing.T) {
	const kept = 4
	tests := []struct {
		name        string
		idleTimeout time.Duration // the server's; 0: it never drops a connection
		timeout     time.Duration // SMTP_TIMEOUT: the deadline of a kept connection
		stale       func(srv *smtptest.Server, lastUse time.Time) bool
	}{{
		name:        "server closed idle connections",
		idleTimeout: time.Second,
		timeout:     5 * time.Second,
		stale:       func(srv *smtptest.Server, _ time.Time) bool { return srv.Open() == 0 },
	}, {
		name:    "deadlines of kept connections passed",
		timeout: 500 * time.Millisecond,
		stale: func(srv *smtptest.Server, lastUse time.Time) bool {
			return srv.Open() == kept && time.Since(lastUse) > time.Second
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.StartWithOptions(t, smtptest.Options{IdleTimeout: tc.idleTimeout})
			s := newTestSMTP(t, srv, func(c *SMTPConfig) { c.MaxIdle, c.Timeout = kept, tc.timeout })
			ctx := context.Background()
			// Keep several connections, each having carried an email.
			var conns []*gosmtp.Client
			for range kept {
				c, _, err := s.conn(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for i, c := range conns {
				msg, err := s.build(testMessage(fmt.Sprintf("v%d@example.com", i)))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.client.SendWithSMTPClient(c, msg); err != nil {
					t.Fatal(err)
				}
				s.put(c)
			}
			lastUse := time.Now()
			// The scenario is time passing with nothing sent: wait until
			// every kept connection is stale.
			deadline := time.Now().Add(10 * time.Second)
			for !tc.stale(srv, lastUse) {
				if time.Now().After(deadline) {
					t.Fatalf("connections never went stale: %d open", srv.Open())
				}
				time.Sleep(20 * time.Millisecond)
			}

			const vendors = 8
			var wg sync.WaitGroup
			errs := make([]error, vendors)
			for i := range vendors {
				wg.Go(func() { errs[i] = s.Send(ctx, testMessage(fmt.Sprintf("w%d@example.com", i))) })
			}
			wg.Wait()
			if diff := cmp.Diff(make([]error, vendors), errs, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("send errors after idling (-want, +got):\n%s", diff)
			}
			if got, want := len(srv.Messages()), kept+vendors; got != want {
				t.Errorf("server accepted %d messages, want %d", got, want)
			}
		})
	}
}
