#!/usr/bin/env bash
# make image: build accountbridge:<version> and :latest with the local Docker engine,
# pulling nothing (FROM scratch). The binary is built here, statically linked (cgo SQLite
# included) with the zone database compiled in; the image adds the CA bundle and a numeric
# non-root user that owns the /data volume.
# Env: GO (go), DOCKER (docker), IMAGE (accountbridge), VERSION (internal/version).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-accountbridge}
VERSION=${VERSION:-$(sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)}
[ -n "$VERSION" ] || { echo "image: no version in internal/version/version.go" >&2; exit 1; }
CA=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$CA" ] || { echo "image: no CA bundle at $CA (apt-get install ca-certificates)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/etc/ssl/certs" "$ctx/data"

echo "== static bridge $VERSION"
CGO_ENABLED=1 "$GO" build -trimpath -buildvcs=false \
  -tags 'osusergo,netgo,sqlite_omit_load_extension' \
  -ldflags "-s -w -X github.com/accountbridge/accountbridge/internal/version.build=$VERSION -linkmode external -extldflags -static" \
  -o "$ctx/bridge" ./cmd/bridge
if command -v file >/dev/null 2>&1 && ! file "$ctx/bridge" | grep -q 'statically linked'; then
  echo "image: the bridge is not statically linked: $(file "$ctx/bridge")" >&2; exit 1
fi

cp "$CA" "$ctx/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\naccountbridge:x:10001:10001:accountbridge:/data:/sbin/nologin\n' > "$ctx/etc/passwd"
printf 'root:x:0:\naccountbridge:x:10001:\n' > "$ctx/etc/group"
cp scripts/image.Dockerfile "$ctx/Dockerfile"

echo "== docker build $IMAGE:$VERSION"
"$DOCKER" build -q --build-arg "VERSION=$VERSION" -t "$IMAGE:$VERSION" -t "$IMAGE:latest" "$ctx"
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE:$VERSION")
echo "== built $IMAGE:$VERSION and $IMAGE:latest, $((size / 1024 / 1024)) MiB ($size bytes)"
