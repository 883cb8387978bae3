// Command benchneworder is newOrder (functions/cmd/neworder) with
// /debug/pprof on its own listener at $PPROF_ADDR (e.g. 127.0.0.1:6060),
// never on the function's port: the bench's profiling run. Built by
// hack/bench.sh only; the release binary has no profiler.
package main

import (
	_ "time/tzdata" // as functions/cmd/neworder

	_ "github.com/sopaipillas/sopaipillas/functions/internal/pprofserver" // /debug/pprof on $PPROF_ADDR
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

func main() { runner.Main("newOrder", neworder.Setup) }
