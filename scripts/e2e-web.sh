#!/usr/bin/env bash
# The web UI in a real browser (make e2e-web): headless Chromium from Debian, driven over
# the DevTools protocol by internal/web/browser_test.go, against `bridge demo` built from
# this tree, directly and behind an ingress-style path prefix. Installs chromium when it is
# missing. WEB_SCREENSHOTS=DIR keeps PNGs of the main pages (make screenshots: docs/screenshots).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1; then
  echo "== installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q chromium
fi
echo "== $("${CHROMIUM:-chromium}" --version 2>/dev/null || echo chromium)"
go test -tags browser -run '^TestBrowser$' -count=1 -v ./internal/web/
