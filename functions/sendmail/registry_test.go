package sendmail

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
	registry "github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// lockedBuffer collects logs written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func mustRegistry(t *testing.T, vs ...registry.Vendor) *registry.Registry {
	t.Helper()
	reg, err := registry.File{Vendors: vs}.Registry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestRegistryFilter: with a registry, only registered vendors get
// summaries and only listed cooks (or registered vendors) cook reports;
// the others are recorded skipped, not failed, logged masked, and the
// event is accepted. A redelivery records nothing again; once the address
// is registered, a redelivery mails it.
func TestRegistryFilter(t *testing.T) {
	for _, kind := range ledgerKinds() {
		t.Run(kind, func(t *testing.T) {
			srv, err := smtptest.New("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			var current atomic.Pointer[registry.Registry]
			current.Store(mustRegistry(t,
				registry.Vendor{Email: "Ana@Example.com", Name: "Ana", Cooks: []string{"cocina1@example.com"}},
				registry.Vendor{Email: "beto@example.com", Name: "Beto"},
			))
			var logs lockedBuffer
			ledger := newTestLedger(t, kind, time.Minute, time.Now)
			f := newTestFunctionWith(t, smtpSender(t, srv, Options{}), ledger, Options{Registry: current.Load},
				slog.New(slog.NewJSONHandler(&logs, nil)))
			deliver := func(t *testing.T, s string) {
				t.Helper()
				var n int
				switch s {
				case "summary":
					n = deliverUntilAccepted(t, f, summaryEvent(t, testSummary("ana@example.com", "beto@example.com", "carla@example.com")))
				case "cooks":
					for _, c := range testCooks("cocina1@example.com", "cocina2@example.com", "beto@example.com") {
						n += deliverUntilAccepted(t, f, cookEvent(t, c, finalMeta)) - 1
					}
					n++
				}
				if n != 1 {
					t.Errorf("%s: accepted after %d deliveries, want 1: a skipped reader must not hold the event back", s, n)
				}
			}

			deliver(t, "summary")
			deliver(t, "cooks")
			want := onceEach("ana@example.com", "beto@example.com", "cocina1@example.com")
			want["beto@example.com"] = 2 // a vendor's summary, and the cook report of a registered vendor
			if diff := cmp.Diff(want, perRecipient(srv)); diff != "" {
				t.Errorf("emails per recipient (-want, +got):\n%s", diff)
			}
			skipped := func() []string {
				var out []string
				if ledger.mem == nil {
					return nil
				}
				ledger.mem.mu.Lock()
				defer ledger.mem.mu.Unlock()
				for _, r := range ledger.mem.recs {
					if r.State == string(Skipped) {
						out = append(out, r.To)
					}
					if r.State == string(Failed) {
						t.Errorf("%s recorded failed", r.To)
					}
				}
				return out
			}
			if ledger.mem != nil {
				if diff := cmp.Diff([]string{"carla@example.com", "cocina2@example.com"}, skipped()); diff != "" {
					t.Errorf("skipped records (-want, +got):\n%s", diff)
				}
			}
			for _, masked := range []string{"c***@example.com", "not in the vendor registry"} {
				if !strings.Contains(logs.String(), masked) {
					t.Errorf("logs do not say %q:\n%s", masked, logs.String())
				}
			}
			for _, full := range []string{"carla@example.com", "cocina2@example.com"} {
				if strings.Contains(logs.String(), full) {
					t.Errorf("logs carry the full address %s", full)
				}
			}

			// Redelivered: nothing sent, nothing recorded again.
			deliver(t, "summary")
			deliver(t, "cooks")
			if diff := cmp.Diff(want, perRecipient(srv)); diff != "" {
				t.Errorf("after a redelivery, emails per recipient (-want, +got):\n%s", diff)
			}
			if ledger.mem != nil && len(skipped()) != 2 {
				t.Errorf("a redelivery recorded the skips again: %v", skipped())
			}

			// Carla is registered: the next redelivery mails her, once.
			current.Store(mustRegistry(t,
				registry.Vendor{Email: "ana@example.com", Name: "Ana", Cooks: []string{"cocina1@example.com"}},
				registry.Vendor{Email: "beto@example.com", Name: "Beto"},
				registry.Vendor{Email: "carla@example.com", Name: "Carla"},
			))
			deliver(t, "summary")
			deliver(t, "summary")
			want["carla@example.com"] = 1
			if diff := cmp.Diff(want, perRecipient(srv)); diff != "" {
				t.Errorf("after registering carla, emails per recipient (-want, +got):\n%s", diff)
			}
		})
	}
}

// appendFailing is a journal that reads but cannot write while fail is set.
type appendFailing struct {
	memJournal
	fail atomic.Bool
}

func (j *appendFailing) Append(ctx context.Context, book string, recs []record) error {
	if j.fail.Load() {
		return errors.New("broker down")
	}
	return j.memJournal.Append(ctx, book, recs)
}

// TestSkipNeedsTheLedger: a skip that cannot be recorded is answered 503,
// so the redelivery records it.
func TestSkipNeedsTheLedger(t *testing.T) {
	srv, err := smtptest.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	reg := mustRegistry(t, registry.Vendor{Email: "ana@example.com", Name: "Ana"})
	j := &appendFailing{}
	f := newTestFunction(t, srv, newProtocolLedger(j, time.Minute, time.Now), Options{Registry: func() *registry.Registry { return reg }})
	e := summaryEvent(t, testSummary("nadie@example.com"))

	j.fail.Store(true)
	if code := f.Receive(context.Background(), e).Status; code != 503 {
		t.Errorf("ledger refusing writes: %d, want 503", code)
	}
	j.fail.Store(false)
	if code := f.Receive(context.Background(), e).Status; code != 200 {
		t.Errorf("ledger back: %d, want 200", code)
	}
	if n := len(j.recs); n != 1 || j.recs[0].State != string(Skipped) {
		t.Errorf("ledger records %+v, want one skipped", j.recs)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d emails to an unregistered address", n)
	}
}
