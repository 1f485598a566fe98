# Backlot: the obvious targets. `make run` and `make test` are all a newcomer needs.
GO      ?= go
BIN     ?= bin/backlot
FUZZTIME ?= 10s

.PHONY: run build build-deps deps test vet fuzz bench microbench compare compare-variants lint clean generate protoc

run: build
	./$(BIN) serve

# The cgo build decodes JPEGs with libjpeg-turbo (build-deps installs its
# headers); CGO_ENABLED=0 builds a pure-Go binary that works everywhere, slower.
build: build-deps
	$(GO) build -o $(BIN) ./cmd/backlot

# go vet, in both builds of the image package.
vet: build-deps
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./actors/resize/...

# Debian packages, each installed only when missing (apt; sudo when not root).
APT_INSTALL = SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

# What building needs: the headers of libjpeg-turbo (cgo JPEG decoding),
# libwebp and libavif (WebP and AVIF output), libheif (HEIC and AVIF
# input) and Little CMS (ICC profiles to sRGB), each installed when missing.
build-deps:
	@echo '#include <turbojpeg.h>' | $${CC:-cc} -E -x c - >/dev/null 2>&1 || { \
	  echo "installing libturbojpeg0-dev (Debian package: the cgo build decodes JPEGs with it)"; \
	  $(APT_INSTALL) libturbojpeg0-dev >/dev/null; }
	@echo '#include <webp/encode.h>' | $${CC:-cc} -E -x c - >/dev/null 2>&1 || { \
	  echo "installing libwebp-dev (Debian package: the cgo build writes WebP with it)"; \
	  $(APT_INSTALL) libwebp-dev >/dev/null; }
	@echo '#include <avif/avif.h>' | $${CC:-cc} -E -x c - >/dev/null 2>&1 || { \
	  echo "installing libavif-dev (Debian package: the cgo build writes AVIF with it)"; \
	  $(APT_INSTALL) libavif-dev >/dev/null; }
	@echo '#include <libheif/heif.h>' | $${CC:-cc} -E -x c - >/dev/null 2>&1 || { \
	  echo "installing libheif-dev (Debian package: the cgo build reads HEIC and AVIF with it)"; \
	  $(APT_INSTALL) libheif-dev >/dev/null; }
	@echo '#include <lcms2.h>' | $${CC:-cc} -E -x c - >/dev/null 2>&1 || { \
	  echo "installing liblcms2-dev (Debian package: the cgo build converts ICC profiles to sRGB with it)"; \
	  $(APT_INSTALL) liblcms2-dev >/dev/null; }

# What the tests need too: a real redis-server (the Redis tests start their
# own on free ports: primaries, replicas, and Sentinels as
# `redis-server --sentinel`), Chromium (browser tests of the page) and
# protoc (the generated-code freshness test); and SeaweedFS's weed binary
# (the S3 tests start `weed mini`), built once per version by
# scripts/weed.sh and cached under ~/.cache/backlot/seaweedfs (~7 minutes
# and ~2.5 GB of module cache the first time).
deps: build-deps protoc
	@scripts/weed.sh >/dev/null
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  $(APT_INSTALL) redis-server >/dev/null; }
	@[ -x /usr/bin/chromium ] || { \
	  echo "installing chromium (Debian package, for the browser tests)"; \
	  $(APT_INSTALL) chromium >/dev/null; }

# The whole suite: vet, every test under the race detector (the cgo build,
# with libjpeg-turbo), then the image package again as a pure-Go build,
# and the HTTP refusal of the formats that build cannot write.
test: deps vet
	BACKLOT_WEED="$$(scripts/weed.sh)" $(GO) test -race -count=1 -timeout 20m ./...
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m ./actors/resize/...
	CGO_ENABLED=0 $(GO) test -count=1 -run '^TestUnavailableFormat$$' ./http/

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

# Issue 20's four WebP variants, Backlot's pipeline against sharp's
# (INPUTS=synthetic|photo|both, default both: bench/variants.sh).
compare-variants:
	bash bench/variants.sh

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The protobuf messages that cross nodes (actors/clusterpb). protoc is the
# Debian package protobuf-compiler (3.21.12 on bookworm); protoc-gen-go is
# pinned to the google.golang.org/protobuf of go.mod (TestGeneratedFresh in
# actors/clusterpb checks both agree and that the committed code is fresh).
# Hollywood's actor/actor.proto is imported from the module cache.
PROTOC_GEN_GO_VERSION = v1.36.12
PROTO_BIN = $(CURDIR)/bin/proto

protoc:
	@command -v protoc >/dev/null 2>&1 || { \
	  echo "installing protoc (Debian package protobuf-compiler)"; \
	  $(APT_INSTALL) protobuf-compiler >/dev/null; }

generate: protoc
	GOBIN=$(PROTO_BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) mod download github.com/anthdm/hollywood
	PATH="$(PROTO_BIN):$$PATH" protoc -I . -I "$$($(GO) list -m -f '{{.Dir}}' github.com/anthdm/hollywood)" \
	  --go_out=. --go_opt=paths=source_relative actors/clusterpb/messages.proto

clean:
	rm -rf bin
