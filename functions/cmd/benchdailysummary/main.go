// Command benchdailysummary is dailySummary (functions/cmd/dailysummary)
// with /debug/pprof on its own listener at $PPROF_ADDR (e.g.
// 127.0.0.1:6061), never on the function's port: the bench's profiling of
// the summary. Built by hack/bench.sh only; the release binary has no
// profiler.
package main

import (
	_ "time/tzdata" // as functions/cmd/dailysummary

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	_ "github.com/sopaipillas/sopaipillas/functions/internal/pprofserver" // /debug/pprof on $PPROF_ADDR
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

func main() {
	runner.TuneGCForReads() // as functions/cmd/dailysummary
	runner.Main("dailySummary", dailysummary.Setup)
}
