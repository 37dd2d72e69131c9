#!/usr/bin/env bash
# make dist-test: checks what make dist wrote to dist/.
#  1. Every binary: `file` (architecture, statically linked); under qemu-user for the
#     foreign ones (run directly, no binfmt): `version`, `check` on the sample config and
#     on the .deb's conffile, and `once` twice against `bridge demo --fakes-only`: the
#     SQLite store is created, and the second run reuses the stored sessions (no login).
#  2. Every .deb: architecture, version, /usr/bin/bridge, the unit, the conffile.
#  3. The amd64 .deb on this machine (root): installed (system user, config group, state
#     dir), `systemd-analyze verify` on the unit, the binary run as the unit runs it (its
#     user, its paths, no new privileges, no capabilities: check, once, and run on a
#     Mosquitto of this script's own until `bridge health` says healthy), upgraded with an edited config
#     (kept), removed (store and config kept), purged (all gone). A trap purges it on any
#     failure.
#  4. The provider, store and config tests for GOARCH=arm (GOARM=7) under qemu-arm-static,
#     against a real MQTT broker (see there).
set -euo pipefail
cd "$(dirname "$0")/.."

DIST=dist
VERSION=$(sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)
TAGS=osusergo,netgo,sqlite_omit_load_extension

fail() { echo "dist-test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] || fail "run it as root: it installs packages, and installs and purges the amd64 .deb"

need=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v file >/dev/null 2>&1 || need+=(file)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1 || need+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
# systemd-analyze verify runs offline, without systemd as PID 1.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

[ -n "$VERSION" ] || fail "no version in internal/version/version.go"
for f in bridge-linux-amd64 bridge-linux-arm64 bridge-linux-armv7 SHA256SUMS \
  "accountbridge_${VERSION}_amd64.deb" "accountbridge_${VERSION}_arm64.deb" "accountbridge_${VERSION}_armhf.deb"; do
  [ -f "$DIST/$f" ] || fail "$DIST/$f missing (run make dist)"
done
(cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match"
[ "$(wc -l < "$DIST/SHA256SUMS")" -eq 6 ] || fail "SHA256SUMS should list 6 files"

work=$(mktemp -d)
fakes_pid=
mosquitto_pid=
run_pid=
installed=
cleanup() {
  local rc=$?
  # The daemon first: userdel in the purge refuses a user with running processes.
  if [ -n "$run_pid" ]; then kill "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
  if [ -n "$mosquitto_pid" ]; then kill "$mosquitto_pid" 2>/dev/null || true; wait "$mosquitto_pid" 2>/dev/null || true; fi
  if [ -n "$fakes_pid" ]; then kill "$fakes_pid" 2>/dev/null || true; wait "$fakes_pid" 2>/dev/null || true; fi
  if [ -n "$installed" ] && dpkg-query -W -f='${Status}' accountbridge 2>/dev/null | grep -q 'installed\|config-files'; then
    echo "== purging the test install of accountbridge"
    dpkg --purge accountbridge >/dev/null || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

# own_broker starts a Mosquitto of this script's own on a free port (once), for runs that
# must not touch a shared broker; the trap stops it.
own_broker_url=
own_broker() {
  [ -z "$own_broker_url" ] || return 0
  if ! command -v mosquitto >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends mosquitto
  fi
  local port= p
  for p in $(seq 18830 18930); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }; done
  [ -n "$port" ] || fail "no free port for mosquitto in 18830-18930"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
  mosquitto_pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$work/mosquitto.log" >&2; fail "mosquitto did not start on $port"; }
  own_broker_url=tcp://127.0.0.1:$port
}

# ---- 1. the binaries -------------------------------------------------------------------

step "fake upstreams: bridge demo --fakes-only"
"$DIST/bridge-linux-amd64" demo --fakes-only --data "$work/fakes" > "$work/fakes.out" 2> "$work/fakes.err" &
fakes_pid=$!
for _ in $(seq 1 300); do
  grep -qx ready "$work/fakes.out" 2>/dev/null && break
  kill -0 "$fakes_pid" 2>/dev/null || { cat "$work/fakes.err" >&2; fail "bridge demo --fakes-only exited"; }
  sleep 0.1
done
grep -qx ready "$work/fakes.out" || fail "bridge demo --fakes-only not ready after 30s"
accounts=$(grep -c '^  - id: ' "$work/fakes/config.yaml")
logins=$(grep -cE '^    provider: (telecom|gas|onecloud)$' "$work/fakes/config.yaml")
echo "   $accounts accounts, $logins of them log in"

# Each run: binary, runner, `file` pattern.
declare -A runner=([amd64]="" [arm64]=qemu-aarch64-static [armv7]=qemu-arm-static)
declare -A arch_re=([amd64]="x86-64" [arm64]="ARM aarch64" [armv7]="ARM, EABI5")

dpkg-deb -x "$DIST/accountbridge_${VERSION}_amd64.deb" "$work/deb-amd64"
conffile=$work/deb-amd64/etc/accountbridge/config.yaml

for a in amd64 arm64 armv7; do
  bin=$DIST/bridge-linux-$a
  run=${runner[$a]}
  step "$bin"
  desc=$(file -b "$bin")
  echo "   $desc"
  [[ $desc == *"${arch_re[$a]}"* ]] || fail "$bin: not ${arch_re[$a]}: $desc"
  [[ $desc == *"statically linked"* ]] || fail "$bin: not statically linked: $desc"

  out=$($run "$bin" version) || fail "$bin version"
  [ "$out" = "accountbridge $VERSION" ] || fail "$bin version printed '$out', want 'accountbridge $VERSION'"
  echo "   version: $out"

  $run "$bin" check -c config.example.yaml > /dev/null 2> "$work/check.err" || { cat "$work/check.err" >&2; fail "$bin check config.example.yaml"; }
  $run "$bin" check -c "$conffile" > /dev/null 2> "$work/check.err" || { cat "$work/check.err" >&2; fail "$bin check on the .deb's conffile"; }
  echo "   check: $(tail -n1 "$work/check.err")"

  # once, with a store of its own, twice.
  mkdir -p "$work/$a"
  sed "s|^  path: .*accountbridge.db$|  path: $work/$a/accountbridge.db|" "$work/fakes/config.yaml" > "$work/$a/config.yaml"
  grep -q "^  path: $work/$a/accountbridge.db$" "$work/$a/config.yaml" || fail "store path not found in the fakes' config"
  for round in 1 2; do
    start=$SECONDS
    $run "$bin" once -c "$work/$a/config.yaml" > "$work/$a/once$round.json" 2> "$work/$a/once$round.err" ||
      { cat "$work/$a/once$round.err" >&2; fail "$bin once (run $round)"; }
    n=$(grep -c '^{"account":' "$work/$a/once$round.json" || true)
    [ "$n" -eq "$accounts" ] || fail "$bin once (run $round): $n snapshots, want $accounts"
    l=$(grep -c 'logged in' "$work/$a/once$round.err" || true)
    echo "   once run $round: $n snapshots, $l logins, $(( SECONDS - start ))s"
    if [ "$round" = 1 ]; then
      [ -s "$work/$a/accountbridge.db" ] || fail "$bin once: no SQLite store at $work/$a/accountbridge.db"
      [ "$(stat -c %a "$work/$a/accountbridge.db")" = 600 ] || fail "$bin once: store mode $(stat -c %a "$work/$a/accountbridge.db"), want 600"
      [ "$l" -eq "$logins" ] || { cat "$work/$a/once1.err" >&2; fail "$bin once (run 1): $l logins, want $logins"; }
    else
      [ "$l" -eq 0 ] || { cat "$work/$a/once2.err" >&2; fail "$bin once (run 2) logged in again: the stored sessions were not reused"; }
    fi
  done
done

# ---- 2. the packages -------------------------------------------------------------------

declare -A deb_arch=([amd64]=amd64 [arm64]=arm64 [armv7]=armhf)
for a in amd64 arm64 armv7; do
  deb=$DIST/accountbridge_${VERSION}_${deb_arch[$a]}.deb
  step "$deb"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "${deb_arch[$a]}" ] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture)"
  [ "$(dpkg-deb -f "$deb" Version)" = "$VERSION" ] || fail "$deb: Version $(dpkg-deb -f "$deb" Version)"
  [ "$(dpkg-deb -f "$deb" Package)" = accountbridge ] || fail "$deb: Package $(dpkg-deb -f "$deb" Package)"
  list=$(dpkg-deb -c "$deb")
  for p in ./usr/bin/bridge ./usr/lib/systemd/system/accountbridge.service ./etc/accountbridge/config.yaml; do
    grep -q " $p\$" <<<"$list" || fail "$deb lacks $p"
  done
  grep -q '^-rwxr-xr-x root/root .* ./usr/bin/bridge$' <<<"$list" || fail "$deb: /usr/bin/bridge not 0755 root"
  mkdir -p "$work/ctl-$a" "$work/x-$a"
  dpkg-deb -e "$deb" "$work/ctl-$a"
  dpkg-deb -x "$deb" "$work/x-$a"
  grep -qx /etc/accountbridge/config.yaml "$work/ctl-$a/conffiles" || fail "$deb: config.yaml is not a conffile"
  for s in postinst prerm postrm; do [ -x "$work/ctl-$a/$s" ] || fail "$deb: no $s"; done
  cmp -s "$work/x-$a/usr/bin/bridge" "$DIST/bridge-linux-$a" || fail "$deb: /usr/bin/bridge is not $DIST/bridge-linux-$a"
  unit=$work/x-$a/usr/lib/systemd/system/accountbridge.service
  for k in 'ExecStart=/usr/bin/bridge run -c /etc/accountbridge/config.yaml' User=accountbridge \
    StateDirectory=accountbridge NoNewPrivileges=true ProtectSystem=strict ProtectHome=true PrivateTmp=true; do
    grep -qx "$k" "$unit" || fail "$deb: the unit lacks $k"
  done
  grep -q '^  path: /var/lib/accountbridge/accountbridge.db ' "$work/x-$a/etc/accountbridge/config.yaml" ||
    fail "$deb: the conffile's store is not under /var/lib/accountbridge"
  echo "   $(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')$(wc -l <<<"$list") entries, conffile, unit OK"
done

# ---- 3. the amd64 package installed here -----------------------------------------------

deb=$DIST/accountbridge_${VERSION}_amd64.deb
if [ "$(dpkg --print-architecture)" != amd64 ]; then
  echo "== skipping the install test: this machine is $(dpkg --print-architecture), not amd64"
else
  if dpkg-query -W -f='${Status}' accountbridge 2>/dev/null | grep -q 'installed\|config-files'; then
    fail "accountbridge is already installed on this machine; the install test would purge it (dpkg --purge accountbridge first)"
  fi
  ! getent passwd accountbridge >/dev/null || fail "a user accountbridge exists already; the purge test would delete it"
  step "dpkg -i $deb"
  installed=1
  dpkg -i "$deb" < /dev/null
  getent passwd accountbridge >/dev/null || fail "no system user accountbridge after install"
  uid=$(id -u accountbridge)
  [ "$uid" -lt 1000 ] || fail "accountbridge is uid $uid, not a system user"
  [ "$(stat -c '%U:%G %a' /etc/accountbridge/config.yaml)" = "root:accountbridge 640" ] ||
    fail "/etc/accountbridge/config.yaml is $(stat -c '%U:%G %a' /etc/accountbridge/config.yaml), want root:accountbridge 640"
  [ "$(stat -c '%U:%G' /var/lib/accountbridge)" = "accountbridge:accountbridge" ] || fail "/var/lib/accountbridge not the user's"
  [ -x /usr/bin/bridge ] && [ "$(/usr/bin/bridge version)" = "accountbridge $VERSION" ] || fail "/usr/bin/bridge version"

  step "systemd-analyze verify"
  if systemd-analyze verify /usr/lib/systemd/system/accountbridge.service > "$work/verify.out" 2>&1; then
    echo "   OK"
  else
    cat "$work/verify.out" >&2
    fail "systemd-analyze verify accountbridge.service"
  fi
  # It reports problems of other units too; only ours matter, and it must have none.
  ! grep -i 'accountbridge' "$work/verify.out" || fail "systemd-analyze verify complains about the unit"

  step "the installed binary as the unit runs it (user accountbridge, /etc/accountbridge, /var/lib/accountbridge)"
  as_unit() {
    (cd /var/lib/accountbridge && umask 0077 &&
      exec setpriv --reuid accountbridge --regid accountbridge --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all "$@")
  }
  as_unit /usr/bin/bridge check -c /etc/accountbridge/config.yaml > /dev/null 2> "$work/check.err" ||
    { cat "$work/check.err" >&2; fail "bridge check as the service user"; }
  echo "   check: $(tail -n1 "$work/check.err")"
  # The installed config with the fakes' accounts (an edit, as a user makes one).
  sed "s|^  path: .*accountbridge.db$|  path: /var/lib/accountbridge/accountbridge.db|" "$work/fakes/config.yaml" > /etc/accountbridge/config.yaml
  as_unit /usr/bin/bridge once -c /etc/accountbridge/config.yaml > "$work/inst-once.json" 2> "$work/inst-once.err" ||
    { cat "$work/inst-once.err" >&2; fail "bridge once as the service user"; }
  [ "$(grep -c '^{"account":' "$work/inst-once.json")" -eq "$accounts" ] || fail "installed once: not every account polled"
  [ "$(stat -c '%U %a' /var/lib/accountbridge/accountbridge.db)" = "accountbridge 600" ] ||
    fail "store is $(stat -c '%U %a' /var/lib/accountbridge/accountbridge.db), want accountbridge 600"
  echo "   once: $accounts accounts, store /var/lib/accountbridge/accountbridge.db (accountbridge, 0600)"

  # The daemon itself, on a broker of our own (its retained topics stay there): healthy
  # (bridge health, as the unit's user), then a clean stop on SIGTERM.
  own_broker
  sed -i "s|^  broker: .*|  broker: $own_broker_url|" /etc/accountbridge/config.yaml
  # Not through as_unit: $! must be the daemon itself (the subshell execs setpriv, which
  # execs bridge), so that SIGTERM reaches it.
  (cd /var/lib/accountbridge && umask 0077 &&
    exec setpriv --reuid accountbridge --regid accountbridge --init-groups --no-new-privs \
      --inh-caps=-all --bounding-set=-all /usr/bin/bridge run -c /etc/accountbridge/config.yaml) > "$work/run.log" 2>&1 &
  run_pid=$!
  healthy=
  for _ in $(seq 1 90); do
    if as_unit /usr/bin/bridge health -c /etc/accountbridge/config.yaml 2> "$work/health.err"; then healthy=1; break; fi
    kill -0 "$run_pid" 2>/dev/null || { cat "$work/run.log" >&2; fail "bridge run as the service user exited"; }
    sleep 1
  done
  [ -n "$healthy" ] || { cat "$work/health.err" "$work/run.log" >&2; fail "bridge run as the service user not healthy after 90s"; }
  kill -TERM "$run_pid"
  rc=0
  wait "$run_pid" || rc=$?
  run_pid=
  [ "$rc" -eq 0 ] || { cat "$work/run.log" >&2; fail "bridge run did not stop cleanly on SIGTERM (exit $rc)"; }
  ! as_unit /usr/bin/bridge health -c /etc/accountbridge/config.yaml 2> "$work/health.err" || fail "bridge health still OK after the stop"
  grep -q 'stopped' "$work/health.err" || fail "bridge health after the stop: $(cat "$work/health.err")"
  [ "$(stat -c %U /var/lib/accountbridge/health.json)" = accountbridge ] || fail "health.json not the user's"
  echo "   run: healthy on $own_broker_url, clean stop on SIGTERM ($(cat "$work/health.err"))"

  step "upgrade (same package, version ${VERSION}+test): the edited config stays"
  mkdir "$work/up"
  dpkg-deb -R "$deb" "$work/up/pkg"
  sed -i "s/^Version: .*/Version: ${VERSION}+test/" "$work/up/pkg/DEBIAN/control"
  dpkg-deb -b --root-owner-group "$work/up/pkg" "$work/up/accountbridge_up.deb" > /dev/null
  sum=$(sha256sum < /etc/accountbridge/config.yaml)
  dpkg -i "$work/up/accountbridge_up.deb" < /dev/null
  [ "$(dpkg-query -W -f='${Version}' accountbridge)" = "${VERSION}+test" ] || fail "upgrade did not install"
  [ "$(sha256sum < /etc/accountbridge/config.yaml)" = "$sum" ] || fail "upgrade replaced the edited config"
  [ "$(stat -c '%U:%G %a' /etc/accountbridge/config.yaml)" = "root:accountbridge 640" ] || fail "upgrade changed the config's owner or mode"
  [ -s /var/lib/accountbridge/accountbridge.db ] || fail "upgrade lost the store"
  as_unit /usr/bin/bridge once -c /etc/accountbridge/config.yaml > /dev/null 2> "$work/inst-once2.err" ||
    { cat "$work/inst-once2.err" >&2; fail "bridge once after the upgrade"; }
  ! grep -q 'logged in' "$work/inst-once2.err" || fail "after the upgrade, once logged in again: the store's sessions were lost"
  echo "   config kept, store kept, sessions reused"

  step "dpkg -r: the store and the config stay"
  dpkg -r accountbridge < /dev/null
  [ ! -e /usr/bin/bridge ] || fail "/usr/bin/bridge still there after remove"
  [ ! -e /usr/lib/systemd/system/accountbridge.service ] || fail "the unit still there after remove"
  [ -s /var/lib/accountbridge/accountbridge.db ] || fail "remove deleted the store"
  [ -f /etc/accountbridge/config.yaml ] || fail "remove deleted the config"
  getent passwd accountbridge >/dev/null || fail "remove deleted the user"

  step "dpkg --purge: everything goes"
  dpkg --purge accountbridge < /dev/null
  installed=
  [ ! -e /var/lib/accountbridge ] || fail "/var/lib/accountbridge still there after purge"
  [ ! -e /etc/accountbridge ] || fail "/etc/accountbridge still there after purge"
  ! getent passwd accountbridge >/dev/null || fail "user accountbridge still there after purge"
  ! getent group accountbridge >/dev/null || fail "group accountbridge still there after purge"
  echo "   OK"
fi

kill "$fakes_pid" && wait "$fakes_pid" || true
fakes_pid=

# ---- 4. the 32-bit tests under emulation ----------------------------------------------

step "go test for GOARCH=arm GOARM=7 under qemu-arm-static: providers, store, config"
# The tests' embedded broker is a child process of the test binary, which qemu-user cannot
# start without binfmt; so they use a real broker: MQTT_TEST_BROKER (CI: Mosquitto), else
# the one on 127.0.0.1:1883, else a Mosquitto of our own on a free port.
if [ -z "${MQTT_TEST_BROKER:-}" ]; then
  if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    export MQTT_TEST_BROKER=tcp://127.0.0.1:1883
  else
    own_broker
    export MQTT_TEST_BROKER=$own_broker_url
  fi
fi
echo "   broker: $MQTT_TEST_BROKER"
start=$SECONDS
CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc \
  go test -count=1 -trimpath -tags "$TAGS" -ldflags '-linkmode external -extldflags -static' -exec qemu-arm-static \
  ./internal/providers/... ./internal/store/... ./internal/config/...
echo "   $(( SECONDS - start ))s"

echo "== dist-test OK"
