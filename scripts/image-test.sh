#!/usr/bin/env bash
# make image-test: build the image (scripts/image.sh) and run it as a user would, against a
# real broker: --network host, a named volume on /data, a config pointing at the broker.
# Checks: the image's own HEALTHCHECK turns healthy, the daemon runs as non-root, `version`
# prints the release version, the store is 0600 on the volume, and `docker stop` leaves
# `offline` retained on the bridge availability topic.
#
# Installs docker.io from Debian when Docker is missing. When no Docker daemon answers, it
# starts its own dockerd (own data root, socket and pid file under a temp dir, no bridge
# network) and stops that one, by its PID, at exit. Everything it creates is removed.
# Env: MQTT_TEST_BROKER (tcp://127.0.0.1:1883), mosquitto_sub must be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

BROKER=${MQTT_TEST_BROKER:-tcp://127.0.0.1:1883}
hostport=${BROKER#*://}
BROKER_HOST=${hostport%:*}
BROKER_PORT=${hostport##*:}
VERSION=$(sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)
IMAGE=${IMAGE:-accountbridge}
NAME=accountbridge-imagetest-$$
VOLUME=$NAME
BASE=imagetest_$$

export DEBIAN_FRONTEND=noninteractive
if ! command -v docker >/dev/null 2>&1 || { ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null 2>&1; }; then
  echo "== installing docker.io"
  apt-get update -q
  apt-get install -y -q docker.io
fi
command -v mosquitto_sub >/dev/null 2>&1 || { echo "image-test: mosquitto_sub missing (apt-get install mosquitto-clients)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/abimg.XXXXXX)
dockerd_pid=""
created_tags=()
cleanup() {
  set +e
  docker rm -f "$NAME" >/dev/null 2>&1
  docker volume rm -f "$VOLUME" >/dev/null 2>&1
  for t in "${created_tags[@]}"; do docker rmi "$t" >/dev/null 2>&1; done
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$dockerd_pid" 2>/dev/null
    # what a killed dockerd may leave mounted under its own data root
    grep -o " $tmp/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  echo "== no Docker daemon answers: starting one (data root $tmp/root)"
  dockerd --data-root "$tmp/root" --exec-root "$tmp/exec" -H "unix://$tmp/docker.sock" \
    --pidfile "$tmp/docker.pid" --bridge=none --iptables=false --ip-masq=false \
    >"$tmp/dockerd.log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST="unix://$tmp/docker.sock"
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { echo "image-test: dockerd did not come up:" >&2; tail -20 "$tmp/dockerd.log" >&2; exit 1; }
fi
echo "== docker $(docker version -f '{{.Server.Version}}')"

for t in "$IMAGE:$VERSION" "$IMAGE:latest"; do
  docker image inspect "$t" >/dev/null 2>&1 || created_tags+=("$t")
done
IMAGE=$IMAGE VERSION=$VERSION bash scripts/image.sh

fail() { echo "image-test: FAIL: $*" >&2; docker logs "$NAME" 2>&1 | tail -30 >&2; exit 1; }

got=$(docker run --rm "$IMAGE:$VERSION" version)
case "$got" in *"$VERSION"*) echo "ok: version prints $got" ;; *) fail "version printed '$got', want $VERSION" ;; esac

cat >"$tmp/config.yaml" <<YAML
mqtt:
  broker: $BROKER
  base_topic: $BASE
  client_id: $NAME
  discovery_prefix: ${BASE}_discovery   # not the shared broker's homeassistant/
store:
  path: /data/accountbridge.db
accounts: []
YAML
chmod 0644 "$tmp/config.yaml"

docker volume create "$VOLUME" >/dev/null
# The config goes into the volume the way a user's would: copied in before the first start.
docker create --name "$NAME" --network host -v "$VOLUME:/data" \
  --health-interval 2s --health-start-period 60s --health-retries 3 \
  "$IMAGE:$VERSION" >/dev/null
docker cp "$tmp/config.yaml" "$NAME:/data/config.yaml"
docker start "$NAME" >/dev/null

status=""
for _ in $(seq 1 120); do
  status=$(docker inspect -f '{{.State.Health.Status}}' "$NAME")
  running=$(docker inspect -f '{{.State.Running}}' "$NAME")
  [ "$status" = healthy ] && break
  [ "$running" = true ] || fail "the container stopped"
  sleep 1
done
[ "$status" = healthy ] || fail "health is '$status' after 120 s; the checks: $(docker inspect -f '{{json .State.Health}}' "$NAME" | tail -c 800)"
echo "ok: the image's HEALTHCHECK reports healthy"

pid=$(docker inspect -f '{{.State.Pid}}' "$NAME")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" != 0 ] || fail "the daemon runs as root"
echo "ok: the daemon runs as uid $uid"

vol=$(docker volume inspect -f '{{.Mountpoint}}' "$VOLUME")
mode=$(stat -c '%a %u' "$vol/accountbridge.db") || fail "no store on the volume"
[ "${mode% *}" = 600 ] || fail "store mode is ${mode% *}, want 600"
[ "${mode#* }" = "$uid" ] || fail "store owned by ${mode#* }, want $uid"
echo "ok: the store on the volume is 0600, owned by uid $uid"

docker stop "$NAME" >/dev/null
got=$(mosquitto_sub -h "$BROKER_HOST" -p "$BROKER_PORT" -t "$BASE/bridge/availability" -C 1 -W 10) || fail "nothing retained on $BASE/bridge/availability"
[ "$got" = offline ] || fail "availability after docker stop is '$got', want offline"
echo "ok: docker stop left 'offline' on $BASE/bridge/availability"
# The retained topics of this run are removed from the shared broker.
mosquitto_sub -h "$BROKER_HOST" -p "$BROKER_PORT" -t "$BASE/#" -t "${BASE}_discovery/#" \
    --retained-only -v -W 2 2>/dev/null | awk '{print $1}' | sort -u >"$tmp/retained" || true
while read -r topic; do
  mosquitto_pub -h "$BROKER_HOST" -p "$BROKER_PORT" -r -n -t "$topic"
done <"$tmp/retained"
# The Home Assistant app image on top of it, as the Supervisor's builder makes it: its
# labels, and the app's shipped options (after the Supervisor's validation, see
# addon/supervisor_test.go) accepted by `bridge check` as /data/options.json.
APP=$NAME-app
created_tags+=("$APP")
docker build -q --build-arg "BUILD_FROM=$IMAGE:$VERSION" --build-arg BUILD_ARCH=amd64 \
  --build-arg "BUILD_VERSION=$VERSION" -t "$APP" addon >/dev/null
labels=$(docker image inspect -f '{{index .Config.Labels "io.hass.type"}} {{index .Config.Labels "io.hass.arch"}} {{index .Config.Labels "io.hass.version"}} {{.Config.User}}' "$APP")
[ "$labels" = "addon amd64 $VERSION 0:0" ] || fail "app image labels/user: '$labels'"
mkdir -p "$tmp/appdata"
ADDON_OPTIONS_OUT="$tmp/appdata/options.json" ${GO:-go} test -count=1 -run 'TestOptionsPassTheSupervisor' ./addon/ >/dev/null
docker run --rm --network none -v "$tmp/appdata:/data" "$APP" check >"$tmp/check.txt" 2>&1 ||
  { cat "$tmp/check.txt" >&2; fail "bridge check refused the app's shipped options"; }
grep -q 'options.json: config OK' "$tmp/check.txt" || { cat "$tmp/check.txt" >&2; fail "bridge check said no OK"; }
echo "ok: the app image ($labels) accepts its shipped options: $(grep 'config OK' "$tmp/check.txt")"

echo "image-test: passed ($IMAGE:$VERSION)"
