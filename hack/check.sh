#!/usr/bin/env bash
# The fast check (`make check`, under two minutes on two cores once the
# build cache is warm): gofmt, go vet, `go mod tidy -diff`, the pinned Go
# tools the manifest tests need (built once into ./bin), then the unit
# tests with -short. No Java, no Chromium, no Python: the tests that need
# a Kafka broker (KAFKA_BROKERS), Chromium or the Python tools skip, and
# so do the ones that build and run the dev stack. `make test` runs them
# all.
#
#   hack/check.sh          everything above
#   hack/check.sh static   gofmt, go vet and go mod tidy -diff only
#                          (hack/test.sh runs these first)
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go mod tidy -diff"
if ! go mod tidy -diff; then
	echo "go.mod or go.sum is not tidy: run go mod tidy" >&2
	exit 1
fi

[ "${1:-}" = static ] && exit 0

echo "== tools (helm, kubeconform, kustomize: the manifest tests)"
"$root/hack/tools.sh"

echo "== go test -short"
# Whatever the caller's environment holds, this run needs no broker, no
# browser and no Python tools.
env -u KAFKA_BROKERS -u SOPAIPILLAS_REQUIRE_KAFKA -u SOPAIPILLAS_REQUIRE_BROWSER \
	-u SOPAIPILLAS_REQUIRE_PYTHON -u SOPAIPILLAS_PYTHON \
	go test -short -count=1 -timeout 5m ${GOTESTFLAGS:-} ./...
