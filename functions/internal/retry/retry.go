// Package retry puts the project's retry loops on one library,
// go-resiliency's retrier (github.com/eapache/go-resiliency/retrier): the
// waits are a retrier backoff list (ConstantBackoff, ExponentialBackoff,
// LimitedExponentialBackoff), a wait ends early when the context ends, and
// what is worth another try is a Classifier.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/eapache/go-resiliency/retrier"
)

// Classifier adapts a function to retrier.Classifier: it tells a result
// worth another try (retrier.Retry) from a final one (retrier.Succeed,
// retrier.Fail).
type Classifier func(error) retrier.Action

// Classify calls c.
func (c Classifier) Classify(err error) retrier.Action { return c(err) }

// Run runs work under r (retries is how many tries came before) and
// returns work's last result. When ctx ends during a wait, the error is
// ctx's with the last result ("context deadline exceeded (last error:
// ...)"), so that the caller can say why it gave up; errors.Is finds both.
func Run(ctx context.Context, r *retrier.Retrier, work func(ctx context.Context, retries int) error) error {
	var last error
	err := r.RunFn(ctx, func(ctx context.Context, retries int) error {
		last = work(ctx, retries)
		return last
	})
	if last != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) && !errors.Is(last, ctx.Err()) {
		return lastError{ctx: err, last: last}
	}
	return err
}

// Every runs work every d until classify calls its result final or ctx
// ends, as Run.
func Every(ctx context.Context, d time.Duration, classify Classifier, work func(ctx context.Context) error) error {
	r := retrier.New(retrier.ConstantBackoff(1, d), classify).WithInfiniteRetry()
	return Run(ctx, r, func(ctx context.Context, _ int) error { return work(ctx) })
}

// lastError is ctx's error and the last result before it.
type lastError struct{ ctx, last error }

func (e lastError) Error() string   { return e.ctx.Error() + " (last error: " + e.last.Error() + ")" }
func (e lastError) Unwrap() []error { return []error{e.ctx, e.last} }
