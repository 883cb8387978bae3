package dailysummary

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

const (
	testSummaryTopic = "summary-test"
	testReportTopic  = "report-test"
	seedVendor       = "vendor_tarea2@yopmail.com"
	seedCook         = "asdasdasda@yopmail.com"
	// seedSummary is the seed's summary JSON, byte for byte.
	seedSummary = `{"ventas":{"vendor_tarea2@yopmail.com":{"n_sopaipillas":101,"n_ordenes":1}},"fecha":"13/11/2021"}`
)

func santiago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatalf("loading America/Santiago: %v", err)
	}
	return loc
}

// at parses an RFC 3339 instant.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// fakeLog is an order topic in memory. Scan hands each partition's records,
// all of them, to the visitor in offset order, as KafkaLog does.
type fakeLog struct {
	mu      sync.Mutex
	records []Record
	err     error
	scans   [][2]time.Time // the windows asked for
}

func (l *fakeLog) Scan(ctx context.Context, from, to time.Time, visitor func(partition int32, expect Expect) func(Record)) error {
	l.mu.Lock()
	l.scans = append(l.scans, [2]time.Time{from, to})
	l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	byPartition := map[int32][]Record{}
	for _, r := range l.records {
		byPartition[r.Partition] = append(byPartition[r.Partition], r)
	}
	partitions := make([]int32, 0, len(byPartition))
	for p := range byPartition {
		partitions = append(partitions, p)
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i] < partitions[j] })
	for _, p := range partitions {
		rs := byPartition[p]
		sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
		visit := visitor(p, Expect{Day: len(rs)})
		if visit == nil {
			continue
		}
		for _, r := range rs {
			visit(r)
		}
	}
	return nil
}

func (l *fakeLog) Scans() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.scans)
}

// fakePublisher records the events it acknowledged, or fails with err.
type fakePublisher struct {
	mu     sync.Mutex
	err    error
	sent   []cloudevents.Event
	topics []string
}

func (p *fakePublisher) Publish(ctx context.Context, topic string, e cloudevents.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.sent = append(p.sent, e.Clone())
	p.topics = append(p.topics, topic)
	return nil
}

// Sent returns the summary events acknowledged.
func (p *fakePublisher) Sent() []cloudevents.Event { return p.ofType(events.TypeSummaryCreated) }

// VendorReports returns the vendor report events acknowledged.
func (p *fakePublisher) VendorReports() []cloudevents.Event {
	return p.ofType(events.TypeVendorReportCreated)
}

// topicsOf returns the topics events of typ were published to.
func (p *fakePublisher) topicsOf(typ string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for i, e := range p.sent {
		if e.Type() == typ {
			out[p.topics[i]]++
		}
	}
	return out
}

// CookReports returns the cook report events acknowledged.
func (p *fakePublisher) CookReports() []cloudevents.Event {
	return p.ofType(events.TypeCookReportCreated)
}

func (p *fakePublisher) ofType(typ string) []cloudevents.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []cloudevents.Event
	for _, e := range p.sent {
		if e.Type() == typ {
			out = append(out, e)
		}
	}
	return out
}

// topic builds the records of an order topic with three partitions; each
// order goes to partition order_id % 3, offsets in the order given.
type topic struct {
	t       *testing.T
	records []Record
	next    map[int32]int64
}

func newTopic(t *testing.T) *topic { return &topic{t: t, next: map[int32]int64{}} }

func (tp *topic) put(p int32, ts time.Time, e *cloudevents.Event) *topic {
	tp.records = append(tp.records, Record{Partition: p, Offset: tp.next[p], Timestamp: ts, Event: e})
	tp.next[p]++
	return tp
}

// order appends an order accepted at ts, as newOrder publishes it.
func (tp *topic) order(ts string, id int64, vendor string, n int64) *topic {
	tp.t.Helper()
	return tp.cooked(ts, id, vendor, seedCook, n)
}

// cooked appends an order for cook.
func (tp *topic) cooked(ts string, id int64, vendor, cook string, n int64) *topic {
	tp.t.Helper()
	accepted := at(tp.t, ts)
	e, err := events.NewOrderEvent(events.Order{OrderID: id, EmailVendedor: vendor, EmailCocinero: cook, NumeroSopaipillas: n}, accepted)
	if err != nil {
		tp.t.Fatal(err)
	}
	return tp.put(int32(id%3), accepted, &e)
}

// poison appends a record that is not a valid order event.
func (tp *topic) poison(ts string, p int32, e *cloudevents.Event) *topic {
	tp.t.Helper()
	return tp.put(p, at(tp.t, ts), e)
}

func rawEvent(typ, data string) *cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("poison")
	e.SetSource("/somebody")
	e.SetType(typ)
	if data != "" {
		e.SetDataContentType(cloudevents.ApplicationJSON)
		e.DataEncoded = []byte(data)
	}
	return &e
}

type fixture struct {
	log *fakeLog
	pub *fakePublisher
	srv *httptest.Server
}

func newFixture(t *testing.T, now time.Time, token string, records []Record) *fixture {
	t.Helper()
	fx := &fixture{log: &fakeLog{records: records}, pub: &fakePublisher{}}
	f := New(fx.log, fx.pub, Options{
		SummaryTopic: testSummaryTopic,
		ReportTopic:  testReportTopic,
		Location:     santiago(t),
		Retention:    72 * time.Hour,
		Timeout:      time.Minute,
		Token:        token,
		Now:          func() time.Time { return now },
	}, slog.New(slog.DiscardHandler))
	fx.srv = httptest.NewServer(f.Handler())
	t.Cleanup(fx.srv.Close)
	return fx
}

func (fx *fixture) post(t *testing.T, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fx.srv.URL+"/dailySummary", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	res, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /dailySummary: %v", err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, got
}

// pingHeader is a PingSource's binary-mode event without data.
func pingHeader() http.Header {
	return http.Header{
		"Ce-Specversion": {"1.0"}, "Ce-Id": {"ping-1"}, "Ce-Source": {"/apis/v1/namespaces/default/pingsources/daily"},
		"Ce-Type": {events.TypePing},
	}
}

func fecha(d string) []byte { return []byte(`{"fecha":"` + d + `"}`) }

// now13 is the morning after 13/11/2021 in Santiago: both 12/11 and 13/11
// are within retention.
const now13 = "2021-11-14T09:00:00-03:00"

func TestSummaries(t *testing.T) {
	tests := []struct {
		name      string         // what the case shows
		now       string         // the clock
		records   func(*topic)   // the order topic
		body      string         // request body
		want      string         // data of the published summary, byte for byte
		read      int            // orders_read answered: the day's order records
		skipped   int            // skipped_records answered
		byReason  map[string]int // skipped_records_by_reason answered
		conflicts []Conflict     // conflicts answered
	}{{
		name:    "seed example",
		records: func(tp *topic) { tp.order("2021-11-13T15:04:05-03:00", 3, seedVendor, 101) },
		body:    `{"fecha": "13/11/2021"}`,
		want:    seedSummary,
		read:    1,
	}, {
		name:    "empty day",
		records: func(tp *topic) {},
		body:    `{"fecha":"13/11/2021"}`,
		want:    `{"ventas":{},"fecha":"13/11/2021"}`,
	}, {
		name: "two days, first",
		records: func(tp *topic) {
			tp.order("2021-11-12T10:00:00-03:00", 1, "a@b.cl", 10).order("2021-11-12T11:00:00-03:00", 2, "c@d.cl", 20)
			tp.order("2021-11-13T10:00:00-03:00", 3, "a@b.cl", 7)
		},
		body: `{"fecha":"12/11/2021"}`,
		want: `{"ventas":{"a@b.cl":{"n_sopaipillas":10,"n_ordenes":1},"c@d.cl":{"n_sopaipillas":20,"n_ordenes":1}},"fecha":"12/11/2021"}`,
		read: 2,
	}, {
		name: "two days, second",
		records: func(tp *topic) {
			tp.order("2021-11-12T10:00:00-03:00", 1, "a@b.cl", 10).order("2021-11-12T11:00:00-03:00", 2, "c@d.cl", 20)
			tp.order("2021-11-13T10:00:00-03:00", 3, "a@b.cl", 7)
		},
		body: `{"fecha":"13/11/2021"}`,
		want: `{"ventas":{"a@b.cl":{"n_sopaipillas":7,"n_ordenes":1}},"fecha":"13/11/2021"}`,
		read: 1,
	}, {
		name: "one vendor, many orders across partitions",
		records: func(tp *topic) {
			for id := int64(1); id <= 9; id++ {
				tp.order("2021-11-13T12:00:00-03:00", id, seedVendor, id)
			}
		},
		body: `{"fecha":"13/11/2021"}`,
		want: `{"ventas":{"vendor_tarea2@yopmail.com":{"n_sopaipillas":45,"n_ordenes":9}},"fecha":"13/11/2021"}`,
		read: 9,
	}, {
		name: "retried order, same body, counted once",
		records: func(tp *topic) {
			tp.order("2021-11-13T15:00:00-03:00", 3, seedVendor, 101).order("2021-11-13T15:00:02-03:00", 3, seedVendor, 101)
		},
		body: `{"fecha":"13/11/2021"}`,
		want: seedSummary,
		read: 2,
	}, {
		name: "conflicting second version not counted, reported",
		records: func(tp *topic) {
			tp.order("2021-11-13T15:00:00-03:00", 3, seedVendor, 101).order("2021-11-13T16:00:00-03:00", 3, seedVendor, 5)
		},
		body:      `{"fecha":"13/11/2021"}`,
		want:      seedSummary,
		read:      2,
		conflicts: []Conflict{{OrderID: 3, EventID: "order-3", Partition: 0, Offset: 1, EmailVendedor: seedVendor, NumeroSopaipillas: 5, Counted: dayread.CountedVersion{Partition: 0, EmailVendedor: seedVendor, NumeroSopaipillas: 101}, Reason: dayread.ReasonLaterInPartition}},
	}, {
		name: "retry across midnight belongs to the first day",
		records: func(tp *topic) {
			tp.order("2021-11-12T23:59:59-03:00", 3, seedVendor, 101).order("2021-11-13T00:00:05-03:00", 3, seedVendor, 101)
		},
		body: `{"fecha":"13/11/2021"}`,
		want: `{"ventas":{},"fecha":"13/11/2021"}`,
		read: 1,
	}, {
		name: "retry across midnight, asked for the first day",
		records: func(tp *topic) {
			tp.order("2021-11-12T23:59:59-03:00", 3, seedVendor, 101).order("2021-11-13T00:00:05-03:00", 3, seedVendor, 101)
		},
		body: `{"fecha":"12/11/2021"}`,
		want: `{"ventas":{"vendor_tarea2@yopmail.com":{"n_sopaipillas":101,"n_ordenes":1}},"fecha":"12/11/2021"}`,
		read: 1,
	}, {
		name: "changed version after midnight is a conflict of the first day",
		records: func(tp *topic) {
			tp.order("2021-11-12T23:59:59-03:00", 3, seedVendor, 101).order("2021-11-13T00:00:05-03:00", 3, seedVendor, 7)
		},
		body:      `{"fecha":"12/11/2021"}`,
		want:      `{"ventas":{"vendor_tarea2@yopmail.com":{"n_sopaipillas":101,"n_ordenes":1}},"fecha":"12/11/2021"}`,
		read:      1,
		conflicts: []Conflict{{OrderID: 3, EventID: "order-3", Partition: 0, Offset: 1, EmailVendedor: seedVendor, NumeroSopaipillas: 7, Counted: dayread.CountedVersion{Partition: 0, EmailVendedor: seedVendor, NumeroSopaipillas: 101}, Reason: dayread.ReasonLaterInPartition}},
	}, {
		name: "changed version after midnight: nothing in the next day",
		records: func(tp *topic) {
			tp.order("2021-11-12T23:59:59-03:00", 3, seedVendor, 101).order("2021-11-13T00:00:05-03:00", 3, seedVendor, 7)
		},
		body: `{"fecha":"13/11/2021"}`,
		want: `{"ventas":{},"fecha":"13/11/2021"}`,
		read: 1,
	}, {
		name: "first and last instants of the day; the next day's first is not counted",
		records: func(tp *topic) {
			tp.order("2021-11-12T23:59:59.999-03:00", 1, "antes@b.cl", 1)
			tp.order("2021-11-13T00:00:00-03:00", 2, "a@b.cl", 2)
			tp.order("2021-11-13T23:59:59.999-03:00", 4, "a@b.cl", 3)
			tp.order("2021-11-14T00:00:00-03:00", 5, "despues@b.cl", 4)
			tp.order("2021-11-14T00:00:30-03:00", 6, "despues@b.cl", 5)
		},
		body: `{"fecha":"13/11/2021"}`,
		want: `{"ventas":{"a@b.cl":{"n_sopaipillas":5,"n_ordenes":2}},"fecha":"13/11/2021"}`,
		read: 2,
	}, {
		name: "poison records skipped and counted",
		records: func(tp *topic) {
			tp.poison("2021-11-13T09:00:00-03:00", 0, nil)
			tp.poison("2021-11-13T09:00:01-03:00", 1, rawEvent(events.TypeSummaryCreated, seedSummary))
			tp.poison("2021-11-13T09:00:02-03:00", 2, rawEvent(events.TypeOrderCreated, `{"order_id":"tres"}`))
			tp.poison("2021-11-13T09:00:03-03:00", 0, rawEvent(events.TypeOrderCreated, `{"order_id":4,`))
			tp.poison("2021-11-13T09:00:04-03:00", 1, rawEvent(events.TypeOrderCreated, ""))
			tp.poison("2021-11-13T09:00:05-03:00", 2, rawEvent(events.TypeOrderCreated, `{"order_id":5,"email_vendedor":"a@b.cl\r\nBcc: x@y.cl","email_cocinero":"c@d.cl","numero_sopaipillas":1}`))
			tp.order("2021-11-13T15:04:05-03:00", 3, seedVendor, 101)
		},
		body:     `{"fecha":"13/11/2021"}`,
		want:     seedSummary,
		read:     1,
		skipped:  6,
		byReason: map[string]int{SkipNotAnOrder: 1, SkipOtherEventType: 1, SkipInvalidOrder: 4},
	}, {
		name: "25-hour day when clocks go back at midnight",
		now:  "2025-04-06T12:00:00-04:00",
		records: func(tp *topic) {
			tp.order("2025-04-05T00:00:00-03:00", 1, "a@b.cl", 1)
			tp.order("2025-04-05T23:30:00-03:00", 2, "a@b.cl", 2)
			tp.order("2025-04-05T23:30:00-04:00", 4, "a@b.cl", 4) // the repeated hour
			tp.order("2025-04-06T00:00:00-04:00", 5, "next@b.cl", 8)
		},
		body: `{"fecha":"05/04/2025"}`,
		want: `{"ventas":{"a@b.cl":{"n_sopaipillas":7,"n_ordenes":3}},"fecha":"05/04/2025"}`,
		read: 3,
	}, {
		name: "23-hour day when midnight is skipped",
		now:  "2025-09-08T12:00:00-03:00",
		records: func(tp *topic) {
			tp.order("2025-09-06T23:59:59-04:00", 1, "before@b.cl", 1)
			tp.order("2025-09-07T01:00:00-03:00", 2, "a@b.cl", 2)
			tp.order("2025-09-07T23:59:59-03:00", 4, "a@b.cl", 4)
			tp.order("2025-09-08T00:00:00-03:00", 5, "next@b.cl", 8)
		},
		body: `{"fecha":"07/09/2025"}`,
		want: `{"ventas":{"a@b.cl":{"n_sopaipillas":6,"n_ordenes":2}},"fecha":"07/09/2025"}`,
		read: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := now13
			if tt.now != "" {
				now = tt.now
			}
			tp := newTopic(t)
			tt.records(tp)
			fx := newFixture(t, at(t, now), "", tp.records)

			status, header, body := fx.post(t, http.Header{"Content-Type": {"application/json"}}, []byte(tt.body))

			if status != http.StatusOK {
				t.Fatalf("status %d, body %s; want 200", status, body)
			}
			if got := header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			sent := fx.pub.Sent()
			if len(sent) != 1 {
				t.Fatalf("%d summaries published, want 1", len(sent))
			}
			e := sent[0]
			var want events.Summary
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			wantID, err := events.SummaryEventID(want)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{fx.pub.topics[0], e.ID(), e.Type(), e.Source(), e.Subject(), e.DataContentType(), string(e.Data())}
			wantAttrs := []string{testSummaryTopic, wantID, events.TypeSummaryCreated, events.SourceDailySummary, want.Fecha, "application/json", tt.want}
			if diff := cmp.Diff(wantAttrs, got); diff != "" {
				t.Errorf("published [topic id type source subject datacontenttype data] (-want, +got):\n%s", diff)
			}

			var res Response
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("answer %s: %v", body, err)
			}
			wantConflicts := tt.conflicts
			if wantConflicts == nil {
				wantConflicts = []Conflict{}
			}
			wantReasons := tt.byReason
			if wantReasons == nil {
				wantReasons = map[string]int{}
			}
			wantRes := Response{Response: Generated, Summary: want, EventID: wantID, OrdersRead: tt.read, SkippedRecords: tt.skipped, SkippedByReason: wantReasons, Conflicts: wantConflicts, ConflictsTotal: len(wantConflicts)}
			// The day asked is over: final, counted up to its end. The
			// cook report is checked in TestCookReport.
			d, _ := events.ParseDate(want.Fecha)
			_, dayEnd := d.Bounds(santiago(t))
			wantRes.ReportStatus, wantRes.CountedUntil = events.StatusFinal, dayEnd.UTC()
			if diff := cmp.Diff(wantRes, res, cmpopts.IgnoreFields(Response{}, "CookReports", "CookReportEventIDs", "VendorReportEventIDs")); diff != "" {
				t.Errorf("answer (-want, +got):\n%s", diff)
			}
			if !strings.Contains(string(body), `"summary":`+tt.want) {
				t.Errorf("answer %s does not carry the summary %s as published", body, tt.want)
			}

			// The day the tally is sized for.
			start, end := d.Bounds(santiago(t))
			if diff := cmp.Diff([][2]time.Time{{start, end}}, fx.log.scans); diff != "" {
				t.Errorf("windows scanned (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestSummaryEventIDChangesWithContent(t *testing.T) {
	tp := newTopic(t).order("2021-11-13T15:04:05-03:00", 3, seedVendor, 101)
	fx := newFixture(t, at(t, now13), "", tp.records)
	for range 2 {
		if status, _, body := fx.post(t, nil, fecha("13/11/2021")); status != http.StatusOK {
			t.Fatalf("status %d, body %s", status, body)
		}
	}
	fx.log.records = append(fx.log.records, newTopic(t).order("2021-11-13T16:00:00-03:00", 4, seedVendor, 1).records[0])
	if status, _, body := fx.post(t, nil, fecha("13/11/2021")); status != http.StatusOK {
		t.Fatalf("status %d, body %s", status, body)
	}
	sent := fx.pub.Sent()
	if len(sent) != 3 {
		t.Fatalf("%d summaries published, want 3", len(sent))
	}
	if sent[0].ID() != sent[1].ID() {
		t.Errorf("same summary twice: ids %q and %q differ", sent[0].ID(), sent[1].ID())
	}
	if sent[1].ID() == sent[2].ID() {
		t.Errorf("a changed summary kept id %q", sent[1].ID())
	}
}

func TestTriggers(t *testing.T) {
	now := "2025-11-14T10:00:00-03:00"
	tests := []struct {
		name   string      // how the trigger arrives
		token  string      // SUMMARY_TOKEN
		header http.Header // request headers
		body   string      // request body
		want   string      // the fecha summarized
	}{
		{name: "seed's curl: no body, no content type", header: http.Header{}, want: "14/11/2025"},
		{name: "empty object", header: http.Header{"Content-Type": {"application/json"}}, body: `{}`, want: "14/11/2025"},
		{name: "day as text/plain", header: http.Header{"Content-Type": {"text/plain"}}, body: `{"fecha":"13/11/2025"}`, want: "13/11/2025"},
		{name: "oldest day within retention", header: http.Header{}, body: `{"fecha":"12/11/2025"}`, want: "12/11/2025"},
		{name: "today", header: http.Header{}, body: `{"fecha":"14/11/2025"}`, want: "14/11/2025"},
		{name: "PingSource closes yesterday", header: pingHeader(), want: "13/11/2025"},
		{name: "PingSource with empty object", header: func() http.Header { h := pingHeader(); h.Set("Content-Type", "application/json"); return h }(), body: `{}`, want: "13/11/2025"},
		{name: "structured ping", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: `{"specversion":"1.0","id":"p","source":"/ping","type":"dev.knative.sources.ping"}`, want: "13/11/2025"},
		{name: "token right", token: "s3cret", header: http.Header{"Authorization": {"Bearer s3cret"}}, body: `{"fecha":"13/11/2025"}`, want: "13/11/2025"},
		{name: "token right, no day", token: "s3cret", header: http.Header{"Authorization": {"Bearer s3cret"}}, want: "14/11/2025"},
		{name: "ping without token", token: "s3cret", header: pingHeader(), want: "13/11/2025"},
		{name: "ping naming its day, with token", token: "s3cret", header: func() http.Header {
			h := pingHeader()
			h.Set("Content-Type", "application/json")
			h.Set("Authorization", "Bearer s3cret")
			return h
		}(), body: `{"fecha":"12/11/2025"}`, want: "12/11/2025"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, at(t, now), tt.token, nil)

			status, _, body := fx.post(t, tt.header, []byte(tt.body))

			if status != http.StatusOK {
				t.Fatalf("status %d, body %s; want 200", status, body)
			}
			sent := fx.pub.Sent()
			if len(sent) != 1 {
				t.Fatalf("%d summaries published, want 1", len(sent))
			}
			if diff := cmp.Diff(`{"ventas":{},"fecha":"`+tt.want+`"}`, string(sent[0].Data())); diff != "" {
				t.Errorf("summary (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name   string // what fails
		logErr error  // OrderLog.Scan error
		pubErr error  // Publisher.Publish error
		scans  int    // scans expected
	}{
		{name: "order topic cannot be read", logErr: errors.New("kafka: partition 2 offline"), scans: 1},
		{name: "summary not acknowledged", pubErr: errors.New("kafka: NOT_ENOUGH_REPLICAS"), scans: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopic(t).order("2021-11-13T15:04:05-03:00", 3, seedVendor, 101)
			fx := newFixture(t, at(t, now13), "", tp.records)
			fx.log.err = tt.logErr
			fx.pub.err = tt.pubErr

			status, header, body := fx.post(t, nil, fecha("13/11/2021"))

			got := []string{http.StatusText(status), header.Get("Content-Type"), header.Get("Retry-After")}
			want := []string{http.StatusText(http.StatusServiceUnavailable), problem.ContentType, "5"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("[status Content-Type Retry-After] (-want, +got):\n%s", diff)
			}
			if strings.Contains(string(body), "kafka:") {
				t.Errorf("answer leaks the broker's error: %s", body)
			}
			if n := len(fx.pub.Sent()); n != 0 {
				t.Errorf("%d summaries published, want 0", n)
			}
			if n := fx.log.Scans(); n != tt.scans {
				t.Errorf("%d scans, want %d", n, tt.scans)
			}
		})
	}
}

func TestHostileRequests(t *testing.T) {
	now := at(t, "2025-11-14T10:00:00-03:00")
	ping := func(contentType, body string, drop ...string) (http.Header, string) {
		h := pingHeader()
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		for _, d := range drop {
			h.Del(d)
		}
		return h, body
	}
	type req struct {
		header http.Header
		body   string
	}
	plain := func(body string) req {
		return req{header: http.Header{"Content-Type": {"application/json"}}, body: body}
	}
	pingReq := func(contentType, body string, drop ...string) req {
		h, b := ping(contentType, body, drop...)
		return req{header: h, body: b}
	}
	tests := []struct {
		name   string   // what is wrong
		token  string   // SUMMARY_TOKEN
		req    req      // the request
		status int      // the 4xx expected
		fields []string // errors[].field of the problem body
	}{
		{name: "seed's day, outside retention", req: plain(`{"fecha":"13/11/2021"}`), status: 422, fields: []string{"fecha"}},
		{name: "first day past retention", req: plain(`{"fecha":"11/11/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "tomorrow", req: plain(`{"fecha":"15/11/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "next year", req: plain(`{"fecha":"14/11/2026"}`), status: 422, fields: []string{"fecha"}},
		{name: "31/02/2025", req: plain(`{"fecha":"31/02/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "29/02/2025", req: plain(`{"fecha":"29/02/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "ISO date", req: plain(`{"fecha":"2025-11-13"}`), status: 422, fields: []string{"fecha"}},
		{name: "single digits", req: plain(`{"fecha":"1/1/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "two-digit year", req: plain(`{"fecha":"13/11/25"}`), status: 422, fields: []string{"fecha"}},
		{name: "US order", req: plain(`{"fecha":"11/13/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "date and time", req: plain(`{"fecha":"13/11/2025T00:00"}`), status: 422, fields: []string{"fecha"}},
		{name: "empty fecha", req: plain(`{"fecha":""}`), status: 422, fields: []string{"fecha"}},
		{name: "null fecha", req: plain(`{"fecha":null}`), status: 422, fields: []string{"fecha"}},
		{name: "fecha as number", req: plain(`{"fecha":13112025}`), status: 422, fields: []string{"fecha"}},
		{name: "fecha beyond 2^63", req: plain(`{"fecha":92233720368547758080}`), status: 422, fields: []string{"fecha"}},
		{name: "fecha as array", req: plain(`{"fecha":["13/11/2025"]}`), status: 422, fields: []string{"fecha"}},
		{name: "fecha as object", req: plain(`{"fecha":{"dia":13}}`), status: 422, fields: []string{"fecha"}},
		{name: "fecha deeply nested, under the limit", req: plain(`{"fecha":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`), status: 422, fields: []string{"fecha"}},
		{name: "unknown field", req: plain(`{"fecha":"13/11/2025","vendedor":"a@b.cl"}`), status: 422, fields: []string{"vendedor"}},
		{name: "mistyped fecha", req: plain(`{"date":"13/11/2025"}`), status: 422, fields: []string{"date"}},
		{name: "invalid JSON", req: plain(`{"fecha":"13/11/2025"`), status: 400, fields: []string{""}},
		{name: "form body", req: plain(`fecha=13/11/2025`), status: 400, fields: []string{""}},
		{name: "array body", req: plain(`["13/11/2025"]`), status: 400, fields: []string{""}},
		{name: "duplicate fecha", req: plain(`{"fecha":"13/11/2025","fecha":"11/11/2020"}`), status: 400, fields: []string{"fecha"}},
		{name: "invalid UTF-8", req: plain("{\"fecha\":\"13/11/2025\xff\"}"), status: 400, fields: []string{""}},
		{name: "5 KB body", req: plain(`{"fecha":"` + strings.Repeat("1", 5<<10) + `"}`), status: 413, fields: []string{""}},
		{name: "10 MB body", req: plain(strings.Repeat(" ", 10<<20)), status: 413, fields: []string{""}},
		{name: "100000 nested arrays", req: plain(`{"fecha":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`), status: 413, fields: []string{""}},
		{name: "CloudEvent of another type", req: req{header: func() http.Header { h := pingHeader(); h.Set("Ce-Type", events.TypeOrderCreated); return h }()}, status: 422, fields: []string{"type"}},
		{name: "CloudEvent without id", req: pingReq("", "", "Ce-Id"), status: 400, fields: []string{"cloudevent"}},
		{name: "CloudEvent without source", req: pingReq("", "", "Ce-Source"), status: 400, fields: []string{"cloudevent"}},
		{name: "CloudEvent without type", req: pingReq("", "", "Ce-Type"), status: 400, fields: []string{"cloudevent"}},
		{name: "structured CloudEvent without id", req: req{header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: `{"specversion":"1.0","source":"/ping","type":"dev.knative.sources.ping"}`}, status: 400, fields: []string{"cloudevent"}},
		{name: "structured CloudEvent not JSON", req: req{header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: `{"specversion":`}, status: 400, fields: []string{"cloudevent"}},
		{name: "ping with a day that does not exist", req: pingReq("application/json", `{"fecha":"31/02/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "ping with a future day", req: pingReq("application/json", `{"fecha":"15/11/2025"}`), status: 422, fields: []string{"fecha"}},
		{name: "ping with data not JSON", req: pingReq("application/json", `fecha`), status: 400, fields: []string{""}},
		{name: "ping with a 10 MB body", req: pingReq("application/json", strings.Repeat(" ", 10<<20)), status: 413, fields: []string{""}},
		{name: "token missing", token: "s3cret", req: plain(`{"fecha":"13/11/2025"}`), status: 401, fields: []string{"Authorization"}},
		{name: "token wrong", token: "s3cret", req: req{header: http.Header{"Authorization": {"Bearer s3cre"}}, body: `{}`}, status: 401, fields: []string{"Authorization"}},
		{name: "token without Bearer", token: "s3cret", req: req{header: http.Header{"Authorization": {"s3cret"}}}, status: 401, fields: []string{"Authorization"}},
		{name: "token as basic auth", token: "s3cret", req: req{header: http.Header{"Authorization": {"Basic czNjcmV0"}}}, status: 401, fields: []string{"Authorization"}},
		{name: "ping naming its day without token", token: "s3cret", req: pingReq("application/json", `{"fecha":"12/11/2025"}`), status: 401, fields: []string{"Authorization"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, now, tt.token, newTopic(t).order("2025-11-13T12:00:00-03:00", 3, seedVendor, 101).records)

			status, header, body := fx.post(t, tt.req.header, []byte(tt.req.body))

			if status != tt.status {
				t.Errorf("status %d, want %d; body %.300s", status, tt.status, body)
			}
			if got := header.Get("Content-Type"); got != problem.ContentType {
				t.Errorf("Content-Type %q, want %q", got, problem.ContentType)
			}
			var p problem.Details
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("problem body %.300s: %v", body, err)
			}
			got := make([]string, len(p.Errors))
			for i, e := range p.Errors {
				got[i] = e.Field
			}
			if diff := cmp.Diff(tt.fields, got); diff != "" {
				t.Errorf("errors[].field (-want, +got):\n%s\nbody %.300s", diff, body)
			}
			if status == http.StatusUnauthorized && header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if tt.token != "" && strings.Contains(string(body), tt.token) {
				t.Errorf("answer leaks the token: %s", body)
			}
			if n := len(fx.pub.Sent()); n != 0 {
				t.Errorf("%d summaries published, want 0", n)
			}
			if n := fx.log.Scans(); n != 0 {
				t.Errorf("order topic scanned %d times for a refused request", n)
			}

			// Still healthy: the same server summarizes a valid day.
			h := http.Header{}
			if tt.token != "" {
				h.Set("Authorization", "Bearer "+tt.token)
			}
			if status, _, body := fx.post(t, h, fecha("13/11/2025")); status != http.StatusOK {
				t.Fatalf("valid request after %q: status %d, body %s", tt.name, status, body)
			}
			if n := len(fx.pub.Sent()); n != 1 {
				t.Errorf("%d summaries published in all, want exactly 1", n)
			}
		})
	}
}

// TestCookReport: the cook report beside each summary counts the same
// orders by cook and vendor, with the same status; a day not over is
// partial, counted up to the request, and its ids differ from the final
// ones (README, "Partial and final reports").
func TestCookReport(t *testing.T) {
	records := newTopic(t).
		cooked("2021-11-13T10:00:00-03:00", 1, "ana@b.cl", "luis@c.cl", 10).
		cooked("2021-11-13T11:00:00-03:00", 2, "ana@b.cl", "LUIS@c.cl", 5).   // one cook, whatever the case
		cooked("2021-11-13T12:00:00-03:00", 3, "pedro@b.cl", "luis@c.cl", 7). // two vendors for luis
		cooked("2021-11-13T12:30:00-03:00", 4, "pedro@b.cl", "rosa@c.cl", 2).
		cooked("2021-11-13T12:31:00-03:00", 4, "pedro@b.cl", "rosa@c.cl", 2). // a retry
		cooked("2021-11-12T12:00:00-03:00", 5, "pedro@b.cl", "rosa@c.cl", 9). // the day before
		records
	wantCooks := events.CookDay{Fecha: "13/11/2021", Cocineros: map[string]events.CookSales{
		"luis@c.cl": {NSopaipillas: 22, NOrdenes: 3, Vendedores: map[string]events.Sales{"ana@b.cl": {NSopaipillas: 15, NOrdenes: 2}, "pedro@b.cl": {NSopaipillas: 7, NOrdenes: 1}}},
		"rosa@c.cl": {NSopaipillas: 2, NOrdenes: 1, Vendedores: map[string]events.Sales{"pedro@b.cl": {NSopaipillas: 2, NOrdenes: 1}}},
	}}
	tests := []struct {
		name       string
		now        string    // the clock
		wantStatus string    // report_status
		wantUntil  time.Time // counted_until
	}{
		{name: "during the day", now: "2021-11-13T14:32:00-03:00", wantStatus: events.StatusPartial, wantUntil: at(t, "2021-11-13T14:32:00-03:00")},
		{name: "the next morning", now: now13, wantStatus: events.StatusFinal, wantUntil: at(t, "2021-11-14T00:00:00-03:00")},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, at(t, tt.now), "", records)
			status, _, body := fx.post(t, nil, fecha("13/11/2021"))
			if status != http.StatusOK {
				t.Fatalf("status %d, body %s", status, body)
			}
			var res Response
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			summaries, cooks := fx.pub.Sent(), fx.pub.CookReports()
			if len(summaries) != 1 || len(cooks) != 2 {
				t.Fatalf("published %d summaries and %d cook reports, want 1 and 2", len(summaries), len(cooks))
			}
			got := events.NewCookDay(events.Date{Year: 2021, Month: 11, Day: 13})
			var cookIDs []string
			for _, e := range cooks {
				r, err := events.CookReportFromEvent(e)
				if err != nil {
					t.Fatal(err)
				}
				for v, s := range r.Vendedores {
					got.Add(r.Cocinero, v, s)
				}
				cookIDs = append(cookIDs, e.ID())
			}
			if d := cmp.Diff(wantCooks, got); d != "" {
				t.Errorf("cook reports published (-want, +got):\n%s", d)
			}
			if d := cmp.Diff(wantCooks, res.CookReports); d != "" {
				t.Errorf("cook reports answered (-want, +got):\n%s", d)
			}
			sort.Strings(cookIDs)
			answered := append([]string(nil), res.CookReportEventIDs...)
			sort.Strings(answered)
			if d := cmp.Diff(cookIDs, answered); d != "" {
				t.Errorf("cook report ids answered (-published, +answered):\n%s", d)
			}
			for _, e := range append([]cloudevents.Event{summaries[0]}, cooks...) {
				meta, err := events.ReportMetaOf(e)
				if err != nil {
					t.Fatal(err)
				}
				want := events.ReportMeta{Status: tt.wantStatus, CountedUntil: tt.wantUntil.UTC(), Computed: at(t, tt.now).UTC()}
				if d := cmp.Diff(want, meta); d != "" {
					t.Errorf("%s meta (-want, +got):\n%s", e.Type(), d)
				}
				if ids[e.ID()] {
					t.Errorf("%s id %s already used by the other status", e.Type(), e.ID())
				}
				ids[e.ID()] = true
			}
			if res.ReportStatus != tt.wantStatus || !res.CountedUntil.Equal(tt.wantUntil) {
				t.Errorf("answered status %q until %s; want %q until %s", res.ReportStatus, res.CountedUntil, tt.wantStatus, tt.wantUntil)
			}
		})
	}
}

// TestOtherMethods checks that every path answers a method it does not
// serve with 405, Allow and a problem, and an unknown path with 404,
// without reading the topic.
func TestOtherMethods(t *testing.T) {
	fx := newFixture(t, at(t, now13), "", nil)
	tests := []struct {
		method, path string // the request
		status       int    // the answer
		allow        string // its Allow header
	}{
		{method: http.MethodGet, path: "/dailySummary", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodHead, path: "/dailySummary", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodPut, path: "/dailySummary", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodDelete, path: "/", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodGet, path: "/", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodPost, path: "/newOrder", status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, fx.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := fx.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var p problem.Details
			if tt.method != http.MethodHead {
				if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
					t.Fatalf("problem body: %v", err)
				}
			} else {
				p.Status = tt.status
			}
			got := []any{res.StatusCode, res.Header.Get("Allow"), res.Header.Get("Content-Type"), p.Status}
			want := []any{tt.status, tt.allow, problem.ContentType, tt.status}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status, Allow, Content-Type, problem status (-want, +got):\n%s", diff)
			}
		})
	}
	if n := len(fx.pub.Sent()); n != 0 {
		t.Errorf("%d events published, want 0", n)
	}
}

// TestVendorReports: the summary goes to the summary topic alone; cook and
// vendor reports to the report topic. The vendor reports list each vendor's
// counted orders in time order and the versions of theirs that did not
// count, as computed here from the records written.
func TestVendorReports(t *testing.T) {
	type sent struct {
		ts     string
		id     int64
		vendor string
		n      int64
	}
	written := []sent{
		{"2021-11-13T12:00:00-03:00", 3, "ana@b.cl", 15},
		{"2021-11-13T10:15:04-03:00", 6, "ana@b.cl", 86},
		{"2021-11-13T10:15:04-03:00", 9, "ana@b.cl", 1}, // the same second: by order_id
		{"2021-11-13T11:00:00-03:00", 4, "pedro@b.cl", 20},
		{"2021-11-13T11:30:00-03:00", 4, "ana@b.cl", 10}, // order 4 again, another body: not counted
		{"2021-11-13T11:31:00-03:00", 3, "ana@b.cl", 15}, // a retry
		{"2021-11-12T23:00:00-03:00", 5, "ana@b.cl", 2},  // the day before
	}
	tp := newTopic(t)
	for _, w := range written {
		tp.order(w.ts, w.id, w.vendor, w.n)
	}
	// What counts, by hand from the list above: the first version of each
	// order_id stamped in the day; order 4's second version is ana's
	// uncounted one, and what counted is pedro's 20 (listed, so known).
	loc := santiago(t)
	hora := func(ts string) string { return at(t, ts).In(loc).Format(time.RFC3339) }
	want := events.VendorReport{Fecha: "13/11/2021", Vendedores: map[string]events.VendorOrders{
		"ana@b.cl": {NSopaipillas: 15 + 86 + 1, NOrdenes: 3, Ordenes: []events.ListedOrder{
			{OrderID: 6, Hora: hora(written[1].ts), NumeroSopaipillas: 86},
			{OrderID: 9, Hora: hora(written[2].ts), NumeroSopaipillas: 1},
			{OrderID: 3, Hora: hora(written[0].ts), NumeroSopaipillas: 15},
		}, NoContadas: []events.UncountedOrder{
			{OrderID: 4, NumeroSopaipillas: 10, Motivo: events.ReasonLaterInPartition, Contada: &events.CountedOrder{EmailVendedor: "pedro@b.cl", NumeroSopaipillas: 20}},
		}},
		"pedro@b.cl": {NSopaipillas: 20, NOrdenes: 1, Ordenes: []events.ListedOrder{{OrderID: 4, Hora: hora(written[3].ts), NumeroSopaipillas: 20}}, NoContadas: []events.UncountedOrder{}},
	}}
	fx := newFixture(t, at(t, now13), "", tp.records)
	status, _, body := fx.post(t, nil, fecha("13/11/2021"))
	if status != http.StatusOK {
		t.Fatalf("status %d, body %s", status, body)
	}
	var res Response
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	for typ, topic := range map[string]string{events.TypeSummaryCreated: testSummaryTopic, events.TypeCookReportCreated: testReportTopic, events.TypeVendorReportCreated: testReportTopic} {
		if got := fx.pub.topicsOf(typ); len(got) != 1 || got[topic] == 0 {
			t.Errorf("%s published to %v, want %s only", typ, got, topic)
		}
	}
	vendors := fx.pub.VendorReports()
	if len(vendors) != 1 {
		t.Fatalf("%d vendor report events, want 1", len(vendors))
	}
	got, err := events.VendorReportFromEvent(vendors[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("vendor report (-want, +got):\n%s", d)
	}
	if d := cmp.Diff([]string{vendors[0].ID()}, res.VendorReportEventIDs); d != "" {
		t.Errorf("vendor report ids answered (-published, +answered):\n%s", d)
	}
	if meta, err := events.ReportMetaOf(vendors[0]); err != nil || meta.Status != events.StatusFinal || vendors[0].Subject() != "13/11/2021" {
		t.Errorf("vendor report meta %+v, %v, subject %q", meta, err, vendors[0].Subject())
	}
}

// TestVendorReportPartsInOrder: a day whose vendor report takes several
// events (each part encoded and sent in its own goroutine) answers their
// ids in the parts' order: the order events.NewVendorReportEvents gives the
// whole report, rebuilt here from the parts published.
func TestVendorReportPartsInOrder(t *testing.T) {
	tp := newTopic(t)
	for i := range 6000 {
		ts := fmt.Sprintf("2021-11-13T%02d:%02d:%02d-03:00", 8+i/3600, i/60%60, i%60)
		tp.order(ts, int64(i+1), fmt.Sprintf("vendor%03d@b.cl", i%600), int64(1+i%50))
	}
	fx := newFixture(t, at(t, now13), "", tp.records)
	status, _, body := fx.post(t, nil, fecha("13/11/2021"))
	if status != http.StatusOK {
		t.Fatalf("status %d, body %s", status, body)
	}
	var res Response
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	parts := fx.pub.VendorReports()
	if len(parts) < 2 {
		t.Fatalf("%d vendor report events, want a report split in several", len(parts))
	}
	whole := events.VendorReport{Fecha: "13/11/2021", Vendedores: map[string]events.VendorOrders{}}
	for _, e := range parts {
		p, err := events.VendorReportFromEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(whole.Vendedores, p.Vendedores)
	}
	if len(whole.Vendedores) != 600 {
		t.Fatalf("%d vendors in the parts, want 600", len(whole.Vendedores))
	}
	meta, err := events.ReportMetaOf(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	want, err := events.NewVendorReportEvents(whole, meta)
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs []string
	for _, e := range want {
		wantIDs = append(wantIDs, e.ID())
	}
	if d := cmp.Diff(wantIDs, res.VendorReportEventIDs); d != "" {
		t.Errorf("vendor report ids answered (-in the parts' order, +answered):\n%s", d)
	}
}

// TestReportTopicSetting: REPORT_TOPIC is checked at start, naming it.
func TestReportTopicSetting(t *testing.T) {
	for _, tt := range []struct{ report, want string }{
		{"report", ""},
		{"", "REPORT_TOPIC must not be empty"},
		{"summary", "REPORT_TOPIC must differ from SUMMARY_TOPIC"},
		{"order", "REPORT_TOPIC must differ from ORDER_TOPIC"},
	} {
		cfg := Config{ReportTopic: tt.report}
		cfg.SummaryTopic, cfg.OrderTopic = "summary", "order"
		err := cfg.Check()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("REPORT_TOPIC=%q: %v, want %q", tt.report, err, tt.want)
		}
	}
}
