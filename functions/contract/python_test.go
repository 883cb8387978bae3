package contract

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// python returns the interpreter of the project's Python tools
// (hack/python.sh prints it; hack/test.sh exports it as SOPAIPILLAS_PYTHON).
// Without it the test is skipped, unless SOPAIPILLAS_REQUIRE_PYTHON is set,
// as `make test` sets it.
func python(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SOPAIPILLAS_PYTHON"); p != "" {
		return p
	}
	if os.Getenv("SOPAIPILLAS_REQUIRE_PYTHON") != "" {
		t.Fatal("SOPAIPILLAS_PYTHON is not set: run `make test`, or export SOPAIPILLAS_PYTHON=$(hack/python.sh)")
	}
	t.Skip("SOPAIPILLAS_PYTHON not set (export SOPAIPILLAS_PYTHON=$(hack/python.sh) to run it)")
	return ""
}

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}
