package devstack

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka/kafkatest"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		status int
		want   bool
	}{
		{0, true}, // network error
		{500, true}, {502, true}, {503, true},
		{404, true}, {408, true}, {409, true}, {429, true},
		{400, false}, {401, false}, {403, false}, {413, false}, {415, false}, {422, false},
	}
	for _, tc := range tests {
		if got := retryable(tc.status); got != tc.want {
			t.Errorf("retryable(%d) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

// TestKafkaSourceDelivery: each event reaches the sink in binary mode;
// retryable answers are retried until they succeed; a 400 is
// dead-lettered at once; an event still refused after Retry retries is
// dead-lettered after Retry+1 attempts.
func TestKafkaSourceDelivery(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "summary"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	var (
		mu       sync.Mutex
		attempts = map[string]int{}
		binary   atomic.Bool
	)
	binary.Store(true)
	// "retry-2" fails twice with retryable codes; "bad" is refused.
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Ce-Id")
		if id == "" {
			binary.Store(false)
		}
		mu.Lock()
		attempts[id]++
		n := attempts[id]
		mu.Unlock()
		switch {
		case id == "bad":
			w.WriteHeader(http.StatusBadRequest)
		case id == "down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case id == "retry-2" && n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case id == "retry-2" && n == 2:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer sink.Close()

	pub, _ := kafkatest.NewPublisher(t, brokers, nil)
	for _, id := range []string{"ok", "retry-2", "bad", "down"} {
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetType(events.TypeSummaryCreated)
		e.SetSource(events.SourceDailySummary)
		e.SetTime(time.Now())
		if err := pub.Publish(context.Background(), "summary", e); err != nil {
			t.Fatal(err)
		}
	}

	var dead sync.Map
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &KafkaSource{
		Brokers: brokers, Topic: "summary", Group: "test", Sink: sink.URL, Retry: 3, Backoff: time.Millisecond,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		DeadLetter: func(_ context.Context, e cloudevents.Event, _ string) { dead.Store(e.ID(), true) },
	}
	done := make(chan struct{})
	go func() { defer close(done); src.Run(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		got := map[string]int{}
		for k, v := range attempts {
			got[k] = v
		}
		mu.Unlock()
		_, isDead := dead.Load("bad")
		_, downDead := dead.Load("down")
		if got["ok"] >= 1 && got["retry-2"] >= 3 && isDead && downDead {
			if diff := cmp.Diff(map[string]int{"ok": 1, "retry-2": 3, "bad": 1, "down": 4}, got); diff != "" {
				t.Errorf("attempts per event (-want, +got):\n%s", diff)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts %v, bad dead-lettered %v, down dead-lettered %v", got, isDead, downDead)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !binary.Load() {
		t.Error("an event reached the sink without Ce-Id: not binary mode")
	}
	if _, ok := dead.Load("retry-2"); ok {
		t.Error("retry-2 was dead-lettered although it succeeded on the third attempt")
	}
	cancel()
	<-done
}

// TestKafkaSourceBackoff: the waits between retries, against the deployed
// delivery (k8s/app/kafkasource.yaml: retry 10, exponential, PT1S) as the
// README states them, and with the harness's bound.
func TestKafkaSourceBackoff(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		src  KafkaSource
		want []time.Duration
	}{
		{"deployed", KafkaSource{Retry: 10, Backoff: s}, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 512 * s}},
		{"bounded", KafkaSource{Retry: 6, Backoff: 200 * time.Millisecond, MaxBackoff: 2 * s},
			[]time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 2 * s, 2 * s}},
		{"no retry", KafkaSource{Retry: 0, Backoff: s}, []time.Duration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.src.backoff()); diff != "" {
				t.Errorf("waits (-want, +got):\n%s", diff)
			}
		})
	}
}
