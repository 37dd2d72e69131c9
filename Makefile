# accountbridge — see README.md. `make test` is what CI runs.
GO      ?= go
VERSION ?= $(shell sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)
LDFLAGS := -s -w -X github.com/accountbridge/accountbridge/internal/version.build=$(VERSION)
# How the shipped binary is built (the image, the Dockerfile, dist/): static, with cgo SQLite.
SHIP_TAGS    := osusergo,netgo,sqlite_omit_load_extension
SHIP_LDFLAGS := $(LDFLAGS) -linkmode external -extldflags -static

.PHONY: all build test lint bench clean e2e-nodered chaos image image-test actionlint e2e-web screenshots dist dist-test

all: build

build:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/bridge ./cmd/bridge

# gofmt, vet and staticcheck, then every test with the race detector against the embedded broker; when
# MQTT_TEST_BROKER names a real broker (Mosquitto in CI), the suite runs against it too.
test: lint
	env -u MQTT_TEST_BROKER $(GO) test -race ./...
	@if [ -n "$$MQTT_TEST_BROKER" ]; then \
		echo "== again against $$MQTT_TEST_BROKER"; \
		$(GO) test -race -count=1 ./...; \
	fi

# staticcheck comes from the Go module proxy at a pinned version (v0.8.x supports Go 1.26),
# so a fresh machine with only Go runs the same checks; the first run downloads it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The table of docs/benchmarks.md: the Go benchmarks of the hot paths (parse + convert,
# discovery, state encoding + change detection, store writes), then the load scenario:
# the shipped bridge binary (static, as the image and dist/ build it) as its own process, fed
# over TLS by the fakes in another process with 50 ms on every request, concurrency 64,
# sessions expiring before cycle 3; the broker is always the benchmark's own (embedded), never a
# shared one. Runs: 10 mixed accounts (with BENCH_IDLE of idle time after the cycles),
# 1,000 and 10,000 mixed, and 10, 1,000, 10,000 and 30,000 telecom accounts (the last
# with 3 cycles: first, steady, re-login; about 25 minutes). Results (text and
# JSON) land in BENCH_OUT; `make bench BENCH_IDLE=0` skips the idle part.
BENCH_OUT  ?= bench/out
BENCH_IDLE ?= 10m
BENCH_LOAD  = $(BENCH_OUT)/load -bridge $(BENCH_OUT)/bridge -latency 50ms -concurrency 64 -cycles 4
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@mkdir -p $(BENCH_OUT)
	$(GO) build -o $(BENCH_OUT)/load ./bench/load
	CGO_ENABLED=1 $(GO) build -trimpath -tags "$(SHIP_TAGS)" -ldflags "$(SHIP_LDFLAGS)" -o $(BENCH_OUT)/bridge ./cmd/bridge
	$(BENCH_LOAD) -accounts 10 -idle $(BENCH_IDLE) -json $(BENCH_OUT)/load-10.json > $(BENCH_OUT)/load-10.txt && cat $(BENCH_OUT)/load-10.txt
	for n in 1000 10000; do \
		$(BENCH_LOAD) -accounts $$n -json $(BENCH_OUT)/load-$$n.json > $(BENCH_OUT)/load-$$n.txt && cat $(BENCH_OUT)/load-$$n.txt || exit 1; \
	done
	for n in 10 1000 10000; do \
		$(BENCH_LOAD) -provider telecom -accounts $$n -json $(BENCH_OUT)/load-telecom-$$n.json > $(BENCH_OUT)/load-telecom-$$n.txt && cat $(BENCH_OUT)/load-telecom-$$n.txt || exit 1; \
	done
	$(BENCH_OUT)/load -bridge $(BENCH_OUT)/bridge -latency 50ms -concurrency 64 -cycles 3 -provider telecom -accounts 30000 \
		-json $(BENCH_OUT)/load-telecom-30000.json > $(BENCH_OUT)/load-telecom-30000.txt && cat $(BENCH_OUT)/load-telecom-30000.txt

# The Kubernetes manifests of deploy/kubernetes, decoded strictly with the Kubernetes API
# types and their config parsed for every pod, offline. A module of its own, so that
# k8s.io/api stays out of the daemon's dependencies.
.PHONY: check-k8s
check-k8s:
	cd deploy/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...

# The web UI in headless Chromium (installed from Debian when missing) against the demo.
e2e-web:
	bash scripts/e2e-web.sh

# The screenshots in docs/screenshots (README, addon/DOCS.md), taken by the same test.
screenshots:
	WEB_SCREENSHOTS=$(CURDIR)/docs/screenshots bash scripts/e2e-web.sh

# The daemon against a Mosquitto of its own (free port, own config and pid file): a broker
# outage while alerts fire (CHAOS_OUTAGE, default 150s), kill -9 during polls, an order
# flood with oversized payloads, a wrong password. Prints its figures; see scripts/chaos.sh.
chaos:
	bash scripts/chaos.sh

# The Node-RED example flows against a real Node-RED (from npm) and the bridge demo.
e2e-nodered:
	bash scripts/e2e-nodered.sh

# The container image accountbridge:$(VERSION) and :latest with the local Docker engine,
# pulling nothing: a static binary built here, FROM scratch (scripts/image.sh).
image:
	VERSION=$(VERSION) GO=$(GO) bash scripts/image.sh

# Build the image and run it against a real broker ($$MQTT_TEST_BROKER, else 127.0.0.1:1883):
# healthy, non-root, version, store mode, offline on stop. Installs docker.io and starts its
# own dockerd when needed (scripts/image-test.sh).
image-test:
	GO=$(GO) bash scripts/image-test.sh

# The GitHub workflows (.github/workflows), linted with actionlint from the Go module proxy.
ACTIONLINT_VERSION ?= v1.7.12
actionlint:
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

# Release artifacts in dist/: static binaries (amd64, arm64, armv7) with cgo SQLite, a
# .deb per architecture (systemd unit, conffile), SHA256SUMS. Installs the Debian cross
# compilers when missing. See scripts/dist.sh.
dist:
	bash scripts/dist.sh

# Checks dist/ (rebuilt first): every binary under qemu-user (version, check, two `once`
# against `bridge demo --fakes-only`), the .debs' metadata, the amd64 .deb installed,
# upgraded, removed and purged on this machine (root), and the GOARCH=arm tests of the
# provider, store and config packages under qemu. See scripts/dist-test.sh.
dist-test: dist
	bash scripts/dist-test.sh

clean:
	rm -rf bin dist
