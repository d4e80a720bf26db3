#!/bin/sh
# Latency from a frame's send to its record's NDJSON line read by a reader of `feedhost run`'s
# stdout (issue 9). lat_gen (a paced Alpaca market-data server, C) sends one trade or quote per
# message at a steady rate, with the CLOCK_REALTIME time taken just before each write as the
# message's `t`; `feedhost run specs/alpaca.lua` (unchanged, market_data) makes records whose
# `timestamp` is that time, and lat_meter reads its stdout as lines come and takes now - timestamp
# per record. WARMUP seconds are discarded, SECS measured; every record must arrive.
#
#   make && sh spec/bench/latency/run.sh                  # RATES="50000 200000" WARMUP=3 SECS=20
#   RATES=100000 SECS=10 sh spec/bench/latency/run.sh
#
# CPUs (2 cores): the generator on GEN_CPU (1), feedhost and the meter on HOST_CPU (0); the
# generator spins between its writes (one core busy for WARMUP + SECS per rate).
# SPLIT=1 runs spec/bench/latency/alpaca_split.lua instead (the same spec, plus each frame's
# receive time in its records), and the table splits the latency into send -> received by the host
# (socket, wake-up) and received -> line read (pipeline, output, pipe, reader).
# Environment: RATES WARMUP SECS GEN_CPU HOST_CPU FEEDHOST BENCH_WORK SYMBOLS SPLIT
set -e
cd "$(dirname "$0")/../../.."
RATES=${RATES:-"50000 200000"}
WARMUP=${WARMUP:-3}
SECS=${SECS:-20}
GEN_CPU=${GEN_CPU:-1}
HOST_CPU=${HOST_CPU:-0}
FEEDHOST=${FEEDHOST:-./build/feedhost}
WORK=${BENCH_WORK:-/tmp/feedhost-latency-bench}
SYMBOLS=${SYMBOLS:-AAPL,MSFT,TSLA,NVDA}
SPEC="specs/alpaca.lua"
[ -n "$SPLIT" ] && SPEC="spec/bench/latency/alpaca_split.lua --trusted-spec"
mkdir -p "$WORK"
cc -O2 -Wall -Wextra -o "$WORK/lat_gen" spec/bench/latency/lat_gen.c -lcrypto
cc -O2 -Wall -Wextra -o "$WORK/lat_meter" spec/bench/latency/lat_meter.c
. spec/bench/latency/common.sh
: > "$WORK/results.jsonl"
for rate in $RATES; do
  total=$(( rate * (WARMUP + SECS) ))
  start_gen "$rate" $((WARMUP + SECS)) 1
  ALPACA_API_KEY=k ALPACA_API_SECRET=s taskset -c "$HOST_CPU" "$FEEDHOST" run $SPEC \
    --connection market_data --assets "$SYMBOLS" --url "market_data=ws://127.0.0.1:$PORT/v2/iex" \
    --stats-interval 0 --once --no-watch 2> "$WORK/feedhost.err" \
    | taskset -c "$HOST_CPU" "$WORK/lat_meter" --warmup "$WARMUP" --label "$rate" --expect "$total" \
    > "$WORK/meter.out"
  wait "$GEN_PID"
  cat "$WORK/meter.out" "$WORK/gen.out" | tee -a "$WORK/results.jsonl"
done
luajit - "$WORK/results.jsonl" "$SECS" <<'LUA'
local rows, gens = {}, {}
for line in io.lines(arg[1]) do
  local t = {}
  for k, v in line:gmatch('"([%w_]+)":"?([^,"}]*)') do t[k] = v end
  if t.role == "meter" then rows[#rows + 1] = t else gens[#rows] = t end
end
local function q(r, p)
  return string.format("%9s %9s %9s %9s", r[p .. "p50_us"] or "-", r[p .. "p99_us"] or "-",
    r[p .. "p999_us"] or "-", r[p .. "max_us"] or "-")
end
print(string.format("\n%-8s %9s %7s  %-39s  %s", "msg/s", "records", "missing",
  "send -> line read: p50, p99, p99.9, max us", "generator"))
for i, r in ipairs(rows) do
  local g = gens[i] or {}
  print(string.format("%-8s %9s %7s  %s  %s msg/s sent in %s writes, max lag %s us", r.label,
    r.records, r.missing, q(r, ""), g.msg_per_s or "?", g.writes or "?", g.lag_max_us or "?"))
  if r.rx_p50_us then
    print(string.format("%-26s  %s  send -> received by the host", "", q(r, "rx_")))
    print(string.format("%-26s  %s  received -> line read", "", q(r, "out_")))
  end
end
print(string.format("(%s s measured after the warm-up; %s records measured at the last rate)",
  arg[2], rows[#rows] and rows[#rows].measured or "?"))
LUA
