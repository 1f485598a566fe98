# Backlot: the obvious targets. `make run` and `make test` are all a newcomer needs.
GO      ?= go
BIN     ?= bin/backlot
FUZZTIME ?= 10s

.PHONY: run build deps test vet fuzz bench microbench compare lint clean

run: build
	./$(BIN) serve

build:
	$(GO) build -o $(BIN) ./cmd/backlot

vet:
	$(GO) vet ./...

# What the tests need from Debian, installed when missing: a real
# redis-server (the Redis backend's tests start their own on a free port)
# and Chromium (the browser tests of the web page).
deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@[ -x /usr/bin/chromium ] || { \
	  echo "installing chromium (Debian package, for the browser tests)"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The whole suite: vet, then every test under the race detector.
test: deps vet
	$(GO) test -race -count=1 -timeout 20m ./...

# A short run of every fuzz target (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# The load harness against a Backlot it starts on a temp dir (BENCH_ARGS
# adds flags, e.g. BENCH_ARGS="--size 640x480 --total 1000").
bench: build
	./$(BIN) bench $(BENCH_ARGS)

# Go benchmarks of the pieces (resize pipeline, stores).
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Backlot and the Node.js stack of ../shared/peers/node-seed side by side.
compare:
	bash bench/compare.sh

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
