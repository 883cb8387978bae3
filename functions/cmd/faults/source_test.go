package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSourceIsTheKafkaSource: the harness's source is the dev stack's
// KafkaSource stand-in, so it delivers what the real KafkaSource delivers.
// Its own copy disagreed: it skipped a record that is not a CloudEvent
// (the real source wraps it as dev.knative.kafka.event), read
// uncommitted (it delivered an aborted transaction's record) and sent
// kafkatopic/kafkapartition/kafkaoffset instead of the knativekafka*
// extensions.
func TestSourceIsTheKafkaSource(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "summary"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	type got struct{ ID, Type, Partition, Offset string }
	var (
		mu   sync.Mutex
		seen []got
	)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, got{r.Header.Get("Ce-Id"), r.Header.Get("Ce-Type"), r.Header.Get("Ce-Knativekafkapartition"), r.Header.Get("Ce-Knativekafkaoffset")})
		n := len(seen)
		mu.Unlock()
		if n == 1 { // the first POST fails once and is retried
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	txn, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("summary"), kgo.TransactionalID("faults-source-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	inTxn := func(commit kgo.TransactionEndTry, r *kgo.Record) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	ce := func(id string) *kgo.Record {
		return &kgo.Record{Value: []byte(`{}`), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(id)},
			{Key: "ce_type", Value: []byte("t")}, {Key: "ce_source", Value: []byte("/s")},
		}}
	}
	inTxn(kgo.TryCommit, ce("first"))                            // offset 0, marker 1
	inTxn(kgo.TryAbort, ce("aborted"))                           // 2, marker 3
	inTxn(kgo.TryCommit, &kgo.Record{Value: []byte("not a CE")}) // 4, marker 5

	src := &source{brokers: brokers, topic: "summary", sink: sink.URL, settled: map[string]bool{}}
	done := make(chan error, 1)
	go func() { done <- src.run(ctx) }()
	defer func() { cancel(); <-done }()
	for !src.isSettled("partition:0/offset:4") {
		if ctx.Err() != nil {
			t.Fatalf("not settled within a minute; deliveries %+v", src.deliveries())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []got{
		{"first", "t", "0", "0"}, {"first", "t", "0", "0"}, // retried after the 503
		{"partition:0/offset:4", "dev.knative.kafka.event", "0", "4"},
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("POSTs to the sink (-want, +got):\n%s", diff)
	}
	statuses := []int{}
	for _, d := range src.deliveries() {
		statuses = append(statuses, d.status)
	}
	if !slices.Equal(statuses, []int{503, 202, 202}) {
		t.Errorf("recorded statuses %v, want [503 202 202]", statuses)
	}
}
