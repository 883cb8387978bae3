// Package k8s_test proves the deployment without a cluster: it renders the
// Helm chart, the one source (with its default values, each ci/ values file
// and each skaffold release), and k8s/, its committed rendering, with the
// pinned tools in ./bin (installed by `make tools`, hack/tools.sh); checks
// that k8s/ is current; validates every object against its schema; and binds
// the chart to the code (drift_test.go).
package k8s_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
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
	Same    []string // the other ways that render the very same objects
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
//   - chart/default: the chart with its default values, which k8s/ is rendered from;
//   - chart/ci/<file>: the chart with each values file in its ci/ folder;
//   - skaffold/<profile>: each Helm release skaffold.yaml deploys, unless it
//     renders the same objects as one of the above;
//   - k8s: `kustomize build` of k8s/ and of k8s/replay/.
func renderings(t testing.TB) []rendering {
	t.Helper()
	helm, kustomize, root := tool(t, "helm"), tool(t, "kustomize"), repoRoot(t)
	renderOnce.Do(func() { renderResults, renderErr = renderAll(helm, kustomize, root) })
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return renderResults
}

// chartRenderings are the renderings made by helm, which the drift tests
// bind to the code; k8s/ is one of them rendered again (TestK8sIsRendered).
func chartRenderings(t testing.TB) []rendering {
	t.Helper()
	var out []rendering
	for _, r := range renderings(t) {
		if r.Name != "k8s" {
			out = append(out, r)
		}
	}
	return out
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
	releases, err := skaffoldReleases(root)
	if err != nil {
		return nil, err
	}
	for _, rel := range releases {
		sources = append(sources, source{"skaffold/" + rel.Profile, func() ([]byte, error) {
			return run(nil, helm, rel.templateArgs(root)...)
		}})
	}
	k8s := filepath.Join(root, "k8s")
	sources = append(sources, source{"k8s", func() ([]byte, error) {
		built, err := run(nil, kustomize, "build", k8s)
		if err != nil {
			return nil, err
		}
		replay, err := run(nil, kustomize, "build", filepath.Join(k8s, "replay"))
		return append(append(built, "\n---\n"...), replay...), err
	}})

	var out []rendering
	seen := map[string]int{} // rendered bytes -> index in out
	for _, s := range sources {
		data, err := s.render()
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", s.name, err)
		}
		if i, ok := seen[string(data)]; ok {
			out[i].Same = append(out[i].Same, s.name)
			continue
		}
		seen[string(data)] = len(out)
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

// skaffoldRelease is a Helm release of skaffold.yaml, in its deploy section
// or a profile's.
type skaffoldRelease struct {
	Profile           string            `json:"-"` // "default" for the deploy section
	Name              string            `json:"name"`
	ChartPath         string            `json:"chartPath"`
	Namespace         string            `json:"namespace"`
	ValuesFiles       []string          `json:"valuesFiles"`
	SetValues         map[string]string `json:"setValues"`
	SetValueTemplates map[string]string `json:"setValueTemplates"`
}

// skaffoldReleases reads every Helm release skaffold.yaml deploys.
func skaffoldReleases(root string) ([]skaffoldRelease, error) {
	data, err := os.ReadFile(filepath.Join(root, "skaffold.yaml"))
	if err != nil {
		return nil, err
	}
	type deploy struct {
		Helm struct {
			Releases []skaffoldRelease `json:"releases"`
		} `json:"helm"`
	}
	var cfg struct {
		Deploy   deploy `json:"deploy"`
		Profiles []struct {
			Name   string `json:"name"`
			Deploy deploy `json:"deploy"`
		} `json:"profiles"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("skaffold.yaml: %w", err)
	}
	var out []skaffoldRelease
	add := func(profile string, d deploy) {
		for _, r := range d.Helm.Releases {
			r.Profile = profile
			out = append(out, r)
		}
	}
	add("default", cfg.Deploy)
	for _, p := range cfg.Profiles {
		add(p.Name, p.Deploy)
	}
	for _, r := range out {
		if len(r.SetValueTemplates) > 0 {
			return nil, fmt.Errorf("skaffold.yaml, profile %s: setValueTemplates cannot be rendered without skaffold", r.Profile)
		}
	}
	return out, nil
}

// templateArgs are the `helm template` arguments that render what skaffold
// installs for r.
func (r skaffoldRelease) templateArgs(root string) []string {
	args := []string{"template", r.Name, filepath.Join(root, r.ChartPath), "--namespace", r.Namespace}
	for _, f := range r.ValuesFiles {
		args = append(args, "--values", filepath.Join(root, f))
	}
	for _, k := range slices.Sorted(maps.Keys(r.SetValues)) {
		args = append(args, "--set", k+"="+r.SetValues[k])
	}
	return args
}

// TestK8sIsRendered: k8s/ is what hack/render.sh renders from the chart
// now, file for file.
func TestK8sIsRendered(t *testing.T) {
	root := repoRoot(t)
	tool(t, "helm")
	dir := t.TempDir()
	if _, err := run(nil, filepath.Join(root, "hack", "render.sh"), dir); err != nil {
		t.Fatal(err)
	}
	want, got := readTree(t, dir), readTree(t, filepath.Join(root, "k8s"))
	for name, rendered := range want {
		committed, ok := got[name]
		if !ok {
			t.Errorf("k8s/%s is missing", name)
		} else if diff := cmp.Diff(rendered, committed); diff != "" {
			t.Errorf("k8s/%s differs from the chart's rendering (-rendered +committed):\n%s", name, diff)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("k8s/%s is not rendered from the chart", name)
		}
	}
	if t.Failed() {
		t.Log("k8s/ is rendered from charts/sopaipillas: run `make render` and commit k8s/")
	}
}

// readTree reads every file under dir but the Go sources, by relative path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
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
