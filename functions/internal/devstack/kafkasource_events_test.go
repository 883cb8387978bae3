package devstack

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// delivered is one request the sink got: the CloudEvent headers and
// Content-Type, and the body.
type delivered struct {
	Header map[string]string
	Body   string
}

// TestKafkaSourceEvents writes records of every kind onto one partition and
// checks what reaches the sink, as the real KafkaSource would send it
// (InvalidCloudEventInterceptor.java, CloudEventOverridesMutator.java): a
// valid CloudEvent unchanged plus knativekafkapartition and
// knativekafkaoffset; anything else wrapped as dev.knative.kafka.event; a
// record of an aborted transaction never.
func TestKafkaSourceEvents(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "summary"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	var (
		mu   sync.Mutex
		got  []delivered
		sink = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			d := delivered{Header: map[string]string{}, Body: string(body)}
			for k := range r.Header {
				if lk := strings.ToLower(k); strings.HasPrefix(lk, "ce-") || lk == "content-type" {
					d.Header[lk] = r.Header.Get(k)
				}
			}
			mu.Lock()
			got = append(got, d)
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
	)
	defer sink.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("summary"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	txn, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("summary"), kgo.TransactionalID("kafkasource-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	produce := func(c *kgo.Client, r *kgo.Record) {
		t.Helper()
		if err := c.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	inTxn := func(commit kgo.TransactionEndTry, r *kgo.Record) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(txn, r)
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	stamp := time.Date(2021, 11, 14, 4, 5, 6, 789_000_000, time.UTC)
	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}

	// Offsets: each record is one; each transaction adds a marker.
	produce(plain, &kgo.Record{ // 0: binary-mode CloudEvent
		Key: []byte("2021-11-13"), Value: []byte(`{"fecha":"13/11/2021"}`), Timestamp: stamp,
		Headers: h("ce_specversion", "1.0", "ce_id", "summary-1", "ce_type", "cl.sopaipillas.summary.created.v1",
			"ce_source", "/sopaipillas/dailySummary", "ce_time", "2021-11-14T04:05:00Z", "ce_myext", "x", "content-type", "application/json"),
	})
	produce(plain, &kgo.Record{ // 1: structured-mode CloudEvent
		Value:   []byte(`{"specversion":"1.0","id":"summary-2","type":"t","source":"/s","datacontenttype":"application/json","data":{"a":1}}`),
		Headers: h("content-type", "application/cloudevents+json"), Timestamp: stamp,
	})
	produce(plain, &kgo.Record{ // 2: plain JSON with key and headers
		Key: []byte("order-7"), Value: []byte(`{"order_id": 7}`), Timestamp: stamp,
		Headers: h("Content-Type", "Application/JSON", "X-Trace_Id", "abc", "ünï", "v", "Dup", "1", "dup", "2"),
	})
	produce(plain, &kgo.Record{ // 3: CloudEvent headers, but no id: invalid, wrapped
		Value: []byte("x"), Timestamp: stamp,
		Headers: h("ce_specversion", "1.0", "ce_type", "t", "ce_source", "/s"),
	})
	produce(plain, &kgo.Record{Timestamp: stamp})                                   // 4: empty key and value
	inTxn(kgo.TryAbort, &kgo.Record{Value: []byte("aborted"), Timestamp: stamp})    // 5, marker 6
	inTxn(kgo.TryCommit, &kgo.Record{Value: []byte("committed"), Timestamp: stamp}) // 7, marker 8

	src := &KafkaSource{
		Brokers: brokers, Topic: "summary", Group: "test", Sink: sink.URL, Retry: 3, Backoff: time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DeadLetter: func(_ context.Context, e cloudevents.Event, reason string) {
			t.Errorf("dead-lettered %s: %s", e.ID(), reason)
		},
	}
	done := make(chan struct{})
	go func() { defer close(done); src.Run(ctx) }()
	defer func() { cancel(); <-done }()

	const source = "/apis/v1/namespaces/sopaipillas/kafkasources/summary-to-sendmail#summary"
	wrapped := func(offset, subjectOffset string, extra map[string]string) map[string]string {
		m := map[string]string{
			"ce-specversion": "1.0", "ce-type": "dev.knative.kafka.event", "ce-source": source,
			"ce-id": "partition:0/offset:" + offset, "ce-subject": "partition:0#" + subjectOffset,
			"ce-time": "2021-11-14T04:05:06.789Z", "ce-knativekafkapartition": "0", "ce-knativekafkaoffset": offset,
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	want := []delivered{{
		Header: map[string]string{
			"ce-specversion": "1.0", "ce-id": "summary-1", "ce-type": "cl.sopaipillas.summary.created.v1",
			"ce-source": "/sopaipillas/dailySummary", "ce-time": "2021-11-14T04:05:00Z", "ce-myext": "x",
			"content-type": "application/json", "ce-knativekafkapartition": "0", "ce-knativekafkaoffset": "0",
		},
		Body: `{"fecha":"13/11/2021"}`,
	}, {
		Header: map[string]string{
			"ce-specversion": "1.0", "ce-id": "summary-2", "ce-type": "t", "ce-source": "/s",
			"content-type": "application/json", "ce-knativekafkapartition": "0", "ce-knativekafkaoffset": "1",
		},
		Body: `{"a":1}`,
	}, {
		Header: wrapped("2", "2", map[string]string{
			"ce-key": "order-7", "ce-partitionkey": "order-7", "content-type": "application/json",
			"ce-kafkaheaderxtraceid": "abc", "ce-kafkaheadern": "v", "ce-kafkaheaderdup": "2",
		}),
		Body: `{"order_id": 7}`,
	}, {
		Header: wrapped("3", "3", map[string]string{
			"ce-kafkaheadercespecversion": "1.0", "ce-kafkaheadercetype": "t", "ce-kafkaheadercesource": "/s",
		}),
		Body: "x",
	}, {
		Header: wrapped("4", "4", nil),
	}, {
		Header: wrapped("7", "7", nil),
		Body:   "committed",
	}}

	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink got %d events, want %d", n, len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered (-want, +got):\n%s", diff)
	}
}

func TestExtensionSuffix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"X-Trace_Id", "xtraceid"},
		{"content_TYPE-2", "contenttype2"},
		{"ünï", "n"},
		{"\u0130D", "id"}, // Java's Character.toLowerCase('İ') is 'i', as Go's
		{"---", ""},
	}
	for _, tc := range tests {
		if got := extensionSuffix(tc.in); got != tc.want {
			t.Errorf("extensionSuffix(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
