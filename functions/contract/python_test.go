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
	return projectTool(t, "SOPAIPILLAS_PYTHON", "SOPAIPILLAS_REQUIRE_PYTHON", "hack/python.sh")
}

// projectTool is the path a project script installs a tool at, from the
// variable hack/test.sh exports it in; without it the test is skipped,
// unless the require variable is set (`make test` sets it).
func projectTool(t *testing.T, variable, require, script string) string {
	t.Helper()
	if p := os.Getenv(variable); p != "" {
		return p
	}
	if os.Getenv(require) != "" {
		t.Fatalf("%s is not set: run `make test`, or export %s=$(%s)", variable, variable, script)
	}
	t.Skipf("%s not set (export %s=$(%s) to run it)", variable, variable, script)
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
