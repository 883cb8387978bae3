package runner

import (
	"math"
	"os"
	"runtime/debug"
)

// TuneGCForReads lets the memory limit alone pace the collector (GOGC=off)
// when the process has one (GOMEMLIMIT: the chart sets it at 90% of
// limits.memory) and no GOGC of its own: for a function that reads whole
// topics and then ends its request (dailySummary).
//
// A read allocates about 360 bytes per record that die with the record
// (franz-go's decoded records, their headers and header keys), while what
// it keeps is small beside the limit. At Go's default GOGC of 100 the
// collector ran whenever the heap grew by its live size: 740 times in a
// read of 15M records with 20 MB live, and with its write barriers and
// preemptions it took about a fifth of the process's CPU (issue 22). Paced
// by the limit it runs when the heap reaches it, and
// the heap is held under the limit as before; resident memory then sits
// near limits.memory while a summary runs, as it already did for a big
// day. Without a memory limit nothing changes: GOGC=off would then be
// bounded by nothing. salesBoard keeps Go's default: it lives on between
// counts, and a pod resident near its limit for good would look like one
// about to be OOMKilled.
func TuneGCForReads() {
	if _, set := os.LookupEnv("GOGC"); !set && debug.SetMemoryLimit(-1) != math.MaxInt64 {
		debug.SetGCPercent(-1)
	}
}
