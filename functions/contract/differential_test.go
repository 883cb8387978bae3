package contract

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

// exceptions are the rules a JSON Schema cannot express, stated in words in
// the schemas and in openapi.yaml: the only bodies on which the schemas
// alone and the code may disagree. judge.py checks each with code of its own.
var exceptions = map[string]string{
	"calendar-date":            "fecha is a day of the calendar (no 31/02/2025)",
	"not-in-the-future":        "dailySummary: fecha is not after today in SUMMARY_TIMEZONE",
	"within-retention":         "dailySummary: fecha starts within the order topic's retention",
	"n_ordenes<=n_sopaipillas": "summary: every order has at least one sopaipilla",
}

// verdict is judge.py's answer for one body.
type verdict struct {
	ID    int      `json:"id"`
	Valid bool     `json:"valid"`
	Why   string   `json:"why"`
	Rules []string `json:"rules"`
}

// TestDifferential judges every body of the corpus twice: by jsonschema
// (Python, JSON Schema 2020-12, format assertion on) against
// events/schemas, and by the code that takes it (newOrder's and
// dailySummary's handlers, sendMail's summary and cook report decoders).
// The verdicts must agree, except where a body breaks one of the named
// exceptions, which judge.py checks on its own.
func TestDifferential(t *testing.T) {
	py := python(t)
	root := repoRoot(t)
	bodies := corpus()
	if len(bodies) < 300 {
		t.Fatalf("corpus has %d bodies, want at least 300", len(bodies))
	}
	verdicts := judge(t, py, root, bodies, corpusToday, corpusOldest)
	judges := goJudges(t)
	var (
		disagree  []string
		explained = map[string]int{}
		perSchema = map[string][3]int{} // bodies, disagreements, accepted by the code
	)
	for i, b := range bodies {
		v, ok := verdicts[i]
		if !ok {
			t.Fatalf("judge.py gave no verdict for body %d", i)
		}
		goOK, goWhy := judges[b.Schema](b.Data)
		want := v.Valid && len(v.Rules) == 0
		n := perSchema[b.Schema]
		n[0]++
		if goOK {
			n[2]++
		}
		if goOK != want {
			n[1]++
			disagree = append(disagree, fmt.Sprintf("%s %q (%.80q): schema valid=%v rules=%v (%s); code accepts=%v (%s)",
				b.Schema, b.Name, b.Data, v.Valid, v.Rules, v.Why, goOK, goWhy))
		}
		perSchema[b.Schema] = n
		if v.Valid && !goOK {
			for _, r := range v.Rules {
				if _, named := exceptions[r]; !named {
					t.Errorf("judge.py names a rule %q that is not a named exception", r)
				}
				explained[r]++
			}
		}
	}
	names := make([]string, 0, len(perSchema))
	for s := range perSchema {
		names = append(names, s)
	}
	sort.Strings(names)
	var summary strings.Builder
	for _, s := range names {
		fmt.Fprintf(&summary, " %s %d of %d (%d accepted);", s, perSchema[s][1], perSchema[s][0], perSchema[s][2])
	}
	t.Logf("differential: %d bodies, %d disagreements (by schema:%s); named exceptions, where the schema alone accepts what the code refuses: %v",
		len(bodies), len(disagree), summary.String(), explained)
	for _, d := range disagree {
		t.Errorf("disagreement: %s", d)
	}
}

// judge has judge.py (jsonschema) judge bodies, with the differential
// clock's today and oldest day and, after them, judge.py's optional
// arguments (the OpenAPI document), and returns the verdicts by index.
func judge(t *testing.T, py, root string, bodies []body, args ...string) map[int]verdict {
	t.Helper()
	var in bytes.Buffer
	for i, b := range bodies {
		line, _ := json.Marshal(map[string]any{"id": i, "schema": b.Schema, "body": base64.StdEncoding.EncodeToString(b.Data)})
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command(py, append([]string{filepath.Join(root, "hack/python/judge.py"), filepath.Join(root, "events/schemas")}, args...)...)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("judge.py: %v\n%s", err, stderr.String())
	}
	verdicts := map[int]verdict{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var v verdict
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("judge.py answered %q: %v", line, err)
		}
		verdicts[v.ID] = v
	}
	return verdicts
}

// goJudges are the code's verdicts, by schema: accepted, or why not.
func goJudges(t *testing.T) map[string]func([]byte) (bool, string) {
	now, err := time.Parse(time.RFC3339, corpusNow)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	newOrder := neworder.New(nopPublisher{}, "order", time.Minute, func() time.Time { return now }, quiet).Handler()
	dailySummary := dailysummary.New(emptyLog{}, nopPublisher{}, dailysummary.Options{
		SummaryTopic: "summary", Location: loc, Retention: 72 * time.Hour, Timeout: time.Minute,
		Now: func() time.Time { return now },
	}, quiet).Handler()
	post := func(h http.Handler, path string, header http.Header) func([]byte) (bool, string) {
		return func(body []byte) (bool, string) {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header = header.Clone()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Errorf("%s answered %d for %.80q: %s", path, rec.Code, body, rec.Body)
			}
			return rec.Code < 300, fmt.Sprintf("%d %.200s", rec.Code, rec.Body)
		}
	}
	event := func(typ string, decode func(cloudevents.Event) error) func([]byte) (bool, string) {
		return func(body []byte) (bool, string) {
			e := cloudevents.NewEvent()
			e.SetType(typ)
			e.DataEncoded = body
			if err := decode(e); err != nil {
				return false, err.Error()
			}
			return true, ""
		}
	}
	return map[string]func([]byte) (bool, string){
		"order.json":           post(newOrder, "/newOrder", http.Header{"Content-Type": {"application/json"}}),
		"summary-request.json": post(dailySummary, "/dailySummary", http.Header{}),
		"summary.json": event(events.TypeSummaryCreated, func(e cloudevents.Event) error {
			_, err := events.SummaryFromEvent(e)
			return err
		}),
		"cookreport.json": event(events.TypeCookReportCreated, func(e cloudevents.Event) error {
			_, err := events.CookReportFromEvent(e)
			return err
		}),
	}
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, string, cloudevents.Event) error { return nil }

// emptyLog is an order topic without records.
type emptyLog struct{}

func (emptyLog) Scan(context.Context, time.Time, time.Time, func(int32, dailysummary.Expect) func(dailysummary.Record)) error {
	return nil
}
