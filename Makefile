# coven-supervisor: two commands on a fresh Debian machine, as root:
#   make run    install deps, build, start the daemon in local mode
#   make test   install deps, build, run every test
SWIFT      ?= swift
CONFIG     ?= debug
BIN        := .build/$(CONFIG)/coven-supervisor
DEB_PKGS   := libseccomp-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev pkg-config git bubblewrap util-linux iproute2 procps curl python3 \
              libpq-dev postgresql
# Debian's postgresql makes and starts a system cluster ("15 main") on install; the
# tests start their own server (StoreTesting), so none is made: the setting is written
# before apt runs, and dpkg keeps that file (--force-confold) instead of asking.
PG_CREATECLUSTER := /etc/postgresql-common/createcluster.conf
DEPS_APT_FLAGS   := -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
# make test-vm: qemu (software emulation), busybox-static for the initramfs, kmod's depmod
# and modprobe to order the kernel's modules, xz/zstd to unpack them.
VM_PKGS    := qemu-system-x86 busybox-static kmod xz-utils zstd
SHARED     ?= ../shared
# make test-browser: Debian's Chromium and its driver, and a venv for Selenium (PyPI).
# Without recommends: they pull in avahi's libnss-mdns, which rewrites the host's
# /etc/nsswitch.conf (and so what every sandbox and test resolves names with).
BROWSER_PKGS := chromium chromium-driver python3-venv
BROWSER_VENV := .build/browser-venv
SCREENSHOTS  ?= .build/browser-screenshots

.PHONY: deps vm-deps install-missing build test test-fleet test-vm test-api test-browser run bench conformance openapi clean

# Install only the Debian packages that are missing (apt-get update once, first).
deps:
	@if [ "$$(id -u)" = 0 ] && [ ! -e $(PG_CREATECLUSTER) ]; then \
	  mkdir -p $(dir $(PG_CREATECLUSTER)) && echo 'create_main_cluster = false' > $(PG_CREATECLUSTER); \
	fi
	@$(MAKE) --no-print-directory install-missing PKGS="$(DEB_PKGS)" APT_FLAGS="$(DEPS_APT_FLAGS)"

vm-deps:
	@$(MAKE) --no-print-directory install-missing PKGS="$(VM_PKGS)"

install-missing:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_FLAGS) $$missing; \
	fi

build: deps
	$(SWIFT) build -c $(CONFIG)

# The store's behavioural suite runs twice: on SQLite (the first pass, with everything
# else), then on PostgreSQL (a throwaway server the tests start; StoreTesting).
STORE_SUITE := TaskStoreTests|TaskStoreFaultTests|TaskStoreCoalescingTests|TaskStoreRetryTests|TaskStoreSupersedeTests|PublicationOutboxTests
# FleetTests (several daemons on one PostgreSQL, minutes) run in `make test-fleet` only.
test: build
	$(SWIFT) test -c $(CONFIG) --disable-swift-testing --skip FleetTests
	COVEN_TEST_STORE=postgres $(SWIFT) test -c $(CONFIG) --disable-swift-testing --skip-build --filter '$(STORE_SUITE)'

# Fleet mode end to end: three `serve` daemons on one throwaway PostgreSQL, 300 signed
# webhook deliveries, a host killed twice; and a stopped host's late finish refused.
test-fleet: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build --disable-swift-testing --filter FleetTests

# The cgroup v2 host layouts on Debian's 6.1 and 6.12 kernels, in qemu (Tests/VM/run.sh).
test-vm: deps vm-deps
	$(SWIFT) build -c debug --build-tests
	bash Tests/VM/run.sh

# The OpenAPI document validated, and a real serve fuzzed with it (Tests/API/fuzz.sh).
test-api: build
	@$(MAKE) --no-print-directory install-missing PKGS="python3-venv python3-pip"
	CONFIG=$(CONFIG) bash Tests/API/fuzz.sh

# The dashboard in headless Chromium against a real `serve` in local mode (Tests/Browser/).
# Debian's python3 makes the venv (python3-venv); Selenium comes from PyPI, once.
test-browser: build
	@$(MAKE) --no-print-directory install-missing PKGS="$(BROWSER_PKGS)" APT_FLAGS=--no-install-recommends
	@[ -x $(BROWSER_VENV)/bin/python ] || /usr/bin/python3 -m venv $(BROWSER_VENV)
	@$(BROWSER_VENV)/bin/python -c 'import selenium' 2>/dev/null || $(BROWSER_VENV)/bin/pip install -q 'selenium>=4.11,<5'
	rm -rf $(SCREENSHOTS)
	$(BROWSER_VENV)/bin/python Tests/Browser/dashboard_test.py --binary $(BIN) --screenshots $(SCREENSHOTS)

run: build
	$(BIN) serve

bench: deps
	$(SWIFT) build -c release --static-swift-stdlib
	./bench/run.sh

conformance: build
	COVEN_SHARED_DIR=$(abspath $(SHARED)) COVEN_FIXTURES_DIR=$(abspath $(SHARED))/fixtures $(SWIFT) test -c $(CONFIG) --disable-swift-testing --filter Conformance

# docs/openapi.json from the document the daemon serves (Sources/Adapter/Daemon/OpenAPIDocument.swift).
openapi: build
	.build/$(CONFIG)/coven-supervisor-daemon openapi > docs/openapi.json

clean:
	rm -rf .build
