#!/bin/sh
# Latency from a frame's send to its record's NDJSON line read by a reader of `feedhost run`'s
# stdout (issue 9). lat_gen (a paced Alpaca market-data server, C) sends one trade or quote per
# message at a steady rate, with the CLOCK_REALTIME time taken just before each write as the
# message's `t`; `feedhost run specs/alpaca.lua` (unchanged, market_data) makes records whose
# `timestamp` is that time, and lat_meter reads its stdout as lines come and takes now - timestamp
# per record. WARMUP seconds are discarded, SECS measured; every record must arrive. Beside it,
# on the same stream and CPUs, the floor: lat_floor, a C client that only copies each message's
# `t` into a line (what the kernel and the machine cost without any feed handler).
#
#   make && sh spec/bench/latency/run.sh                  # RATES="50000 200000" WARMUP=3 SECS=20
#   RATES=100000 SECS=10 sh spec/bench/latency/run.sh
#   RATES=2000 BATCH=1000 sh spec/bench/latency/run.sh    # bursts: 1000 messages in one write
#
# CPUs (2 cores): the generator on GEN_CPU (1), feedhost and the meter on HOST_CPU (0); the
# generator spins between its writes (one core busy for WARMUP + SECS per rate). Before each rate,
# stall_probe spins PROBE seconds (2) on each CPU and reports the time it did not run (other
# processes, interrupts, the hypervisor): on a shared machine that, not the host, sets the tail.
# After each rate: the CPU-seconds of feedhost + meter, of the generator, and of everything else.
# SPLIT=1 runs spec/bench/latency/alpaca_split.lua instead (the same spec, plus each frame's
# receive time in its records): the latency split into send -> received by the host (socket,
# wake-up) and received -> line read (pipeline, output, pipe, reader).
# HOST_PRIO="chrt -f 10" (or "nice -n -10"; as root) runs the client and the meter under that
# command: how a latency-sensitive deployment runs, and the other work on the CPU then waits for
# them (the generator's own delays do not count: each message's time is read just before its write).
# METER_PRIO runs the meter alone under a command: METER_PRIO="chrt -f 10" (as root) makes it a
# reader that takes each line the moment it is written (it preempts the client on the shared CPU),
# so what is measured is send -> line written; without it the meter is one more process the
# scheduler shares the CPU with, and waits its turn behind the client (milliseconds at 200k/s).
# Environment: RATES IMPLS ("feedhost floor") WARMUP SECS PROBE BATCH GEN_CPU HOST_CPU FEEDHOST
# BENCH_WORK SYMBOLS SPLIT HOST_PRIO METER_PRIO
set -e
cd "$(dirname "$0")/../../.."
RATES=${RATES:-"50000 200000"}
WARMUP=${WARMUP:-3}
SECS=${SECS:-20}
PROBE=${PROBE:-2}
BATCH=${BATCH:-1}
IMPLS=${IMPLS:-"feedhost floor"}
GEN_CPU=${GEN_CPU:-1}
HOST_CPU=${HOST_CPU:-0}
FEEDHOST=${FEEDHOST:-./build/feedhost}
WORK=${BENCH_WORK:-/tmp/feedhost-latency-bench}
SYMBOLS=${SYMBOLS:-AAPL,MSFT,TSLA,NVDA}
SPEC="specs/alpaca.lua"
[ -n "$SPLIT" ] && SPEC="spec/bench/latency/alpaca_split.lua --trusted-spec"
mkdir -p "$WORK"
for tool in lat_gen lat_meter stall_probe lat_floor; do
  cc -O2 -Wall -Wextra -o "$WORK/$tool" "spec/bench/latency/$tool.c" -lcrypto
done
. spec/bench/latency/common.sh
: > "$WORK/results.jsonl"
# tag RATE IMPL: each JSON line of stdin with "rate" and "impl" first, into the results
tag() {
  sed "s/^{/{\"rate\":$1,\"impl\":\"$2\",/" | tee -a "$WORK/results.jsonl"
}
# client IMPL: the client under test, connected to lat_gen's $PORT, records on stdout
client() {
  if [ "$1" = floor ]; then
    $HOST_PRIO taskset -c "$HOST_CPU" "$WORK/lat_floor" "$PORT"
  else
    ALPACA_API_KEY=k ALPACA_API_SECRET=s $HOST_PRIO taskset -c "$HOST_CPU" "$FEEDHOST" run $SPEC \
      --connection market_data --assets "$SYMBOLS" --url "market_data=ws://127.0.0.1:$PORT/v2/iex" \
      --stats-interval 0 --once 2> "$WORK/feedhost.err"
  fi
}
for rate in $RATES; do
  taskset -c "$HOST_CPU" "$WORK/stall_probe" "$PROBE" "cpu$HOST_CPU" > "$WORK/probe0.out" &
  taskset -c "$GEN_CPU" "$WORK/stall_probe" "$PROBE" "cpu$GEN_CPU" > "$WORK/probe1.out"
  wait
  cat "$WORK/probe0.out" "$WORK/probe1.out" | tag "$rate" ""
  for impl in $IMPLS; do
    set -- $(cpu_now)
    busy0=$1 steal0=$2
    start_gen "$rate" $((WARMUP + SECS)) "$BATCH"
    (
      client "$impl" | ${METER_PRIO:-$HOST_PRIO} taskset -c "$HOST_CPU" "$WORK/lat_meter" \
        --warmup "$WARMUP" --label "$impl" --expect $((rate * (WARMUP + SECS))) > "$WORK/meter.out"
      times > "$WORK/times.out"
    )
    wait "$GEN_PID"
    set -- $(cpu_now)
    cat "$WORK/meter.out" "$WORK/gen.out" | tag "$rate" "$impl"
    gen_cpu=$(sed 's/.*"cpu_s":\([0-9.]*\).*/\1/' "$WORK/gen.out")
    awk -v b="$1" -v b0="$busy0" -v st="$2" -v st0="$steal0" -v gen="$gen_cpu" \
      -v ours="$(children_cpu "$WORK/times.out")" 'BEGIN { printf "{\"role\":\"cpu\"," \
        "\"client_meter_s\":%.2f,\"gen_s\":%.2f,\"others_s\":%.2f,\"steal_s\":%.2f}\n", ours, gen,
        b - b0 - ours - gen, st - st0 }' | tag "$rate" "$impl"
  done
done
echo "client: ${HOST_PRIO:-default scheduling}; meter: ${METER_PRIO:-${HOST_PRIO:-default scheduling}}"
luajit spec/bench/latency/summary.lua "$WORK/results.jsonl" "$SECS"
