# syntax=docker/dockerfile:1
# accountbridge: a small multi-arch image (amd64, arm64) with the cgo build (SQLite),
# running as a non-root user and keeping its store in /data.
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=0.1.0 -t accountbridge .
# The Go build runs on the build machine's own architecture and cross-compiles (no emulation).

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETARCH
ARG BUILDARCH
RUN set -eux; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      case "$TARGETARCH" in \
        arm64) pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
        amd64) pkgs="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
        *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
      esac; \
      apt-get update; apt-get install -y --no-install-recommends $pkgs; rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN set -eux; \
    cc=gcc; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      case "$TARGETARCH" in arm64) cc=aarch64-linux-gnu-gcc ;; amd64) cc=x86_64-linux-gnu-gcc ;; esac; \
    fi; \
    CGO_ENABLED=1 GOOS=linux GOARCH=$TARGETARCH CC=$cc \
      go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/bridge ./cmd/bridge

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin accountbridge \
 && mkdir -p /data && chown accountbridge:accountbridge /data
COPY --from=build /out/bridge /usr/local/bin/bridge
USER accountbridge
WORKDIR /data
VOLUME ["/data"]
# The daemon rewrites health.json beside its store every 30 s; `bridge health` checks it
# is fresh and that the MQTT connection is up.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["bridge", "health", "-c", "/data/config.yaml"]
ENTRYPOINT ["bridge"]
CMD ["run", "-c", "/data/config.yaml"]
