#!/usr/bin/env bash
# `make dev`: builds the dev stack (functions/cmd/devstack) into the cache
# and runs it. The build says what it is doing when it takes more than a
# moment (the first one downloads modules and compiles everything); an
# up-to-date binary is not rebuilt, so later starts take about a second.
#
# On a terminal the stack runs as a job of its own (set -m): Ctrl-C reaches
# it alone, it stops everything and exits 0, and so does make. (make itself
# re-raises a SIGINT it receives and would end with 130.)
#
#   SOPAIPILLAS_CACHE  cache root (${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas)
#   GOFLAGS            passed to go build as usual
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${SOPAIPILLAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas}
bin=$cache/devstack/devstack
mkdir -p -- "$cache/devstack"

say() { printf '%s\n' "$*" >&2; }

buildlog=$(mktemp "${TMPDIR:-/tmp}/sopaipillas-devbuild.XXXXXX")
deps=$(mktemp "${TMPDIR:-/tmp}/sopaipillas-devdeps.XXXXXX")
trap 'rm -f "$buildlog" "$deps"' EXIT
start=$SECONDS
go build -v -o "$bin" ./functions/cmd/devstack 2>"$buildlog" &
build=$!
# The total the progress counts towards: every package the binary is built
# from (go build -v names each one it compiles, the standard library's
# included), counted beside the build; until it is known, no total is said.
(go list -deps ./functions/cmd/devstack 2>/dev/null | wc -l >"$deps") &
told= explained= next=0
while kill -0 "$build" 2>/dev/null; do
	elapsed=$((SECONDS - start))
	if [ "$elapsed" -ge 2 ] && [ "$elapsed" -ge "$next" ]; then
		downloads=$(grep -c '^go: downloading' "$buildlog" || true)
		compiled=$(grep -vc '^go: ' "$buildlog" || true)
		total=$(tr -d ' ' <"$deps")
		of=""
		if [ -n "$total" ] && [ "$total" -ge "$compiled" ]; then
			of=" of $total"
		fi
		if [ -z "$told" ]; then
			say "building the dev stack into $bin"
			told=1
		fi
		if [ -z "$explained" ] && [ $((downloads + compiled)) -gt 20 ]; then
			say "  a first build: it downloads the Go modules and compiles every package${of:+ ($total)}, a few minutes"
			say "  on two cores; later starts reuse it and take about a second."
			explained=1
		fi
		say "  ... ${elapsed}s: ${downloads} modules downloaded, ${compiled}${of} packages compiled"
		next=$((elapsed + 15))
	fi
	sleep 0.1
done
if ! wait "$build"; then
	grep -v '^[a-zA-Z0-9._/-]*$' "$buildlog" >&2 || cat "$buildlog" >&2
	say "dev: the build failed"
	exit 1
fi
if [ -n "$told" ]; then
	say "  built in $((SECONDS - start))s; starting the stack."
fi
rm -f "$buildlog"
trap - EXIT

if [ -t 0 ] && [ -t 2 ]; then
	set -m
	rc=0
	"$bin" "$@" || rc=$?
	exit "$rc"
fi
exec "$bin" "$@"
