package runner

import (
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

// TestTuneGCForReads runs TuneGCForReads in a child process per
// environment and reads the GOGC the runtime then has.
func TestTuneGCForReads(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no memory limit: Go's default", nil, "100"},
		{"a memory limit: it alone paces the collector", []string{"GOMEMLIMIT=230MiB"}, "-1"},
		{"the operator's GOGC wins", []string{"GOMEMLIMIT=230MiB", "GOGC=400"}, "400"},
		{"the operator's GOGC=100 restores Go's default", []string{"GOMEMLIMIT=230MiB", "GOGC=100"}, "100"},
		{"GOGC without a memory limit", []string{"GOGC=50"}, "50"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPrintTunedGCPercent$")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, append(tc.env, "PRINT_TUNED_GC_PERCENT=1")...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var got string
			if _, err := fmt.Sscanf(string(out), "gc percent %s", &got); err != nil {
				t.Fatalf("%v in %q", err, out)
			}
			if got != tc.want {
				t.Errorf("GOGC %s with %v, want %s", got, tc.env, tc.want)
			}
		})
	}
}

// TestPrintTunedGCPercent is TestTuneGCForReads's child process.
func TestPrintTunedGCPercent(t *testing.T) {
	if os.Getenv("PRINT_TUNED_GC_PERCENT") == "" {
		t.Skip("run by TestTuneGCForReads")
	}
	TuneGCForReads()
	fmt.Printf("gc percent %d\n", debug.SetGCPercent(-1))
}
