# Failover bot. `make demo` runs a real failover of the local lab; `make test`
# runs the whole suite against real PostgreSQL, Redis and Kubernetes servers.
GO        ?= go
PKGS      ?= ./...
BIN       := bin/bot
export GOTOOLCHAIN := local

.PHONY: build deps kube-bin test lint bench demo clean

build:
	$(GO) build -o $(BIN) ./cmd/bot

# PostgreSQL, Redis and Sentinel from Debian's packages, when missing.
deps:
	@scripts/install-deps

# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
# built from the tools/ modules once (10-20 minutes on 2 cores) and cached
# under ~/.cache/failover-bot/kube-bin; the tests find them through
# FAILOVER_KUBE_BIN.
kube-bin:
	@scripts/kube-bin >/dev/null

test: deps kube-bin
	bin=$$(scripts/kube-bin) && FAILOVER_KUBE_BIN=$$bin $(GO) test -count=1 -timeout 20m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)

# Benchmarks print figures (ns/step, wall/critical path, ack p99, RSS, lab
# failover time, ten parallel Kubernetes scales' wall/slowest and requests
# while waiting); each lab, cluster or binary benchmark iteration is a
# whole lab, rollout or process, so those run a fixed number of times.
bench: deps kube-bin
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/executor/ ./internal/runbook/ ./internal/store/... ./internal/commands/
	bin=$$(scripts/kube-bin) && FAILOVER_KUBE_BIN=$$bin $(GO) test -run '^$$' -bench . -benchtime 5x ./internal/chat/slack/ ./internal/lab/ ./internal/lab/kube/ ./internal/steps/kubernetes/ ./cmd/bot/

demo: deps build
	./$(BIN) demo

clean:
	rm -rf bin
