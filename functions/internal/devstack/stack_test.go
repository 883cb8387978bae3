package devstack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// devProcess is `make dev` as a user runs it: hack/dev.sh, which builds the
// stack and runs it, with every port chosen by the system.
type devProcess struct {
	t                 *testing.T
	cmd               *exec.Cmd
	gateway, mailView string
	mu                sync.Mutex
	stdout, stderr    bytes.Buffer
	exited            chan struct{}
	err               error
}

// startDev runs hack/dev.sh on dir and waits until the stack says it is
// running. Settings that `make test` exports for other tests (a real
// broker's KAFKA_BROKERS) are not passed on: the stack runs as on a
// developer's machine.
func startDev(t *testing.T, dir string, env ...string) *devProcess {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "hack", "dev.sh"))
	cmd.Dir = root
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "KAFKA_"), strings.HasPrefix(name, "SMTP_"), strings.HasPrefix(name, "MAIL_"),
			strings.HasPrefix(name, "DEV_"), strings.HasPrefix(name, "SUMMARY_"), strings.HasPrefix(name, "SENDGRID_"),
			name == "LOG_LEVEL", name == "PORT", name == "GOFLAGS", name == "SOPAIPILLAS_CACHE":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	goflags := os.Getenv("GOFLAGS")
	if raceEnabled {
		goflags = strings.TrimSpace(goflags + " -race")
	}
	cmd.Env = append(cmd.Env, "GOFLAGS="+goflags, "SOPAIPILLAS_CACHE="+devCache(t), "DEV_DIR="+dir,
		"DEV_GATEWAY_PORT=0", "DEV_NEWORDER_PORT=0", "DEV_DAILYSUMMARY_PORT=0", "DEV_SENDMAIL_PORT=0",
		"DEV_KAFKA_PORT=0", "DEV_SMTP_PORT=0", "DEV_MAIL_WEB_PORT=0", "DEV_SALESBOARD_PORT=0")
	cmd.Env = append(cmd.Env, env...)
	p := &devProcess{t: t, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			if m := regexp.MustCompile(`^  gateway\s+(http://\S+)/newOrder`).FindStringSubmatch(line); m != nil {
				p.gateway = m[1]
			}
			if m := regexp.MustCompile(`browse (http://\S+)`).FindStringSubmatch(line); m != nil {
				p.mailView = m[1]
			}
			p.mu.Unlock()
			if strings.HasPrefix(line, "Try:") {
				once.Do(func() { close(running) })
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("dev stack stderr:\n%s", p.Stderr())
		}
	})
	select {
	case <-running:
	case <-p.exited:
		t.Fatalf("the dev stack exited before it ran (%v):\n%s", p.err, p.Stderr())
	case <-time.After(5 * time.Minute):
		t.Fatalf("the dev stack did not start in 5 minutes:\n%s", p.Stderr())
	}
	return p
}

var (
	devCacheOnce sync.Once
	devCacheDir  string
)

// devCache is one cache for the test binary's stacks, so only the first
// start builds.
func devCache(t *testing.T) string {
	devCacheOnce.Do(func() {
		d, err := os.MkdirTemp("", "sopaipillas-devstack-test-")
		if err != nil {
			t.Fatal(err)
		}
		devCacheDir = d
	})
	return devCacheDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if devCacheDir != "" {
		os.RemoveAll(devCacheDir)
	}
	os.Exit(code)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *devProcess) Stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }
func (p *devProcess) Stdout() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stdout.String() }

// stop sends sig and returns the exit code.
func (p *devProcess) stop(sig os.Signal) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("the dev stack did not stop within 60 s of %v:\n%s", sig, p.Stderr())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	if resp.StatusCode >= 300 {
		t.Logf("POST %s %s: %d %s", url, body, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func (p *devProcess) order(id, n int) {
	p.t.Helper()
	body := fmt.Sprintf(`{"order_id": %d, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "cook@yopmail.com", "numero_sopaipillas": %d}`, id, n)
	if code, _ := post(p.t, p.gateway+"/newOrder", body); code != http.StatusCreated {
		p.t.Fatalf("order %d: status %d, want 201", id, code)
	}
}

// summary asks for today so far and returns the vendor's orders and
// sopaipillas.
func (p *devProcess) summary() (orders, sopaipillas int) {
	p.t.Helper()
	code, out := post(p.t, p.gateway+"/dailySummary", "")
	if code != http.StatusOK {
		p.t.Fatalf("summary: status %d, want 200", code)
	}
	summary, _ := out["summary"].(map[string]any)
	ventas, _ := summary["ventas"].(map[string]any)
	v, _ := ventas["vendor_tarea2@yopmail.com"].(map[string]any)
	o, _ := v["n_ordenes"].(float64)
	s, _ := v["n_sopaipillas"].(float64)
	return int(o), int(s)
}

// waitVendorMails polls the mail view until it lists at least n emails to
// the vendor (cooks get reports too), and returns the newest one's path.
func (p *devProcess) waitVendorMails(n int) string {
	p.t.Helper()
	re := regexp.MustCompile(`<a href="(/mail/[^"]+)"[^>]*><b>[^<]*</b><small>&lt;vendor_tarea2@yopmail.com&gt;</small>`)
	deadline := time.Now().Add(60 * time.Second)
	var page []byte
	for {
		resp, err := http.Get(p.mailView + "/")
		if err == nil {
			page, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := re.FindAllSubmatch(page, -1); len(m) >= n {
				return string(m[0][1])
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the mail view did not list %d emails to the vendor within 60 s; it shows:\n%s\nstdout:\n%s", n, page, p.Stdout())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDevStackLikeAUser runs `make dev`'s stack as a person does: start,
// orders, a summary, the email in the mail view (in Chromium when there is
// one), Ctrl-C, start again, a second stack on the same directory, a
// kill -9, start again.
func TestDevStackLikeAUser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dev stack")
	}
	dir := filepath.Join(t.TempDir(), ".dev")

	first := time.Now()
	dev := startDev(t, dir)
	t.Logf("first start (build included): %s", time.Since(first).Round(time.Millisecond))
	dev.order(1, 10)
	dev.order(2, 20)
	dev.order(3, 30)
	if o, s := dev.summary(); o != 3 || s != 60 {
		t.Fatalf("summary: %d orders, %d sopaipillas; want 3, 60", o, s)
	}
	dev.waitVendorMails(1)
	// The sales board, at the address the stack prints, has the same day.
	if page := get(t, dev.gateway+"/tablero"); !strings.Contains(page, `id="t-sopaipillas">60<`) {
		t.Errorf("the sales board at %s/tablero does not show 60 sopaipillas:\n%.600s", dev.gateway, page)
	}

	// A second stack on the same directory refuses at once, naming both.
	second := exec.Command(dev.cmd.Path)
	second.Dir, second.Env = dev.cmd.Dir, dev.cmd.Env
	out, err := second.CombinedOutput()
	want := fmt.Sprintf("data directory %s is in use by another dev stack (PID %d)", dir, dev.cmd.Process.Pid)
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("a second stack on %s: %v\n%s\nwant it refused with %q", dir, err, out, want)
	}

	// Logs: JSON on stdout, one object a line.
	for _, line := range strings.Split(strings.TrimSpace(dev.Stdout()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["level"] == nil {
			t.Errorf("stdout line is not a JSON log entry: %q", line)
		}
	}

	if code := dev.stop(os.Interrupt); code != 0 {
		t.Fatalf("after Ctrl-C (SIGINT) the stack exited %d, want 0", code)
	}
	if !strings.Contains(dev.Stderr(), "stopped; data kept in") {
		t.Errorf("no word that it stopped:\n%s", dev.Stderr())
	}
	// Nothing left running: the lock is free and the gateway is gone.
	if l, err := LockDir(dir); err != nil {
		t.Errorf("after Ctrl-C the directory is still locked: %v", err)
	} else {
		l.Close()
	}
	if _, err := http.Get(dev.gateway + "/newOrder"); err == nil {
		t.Errorf("after Ctrl-C %s still answers", dev.gateway)
	}

	// Start again, at LOG_LEVEL=warn: the earlier orders count, the
	// earlier email is still listed.
	restart := time.Now()
	dev = startDev(t, dir, "LOG_LEVEL=warn")
	t.Logf("restart: %s", time.Since(restart).Round(time.Millisecond))
	dev.order(4, 40)
	if o, s := dev.summary(); o != 4 || s != 100 {
		t.Fatalf("summary after a restart: %d orders, %d sopaipillas; want 4, 100", o, s)
	}
	newest := dev.waitVendorMails(2)
	if strings.Contains(dev.Stdout(), `"level":"INFO"`) {
		t.Errorf("LOG_LEVEL=warn, yet info lines on stdout:\n%s", dev.Stdout())
	}
	t.Run("mail view in Chromium", func(t *testing.T) {
		ctx := browser(t)
		got := viewInBrowser(t, ctx, dev.mailView+newest)
		if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "mailview.png"), got.Screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
		// The vendor's newest email: the summary of 4 orders, 100 sopaipillas.
		for _, want := range []string{"vendor_tarea2@yopmail.com", "Cantidad de órdenes recibidas 4", "Cantidad de sopaipillas vendidas 100"} {
			if !strings.Contains(got.Frame, want) {
				t.Errorf("the rendered HTML part lacks %q:\n%s", want, got.Frame)
			}
		}
		for _, want := range []string{"Correos capturados (", "horas de America/Santiago", "Reporte de sopaipillas"} {
			if !strings.Contains(got.Page, want) {
				t.Errorf("the page lacks %q:\n%s", want, got.Page)
			}
		}
	})

	// kill -9: what was acknowledged survives.
	dev.order(5, 50)
	if code := dev.stop(syscall.SIGKILL); code != 128+9 {
		t.Fatalf("kill -9: exit %d", code)
	}
	dev = startDev(t, dir)
	if o, s := dev.summary(); o != 5 || s != 150 {
		t.Fatalf("summary after kill -9: %d orders, %d sopaipillas; want 5, 150", o, s)
	}
	if code := dev.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("after SIGTERM the stack exited %d, want 0", code)
	}
}

// get returns the body of a GET of url, following redirects.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
