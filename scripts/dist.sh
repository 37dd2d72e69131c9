#!/usr/bin/env bash
# make dist: the release artifacts in dist/ (README.md, "Install"):
#   bridge-linux-amd64, bridge-linux-arm64, bridge-linux-armv7   static binaries, cgo SQLite
#   accountbridge_<version>_{amd64,arm64,armhf}.deb                 nfpm, packaging/nfpm.yaml
#   SHA256SUMS
# The version is internal/version/version.go's. Cross C compilers come from Debian
# (gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf) and are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM_VERSION=v2.48.0
# Static glibc binaries (scripts/dist-test.sh builds the arm tests with the same flags, so
# the cgo SQLite build is shared): the pure-Go resolver and user lookup (no NSS at run time), and
# no SQLite extension loading (no dlopen).
TAGS=osusergo,netgo,sqlite_omit_load_extension
OUT=dist

VERSION=$(sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)
if [ -z "$VERSION" ] || [ "$VERSION" = dev ]; then
  echo "dist: no release version in internal/version/version.go (got '$VERSION')" >&2
  exit 1
fi

host=$(go env GOHOSTARCH)
# target (GOARCH[/GOARM]) → artifact suffix, Debian package with its C compiler, compiler, nfpm arch
targets=(amd64 arm64 arm/7)
suffix() { case $1 in amd64) echo amd64 ;; arm64) echo arm64 ;; arm/7) echo armv7 ;; esac; }
nfpm_arch() { case $1 in amd64) echo amd64 ;; arm64) echo arm64 ;; arm/7) echo arm7 ;; esac; }
cc_for() {
  local goarch=${1%/*}
  if [ "$goarch" = "$host" ]; then echo gcc; return; fi
  case $goarch in
    amd64) echo x86_64-linux-gnu-gcc ;;
    arm64) echo aarch64-linux-gnu-gcc ;;
    arm) echo arm-linux-gnueabihf-gcc ;;
  esac
}
cc_pkgs() {
  case $1 in
    gcc) echo "gcc libc6-dev" ;;
    x86_64-linux-gnu-gcc) echo "gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;;
    aarch64-linux-gnu-gcc) echo "gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
    arm-linux-gnueabihf-gcc) echo "gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;;
  esac
}

missing=()
for t in "${targets[@]}"; do
  cc=$(cc_for "$t")
  command -v "$cc" >/dev/null 2>&1 || missing+=($(cc_pkgs "$cc"))
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing C compilers: ${missing[*]}"
  # root in CI; sudo on a GitHub runner (the release workflow).
  sudo=
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo DEBIAN_FRONTEND=noninteractive"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== nfpm $NFPM_VERSION"
GOBIN="$work" GOOS= GOARCH= CGO_ENABLED=0 go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"

# The conffile: the sample config with the store where the unit's StateDirectory is.
sed 's|^  path: ./data/accountbridge.db  # SQLite; created with mode 0600.*|  path: /var/lib/accountbridge/accountbridge.db  # SQLite; created with mode 0600 (the service'"'"'s StateDirectory)|' \
  config.example.yaml > "$work/config.yaml"
if ! grep -q '^  path: /var/lib/accountbridge/accountbridge.db ' "$work/config.yaml"; then
  echo "dist: the store path line of config.example.yaml changed; update scripts/dist.sh" >&2
  exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT"
# Package timestamps from the commit, so a rebuild of one commit gives the same .debs.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

for t in "${targets[@]}"; do
  goarch=${t%/*} goarm=
  [ "$t" != "$goarch" ] && goarm=${t#*/}
  bin="$OUT/bridge-linux-$(suffix "$t")"
  echo "== $bin (GOARCH=$goarch${goarm:+ GOARM=$goarm}, CC=$(cc_for "$t"))"
  start=$SECONDS
  CGO_ENABLED=1 GOOS=linux GOARCH=$goarch GOARM=$goarm CC=$(cc_for "$t") \
    go build -trimpath -tags "$TAGS" \
    -ldflags "-s -w -X github.com/accountbridge/accountbridge/internal/version.build=$VERSION -linkmode external -extldflags -static" \
    -o "$bin" ./cmd/bridge
  echo "   $(( SECONDS - start ))s, $(stat -c %s "$bin") bytes"
  # nfpm expands ${VAR} in a few fields only (not contents' src): fill them in here.
  sed -e "s|\${ARCH}|$(nfpm_arch "$t")|g" -e "s|\${VERSION}|$VERSION|g" \
    -e "s|\${BIN}|$bin|g" -e "s|\${CONFIG}|$work/config.yaml|g" packaging/nfpm.yaml > "$work/nfpm.yaml"
  "$work/nfpm" pkg --config "$work/nfpm.yaml" --packager deb --target "$OUT/"
done

(cd "$OUT" && sha256sum bridge-linux-* *.deb > SHA256SUMS)
echo "== $OUT/ (version $VERSION)"
ls -l "$OUT"
