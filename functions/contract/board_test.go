package contract

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/api"
	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka/kafkatest"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
)

// boardToken is BOARD_TOKEN of the boards under test that have one.
const boardToken = "clave-del-dueno-123-0123456789abcdef"

// boardSecurityHeaders are set on every answer of the board; the tag
// salesBoard of openapi.yaml names them with these values.
var boardSecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
}

// boardPlainHeaders are not documented per response: the framing of every
// HTTP answer, and boardSecurityHeaders.
var boardPlainHeaders = []string{"Content-Type", "Content-Length", "Date", "Transfer-Encoding", "Connection"}

// heldCount is a whole count that never ends (until its board closes),
// having read 40 of 100 records: a full topic's count, as the board
// answers meanwhile.
type heldCount struct{}

func (heldCount) Summarize(ctx context.Context, _ events.Date) (dayread.Result, error) {
	if p := dayread.ProgressFrom(ctx); p != nil {
		p.Add(40, 100)
	}
	<-ctx.Done()
	return dayread.Result{}, ctx.Err()
}

// fixedEnds is an order topic that never moves.
type fixedEnds struct{}

func (fixedEnds) Ends(context.Context) ([]int64, error) { return []int64{0}, nil }

// boardRig is salesBoard as its binary runs it: Setup on an embedded Kafka
// that holds orders newOrder took, behind the production server; and the
// same handler over dailySummary's counting of an order log that cannot
// be read, and with no BOARD_TOKEN; and one counting a day whole (with no
// BOARD_TOKEN); and a server still starting.
type boardRig struct {
	live, failing, open, counting, pending *httptest.Server
	today                                  events.Date
	client                                 *http.Client
}

func newBoardRig(t *testing.T) *boardRig {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	quiet := slog.New(slog.DiscardHandler)
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	handler, closer, err := salesboard.Setup(ctx, salesboard.Config{
		Config:     kafka.Config{Brokers: brokers, ClientID: "contract-board", CreateTopics: true, ReplicationFactor: -1},
		OrderTopic: "order", OrderPartitions: 3, Retention: 72 * time.Hour,
		TimeZone: "America/Santiago", Timeout: 10 * time.Second, Token: boardToken,
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r := &boardRig{today: events.DateOf(time.Now(), loc)}
	r.live = httptest.NewServer(server.New(handler).Handler)
	t.Cleanup(func() {
		closer.Close() // ends the event streams first
		r.live.Close()
	})

	// Orders through newOrder: two vendors, a vendor in another letter
	// case, an order_id reused with another body (a conflict), and a
	// record that is not an order, so that every number of the day is
	// not zero.
	pub, _ := kafkatest.NewPublisher(t, brokers, kafka.NewSaramaConfig("contract-board-orders"))
	newOrder := neworder.New(pub, "order", 10*time.Second, time.Now, quiet).Handler()
	for _, o := range []string{
		`{"order_id": 1, "email_vendedor": "ana@feria.cl", "email_cocinero": "cocina@feria.cl", "numero_sopaipillas": 12}`,
		`{"order_id": 2, "email_vendedor": "beto@feria.cl", "email_cocinero": "cocina@feria.cl", "numero_sopaipillas": 30}`,
		`{"order_id": 3, "email_vendedor": "Ana@Feria.CL", "email_cocinero": "cocina@feria.cl", "numero_sopaipillas": 3}`,
		`{"order_id": 1, "email_vendedor": "ana@feria.cl", "email_cocinero": "cocina@feria.cl", "numero_sopaipillas": 99}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/newOrder", strings.NewReader(o)).WithContext(ctx)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		newOrder.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("newOrder: %d %s", rec.Code, rec.Body)
		}
	}
	other := cloudevents.NewEvent()
	other.SetID("otro-1")
	other.SetSource("/contract")
	other.SetType("cl.sopaipillas.otro.v1")
	other.SetTime(time.Now())
	if err := other.SetData(cloudevents.ApplicationJSON, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, "order", other); err != nil {
		t.Fatal(err)
	}

	board := func(log dailysummary.OrderLog, token string) *httptest.Server {
		sum := dailysummary.New(log, nopPublisher{}, dailysummary.Options{Location: loc, Retention: 72 * time.Hour, Timeout: time.Second, Now: time.Now}, quiet)
		h := salesboard.New(sum, fixedEnds{}, salesboard.Options{Location: loc, Retention: 72 * time.Hour, Timeout: time.Second, Token: token, Now: time.Now}, quiet).Handler()
		srv := httptest.NewServer(server.New(h).Handler)
		t.Cleanup(func() {
			h.Close()
			srv.Close()
		})
		return srv
	}
	r.failing = board(failingLog{}, boardToken)
	r.open = board(emptyLog{}, "")
	counting := salesboard.New(heldCount{}, fixedEnds{}, salesboard.Options{Location: loc, Retention: 72 * time.Hour, Timeout: time.Second, Wait: time.Millisecond, Now: time.Now}, quiet)
	ch := counting.Handler()
	r.counting = httptest.NewServer(server.New(ch).Handler)
	t.Cleanup(func() {
		ch.Close()
		counting.Close()
		r.counting.Close()
	})
	pending, _ := server.Pending(server.Options{})
	r.pending = httptest.NewServer(pending.Handler)
	t.Cleanup(r.pending.Close)
	// Redirects are answers to check, not to follow; no cookie jar.
	r.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return r
}

// boardAnswer is one answer of the board, with its event stream's first
// events when it is one.
type boardAnswer struct {
	status int
	header http.Header
	body   []byte
	events []map[string]any // retry, event and data of each SSE event
}

// do sends a request; of an event stream it reads the first two events
// (the retry, then the day or a problem) and hangs up.
func (r *boardRig) do(t *testing.T, srv *httptest.Server, method, target string, header http.Header, body string) boardAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	a := boardAnswer{status: res.StatusCode, header: res.Header}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "text/event-stream" {
		a.events = readEvents(t, bufio.NewReader(res.Body), 2)
		return a
	}
	if a.body, err = io.ReadAll(res.Body); err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return a
}

// readEvents parses n events of a Server-Sent Events stream as the
// WHATWG's EventSource does (fields retry, event, data; comments skipped).
func readEvents(t *testing.T, r *bufio.Reader, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	ev := map[string]any{}
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d events: %v", len(out), err)
		}
		line = strings.TrimSuffix(line, "\n")
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if len(ev) > 0 {
				out = append(out, ev)
				ev = map[string]any{}
			}
		case name == "": // a comment
		case name == "retry":
			ms, err := strconv.Atoi(value)
			if err != nil {
				t.Fatalf("retry %q: %v", value, err)
			}
			ev["retry"] = ms
		case name == "data" && ev["data"] != nil:
			ev["data"] = ev["data"].(string) + "\n" + value
		default:
			ev[name] = value
		}
	}
	return out
}

// operation is an operation of openapi.yaml.
type operation struct {
	path, method string
	node         map[string]any
}

// boardOperations are the operations tagged salesBoard, by operationId.
func boardOperations(t *testing.T, d doc) map[string]operation {
	t.Helper()
	out := map[string]operation{}
	for path, item := range d["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			o, ok := op.(map[string]any)
			if !ok || !slices.Contains(anySlice(o["tags"]), any("salesBoard")) {
				continue
			}
			out[o["operationId"].(string)] = operation{path: path, method: strings.ToUpper(method), node: o}
		}
	}
	return out
}

// pointer is the JSON pointer of a path of keys, escaped (RFC 6901).
func pointer(keys ...string) string {
	var b strings.Builder
	b.WriteString("#")
	for _, k := range keys {
		b.WriteString("/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// response is an operation's documented answer for status, and the
// pointer of the node it was read from (a component, when referenced).
func response(t *testing.T, d doc, op operation, status int) (map[string]any, string, bool) {
	t.Helper()
	node, ok := at(t, op.node, "responses").(map[string]any)[strconv.Itoa(status)].(map[string]any)
	if !ok {
		return nil, "", false
	}
	ptr := pointer("paths", op.path, strings.ToLower(op.method), "responses", strconv.Itoa(status))
	if ref, ok := node["$ref"].(string); ok {
		ptr = ref
	}
	return resolve(t, d, node).(map[string]any), ptr, true
}

// boardCase is one request to the board and the status it must get.
type boardCase struct {
	name   string
	op     string // operationId in openapi.yaml
	srv    *httptest.Server
	target string // path and query
	header http.Header
	body   string
	status int
	want   string // in the body, if set
}

// TestOpenAPIDriftSalesBoard binds openapi.yaml's salesBoard operations to
// the board as it runs: each operation documents exactly the statuses its
// requests get (the server's 408 aside), each answer's media type and
// headers are documented (the required ones present), a method not
// documented on a path is 405 with Allow naming those documented, and the
// shapes of the day, its events and the problem bodies are the code's. With
// the Python tools, every JSON body, SSE event and header value is judged
// by jsonschema against the schema the document gives it, and fecha's
// documented pattern against the code on spellings of an offered day.
func TestOpenAPIDriftSalesBoard(t *testing.T) {
	d := load(t, api.OpenAPI)
	ops := boardOperations(t, d)
	r := newBoardRig(t)
	today := strings.ReplaceAll(r.today.String(), "/", "-")
	yesterday := strings.ReplaceAll(r.today.AddDays(-1).String(), "/", "-")
	bearer := http.Header{"Authorization": {"Bearer " + boardToken}}
	form := func(h http.Header) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		return h
	}
	login := r.do(t, r.live, "POST", "/login", form(nil), url.Values{"clave": {boardToken}}.Encode())
	cookies := (&http.Response{Header: login.header}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set cookies %v", login.header["Set-Cookie"])
	}
	withCookie := http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value}}
	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}

	cases := []boardCase{
		{name: "the form, without the key", op: "boardPage", srv: r.live, target: "/", status: 200, want: `name="clave"`},
		{name: "the form, whatever fecha", op: "boardPage", srv: r.live, target: "/?fecha=hoy", status: 200, want: `name="clave"`},
		{name: "the page, by cookie", op: "boardPage", srv: r.live, target: "/?fecha=" + today, header: withCookie, status: 200, want: `id="t-sopaipillas">45<`},
		{name: "the page, open board", op: "boardPage", srv: r.open, target: "/", status: 200, want: `id="t-sopaipillas">0<`},
		{name: "not a day", op: "boardPage", srv: r.live, target: "/?fecha=hoy", header: bearer, status: 422},
		{name: "a day not kept", op: "boardPage", srv: r.live, target: "/?fecha=10-11-1999", header: bearer, status: 422},
		{name: "starting", op: "boardPage", srv: r.pending, target: "/", status: 503},
		{name: "counting", op: "boardPage", srv: r.counting, target: "/", status: 200, want: `data-contando>Contando las ventas de hoy…`},

		{name: "right key", op: "boardLogin", srv: r.live, target: "/login", header: form(nil), body: "clave=" + boardToken, status: 303},
		{name: "right key behind TLS", op: "boardLogin", srv: r.live, target: "/login", header: form(header("X-Forwarded-Proto", "https")), body: "clave=" + boardToken, status: 303},
		{name: "open board", op: "boardLogin", srv: r.open, target: "/login", header: form(nil), body: "clave=x", status: 303},
		{name: "wrong key, from the page", op: "boardLogin", srv: r.live, target: "/login", header: form(header("Accept", "text/html")), body: "clave=x", status: 401, want: "La clave no es correcta"},
		{name: "wrong key, from a tool", op: "boardLogin", srv: r.live, target: "/login", header: form(nil), body: "clave=x", status: 401},
		{name: "the key as JSON is not read", op: "boardLogin", srv: r.live, target: "/login", header: header("Content-Type", "application/json"), body: `{"clave":"` + boardToken + `"}`, status: 401},
		{name: "the key in the query is not read", op: "boardLogin", srv: r.live, target: "/login?clave=" + boardToken, status: 401},
		{name: "bad URL encoding", op: "boardLogin", srv: r.live, target: "/login", header: form(nil), body: "clave=%zz", status: 400},
		{name: "bad query", op: "boardLogin", srv: r.live, target: "/login?%zz", header: form(nil), body: "clave=" + boardToken, status: 400},
		{name: "bad Content-Type", op: "boardLogin", srv: r.live, target: "/login", header: header("Content-Type", ";;"), body: "clave=" + boardToken, status: 400},
		{name: "4097 bytes", op: "boardLogin", srv: r.live, target: "/login", header: form(nil), body: "clave=" + boardToken + "&x=" + strings.Repeat("a", 4097-len("clave=&x=")-len(boardToken)), status: 413},
		{name: "4096 bytes", op: "boardLogin", srv: r.live, target: "/login", header: form(nil), body: "clave=" + boardToken + "&x=" + strings.Repeat("a", 4096-len("clave=&x=")-len(boardToken)), status: 303},
		{name: "starting", op: "boardLogin", srv: r.pending, target: "/login", header: form(nil), body: "clave=x", status: 503},
		{name: "back to the day", op: "boardLogin", srv: r.live, target: "/login?fecha=" + yesterday, header: form(header("Sec-Fetch-Site", "same-origin")), body: "clave=" + boardToken, status: 303},
		{name: "another site's form", op: "boardLogin", srv: r.live, target: "/login", header: form(header("Sec-Fetch-Site", "cross-site")), body: "clave=" + boardToken, status: 403},
		{name: "another site's form, older browser", op: "boardLogin", srv: r.live, target: "/login", header: form(header("Origin", "https://malo.example")), body: "clave=" + boardToken, status: 403},

		{name: "logout", op: "boardLogout", srv: r.live, target: "/logout", status: 303},
		{name: "logout behind TLS", op: "boardLogout", srv: r.live, target: "/logout", header: header("X-Forwarded-Proto", "https"), body: "x", status: 303},
		{name: "starting", op: "boardLogout", srv: r.pending, target: "/logout", status: 503},
		{name: "back to the day", op: "boardLogout", srv: r.live, target: "/logout?fecha=" + url.QueryEscape(r.today.String()), status: 303},
		{name: "another site's form", op: "boardLogout", srv: r.live, target: "/logout", header: header("Sec-Fetch-Site", "same-site"), status: 403},

		{name: "the day, by bearer", op: "boardEvents", srv: r.live, target: "/events?fecha=" + today, header: bearer, status: 200},
		{name: "today, by cookie", op: "boardEvents", srv: r.live, target: "/events", header: withCookie, status: 200},
		{name: "a problem", op: "boardEvents", srv: r.failing, target: "/events", header: bearer, status: 200},
		{name: "no key", op: "boardEvents", srv: r.live, target: "/events", status: 401},
		{name: "wrong bearer beside the cookie", op: "boardEvents", srv: r.live, target: "/events", header: header("Authorization", "Bearer x", "Cookie", withCookie.Get("Cookie")), status: 401},
		{name: "no key, not a day", op: "boardEvents", srv: r.live, target: "/events?fecha=hoy", status: 401},
		{name: "not a day", op: "boardEvents", srv: r.live, target: "/events?fecha=hoy", header: bearer, status: 422},
		{name: "starting", op: "boardEvents", srv: r.pending, target: "/events", status: 503},
		{name: "counting", op: "boardEvents", srv: r.counting, target: "/events", status: 200},

		{name: "today, by bearer", op: "boardDay", srv: r.live, target: "/api/days/" + today, header: bearer, status: 200},
		{name: "yesterday, by cookie", op: "boardDay", srv: r.live, target: "/api/days/" + yesterday, header: withCookie, status: 200},
		{name: "slashes", op: "boardDay", srv: r.live, target: "/api/days/" + url.PathEscape(r.today.String()), header: bearer, status: 200},
		{name: "open board", op: "boardDay", srv: r.open, target: "/api/days/" + today, status: 200},
		{name: "no key", op: "boardDay", srv: r.live, target: "/api/days/" + today, status: 401},
		{name: "lower-case bearer", op: "boardDay", srv: r.live, target: "/api/days/" + today, header: header("Authorization", "bearer "+boardToken), status: 200},
		{name: "another scheme", op: "boardDay", srv: r.live, target: "/api/days/" + today, header: header("Authorization", "Basic "+boardToken), status: 401},
		{name: "not a day of the calendar", op: "boardDay", srv: r.live, target: "/api/days/31-02-2025", header: bearer, status: 422},
		{name: "another format", op: "boardDay", srv: r.live, target: "/api/days/2025-02-13", header: bearer, status: 422},
		{name: "a day not kept", op: "boardDay", srv: r.live, target: "/api/days/10-11-1999", header: bearer, status: 422},
		{name: "Kafka unreadable", op: "boardDay", srv: r.failing, target: "/api/days/" + today, header: bearer, status: 503},
		{name: "starting", op: "boardDay", srv: r.pending, target: "/api/days/" + today, status: 503},
		{name: "counting", op: "boardDay", srv: r.counting, target: "/api/days/" + today, status: 503, want: "are being counted"},
		{name: "today, by bearer", op: "boardDayCsv", srv: r.live, target: "/api/days/" + today + ".csv", header: bearer, status: 200, want: "Correo,Nombre,Órdenes,Sopaipillas\r\n"},
		{name: "no key", op: "boardDayCsv", srv: r.live, target: "/api/days/" + today + ".csv", status: 401},
		{name: "a day not kept", op: "boardDayCsv", srv: r.live, target: "/api/days/10-11-1999.csv", header: bearer, status: 422},
		{name: "Kafka unreadable", op: "boardDayCsv", srv: r.failing, target: "/api/days/" + today + ".csv", header: bearer, status: 503},
		{name: "counting", op: "boardDayCsv", srv: r.counting, target: "/api/days/" + yesterday + ".csv", status: 503, want: "are being counted"},
	}
	// Every embedded file, whole and in part, and the file server's other
	// answers, by GET and HEAD.
	files := staticFiles(t)
	for _, op := range []string{"boardStatic", "boardStaticHead"} {
		for _, f := range files {
			f := f.(string)
			cases = append(cases,
				boardCase{name: f, op: op, srv: r.live, target: "/static/" + f, status: 200},
				boardCase{name: f + ", escaped", op: op, srv: r.live, target: "/static/" + url.PathEscape(f), status: 200},
				boardCase{name: f + ", part", op: op, srv: r.live, target: "/static/" + f, header: header("Range", "bytes=0-9"), status: 206})
		}
		cases = append(cases,
			boardCase{name: "a directory", op: op, srv: r.live, target: "/static/vendor/chart.js/", status: 200},
			boardCase{name: "two ranges", op: op, srv: r.live, target: "/static/app.css", header: header("Range", "bytes=0-1,4-5"), status: 206},
			boardCase{name: "If-Range", op: op, srv: r.live, target: "/static/app.css", header: header("Range", "bytes=0-1", "If-Range", `"x"`), status: 200},
			boardCase{name: "a directory without its slash", op: op, srv: r.live, target: "/static/vendor", status: 301},
			boardCase{name: "index.html", op: op, srv: r.live, target: "/static/index.html", status: 301},
			boardCase{name: "If-None-Match *", op: op, srv: r.live, target: "/static/app.js", header: header("If-None-Match", "*"), status: 304},
			boardCase{name: "If-None-Match a tag", op: op, srv: r.live, target: "/static/app.js", header: header("If-None-Match", `"x"`), status: 200},
			boardCase{name: "no such file", op: op, srv: r.live, target: "/static/no-existe.js", status: 404},
			boardCase{name: "If-Match a tag", op: op, srv: r.live, target: "/static/app.js", header: header("If-Match", `"x"`), status: 412},
			boardCase{name: "If-Match *", op: op, srv: r.live, target: "/static/app.js", header: header("If-Match", "*"), status: 200},
			boardCase{name: "no range overlaps", op: op, srv: r.live, target: "/static/app.js", header: header("Range", "bytes=99999999-"), status: 416},
			boardCase{name: "starting", op: op, srv: r.pending, target: "/static/app.js", status: 503})
	}
	// The page's HEAD is its GET without the body.
	for _, c := range slices.Clone(cases) {
		if c.op == "boardPage" {
			c.op = "boardPageHead"
			cases = append(cases, c)
		}
	}

	seen := newBoardSeen()
	for _, c := range cases {
		op, ok := ops[c.op]
		if !ok {
			t.Fatalf("openapi.yaml has no operation %s", c.op)
		}
		t.Run(c.op+"/"+c.name, func(t *testing.T) {
			a := r.do(t, c.srv, op.method, c.target, c.header, c.body)
			if a.status != c.status {
				t.Fatalf("%s %s: status %d, want %d: %.300s", op.method, c.target, a.status, c.status, a.body)
			}
			if op.method != http.MethodHead && !strings.Contains(string(a.body), c.want) {
				t.Errorf("body lacks %q: %.300s", c.want, a.body)
			}
			if c.srv != r.pending { // the board's answers, not the server's
				for name, want := range boardSecurityHeaders {
					if got := a.header.Get(name); got != want {
						t.Errorf("%s: %q, want %q", name, got, want)
					}
				}
			}
			seen.check(t, d, op, c, a)
			if c.srv == r.live && a.status == http.StatusOK && c.op == "boardDay" {
				checkBoardDay(t, r.today, a.body)
			}
			for _, ev := range a.events {
				if ev["event"] == "dia" && c.srv == r.live {
					checkBoardDay(t, r.today, []byte(ev["data"].(string)))
				}
			}
		})
	}

	// Each operation documents exactly the statuses it answered, and the
	// server's 408 on those with a body.
	for _, id := range slices.Sorted(maps.Keys(ops)) {
		op := ops[id]
		var got []int
		for s := range seen.statuses[id] {
			got = append(got, s)
		}
		if op.method == http.MethodPost {
			got = append(got, serverStatuses...)
		}
		slices.Sort(got)
		var want []int
		for _, k := range keys(at(t, op.node, "responses")) {
			n, _ := strconv.Atoi(k)
			want = append(want, n)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (%s %s) statuses (-documented, +answered):\n%s", id, op.method, op.path, diff)
		}
		for _, s := range want {
			res, _, _ := response(t, d, op, s)
			content, _ := res["content"].(map[string]any)
			types := seen.mediaTypes[fmt.Sprintf("%s %d", id, s)]
			if op.method == http.MethodHead || types == nil {
				continue
			}
			var answeredTypes []string
			for mt := range types {
				if mt != "" {
					answeredTypes = append(answeredTypes, mt)
				}
			}
			slices.Sort(answeredTypes)
			if diff := cmp.Diff(keys(content), answeredTypes, cmpEmpty); diff != "" {
				t.Errorf("%s %d media types (-documented, +answered):\n%s", id, s, diff)
			}
		}
	}
	documentedEvents := slices.DeleteFunc(streamEvents(t, d), func(s string) bool { return s == "" })
	slices.Sort(documentedEvents)
	slices.Sort(seen.events)
	if diff := cmp.Diff(documentedEvents, slices.Compact(seen.events)); diff != "" {
		t.Errorf("event names (-documented, +answered):\n%s", diff)
	}

	checkBoardPaths(t, d, r, ops)
	checkBoardShapes(t, d)

	t.Run("schemas", func(t *testing.T) {
		py := python(t)
		root := repoRoot(t)
		judged := append(seen.judged, fechaSpellings(t, r)...)
		verdicts := judge(t, py, root, judged, corpusToday, corpusOldest, filepath.Join(root, "api/openapi.yaml"))
		for i, b := range judged {
			v := verdicts[i]
			want := !strings.HasPrefix(b.Name, "refused ")
			if v.Valid != want || len(v.Rules) > 0 {
				t.Errorf("%s (%.200s) by %s: jsonschema says valid=%v (%s) rules=%v, want valid=%v", b.Name, b.Data, b.Schema, v.Valid, v.Why, v.Rules, want)
			}
		}
		t.Logf("jsonschema judged %d bodies, SSE events, header values and fecha spellings", len(judged))
	})
}

// boardSeen is what the board's answers showed, for the checks by
// operation and for jsonschema.
type boardSeen struct {
	statuses   map[string]map[int]bool    // by operationId
	mediaTypes map[string]map[string]bool // by operationId and status
	events     []string                   // event names of the streams
	judged     []body                     // what each answer says, by the schema the document gives it
}

func newBoardSeen() *boardSeen {
	return &boardSeen{statuses: map[string]map[int]bool{}, mediaTypes: map[string]map[string]bool{}}
}

// check checks answer a to case c of operation op against its documented
// response: its media type documented (HEAD answers have no body), every
// header it has documented, every documented required header present; and
// keeps its status, media type, body, header values and events for the
// checks by operation and for jsonschema.
func (s *boardSeen) check(t *testing.T, d doc, op operation, c boardCase, a boardAnswer) {
	t.Helper()
	if s.statuses[c.op] == nil {
		s.statuses[c.op] = map[int]bool{}
	}
	s.statuses[c.op][a.status] = true
	res, ptr, ok := response(t, d, op, a.status)
	if !ok {
		return // reported by operation
	}
	key := fmt.Sprintf("%s %d", c.op, a.status)
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	content, _ := res["content"].(map[string]any)
	if op.method != http.MethodHead {
		if _, ok := content[mt]; !ok && (mt != "" || len(content) > 0) {
			t.Errorf("Content-Type %q; documented: %v", mt, keys(content))
		}
		if s.mediaTypes[key] == nil {
			s.mediaTypes[key] = map[string]bool{}
		}
		s.mediaTypes[key][mt] = true
	}
	documented, _ := res["headers"].(map[string]any)
	names := map[string]string{} // canonical: as documented (names are case-insensitive)
	for name := range documented {
		names[http.CanonicalHeaderKey(name)] = name
	}
	for name := range a.header {
		if slices.Contains(boardPlainHeaders, name) || boardSecurityHeaders[name] != "" {
			continue
		}
		docName, ok := names[name]
		if !ok {
			t.Errorf("header %s: %q is not documented for %d", name, a.header.Get(name), a.status)
			continue
		}
		value := a.header.Get(name)
		data, _ := json.Marshal(value)
		if at(t, documented[docName], "schema").(map[string]any)["type"] == "integer" {
			data = []byte(value) // judged as the number it spells
		}
		s.judged = append(s.judged, body{Schema: ptr + "/headers/" + docName + "/schema", Name: key + " " + name, Data: data})
	}
	for name, h := range documented {
		if h.(map[string]any)["required"] == true && a.header.Get(name) == "" {
			t.Errorf("required header %s is missing", name)
		}
	}
	if op.method == http.MethodHead {
		return
	}
	if mt == "application/json" || mt == "application/problem+json" {
		s.judged = append(s.judged, body{Schema: ptr + "/content/" + strings.ReplaceAll(mt, "/", "~1") + "/schema", Name: key + " " + c.name, Data: a.body})
	}
	for _, ev := range a.events {
		item, _ := json.Marshal(ev)
		s.judged = append(s.judged, body{Schema: "#/components/schemas/BoardStreamEvent", Name: key + " event", Data: item})
		name, _ := ev["event"].(string)
		if name == "" {
			continue // the retry
		}
		s.events = append(s.events, name)
		i := slices.Index(streamEvents(t, d), name)
		if i < 0 {
			t.Errorf("event %q is not documented", name)
			continue
		}
		s.judged = append(s.judged, body{Schema: fmt.Sprintf("#/components/schemas/BoardStreamEvent/oneOf/%d/properties/data/contentSchema", i),
			Name: key + " event " + name, Data: []byte(ev["data"].(string))})
	}
}

// streamEvents are the event names of BoardStreamEvent's branches, by
// index: "" for the retry, which names none.
func streamEvents(t *testing.T, d doc) []string {
	t.Helper()
	var out []string
	for _, b := range anySlice(at(t, d, "components", "schemas", "BoardStreamEvent", "oneOf")) {
		event, _ := b.(map[string]any)["properties"].(map[string]any)["event"].(map[string]any)
		name, _ := event["const"].(string)
		out = append(out, name)
	}
	return out
}

// cmpEmpty takes a nil slice for an empty one.
var cmpEmpty = cmp.Transformer("empty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

// checkBoardDay checks a day the live board answers: today holds the
// orders newBoardRig placed, counted as dailySummary counts them (ana's
// two, one in upper case; beto's; order 1 again, a conflict; a record of
// another type); the other days nothing. The JSON judged is thus not an
// empty day.
func checkBoardDay(t *testing.T, today events.Date, data []byte) {
	t.Helper()
	var got salesboard.View
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("the day: %v", err)
	}
	day, err := events.ParseDate(got.Fecha)
	if err != nil {
		t.Fatal(err)
	}
	want := salesboard.View{Fecha: got.Fecha, Summary: events.Summary{Fecha: got.Fecha, Ventas: map[string]events.Sales{}},
		Vendedores: []salesboard.VendorSales{}, ReportStatus: got.ReportStatus, CountedUntil: got.CountedUntil, NoContadas: []salesboard.Uncounted{}}
	if day == today {
		ana, beto := events.Sales{NSopaipillas: 15, NOrdenes: 2}, events.Sales{NSopaipillas: 30, NOrdenes: 1}
		want.Summary.Ventas = map[string]events.Sales{"ana@feria.cl": ana, "beto@feria.cl": beto}
		want.Vendedores = []salesboard.VendorSales{{Vendedor: "beto@feria.cl", Sales: beto}, {Vendedor: "ana@feria.cl", Sales: ana}}
		want.Totales = salesboard.Totals{NOrdenes: 3, NSopaipillas: 45, NVendedores: 2}
		want.OrdersRead, want.SkippedRecords, want.ConflictsTotal = 4, 1, 1
		// Order 1 again with 99: not counted, told in Spanish.
		want.NoContadas = []salesboard.Uncounted{{OrderID: 1, Vendedor: "ana@feria.cl", Enviadas: 99, Motivo: "later_in_partition",
			Contadas: 12, ContadasPor: "ana@feria.cl",
			Texto:  "Envió 99 sopaipillas; cuenta la versión con 12 sopaipillas.",
			PorQue: "Este número de orden ya había llegado con otros datos: cada orden cuenta una sola vez, tal como llegó primero."}}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the day %s (-want, +got):\n%s", got.Fecha, diff)
	}
}

// checkBoardPaths: a method not documented on a path is 405 with Allow
// naming the documented ones; other paths are 404, unclean ones
// redirected; all as problem+json.
func checkBoardPaths(t *testing.T, d doc, r *boardRig, ops map[string]operation) {
	t.Helper()
	allowed := map[string][]string{}
	examples := map[string]string{"/": "/", "/login": "/login", "/logout": "/logout", "/events": "/events", "/api/days/{fecha}": "/api/days/13-11-2021", "/api/days/{fecha}.csv": "/api/days/13-11-2021.csv", "/static/{file}": "/static/app.js"}
	for _, op := range ops {
		allowed[op.path] = append(allowed[op.path], op.method)
	}
	for path, methods := range allowed {
		slices.Sort(methods)
		target, ok := examples[path]
		if !ok {
			t.Errorf("no example request for the board's path %s", path)
			continue
		}
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			if slices.Contains(methods, m) {
				continue
			}
			a := r.do(t, r.live, m, target, nil, "")
			allow := strings.Split(a.header.Get("Allow"), ", ")
			slices.Sort(allow)
			if a.status != http.StatusMethodNotAllowed || !slices.Equal(allow, methods) || (m != "HEAD" && a.header.Get("Content-Type") != "application/problem+json") {
				t.Errorf("%s %s: %d, Allow %q, %s; want 405, Allow %v (the documented methods), problem+json", m, target, a.status, a.header.Get("Allow"), a.header.Get("Content-Type"), methods)
			}
		}
	}
	for _, target := range []string{"/nada", "/api/days", "/api/days/13-11-2021/x", "/events/"} {
		if a := r.do(t, r.live, "GET", target, nil, ""); a.status != http.StatusNotFound || a.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d %s, want a problem+json 404", target, a.status, a.header.Get("Content-Type"))
		}
	}
	if a := r.do(t, r.live, "GET", "//login", nil, ""); a.status != http.StatusTemporaryRedirect || a.header.Get("Location") != "/login" {
		t.Errorf("GET //login: %d to %q, want 307 to /login (openapi.yaml, tag salesBoard)", a.status, a.header.Get("Location"))
	}
	desc := at(t, d, "tags", strconv.Itoa(slices.IndexFunc(anySlice(d["tags"]), func(tag any) bool { return tag.(map[string]any)["name"] == "salesBoard" })), "description").(string)
	for name, value := range boardSecurityHeaders {
		if !strings.Contains(strings.Join(strings.Fields(desc), " "), "`"+name+": "+value+"`") {
			t.Errorf("the tag salesBoard does not say every answer carries `%s: %s`", name, value)
		}
	}
}

// checkBoardShapes: the documented fields of the day are the code's.
func checkBoardShapes(t *testing.T, d doc) {
	t.Helper()
	day := at(t, d, "components", "schemas", "BoardDay")
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"BoardDay", at(t, day, "required"), jsonNames[salesboard.View]()},
		{"BoardDay.totales", at(t, day, "properties", "totales", "required"), jsonNames[salesboard.Totals]()},
		{"BoardDay.vendedores", at(t, day, "properties", "vendedores", "items", "required"), append([]any{"email_vendedor"}, jsonNames[events.Sales]()...)},
		{"BoardDay.report_status", at(t, day, "properties", "report_status", "enum"), []any{events.StatusPartial, events.StatusFinal}},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s disagrees with the code (-code, +document):\n%s", c.name, diff)
		}
	}
	// Every embedded file is an example of GET /static/{file}.
	if diff := cmp.Diff(staticFiles(t), at(t, d, "paths", "/static/{file}", "get", "parameters", "0", "schema", "examples")); diff != "" {
		t.Errorf("the files of /static/{file} (-embedded, +documented):\n%s", diff)
	}
}

// staticFiles are the files salesBoard embeds under /static/, by path
// below functions/salesboard/web/static.
func staticFiles(t *testing.T) []any {
	t.Helper()
	var files []any
	err := fs.WalkDir(os.DirFS(filepath.Join(repoRoot(t), "functions/salesboard/web/static")), ".", func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// fechaSpellings asks the board for an offered day spelt every way, and
// returns each spelling for jsonschema to judge by fecha's documented
// schema, in the path and in the query: the schema must take exactly the
// spellings the code answers 200 (named "refused " otherwise).
func fechaSpellings(t *testing.T, r *boardRig) []body {
	t.Helper()
	dd, mm, yyyy := fmt.Sprintf("%02d", r.today.Day), fmt.Sprintf("%02d", int(r.today.Month)), fmt.Sprintf("%04d", r.today.Year)
	arabic := strings.NewReplacer("0", "٠", "1", "١", "2", "٢", "3", "٣", "4", "٤", "5", "٥", "6", "٦", "7", "٧", "8", "٨", "9", "٩")
	spellings := []string{
		dd + "-" + mm + "-" + yyyy, dd + "/" + mm + "/" + yyyy, dd + "-" + mm + "/" + yyyy, dd + "/" + mm + "-" + yyyy,
		yyyy + "-" + mm + "-" + dd, dd + "-" + mm + "-" + yyyy[2:], dd + "." + mm + "." + yyyy, dd + "_" + mm + "_" + yyyy,
		dd + mm + yyyy, dd + "--" + mm + "-" + yyyy, " " + dd + "-" + mm + "-" + yyyy, dd + "-" + mm + "-" + yyyy + " ",
		dd + "-" + mm + "-" + yyyy + "\n", dd + "-" + mm + "-0" + yyyy, arabic.Replace(dd + "-" + mm + "-" + yyyy),
		strings.TrimPrefix(dd, "0") + "-" + mm + "-" + yyyy, dd + "-" + strings.TrimPrefix(mm, "0") + "-" + yyyy, "hoy", "",
	}
	var out []body
	for _, s := range spellings {
		data, _ := json.Marshal(s)
		if s != "" { // an empty path segment is another path
			a := r.do(t, r.live, "GET", "/api/days/"+url.PathEscape(s), http.Header{"Authorization": {"Bearer " + boardToken}}, "")
			name := "path fecha " + strconv.Quote(s)
			if a.status != http.StatusOK {
				name = "refused " + name
			}
			out = append(out, body{Schema: "#/paths/~1api~1days~1{fecha}/get/parameters/0/schema", Name: name, Data: data})
		}
		a := r.do(t, r.live, "GET", "/?fecha="+url.QueryEscape(s), http.Header{"Authorization": {"Bearer " + boardToken}}, "")
		name := "query fecha " + strconv.Quote(s)
		if a.status != http.StatusOK {
			name = "refused " + name
		}
		out = append(out, body{Schema: "#/components/parameters/BoardFecha/schema", Name: name, Data: data})
	}
	return out
}
