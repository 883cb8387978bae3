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

// floor measures the HTTP floor: the same load generator against newOrder's
// handler and server stack (runner, telemetry middleware, readBody) with a
// publisher that acknowledges at once (bench/floor), at concurrency 1 and
// 256 and at a steady 5,000 orders/s, with the same counts as newOrder's
// runs. It returns the c256 rate and the open loop's latencies; c1's p50
// against newOrder's is the cost of one acknowledged write.
type floorRun struct {
	c1, c256 latencies
	open     latencies
	cpu      cpuSplit // at c256
}

func (b *bench) floor(ctx context.Context, counts map[int]int, openFor time.Duration) (floorRun, error) {
	fn, err := startFunction(ctx, b.binDir, b.workDir, "floor", nil)
	if err != nil {
		return floorRun{}, err
	}
	defer fn.stop()
	var (
		r      floorRun
		nextID atomic.Int64
	)
	if _, err := closedLoop(fn.addr, 16, 2000, &nextID); err != nil { // warm up
		return r, err
	}
	if r.c1, err = closedLoop(fn.addr, 1, counts[1], &nextID); err != nil {
		return r, fmt.Errorf("floor c1: %w", err)
	}
	cpu := b.startCPU(fn)
	if r.c256, err = closedLoop(fn.addr, 256, counts[256], &nextID); err != nil {
		return r, fmt.Errorf("floor c256: %w", err)
	}
	r.cpu = cpu.stop(r.c256.n)
	b.logf("floor c256: %d orders in %s", r.c256.n, r.c256.took.Round(time.Millisecond))
	if r.open, err = openLoop(fn.addr, 5000, openFor, 256, &nextID); err != nil {
		return r, fmt.Errorf("floor open loop: %w", err)
	}
	return r, nil
}

// cpuSplit is the CPU time per order, in µs, of the function, the broker
// and the load generator (this process) over one run, and the wall time
// per order: on 2 cores, what the three together spend per order bounds
// the rate.
type cpuSplit struct {
	fn, broker, load, wall float64
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

func (m cpuMark) stop(orders int) cpuSplit {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(orders) }
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

// profile runs a newOrder built with -tags pprof (bench/pprof) at c256 on
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
