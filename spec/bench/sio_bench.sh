#!/usr/bin/env bash
# Socket.IO against WebSocket on the same pool, in the same run (not a test: it prints figures).
#
#   make && spec/bench/sio_bench.sh            # N=1000000 REPS=3, servers on CPU 1, client on CPU 0
#
# Servers: ../shared/bench/gen_server.js (the `ws` load generator; it also dumps the pool) and
# spec/bench/sio_gen.js (npm socket.io 4: the same pool as Socket.IO events 42["m",<message>]).
# Client: `feedhost bench-client` (specs/alpaca.lua's market-data pipeline), over ws:// and over
# Socket.IO (EIO 4 and 3; frames pre-encoded by the server, and one socket.emit per message), and
# over Socket.IO with routing by event name (every frame's topic read). Rounds are interleaved;
# one JSON line per run, then medians and each Socket.IO row's records/s against WebSocket's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH:-$ROOT/../shared/bench}
FH=${FH:-$ROOT/build/feedhost}
N=${N:-1000000}
REPS=${REPS:-3}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
WS_PORT=${WS_PORT:-9210}
SIO_PORT=${SIO_PORT:-9310}
IMPLS=${IMPLS:-"ws sio4 sio3 sio4-events sio4-emit"}
OUT=${OUT:-$(mktemp -d /tmp/feedhost-sio-bench.XXXXXX)}
export NODE_PATH=$ROOT/spec/integration/node/node_modules   # `ws` for gen_server.js

taskset -c "$SERVER_CPU" node "$BENCH/gen_server.js" --port "$WS_PORT" --n "$N" \
  --dump "$OUT/pool.ndjson" > "$OUT/ws_server.jsonl" 2> "$OUT/ws_server.err" &
WS_PID=$!
trap 'kill $WS_PID ${SIO_PID:-} 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$OUT/pool.ndjson" ] && grep -q listening "$OUT/ws_server.err" && break; sleep 0.1; done
taskset -c "$SERVER_CPU" node "$ROOT/spec/bench/sio_gen.js" --port "$SIO_PORT" --n "$N" \
  --pool "$OUT/pool.ndjson" > "$OUT/sio_server.jsonl" 2> "$OUT/sio_server.err" &
SIO_PID=$!
for _ in $(seq 100); do grep -q sio_gen "$OUT/sio_server.err" 2>/dev/null && break; sleep 0.1; done

client() {   # $1 impl, $2 tag
  local q="/?n=$N&tag=$2"
  case "$1" in
    ws)          echo "$FH bench-client --port $WS_PORT --path '$q'" ;;
    sio4)        echo "$FH bench-client --socketio --eio 4 --port $SIO_PORT --path '$q'" ;;
    sio3)        echo "$FH bench-client --socketio --eio 3 --port $SIO_PORT --path '$q'" ;;
    sio4-events) echo "$FH bench-client --socketio --eio 4 --events --port $SIO_PORT --path '$q'" ;;
    sio4-emit)   echo "$FH bench-client --socketio --eio 4 --port $SIO_PORT --path '$q&mode=emit'" ;;
  esac
}

for rep in $(seq "$REPS"); do
  for impl in $IMPLS; do
    line=$(eval "timeout 300 taskset -c $CLIENT_CPU $(client "$impl" "$impl.r$rep")") || { echo "FAILED $impl" >&2; continue; }
    echo "{\"impl_tag\":\"$impl\",${line#\{}" | tee -a "$OUT/client.jsonl"
    sleep 0.5
  done
done

/usr/bin/python3 - "$OUT/client.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["impl_tag"], []).append(r)
ws = statistics.median(r["rec_per_s"] for r in by.get("ws", [])) if "ws" in by else None
print("\n| client | msg/s | records/s | records | vs ws (records/s) |")
print("| --- | --- | --- | --- | --- |")
for k, rs in by.items():
    m = statistics.median(r["msg_per_s"] for r in rs)
    rec = statistics.median(r["rec_per_s"] for r in rs)
    print(f"| {k} | {m:,.0f} | {rec:,.0f} | {rs[0]['records']:,} | {rec / ws:.2f} |" if ws else f"| {k} | {m:,.0f} | {rec:,.0f} |")
PY
echo "results: $OUT" >&2
