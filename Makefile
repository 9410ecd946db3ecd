# Sightline — `make help` lists the targets.
SHELL := /bin/bash
# A recipe line fails on any failing command, unset variable or pipe stage.
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BUF       := $(GO) tool -modfile=tools/go.mod buf
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/sightlinehq/sightline/cmd/sightline/app.version=$(VERSION)
BIN       := bin/sightline
LINTER    := bin/golangci-lint
DATA_DIR  ?= ./data
# `make test` runs every Go package once, under the race detector: nearly
# every package has concurrency (spool, forwarder, outboxes, caches, the
# services), and one pass costs less than a plain pass plus a race pass.
# RACE= runs them without it.
RACE      ?= -race
# How long `make fuzz` runs each fuzz target.
FUZZTIME  ?= 30s

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: preflight-run build ## Run everything in one process: dashboard at http://localhost:8080.
	$(BIN) serve --data-dir $(DATA_DIR) --print-url

.PHONY: preflight
preflight: ## Check Go, Node/npm, Chromium and PostgreSQL (what `make test` needs); print the install command for a miss.
	@command -v $(GO) >/dev/null || { echo "preflight: Go is missing: https://go.dev/doc/install" >&2; exit 1; }
	@$(GO) run ./internal/preflight -for=test

# What `make run` needs: Go, Node and npm.
.PHONY: preflight-run
preflight-run:
	@command -v $(GO) >/dev/null || { echo "preflight: Go is missing: https://go.dev/doc/install" >&2; exit 1; }
	@$(GO) run ./internal/preflight -for=run

.PHONY: build
build: web ## Build the sightline binary into bin/, the dashboard (web/dist) embedded.
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sightline

.PHONY: test
test: preflight web test-go test-node test-e2e ## Run every test (Go, dashboard, tracker, browser end-to-end).

.PHONY: test-go
# -timeout: cmd/sightline's real processes (the downtime matrix, the short
# chaos run) take most of go test's default 10 min per package. web: the
# binary cmd/sightline's tests build embeds the dashboard they load.
test-go: weed web ## Go tests (real PostgreSQL, real sockets), under the race detector.
	$(GO) test -count=1 -timeout 20m $(RACE) ./...

# Full run: 3 rounds of 7 kills, 15 s down each (~8 min). `make test` runs
# the short version (TestChaos's defaults: one round, 2 s down).
CHAOS_ROUNDS ?= 3
CHAOS_OUTAGE ?= 15s

.PHONY: chaos
chaos: ## Kill -9 each of the six processes and accounts' PostgreSQL in turn under load; check every accepted batch is stored and searchable; print figures (CHAOS_ROUNDS=3 CHAOS_OUTAGE=15s).
	CHAOS_ROUNDS=$(CHAOS_ROUNDS) CHAOS_OUTAGE=$(CHAOS_OUTAGE) $(GO) test -count=1 -timeout 30m -run '^TestChaos$$' -v ./cmd/sightline

# Built once from its pinned module (tools/golangci-lint), like bin/weed.
$(LINTER): tools/golangci-lint/go.mod tools/golangci-lint/go.sum
	$(GO) build -C tools/golangci-lint -trimpath -o $(CURDIR)/$(LINTER) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: weed
weed: bin/weed ## Build SeaweedFS (bin/weed), the real S3 server of the Go tests (once; ~3 min).

# Rebuilt only when missing or when its pinned version changes.
bin/weed: tools/seaweedfs/go.mod tools/seaweedfs/go.sum
	CGO_ENABLED=0 $(GO) build -C tools/seaweedfs -trimpath -o $(CURDIR)/bin/weed github.com/seaweedfs/seaweedfs/weed

.PHONY: test-node
test-node: node-deps ## Unit tests of the tracker and the dashboard (Vitest).
	@if [ -f tracker/package.json ]; then cd tracker && npm test; fi
	@if [ -f web/package.json ]; then cd web && npm test; fi

.PHONY: test-e2e
test-e2e: node-deps build ## Browser tests in Debian's Chromium against the real binary.
	@if [ -f tracker/package.json ] && grep -q '"e2e"' tracker/package.json; then cd tracker && SIGHTLINE_BIN=$(CURDIR)/$(BIN) npm run e2e; fi
	@if [ -f web/package.json ] && grep -q '"e2e"' web/package.json; then cd web && SIGHTLINE_BIN=$(CURDIR)/$(BIN) npm run e2e; fi

.PHONY: node-deps
node-deps: ## Install the pinned npm packages of tracker/ and web/.
	@for d in tracker web; do \
	  if [ -f $$d/package-lock.json ] && [ ! -f $$d/node_modules/.package-lock.json -o $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
	    (cd $$d && npm ci --no-audit --no-fund) || exit 1; fi; done

.PHONY: web
web: node-deps ## Build the dashboard into web/dist (embedded by the binary).
	@if [ -f web/package.json ]; then cd web && npm run build; fi

.PHONY: tracker
tracker: node-deps ## Rebuild the committed tracker scripts in tracker/dist.
	@if [ -f tracker/package.json ]; then cd tracker && npm run build; fi

.PHONY: generate
generate: ## Regenerate gen/ (Go, gRPC, gateway, OpenAPI) and the dashboard's API types.
	find gen -name '*.pb.go' -o -name '*.pb.gw.go' | xargs -r rm -f
	rm -f gen/openapi/*.swagger.json
	$(BUF) generate
	@if [ -f web/package.json ] && grep -q '"generate"' web/package.json; then $(MAKE) node-deps && cd web && npm run generate; fi

.PHONY: check-generate
check-generate: generate tracker ## Fail if generated code or built tracker scripts differ from what is committed.
	@git add -N gen web/src tracker/dist 2>/dev/null || true
	@if ! git diff --exit-code --stat -- gen web/src tracker/dist; then \
	  echo "generated files are stale: run 'make generate tracker' and commit" >&2; exit 1; fi

.PHONY: fuzz
fuzz: ## Run every fuzz target (func Fuzz* in *_test.go) for FUZZTIME each (default 30s).
	@set -e; for f in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=gen '^func Fuzz' . | sort); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== $$(dirname $$f) $$t"; \
	    $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$(dirname $$f); \
	  done; \
	done

.PHONY: lint
lint: $(LINTER) ## buf lint and format, go vet, gofmt and golangci-lint (.golangci.yml).
	$(BUF) lint
	$(BUF) format --diff --exit-code
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1; }
	$(LINTER) run ./...

.PHONY: breaking
breaking: ## buf breaking against main (a no-op on main itself).
	@if git rev-parse --verify -q main >/dev/null; then $(BUF) breaking --against '.git#branch=main'; else echo "no main branch to compare with"; fi

.PHONY: bench
bench: bench-accounts bench-answers bench-dashboard bench-heatmaps bench-ingest bench-notify bench-recordings bench-search bench-spool bench-tracker bench-trends ## Every benchmark.

.PHONY: bench-accounts
bench-accounts: ## GetSiteConfig and token authentication on SQLite and PostgreSQL.
	$(GO) test -run='^$$' -bench=. -benchmem ./svc-accounts/...

.PHONY: bench-dashboard
bench-dashboard: ## Sessions list p50/p95 and accounts calls per request through the gateway: six processes vs one, same run (~1 min; BENCH_DASHBOARD_ARGS=-rounds 5 for more).
	$(GO) run ./gateway/cmd/benchdashboard $(BENCH_DASHBOARD_ARGS)

.PHONY: bench-ingest
bench-ingest: ## Ingest (serve's HTTP middleware, real spool, fsync on) against a bare net/http handler, same run; then both at a constant 10,000 batches/s (p50/p99; BENCH_INGEST_ARGS=-rate N).
	$(GO) run ./svc-ingest/cmd/benchingest $(BENCH_INGEST_ARGS)

.PHONY: bench-recordings
bench-recordings: ## Append throughput, time to first chunk, bytes per recorded minute.
	$(GO) run ./svc-recordings/cmd/benchrecordings

.PHONY: bench-heatmaps
bench-heatmaps: ## GetHeatmap p50/p95 with 1M clicks over 30 days (embedded), append cost of the same chunks with heatmaps on vs off, a click map over a 10,001-page rule (~5 min; BENCH_HEATMAPS_ARGS=-clicks 200000 for ~1, -interleave for a live site's calls: a batch of each of 48 page views).
	$(GO) run ./svc-recordings/cmd/benchheatmaps $(BENCH_HEATMAPS_ARGS)
	$(GO) test -run '^$$' -bench 'BenchmarkHeatWide' -benchtime 20x ./svc-recordings/store/pebble/

.PHONY: bench-search
bench-search: ## Embedded index vs PostgreSQL, same queries (1M sessions, ~15 min; BENCH_SEARCH_ARGS=-n 200000 for ~5).
	$(GO) run ./svc-search/cmd/benchsearch $(BENCH_SEARCH_ARGS)

.PHONY: bench-answers
bench-answers: ## Answers list p50/p95 with two filters vs no filter, and stats, over 100k responses (embedded, ~1–3 min, mostly loading; BENCH_ANSWERS_ARGS=-n 20000 for less).
	$(GO) run ./svc-search/cmd/benchanswers $(BENCH_ANSWERS_ARGS)

.PHONY: bench-trends
bench-trends: ## Traffic overview and 4-step funnel p50/p95, embedded vs PostgreSQL, 1M sessions / 4M page views over 30 days, realtime latency (~5 min on an idle machine, mostly loading and PostgreSQL; BENCH_TRENDS_ARGS=-sessions 200000 for ~1).
	$(GO) run ./svc-search/cmd/benchtrends $(BENCH_TRENDS_ARGS)

.PHONY: bench-pipeline
bench-pipeline: build ## The real binary (serve, all in one, fresh data dir) at a constant offered rate stepped up ×1.25 until the backlog is not flat, 10 KB and 60 KB batches: rates, p50/p99, CPU, RSS, disk per batch vs a bare handler, CPU profile top (~15 min; BENCH_PIPELINE_ARGS=-step 10s for ~6).
	$(GO) run ./cmd/benchpipeline -binary $(BIN) $(BENCH_PIPELINE_ARGS)

.PHONY: bench-pipeline-heatmaps
bench-pipeline-heatmaps: build ## What heatmaps cost the whole product: serve with them on (A) and off (B) side by side at 1500 batches/s of 10 KB (the tracker's sl:view and sl:click included), 6 alternating rounds: CPU and data directory growth per batch, ratio A/B (~5 min; BENCH_PIPELINE_HEATMAPS_ARGS=-ab-rounds 2 for less).
	$(GO) run ./cmd/benchpipeline -mode ab -binary $(BIN) -sizes 10240 -start 1500 -step 20s -server-args-b=--recordings.heatmaps=false $(BENCH_PIPELINE_HEATMAPS_ARGS)

.PHONY: bench-edge
bench-edge: build ## The edge alone (accounts, ingest, gateway; recordings unreachable, spool fsync'd) vs a bare handler under wrk -t2 -c64, a 10 KB batch, 3 rotated rounds, then both at a constant 10,000 batches/s: p50/p99 (issue 19's edge measures; needs wrk: apt-get install wrk; ~3 min).
	$(GO) run ./cmd/benchpipeline -mode edge -binary $(BIN) $(BENCH_EDGE_ARGS)

DURATION ?= 30m
RATE     ?= 0

.PHONY: soak
soak: build ## Steady load on the real binary for DURATION (30m) at RATE batches/s (default: half the capacity a quick step run measures); every minute RSS, goroutines, open files, spool backlog; then flat or not. Not in CI.
	$(GO) run ./cmd/benchpipeline -mode soak -binary $(BIN) -duration $(DURATION) -rate $(RATE) $(SOAK_ARGS)

.PHONY: bench-notify
bench-notify: ## Webhook deliveries/s through notify's queue (SQLite, PostgreSQL) vs bare signed POSTs; digest fan-out to 10,000 users vs rendering them in a loop (~1.5 min; BENCH_NOTIFY_ARGS=-users 2000 for less).
	$(GO) run ./svc-notify/cmd/benchnotify $(BENCH_NOTIFY_ARGS)

.PHONY: bench-spool
bench-spool: ## Spool Open with 128 MiB / 1 GiB undelivered against an empty spool (ratio), and sightline serve ready with 1 GiB (~2 min).
	$(GO) test -run='^$$' -bench=BenchmarkOpenBacklog -benchtime=5x ./svc-ingest/spool/
	set -o pipefail; $(GO) test -count=1 -v -run='^TestReadyWithGiBUndelivered$$' ./cmd/sightline/ | grep -E 'wrote|ready|PASS|FAIL|ok'

.PHONY: bench-tracker
bench-tracker: node-deps ## Main-thread time per frame in Chromium: no recorder, plain @rrweb/record, ours (ratios in one run).
	cd tracker && npm run bench

.PHONY: clean
clean: ## Remove build output and local data.
	rm -rf bin data web/dist/assets web/dist/index.html
