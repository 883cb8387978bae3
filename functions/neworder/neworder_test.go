package neworder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// seedOrder is the order of the seed's README, byte for byte.
const seedOrder = `{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`

// seedCanonical is seedOrder as published.
const seedCanonical = `{"email_cocinero":"asdasdasda@yopmail.com","email_vendedor":"vendor_tarea2@yopmail.com","numero_sopaipillas":15,"order_id":3}`

const testTopic = "order-test"

// fakePublisher records the events it acknowledged. With err set it fails
// every publish; with block set it waits for the context to end.
type fakePublisher struct {
	mu      sync.Mutex
	err     error
	block   bool
	sent    []cloudevents.Event
	topics  []string
	noLimit bool // a publish came without a deadline
}

func (p *fakePublisher) Publish(ctx context.Context, topic string, e cloudevents.Event) error {
	if _, ok := ctx.Deadline(); !ok {
		p.mu.Lock()
		p.noLimit = true
		p.mu.Unlock()
	}
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.sent = append(p.sent, e.Clone())
	p.topics = append(p.topics, topic)
	return nil
}

func (p *fakePublisher) Sent() []cloudevents.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]cloudevents.Event(nil), p.sent...)
}

var acceptedAt = time.Date(2021, 11, 13, 18, 30, 0, 0, time.UTC)

// newServer starts newOrder on a loopback port with pub and a fixed clock.
func newServer(t *testing.T, pub Publisher, timeout time.Duration) *httptest.Server {
	t.Helper()
	f := New(pub, testTopic, timeout, func() time.Time { return acceptedAt }, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// post sends body to path with headers and returns status, headers and body.
func post(t *testing.T, srv *httptest.Server, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, got
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

func binaryHeader(contentType string, attrs ...string) http.Header {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		h.Set(attrs[i], attrs[i+1])
	}
	return h
}

// ceHeaders are complete binary-mode attributes of a client's event.
var ceHeaders = []string{"ce-specversion", "1.0", "ce-id", "client-1", "ce-source", "/client", "ce-type", events.TypeOrderCreated}

func without(attrs []string, name string) []string {
	var out []string
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i] != name {
			out = append(out, attrs[i], attrs[i+1])
		}
	}
	return out
}

func structured(t *testing.T, attrs map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAccepts(t *testing.T) {
	wantBody := `{"response":"Orden generada correctamente","order":` + seedCanonical + `,"event_id":"order-3"}` + "\n"
	tests := []struct {
		name   string      // how the order arrives
		path   string      // request path
		header http.Header // request headers
		body   []byte      // request body
	}{
		{name: "plain JSON, seed's curl", path: "/newOrder", header: jsonHeader(), body: []byte(seedOrder)},
		{name: "JSON with charset", path: "/newOrder", header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body: []byte(seedOrder)},
		{name: "Knative root path", path: "/", header: jsonHeader(), body: []byte(seedOrder)},
		// One mailbox, one vendor (README): stored and answered lower case.
		{name: "addresses in another letter case", path: "/newOrder", header: jsonHeader(), body: []byte(strings.NewReplacer("vendor_tarea2@yopmail.com", "Vendor_Tarea2@YOPMAIL.com", "asdasdasda@yopmail.com", "ASDasdasda@Yopmail.COM").Replace(seedOrder))},
		{name: "binary-mode CloudEvent", path: "/newOrder", header: binaryHeader("application/json", ceHeaders...), body: []byte(seedOrder)},
		{name: "structured-mode CloudEvent without datacontenttype", path: "/newOrder", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: []byte(`{"specversion":"1.0","id":"client-1","source":"/client","type":"` + events.TypeOrderCreated + `","data":` + seedOrder + `}`)},
		{name: "binary-mode CloudEvent without Content-Type, JSON data", path: "/newOrder", header: binaryHeader("", ceHeaders...), body: []byte(seedOrder)},
		{name: "integral numbers spelt as decimals, published canonically", path: "/newOrder", header: jsonHeader(), body: []byte(strings.NewReplacer(`"order_id": 3`, `"order_id": 3.0`, `"numero_sopaipillas": 15`, `"numero_sopaipillas": 1.5e1`).Replace(seedOrder))},
		{name: "structured-mode CloudEvent", path: "/newOrder", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: []byte(`{"specversion":"1.0","id":"client-1","source":"/client","type":"` + events.TypeOrderCreated + `","datacontenttype":"application/json","data":` + seedOrder + `}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			srv := newServer(t, pub, time.Minute)

			status, header, body := post(t, srv, tt.path, tt.header, tt.body)

			if status != http.StatusCreated {
				t.Fatalf("status %d, body %s; want 201", status, body)
			}
			if got := header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
			if diff := cmp.Diff(wantBody, string(body)); diff != "" {
				t.Errorf("body (-want, +got):\n%s", diff)
			}
			sent := pub.Sent()
			if len(sent) != 1 {
				t.Fatalf("%d events published, want 1", len(sent))
			}
			type attrs struct {
				Topic, ID, Type, Source, Subject, PartitionKey, DataContentType, Data string
				Time                                                                  time.Time
			}
			e := sent[0]
			pk, _ := e.Extensions()[events.PartitionKeyExtension].(string)
			got := attrs{Topic: pub.topics[0], ID: e.ID(), Type: e.Type(), Source: e.Source(), Subject: e.Subject(), PartitionKey: pk, DataContentType: e.DataContentType(), Data: string(e.Data()), Time: e.Time()}
			want := attrs{Topic: testTopic, ID: "order-3", Type: events.TypeOrderCreated, Source: events.SourceNewOrder, Subject: "3", PartitionKey: "3", DataContentType: "application/json", Data: seedCanonical, Time: acceptedAt}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("published event (-want, +got):\n%s", diff)
			}
			if pub.noLimit {
				t.Errorf("Publish was called without a deadline")
			}
		})
	}
}

func TestRetrySameEventID(t *testing.T) {
	pub := &fakePublisher{}
	srv := newServer(t, pub, time.Minute)
	reordered := `{"numero_sopaipillas":15,"email_cocinero":"asdasdasda@yopmail.com","email_vendedor":"vendor_tarea2@yopmail.com","order_id":3}`
	for _, body := range []string{seedOrder, reordered} {
		if status, _, b := post(t, srv, "/newOrder", jsonHeader(), []byte(body)); status != http.StatusCreated {
			t.Fatalf("status %d (%s), want 201", status, b)
		}
	}
	sent := pub.Sent()
	got := []string{sent[0].ID(), string(sent[0].Data()), sent[1].ID(), string(sent[1].Data())}
	want := []string{"order-3", seedCanonical, "order-3", seedCanonical}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a retry must carry the same id and bytes (-want, +got):\n%s", diff)
	}
}

func TestPublishFailure(t *testing.T) {
	tests := []struct {
		name string         // what the broker does
		pub  *fakePublisher // the broker
	}{
		{name: "broker refuses", pub: &fakePublisher{err: errors.New("kafka: NOT_ENOUGH_REPLICAS")}},
		{name: "broker does not answer within the deadline", pub: &fakePublisher{block: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.pub, 20*time.Millisecond)

			status, header, body := post(t, srv, "/newOrder", jsonHeader(), []byte(seedOrder))

			got := []string{http.StatusText(status), header.Get("Content-Type"), header.Get("Retry-After")}
			want := []string{http.StatusText(http.StatusServiceUnavailable), problem.ContentType, "1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("[status Content-Type Retry-After] (-want, +got):\n%s", diff)
			}
			var p problem.Details
			if err := json.Unmarshal(body, &p); err != nil || p.Status != http.StatusServiceUnavailable || p.Detail == "" {
				t.Errorf("problem body %s: %+v, %v", body, p, err)
			}
			if strings.Contains(string(body), "NOT_ENOUGH_REPLICAS") {
				t.Errorf("problem body leaks the broker's error: %s", body)
			}
			if n := len(tt.pub.Sent()); n != 0 {
				t.Errorf("%d events acknowledged, want 0", n)
			}
		})
	}
}

// hostileCase is one bad request: it must get status with a problem body
// naming fields, and publish nothing.
type hostileCase struct {
	name   string      // what is wrong
	header http.Header // request headers
	body   []byte      // request body
	status int         // the 4xx expected
	fields []string    // errors[].field of the problem body, in order
}

func hostileCases(t *testing.T) []hostileCase {
	with := func(field, value string) []byte {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(seedOrder), &m); err != nil {
			t.Fatal(err)
		}
		if value == "" {
			delete(m, field)
		} else {
			m[field] = json.RawMessage(value)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("with(%s, %s): %v", field, value, err)
		}
		return b
	}
	// raw splices a value in without re-encoding (for bytes json.Marshal
	// would refuse or fix).
	raw := func(field, value string) []byte {
		return []byte(strings.Replace(seedOrder, `{`, `{"`+field+`": `+value+`, `, 1))
	}
	nested := func(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }
	j := jsonHeader()
	const (
		s400 = http.StatusBadRequest
		s413 = http.StatusRequestEntityTooLarge
		s415 = http.StatusUnsupportedMediaType
		s422 = http.StatusUnprocessableEntity
	)
	return []hostileCase{
		{name: "text/plain", header: http.Header{"Content-Type": {"text/plain"}}, body: []byte(seedOrder), status: s415, fields: []string{"Content-Type"}},
		{name: "no content type", header: http.Header{}, body: []byte(seedOrder), status: s415, fields: []string{"Content-Type"}},
		{name: "form encoded", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: []byte("order_id=3"), status: s415, fields: []string{"Content-Type"}},
		{name: "malformed content type", header: http.Header{"Content-Type": {"application/json; charset"}}, body: []byte(seedOrder), status: s415, fields: []string{"Content-Type"}},
		{name: "empty body", header: j, body: nil, status: s400, fields: []string{""}},
		{name: "not JSON", header: j, body: []byte("order_id=3&numero_sopaipillas=15"), status: s400, fields: []string{""}},
		{name: "array of orders", header: j, body: []byte("[" + seedOrder + "]"), status: s400, fields: []string{""}},
		{name: "trailing garbage", header: j, body: []byte(seedOrder + "x"), status: s400, fields: []string{""}},
		{name: "duplicate order_id", header: j, body: raw("order_id", "4"), status: s400, fields: []string{"order_id"}},
		{name: "invalid UTF-8", header: j, body: raw("nota", "\"\xc3\x28\""), status: s400, fields: []string{""}},
		{name: "10 MB body", header: j, body: raw("nota", `"`+strings.Repeat("a", 10<<20)+`"`), status: s413, fields: []string{""}},
		{name: "100000 nested arrays, over the limit", header: j, body: raw("nota", nested(100000)), status: s413, fields: []string{""}},
		{name: "30000 nested arrays, under the limit", header: j, body: raw("nota", nested(30000)), status: s400, fields: []string{"nota"}},
		{name: "empty object", header: j, body: []byte(`{}`), status: s422, fields: []string{"email_cocinero", "email_vendedor", "numero_sopaipillas", "order_id"}},
		{name: "order_id missing", header: j, body: with("order_id", ""), status: s422, fields: []string{"order_id"}},
		{name: "order_id null", header: j, body: with("order_id", "null"), status: s422, fields: []string{"order_id"}},
		{name: "order_id zero", header: j, body: with("order_id", "0"), status: s422, fields: []string{"order_id"}},
		{name: "order_id negative", header: j, body: with("order_id", "-3"), status: s422, fields: []string{"order_id"}},
		{name: "order_id fractional", header: j, body: with("order_id", "3.5"), status: s422, fields: []string{"order_id"}},
		{name: "order_id 3.05e1", header: j, body: with("order_id", "3.05e1"), status: s422, fields: []string{"order_id"}},
		{name: "order_id negative exponent", header: j, body: with("order_id", "3e-2"), status: s422, fields: []string{"order_id"}},
		{name: "order_id 2^53", header: j, body: with("order_id", "9007199254740992"), status: s422, fields: []string{"order_id"}},
		{name: "order_id 2^63", header: j, body: with("order_id", "9223372036854775808"), status: s422, fields: []string{"order_id"}},
		{name: "order_id 1e400", header: j, body: with("order_id", "1e400"), status: s422, fields: []string{"order_id"}},
		{name: "order_id as string", header: j, body: with("order_id", `"3"`), status: s422, fields: []string{"order_id"}},
		{name: "order_id as array", header: j, body: with("order_id", `[3]`), status: s422, fields: []string{"order_id"}},
		{name: "order_id as object", header: j, body: with("order_id", `{"id":3}`), status: s422, fields: []string{"order_id"}},
		{name: "order_id boolean", header: j, body: with("order_id", `true`), status: s422, fields: []string{"order_id"}},
		{name: "numero_sopaipillas zero", header: j, body: with("numero_sopaipillas", "0"), status: s422, fields: []string{"numero_sopaipillas"}},
		{name: "numero_sopaipillas negative", header: j, body: with("numero_sopaipillas", "-15"), status: s422, fields: []string{"numero_sopaipillas"}},
		{name: "numero_sopaipillas over the maximum", header: j, body: with("numero_sopaipillas", "1001"), status: s422, fields: []string{"numero_sopaipillas"}},
		{name: "numero_sopaipillas fractional", header: j, body: with("numero_sopaipillas", "1.5"), status: s422, fields: []string{"numero_sopaipillas"}},
		{name: "numero_sopaipillas as string", header: j, body: with("numero_sopaipillas", `"15"`), status: s422, fields: []string{"numero_sopaipillas"}},
		{name: "numero_sopaipillas null", header: j, body: with("numero_sopaipillas", `null`), status: s422, fields: []string{"numero_sopaipillas"}},
		{name: "email_vendedor missing", header: j, body: with("email_vendedor", ""), status: s422, fields: []string{"email_vendedor"}},
		{name: "email_vendedor null", header: j, body: with("email_vendedor", "null"), status: s422, fields: []string{"email_vendedor"}},
		{name: "email_vendedor number", header: j, body: with("email_vendedor", "42"), status: s422, fields: []string{"email_vendedor"}},
		{name: "email_vendedor object", header: j, body: with("email_vendedor", `{"a":"b"}`), status: s422, fields: []string{"email_vendedor"}},
		{name: "email_vendedor CRLF Bcc injection", header: j, body: with("email_vendedor", `"vendor_tarea2@yopmail.com\r\nBcc: all@evil.com"`), status: s422, fields: []string{"email_vendedor"}},
		{name: "email_vendedor two addresses", header: j, body: with("email_vendedor", `"a@b.cl, c@d.cl"`), status: s422, fields: []string{"email_vendedor"}},
		{name: "email_vendedor display name", header: j, body: with("email_vendedor", `"Vendedor <vendor_tarea2@yopmail.com>"`), status: s422, fields: []string{"email_vendedor"}},
		{name: "email_cocinero LF", header: j, body: with("email_cocinero", `"asdasdasda@yopmail.com\n"`), status: s422, fields: []string{"email_cocinero"}},
		{name: "email_cocinero group syntax", header: j, body: with("email_cocinero", `"cocina: a@b.cl, c@d.cl;"`), status: s422, fields: []string{"email_cocinero"}},
		{name: "every field wrong", header: j, body: []byte(`{"order_id":-1,"email_vendedor":"x","email_cocinero":[],"numero_sopaipillas":"mucho"}`), status: s422, fields: []string{"email_cocinero", "email_vendedor", "numero_sopaipillas", "order_id"}},

		{name: "CloudEvent without id", header: binaryHeader("application/json", without(ceHeaders, "ce-id")...), body: []byte(seedOrder), status: s400, fields: []string{"cloudevent"}},
		{name: "CloudEvent without source", header: binaryHeader("application/json", without(ceHeaders, "ce-source")...), body: []byte(seedOrder), status: s400, fields: []string{"cloudevent"}},
		{name: "CloudEvent without type", header: binaryHeader("application/json", without(ceHeaders, "ce-type")...), body: []byte(seedOrder), status: s400, fields: []string{"cloudevent"}},
		{name: "CloudEvent of unknown specversion", header: binaryHeader("application/json", append(without(ceHeaders, "ce-specversion"), "ce-specversion", "9.9")...), body: []byte(seedOrder), status: s400, fields: []string{"Ce-Specversion"}},
		{name: "CloudEvent with text data", header: binaryHeader("text/plain", ceHeaders...), body: []byte(seedOrder), status: s415, fields: []string{"Content-Type"}},
		{name: "CloudEvent without datacontenttype, data not JSON", header: binaryHeader("", ceHeaders...), body: []byte("order_id=3"), status: s415, fields: []string{"Content-Type"}},
		{name: "CloudEvent attributes without specversion", header: binaryHeader("application/json", "ce-type", "com.example.something.else"), body: []byte(seedOrder), status: s400, fields: []string{"Ce-Type"}},
		{name: "structured CloudEvent with Ce-* headers too", header: http.Header{"Content-Type": {"application/cloudevents+json"}, "Ce-Type": {"none"}},
			body: structured(t, map[string]any{"specversion": "1.0", "id": "x", "source": "/c", "type": events.TypeOrderCreated, "data": json.RawMessage(seedOrder)}), status: s400, fields: []string{"Ce-Type"}},
		// The SDK reads the first of two attribute headers, another
		// consumer may read the last: not one CloudEvent.
		{name: "CloudEvent with Ce-Type twice", header: func() http.Header {
			h := binaryHeader("application/json", ceHeaders...)
			h["Ce-Type"] = []string{events.TypeOrderCreated, "com.example.something.else"}
			return h
		}(), body: []byte(seedOrder), status: s400, fields: []string{"Ce-Type"}},
		{name: "CloudEvent with Content-Type twice", header: func() http.Header {
			h := binaryHeader("application/json", ceHeaders...)
			h["Content-Type"] = []string{"application/json", "text/plain"}
			return h
		}(), body: []byte(seedOrder), status: s400, fields: []string{"Content-Type"}},
		{name: "CloudEvent of another type", header: binaryHeader("application/json", append(without(ceHeaders, "ce-type"), "ce-type", "com.example.something.else")...), body: []byte(seedOrder), status: s400, fields: []string{"type"}},
		{name: "structured CloudEvent of another type", header: http.Header{"Content-Type": {"application/cloudevents+json"}},
			body: structured(t, map[string]any{"specversion": "1.0", "id": "x", "source": "/c", "type": "cl.sopaipillas.summary.created.v1", "data": json.RawMessage(seedOrder)}), status: s400, fields: []string{"type"}},
		{name: "extra field nested 9999 levels", header: j, body: raw("nota", nested(9999)), status: s422, fields: []string{"nota"}},
		{name: "CloudEvent with a bad order", header: binaryHeader("application/json", ceHeaders...), body: with("order_id", "0"), status: s422, fields: []string{"order_id"}},
		{name: "structured CloudEvent without id", header: http.Header{"Content-Type": {"application/cloudevents+json"}},
			body: structured(t, map[string]any{"specversion": "1.0", "source": "/c", "type": events.TypeOrderCreated, "datacontenttype": "application/json", "data": json.RawMessage(seedOrder)}), status: s400, fields: []string{"cloudevent"}},
		{name: "structured CloudEvent with text data", header: http.Header{"Content-Type": {"application/cloudevents+json"}},
			body: structured(t, map[string]any{"specversion": "1.0", "id": "x", "source": "/c", "type": events.TypeOrderCreated, "datacontenttype": "text/plain", "data": seedOrder}), status: s415, fields: []string{"Content-Type"}},
		{name: "CloudEvents batch", header: http.Header{"Content-Type": {"application/cloudevents-batch+json"}}, body: []byte(`[]`), status: s400, fields: []string{"cloudevent"}},
		{name: "structured CloudEvent not JSON", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: []byte(`{"specversion":"1.0",`), status: s400, fields: []string{"cloudevent"}},
		{name: "structured CloudEvent with a bad order", header: http.Header{"Content-Type": {"application/cloudevents+json"}},
			body: structured(t, map[string]any{"specversion": "1.0", "id": "x", "source": "/c", "type": events.TypeOrderCreated, "datacontenttype": "application/json", "data": json.RawMessage(with("email_vendedor", `"a@b.cl\r\nBcc: x@y.cl"`))}), status: s422, fields: []string{"email_vendedor"}},
	}
}

func TestHostileRequests(t *testing.T) {
	pub := &fakePublisher{}
	srv := newServer(t, pub, time.Minute)
	cases := hostileCases(t)
	if len(cases) < 30 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := post(t, srv, "/newOrder", tt.header, tt.body)

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
			if p.Status != status {
				t.Errorf("problem status %d, answered %d", p.Status, status)
			}
			if n := len(pub.Sent()); n != 0 {
				t.Fatalf("%d events published after a rejected request, want 0", n)
			}
		})
	}

	// The process is still healthy: a valid order goes through.
	if status, _, body := post(t, srv, "/newOrder", jsonHeader(), []byte(seedOrder)); status != http.StatusCreated {
		t.Fatalf("valid order after the hostile table: status %d, body %s", status, body)
	}
	if n := len(pub.Sent()); n != 1 {
		t.Errorf("%d events published in all, want exactly 1", n)
	}
}

// TestOtherMethods checks that every path answers a method it does not
// serve with 405, Allow and a problem, and an unknown path with 404.
func TestOtherMethods(t *testing.T) {
	pub := &fakePublisher{}
	srv := newServer(t, pub, time.Minute)
	tests := []struct {
		method, path string // the request
		status       int    // the answer
		allow        string // its Allow header
	}{
		{method: http.MethodGet, path: "/newOrder", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodPut, path: "/newOrder", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodDelete, path: "/newOrder", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodPatch, path: "/", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodOptions, path: "/", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodGet, path: "/", status: http.StatusMethodNotAllowed, allow: "POST"},
		{method: http.MethodPost, path: "/dailySummary", status: http.StatusNotFound},
		{method: http.MethodGet, path: "/newOrder/3", status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(seedOrder))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var p problem.Details
			if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
				t.Fatalf("problem body: %v", err)
			}
			got := []any{res.StatusCode, res.Header.Get("Allow"), res.Header.Get("Content-Type"), p.Status}
			want := []any{tt.status, tt.allow, problem.ContentType, tt.status}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status, Allow, Content-Type, problem status (-want, +got):\n%s", diff)
			}
		})
	}
	if n := len(pub.Sent()); n != 0 {
		t.Errorf("%d events published, want 0", n)
	}
}
