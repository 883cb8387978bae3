# sopaipillas: `make dev` runs everything locally, `make test` runs every test.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: dev
dev: ## Run the whole system locally: functions, Kafka, mail catcher, sources.
	@hack/dev.sh

.PHONY: test
test: ## Run the whole test suite (starts a real Apache Kafka broker).
	hack/test.sh

.PHONY: check
check: ## Fast check: gofmt, vet, go mod tidy -diff, unit tests (-short; no Kafka, Java or browser).
	hack/check.sh

.PHONY: test-faults
test-faults: ## Fault-injection tests on real Kafka brokers (also run by make test).
	hack/faults.sh

.PHONY: test-platform
test-platform: tools ## Apply every rendering to kube-apiserver with Knative's webhooks and controller.
	dir=$$(hack/platform.sh build) && SOPAIPILLAS_PLATFORM=$$dir SOPAIPILLAS_REQUIRE_PLATFORM=1 \
		go test -count=1 -run '^TestPlatform$$' -v ./k8s/

.PHONY: bench
bench: ## Benchmarks against Kafka's own perf tools; writes bench/RESULTS.md.
	hack/bench.sh

.PHONY: fuzz
fuzz: ## Run each fuzz target (FUZZTIME, default 1m).
	hack/fuzz.sh $${FUZZTIME:-1m}

.PHONY: kafka
kafka: ## Start a real Apache Kafka on loopback for `KAFKA_BROKERS=... make dev`.
	@hack/kafka.sh start .kafka/dev | tail -n 1 | sed 's/^/KAFKA_BROKERS=/'
	@echo "stop it with: make kafka-stop"

.PHONY: kafka-stop
kafka-stop: ## Stop the broker started by `make kafka`.
	hack/kafka.sh stop .kafka/dev

.PHONY: tools
tools: ## Install the pinned Go tools (helm, kubeconform, kustomize) into ./bin.
	hack/tools.sh

.PHONY: render
render: tools ## Render k8s/ from the Helm chart (charts/sopaipillas, the source).
	hack/render.sh

.PHONY: bundle
bundle: ## Write api/openapi.bundled.yaml, the self-contained OpenAPI document for client generators.
	go run ./api/cmd/bundle

.PHONY: lint-api
lint-api: ## Lint the OpenAPI documents with Redocly CLI (api/redocly.yaml).
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$$(hack/clients.sh)/node_modules/.bin/redocly" lint --config api/redocly.yaml

.PHONY: build
build: ## Build every binary under functions/cmd (functions, vendorctl, dev stack, fault harness, bench) into ./bin.
	go build -trimpath -o bin/ ./functions/cmd/...
