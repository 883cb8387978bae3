// Package k8s_test proves the deployment without a cluster: it renders the
// Helm chart and the kustomization with the pinned tools in ./bin (installed
// by `make tools`, hack/tools.sh), validates every object against its schema,
// and ties the manifests to the code (drift_test.go).
package k8s_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Names of the chart release and namespace the renderings use.
const (
	release   = "sopaipillas"
	namespace = "sopaipillas"
)

// repoRoot is the module's root: tests run in k8s/.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s has no go.mod: %v", root, err)
	}
	return root
}

// tool returns the path of a pinned tool in ./bin (or $TOOLS_BIN). A missing
// tool fails the test: the checks must not silently disappear.
func tool(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("TOOLS_BIN")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "bin")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not installed in %s: run `make tools` (hack/tools.sh) first", name, dir)
	}
	return path
}

// sharedPath finds a file or folder of ../shared (README: shared/): $envVar if
// set, else next to the repository, else /work/shared.
func sharedPath(t testing.TB, envVar, rel string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envVar, p, err)
		}
		return p
	}
	candidates := []string{
		filepath.Join(repoRoot(t), "..", "shared", rel),
		filepath.Join("/work/shared", rel),
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found in %v; set %s to its path", rel, candidates, envVar)
	return ""
}

// run runs a command and returns its stdout, or an error carrying stderr.
func run(stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// object is one rendered Kubernetes object.
type object struct {
	Doc        []byte         // its YAML
	Fields     map[string]any // its YAML decoded
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
}

func (o object) String() string { return o.Kind + "/" + o.Name }

// rendering is what one way of deploying puts on a cluster.
type rendering struct {
	Name    string
	Objects []object
}

// find returns the object of kind and name.
func (r rendering) find(kind, name string) (object, bool) {
	for _, o := range r.Objects {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return object{}, false
}

// all returns the objects of kind.
func (r rendering) all(kind string) []object {
	var out []object
	for _, o := range r.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// parseObjects splits a multi-document YAML stream into objects.
func parseObjects(data []byte) ([]object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var fields map[string]any
		if err := yaml.Unmarshal(doc, &fields); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		if len(fields) == 0 {
			continue // a document of comments only
		}
		o := object{Doc: doc, Fields: fields}
		o.APIVersion, _ = fields["apiVersion"].(string)
		o.Kind, _ = fields["kind"].(string)
		o.Name = str(fields, "metadata", "name")
		o.Namespace = str(fields, "metadata", "namespace")
		out = append(out, o)
	}
}

// chartDir is the Helm chart.
func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "charts", "sopaipillas") }

// helmTemplate renders the chart with extra helm arguments.
func helmTemplate(t testing.TB, args ...string) ([]byte, error) {
	return runHelmTemplate(tool(t, "helm"), chartDir(t), args...)
}

func runHelmTemplate(helm, chart string, args ...string) ([]byte, error) {
	base := []string{"template", release, chart, "--namespace", namespace}
	return run(nil, helm, append(base, args...)...)
}

var (
	renderOnce    sync.Once
	renderResults []rendering
	renderErr     error
)

// renderings renders every way of deploying, once per test binary:
//   - chart/default: the chart with its default values;
//   - chart/ci/<file>: the chart with each values file in its ci/ folder;
//   - k8s: `kustomize build k8s/` plus the on-demand manifests in k8s/replay/.
func renderings(t testing.TB) []rendering {
	t.Helper()
	helm, kustomize, root := tool(t, "helm"), tool(t, "kustomize"), repoRoot(t)
	renderOnce.Do(func() { renderResults, renderErr = renderAll(helm, kustomize, root) })
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return renderResults
}

func renderAll(helm, kustomize, root string) ([]rendering, error) {
	type source struct {
		name   string
		render func() ([]byte, error)
	}
	chart := filepath.Join(root, "charts", "sopaipillas")
	sources := []source{{"chart/default", func() ([]byte, error) { return runHelmTemplate(helm, chart) }}}
	ciFiles, err := filepath.Glob(filepath.Join(chart, "ci", "*-values.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(ciFiles)
	for _, f := range ciFiles {
		sources = append(sources, source{"chart/ci/" + filepath.Base(f), func() ([]byte, error) {
			return runHelmTemplate(helm, chart, "--values", f)
		}})
	}
	k8s := filepath.Join(root, "k8s")
	sources = append(sources, source{"k8s", func() ([]byte, error) {
		built, err := run(nil, kustomize, "build", k8s)
		if err != nil {
			return nil, err
		}
		extra, err := filepath.Glob(filepath.Join(k8s, "replay", "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, f := range extra {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			built = append(append(built, "\n---\n"...), data...)
		}
		return built, nil
	}})

	var out []rendering
	for _, s := range sources {
		data, err := s.render()
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", s.name, err)
		}
		objects, err := parseObjects(data)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", s.name, err)
		}
		if len(objects) == 0 {
			return nil, fmt.Errorf("%s rendered no objects", s.name)
		}
		out = append(out, rendering{Name: s.name, Objects: objects})
	}
	return out, nil
}

// get walks decoded YAML along keys (map keys, or list indexes as ints).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// str is get for a string ("" when absent or not a string).
func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

// list is get for a list.
func list(v any, path ...any) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// yamlRoundTrip copies in into out through YAML.
func yamlRoundTrip(in, out any) error {
	data, err := yaml.Marshal(in)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, out)
}
