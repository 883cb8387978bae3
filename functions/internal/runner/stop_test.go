package runner_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/logtest"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

// stopper is a closer that is also a runner.Stopper.
type stopper struct {
	once    sync.Once
	stopped chan struct{}
}

func (s *stopper) Stop()        { s.once.Do(func() { close(s.stopped) }) }
func (s *stopper) Close() error { s.Stop(); return nil }

// TestStopperToldBeforeDrain: when the process is told to stop, a closer
// that is a Stopper hears it while a request is still in flight, so the
// request can wind down and be answered, instead of running on until the
// drain's limit (sendMail's fan-out used to).
func TestStopperToldBeforeDrain(t *testing.T) {
	s := &stopper{stopped: make(chan struct{})}
	inFlight := make(chan struct{})
	type noConfig struct{}
	setup := func(context.Context, noConfig, *slog.Logger) (http.Handler, io.Closer, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(inFlight)
			<-s.stopped
			w.WriteHeader(http.StatusServiceUnavailable)
		}), s, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	errc := make(chan error, 1)
	go func() { errc <- runner.RunOn(ctx, "stopping", setup, ln, &logtest.Buffer{}) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	answer := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/", "application/json", nil)
		if err != nil {
			answer <- 0
			return
		}
		resp.Body.Close()
		answer <- resp.StatusCode
	}()
	<-inFlight
	sigterm()
	select {
	case code := <-answer:
		if code != http.StatusServiceUnavailable {
			t.Errorf("the request in flight got %d, want the 503 its handler gives once stopped", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight was not answered within 10 s of the stop: Stop was not called")
	}
	if err := <-errc; err != nil {
		t.Errorf("RunOn: %v", err)
	}
}
