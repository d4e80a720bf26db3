#!/bin/sh
# Memory of `feedhost run` under a steady stream (issue 9): lat_gen sends RATE messages a second
# (one trade or quote each, 100 per write every millisecond at the default rate) to `feedhost run
# specs/alpaca.lua` for DURATION seconds; its records go to lat_meter (all must arrive). VmRSS of
# the feedhost process is read from /proc/PID/status every INTERVAL seconds; printed: the first
# sample, the sample at the end of the warm-up (WARMUP seconds), the max, the last, and the
# growth after the warm-up (max - warm-up sample).
#
#   make && sh spec/bench/latency/rss.sh                 # DURATION=1800 RATE=100000 (30 minutes)
#   DURATION=120 sh spec/bench/latency/rss.sh            # a short check
#
# Environment: DURATION RATE INTERVAL WARMUP BATCH GEN_CPU HOST_CPU FEEDHOST BENCH_WORK SYMBOLS
set -e
cd "$(dirname "$0")/../../.."
DURATION=${DURATION:-1800}
RATE=${RATE:-100000}
INTERVAL=${INTERVAL:-10}
WARMUP=${WARMUP:-60}
BATCH=${BATCH:-$((RATE / 1000))}
GEN_CPU=${GEN_CPU:-1}
HOST_CPU=${HOST_CPU:-0}
FEEDHOST=${FEEDHOST:-./build/feedhost}
WORK=${BENCH_WORK:-/tmp/feedhost-rss-bench}
SYMBOLS=${SYMBOLS:-AAPL,MSFT,TSLA,NVDA}
[ "$BATCH" -ge 1 ] || BATCH=1
mkdir -p "$WORK"
cc -O2 -Wall -Wextra -o "$WORK/lat_gen" spec/bench/latency/lat_gen.c -lcrypto
cc -O2 -Wall -Wextra -o "$WORK/lat_meter" spec/bench/latency/lat_meter.c
. spec/bench/latency/common.sh
start_gen "$RATE" "$DURATION" "$BATCH"
ALPACA_API_KEY=k ALPACA_API_SECRET=s taskset -c "$HOST_CPU" "$FEEDHOST" run specs/alpaca.lua \
  --connection market_data --assets "$SYMBOLS" --url "market_data=ws://127.0.0.1:$PORT/v2/iex" \
  --stats-interval 60 --once --no-watch 2> "$WORK/feedhost.err" \
  | taskset -c "$HOST_CPU" "$WORK/lat_meter" --warmup "$WARMUP" --label rss \
    --expect $((RATE * DURATION)) > "$WORK/meter.out" &
# the feedhost process of that pipeline (the newest one started from this shell's job)
FH_PID=""
i=0
while [ -z "$FH_PID" ] && [ "$i" -lt 100 ]; do
  FH_PID=$(pgrep -n -f -- "--url market_data=ws://127.0.0.1:$PORT/" || true)
  i=$((i + 1))
  [ -n "$FH_PID" ] || sleep 0.1
done
[ -n "$FH_PID" ] || { echo "feedhost did not start" >&2; exit 1; }
: > "$WORK/rss.tsv"
t=0
while kill -0 "$FH_PID" 2>/dev/null; do
  kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$FH_PID/status" 2>/dev/null || true)
  [ -n "$kb" ] && printf '%s\t%s\n' "$t" "$kb" >> "$WORK/rss.tsv"
  sleep "$INTERVAL"
  t=$((t + INTERVAL))
done
wait "$GEN_PID"
wait
cat "$WORK/meter.out" "$WORK/gen.out"
awk -v warm="$WARMUP" -v rate="$RATE" -v dur="$DURATION" '
  NR == 1 { first = $2 }
  $1 <= warm { w = $2; wt = $1 }
  $1 > warm && $2 > after { after = $2; at = $1 }
  { if ($2 > max) { max = $2; mt = $1 } last = $2; lt = $1; n++ }
  END {
    if (!after) { after = w; at = wt }
    printf "feedhost run at %d msg/s for %d s: %d VmRSS samples\n", rate, dur, n
    printf "VmRSS start %.1f MB; at %d s (warm-up end) %.1f MB; max after it %.1f MB (at %d s);" \
      " last %.1f MB (at %d s); max of all %.1f MB (at %d s)\n", first / 1024, wt, w / 1024,
      after / 1024, at, last / 1024, lt, max / 1024, mt
    printf "growth after the warm-up: %.2f MB (max after it - warm-up end), %.2f MB (last - warm-up end)\n",
      (after - w) / 1024, (last - w) / 1024
  }' "$WORK/rss.tsv"
