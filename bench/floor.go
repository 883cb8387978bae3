package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// floorRun is the HTTP floor: newOrder's handler and server stack (runner,
// telemetry middleware, readBody) with a publisher that acknowledges at once
// (functions/cmd/benchfloor), driven by the same load generator with the same counts.
// c1's p50 against newOrder's is the cost of one acknowledged write.
type floorRun struct {
	fn       *function
	nextID   *atomic.Int64
	c1, c256 latencies
	open     latencies
	cpu      cpuSplit // at c256
}

func (b *bench) startFloor(ctx context.Context) (*floorRun, error) {
	fn, err := startFunction(ctx, b.binDir, b.workDir, "floor", nil)
	if err != nil {
		return nil, err
	}
	fl := &floorRun{fn: fn, nextID: new(atomic.Int64)}
	if _, err := closedLoop(fn.addr, 16, 2000, fl.nextID); err != nil { // warm up
		fn.stop()
		return nil, err
	}
	return fl, nil
}

// rounds is how many turns newOrder and the floor take at c256 and in the
// open loop: the machine is shared, and its load moves within a minute.
const rounds = 4

// ingestRuns is newOrder's side of alternate.
type ingestRuns struct {
	c256, open latencies
	cpu        cpuSplit
}

// alternate runs orders orders at c256, then 5,000 orders/s for openFor,
// against newOrder (fn) and the floor (fl) in turns of 1/rounds each,
// which of the two goes first changing every round, and sums each side.
func (b *bench) alternate(fn *function, fl *floorRun, orders int, openFor time.Duration, nextID *atomic.Int64) (ingestRuns, error) {
	type side struct {
		fn     *function
		nextID *atomic.Int64
		c256   []latencies
		open   []latencies
		cpu    cpuSplit
	}
	sides := [2]*side{{fn: fn, nextID: nextID}, {fn: fl.fn, nextID: fl.nextID}}
	for r := range rounds {
		for i := range 2 {
			s := sides[(r+i)%2]
			cpu := b.startCPU(s.fn)
			l, err := closedLoop(s.fn.addr, 256, orders/rounds, s.nextID)
			if err != nil {
				return ingestRuns{}, fmt.Errorf("%s c256: %w", s.fn.name, err)
			}
			s.cpu = s.cpu.plus(cpu.stop())
			s.c256 = append(s.c256, l)
		}
	}
	for r := range rounds {
		for i := range 2 {
			s := sides[(r+i)%2]
			l, err := openLoop(s.fn.addr, 5000, openFor/rounds, 256, s.nextID)
			if err != nil {
				return ingestRuns{}, fmt.Errorf("%s open loop: %w", s.fn.name, err)
			}
			s.open = append(s.open, l)
		}
	}
	in, floor := sides[0], sides[1]
	fl.c256, fl.open = merge(floor.c256), merge(floor.open)
	fl.cpu = floor.cpu.per(fl.c256.n)
	c256 := merge(in.c256)
	return ingestRuns{c256: c256, open: merge(in.open), cpu: in.cpu.per(c256.n)}, nil
}

func (l latencies) rate() float64 { return float64(l.n) / l.took.Seconds() }

// cpuSplit is the CPU time per order, in µs, of the function, the broker
// and the load generator (this process) over one run, and the wall time
// per order: on 2 cores, what the three together spend per order bounds
// the rate.
type cpuSplit struct {
	fn, broker, load, wall float64
}

func (c cpuSplit) plus(d cpuSplit) cpuSplit {
	return cpuSplit{c.fn + d.fn, c.broker + d.broker, c.load + d.load, c.wall + d.wall}
}

// per divides totals in µs by orders.
func (c cpuSplit) per(orders int) cpuSplit {
	n := float64(orders)
	return cpuSplit{c.fn / n, c.broker / n, c.load / n, c.wall / n}
}

type cpuMark struct {
	fnPid, brokerPid int
	fn, broker, load time.Duration
	at               time.Time
}

// startCPU reads the CPU time used so far by fn, the broker and the bench.
func (b *bench) startCPU(fn *function) cpuMark {
	m := cpuMark{fnPid: fn.cmd.Process.Pid, brokerPid: b.brokerPid(), at: time.Now()}
	m.fn, m.broker, m.load = procCPU(m.fnPid), procCPU(m.brokerPid), procCPU(os.Getpid())
	return m
}

// stop returns the CPU and wall time since m, in µs.
func (m cpuMark) stop() cpuSplit {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) }
	return cpuSplit{
		fn:     per(procCPU(m.fnPid) - m.fn),
		broker: per(procCPU(m.brokerPid) - m.broker),
		load:   per(procCPU(os.Getpid()) - m.load),
		wall:   per(time.Since(m.at)),
	}
}

// brokerPid is the broker's pid from hack/kafka.sh's state directory
// (<work>/kafka/pid), 0 if unknown.
func (b *bench) brokerPid() int {
	out, err := os.ReadFile(filepath.Join(b.workDir, "kafka", "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid
}

// procCPU is the user+system CPU time of pid (its threads, not its
// children), 0 if unknown. /proc/<pid>/stat's fields 14 and 15 are in clock
// ticks of 1/100 s on Linux.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // fields from 3 on
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// addCPU records a run's CPU split as figures named prefix_*.
func (b *bench) addCPU(prefix string, c cpuSplit) {
	b.add(figure{name: prefix + "_cpu_us_per_order_function", value: c.fn, unit: "µs"})
	b.add(figure{name: prefix + "_cpu_us_per_order_broker", value: c.broker, unit: "µs"})
	b.add(figure{name: prefix + "_cpu_us_per_order_loadgen", value: c.load, unit: "µs"})
	b.add(figure{name: prefix + "_wall_us_per_order", value: c.wall, unit: "µs"})
}

// profile runs newOrder with a profiler (functions/cmd/benchneworder) at c256 on
// its own topic and writes its CPU and allocation profiles, with their
// top functions as text, to b.profiles; it returns the mean records per
// batch the producer wrote, read from the broker's log segments.
func (b *bench) profile(ctx context.Context, seconds int) (float64, error) {
	if b.profiles == "" {
		return 0, nil
	}
	if err := os.MkdirAll(b.profiles, 0o755); err != nil {
		return 0, err
	}
	topic := "bench-profile-" + b.runID
	if err := b.createTopic(topic, 6); err != nil {
		return 0, err
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(port)
	env := b.functionEnv("neworder")
	env["ORDER_TOPIC"] = topic
	env["PPROF_ADDR"] = pprofAddr
	fn, err := startFunction(ctx, b.binDir, b.workDir, "neworder-pprof", env)
	if err != nil {
		return 0, err
	}
	defer fn.stop()
	var nextID atomic.Int64
	if _, err := closedLoop(fn.addr, 16, 2000, &nextID); err != nil { // warm up
		return 0, err
	}
	var stop atomic.Bool
	loadErr := make(chan error, 1)
	go func() {
		for !stop.Load() {
			if _, err := closedLoop(fn.addr, 256, 10000, &nextID); err != nil {
				loadErr <- err
				return
			}
		}
		loadErr <- nil
	}()
	base := "http://" + pprofAddr + "/debug/pprof/"
	cpuErr := fetchTo(base+"profile?seconds="+strconv.Itoa(seconds), filepath.Join(b.profiles, "neworder-c256-cpu.pb.gz"))
	allocErr := fetchTo(base+"allocs", filepath.Join(b.profiles, "neworder-c256-allocs.pb.gz"))
	stop.Store(true)
	if err := <-loadErr; err != nil {
		return 0, err
	}
	if cpuErr != nil || allocErr != nil {
		return 0, fmt.Errorf("profiles: %v %v", cpuErr, allocErr)
	}
	bin := filepath.Join(b.binDir, "neworder-pprof")
	for _, p := range []struct{ in, out, index string }{
		{"neworder-c256-cpu.pb.gz", "neworder-c256-cpu.txt", "cpu"},
		{"neworder-c256-allocs.pb.gz", "neworder-c256-alloc-space.txt", "alloc_space"},
		{"neworder-c256-allocs.pb.gz", "neworder-c256-alloc-objects.txt", "alloc_objects"},
	} {
		var top strings.Builder
		for _, mode := range []string{"-top", "-top -cum"} {
			args := append([]string{"tool", "pprof", "-nodecount=40", "-sample_index=" + p.index}, strings.Fields(mode)...)
			out, err := exec.CommandContext(ctx, "go", append(args, bin, filepath.Join(b.profiles, p.in))...).CombinedOutput()
			if err != nil {
				return 0, fmt.Errorf("go tool pprof: %w: %s", err, tail(string(out), 500))
			}
			fmt.Fprintf(&top, "$ go tool pprof %s neworder %s\n%s\n", strings.Join(args[2:], " "), p.in, out)
		}
		if err := os.WriteFile(filepath.Join(b.profiles, p.out), []byte(top.String()), 0o644); err != nil {
			return 0, err
		}
	}
	b.logf("profiled newOrder at c256: %d orders, profiles in %s", nextID.Load(), b.profiles)
	return b.recordsPerBatch(topic)
}

func fetchTo(url, path string) error {
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// recordsPerBatch reads the topic's log segments in the broker's data
// directory and returns the mean records per record batch: how many orders
// the producer put in each write. A v2 batch starts with baseOffset (8
// bytes) and batchLength (4), and holds its records count at byte 57.
func (b *bench) recordsPerBatch(topic string) (float64, error) {
	segs, err := filepath.Glob(filepath.Join(b.workDir, "kafka", "node*", "data", topic+"-*", "*.log"))
	if err != nil || len(segs) == 0 {
		return 0, fmt.Errorf("no log segments of %s: %v", topic, err)
	}
	var batches, records int64
	for _, seg := range segs {
		data, err := os.ReadFile(seg)
		if err != nil {
			return 0, err
		}
		for pos := 0; pos+61 <= len(data); {
			n := int(int32(binary.BigEndian.Uint32(data[pos+8:])))
			if n <= 0 {
				break
			}
			batches++
			records += int64(int32(binary.BigEndian.Uint32(data[pos+57:])))
			pos += 12 + n
		}
	}
	if batches == 0 {
		return 0, fmt.Errorf("no record batches in %s", topic)
	}
	return float64(records) / float64(batches), nil
}

// publishOnly runs functions/cmd/benchpublish: newOrder's publisher alone (no HTTP) at
// rate records a second for d, on a topic of its own, and returns its
// latencies from scheduled time to acknowledgement.
func (b *bench) publishOnly(ctx context.Context, rate int, d time.Duration) (latencies, error) {
	topic := "bench-publish-" + b.runID
	if err := b.createTopic(topic, 6); err != nil {
		return latencies{}, err
	}
	out, err := exec.CommandContext(ctx, filepath.Join(b.binDir, "publish"), "-brokers", strings.Join(b.brokers, ","),
		"-topic", topic, "-rate", strconv.Itoa(rate), "-d", d.String()).CombinedOutput()
	if err != nil {
		return latencies{}, fmt.Errorf("bench/publish: %w\n%s", err, tail(string(out), 2000))
	}
	var p50, p99, p999 float64
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%g %g %g %d", &p50, &p99, &p999, &n); err != nil {
		return latencies{}, fmt.Errorf("bench/publish printed %q: %w", out, err)
	}
	msDur := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	b.logf("publish only at %d/s: %d records, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms", rate, n, p50, p99, p999)
	return latencies{n: n, p50: msDur(p50), p99: msDur(p99), p999: msDur(p999), took: d}, nil
}
