package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eapache/go-resiliency/retrier"
)

var (
	errBusy  = errors.New("busy")
	errFinal = errors.New("final")
)

func TestRun(t *testing.T) {
	retryBusy := Classifier(func(err error) retrier.Action {
		switch {
		case err == nil:
			return retrier.Succeed
		case errors.Is(err, errBusy):
			return retrier.Retry
		}
		return retrier.Fail
	})
	tests := []struct {
		name     string
		results  []error // what each try returns; the last repeats
		backoff  []time.Duration
		cancelAt int // cancel the context during the wait after this try (0: never)
		tries    int
		want     string
		is       []error
	}{
		{"success at once", []error{nil}, retrier.ConstantBackoff(3, time.Millisecond), 0, 1, "", nil},
		{"success on the third try", []error{errBusy, errBusy, nil}, retrier.ConstantBackoff(3, time.Millisecond), 0, 3, "", nil},
		{"a final error at once", []error{errFinal}, retrier.ConstantBackoff(3, time.Millisecond), 0, 1, "final", []error{errFinal}},
		{"out of retries", []error{errBusy}, retrier.ConstantBackoff(2, time.Millisecond), 0, 3, "busy", []error{errBusy}},
		{"cancelled while waiting", []error{errBusy}, retrier.ConstantBackoff(5, time.Hour), 1, 1,
			"context canceled (last error: busy)", []error{context.Canceled, errBusy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tries := 0
			err := Run(ctx, retrier.New(tt.backoff, retryBusy), func(_ context.Context, retries int) error {
				if retries != tries {
					t.Errorf("try %d told %d retries before it", tries+1, retries)
				}
				res := tt.results[min(tries, len(tt.results)-1)]
				tries++
				if tries == tt.cancelAt {
					cancel()
				}
				return res
			})
			if tries != tt.tries {
				t.Errorf("%d tries, want %d", tries, tt.tries)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
		})
	}
}
