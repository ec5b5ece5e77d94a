# coven-supervisor: two commands on a fresh Debian machine, as root:
#   make run    install deps, build, start the daemon in local mode
#   make test   install deps, build, run every test
SWIFT      ?= swift
CONFIG     ?= debug
BIN        := .build/$(CONFIG)/coven-supervisor
DEB_PKGS   := libseccomp-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev pkg-config git bubblewrap util-linux iproute2 procps curl python3
SHARED     ?= ../shared

.PHONY: deps build test run bench conformance clean

# Install only the Debian packages that are missing (apt-get update once, first).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c $(CONFIG)

test: build
	$(SWIFT) test -c $(CONFIG) --disable-swift-testing

run: build
	$(BIN) serve

bench: deps
	$(SWIFT) build -c release --static-swift-stdlib
	./bench/run.sh

conformance: build
	COVEN_SHARED_DIR=$(abspath $(SHARED)) COVEN_FIXTURES_DIR=$(abspath $(SHARED))/fixtures $(SWIFT) test -c $(CONFIG) --disable-swift-testing --filter Conformance

clean:
	rm -rf .build
