#!/usr/bin/env bash
# End-to-end test of the Node-RED example flows (examples/node-red) with a real Node-RED:
# installs Node-RED from npm into a temporary directory, starts it headless on loopback
# with the example flows and a capture flow that writes what the examples produce to a
# file (the flows' base topic turned into the demo's, accountbridge_demo), runs `bridge
# demo` against the same broker, and waits until every flow has
# produced what it should: an alert notification, a low-balance verdict, an SMS code.
# Every process it starts is stopped on exit.
#
# Needs: go, node and npm, and an MQTT broker on $MQTT_HOST:$MQTT_PORT (default
# 127.0.0.1:1883; CI runs Mosquitto there). NODE_RED_VERSION picks the npm version.
set -euo pipefail
cd "$(dirname "$0")/.."

MQTT_HOST=${MQTT_HOST:-127.0.0.1}
MQTT_PORT=${MQTT_PORT:-1883}
NODE_RED_VERSION=${NODE_RED_VERSION:-4} # 4.x runs on Node.js 18+; 5.x needs Node.js 22.9+
DEADLINE=${E2E_DEADLINE:-240} # seconds to wait for all results

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP_E2E:-}" = "" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

echo "== building the bridge"
go build -o "$work/bridge" ./cmd/bridge

echo "== installing node-red@$NODE_RED_VERSION into $work/nr"
mkdir -p "$work/nr" "$work/nr-user"
(cd "$work/nr" && npm install --no-audit --no-fund --loglevel=error "node-red@$NODE_RED_VERSION" >/dev/null)

out="$work/received.jsonl"
: > "$out"
# The example flows plus a capture flow; the shared broker config node appears once.
python3 - "$work/flows.json" examples/node-red/*.json <<'PY'
import json, sys
nodes, seen = [], set()
for path in sys.argv[2:]:
    # The flows ship with the default base topic; the demo has its own.
    for n in json.loads(open(path).read().replace("accountbridge/", "accountbridge_demo/")):
        if n["type"] == "inject":
            # The shipped flows never fire by themselves (an SMS order costs money); the
            # test presses the button by making its own copy fire once after deploy.
            assert not n.get("once") and not n.get("repeat"), f"{path}: inject {n['name']!r} fires by itself"
            n = dict(n, once=True, onceDelay="20")
        if n["id"] not in seen:
            seen.add(n["id"]); nodes.append(n)
z = "e2e_capture"
nodes += [
  {"id": z, "type": "tab", "label": "e2e capture"},
  {"id": "e2e_in", "type": "mqtt in", "z": z, "name": "", "topic": "accountbridge-examples/#", "qos": "1",
   "datatype": "json", "broker": "ab_broker", "nl": False, "rap": True, "rh": 0, "inputs": 0, "wires": [["e2e_fn"]]},
  {"id": "e2e_fn", "type": "function", "z": z, "name": "line", "outputs": 1,
   "func": "msg.filename = env.get('NR_OUT'); msg.payload = JSON.stringify({topic: msg.topic, payload: msg.payload}); return msg;",
   "wires": [["e2e_file"]]},
  {"id": "e2e_file", "type": "file", "z": z, "name": "", "filename": "filename", "filenameType": "msg", "appendNewline": True,
   "createDir": False, "overwriteFile": "false", "encoding": "none", "wires": [[]]},
]
json.dump(nodes, open(sys.argv[1], "w"))
PY
cat > "$work/nr-user/settings.js" <<JS
module.exports = {
  uiHost: "127.0.0.1",
  uiPort: 0,
  httpAdminRoot: false,
  httpNodeRoot: false,
  flowFile: "$work/flows.json",
  credentialSecret: false,
  logging: { console: { level: "warn" } },
};
JS

echo "== starting node-red"
MQTT_HOST=$MQTT_HOST MQTT_PORT=$MQTT_PORT NR_OUT=$out \
  node "$work/nr/node_modules/node-red/red.js" --userDir "$work/nr-user" --settings "$work/nr-user/settings.js" \
  > "$work/node-red.log" 2>&1 &
pids+=($!)

echo "== starting bridge demo"
"$work/bridge" demo --broker "tcp://$MQTT_HOST:$MQTT_PORT" --data "$work/demo-data" > "$work/demo.log" 2>&1 &
pids+=($!)

want() { grep -q "$1" "$out"; }
echo "== waiting (up to ${DEADLINE}s) for the flows' results"
end=$((SECONDS + DEADLINE))
while [ $SECONDS -lt $end ]; do
  if want '"accountbridge-examples/notify"' && want '"accountbridge-examples/low_balance"' &&
     grep -q '"accountbridge-examples/sms/result".*"status":"code"' "$out"; then
    echo "== every flow produced its result:"
    grep -o '"topic":"accountbridge-examples/[a-z_/]*"' "$out" | sort | uniq -c
    echo "1 passed, 0 failed"
    exit 0
  fi
  sleep 1
done
echo "== timed out; what arrived:" >&2
cat "$out" >&2
echo "== node-red log:" >&2; tail -30 "$work/node-red.log" >&2
echo "== demo log:" >&2; tail -30 "$work/demo.log" >&2
echo "0 passed, 1 failed"
exit 1
