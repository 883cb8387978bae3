#!/usr/bin/env bash
# Fault-injection tests (`make test-faults`): builds the three function
# binaries and the harness (functions/cmd/faults) into a temporary directory, runs
# the scenarios on real Apache Kafka brokers on loopback, prints the table
# of figures, and removes every process and file it started on exit.
#
# Environment:
#   FAULTS_ARGS     extra harness flags, e.g. "-scenarios 1,3 -orders 20000"
#   FAULTS_REPORT   also copy the markdown table to this path
#   FAULTS_MINUTES  bound on the scenarios in minutes (default 15)
#   FAULTS_KEEP     1 keeps the temporary directory (logs) for a look
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

work=$(mktemp -d "${TMPDIR:-/tmp}/sopaipillas-faults.XXXXXX")
harness_pid=
# ours <pidfile>: prints the pid if it is still one of our binaries.
ours() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$work/bin/"* ]] || return 1
	echo "$pid"
}
cleanup() {
	local status=$? pid f i
	trap - EXIT INT TERM
	if [[ -n $harness_pid ]] && kill -0 "$harness_pid" 2>/dev/null; then
		kill -TERM "$harness_pid" 2>/dev/null || true
	fi
	# The harness stops what it started when told to; give it a minute.
	if pid=$(ours "$work/pids/harness.pid"); then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 600; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	[[ -n $harness_pid ]] && wait "$harness_pid" 2>/dev/null || true
	# Backstop for a harness that died without cleaning up: its function
	# processes and its brokers.
	for f in "$work"/pids/*.pid; do
		if pid=$(ours "$f"); then kill -KILL "$pid" 2>/dev/null || true; fi
	done
	for f in "$work"/kafka*; do
		[[ -d $f ]] && "$root/hack/kafka.sh" stop "$f" >/dev/null 2>&1 || true
	done
	if [[ ${FAULTS_KEEP:-0} == 1 ]]; then
		echo "faults: kept $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== build"
go build -o "$work/bin/" ./functions/cmd/neworder ./functions/cmd/dailysummary ./functions/cmd/sendmail ./functions/cmd/faults
"$root/hack/kafka.sh" fetch >/dev/null

echo "== scenarios"
minutes=${FAULTS_MINUTES:-15}
# The harness stops itself at the bound and cleans up; timeout(1) is the
# backstop should it hang.
# shellcheck disable=SC2086
timeout --signal=TERM --kill-after=30s "$((minutes + 2))m" \
	"$work/bin/faults" -bin "$work/bin" -work "$work" -kafka "$root/hack/kafka.sh" \
	-report "$work/faults.md" -timeout "${minutes}m" ${FAULTS_ARGS:-} &
harness_pid=$!
status=0
wait "$harness_pid" || status=$?
harness_pid=

if [[ -f $work/faults.md ]]; then
	echo
	echo "== table ($work/faults.md)"
	cat "$work/faults.md"
	if [[ -n ${FAULTS_REPORT:-} ]]; then
		cp "$work/faults.md" "$FAULTS_REPORT"
	fi
fi
exit "$status"
