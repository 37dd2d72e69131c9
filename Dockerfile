# accountbridge: the multi-arch image (amd64, arm64) that the release workflow publishes.
#   docker buildx build --platform linux/amd64,linux/arm64 -t accountbridge .
# The Go build runs on the build machine's own architecture and cross-compiles with cgo (no
# emulation); the result is a static binary in an image FROM scratch, like `make image`
# (which builds the same image from a binary built on the host, pulling nothing).
# The legacy builder (no BuildKit) works too: `docker build -t accountbridge .` builds for
# linux/amd64; on an arm64 machine add --build-arg BUILD_PLATFORM=linux/arm64.
# BUILDPLATFORM is left undeclared on purpose: BuildKit sets it, and a declared default
# would override BuildKit's value.
ARG BUILD_PLATFORM
FROM --platform=${BUILD_PLATFORM:-${BUILDPLATFORM:-linux/amd64}} golang:1.26-bookworm AS build
ARG TARGETARCH
RUN set -eux; \
    buildarch=$(go env GOARCH); target=${TARGETARCH:-$buildarch}; \
    if [ "$target" != "$buildarch" ]; then \
      case "$target" in \
        arm64) pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
        amd64) pkgs="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
        *) echo "unsupported TARGETARCH $target" >&2; exit 1 ;; \
      esac; \
      apt-get update; apt-get install -y --no-install-recommends $pkgs; rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version is internal/version's unless the release passes one.
ARG VERSION
RUN set -eux; \
    buildarch=$(go env GOARCH); target=${TARGETARCH:-$buildarch}; \
    version=${VERSION:-$(sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)}; \
    cc=gcc; \
    if [ "$target" != "$buildarch" ]; then \
      case "$target" in arm64) cc=aarch64-linux-gnu-gcc ;; amd64) cc=x86_64-linux-gnu-gcc ;; esac; \
    fi; \
    CGO_ENABLED=1 GOOS=linux GOARCH=$target CC=$cc \
      go build -trimpath -buildvcs=false -tags 'osusergo,netgo,sqlite_omit_load_extension' \
        -ldflags "-s -w -X github.com/accountbridge/accountbridge/internal/version.build=${version} -linkmode external -extldflags -static" \
        -o /out/usr/local/bin/bridge ./cmd/bridge; \
    mkdir -p /out/etc/ssl/certs /out/data; \
    cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/:/sbin/nologin\naccountbridge:x:10001:10001:accountbridge:/data:/sbin/nologin\n' > /out/etc/passwd; \
    printf 'root:x:0:\naccountbridge:x:10001:\n' > /out/etc/group

FROM scratch
ARG VERSION
COPY --from=build /out/etc/ /etc/
COPY --from=build /out/usr/local/bin/bridge /usr/local/bin/bridge
COPY --from=build --chown=10001:10001 /out/data/ /data/
ENV PATH=/usr/local/bin
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
LABEL org.opencontainers.image.title="accountbridge" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/accountbridge/accountbridge"
# The daemon rewrites health.json beside its store on every MQTT connect and every 30 s;
# `bridge health` checks it is fresh, its process alive and the MQTT connection up.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["bridge", "health", "-c", "/data/config.yaml"]
ENTRYPOINT ["bridge"]
CMD ["run", "-c", "/data/config.yaml"]
