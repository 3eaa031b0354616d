# Failover bot. `make demo` runs a real failover of the local lab; `make test`
# runs the whole suite against real PostgreSQL and Redis servers.
GO        ?= go
PKGS      ?= ./...
BIN       := bin/bot
export GOTOOLCHAIN := local

.PHONY: build test lint bench demo clean

build:
	$(GO) build -o $(BIN) ./cmd/bot

test:
	$(GO) test -count=1 -timeout 20m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	staticcheck $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s $(PKGS)

demo: build
	./$(BIN) demo

clean:
	rm -rf bin
