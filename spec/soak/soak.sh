#!/usr/bin/env bash
# Soak: `feedhost run specs/alpaca.lua` against the simulator (a separate process), which is
# killed and restarted on the same port every RESTART_EVERY seconds for MINUTES minutes.
# Afterwards: per simulator session, did the client come back, authenticate and resubscribe
# every asset (trades, quotes and bars)? and per minute, did every asset keep producing records?
#
#   spec/soak/soak.sh                    # 10 minutes, restart every 60 s
#   MINUTES=2 RESTART_EVERY=20 spec/soak/soak.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${FEEDHOST_BIN:-./build/feedhost}
MINUTES=${MINUTES:-10}
RESTART_EVERY=${RESTART_EVERY:-60}
ASSETS=${ASSETS:-AAPL,MSFT,TSLA,AMD,NVDA}
RATE=${RATE:-20}
PORT=${PORT:-$((20000 + RANDOM % 20000))}
OUT=${OUT:-$(mktemp -d /tmp/feedhost-soak.XXXXXX)}
mkdir -p "$OUT"
NASSETS=$(echo "$ASSETS" | tr ',' '\n' | wc -l)

sim_pid=""
start_sim() {
  "$BIN" simulate --port "$PORT" --rate "$RATE" --key soak-key --secret soak-secret \
    >> "$OUT/sim.out" 2>> "$OUT/sim.$1.log" &
  sim_pid=$!
  for _ in $(seq 100); do grep -q "listening" "$OUT/sim.$1.log" 2>/dev/null && return 0; sleep 0.05; done
  echo "simulator did not start" >&2; return 1
}
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  [ -n "${run_pid:-}" ] && kill "$run_pid" 2>/dev/null || true
}
trap cleanup EXIT

start_sim 0
ALPACA_API_KEY=soak-key ALPACA_API_SECRET=soak-secret "$BIN" run specs/alpaca.lua \
  --connection market_data --assets "$ASSETS" --url "market_data=ws://127.0.0.1:$PORT/v2/iex" \
  --stats-interval 10 > "$OUT/records.ndjson" 2> "$OUT/run.log" &
run_pid=$!

end=$((SECONDS + MINUTES * 60))
session=0
while [ $SECONDS -lt $end ]; do
  sleep "$RESTART_EVERY"
  [ $SECONDS -ge $end ] && break
  kill -TERM "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
  session=$((session + 1))
  start_sim "$session"
done
sleep 3   # let the last session settle
kill -TERM "$run_pid"; rc=0; wait "$run_pid" || rc=$?
kill -TERM "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
sim_pid=""; run_pid=""

echo "soak: $MINUTES min, simulator restarted $session times, feedhost exit $rc, output in $OUT"
lost=0
for s in $(seq 0 "$session"); do
  full=$(grep -c "subscribed: trades $NASSETS quotes $NASSETS bars $NASSETS" "$OUT/sim.$s.log" || true)
  auth=$(grep -c "authenticated" "$OUT/sim.$s.log" || true)
  echo "  session $s: authenticated $auth, full resubscriptions $full"
  [ "$full" -ge 1 ] || lost=$((lost + 1))
done
reconnects=$(grep -c "connecting to" "$OUT/run.log" || true)
echo "  client connects: $reconnects; sessions without the full subscription: $lost"
# records per asset per minute (timestamps are exchange time = simulator wall clock)
cat > "$OUT/minutes.lua" <<'LUA'
  local per, first = {}, nil
  for line in io.lines(arg[1]) do
    local sym, ts = line:match([["asset":"([^"]+)".-"timestamp":(%d+)]])
    if sym then
      local m = math.floor(tonumber(ts) / 60e9)
      first = first or m
      per[m] = per[m] or {}
      per[m][sym] = (per[m][sym] or 0) + 1
    end
  end
  local missing = 0
  for m = first, first + 1000 do
    if not per[m] then break end
    local syms = {}
    for s in arg[2]:gmatch("[^,]+") do
      syms[#syms + 1] = s .. " " .. (per[m][s] or 0)
      if not per[m][s] then missing = missing + 1 end
    end
    print(string.format("  minute %d: %s", m - first, table.concat(syms, ", ")))
  end
  print("  asset-minutes without records: " .. missing)
LUA
luajit "$OUT/minutes.lua" "$OUT/records.ndjson" "$ASSETS"
grep -c "ERROR" "$OUT/run.log" | sed 's/^/  error lines in the client log: /'
[ "$lost" -eq 0 ] && [ "$rc" -eq 0 ]
