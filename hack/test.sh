#!/usr/bin/env bash
# The whole test suite (`make test`): formatting, vet, a tidy go.mod, the pinned tools the
# manifest tests need, the Python tools of the contract tests, a real
# Apache Kafka broker (KRaft) on loopback for the end-to-end tests, every Go
# test, short fuzzing, then the fault
# injection scenarios (hack/faults.sh) on brokers of their own. Every broker
# is stopped on exit.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# gofmt, go vet and go mod tidy -diff, as make check runs them.
"$root/hack/check.sh" static

echo "== tools"
"$root/hack/tools.sh"

echo "== Python tools (jsonschema, openapi-spec-validator, schemathesis)"
# The contract tests (functions/contract) judge the schemas with them.
SOPAIPILLAS_PYTHON=$("$root/hack/python.sh")
export SOPAIPILLAS_PYTHON SOPAIPILLAS_REQUIRE_PYTHON=1

echo "== npm tools (openapi-typescript, openapi-fetch, typescript, @redocly/cli, @asyncapi/cli)"
# The generated clients' and AsyncAPI models' tests (functions/contract) and
# the OpenAPI lint.
SOPAIPILLAS_NPM=$("$root/hack/clients.sh")
export SOPAIPILLAS_NPM SOPAIPILLAS_REQUIRE_NPM=1

echo "== Chromium (the mail view's browser test)"
"$root/hack/chromium.sh"

echo "== control plane: etcd, kube-apiserver, Knative (k8s/platform_test.go)"
SOPAIPILLAS_PLATFORM=$("$root/hack/platform.sh" build)
export SOPAIPILLAS_PLATFORM SOPAIPILLAS_REQUIRE_PLATFORM=1

echo "== Apache Kafka"
state=$(mktemp -d "${TMPDIR:-/tmp}/sopaipillas-kafka.XXXXXX")
cleanup() {
	"$root/hack/kafka.sh" stop "$state" >/dev/null 2>&1 || true
	rm -rf "$state"
}
trap cleanup EXIT
"$root/hack/kafka.sh" fetch >/dev/null
bootstrap=$("$root/hack/kafka.sh" start "$state" | tail -n 1)
echo "Apache Kafka $(cat "$state/version") (KRaft) at $bootstrap"

echo "== go test"
KAFKA_BROKERS=$bootstrap \
	SOPAIPILLAS_KAFKA_VERSION=$(cat "$state/version") \
	SOPAIPILLAS_REQUIRE_KAFKA=1 \
	SOPAIPILLAS_REQUIRE_BROWSER=1 \
	go test -race -count=1 -timeout 20m ${GOTESTFLAGS:-} ./...

# The broker is not needed any more; the fault tests start their own.
cleanup
trap - EXIT

echo "== fuzz (short, fixed time)"
"$root/hack/fuzz.sh" "${FUZZTIME:-10s}"

echo "== fault injection (make test-faults)"
"$root/hack/faults.sh"
