package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
)

// TestBoardMatchesDailySummary runs the day-read differential test's
// random sequences (orders through newOrder and straight onto the topic in
// every form, retries, conflicting versions, letter-case variants of
// vendors, poison, committed and aborted transactions, stamps over four
// days in any order) past salesBoard, started before the first write and
// following them live: the board counts today once and then each batch of
// new records (dayread.Live). The sequence is written in three parts; after
// each, once the topic is quiet, its GET /api/days/{fecha} says what
// POST /dailySummary says for today, yesterday and the day before, and
// after the last its event stream does too, and all agree with the
// brute-force oracle (dayread_oracle_test.go, which shares no code with
// dayread). -seed or SOPAIPILLAS_DIFF_SEED replays one sequence.
func TestBoardMatchesDailySummary(t *testing.T) {
	seed := *diffSeedFlag
	if s := os.Getenv("SOPAIPILLAS_DIFF_SEED"); seed == 0 && s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SOPAIPILLAS_DIFF_SEED: %v", err)
		}
	}
	seeds := []int64{seed}
	if seed == 0 {
		base := time.Now().UnixNano() & (1<<40 - 1)
		seeds = []int64{base, base + 1}
	}
	all := brokers(t)
	var names []string
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, s := range seeds {
				boardDiffRun(t, all[name], diffGenerate(s, 120))
			}
		})
	}
}

// boardDiffRun writes q onto a fresh topic with a board watching today
// and compares the board with dailySummary.
func boardDiffRun(t *testing.T, addrs []string, q diffSeq) {
	t.Helper()
	r := newDayRig(t, addrs, q.Partitions, dayRigTimeout)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	handler, closer, err := salesboard.Setup(ctx, salesboard.Config{
		Config:     kafka.Config{Brokers: addrs, ClientID: "board-diff", ReplicationFactor: -1},
		OrderTopic: r.topic, OrderPartitions: q.Partitions, Retention: 72 * time.Hour,
		TimeZone: "America/Santiago", Timeout: dayRigTimeout,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	board := httptest.NewServer(handler)
	defer func() {
		closer.Close() // ends the event streams, which Close would wait for
		board.Close()
	}()
	live := followToday(t, ctx, board.URL)

	// The first parts: the board has counted them as they came, and is
	// asked for every day between parts, so that the other days are
	// cached while the next part arrives.
	third := len(q.Steps) / 3
	for _, part := range [][]diffStep{q.Steps[:third], q.Steps[third : 2*third]} {
		if err := r.replay(ctx, part); err != nil {
			t.Fatalf("seed %d: %v", q.Seed, err)
		}
		if err := r.settle(ctx); err != nil {
			t.Fatal(err)
		}
		for _, off := range []int{0, -1, -2} {
			status, want, body := r.summarize(off)
			if status != http.StatusOK {
				t.Fatalf("seed %d: dailySummary: %d %s", q.Seed, status, body)
			}
			if d := boardDiff(want, boardDay(t, board.URL, off)); d != "" {
				t.Errorf("seed %d (replay: -seed %d), after %d steps: the board's %s disagrees with dailySummary's: %s\n%s", q.Seed, q.Seed, len(part), dayStart(off).Format("02-01-2006"), d, q)
			}
		}
	}
	if err := r.replay(ctx, q.Steps[2*third:]); err != nil {
		t.Fatalf("seed %d: %v", q.Seed, err)
	}
	if err := r.settle(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := oracleRead(ctx, addrs, r.topic)
	if err != nil {
		t.Fatal(err)
	}
	judged := oracleJudge(recs)

	for _, off := range []int{0, -1, -2} {
		fecha := dayStart(off).Format("02-01-2006")
		status, want, body := r.summarize(off)
		if status != http.StatusOK {
			t.Fatalf("seed %d: dailySummary of %s: %d %s", q.Seed, fecha, status, body)
		}
		if off == 0 {
			// The live path: the stream gets there by itself.
			var last daySummary
			deadline := time.After(10 * time.Second)
		wait:
			for {
				select {
				case last = <-live:
					if boardDiff(want, last) == "" {
						break wait
					}
				case <-deadline:
					t.Errorf("seed %d: the board's stream of today never said what dailySummary says: %s\n%s", q.Seed, boardDiff(want, last), q)
					break wait
				}
			}
		}
		got := boardDay(t, board.URL, off)
		if d := boardDiff(want, got); d != "" {
			t.Errorf("seed %d (replay: -seed %d): the board's %s disagrees with dailySummary's: %s\n%s", q.Seed, q.Seed, fecha, d, q)
		}
		if d := oracleBoardDiff(judged.day(oracleDayKey(dayStart(off))), got); d != "" {
			t.Errorf("seed %d (replay: -seed %d): the board's %s disagrees with the oracle: %s\n%s", q.Seed, q.Seed, fecha, d, q)
		}
	}
}

// boardDay asks the board for the day off days from today.
func boardDay(t *testing.T, base string, off int) daySummary {
	t.Helper()
	fecha := dayStart(off).Format("02-01-2006")
	res, err := http.Get(base + "/api/days/" + fecha)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got daySummary
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/days/%s: %d %v", fecha, res.StatusCode, err)
	}
	return got
}

// oracleBoardDiff compares what the board says of a day with the oracle's
// judgement of the topic.
func oracleBoardDiff(want oracleDay, got daySummary) string {
	if d := cmp.Diff(want.Ventas, got.Summary.Ventas, cmpopts.EquateEmpty()); d != "" {
		return "ventas (-oracle +board):\n" + d
	}
	type counts struct{ Skipped, Conflicts int }
	return cmp.Diff(counts{want.Skipped, len(want.Conflicts)}, counts{got.SkippedRecords, got.ConflictsTotal})
}

// boardDiff compares what the board says of a day with dailySummary's
// answer: the summary and the counts beside it.
func boardDiff(want, got daySummary) string {
	type counts struct{ OrdersRead, Skipped, Conflicts int }
	if d := cmp.Diff(want.Summary, got.Summary, cmpopts.EquateEmpty()); d != "" {
		return "summary (-dailySummary +board):\n" + d
	}
	return cmp.Diff(counts{want.OrdersRead, want.SkippedRecords, want.ConflictsTotal}, counts{got.OrdersRead, got.SkippedRecords, got.ConflictsTotal})
}

// followToday reads the board's event stream of today and hands on each
// day it sends.
func followToday(t *testing.T, ctx context.Context, base string) <-chan daySummary {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %v %v", res, err)
	}
	out := make(chan daySummary, 1024)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var d daySummary
			if json.Unmarshal([]byte(data), &d) == nil {
				select {
				case out <- d:
				default: // the test reads the newest; the old ones may go
				}
			}
		}
		_, _ = io.Copy(io.Discard, res.Body)
	}()
	return out
}

// TestBoardShowsTransactionsOnceCommitted opens a board on a fresh topic
// and writes while it follows today: a transaction whose records (orders
// of today, an order stamped yesterday, another version of one of
// yesterday's orders) are written, then committed only after the board has
// shown a later record of another partition, so after it read past them;
// and a transaction aborted in the same way. The board shows the first
// transaction's orders only once it is committed, in today and in
// yesterday (which it had cached), and never the aborted one's; at every
// step it says what dailySummary says, and at the end what the oracle
// says.
func TestBoardShowsTransactionsOnceCommitted(t *testing.T) {
	all := brokers(t)
	var names []string
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { boardTxnRun(t, all[name]) })
	}
}

func boardTxnRun(t *testing.T, addrs []string) {
	const partitions = 3
	r := newDayRig(t, addrs, partitions, dayRigTimeout)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	handler, closer, err := salesboard.Setup(ctx, salesboard.Config{
		Config:     kafka.Config{Brokers: addrs, ClientID: "board-txn", ReplicationFactor: -1},
		OrderTopic: r.topic, OrderPartitions: partitions, Retention: 72 * time.Hour,
		TimeZone: "America/Santiago", Timeout: dayRigTimeout,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	board := httptest.NewServer(handler)
	defer func() {
		closer.Close()
		board.Close()
	}()
	stream := followToday(t, ctx, board.URL)
	// seen holds every vendor any event of the stream showed.
	seen := map[string]bool{}
	// waitFor reads the stream until today shows vendor with n orders.
	waitFor := func(vendor string, n int) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case d := <-stream:
				for v := range d.Summary.Ventas {
					seen[v] = true
				}
				if d.Summary.Ventas[vendor].Ordenes == n {
					return
				}
			case <-deadline:
				t.Fatalf("the board's stream never showed %d orders of %s", n, vendor)
			}
		}
	}
	// same checks the board against dailySummary for the three days.
	same := func(when string) {
		t.Helper()
		for _, off := range []int{0, -1, -2} {
			status, want, body := r.summarize(off)
			if status != http.StatusOK {
				t.Fatalf("%s: dailySummary: %d %s", when, status, body)
			}
			if d := boardDiff(want, boardDay(t, board.URL, off)); d != "" {
				t.Errorf("%s: the board's %s disagrees with dailySummary's: %s", when, dayStart(off).Format("02-01-2006"), d)
			}
		}
	}
	now := func() time.Time { return time.Now().Truncate(time.Millisecond) }
	yesterday := dayAt(-1, 12, 0)
	order := func(id int64, vendor string, n int) dayOrder {
		return dayOrder{ID: id, Vendor: vendor, Cook: cook, Count: n}
	}
	write := func(recs ...dayRec) {
		t.Helper()
		if err := r.write(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}

	// Before: an order of yesterday and one of today, plain.
	write(binaryOrder(0, yesterday, order(1, "ayer@feria.example", 4)), binaryOrder(1, now(), order(2, "hoy@feria.example", 5)))
	waitFor("hoy@feria.example", 1)
	same("before any transaction")

	// A transaction left open on partitions 0 and 1; then a plain record
	// on partition 2, which the board shows: it has read past the
	// transaction's records, and must not show them.
	if err := r.txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	inTxn := []dayRec{
		binaryOrder(0, now(), order(10, "txn@feria.example", 7)),
		legacyOrder(1, now(), order(11, "txn@feria.example", 8)),
		binaryOrder(1, yesterday.Add(time.Hour), order(12, "txn@feria.example", 9)), // yesterday's
		binaryOrder(1, now(), order(1, "ayer@feria.example", 40)),                   // another version of yesterday's order 1
	}
	for _, d := range inTxn {
		if err := r.txn.ProduceSync(ctx, d.record(r.topic)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	write(binaryOrder(2, now(), order(3, "marca@feria.example", 1)))
	waitFor("marca@feria.example", 1)
	if seen["txn@feria.example"] {
		t.Fatal("the board showed an open transaction's orders")
	}
	if got := boardDay(t, board.URL, 0); got.Summary.Ventas["txn@feria.example"].Ordenes != 0 {
		t.Fatalf("the board's API shows an open transaction's orders: %+v", got.Summary.Ventas)
	}
	same("transaction open")
	if err := r.txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor("txn@feria.example", 2)
	if err := r.settle(ctx); err != nil {
		t.Fatal(err)
	}
	if got := boardDay(t, board.URL, -1); got.Summary.Ventas["txn@feria.example"].Ordenes != 1 || got.ConflictsTotal != 1 {
		t.Errorf("yesterday after the commit: %+v, conflicts %d; want 1 order of txn@feria.example and 1 conflict", got.Summary.Ventas, got.ConflictsTotal)
	}
	same("transaction committed")

	// A transaction aborted after the board read past it.
	if err := r.txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []dayRec{
		binaryOrder(0, now(), order(20, "abortada@feria.example", 3)),
		binaryOrder(1, yesterday.Add(2*time.Hour), order(21, "abortada@feria.example", 3)),
		binaryOrder(0, now(), order(2, "hoy@feria.example", 50)), // would be a conflict
	} {
		if err := r.txn.ProduceSync(ctx, d.record(r.topic)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	write(binaryOrder(2, now(), order(4, "marca@feria.example", 1)))
	waitFor("marca@feria.example", 2)
	if err := r.txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	// Records after the abort marker on both partitions it touched.
	write(binaryOrder(0, now(), order(5, "marca@feria.example", 1)), binaryOrder(1, now(), order(6, "marca@feria.example", 1)))
	waitFor("marca@feria.example", 4)
	if seen["abortada@feria.example"] {
		t.Fatal("the board showed an aborted transaction's orders")
	}
	if err := r.settle(ctx); err != nil {
		t.Fatal(err)
	}
	same("transaction aborted")
	recs, err := oracleRead(ctx, addrs, r.topic)
	if err != nil {
		t.Fatal(err)
	}
	judged := oracleJudge(recs)
	for _, off := range []int{0, -1, -2} {
		if d := oracleBoardDiff(judged.day(oracleDayKey(dayStart(off))), boardDay(t, board.URL, off)); d != "" {
			t.Errorf("the board's %s disagrees with the oracle: %s", dayStart(off).Format("02-01-2006"), d)
		}
	}
}
