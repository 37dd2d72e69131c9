# accountbridge — see README.md. `make test` is what CI runs.
GO      ?= go
VERSION ?= $(shell sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test lint bench clean e2e-nodered

all: build

build:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/bridge ./cmd/bridge

# Vet, then every test with the race detector against the embedded broker; when
# MQTT_TEST_BROKER names a real broker (Mosquitto in CI), the suite runs against it too.
test: lint
	env -u MQTT_TEST_BROKER $(GO) test -race ./...
	@if [ -n "$$MQTT_TEST_BROKER" ]; then \
		echo "== again against $$MQTT_TEST_BROKER"; \
		$(GO) test -race -count=1 ./...; \
	fi

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Hot-path benchmarks (parse + convert, discovery, state encoding, store writes).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The Node-RED example flows against a real Node-RED (from npm) and the bridge demo.
e2e-nodered:
	bash scripts/e2e-nodered.sh

clean:
	rm -rf bin
