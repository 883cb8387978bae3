package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var diffSeedFlag = flag.Int64("seed", 0, "seed of TestDayReadDifferential (0: from SOPAIPILLAS_DIFF_SEED, else random)")

// diffStep is one write of a generated sequence: an order posted to
// newOrder, one record written straight onto the topic, or a transaction.
type diffStep struct {
	NewOrder *dayOrder
	Recs     []dayRec
	Txn      bool
	Commit   bool
}

// replay writes steps in order, each as its kind is written.
func (r *dayRig) replay(ctx context.Context, steps []diffStep) error {
	for _, s := range steps {
		var err error
		switch {
		case s.NewOrder != nil:
			err = r.postOrder(*s.NewOrder)
		case s.Txn:
			err = r.writeTxn(ctx, s.Commit, s.Recs...)
		default:
			err = r.write(ctx, s.Recs...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s diffStep) String() string {
	switch {
	case s.NewOrder != nil:
		return "POST /newOrder " + s.NewOrder.String() + " (stamped now by newOrder)"
	case !s.Txn:
		return s.Recs[0].String()
	}
	verb := "ABORTED"
	if s.Commit {
		verb = "COMMITTED"
	}
	lines := []string{"transaction " + verb + ":"}
	for _, r := range s.Recs {
		lines = append(lines, "    "+r.String())
	}
	return strings.Join(lines, "\n")
}

// diffSeq is a generated sequence of writes onto a fresh topic.
type diffSeq struct {
	Seed       int64
	Partitions int32
	Steps      []diffStep
}

func (q diffSeq) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, %d partitions, %d steps (days in America/Santiago relative to today %s):\n", q.Seed, q.Partitions, len(q.Steps), oracleDayKey(time.Now()))
	for i, s := range q.Steps {
		fmt.Fprintf(&b, "  %3d. %s\n", i+1, s)
	}
	return b.String()
}

// diffGenerate makes a sequence of about n records from seed: orders
// through newOrder and straight onto the topic in all three forms, retries,
// conflicting versions, letter-case variants of vendors, poison, committed
// and aborted transactions, with timestamps over the day before yesterday,
// yesterday, today and tomorrow, in any order.
func diffGenerate(seed int64, n int) diffSeq {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5019a1))
	q := diffSeq{Seed: seed, Partitions: int32(3 + rng.IntN(4))}
	vendors := [][]string{
		{"ana@feria.example", "Ana@Feria.Example", "ANA@FERIA.EXAMPLE"},
		{"beto@feria.example", "Beto@feria.example"},
		{"pedro@example.com", "pedro@EXAMPLE.com", "Pedro@Example.Com"},
		{"luz@carrito.example"},
	}
	ids := int64(n/3 + 1)
	var past []dayOrder
	poisonKind := 0
	anyOrder := func() dayOrder {
		v := vendors[rng.IntN(len(vendors))]
		fresh := dayOrder{ID: 1 + rng.Int64N(ids), Vendor: v[rng.IntN(len(v))], Cook: cook, Count: 1 + rng.IntN(1000)}
		if len(past) == 0 {
			past = append(past, fresh)
			return fresh
		}
		switch x := rng.IntN(4); {
		case x == 0: // a retry: the same body again
			return past[rng.IntN(len(past))]
		case x == 1: // a conflicting version of an earlier order
			fresh.ID = past[rng.IntN(len(past))].ID
		}
		past = append(past, fresh)
		return fresh
	}
	stamp := func() time.Time {
		off := []int{-2, -1, -1, 0, 0, 0, 1}[rng.IntN(7)]
		start, end := dayStart(off), dayStart(off+1)
		switch rng.IntN(10) {
		case 0:
			return start
		case 1:
			return end.Add(-time.Millisecond)
		}
		return start.Add(time.Duration(rng.Int64N(int64(end.Sub(start)/time.Millisecond))) * time.Millisecond)
	}
	record := func() dayRec {
		p := rng.Int32N(q.Partitions)
		switch x := rng.IntN(20); {
		case x < 3:
			poisonKind++
			return poison(p, stamp(), poisonKind)
		case x < 11:
			return binaryOrder(p, stamp(), anyOrder())
		case x < 15:
			ct := []string{"application/cloudevents+json", "application/json", ""}[rng.IntN(3)]
			return structuredOrder(p, stamp(), anyOrder(), ct)
		default:
			return legacyOrder(p, stamp(), anyOrder())
		}
	}
	for written := 0; written < n; {
		switch x := rng.IntN(20); {
		case x < 3:
			o := anyOrder()
			q.Steps = append(q.Steps, diffStep{NewOrder: &o})
			written++
		case x < 16:
			q.Steps = append(q.Steps, diffStep{Recs: []dayRec{record()}})
			written++
		default:
			s := diffStep{Txn: true, Commit: rng.IntN(3) != 0}
			for range 1 + rng.IntN(5) {
				s.Recs = append(s.Recs, record())
			}
			q.Steps = append(q.Steps, s)
			written += len(s.Recs)
		}
	}
	if rng.IntN(2) == 0 {
		// A commit marker as the last offset of every partition.
		s := diffStep{Txn: true, Commit: true}
		for p := range q.Partitions {
			r := record()
			r.Partition = p
			s.Recs = append(s.Recs, r)
		}
		q.Steps = append(q.Steps, s)
	}
	return q
}

// diffProblem is one disagreement between dailySummary and the oracle;
// Kind names what disagreed, so that shrinking keeps the same failure.
type diffProblem struct{ Kind, Text string }

func diffText(ps []diffProblem) string {
	var lines []string
	for _, p := range ps {
		lines = append(lines, p.Text)
	}
	return strings.Join(lines, "\n")
}

// diffRun writes q onto a fresh topic and compares the summary of today,
// yesterday and the day before with the oracle's, and checks that every
// order is counted in exactly one day. It returns what disagreed. When
// stop is not nil it stops at the first problem stop accepts.
func diffRun(t *testing.T, addrs []string, q diffSeq, stop func(diffProblem) bool) []diffProblem {
	t.Helper()
	r := newDayRig(t, addrs, q.Partitions, 10*time.Second)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.replay(ctx, q.Steps); err != nil {
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
	var problems []diffProblem
	add := func(kind, format string, args ...any) bool {
		p := diffProblem{Kind: kind, Text: fmt.Sprintf(format, args...)}
		problems = append(problems, p)
		return stop != nil && stop(p)
	}
	counted := 0
	summarized := map[string]bool{}
	for _, off := range []int{0, -1, -2} {
		key := oracleDayKey(dayStart(off))
		summarized[key] = true
		od := judged.day(key)
		status, got, body := r.summarize(off)
		if status != http.StatusOK {
			if add("status", "summary of %s: status %d, want 200: %s", key, status, body) {
				return problems
			}
			continue
		}
		if diff := cmp.Diff(od.Ventas, got.Summary.Ventas, cmpopts.EquateEmpty()); diff != "" {
			if add("ventas", "summary of %s: ventas (-oracle +dailySummary):\n%s", key, diff) {
				return problems
			}
		}
		if od.Skipped != got.SkippedRecords {
			if add("skipped", "summary of %s: skipped_records %d, oracle %d (oracle's reasons %v, dailySummary's %v)", key, got.SkippedRecords, od.Skipped, od.Reasons, got.SkippedRecordsByReason) {
				return problems
			}
		}
		// The poison is of clear kinds only, whose reasons the README names.
		if diff := cmp.Diff(od.Reasons, got.SkippedRecordsByReason, cmpopts.EquateEmpty()); diff != "" {
			if add("skip-reasons", "summary of %s: skipped_records_by_reason (-oracle +dailySummary):\n%s", key, diff) {
				return problems
			}
		}
		// Every conflict is listed in the counted version's day, the first
		// 100 by partition and offset.
		var listed []oracleConflict
		if err := json.Unmarshal(got.Conflicts, &listed); err != nil {
			t.Fatalf("summary of %s: conflicts: %v", key, err)
		}
		if got.ConflictsTotal != len(od.Conflicts) {
			if add("conflicts", "summary of %s: conflicts_total %d, oracle %d (oracle's %+v)", key, got.ConflictsTotal, len(od.Conflicts), od.Conflicts) {
				return problems
			}
		} else if diff := cmp.Diff(od.Conflicts[:min(len(od.Conflicts), 100)], listed, cmpopts.EquateEmpty()); diff != "" {
			if add("conflicts", "summary of %s: conflicts (-oracle +dailySummary):\n%s", key, diff) {
				return problems
			}
		}
		sum := 0
		for _, n := range got.SkippedRecordsByReason {
			sum += n
		}
		if sum != got.SkippedRecords {
			if add("reasons", "summary of %s: skipped_records_by_reason %v sums to %d, skipped_records is %d", key, got.SkippedRecordsByReason, sum, got.SkippedRecords) {
				return problems
			}
		}
		for _, s := range got.Summary.Ventas {
			counted += s.Ordenes
		}
	}
	if len(problems) > 0 {
		return problems
	}
	for key, d := range judged.Days {
		if !summarized[key] {
			for _, s := range d.Ventas {
				counted += s.Ordenes
			}
		}
	}
	if counted != len(judged.OrderIDs) {
		add("exactly-once", "orders counted over all days: %d, distinct valid order ids committed: %d", counted, len(judged.OrderIDs))
	}
	return problems
}

// diffShrink replays ever smaller parts of a failing sequence on fresh
// topics, dropping chunks of steps, then single steps, then single records
// of transactions, while it still fails with a problem of the same kind,
// until budget runs out.
func diffShrink(t *testing.T, addrs []string, q diffSeq, kind string, budget time.Duration) (diffSeq, string) {
	t.Helper()
	deadline := time.Now().Add(budget)
	// A 503 costs dailySummary's whole Timeout: stop at the first one, and
	// at the first problem of the kind sought.
	stop := func(p diffProblem) bool { return p.Kind == kind || p.Kind == "status" }
	fails := func(c diffSeq) string {
		if time.Now().After(deadline) {
			return ""
		}
		for _, p := range diffRun(t, addrs, c, stop) {
			if p.Kind == kind {
				return p.Text
			}
		}
		return ""
	}
	last := ""
	for chunk := len(q.Steps) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i < len(q.Steps) && time.Now().Before(deadline); {
			end := min(i+chunk, len(q.Steps))
			c := q
			c.Steps = append(append([]diffStep(nil), q.Steps[:i]...), q.Steps[end:]...)
			if f := fails(c); f != "" {
				q, last = c, f
			} else {
				i = end
			}
		}
	}
	for i := 0; i < len(q.Steps); i++ {
		for j := 0; len(q.Steps[i].Recs) > 1 && j < len(q.Steps[i].Recs) && time.Now().Before(deadline); {
			c := q
			c.Steps = append([]diffStep(nil), q.Steps...)
			s := c.Steps[i]
			s.Recs = append(append([]dayRec(nil), s.Recs[:j]...), s.Recs[j+1:]...)
			c.Steps[i] = s
			if f := fails(c); f != "" {
				q, last = c, f
			} else {
				j++
			}
		}
	}
	return q, last
}

// TestDayReadDifferential writes seeded random sequences onto fresh topics
// and compares dailySummary with the oracle. SOPAIPILLAS_DIFF_LONG=1 runs
// many bigger sequences; -seed or SOPAIPILLAS_DIFF_SEED replays one.
func TestDayReadDifferential(t *testing.T) {
	seed := *diffSeedFlag
	if s := os.Getenv("SOPAIPILLAS_DIFF_SEED"); seed == 0 && s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SOPAIPILLAS_DIFF_SEED: %v", err)
		}
	}
	runs, size, budget := 3, 150, 45*time.Second
	if os.Getenv("SOPAIPILLAS_DIFF_LONG") != "" {
		runs, size, budget = 40, 600, 15*time.Minute
	}
	var seeds []int64
	if seed != 0 {
		seeds = []int64{seed}
	} else {
		base := time.Now().UnixNano() & (1<<40 - 1)
		for i := range runs {
			seeds = append(seeds, base+int64(i))
		}
	}
	names := []string{}
	all := brokers(t)
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		addrs := all[name]
		t.Run(name, func(t *testing.T) {
			shrunk := false
			for _, s := range seeds {
				q := diffGenerate(s, size)
				problems := diffRun(t, addrs, q, nil)
				if len(problems) == 0 {
					continue
				}
				t.Errorf("seed %d (replay: -seed %d or SOPAIPILLAS_DIFF_SEED=%d): dailySummary disagrees with the oracle:\n%s", s, s, s, diffText(problems))
				if shrunk {
					continue // shrink one seed per broker: each replay takes a fresh topic
				}
				shrunk = true
				kind := problems[0].Kind
				small, why := diffShrink(t, addrs, q, kind, budget)
				if why == "" {
					t.Logf("seed %d: no smaller sequence failing with %s found within %v", s, kind, budget)
					continue
				}
				t.Errorf("seed %d: minimal sequence failing with %s:\n%s\nwhich gives:\n%s", s, kind, small, why)
			}
		})
	}
}
