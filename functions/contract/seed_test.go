package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSeedConsumer reads topic `summary` as the original system's mail
// consumer did (hack/python/seed_consumer.py: kafka-python, no CloudEvents
// SDK, no filter, `ventas` and `fecha` expected in every record), unchanged,
// after a day that produced a summary, cook reports and vendor reports: it
// mails exactly the summary's vendors and ends cleanly, because `summary`
// carries only summaries and the reports are on `report` (issue 24).
// It runs on the embedded Kafka and, when KAFKA_BROKERS names one (make
// test), on the real Apache Kafka, on topics of its own there.
func TestSeedConsumer(t *testing.T) {
	py := python(t)
	real := os.Getenv("KAFKA_BROKERS")
	t.Run("embedded", func(t *testing.T) { seedConsumer(t, py, embeddedKafka(t), "summary", "report") })
	if real == "" {
		if os.Getenv("SOPAIPILLAS_REQUIRE_KAFKA") != "" {
			t.Fatal("SOPAIPILLAS_REQUIRE_KAFKA is set but KAFKA_BROKERS is empty")
		}
		return
	}
	t.Run("kafka", func(t *testing.T) {
		suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
		t.Setenv("ORDER_TOPIC", "seed-order-"+suffix)
		seedConsumer(t, py, real, "seed-summary-"+suffix, "seed-report-"+suffix)
	})
}

func seedConsumer(t *testing.T, py, brokers, summaryTopic, reportTopic string) {
	root := repoRoot(t)
	t.Setenv("SUMMARY_TOPIC", summaryTopic)
	t.Setenv("REPORT_TOPIC", reportTopic)
	url := startFunctionsOn(t, brokers)
	for _, o := range []string{
		`{"order_id": 1, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`,
		`{"order_id": 2, "email_vendedor": "vendor2_tarea2@yopmail.com", "email_cocinero": "otro.cocinero@yopmail.com", "numero_sopaipillas": 5, "nota": "sin pebre"}`,
		// Sent again with another body: it does not count, and the
		// vendor report lists it.
		`{"order_id": 1, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 99}`,
	} {
		post(t, url+"/newOrder", o, http.StatusCreated)
	}
	var answer struct {
		Summary struct {
			Fecha string `json:"fecha"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(post(t, url+"/dailySummary", `{}`, http.StatusOK), &answer); err != nil {
		t.Fatal(err)
	}
	fecha := answer.Summary.Fecha

	cmd := exec.Command(py, filepath.Join(root, "hack/python/seed_consumer.py"), brokers, summaryTopic)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the seed's consumer, unchanged, failed on topic %s: %v\nstdout:\n%s\nstderr:\n%s", summaryTopic, err, out, stderr.Bytes())
	}
	want := []map[string]any{
		{"fecha": fecha, "vendedor": "vendor2_tarea2@yopmail.com", "n_sopaipillas": float64(5), "n_ordenes": float64(1)},
		{"fecha": fecha, "vendedor": "vendor_tarea2@yopmail.com", "n_sopaipillas": float64(15), "n_ordenes": float64(1)},
	}
	if diff := cmp.Diff(want, jsonLines(t, out)); diff != "" {
		t.Errorf("mails of the seed's consumer (-want, +got):\n%s", diff)
	}

	// The day did produce every kind of report, on their own topic.
	types := map[string]int{}
	for _, r := range topicRecords(t, brokers, summaryTopic, reportTopic) {
		for _, h := range r.Headers {
			if h.Key == "ce_type" {
				types[r.Topic+" "+string(h.Value)]++
			}
		}
	}
	wantTypes := map[string]int{
		summaryTopic + " cl.sopaipillas.summary.created.v1":     1,
		reportTopic + " cl.sopaipillas.cookreport.created.v1":   2,
		reportTopic + " cl.sopaipillas.vendorreport.created.v1": 1,
	}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("records by topic and ce_type (-want, +got):\n%s", diff)
	}
}

// topicRecords returns every record of topics, from the start to the end
// offsets at the call (a topic never written has none).
func topicRecords(t *testing.T, brokers string, topics ...string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int32]kgo.Offset{}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			if want[o.Topic] == nil {
				want[o.Topic] = map[int32]kgo.Offset{}
			}
			want[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			left += int(o.Offset)
		}
	})
	if left == 0 {
		return nil
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumePartitions(want))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var out []*kgo.Record
	for len(out) < left {
		f := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(out), left, err)
		}
		f.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Topic][r.Partition].Offset {
				out = append(out, r)
			}
		})
	}
	return out
}

// post sends body to url and checks the status; it returns the answer.
func post(t *testing.T, url, body string, want int) []byte {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", url, resp.StatusCode, b.Bytes(), want)
	}
	return b.Bytes()
}

// jsonLines parses one JSON object a line.
func jsonLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, m)
	}
	return got
}
