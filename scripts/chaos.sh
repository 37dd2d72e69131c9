#!/usr/bin/env bash
# make chaos: the daemon against a Mosquitto of its own (a free port, its own config, data
# and pid file; started and stopped by PID, never the shared one on 1883), over the demo's
# fake upstreams (bridge demo --fakes-only). Four scenarios, figures printed as they come:
#
#  1. outage   the broker is stopped for CHAOS_OUTAGE (default 150s, keep it <= 3 min in
#              CI) while the demo's alerts fire; after it returns every alert arrives on
#              <base>/alerts exactly once, and the daemon is online again within 5 s.
#  2. kill -9  the daemon is killed CHAOS_KILLS times during polls and restarted; the store
#              passes PRAGMA integrity_check and no alert arrived twice.
#  3. flood    10,000 orders and oversized payloads (10 MiB on homeassistant/status, a
#              button and sms/order); RSS (from /proc) is back near its baseline after.
#  4. password a wrong MQTT password: the log gives the broker's reason and the retries
#              back off.
#
# The reconnect delay (1) and the reason and backoff (4) are checked strictly unless
# CHAOS_LENIENT_MQTT=1, which only reports them. Exit status: 0 when every check holds.
set -euo pipefail
cd "$(dirname "$0")/.."

OUTAGE=${CHAOS_OUTAGE:-150}
KILLS=${CHAOS_KILLS:-5}
FLOOD=${CHAOS_FLOOD:-10000}
LENIENT_MQTT=${CHAOS_LENIENT_MQTT:-0}
BASE=chaos
WORK=$(mktemp -d /tmp/accountbridge-chaos.XXXXXX)
FAILS=0
PIDS=()

say() { printf '== %s\n' "$*"; }
fig() { printf '   %-44s %s\n' "$1" "$2"; }
fail() { printf '   FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.2f\", ($1) }"; } # bc is not on a fresh Debian

need() {
  local missing=()
  command -v mosquitto >/dev/null || missing+=(mosquitto)
  command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
  command -v sqlite3 >/dev/null || missing+=(sqlite3)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q "${missing[@]}"
  fi
}

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${CHAOS_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; exit 1
}
port_up() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# Our own broker: config, data and pid file in $WORK/broker.
PORT=$(free_port)
BROKER_PID=
broker_conf() { # $1: extra config lines
  mkdir -p "$WORK/broker"
  cat > "$WORK/broker/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
user $(id -un)
persistence true
persistence_location $WORK/broker/
pid_file $WORK/broker/mosquitto.pid
log_dest file $WORK/broker/mosquitto.log
# The flood is 10,000 QoS 1 orders at once: queue them all for the daemon (the default
# of 1000 would have the broker drop the rest, which measures the broker, not us).
max_queued_messages 100000
$1
EOF
}
broker_start() {
  mosquitto -c "$WORK/broker/mosquitto.conf" &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  for _ in $(seq 1 100); do port_up "$PORT" && return; sleep 0.1; done
  echo "our mosquitto did not come up on $PORT" >&2; exit 1
}
broker_stop() {
  kill "$BROKER_PID"
  wait "$BROKER_PID" 2>/dev/null || true
}

need
say "building"
go build -o "$WORK/bridge" ./cmd/bridge
BRIDGE=$WORK/bridge

# The demo's fakes and their config, pointed at our broker with a base topic of our own.
"$BRIDGE" demo --fakes-only --data "$WORK/data" --every 5s > "$WORK/fakes.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do grep -q '^ready' "$WORK/fakes.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$WORK/fakes.log" || { cat "$WORK/fakes.log"; exit 1; }
CFG=$WORK/data/config.yaml
sed -i -e "s#^  broker: .*#  broker: tcp://127.0.0.1:$PORT#" \
  -e "s#^  client_id: .*#  client_id: chaos-bridge#" \
  -e "s#^  base_topic: .*#  base_topic: $BASE#" \
  -e "s#^  discovery_prefix: .*#  discovery_prefix: chaos-ha#" \
  -e "s#^  level: info#  level: info\n  format: json#" "$CFG"

DAEMON_PID=
daemon_start() { # $1: config
  "$BRIDGE" run -c "$1" >> "$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  PIDS+=("$DAEMON_PID")
}
daemon_stop() { kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
wait_log() { # $1: grep pattern, $2: timeout in s
  for _ in $(seq 1 $(($2 * 10))); do grep -q "$1" "$WORK/daemon.log" && return 0; sleep 0.1; done
  return 1
}

# --- 1. outage -----------------------------------------------------------------------
say "1. broker outage of ${OUTAGE}s while the demo's alerts fire (broker 127.0.0.1:$PORT)"
broker_conf "allow_anonymous true"
broker_start
# A durable observer: its session (QoS 1) outlives the broker restart, so nothing the
# daemon publishes while it reconnects is missed.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -c -i chaos-observer -t "$BASE/alerts" > "$WORK/alerts.jsonl" 2>/dev/null &
OBS_PID=$!
PIDS+=("$OBS_PID")
sleep 1
daemon_start "$CFG"
wait_log '"msg":"mqtt connected"' 30 || { fail "the daemon did not connect"; }
# The gas balance alert fires 20 s after the first poll: the outage starts after it.
wait_log '"msg":"alert"' 60 || fail "no alert before the outage"
sleep 3
before=$(grep -c '"msg":"alert"' "$WORK/daemon.log" || true)
say "   stopping the broker"
broker_stop
t_down=$(now)
sleep "$OUTAGE"
during=$(( $(grep -c '"msg":"alert"' "$WORK/daemon.log" || true) - before ))
connected='"msg":"mqtt connected"\|"msg":"mqtt reconnected'
connects_before=$(grep -c "$connected" "$WORK/daemon.log" || true)
broker_start
t_up=$(now)
say "   broker back"
online=
for _ in $(seq 1 300); do
  if [ "$(grep -c "$connected" "$WORK/daemon.log" || true)" -gt "$connects_before" ]; then
    online=$(now); break
  fi
  sleep 0.1
done
fig "alerts fired before the outage" "$before"
fig "alerts fired during the outage" "$during"
if [ -z "$online" ]; then
  fail "the daemon did not reconnect within 30 s of the broker's return"
else
  delay=$(calc "$online - $t_up")
  fig "online again after the broker returned" "${delay}s (outage $(calc "$t_up - $t_down")s)"
  if [ "$(calc "$delay > 5")" = 1.00 ]; then # (…) keeps awk from reading > as a redirection
    if [ "$LENIENT_MQTT" = 1 ]; then fig "reconnect within 5 s" "NOT MET (reported only: CHAOS_LENIENT_MQTT=1)"
    else fail "online ${delay}s after the broker returned, want <= 5 s"; fi
  fi
fi
[ "$during" -gt 0 ] || fail "no alert fired during the outage (make CHAOS_OUTAGE longer)"
# Let the outbox drain, then compare what fired with what arrived.
check_alerts() { # $1: label
  local fired got dups missing
  sleep 5
  fired=$(grep '"msg":"alert"' "$WORK/daemon.log" | sed -E 's/.*"id":"([^"]*)","state":"([^"]*)".*/\1 \2/' | sort)
  got=$(sed -E 's/.*"id":"([^"]*)".*"state":"([^"]*)".*/\1 \2/' "$WORK/alerts.jsonl" | sort)
  dups=$(sed -E 's/.*"id":"([^"]*)".*"state":"([^"]*)".*"at":"([^"]*)".*/\1 \2 \3/' "$WORK/alerts.jsonl" | sort | uniq -d | wc -l)
  missing=$(comm -23 <(echo "$fired") <(echo "$got") | grep -c . || true)
  fig "$1: alerts fired / received on $BASE/alerts" "$(echo "$fired" | grep -c . || true) / $(wc -l < "$WORK/alerts.jsonl")"
  fig "$1: missing / duplicated" "$missing / $dups"
  [ "$missing" = 0 ] || fail "$1: $missing alerts never arrived"
  [ "$dups" = 0 ] || fail "$1: $dups alerts arrived twice"
}
check_alerts "outage"

# --- 2. kill -9 ----------------------------------------------------------------------
say "2. kill -9 during polls, $KILLS times"
for i in $(seq 1 "$KILLS"); do
  sleep $((2 + RANDOM % 4))
  kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
  daemon_start "$CFG"
done
sleep 10
daemon_stop
integrity=$(sqlite3 "$WORK/data/accountbridge.db" 'PRAGMA integrity_check;')
fig "store integrity_check after $KILLS kills" "$integrity"
[ "$integrity" = ok ] || fail "store damaged: $integrity"
daemon_start "$CFG"
wait_log '"msg":"mqtt connected"' 30 || true
check_alerts "kill -9"

# --- 3. flood and oversized payloads ----------------------------------------------
say "3. $FLOOD orders and oversized payloads"
sleep 15
base_rss=$(rss_kb)
fig "RSS baseline" "$((base_rss / 1024)) MB"
c0=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat")
t0=$(now)
seq 1 "$FLOOD" | sed "s/.*/{\"request_id\":\"flood-&\",\"service\":\"tg\",\"country\":\"us\"}/" |
  mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t "$BASE/sms/order" -l
head -c $((10 << 20)) /dev/zero | tr '\0' 'x' > "$WORK/big"
for topic in chaos-ha/status "$BASE/telecom_mobile/refresh/set" "$BASE/sms/order"; do
  for _ in 1 2 3; do mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t "$topic" -f "$WORK/big"; done
done
peak=$(rss_kb)
# Wait until the router has taken the whole flood (or its count stopped moving for 10 s).
last=-1; still=0
for _ in $(seq 1 240); do
  n=$(grep -c '"request_id":"flood-' "$WORK/daemon.log" || true)
  [ "$n" -ge "$FLOOD" ] && break
  if [ "$n" = "$last" ]; then still=$((still + 1)); [ "$still" -ge 20 ] && break; else still=0; fi
  last=$n
  sleep 0.5
done
fig "orders the daemon received" "$(grep -c 'SMS order received.*"request_id":"flood-' "$WORK/daemon.log" || true) of $FLOOD"
t1=$(now)
c1=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat")
fig "flood handled in (wall / daemon CPU)" "$(calc "$t1 - $t0")s / $(calc "($c1 - $c0) / $(getconf CLK_TCK)")s"
fig "RSS right after the flood" "$((peak / 1024)) MB"
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$WORK/daemon.log")
fig "longest log line" "$longest bytes"
[ "$longest" -lt 65536 ] || fail "a log line of $longest bytes: payloads reach the log"
# Near the baseline: at most twice it, or 50 MB over it. The Go runtime returns freed
# memory to the OS gradually: wait up to 5 minutes for it.
limit=$((base_rss * 2 > base_rss + 51200 ? base_rss * 2 : base_rss + 51200))
waited=0
after=$(rss_kb)
while [ "$after" -gt "$limit" ] && [ "$waited" -lt 300 ]; do
  sleep 10; waited=$((waited + 10)); after=$(rss_kb)
done
fig "RSS after the flood settled" "$((after / 1024)) MB after ${waited}s (limit $((limit / 1024)) MB)"
[ "$after" -le "$limit" ] || fail "RSS $((after / 1024)) MB after the flood, baseline $((base_rss / 1024)) MB"
daemon_stop
integrity=$(sqlite3 "$WORK/data/accountbridge.db" 'PRAGMA integrity_check;')
[ "$integrity" = ok ] || fail "store damaged after the flood: $integrity"
kill "$OBS_PID" 2>/dev/null || true

# --- 4. wrong password -------------------------------------------------------------
say "4. a wrong MQTT password"
broker_stop
mosquitto_passwd -b -c "$WORK/broker/passwd" chaos right-password 2>/dev/null
chmod 0700 "$WORK/broker/passwd"
broker_conf "allow_anonymous false
password_file $WORK/broker/passwd"
broker_start
sed -e "s#^  client_id: .*#  client_id: chaos-bridge\n  username: chaos\n  password: wrong-password#" "$CFG" > "$WORK/wrongpw.yaml"
: > "$WORK/daemon.log"
daemon_start "$WORK/wrongpw.yaml"
sleep 30
daemon_stop
attempts=$(grep -c 'not authori\|bad user name or password\|cannot connect' "$WORK/daemon.log" || true)
refused=$(grep -c 'connect.*\(refused\|not authori\)' "$WORK/broker/mosquitto.log" || true)
reason=$(grep -o -m1 -i 'not authori[sz]ed\|bad user name or password' "$WORK/daemon.log" || true)
fig "broker refusals in 30 s (from its log)" "$refused"
fig "reason in the daemon log" "${reason:-none}"
grep -q 'wrong-password' "$WORK/daemon.log" && fail "the password reached the log"
if [ -z "$reason" ] || [ "$refused" -gt 10 ]; then
  if [ "$LENIENT_MQTT" = 1 ]; then fig "reason and backoff" "NOT MET (reported only: CHAOS_LENIENT_MQTT=1)"
  else fail "want the broker's reason in the log and <= 10 tries in 30 s (backoff)"; fi
fi

say "done: $FAILS failed checks"
[ "$FAILS" = 0 ]
