package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
)

// The shell examples of README.md and docs/*.md are fenced blocks whose
// info string starts with sh (or bash, shell). The words after it say how
// TestDocExamples treats the block; GitHub shows only the language.
//
//	```sh            run with bash against the running `make dev`; exit 0
//	```sh eventually the same, repeated until it passes (within 60 s): what
//	                 it shows happens after the previous example answered
//	```sh stack      starts a stack of its own (a `make dev` variant): the
//	                 running stacks are stopped first (Ctrl-C), the block
//	                 runs until it prints its URLs, and the blocks after it
//	                 run against it
//	```sh stack alongside  the same, beside the running stack
//	```sh env        the addresses `make dev` prints by default: checked
//	                 against the dev stack's defaults, not run (the test's
//	                 stacks listen on free ports, in the same variables)
//	```sh cluster    needs a Kubernetes cluster or a cloud: counted, not run
//	```sh suite      a test suite, benchmark or broker of its own (make
//	                 test, make bench, make kafka...): counted, not run
//	```sh external   needs a tool the project does not install (a code
//	                 generator, a collector): counted, not run
//
// A fence right after a shell block whose info string has the word output
// (```json output) is what that block prints: whitespace aside, it must
// match, with … standing for anything (dates, ids, times). For a stack
// block it is matched once the stack has stopped.
//
// Executed blocks reach the stack only through the variables GATEWAY,
// NEWORDER, DAILYSUMMARY, SENDMAIL, SALESBOARD and MAILVIEW (never a
// fixed port), and a curl either fails on an HTTP error (-f) or has its
// output shown. Every fence must name its language.

// docVars maps the variables examples use to the dev stack's port setting
// (a field of devstack.Options) that gives their default address.
var docVars = map[string]string{
	"GATEWAY":      "GatewayPort",
	"NEWORDER":     "NewOrderPort",
	"DAILYSUMMARY": "DailySummaryPort",
	"SENDMAIL":     "SendMailPort",
	"SALESBOARD":   "SalesBoardPort",
	"MAILVIEW":     "MailWebPort",
}

// docBlock is one fenced block of a document.
type docBlock struct {
	doc, lang string
	markers   map[string]bool
	line      int
	body      string
	output    *docBlock // the output fence that follows, if any
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d", b.doc, b.line) }

var fenceRE = regexp.MustCompile("^(```+)(.*)$")

// parseFences returns the fenced blocks of a Markdown document.
func parseFences(doc, text string) ([]*docBlock, error) {
	var (
		blocks []*docBlock
		cur    *docBlock
		fence  string
		body   strings.Builder
	)
	for i, line := range strings.Split(text, "\n") {
		m := fenceRE.FindStringSubmatch(line)
		if cur == nil {
			if m == nil {
				continue
			}
			words := strings.Fields(m[2])
			if len(words) == 0 {
				return nil, fmt.Errorf("%s:%d: a fence without a language (sh, text, json, yaml, http...)", doc, i+1)
			}
			cur = &docBlock{doc: doc, lang: words[0], markers: map[string]bool{}, line: i + 1}
			for _, w := range words[1:] {
				cur.markers[w] = true
			}
			fence = m[1]
			body.Reset()
			continue
		}
		if m != nil && m[1] == fence && strings.TrimSpace(m[2]) == "" {
			cur.body = body.String()
			blocks = append(blocks, cur)
			cur = nil
			continue
		}
		body.WriteString(line + "\n")
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: fence never closed", doc, cur.line)
	}
	// Attach each output fence to the shell block before it.
	var out []*docBlock
	for _, b := range blocks {
		if b.markers["output"] {
			if len(out) == 0 || !isShell(out[len(out)-1].lang) || out[len(out)-1].output != nil {
				return nil, fmt.Errorf("%s: an output fence must follow a shell block", b)
			}
			out[len(out)-1].output = b
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

func isShell(lang string) bool { return lang == "sh" || lang == "bash" || lang == "shell" }

// outputMatches reports whether got is what want shows: whitespace is
// ignored and … stands for any text.
func outputMatches(want, got string) bool {
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	parts := strings.Split(squeeze(want), "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?s)^` + strings.Join(parts, ".*?") + `$`).MatchString(squeeze(got))
}

var (
	fixedAddrRE = regexp.MustCompile(`(localhost|127\.0\.0\.1):[0-9]`)
	curlRE      = regexp.MustCompile(`(^|[\s;|&(])curl\s`)
	curlFailRE  = regexp.MustCompile(`(^|\s)(-[a-zA-Z]*f[a-zA-Z]*|--fail|--fail-with-body)(\s|$)`)
	envLineRE   = regexp.MustCompile(`^export\s+(.*)$`)
)

// runs reports whether the test runs b.
func runs(b *docBlock) bool {
	return isShell(b.lang) && !b.markers["cluster"] && !b.markers["suite"] && !b.markers["external"] && !b.markers["env"]
}

// lintBlock checks what a block must be without running it.
func lintBlock(b *docBlock) error {
	run := runs(b)
	for m := range b.markers {
		switch m {
		case "eventually", "stack", "alongside", "env", "cluster", "suite", "external":
		default:
			return fmt.Errorf("%s: unknown marker %q", b, m)
		}
	}
	if !run {
		if b.output != nil {
			return fmt.Errorf("%s: a block that is not run cannot have its output checked", b)
		}
		return nil
	}
	if m := fixedAddrRE.FindString(b.body); m != "" {
		return fmt.Errorf("%s: %q: an executed example reaches the stack through $GATEWAY, $MAILVIEW... (the tests' stacks listen on free ports)", b, m)
	}
	if !b.markers["stack"] && b.output == nil {
		// Each command line (continuations joined) that runs curl fails on
		// an HTTP error, or its output is shown.
		for _, cmd := range strings.Split(strings.ReplaceAll(b.body, "\\\n", " "), "\n") {
			if curlRE.MatchString(cmd) && !curlFailRE.MatchString(cmd) {
				return fmt.Errorf("%s: %q: a curl whose output is not shown must fail on an HTTP error (-f)", b, strings.TrimSpace(cmd))
			}
		}
	}
	return nil
}

// docStack is one `make dev` (or variant) the examples run against.
type docStack struct {
	block  *docBlock // the block that started it
	cmd    *exec.Cmd
	urls   map[string]string
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	exited chan struct{}
}

func (s *docStack) Stdout() string { s.mu.Lock(); defer s.mu.Unlock(); return s.stdout.String() }
func (s *docStack) Stderr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.stderr.String() }

var bannerRE = map[string]*regexp.Regexp{
	"GATEWAY":      regexp.MustCompile(`^\s+gateway\s+(http://\S+)/newOrder`),
	"NEWORDER":     regexp.MustCompile(`^\s+newOrder\s+(http://\S+)`),
	"DAILYSUMMARY": regexp.MustCompile(`^\s+dailySummary\s+(http://\S+)`),
	"SENDMAIL":     regexp.MustCompile(`^\s+sendMail\s+(http://\S+)`),
	"SALESBOARD":   regexp.MustCompile(`^\s+salesBoard\s+(http://\S+)`),
	"MAILVIEW":     regexp.MustCompile(`browse (http://[^\s;)]+)`),
}

// docRun is the state of one run of the examples: a fresh copy of the
// working tree and the stacks running on it.
type docRun struct {
	t      *testing.T
	dir    string
	env    []string
	stacks []*docStack
}

// startStack runs script with bash in its own process group and waits
// until it has printed every URL of a running stack.
func (r *docRun) startStack(t *testing.T, b *docBlock, script string) *docStack {
	t.Helper()
	cmd := exec.Command("bash", "-c", "set -o errexit -o pipefail\n"+script)
	cmd.Dir, cmd.Env = r.dir, r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &docStack{block: b, cmd: cmd, urls: map[string]string{}, exited: make(chan struct{})}
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.stdout.Write(p) })
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.stacks = append(r.stacks, s)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			for name, re := range bannerRE {
				if m := re.FindStringSubmatch(line); m != nil {
					s.urls[name] = m[1]
				}
			}
			n := len(s.urls)
			s.mu.Unlock()
			if n == len(bannerRE) {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-ready:
	case <-s.exited:
		t.Fatalf("%s: the stack exited before it ran:\n%s", b, s.Stderr())
	case <-time.After(10 * time.Minute):
		t.Fatalf("%s: the stack did not print its URLs within 10 minutes:\n%s", b, s.Stderr())
	}
	return s
}

// stop is Ctrl-C: SIGINT to the block's process group. The stack must say
// it stopped.
func (s *docStack) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.exited:
		return // it never ran, and said why
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(2 * time.Minute):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
		t.Errorf("%s: the stack did not stop within 2 minutes of Ctrl-C:\n%s", s.block, s.Stderr())
		return
	}
	if !strings.Contains(s.Stderr(), "stopped; data kept in") {
		t.Errorf("%s: after Ctrl-C the stack did not say it stopped:\n%s", s.block, s.Stderr())
	}
}

func (r *docRun) stopAll(t *testing.T) {
	t.Helper()
	for _, s := range r.stacks {
		s.stop(t)
		if s.block.output != nil && !outputMatches(s.block.output.body, s.Stdout()) {
			t.Errorf("%s: the stack printed\n%s\nthe document shows (%s)\n%s", s.block, s.Stdout(), s.block.output, s.block.output.body)
		}
	}
	r.stacks = nil
}

func (r *docRun) current() *docStack { return r.stacks[len(r.stacks)-1] }

// run runs one block against the newest stack and returns what it wrote
// to stdout (what an output fence shows) and to stderr.
func (r *docRun) run(b *docBlock) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -o errexit -o pipefail\n"+b.body)
	cmd.Dir = r.dir
	cmd.Env = append([]string(nil), r.env...)
	for name, url := range r.current().urls {
		cmd.Env = append(cmd.Env, name+"="+url)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// docFiles returns README.md and docs/*.md, relative to root.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(docs)
	files := []string{"README.md"}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		files = append(files, rel)
	}
	return files
}

// freshCopy copies the working tree's files (tracked and untracked, not
// ignored: what a clone with the current edits has) into a new directory.
func freshCopy(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("listing the working tree with git: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "sopaipillas")
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		info, err := os.Lstat(src)
		if err != nil {
			continue // deleted in the working tree
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			link, err := os.Readlink(src)
			if err == nil {
				err = os.Symlink(link, to)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// checkEnvBlock checks that an env block exports the default addresses of
// make dev, in the variables the test sets.
func checkEnvBlock(b *docBlock) error {
	defaults := reflect.TypeOf(devstack.Options{})
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(b.body), "\n") {
		line, _, _ = strings.Cut(line, "#")
		m := envLineRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			return fmt.Errorf("%s: %q: an env block holds only export lines", b, line)
		}
		for _, kv := range strings.Fields(m[1]) {
			name, value, _ := strings.Cut(kv, "=")
			field, ok := docVars[name]
			if !ok {
				return fmt.Errorf("%s: %s is not one of the variables the test sets", b, name)
			}
			f, _ := defaults.FieldByName(field)
			if want := "http://localhost:" + f.Tag.Get("default"); value != want {
				return fmt.Errorf("%s: %s=%s, but make dev listens at %s by default (%s)", b, name, value, want, f.Tag.Get("envconfig"))
			}
			seen++
		}
	}
	if seen == 0 {
		return fmt.Errorf("%s: an empty env block", b)
	}
	return nil
}

// TestDocExamples runs every shell example of README.md and docs/ the way
// a newcomer does: each document on a fresh copy of the working tree,
// against `make dev` (on free ports), each block with bash.
func TestDocExamples(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	type doc struct {
		name   string
		blocks []*docBlock
	}
	var docs []doc
	for _, name := range docFiles(t, root) {
		text, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseFences(name, string(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if !isShell(b.lang) {
				continue
			}
			if err := lintBlock(b); err != nil {
				t.Error(err)
			}
			if b.markers["env"] {
				if err := checkEnvBlock(b); err != nil {
					t.Error(err)
				}
			}
		}
		docs = append(docs, doc{name, blocks})
	}
	if t.Failed() {
		t.FailNow()
	}
	if testing.Short() {
		t.Skip("runs the examples against make dev")
	}
	// What the README's prerequisites ask for, and openssl for a key.
	for _, tool := range []string{"bash", "make", "curl", "jq", "openssl", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the examples need %s (README, Prerequisites): %v", tool, err)
		}
	}

	r := &docRun{t: t}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "KAFKA_"), strings.HasPrefix(name, "SMTP_"), strings.HasPrefix(name, "MAIL_"),
			strings.HasPrefix(name, "DEV_"), strings.HasPrefix(name, "SUMMARY_"), strings.HasPrefix(name, "SENDGRID_"),
			strings.HasPrefix(name, "OTEL_"), strings.HasPrefix(name, "VENDORS_"), strings.HasPrefix(name, "BOARD_"),
			name == "LOG_LEVEL", name == "PORT", name == "GOFLAGS", name == "SOPAIPILLAS_CACHE",
			// A reader types the examples in a shell, not inside make: under
			// `make test` these would make make print "make[1]: Entering
			// directory" into an example's stdout.
			name == "MAKEFLAGS", name == "MAKELEVEL", name == "MFLAGS", strings.HasPrefix(name, "MAKE_TERMINAL"):
			continue
		}
		if _, ok := docVars[name]; ok {
			continue
		}
		r.env = append(r.env, kv)
	}
	// -trimpath: the copy's packages share the build cache with every
	// other copy; -race as the test binary, so that `make test` builds the
	// dependencies once.
	goflags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -trimpath")
	if raceEnabled {
		goflags += " -race"
	}
	r.env = append(r.env, "GOFLAGS="+goflags, "SOPAIPILLAS_CACHE="+t.TempDir(),
		"OTEL_EXPORTER_PROMETHEUS_PORT="+freePort(t),
		"DEV_GATEWAY_PORT=0", "DEV_NEWORDER_PORT=0", "DEV_DAILYSUMMARY_PORT=0", "DEV_SENDMAIL_PORT=0",
		"DEV_KAFKA_PORT=0", "DEV_SMTP_PORT=0", "DEV_MAIL_WEB_PORT=0", "DEV_SALESBOARD_PORT=0")
	base := r.env

	counts := map[string]int{}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			// Each document starts on a fresh clone, with no .dev/ (the
			// stacks keep their data elsewhere unless a block says
			// otherwise), and a plain `make dev`.
			r.dir = freshCopy(t, root)
			r.env = append(append([]string(nil), base...), "DEV_DIR="+t.TempDir())
			defer r.stopAll(t)
			if slices.ContainsFunc(d.blocks, runs) {
				start := time.Now()
				r.startStack(t, &docBlock{doc: "make dev", markers: map[string]bool{}}, "make dev")
				t.Logf("make dev running in %s", time.Since(start).Round(time.Millisecond))
			}
			for _, b := range d.blocks {
				if !isShell(b.lang) {
					continue
				}
				switch {
				case b.markers["cluster"]:
					counts["cluster"]++
					continue
				case b.markers["suite"]:
					counts["suite"]++
					continue
				case b.markers["external"]:
					counts["external"]++
					continue
				case b.markers["env"]:
					counts["env"]++
					continue
				case b.markers["stack"]:
					if !b.markers["alongside"] {
						r.stopAll(t)
					}
					r.startStack(t, b, b.body)
					counts["stack"]++
					continue
				}
				start := time.Now()
				deadline := start.Add(60 * time.Second)
				for {
					out, errOut, err := r.run(b)
					var problem string
					switch {
					case err != nil:
						problem = fmt.Sprintf("exited with %v", err)
					case b.output != nil && !outputMatches(b.output.body, out):
						problem = fmt.Sprintf("its output does not match %s", b.output)
					}
					if problem == "" {
						break
					}
					if !b.markers["eventually"] || time.Now().After(deadline) {
						t.Errorf("%s: %s\n--- the block:\n%s--- stdout:\n%s--- stderr:\n%s", b, problem, b.body, out, errOut)
						if b.output != nil {
							t.Logf("--- the document shows:\n%s", b.output.body)
						}
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				t.Logf("%s: %s", b, time.Since(start).Round(time.Millisecond))
				counts["run"]++
			}
			if t.Failed() && len(r.stacks) > 0 {
				t.Logf("the stack's stderr:\n%s", r.current().Stderr())
			}
		})
	}
	t.Logf("examples: %d run, %d stacks started, %d env blocks checked; not run: %d need a cluster, %d are suites, %d need an external tool",
		counts["run"], counts["stack"], counts["env"], counts["cluster"], counts["suite"], counts["external"])
}

// freePort returns a port nothing listens on now, for a setting that
// takes no 0 (a Prometheus exporter's port, which the examples read back).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestOutputMatches(t *testing.T) {
	for _, c := range []struct {
		want, got string
		match     bool
	}{
		{"a b", "a  b\n", true},
		{"{\n  \"x\": 1\n}", `{"x":1}`, true},
		{"HTTP/1.1 201 Created\nDate: …\n\nbody", "HTTP/1.1 201 Created\r\nDate: Sun, 06 Dec 2026\r\n\r\nbody", true},
		{"… — Resumen parcial, hasta las …", "Reporte — 05/12/2026 — Resumen parcial, hasta las 23:11", true},
		{"…\nb\n…", "a\nb\nc", true},
		{"a", "ab", false}, // anchored at the end
		{"b", "ab", false}, // and at the start
		{"a…c", "abd", false},
		{"(x)", "(x)", true}, // no regular expression in the document
		{"x.y", "xzy", false},
	} {
		if got := outputMatches(c.want, c.got); got != c.match {
			t.Errorf("outputMatches(%q, %q) = %v, want %v", c.want, c.got, got, c.match)
		}
	}
}

func TestParseFences(t *testing.T) {
	doc := "text\n```sh eventually\ncurl -fsS \"$GATEWAY/x\"\n```\n\n```json output\n{}\n```\n```yaml\na: 1\n```\n"
	blocks, err := parseFences("d.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].lang != "sh" || !blocks[0].markers["eventually"] || blocks[0].line != 2 ||
		blocks[0].output == nil || blocks[0].output.body != "{}\n" || blocks[1].lang != "yaml" {
		t.Errorf("parsed %+v", blocks)
	}
	for _, bad := range []string{"```\nx\n```\n", "```sh\nx\n", "```yaml\na\n```\n```json output\n{}\n```\n"} {
		if _, err := parseFences("d.md", bad); err == nil {
			t.Errorf("parseFences(%q): no error", bad)
		}
	}
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{"curl -fsS \"$GATEWAY/newOrder\"\n", true},
		{"curl -s \"$GATEWAY/newOrder\"\n", false},
		{"curl -X POST http://localhost:5000/newOrder -f\n", false},
		{"curl -s \\\n  --fail \"$GATEWAY/x\"\n", true},
	} {
		err := lintBlock(&docBlock{doc: "d.md", lang: "sh", markers: map[string]bool{}, body: c.body})
		if (err == nil) != c.ok {
			t.Errorf("lintBlock(%q) = %v, want ok %v", c.body, err, c.ok)
		}
	}
}
