package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
)

// The bounds scenarios 9 and 10 hold the functions to, as the README
// documents them, and what they add to them.
const (
	stallPublishTimeout = 5 * time.Second  // PUBLISH_TIMEOUT (default)
	stallSummaryTimeout = 10 * time.Second // SUMMARY_TIMEOUT set for the scenarios
	stallStartupTimeout = 30 * time.Second // STARTUP_TIMEOUT (default)
	stallSlack          = time.Second      // "within its bound, +1 s"
	stallRecovery       = 2 * time.Second  // first 2xx after the fault ends
	stallRate           = 200              // new orders a second
	stallMemoryLimit    = 256 << 20        // the chart's limits.memory of newOrder and dailySummary
)

// stallEnv is the functions' configuration in scenarios 9 and 10: the
// chart's GOMEMLIMIT (so that newOrder derives its shedding bound as it
// does in a pod) and a summary bound short enough to see.
func stallEnv() []string {
	return []string{"SUMMARY_TIMEOUT=" + stallSummaryTimeout.String(), "GOMEMLIMIT=230MiB"}
}

// stallChecks collects what a stall scenario measured against its bounds.
type stallChecks struct {
	mu       sync.Mutex
	problems []string
	notes    []string
	longest  time.Duration // longest summary answer
	marks    []mark        // when each fault began and ended
}

// mark is a moment of a scenario: "freeze 1 began".
type mark struct {
	what string
	at   time.Time
}

// mark notes that what happened now.
func (c *stallChecks) mark(what string) {
	c.mu.Lock()
	c.marks = append(c.marks, mark{what, time.Now()})
	c.mu.Unlock()
}

// since names t by the last mark before it: "2.1s after freeze 1 ended".
func (c *stallChecks) since(t time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.marks) - 1; i >= 0; i-- {
		if m := c.marks[i]; !m.at.After(t) {
			return fmt.Sprintf("%s after %s", t.Sub(m.at).Round(10*time.Millisecond), m.what)
		}
	}
	return "before any fault"
}

func (c *stallChecks) fail(format string, args ...any) {
	c.mu.Lock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *stallChecks) note(format string, args ...any) {
	c.mu.Lock()
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// summaryDuring asks url for today after delay, in the background, and
// checks that the answer (a 503 while the broker cannot be read, or an
// exact 200) comes within SUMMARY_TIMEOUT + 1 s.
func (c *stallChecks) summaryDuring(ctx context.Context, wg *sync.WaitGroup, label, url string, delay time.Duration) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if sleep(ctx, delay) != nil {
			return
		}
		day := events.DateOf(time.Now(), santiago).String()
		start := time.Now()
		status, _, err := askSummary(ctx, url, day)
		took := time.Since(start)
		c.mu.Lock()
		c.longest = max(c.longest, took)
		c.mu.Unlock()
		c.note("summary asked %s: %s in %s", label, answerName(status, err), took.Round(100*time.Millisecond))
		switch {
		case status == 0:
			c.fail("summary asked %s: no answer after %s (%v)", label, took.Round(100*time.Millisecond), err)
		case took > stallSummaryTimeout+stallSlack:
			c.fail("summary asked %s: answered %d after %s, past SUMMARY_TIMEOUT %s + 1s", label, status, took.Round(100*time.Millisecond), stallSummaryTimeout)
		case status != 200 && status != 503:
			c.fail("summary asked %s: answered %d, want 503 (or 200)", label, status)
		}
	}()
}

func answerName(status int, err error) string {
	if status == 0 {
		return "no answer"
	}
	if err == nil {
		return "200"
	}
	return fmt.Sprint(status)
}

// lateStart starts another newOrder while the fault is on and watches it:
// every /readyz probe must be answered at once (it never holds a
// connection it will not serve), and it must either become ready after the
// fault ends or exit non-zero, having logged why, within STARTUP_TIMEOUT
// (+1 s). wantExit says the fault outlasts STARTUP_TIMEOUT.
func (c *stallChecks) lateStart(ctx context.Context, wg *sync.WaitGroup, h *harness, p *pipeline, label string, wantExit bool) error {
	f, err := h.newFunction(p.name("neworder-"+label), "neworder", p.env("neworder-"+label)...)
	if err != nil {
		return err
	}
	if err := f.launch(); err != nil {
		return err
	}
	started := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		var slowestProbe time.Duration
		probes := 0
		for ctx.Err() == nil {
			select {
			case <-f.done:
				took := time.Since(started)
				state := f.cmd.ProcessState
				logged := strings.Contains(fileTail(f.logPath, 20), "startup failed")
				c.note("newOrder started %s: exited (%s) after %s, %d /readyz probes answered in at most %s", label, state, took.Round(100*time.Millisecond), probes, slowestProbe.Round(time.Millisecond))
				if state.ExitCode() == 0 {
					c.fail("newOrder started %s exited with status 0", label)
				}
				if !logged {
					c.fail("newOrder started %s exited without logging why", label)
				}
				if took > stallStartupTimeout+stallSlack {
					c.fail("newOrder started %s exited after %s, past STARTUP_TIMEOUT %s + 1s", label, took.Round(100*time.Millisecond), stallStartupTimeout)
				}
				return
			default:
			}
			t := time.Now()
			resp, err := probeClient.Get(f.url("/readyz"))
			took := time.Since(t)
			probes++
			slowestProbe = max(slowestProbe, took)
			if err != nil {
				// Refused or closed is an answer (not listening yet, or
				// exiting); a probe that hangs is what must never happen.
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					c.fail("newOrder started %s: /readyz probe got no answer in %s: %v", label, took.Round(time.Millisecond), err)
				}
			} else {
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					c.note("newOrder started %s: ready after %s, %d /readyz probes answered in at most %s", label, time.Since(started).Round(100*time.Millisecond), probes, slowestProbe.Round(time.Millisecond))
					if wantExit {
						c.fail("newOrder started %s became ready while the broker could not be reached", label)
					}
					return
				}
			}
			if time.Since(started) > stallStartupTimeout+5*time.Second {
				c.fail("newOrder started %s neither ready nor gone after %s", label, time.Since(started).Round(time.Second))
				return
			}
			_ = sleep(ctx, 200*time.Millisecond)
		}
	}()
	return nil
}

var probeClient = newProbeClient()

// finishStall closes a stall scenario: drains the load, checks the answers,
// verifies the orders, and fills the row.
func finishStall(ctx context.Context, h *harness, p *pipeline, row *Row, l *openLoad, c *stallChecks, wg *sync.WaitGroup, recoveries []time.Duration) error {
	wg.Wait()
	res, slowest, noAnswer := l.finish(ctx, 2*time.Minute)
	loadNotes(row, res)
	row.LongestAnswer = max(slowest, c.longest)
	// The bound is newOrder's: from the request sent to its answer. What the
	// client itself took (a connection, writing, reading; on a shared
	// machine a starved harness) is reported, not held against it.
	for _, a := range []struct {
		what string
		s    slowAnswer
	}{{"slowest newOrder answer", l.slowest}, {"slowest newOrder answer from request sent", l.slowestServer}} {
		if a.s.took > 0 {
			row.note("%s %d in %s, sent %s: %s waiting for a connection, %s from request sent to answer",
				a.what, a.s.status, a.s.took.Round(10*time.Millisecond), c.since(a.s.sent), a.s.conn.Round(10*time.Millisecond), a.s.server.Round(10*time.Millisecond))
		}
	}
	if s := l.slowestServer; s.server > stallPublishTimeout+stallSlack {
		c.fail("a newOrder answer came %s after its request was sent, past PUBLISH_TIMEOUT %s + 1s", s.server.Round(10*time.Millisecond), stallPublishTimeout)
	}
	if noAnswer > 0 {
		c.fail("%d newOrder requests got no HTTP answer (a reset, a close or no answer within %s)", noAnswer, l.timeout)
		l.mu.Lock()
		for _, f := range l.failed {
			conn := "a new connection"
			if f.reused {
				conn = "a kept connection"
			}
			row.note("no answer: sent %s on %s, failed after %s: %s", c.since(f.sent), conn, f.took.Round(time.Millisecond), f.err)
		}
		l.mu.Unlock()
	}
	var recs []string
	for _, r := range recoveries {
		recs = append(recs, r.Round(10*time.Millisecond).String())
		if r > stallRecovery {
			c.fail("first 2xx %s after the fault ended, want within %s", r.Round(10*time.Millisecond), stallRecovery)
		}
	}
	row.note("first 2xx after each recovery: %s", strings.Join(recs, ", "))
	// These bounds are a second or two wide: on a shared machine other
	// work can take them; say how busy it was.
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		row.note("load average (1, 5, 15 min) at the end %s on %d CPUs", strings.Join(strings.Fields(string(b))[:3], ", "), runtime.NumCPU())
	}
	for _, n := range c.notes {
		row.note("%s", n)
	}
	_, err := verifyOrders(ctx, row, p.kafka.brokers, p.orderTopic, p.summary.url("/dailySummary"), res, 100)
	for _, pr := range c.problems {
		row.fail("%s", pr)
	}
	return err
}

// scenarioFreeze: the only broker is frozen with SIGSTOP, for 20 s and then
// for 45 s, while clients keep sending 200 new orders a second and retry
// each until acknowledged. During each freeze a summary is asked for and
// another newOrder is started. Every answer must come within its bound,
// newOrder's memory stay under the chart's limit (it sheds load), the
// first 2xx come within 2 s of the thaw, and nothing be lost or counted
// twice.
func scenarioFreeze(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	p, err := h.startPipelineWith(ctx, k, stallEnv()...)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	l := newOpenLoad(p.newOrder.url("/newOrder"), 9_000_000, 100, stallRate)
	l.start(lctx)
	c := &stallChecks{}
	var wg sync.WaitGroup
	var recoveries []time.Duration
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	for _, freeze := range []time.Duration{20 * time.Second, 45 * time.Second} {
		label := "during the " + freeze.String() + " freeze"
		thaw, err := k.freezeNode(1)
		if err != nil {
			return err
		}
		h.onClose(thaw) // never leave a broker stopped
		frozen := time.Now()
		c.mark("the " + freeze.String() + " freeze began")
		logf("broker SIGSTOPped for %s at %d orders sent", freeze, l.next.Load())
		c.summaryDuring(ctx, &wg, label+" (at +1s)", p.summary.url("/dailySummary"), time.Second)
		c.summaryDuring(ctx, &wg, label+" (at +"+(freeze-12*time.Second).String()+")", p.summary.url("/dailySummary"), freeze-12*time.Second)
		_ = sleep(ctx, 2*time.Second)
		if err := c.lateStart(ctx, &wg, h, p, "late-"+freeze.String(), freeze > stallStartupTimeout); err != nil {
			thaw()
			return err
		}
		_ = sleep(ctx, time.Until(frozen.Add(freeze)))
		thaw()
		thawed := time.Now()
		c.mark("the " + freeze.String() + " freeze ended")
		r := l.waitOKAfter(ctx, thawed, 30*time.Second)
		recoveries = append(recoveries, r)
		logf("broker thawed at %s after %s; first 2xx %s later", thawed.UTC().Format("15:04:05.000"), thawed.Sub(frozen).Round(100*time.Millisecond), r.Round(10*time.Millisecond))
		_ = sleep(ctx, 10*time.Second-r)
	}
	return finishStall(ctx, h, p, row, l, c, &wg, recoveries)
}
