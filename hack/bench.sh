#!/usr/bin/env bash
# Benchmarks (`make bench`): start a real Apache Kafka broker (the test
# suite's script), build the three function binaries and the bench, and run
# it: ingest, summary, mail and cold start beside Kafka's own perf tools on
# the same broker. Prints `name value unit` lines and writes bench/RESULTS.md.
# BENCH_QUICK=1 runs a small version (under two minutes). Arguments go to the
# bench, e.g. `hack/bench.sh -only ingest`; BENCH_SECTIONS=steady does the
# same for `make bench`. newOrder's CPU and allocation
# profiles at c256 (functions/cmd/benchneworder) land in bench/profiles/.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

work=$(mktemp -d "${TMPDIR:-/tmp}/sopaipillas-bench.XXXXXX")
cleanup() {
	"$root/hack/kafka.sh" stop "$work/kafka" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build" >&2
go build -trimpath -o "$work/bin/" ./functions/cmd/neworder ./functions/cmd/dailysummary ./functions/cmd/sendmail ./functions/cmd/salesboard
go build -trimpath -o "$work/bench" ./bench
# The HTTP floor (newOrder's handler and server stack, no Kafka write), the
# Kafka-write reference (newOrder's publisher, no HTTP) and newOrder with
# /debug/pprof on $PPROF_ADDR: bench binaries under functions/cmd, as they
# use the functions' internal packages.
go build -trimpath -o "$work/bin/floor" ./functions/cmd/benchfloor
go build -trimpath -o "$work/bin/publish" ./functions/cmd/benchpublish
go build -trimpath -o "$work/bin/neworder-pprof" ./functions/cmd/benchneworder

echo "== Apache Kafka" >&2
"$root/hack/kafka.sh" fetch >/dev/null
# The summary bench keeps up to ~4 GB of records; give the broker the
# page cache, not a bigger heap.
bootstrap=$("$root/hack/kafka.sh" start "$work/kafka" | tail -n 1)
echo "Apache Kafka $(cat "$work/kafka/version") (KRaft) at $bootstrap" >&2

"$work/bench" -brokers "$bootstrap" -bin "$work/bin" -kafka-sh "$root/hack/kafka.sh" \
	-work "$work" -results "$root/bench/RESULTS.md" -kafka-version "$(cat "$work/kafka/version")" \
	-profiles "$root/bench/profiles" ${BENCH_SECTIONS:+-only "$BENCH_SECTIONS"} "$@"
echo "wrote bench/RESULTS.md" >&2
