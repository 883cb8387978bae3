package sendmail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// TestBadEventsAnswerProblems posts events sendMail never takes over HTTP,
// as the KafkaSource does: each gets its 4xx as application/problem+json
// naming the field, and no email goes out.
func TestBadEventsAnswerProblems(t *testing.T) {
	good := summaryEvent(t, testSummary(vendors...))
	withData := func(data string) func(*cloudevents.Event) {
		return func(e *cloudevents.Event) { e.DataEncoded = []byte(data) }
	}
	goodCook := cookEvent(t, testCooks("c@example.com")[0], finalMeta)
	tests := []struct {
		name   string
		event  cloudevents.Event        // sent in binary mode, after mutate
		mutate func(*cloudevents.Event) // nil: as is
		raw    func(url string) *http.Request
		status int
		fields []string // the fields the problem names
	}{
		{name: "wrong type", event: good, mutate: func(e *cloudevents.Event) { e.SetType(events.TypeOrderCreated) }, status: 400, fields: []string{"type"}},
		{name: "not JSON", event: good, mutate: withData("hola"), status: 400, fields: []string{""}},
		{name: "duplicate member", event: good, mutate: withData(`{"ventas":{},"ventas":{},"fecha":"13/11/2021"}`), status: 400, fields: []string{"ventas"}},
		{name: "upper-case name", event: good, mutate: withData(`{"ventas":{"v@example.com":{"N_SOPAIPILLAS":1,"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`),
			status: 422, fields: []string{"ventas[v@example.com].N_SOPAIPILLAS"}},
		{name: "extra field", event: good, mutate: withData(`{"ventas":{},"fecha":"13/11/2021","bcc":"evil@example.net"}`), status: 422, fields: []string{"bcc"}},
		{name: "vendor with a header", event: good, mutate: withData(`{"ventas":{"a@example.com\r\nBcc: evil@example.net":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`),
			status: 422, fields: []string{"ventas[a@example.com\r\nBcc: evil@example.net]"}},
		{name: "two vendors in one", event: good, mutate: withData(`{"ventas":{"a@example.com, evil@example.net":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`),
			status: 422, fields: []string{"ventas[a@example.com, evil@example.net]"}},
		{name: "bad date", event: good, mutate: withData(`{"ventas":{},"fecha":"13/11/2021\r\nBcc: x@y.z"}`), status: 422, fields: []string{"fecha"}},
		{name: "unknown report status", event: good, mutate: func(e *cloudevents.Event) { e.SetExtension(events.ExtensionReportStatus, "draft") }, status: 422, fields: []string{"reportstatus"}},
		{name: "partial without countedupto", event: good, mutate: func(e *cloudevents.Event) {
			e.SetExtension(events.ExtensionReportStatus, events.StatusPartial)
			e.SetExtension(events.ExtensionCountedUntil, nil)
		}, status: 422, fields: []string{"countedupto"}},
		{name: "cook report with an unknown member", event: goodCook,
			mutate: withData(`{"cocinero":"c@example.com","n_sopaipillas":1,"n_ordenes":1,"N_ORDENES":1,"vendedores":{"a@example.com":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`),
			status: 422, fields: []string{"N_ORDENES"}},
		{name: "cook report without vendors", event: goodCook,
			mutate: withData(`{"cocinero":"c@example.com","n_sopaipillas":1,"n_ordenes":1,"vendedores":{},"fecha":"13/11/2021"}`),
			status: 422, fields: []string{"vendedores"}},
		{name: "wrapped order", event: wrapped(t, good), mutate: withData(`{"order_id":3,"email_vendedor":"a@b.cl","email_cocinero":"c@d.cl","numero_sopaipillas":1}`), status: 400, fields: []string{"data"}},
		{name: "wrapped text", event: wrapped(t, good), mutate: withData("hola"), status: 400, fields: []string{"data"}},
		{name: "wrapped summary and cook report in one", event: wrapped(t, good), mutate: withData(`{"ventas":{},"cocinero":"c@example.com","fecha":"13/11/2021"}`), status: 400, fields: []string{"data"}},
		{name: "wrapped summary, bad field", event: wrapped(t, good), mutate: withData(`{"ventas":{"v@example.com":{"n_sopaipillas":1,"n_ordenes":"1"}},"fecha":"13/11/2021"}`),
			status: 422, fields: []string{"ventas[v@example.com].n_ordenes"}},
		{name: "not a CloudEvent", raw: func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(good.Data())))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, status: 400, fields: []string{"cloudevent"}},
		{name: "GET", raw: func(url string) *http.Request { r, _ := http.NewRequest(http.MethodGet, url, nil); return r }, status: 405},
		{name: "too large", raw: func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(make([]byte, MaxBodyBytes+1)))
			r.Header.Set("Ce-Specversion", "1.0")
			r.Header.Set("Ce-Id", "x")
			r.Header.Set("Ce-Source", "/x")
			r.Header.Set("Ce-Type", events.TypeSummaryCreated)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, status: 413, fields: []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
			h, err := f.Handler(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(h)
			t.Cleanup(ts.Close)
			var req *http.Request
			if tc.raw != nil {
				req = tc.raw(ts.URL)
			} else {
				e := tc.event.Clone()
				if tc.mutate != nil {
					tc.mutate(&e)
				}
				req = binaryRequest(t, ts.URL, e)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
			}
			var p problem.Details
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			var fields []string
			for _, fe := range p.Errors {
				fields = append(fields, fe.Field)
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("fields named (-want, +got):\n%s\n%+v", diff, p)
			}
			if p.Status != tc.status {
				t.Errorf("problem status %d", p.Status)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d emails sent", n)
			}
		})
	}
}

// binaryRequest is e POSTed to url in binary mode, as the KafkaSource
// delivers it.
func binaryRequest(t *testing.T, url string, e cloudevents.Event) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestHTTPAnswers: over HTTP a settled report is 200 with no body, and one
// not settled 503 problem+json with Retry-After.
func TestHTTPAnswers(t *testing.T) {
	srv := smtptest.Start(t)
	f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
	h, _ := f.Handler(context.Background())
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	e := summaryEvent(t, testSummary(vendors...))
	post := func() (*http.Response, string) {
		resp, err := http.DefaultClient.Do(binaryRequest(t, ts.URL, e))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if err := srv.Refuse(); err != nil {
		t.Fatal(err)
	}
	resp, body := post()
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != problem.ContentType || resp.Header.Get("Retry-After") == "" {
		t.Errorf("during the outage: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	if resp, body = post(); resp.StatusCode != 200 || body != "" {
		t.Errorf("after the outage: %d %q, want 200 and no body", resp.StatusCode, body)
	}
}

// configErr is what a sender returns for a configuration error: marked
// ErrConfig, as package mail marks a refused AUTH or sender.
func configErr() error {
	return fmt.Errorf("%w: 535 5.7.8 authentication failed", mail.ErrConfig)
}

// brokenSender fails every send with err while it is set.
type brokenSender struct {
	mail.Sender
	mu  sync.Mutex
	err error
}

func (s *brokenSender) Send(ctx context.Context, m mail.Message) error {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.Sender.Send(ctx, m)
}

func (s *brokenSender) set(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

// logRecords keeps the level and message of every log record.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// find returns the attributes of the first record at level whose message
// contains msg, and whether there is one.
func (l *logRecords) find(level slog.Level, msg string) (map[string]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Level == level && strings.Contains(r.Message, msg) {
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			return attrs, true
		}
	}
	return nil, false
}

// TestConfigErrorIsNotTheRecipients: a configuration error (our sender
// refused by the SMTP server, or any error package mail marks ErrConfig)
// answers 503, records nobody as failed, is logged at ERROR level and the
// 503 at WARN with the recipients; once fixed, the same event mails
// everyone once.
func TestConfigErrorIsNotTheRecipients(t *testing.T) {
	tests := []struct {
		name string
		brk  func(*smtptest.Server, *brokenSender) // makes every send fail with a configuration error
		fix  func(*smtptest.Server, *brokenSender)
	}{
		{
			name: "SMTP 550 to MAIL FROM",
			brk: func(srv *smtptest.Server, _ *brokenSender) {
				srv.FailMail(smtptest.Reply{Code: 550, Enhanced: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address rejected"})
			},
			fix: func(srv *smtptest.Server, _ *brokenSender) { srv.FailMail(smtptest.Reply{}) },
		},
		{
			name: "sender error marked ErrConfig",
			brk:  func(_ *smtptest.Server, s *brokenSender) { s.set(configErr()) },
			fix:  func(_ *smtptest.Server, s *brokenSender) { s.set(nil) },
		},
	}
	for _, kind := range ledgerKinds() {
		for _, rk := range readerKinds {
			for _, tc := range tests {
				t.Run(kind+"/"+rk.name+"/"+tc.name, func(t *testing.T) {
					srv := smtptest.Start(t)
					ledger := newTestLedger(t, kind, time.Minute, time.Now)
					sender := &brokenSender{Sender: smtpSender(t, srv, Options{})}
					logs := &logRecords{}
					f := newTestFunctionWith(t, sender, ledger, Options{}, slog.New(logs))
					rs := recipientsOf(rk)
					evs := rk.events(t, rs, finalMeta)
					tc.brk(srv, sender)
					for range 2 {
						for _, e := range evs {
							if code := f.Receive(context.Background(), e).Status; code != 503 {
								t.Fatalf("answered %d with a configuration error, want 503", code)
							}
						}
					}
					var outcomes []Outcome
					for _, e := range evs {
						rep, _ := decodeReport(e, santiago)
						book, err := ledger.Open(context.Background(), rep.book())
						if err != nil {
							t.Fatal(err)
						}
						outcomes = append(outcomes, dones(book, letterIDs(rep))...)
					}
					if diff := cmp.Diff(make([]Outcome, len(rs)), outcomes); diff != "" {
						t.Errorf("ledger after the configuration errors (-want, +got):\n%s", diff)
					}
					if _, ok := logs.find(slog.LevelError, "configuration"); !ok {
						t.Error("no ERROR log naming a configuration error")
					}
					if attrs, ok := logs.find(slog.LevelWarn, "answering 503"); !ok || !strings.Contains(attrs["to_retry"], "***@example.com") {
						t.Errorf("WARN log of the 503 = %v (found %v), want one listing the masked recipients", attrs, ok)
					}
					if n := len(srv.Messages()); n != 0 {
						t.Errorf("%d emails delivered while broken", n)
					}
					tc.fix(srv, sender)
					for _, e := range evs {
						deliverUntilAccepted(t, f, e)
					}
					if diff := cmp.Diff(onceEach(rs...), perRecipient(srv)); diff != "" {
						t.Errorf("emails per reader after the fix (-want, +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func letterIDs(rep report) []EmailID {
	var out []EmailID
	for _, l := range rep.letters {
		out = append(out, l.id)
	}
	return out
}

// TestFailureOf: only a refusal of the recipient is permanent.
func TestFailureOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want failure
	}{
		{name: "recipient refused", err: fmt.Errorf("%w: 550 no such user", mail.ErrPermanent), want: recipientRefused},
		{name: "configuration", err: configErr(), want: configuration},
		{name: "timeout", err: context.DeadlineExceeded, want: transient},
		{name: "4xx", err: errors.New("451 try later"), want: transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := failureOf(tc.err); got != tc.want {
				t.Errorf("failureOf = %v, want %v", got, tc.want)
			}
		})
	}
}
