// Command dailysummary serves the dailySummary function on $PORT.
package main

import (
	_ "time/tzdata" // static base images carry no zoneinfo

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

func main() {
	// It reads whole topics: the memory limit paces the collector.
	runner.TuneGCForReads()
	runner.Main("dailySummary", dailysummary.Setup)
}
