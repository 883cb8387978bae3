// Package layers holds the test that imports run one way (docs/architecture.md):
// events and api (the contract) at the bottom, the libraries in
// functions/internal above them, each function above those, and the
// binaries and whole-system tests on top. A package imports only from the
// layers below it (a library also from other libraries); nothing imports a
// function from beside it, and nothing imports a binary.
package layers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/sopaipillas/sopaipillas"

type layer int

const (
	unknown  layer = iota
	contract       // events, api
	library        // functions/internal/...
	function       // functions/<function>
	binary         // functions/cmd/..., bench, hack/...
	system         // whole-system tests: functions/e2e, functions/contract, k8s
)

var names = map[layer]string{unknown: "no layer", contract: "the contract", library: "a library",
	function: "a function", binary: "a binary", system: "a whole-system test"}

// places maps a path (relative to the module) to its layer; the first
// prefix that matches wins.
var places = []struct {
	prefix string
	layer  layer
}{
	{"events", contract}, {"api", contract},
	{"functions/internal", library},
	{"functions/cmd", binary}, {"bench", binary}, {"hack", binary},
	{"functions/e2e", system}, {"functions/contract", system}, {"functions/layers", system}, {"k8s", system},
	{"functions", function},
}

func layerOf(path string) layer {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return unknown
	}
	for _, p := range places {
		if rel == p.prefix || strings.HasPrefix(rel, p.prefix+"/") {
			if p.layer == function && strings.Count(rel, "/") != 1 {
				return unknown // functions/<function>/<sub>: not placed yet
			}
			return p.layer
		}
	}
	return unknown
}

// functionOf is the function a function-layer path belongs to.
func functionOf(path string) string { return strings.TrimPrefix(path, module+"/") }

// verdict says why from may not import to, or "" when it may.
func verdict(from, to string) string {
	lf, lt := layerOf(from), layerOf(to)
	switch {
	case lf == unknown:
		return fmt.Sprintf("%s is in no layer: place it in docs/architecture.md and in this test", from)
	case lt == unknown:
		return fmt.Sprintf("%s is in no layer: place it in docs/architecture.md and in this test", to)
	case lt == binary || lt == system:
		return fmt.Sprintf("%s (%s) imports %s (%s): nothing imports a binary or a whole-system test", from, names[lf], to, names[lt])
	case lf == function && lt == function && functionOf(from) != functionOf(to):
		return fmt.Sprintf("%s imports %s: a function imports no other function (move what they share into a library)", from, to)
	case lt > lf:
		return fmt.Sprintf("%s (%s) imports %s (%s): imports run downward only", from, names[lf], to, names[lt])
	}
	return ""
}

// pending are imports against the rule that another change in progress
// removes: importer, imported, and "test" when only in-package tests
// import it. Each must still exist, so the list cannot go stale.
var pending = map[[3]string]string{
	{module + "/functions/salesboard", module + "/functions/neworder", "test"}: "browser_test.go composes newOrder: an external test or functions/e2e",
}

func TestVerdict(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	tests := []struct {
		from, to string
		ok       bool
	}{
		{"functions/internal/kafka", "functions/internal/telemetry", true},
		{"functions/internal/problem", "events", true},
		{"functions/neworder", "functions/internal/kafka", true},
		{"functions/neworder", "events", true},
		{"functions/cmd/devstack", "functions/neworder", true},
		{"functions/cmd/faults", "functions/internal/devstack", true},
		{"functions/e2e", "functions/sendmail", true},
		{"bench", "events", true},
		{"events", "functions/internal/problem", false},
		{"api", "functions/neworder", false},
		{"functions/internal/devstack", "functions/neworder", false},
		{"functions/internal/kafka", "functions/cmd/neworder", false},
		{"functions/salesboard", "functions/dailysummary", false},
		{"functions/neworder", "functions/cmd/neworder", false},
		{"functions/cmd/devstack", "functions/cmd/faults", false},
		{"functions/sendmail", "functions/e2e", false},
		{"functions/newthing/sub", "events", false},
		{"tools/x", "events", false},
	}
	for _, tt := range tests {
		if got := verdict(m(tt.from), m(tt.to)); (got == "") != tt.ok {
			t.Errorf("verdict(%s, %s) = %q; want allowed %v", tt.from, tt.to, got, tt.ok)
		}
	}
}

// TestImportsRunDownward lists every package of the module with go list
// and checks each import of its code and of its in-package tests. External
// test packages (package x_test) are clients of x, above it, and are not
// checked.
func TestImportsRunDownward(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,Error", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	} else if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[[3]string]bool{}
	n := 0
	for {
		var p struct {
			ImportPath           string
			Imports, TestImports []string
			Error                *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		n++
		for kind, imports := range map[string][]string{"": p.Imports, "test": p.TestImports} {
			for _, imp := range imports {
				if !strings.HasPrefix(imp, module+"/") || imp == p.ImportPath {
					continue
				}
				edge := [3]string{p.ImportPath, imp, kind}
				if _, ok := pending[edge]; ok {
					seen[edge] = true
					continue
				}
				if why := verdict(p.ImportPath, imp); why != "" {
					if kind == "test" {
						why = "in-package tests: " + why
					}
					t.Error(why)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list gave %d packages; is the test run from functions/layers?", n)
	}
	var stale []string
	for edge, why := range pending {
		if !seen[edge] {
			stale = append(stale, fmt.Sprintf("%s -> %s %s(%s)", edge[0], edge[1], edge[2], why))
		}
	}
	if diff := cmp.Diff([]string(nil), stale); diff != "" {
		t.Errorf("pending upward imports that no longer exist: remove them from pending (-want, +got):\n%s", diff)
	}
}
