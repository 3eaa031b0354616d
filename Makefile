# Failover bot. `make demo` runs a real failover of the local lab; `make test`
# runs the whole suite against real PostgreSQL, Redis and Kubernetes servers.
GO        ?= go
PKGS      ?= ./...
BIN       := bin/bot
export GOTOOLCHAIN := local

VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
IMAGE     ?= ghcr.io/example/failover-bot:$(VERSION)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt

.PHONY: demo-full build deps kube-bin test tools-test chart-test image-test lint lint-tools bench demo image clean

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
	$(MAKE) tools-test

# The nested modules' tests: the Helm chart (rendered with the Helm SDK,
# checked by the lab's API server and KWOK nodes) and the image.
tools-test: chart-test image-test

chart-test: kube-bin
	bin=$$(scripts/kube-bin) && cd tools/charttest && FAILOVER_KUBE_BIN=$$bin $(GO) test -count=1 -timeout 20m ./...

image-test:
	cd tools/image && $(GO) test -count=1 -timeout 20m ./...

# The container image as an OCI archive (bin/failover-bot.oci.tar), no
# Docker engine needed: a static binary, CA roots, the nonroot user, on
# scratch (the Dockerfile builds the same). Load it with
# `skopeo copy oci-archive:bin/failover-bot.oci.tar docker://$(IMAGE)`,
# `podman load -i …` or `crane push bin/failover-bot.oci.tar $(IMAGE)`.
image:
	@test -r $(CA_BUNDLE) || { echo "$(CA_BUNDLE) missing: apt-get install ca-certificates (or set CA_BUNDLE)"; exit 1; }
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/bot-linux-amd64 ./cmd/bot
	cd tools/image && SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) $(GO) run . -bin ../../bin/bot-linux-amd64 \
		-ca $(CA_BUNDLE) -ref $(IMAGE) -version $(VERSION) -revision $$(git rev-parse HEAD) -o ../../bin/failover-bot.oci.tar

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)
	@# The nested modules build the main one: a new import here can need
	@# their go.mod updated (make test then fails with "go mod tidy").
	@for m in tools/charttest tools/image; do (cd $$m && $(GO) mod tidy -diff >/dev/null) || { echo "$$m: go mod tidy needed"; exit 1; }; done

# The nested modules (slow the first time: Helm's dependencies compile).
lint-tools:
	cd tools/charttest && $(GO) vet ./... && staticcheck ./...
	cd tools/image && $(GO) vet ./... && staticcheck ./...

# Benchmarks print figures (ns/step, wall/critical path, ack p99, RSS, lab
# failover time, ten parallel Kubernetes scales' wall/slowest and requests
# while waiting, the MAIP failover's AWS waits: wall/critical, lag, describes
# a minute; report build and chart render); each lab, cluster or binary benchmark iteration is a
# whole lab, rollout or process, so those run a fixed number of times.
bench: deps kube-bin
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/executor/ ./internal/runbook/ ./internal/store/... ./internal/commands/ ./internal/notify/ ./internal/report/...
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/steps/aws/...
	bin=$$(scripts/kube-bin) && FAILOVER_KUBE_BIN=$$bin $(GO) test -run '^$$' -bench . -benchtime 5x ./internal/chat/slack/ ./internal/lab/ ./internal/lab/kube/ ./internal/steps/kubernetes/ ./cmd/bot/

demo: deps build
	./$(BIN) demo

# The shipped mimir-region-failover, whole, on the full lab (both clusters, the local AWS,
# PostgreSQL, Redis): a few minutes; the Kubernetes binaries are built the first time.
demo-full: deps build kube-bin
	./$(BIN) demo --full

clean:
	rm -rf bin
