package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRedoclyLint lints api/openapi.yaml and api/openapi.bundled.yaml with
// Redocly CLI's recommended rules (api/redocly.yaml names the rules turned
// off, api/.redocly.lint-ignore.yaml the occurrences left on purpose, each
// with why): no error and no warning in either.
func TestRedoclyLint(t *testing.T) {
	tools := npmTools(t)
	root := repoRoot(t)
	cmd := exec.Command(filepath.Join(tools, "node_modules", ".bin", "redocly"), "lint", "--config", "api/redocly.yaml", "--format", "json")
	cmd.Dir = root
	cmd.Env = append(cmd.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("redocly lint: %v\n%s%s", err, out, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	apis := 0
	for {
		var r struct {
			Totals   struct{ Errors, Warnings, Ignored int }
			Problems []json.RawMessage
		}
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("redocly lint printed %q: %v", out, err)
		}
		apis++
		if r.Totals.Errors+r.Totals.Warnings > 0 {
			problems, _ := json.MarshalIndent(r.Problems, "", "  ")
			t.Errorf("redocly lint: %d errors, %d warnings:\n%s", r.Totals.Errors, r.Totals.Warnings, problems)
		}
	}
	if apis != 2 {
		t.Errorf("redocly linted %d documents, want 2 (the source and the bundle)", apis)
	}
}
