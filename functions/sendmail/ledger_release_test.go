package sendmail

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// readFailing is a journal whose reads fail while fail is set.
type readFailing struct {
	memJournal
	fail atomic.Bool
}

func (j *readFailing) Read(ctx context.Context, key string, cursor any, visit func(record)) (any, error) {
	if j.fail.Load() {
		return nil, errors.New("request cancelled")
	}
	return j.memJournal.Read(ctx, key, cursor, visit)
}

// TestClaimNotReadIsReleased: a delivery whose claims were written but not
// read back (its request cancelled, its process stopping) gives the readers
// back when it closes, so the next delivery need not wait out the lease.
func TestClaimNotReadIsReleased(t *testing.T) {
	j := &readFailing{}
	l := newProtocolLedger(j, time.Hour, time.Now)
	email := EmailID{To: "v@example.com", Key: "final-x", Final: true}
	first, err := l.Open(context.Background(), "vendor/2021-11-13")
	if err != nil {
		t.Fatal(err)
	}
	j.fail.Store(true)
	if _, _, err := first.Claim(context.Background(), []EmailID{email}); err == nil {
		t.Fatal("Claim succeeded without reading its claims back")
	}
	j.fail.Store(false)
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	second, err := l.Open(context.Background(), "vendor/2021-11-13")
	if err != nil {
		t.Fatal(err)
	}
	granted, busy, err := second.Claim(context.Background(), []EmailID{email})
	if err != nil || len(granted) != 1 || len(busy) != 0 {
		t.Errorf("next delivery: granted %v, busy %v, %v; want the reader granted", granted, busy, err)
	}
}
