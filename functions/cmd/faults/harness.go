package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scenario is one fault to inject; it returns its table row.
type scenario struct {
	id, name string
	run      func(ctx context.Context, h *harness, row *Row) error
}

// scenarios in the order of the issue; -scenarios picks and orders them.
var scenarios = []scenario{
	{"1", "single broker SIGKILLed and restarted under load", scenarioBrokerRestart},
	{"2", "3-broker cluster (RF 3, min ISR 2): one broker SIGKILLed under load", scenarioClusterNodeKill},
	{"3", "newOrder SIGKILLed under load, restarted", scenarioNewOrderKill},
	{"4a", "two dailySummary replicas; summaries during a single-broker restart", scenarioSummarySingle},
	{"4b", "two dailySummary replicas; summaries during a cluster-node restart", scenarioSummaryCluster},
	{"5", "poison records on the order topic among valid orders", scenarioPoison},
	{"6", "SMTP down and sendMail SIGKILLed mid-fan-out (300 vendors)", scenarioMail},
	{"7", "timestamp disorder: future poison, late copies, skewed orders on a CreateTime topic", scenarioTimestamps},
	{"8", "transactional producer: committed and aborted orders, markers last", scenarioTransactions},
	{"9", "broker frozen (SIGSTOP) 20 s and 45 s under load; a summary and a newOrder start during each freeze", scenarioFreeze},
	{"10", "silent partition (a proxy that stops forwarding) 20 s under load; a summary during it", scenarioPartition},
	{"11", "sendMail SIGKILLed, then SIGTERMed, mid-fan-out of 1,000 vendors; redelivered", scenarioMailShutdown},
}

// harness owns everything a run starts: brokers, function processes and the
// scratch directories, and stops it all in close.
type harness struct {
	opts options
	logs string
	pids string

	single  *kafkaCluster // one node: scenarios 1, 3, 4a, 5, 6, 7, 8, 9, 10
	cluster *kafkaCluster // three nodes: scenarios 2, 4b

	tag       string         // the scenario run going on: its id, "-2" added when run again
	runs      map[string]int // runs of each scenario so far
	functions []*function
	closers   []func()

	// proxied is the single broker's listener for the silent proxy of
	// scenario 10 (added on first use), and proxyAddr where the proxy
	// listens, the address that listener advertises.
	proxied, proxyAddr string
}

func newHarness(o options) (*harness, error) {
	h := &harness{opts: o, logs: filepath.Join(o.work, "logs"), pids: filepath.Join(o.work, "pids"), runs: map[string]int{}}
	for _, d := range []string{h.logs, h.pids} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// hack/faults.sh finds the harness by this file if it has to stop it.
	if err := os.WriteFile(filepath.Join(h.pids, "harness.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	return h, nil
}

// runAll runs the chosen scenarios one after the other; a scenario that
// cannot run (a broker does not start) fails its row, not the run.
func (h *harness) runAll(ctx context.Context) []Row {
	var rows []Row
	for _, id := range strings.Split(h.opts.scenarios, ",") {
		id = strings.TrimSpace(id)
		i := indexOf(id)
		if i < 0 {
			rows = append(rows, Row{ID: id, Name: "unknown scenario", Notes: "no such scenario"})
			continue
		}
		s := scenarios[i]
		h.runs[s.id]++
		h.tag = s.id
		if n := h.runs[s.id]; n > 1 {
			h.tag += "-" + strconv.Itoa(n)
		}
		row := Row{ID: h.tag, Name: s.name, Sent: na, Acked: na, Counted: na, Lost: na, Double: na, Unavailable: -1, LongestAnswer: -1, Pass: true}
		logf("=== scenario %s: %s", h.tag, s.name)
		start := time.Now()
		rss := h.sampleRSS()
		err := s.run(ctx, h, &row)
		row.PeakRSS, row.PeakRSSOf = rss()
		row.Took = time.Since(start)
		if err != nil {
			row.fail("%v", err)
		}
		if row.Lost > 0 || row.Double > 0 {
			row.Pass = false
		}
		h.stopFunctions()
		printRow(row)
		rows = append(rows, row)
		if ctx.Err() != nil {
			logf("run interrupted or past its deadline; skipping the remaining scenarios")
			break
		}
	}
	return rows
}

func indexOf(id string) int {
	for i, s := range scenarios {
		if s.id == id {
			return i
		}
	}
	return -1
}

// singleBroker returns the one-node cluster, starting it (and stopping the
// three-node one, to keep the two cores for one cluster) if needed.
func (h *harness) singleBroker(ctx context.Context) (*kafkaCluster, error) {
	if h.single != nil {
		// A scenario that failed may have left it down: one failure must
		// not fail every scenario after it.
		if _, err := h.single.nodePid(1); err != nil {
			logf("the single broker is down (%v): restarting it", err)
			if err := h.single.restartNode(ctx, 1); err != nil {
				return nil, fmt.Errorf("restarting the single broker: %w", err)
			}
		}
		return h.single, nil
	}
	return h.newSingleBroker(ctx, "kafka1")
}

// newSingleBroker stops any cluster running and starts a one-node cluster
// with no data in dir, which the scenarios after it share.
func (h *harness) newSingleBroker(ctx context.Context, dir string) (*kafkaCluster, error) {
	for _, k := range []**kafkaCluster{&h.single, &h.cluster} {
		if *k != nil {
			(*k).stop()
			*k = nil
		}
	}
	h.proxied, h.proxyAddr = "", ""
	k, err := h.startKafka(ctx, dir, 1)
	h.single = k
	return k, err
}

// threeBrokers returns the three-node cluster, starting it if needed.
func (h *harness) threeBrokers(ctx context.Context) (*kafkaCluster, error) {
	if h.cluster != nil {
		return h.cluster, nil
	}
	if h.single != nil {
		h.single.stop()
		h.single = nil
	}
	k, err := h.startKafka(ctx, "kafka3", 3)
	h.cluster = k
	return k, err
}

func (h *harness) startKafka(ctx context.Context, dir string, nodes int) (*kafkaCluster, error) {
	start := time.Now()
	k, err := startKafka(ctx, h.opts.kafkaScript, filepath.Join(h.opts.work, dir), filepath.Join(h.logs, dir+".log"), nodes)
	if err != nil {
		return nil, err
	}
	logf("Apache Kafka %s, %d node(s) at %s (started in %s)", k.version, nodes, k.bootstrap(), time.Since(start).Round(100*time.Millisecond))
	return k, nil
}

// onClose registers cleanup that runs before the brokers stop.
func (h *harness) onClose(f func()) { h.closers = append(h.closers, f) }

// stopFunctions stops the function processes of the scenario that ended.
func (h *harness) stopFunctions() {
	var wg sync.WaitGroup
	for _, f := range h.functions {
		wg.Add(1)
		go func() { defer wg.Done(); f.stop() }()
	}
	wg.Wait()
	h.functions = nil
	for i := len(h.closers) - 1; i >= 0; i-- {
		h.closers[i]()
	}
	h.closers = nil
}

// close stops everything still running.
func (h *harness) close() {
	h.stopFunctions()
	for _, k := range []*kafkaCluster{h.single, h.cluster} {
		if k != nil {
			k.stop()
		}
	}
}

var logStart = time.Now()

// logf prints a progress line with the time since the harness started.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(logStart).Seconds(), fmt.Sprintf(format, args...))
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// sampleRSS samples the resident set of every function process (those
// with a pid file) every 100 ms until the returned function is called,
// which returns the largest seen and whose it was.
func (h *harness) sampleRSS() func() (int64, string) {
	var (
		mu   sync.Mutex
		peak int64
		of   string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			files, _ := filepath.Glob(filepath.Join(h.pids, "*.pid"))
			for _, f := range files {
				name := strings.TrimSuffix(filepath.Base(f), ".pid")
				if name == "harness" {
					continue
				}
				pid, err := os.ReadFile(f)
				if err != nil {
					continue
				}
				if rss := residentBytes(strings.TrimSpace(string(pid))); rss > 0 {
					mu.Lock()
					if rss > peak {
						peak, of = rss, name
					}
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() (int64, string) {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak, of
	}
}

// residentBytes is a process's VmRSS, 0 if it cannot be read.
func residentBytes(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
