package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// function is one function binary running as its own process, as it would in
// its container.
type function struct {
	name    string
	cmd     *exec.Cmd
	addr    string // 127.0.0.1:port
	started time.Time
	ready   time.Duration // exec to first 2xx on /readyz
	log     *os.File
	exited  chan error
	stopped sync.Once
}

// freePort asks the kernel for a free loopback port. The function binaries
// take $PORT, so the port is closed again before they bind it.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startFunction execs bin/name with env added to the environment and waits
// for its first 2xx on /readyz (connected to Kafka and serving), polling
// every 200µs, for at most 60 s.
func startFunction(ctx context.Context, binDir, logDir, name string, env map[string]string) (*function, error) {
	return startFunctionWithin(ctx, binDir, logDir, name, env, 60*time.Second)
}

// startFunctionWithin is startFunction waiting up to within for /readyz.
func startFunctionWithin(ctx context.Context, binDir, logDir, name string, env map[string]string, within time.Duration) (*function, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(logDir, name+"-"+strconv.Itoa(port)+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(binDir, name))
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "LOG_LEVEL=warn")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	exited := make(chan error, 1)
	f := &function{name: name, cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), log: logf, exited: exited}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	f.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get("http://" + f.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				f.ready = time.Since(f.started)
				return f, nil
			}
		}
		select {
		case err := <-exited:
			exited <- err
			logf.Close()
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("%s exited before answering: %v\n%s", name, err, tail(string(out), 2000))
		case <-ctx.Done():
			f.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Microsecond):
		}
		if time.Now().After(deadline) {
			f.stop()
			return nil, fmt.Errorf("%s was not ready (/readyz) within %s", name, within)
		}
	}
}

// rssMB reads the process's resident set size (VmRSS) in MiB.
func (f *function) rssMB() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", f.cmd.Process.Pid)
}

// stop sends SIGTERM (the function drains and exits) and waits for it,
// SIGKILL after 20s. Only the first call does anything.
func (f *function) stop() {
	f.stopped.Do(func() {
		_ = f.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-f.exited:
		case <-time.After(20 * time.Second):
			_ = f.cmd.Process.Kill()
			<-f.exited
		}
		f.log.Close()
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// gcLiveRe matches the heap sizes of a GODEBUG=gctrace=1 line:
// "…, 4->5->2 MB, 6 MB goal, …": at the start of the cycle, at its end, and
// marked live.
var gcLiveRe = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

// maxLiveHeapMB is the largest live heap (the third figure of each
// GODEBUG=gctrace=1 line, in MB as the runtime prints it: 2^20 bytes) that
// the function's log shows: what it holds, as opposed to the peak RSS,
// which GOMEMLIMIT lets the collector fill.
func (f *function) maxLiveHeapMB() (float64, error) {
	b, err := os.ReadFile(f.log.Name())
	if err != nil {
		return 0, err
	}
	best := -1.0
	for _, m := range gcLiveRe.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[3], 64)
		best = max(best, v)
	}
	if best < 0 {
		return 0, errNoFigure
	}
	return best, nil
}
