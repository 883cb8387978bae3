package contract

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/api"
)

// modelsCommand is the start of docs/api.md's command that generates the Go
// models of api/asyncapi.yaml with the AsyncAPI CLI (hack/clients.sh pins
// it); the test runs that line as written.
const modelsCommand = "npx asyncapi generate models golang "

// modelsPackage is the package, and directory, the documented command
// writes; testdata/asyncapimodels imports it.
const modelsPackage = "sopaipillas"

// TestAsyncAPIModels runs docs/api.md's `asyncapi generate models golang`
// command, compiles the package it writes with testdata/asyncapimodels in a
// module of their own, and has that program decode every record of every
// topic the functions wrote (pipelineRecords: orders, a summary, cook and
// vendor reports, sendMail's ledger) into the model of its message, by
// encoding/json as a client would. Each model, encoded again, must give back
// the record's value field for field (an order's extra fields aside: the
// models have no place for them), so no field decodes to its zero value
// unnoticed; every message of the document is decoded at least once, and
// every type has a name of the document's (no AnonymousSchema_<n>).
func TestAsyncAPIModels(t *testing.T) {
	tools := npmTools(t)
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, vendorReportSchema)); err != nil {
		t.Skipf("%s is not here yet (the statement branch writes it with the vendor reports): %v", vendorReportSchema, err)
	}
	args := documentedModelsCommand(t, root)
	dir := t.TempDir()
	// The document as a client team has it: api/ and the schemas it refers to.
	for _, d := range []string{"api", "events/schemas"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(root, "api/asyncapi.yaml"), filepath.Join(dir, "api/asyncapi.yaml"))
	schemas, _ := filepath.Glob(filepath.Join(root, "events/schemas/*.json"))
	for _, f := range schemas {
		copyFile(t, f, filepath.Join(dir, "events/schemas", filepath.Base(f)))
	}
	gen := exec.Command(filepath.Join(tools, "node_modules", ".bin", "asyncapi"), args...)
	gen.Dir = dir
	// No usage metrics sent (nor their file written in $HOME).
	metrics := filepath.Join(dir, "asyncapi-analytics.json")
	if err := os.WriteFile(metrics, []byte(`{"analyticsEnabled": "false", "infoMessageShown": "true"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	gen.Env = append(os.Environ(), "ASYNCAPI_METRICS_CONFIG_PATH="+metrics, "SUPPRESS_NO_CONFIG_WARNING=1")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("asyncapi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	generated, _ := filepath.Glob(filepath.Join(dir, modelsPackage, "*.go"))
	var names, anonymous []string
	for _, f := range generated {
		names = append(names, filepath.Base(f))
		if strings.HasPrefix(filepath.Base(f), "anonymous_schema_") {
			anonymous = append(anonymous, filepath.Base(f))
		}
	}
	t.Logf("generated: %v", names)
	// Every type named: a schema without a title (in events/schemas or in
	// the document) becomes AnonymousSchema_<n>, a number that moves.
	if len(anonymous) > 0 {
		t.Errorf("types without a name (give their schemas a title): %v", anonymous)
	}

	copyFile(t, filepath.Join(root, "functions/contract/testdata/asyncapimodels/main.go"), filepath.Join(dir, "main.go"))
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/models\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", "asyncapimodels", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the generated models do not compile: %v\n%s", err, out)
	}

	orderFields := schemaProperties(t, filepath.Join(root, "events/schemas/order.json"))
	var in bytes.Buffer
	var want []map[string]any
	for _, r := range pipelineRecords(t) {
		message := ""
		for _, h := range r.Headers {
			if h.Key == "ce_type" {
				message = string(h.Value)
			}
		}
		if r.Topic == "mail-sent" {
			message = "ledger-record"
		}
		if message == "" {
			continue // Kafka's own topics
		}
		var value map[string]any
		if err := json.Unmarshal(r.Value, &value); err != nil {
			t.Fatalf("%s offset %d: %v", r.Topic, r.Offset, err)
		}
		line, _ := json.Marshal(map[string]any{"message": message, "value": json.RawMessage(r.Value)})
		in.Write(append(line, '\n'))
		if message == "cl.sopaipillas.order.created.v1" {
			for k := range value {
				if !slices.Contains(orderFields, k) {
					delete(value, k)
				}
			}
		}
		want = append(want, map[string]any{"message": message, "decoded": value})
	}
	run := exec.Command(filepath.Join(dir, "asyncapimodels"))
	run.Stdin = &in
	var stderr bytes.Buffer
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		t.Fatalf("decoding with the generated models: %v\n%s", err, stderr.Bytes())
	}
	var got []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%q: %v", sc.Bytes(), err)
		}
		got = append(got, m)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records decoded by the generated models and encoded again (-record, +model):\n%s", diff)
	}
	seen := map[string]int{}
	for _, m := range got {
		seen[m["message"].(string)]++
	}
	for _, m := range asyncAPIMessageNames(t) {
		if seen[m] == 0 {
			t.Errorf("no record of message %s was decoded", m)
		}
	}
	t.Logf("records decoded by message: %v", seen)
}

// documentedModelsCommand returns the arguments of docs/api.md's models
// command: the line of a ```sh block that starts with modelsCommand, which
// must write package modelsPackage into a directory of that name.
func documentedModelsCommand(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(string(mustRead(t, filepath.Join(root, "docs/api.md"))), "\n") {
		if strings.HasPrefix(line, modelsCommand) {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("docs/api.md has %d lines starting %q, want 1: %q", len(found), modelsCommand, found)
	}
	if strings.ContainsAny(found[0], `"'$\|;&<>`+"`") {
		t.Fatalf("the documented command %q is more than words: this test runs it word by word", found[0])
	}
	args := strings.Fields(found[0])[2:] // without npx asyncapi
	flag := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	if flag("-o") != modelsPackage || flag("--packageName") != modelsPackage {
		t.Fatalf("the documented command %q must write package %s into %s/ (-o, --packageName)", found[0], modelsPackage, modelsPackage)
	}
	return args
}

// schemaProperties returns the names of a JSON Schema file's top properties.
func schemaProperties(t *testing.T, path string) []string {
	t.Helper()
	var s struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(mustRead(t, path), &s); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range s.Properties {
		names = append(names, k)
	}
	return names
}

// asyncAPIMessageNames returns the name of every message of
// api/asyncapi.yaml's components.
func asyncAPIMessageNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, m := range at(t, load(t, api.AsyncAPI), "components", "messages").(map[string]any) {
		names = append(names, m.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	return names
}
