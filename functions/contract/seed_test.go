package contract

import (
	"bytes"
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
)

// TestSeedConsumer reads topic `summary` as the original system's mail
// consumer did (hack/python/seed_consumer.py: kafka-python, no CloudEvents
// SDK, `ventas` expected in every record) after a day with cook reports.
// Unchanged (`seed`), it mails the vendors of the summary and then dies
// with KeyError: 'ventas' on the first cook report, which shares the topic:
// the failure the docs warn of. With the filter on `ce_type` the docs ask
// of every reader of `summary` (`filtered`) it mails exactly the summary's
// vendors and ends cleanly.
// It runs on the embedded Kafka and, when KAFKA_BROKERS names one (make
// test), on the real Apache Kafka, on topics of its own there.
func TestSeedConsumer(t *testing.T) {
	py := python(t)
	real := os.Getenv("KAFKA_BROKERS")
	t.Run("embedded", func(t *testing.T) { seedConsumer(t, py, embeddedKafka(t), "summary") })
	if real == "" {
		if os.Getenv("SOPAIPILLAS_REQUIRE_KAFKA") != "" {
			t.Fatal("SOPAIPILLAS_REQUIRE_KAFKA is set but KAFKA_BROKERS is empty")
		}
		return
	}
	t.Run("kafka", func(t *testing.T) {
		suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
		t.Setenv("ORDER_TOPIC", "seed-order-"+suffix)
		seedConsumer(t, py, real, "seed-summary-"+suffix)
	})
}

func seedConsumer(t *testing.T, py, brokers, topic string) {
	root := repoRoot(t)
	t.Setenv("SUMMARY_TOPIC", topic)
	url := startFunctionsOn(t, brokers)
	for _, o := range []string{
		`{"order_id": 1, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`,
		`{"order_id": 2, "email_vendedor": "vendor2_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 5, "nota": "sin pebre"}`,
	} {
		post(t, url+"/newOrder", o, http.StatusCreated)
	}
	var answer struct {
		Summary struct {
			Fecha string `json:"fecha"`
		} `json:"summary"`
		CookReportEventIDs []string `json:"cook_report_event_ids"`
	}
	if err := json.Unmarshal(post(t, url+"/dailySummary", `{}`, http.StatusOK), &answer); err != nil {
		t.Fatal(err)
	}
	if len(answer.CookReportEventIDs) != 1 {
		t.Fatalf("dailySummary published %d cook reports, want 1", len(answer.CookReportEventIDs))
	}
	fecha := answer.Summary.Fecha
	mails := []map[string]any{
		{"fecha": fecha, "vendedor": "vendor2_tarea2@yopmail.com", "n_sopaipillas": float64(5), "n_ordenes": float64(1)},
		{"fecha": fecha, "vendedor": "vendor_tarea2@yopmail.com", "n_sopaipillas": float64(15), "n_ordenes": float64(1)},
	}
	consumer := func(mode string) *exec.Cmd {
		return exec.Command(py, filepath.Join(root, "hack/python/seed_consumer.py"), brokers, topic, mode)
	}

	t.Run("seed", func(t *testing.T) {
		cmd := consumer("seed")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err == nil || !strings.Contains(stderr.String(), "KeyError: 'ventas'") {
			t.Fatalf("the seed's consumer ended with %v, want KeyError: 'ventas' on the cook report:\n%s%s", err, out, stderr.Bytes())
		}
		if diff := cmp.Diff(mails, jsonLines(t, out)); diff != "" {
			t.Errorf("mails before the cook report (-want, +got):\n%s", diff)
		}
	})
	t.Run("filtered", func(t *testing.T) {
		got := runClient(t, consumer("filtered"))
		if diff := cmp.Diff(mails, got); diff != "" {
			t.Errorf("mails (-want, +got):\n%s", diff)
		}
	})
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
