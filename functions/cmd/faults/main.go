// Command faults is the fault-injection harness behind `make test-faults`
// (hack/faults.sh): it starts real Apache Kafka brokers through
// hack/kafka.sh, runs the function binaries as processes on loopback, drives
// them with a retrying load client, injects faults (SIGKILLed brokers and
// functions, poison records, an SMTP outage) and checks that no acknowledged
// order is lost or counted twice. It prints one table row per scenario and
// exits non-zero when any scenario fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the business time zone, whatever the host has
)

func main() {
	// Stop (and clean up) if whatever started us dies, rather than run on
	// as an orphan whose brokers nobody stops.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		os.Exit(1)
	}
}

// options are the harness's flags.
type options struct {
	bin         string // directory with neworder, dailysummary, sendmail
	kafkaScript string
	work        string // scratch directory: broker state, logs, pid files
	report      string // markdown table written here
	scenarios   string
	orders      int
	ordersSmall int
	concurrency int
	timeout     time.Duration
	// strictTiming fails a scenario on a timing bound it passed; by
	// default such a bound is reported only, since a shared machine's
	// load can take any bound (the developers' guide: no timed assertions).
	strictTiming bool
}

func run(ctx context.Context) error {
	var o options
	flag.StringVar(&o.bin, "bin", "", "directory holding the neworder, dailysummary and sendmail binaries")
	flag.StringVar(&o.kafkaScript, "kafka", "hack/kafka.sh", "path of hack/kafka.sh")
	flag.StringVar(&o.work, "work", "", "scratch directory (broker state, logs, pid files)")
	flag.StringVar(&o.report, "report", "", "write the table as markdown to this file (default: print it)")
	// The single-broker scenarios first, then the three-broker ones.
	flag.StringVar(&o.scenarios, "scenarios", "1,3,4a,5,6,7,8,9,10,11,2,4b", "scenarios to run, in order")
	flag.IntVar(&o.orders, "orders", 50000, "orders sent in the broker-restart scenarios (1, 2)")
	flag.IntVar(&o.ordersSmall, "orders-small", 20000, "orders sent in the other load scenarios (3, 5; 7 and 8 send at most 5000)")
	flag.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients of newOrder")
	flag.DurationVar(&o.timeout, "timeout", 9*time.Minute, "bound on the whole run")
	flag.BoolVar(&o.strictTiming, "strict-timing", false, "fail a scenario on a timing bound (answer, recovery, start times), not only report it")
	flag.Parse()
	if o.bin == "" || o.work == "" {
		return fmt.Errorf("-bin and -work are required")
	}
	// A value that looks like a flag, or words left over, mean an empty
	// variable in the caller's command line shifted the flags.
	for name, v := range map[string]string{"-bin": o.bin, "-work": o.work, "-kafka": o.kafkaScript} {
		if strings.HasPrefix(v, "-") {
			return fmt.Errorf("%s %q looks like a flag: was the variable before it empty?", name, v)
		}
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: was a flag's value empty?", flag.Args())
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	h, err := newHarness(o)
	if err != nil {
		return err
	}
	defer h.close()
	rows := h.runAll(ctx)
	table := renderTable(rows)
	if o.report != "" {
		if err := os.WriteFile(o.report, []byte(table), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", o.report, err)
		}
		logf("table written to %s", o.report)
	} else {
		fmt.Println()
		fmt.Print(table)
	}
	failed := 0
	for _, r := range rows {
		if !r.Pass {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios failed", failed, len(rows))
	}
	return nil
}
