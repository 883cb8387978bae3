package contract

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kelseyhightower/envconfig"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/api/bundle"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

// clientSaw is what each generated client's program prints (testdata/
// goclient, testdata/tsclient): the 201 of an order with an extra field,
// today's summary of its vendor, and the problem of an order refused.
func clientSaw(id, vendor string, n int) []map[string]any {
	return []map[string]any{
		{"what": "order", "event_id": "order-" + id, "email_vendedor": vendor, "nota": "sin pebre"},
		{"what": "summary", "n_sopaipillas": float64(n), "n_ordenes": float64(1), "report_status": "partial"},
		{"what": "problem", "status": float64(422), "field": "numero_sopaipillas"},
	}
}

// TestGoClient generates the Go client of api/openapi.bundled.yaml with
// oapi-codegen (pinned in hack/clients/go/go.mod, run with `go tool`),
// compiles testdata/goclient against it and runs it against newOrder and
// dailySummary as they run in production.
func TestGoClient(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	for _, f := range []string{"hack/clients/go/go.mod", "hack/clients/go/go.sum", "hack/clients/go/runtime.go", "functions/contract/testdata/goclient/main.go"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dir, filepath.Base(f)))
	}
	goCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		return cmd
	}
	if out, err := goCmd("tool", "oapi-codegen", "-generate", "types,client", "-package", "main", "-o", "client.gen.go",
		filepath.Join(root, bundle.Bundled)).CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, out)
	}
	if out, err := goCmd("build", "-o", "goclient", ".").CombinedOutput(); err != nil {
		t.Fatalf("the generated Go client does not compile: %v\n%s", err, out)
	}
	url := startFunctions(t)
	got := runClient(t, exec.Command(filepath.Join(dir, "goclient"), url))
	if diff := cmp.Diff(clientSaw("7", "vendor_go@example.com", 3), got); diff != "" {
		t.Errorf("Go client (-want, +got):\n%s", diff)
	}
}

// TestTypeScriptClient generates the types of api/openapi.bundled.yaml with
// openapi-typescript, type-checks testdata/tsclient (openapi-fetch) with
// tsc in strict mode, and runs it with node against newOrder and
// dailySummary. The npm tools are hack/clients.sh's (SOPAIPILLAS_NPM).
func TestTypeScriptClient(t *testing.T) {
	tools := npmTools(t)
	root := repoRoot(t)
	dir := t.TempDir()
	for _, f := range []string{"client.ts", "tsconfig.json"} {
		copyFile(t, filepath.Join(root, "functions/contract/testdata/tsclient", f), filepath.Join(dir, f))
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type": "module"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(tools, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tools, "node_modules", ".bin")
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(name), err, out)
		}
	}
	run(filepath.Join(bin, "openapi-typescript"), filepath.Join(root, bundle.Bundled), "-o", "schema.d.ts")
	run(filepath.Join(bin, "tsc"), "-p", ".")
	url := startFunctions(t)
	cmd := exec.Command("node", filepath.Join(dir, "out", "client.js"), url)
	cmd.Dir = dir
	got := runClient(t, cmd)
	if diff := cmp.Diff(clientSaw("8", "vendor_ts@example.com", 4), got); diff != "" {
		t.Errorf("TypeScript client (-want, +got):\n%s", diff)
	}
}

// TestPythonClient has openapi-python-client (hack/python/requirements.txt)
// generate the Python client of api/openapi.bundled.yaml: no warning, a
// module for every operation of the document, and the package imports.
func TestPythonClient(t *testing.T) {
	py := python(t)
	root := repoRoot(t)
	dir := t.TempDir()
	// No post hooks: they run ruff, which is not among the tools.
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("post_hooks: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(filepath.Dir(py), "openapi-python-client"), "generate", "--config", "config.yaml",
		"--path", filepath.Join(root, bundle.Bundled), "--output-path", filepath.Join(dir, "sopaipillas_client"), "--meta", "none")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openapi-python-client: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("WARNING")) || bytes.Contains(out, []byte("Warning(s)")) {
		t.Errorf("openapi-python-client warned:\n%s", out)
	}
	var want []string
	d := load(t, mustRead(t, filepath.Join(root, bundle.Bundled)))
	for _, item := range at(t, d, "paths").(map[string]any) {
		for _, op := range item.(map[string]any) {
			if o, ok := op.(map[string]any); ok && o["operationId"] != nil {
				want = append(want, snake(o["operationId"].(string)))
			}
		}
	}
	slices.Sort(want)
	var got []string
	files, _ := filepath.Glob(filepath.Join(dir, "sopaipillas_client", "api", "*", "*.py"))
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".py"); name != "__init__" {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("operations generated (-document, +client):\n%s", diff)
	}
	imp := exec.Command(py, "-c", "import sopaipillas_client.api.new_order.create_order, sopaipillas_client.api.send_mail.receive_report, sopaipillas_client.api.daily_summary.summarize_day")
	imp.Dir = dir
	if out, err := imp.CombinedOutput(); err != nil {
		t.Errorf("the generated client does not import: %v\n%s", err, out)
	}
}

// snake is openapi-python-client's module name of an operationId.
func snake(id string) string {
	var b strings.Builder
	for i, r := range id {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// npmTools returns hack/clients.sh's directory (hack/test.sh exports it as
// SOPAIPILLAS_NPM). Without it the test is skipped, unless
// SOPAIPILLAS_REQUIRE_NPM is set, as `make test` sets it.
func npmTools(t *testing.T) string {
	t.Helper()
	return projectTool(t, "SOPAIPILLAS_NPM", "SOPAIPILLAS_REQUIRE_NPM", "hack/clients.sh")
}

// startFunctions serves newOrder and dailySummary as they run in
// production (their Setup, on an embedded Kafka, behind the production
// server on a loopback port) and returns their URL.
func startFunctions(t *testing.T) string {
	t.Helper()
	return startFunctionsOn(t, embeddedKafka(t))
}

// embeddedKafka starts an embedded Kafka (kfake) for the test and returns
// its bootstrap addresses.
func embeddedKafka(t *testing.T) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return strings.Join(cluster.ListenAddrs(), ",")
}

// startFunctionsOn is startFunctions on the given brokers.
func startFunctionsOn(t *testing.T, brokers string) string {
	t.Helper()
	t.Setenv("KAFKA_BROKERS", brokers)
	t.Setenv("SUMMARY_TOKEN", "")
	t.Setenv("VENDORS_FILE", "")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	var noCfg neworder.Config
	var dsCfg dailysummary.Config
	for _, cfg := range []any{&noCfg, &dsCfg} {
		if err := envconfig.Process("", cfg); err != nil {
			t.Fatal(err)
		}
	}
	no, noClose, err := neworder.Setup(ctx, noCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ds, dsClose, err := dailysummary.Setup(ctx, dsCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/newOrder", no)
	mux.Handle("/dailySummary", ds)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, server.New(mux), ln, log) }()
	t.Cleanup(func() {
		cancel()
		<-served
		dsClose.Close()
		noClose.Close()
	})
	return "http://" + ln.Addr().String()
}

// runClient runs a client's program and returns the JSON lines it printed.
func runClient(t *testing.T, cmd *exec.Cmd) []map[string]any {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", filepath.Base(cmd.Path), err, out, stderr.Bytes())
	}
	var got []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s printed %q: %v", filepath.Base(cmd.Path), sc.Text(), err)
		}
		got = append(got, m)
	}
	return got
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, mustRead(t, from), 0o644); err != nil {
		t.Fatal(err)
	}
}
