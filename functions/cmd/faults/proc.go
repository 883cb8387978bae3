package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// function is one function binary run as a process on a fixed loopback
// port, so that a restarted process is found where the old one was.
type function struct {
	name    string // e.g. "s1-neworder"
	bin     string
	env     []string
	port    int
	logPath string
	pidPath string

	cmd  *exec.Cmd
	done chan struct{}
}

// configVars are the variables the functions read; the harness sets the
// ones it needs and drops any the caller's environment carries.
var configVars = []string{
	"PORT", "LOG_LEVEL", "KAFKA_BROKERS", "KAFKA_CLIENT_ID", "KAFKA_CREATE_TOPICS", "KAFKA_REPLICATION_FACTOR",
	"ORDER_TOPIC", "SUMMARY_TOPIC", "REPORT_TOPIC", "ORDER_TOPIC_PARTITIONS", "SUMMARY_TOPIC_PARTITIONS", "TOPIC_RETENTION",
	"PUBLISH_TIMEOUT", "SUMMARY_TIMEZONE", "SUMMARY_TIMEOUT", "SUMMARY_TOKEN",
	"STARTUP_TIMEOUT", "MAX_PENDING_PUBLISHES", "GOMEMLIMIT",
	"MAIL_BACKEND", "MAIL_FROM", "MAIL_FROM_NAME", "MAIL_CONCURRENCY", "MAIL_RATE_PER_SECOND",
	"SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_TLS", "SMTP_ALLOW_INSECURE_AUTH",
	"SMTP_TIMEOUT", "SMTP_MAX_IDLE_CONNS", "SENDGRID_API_KEY", "SENDGRID_BASE_URL", "SENDGRID_TIMEOUT",
	"MAIL_LEDGER_TOPIC", "MAIL_LEDGER_PARTITIONS", "MAIL_LEDGER_RETENTION", "MAIL_LEDGER_LEASE",
}

// newFunction prepares binary bin (neworder, dailysummary, sendmail) on a
// free loopback port with env ("KEY=value") on top of the caller's
// environment.
func (h *harness) newFunction(name, bin string, env ...string) (*function, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := os.Environ()[:0:0]
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(configVars, key) {
			base = append(base, kv)
		}
	}
	f := &function{
		name:    name,
		bin:     filepath.Join(h.opts.bin, bin),
		env:     append(append(base, "PORT="+strconv.Itoa(port), "LOG_LEVEL=warn"), env...),
		port:    port,
		logPath: filepath.Join(h.logs, name+".log"),
		pidPath: filepath.Join(h.pids, name+".pid"),
	}
	h.functions = append(h.functions, f)
	return f, nil
}

// start runs the binary and waits until it answers /readyz.
func (f *function) start(ctx context.Context) error {
	if err := f.launch(); err != nil {
		return err
	}
	return f.waitReady(ctx)
}

// launch runs the binary without waiting for it.
func (f *function) launch() error {
	logFile, err := os.OpenFile(f.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "== %s start on port %d\n", time.Now().Format(time.RFC3339Nano), f.port)
	cmd := exec.Command(f.bin)
	cmd.Env = f.env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Die with the harness, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	f.cmd, f.done = cmd, make(chan struct{})
	_ = os.WriteFile(f.pidPath, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(cmd, f.done)
	return nil
}

// waitReady waits until the process answers /readyz with 2xx.
func (f *function) waitReady(ctx context.Context) error {
	cmd := f.cmd
	deadline := time.Now().Add(90 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(f.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		select {
		case <-f.done:
			return fmt.Errorf("%s exited during start (%s); see %s:\n%s", f.name, cmd.ProcessState, f.logPath, fileTail(f.logPath, 10))
		case <-ctx.Done():
			f.kill()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			f.kill()
			return fmt.Errorf("%s not ready after 90s; see %s", f.name, f.logPath)
		}
	}
}

// url is the address of path on the function.
func (f *function) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(f.port) + path
}

// kill SIGKILLs the process and waits for it to be gone.
func (f *function) kill() {
	if f.cmd == nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGKILL)
	<-f.done
	f.cmd = nil
	_ = os.Remove(f.pidPath)
}

// stop asks the process to stop (SIGTERM), and SIGKILLs it after 20s.
func (f *function) stop() {
	if f.cmd == nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
		f.cmd = nil
		_ = os.Remove(f.pidPath)
	case <-time.After(20 * time.Second):
		f.kill()
	}
}

// freePort returns a loopback port nobody listens on right now.
// freePort is a free loopback port below the kernel's ephemeral range
// (32768 and up), as hack/kafka.sh picks the brokers'. A port from the
// ephemeral range (":0") may be in TIME_WAIT as the local end of one of
// the thousands of client connections scenario 9 leaves behind, and the
// broker's listener may then fail to bind it (scenario 10's restart with
// a proxied listener, right after scenario 9, failed once in 60 s; its
// logs were gone, and this is the likeliest cause).
func freePort() (int, error) {
	for range 500 {
		port := 20000 + rand.IntN(12000)
		if portSeen(port) {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port in 20000-31999")
}

// portSeen reports whether any socket, in any state, has port at either
// end (/proc/net/tcp and tcp6), as hack/kafka.sh's free_port checks.
func portSeen(port int) bool {
	hex := fmt.Sprintf(":%04X ", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), hex) {
			return true
		}
	}
	return false
}

func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return tail(string(b), n)
}

// newProbeClient is a readiness probe: Knative's default probe timeout is
// 1 s.
func newProbeClient() *http.Client { return &http.Client{Timeout: time.Second} }
