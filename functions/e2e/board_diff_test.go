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

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
)

// TestBoardMatchesDailySummary runs the day-read differential test's
// random sequences (orders through newOrder and straight onto the topic in
// every form, retries, conflicting versions, letter-case variants of
// vendors, poison, committed and aborted transactions, stamps over four
// days in any order) past salesBoard, started before the first write and
// following them live. After quiescence its event stream and its
// GET /api/days/{fecha} say what POST /dailySummary says, for today,
// yesterday and the day before. -seed or SOPAIPILLAS_DIFF_SEED replays
// one sequence.
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

	if err := r.replay(ctx, q.Steps); err != nil {
		t.Fatalf("seed %d: %v", q.Seed, err)
	}
	if err := r.settle(ctx); err != nil {
		t.Fatal(err)
	}

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
		res, err := http.Get(board.URL + "/api/days/" + fecha)
		if err != nil {
			t.Fatal(err)
		}
		var got daySummary
		err = json.NewDecoder(res.Body).Decode(&got)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("seed %d: GET /api/days/%s: %d %v", q.Seed, fecha, res.StatusCode, err)
		}
		if d := boardDiff(want, got); d != "" {
			t.Errorf("seed %d (replay: -seed %d): the board's %s disagrees with dailySummary's: %s\n%s", q.Seed, q.Seed, fecha, d, q)
		}
	}
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
