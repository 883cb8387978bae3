package contract

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sopaipillas/sopaipillas/api/bundle"
)

// TestBundleCurrent: api/openapi.bundled.yaml is what `make bundle` makes
// from api/openapi.yaml and events/schemas now, and every reference in it
// is local and at most three levels deep (#/components/schemas/X), as
// oapi-codegen needs.
func TestBundleCurrent(t *testing.T) {
	root := repoRoot(t)
	want, err := bundle.OpenAPI(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, bundle.Bundled))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run `make bundle` and commit it", bundle.Bundled)
	}
	var refs func(any)
	refs = func(n any) {
		switch v := n.(type) {
		case map[string]any:
			for k, e := range v {
				if ref, ok := e.(string); ok && k == "$ref" {
					if !strings.HasPrefix(ref, "#/") || strings.Count(ref, "/") > 3 {
						t.Errorf("%s: reference %q is not #/components/<kind>/<name>", bundle.Bundled, ref)
					}
				}
				refs(e)
			}
		case []any:
			for _, e := range v {
				refs(e)
			}
		}
	}
	refs(map[string]any(load(t, want)))
}

// bundledSchemas are the component of the bundle that stands for each
// schema file of the differential corpus.
var bundledSchemas = map[string]string{
	"order.json":           "#/components/schemas/Order",
	"summary.json":         "#/components/schemas/Summary",
	"summary-request.json": "#/components/schemas/SummaryRequest",
	"cookreport.json":      "#/components/schemas/CookReport",
}

// TestBundleSameVerdicts: jsonschema judges every body of the differential
// corpus the same by the bundle's components as by the schema files they
// come from (the bundle respells order.json's nest0..nest8 with explicit
// types; deep nesting, scalars and every other case must keep their
// verdicts).
func TestBundleSameVerdicts(t *testing.T) {
	py := python(t)
	root := repoRoot(t)
	var source, bundled []body
	for _, b := range corpus() {
		ptr, ok := bundledSchemas[b.Schema]
		if !ok || len(bytes.TrimSpace(b.Data)) == 0 {
			continue // an absent body is judged by its schema's name, not its shape
		}
		source = append(source, b)
		bundled = append(bundled, body{Schema: ptr, Name: b.Name, Data: b.Data})
	}
	if len(source) < 300 {
		t.Fatalf("only %d bodies to judge", len(source))
	}
	want := judge(t, py, root, source, corpusToday, corpusOldest)
	got := judge(t, py, root, bundled, corpusToday, corpusOldest, filepath.Join(root, bundle.Bundled))
	valid := 0
	for i, b := range source {
		if want[i].Valid != got[i].Valid {
			t.Errorf("%s %q (%.120q): %s says valid=%v (%s), the bundle valid=%v (%s)",
				b.Schema, b.Name, b.Data, b.Schema, want[i].Valid, want[i].Why, got[i].Valid, got[i].Why)
		}
		if want[i].Valid {
			valid++
		}
	}
	t.Logf("%d bodies (%d valid) judged alike by events/schemas and %s", len(source), valid, bundle.Bundled)
}
