#!/bin/sh
# Replay of a Kraken-like stream (spec/bench/fanout/gen_pool.lua) through three specs that make
# the same records: the plain path (payload_path + frame = "array", no outer context), fan-out
# with the frame's channel beside each element (frame.each/with), and the Lua-table workaround
# fan-out replaces (a payload_path rebuilding every element as a table). Rounds interleave the
# three; each line is `feedhost bench`'s, then the medians and ratios per case.
#
#   sh spec/bench/fanout/run.sh [FRAMES=1000000] [ROUNDS=5]      (after make; one core: taskset)
set -e
cd "$(dirname "$0")/../../.."
N=${1:-1000000}
ROUNDS=${2:-5}
BIN=${FEEDHOST_BIN:-./build/feedhost}
POOL=${TMPDIR:-/tmp}/feedhost-kraken-pool.ndjson
PIN=""
command -v taskset >/dev/null && PIN="taskset -c ${CPU:-0}"
luajit spec/bench/fanout/gen_pool.lua 20000 > "$POOL"
OUT=${TMPDIR:-/tmp}/feedhost-fanout-bench.txt
: > "$OUT"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  for case in plain fanout tables; do
    n=$N
    # the workaround is an order of magnitude slower: a tenth of the frames keeps rounds short
    [ "$case" = tables ] && n=$((N / 10))
    line=$($PIN "$BIN" --lua-dev bench "spec/bench/fanout/$case.lua" "$POOL" "$n")
    echo "$case $line" | tee -a "$OUT"
  done
  r=$((r + 1))
done
luajit - "$OUT" <<'LUA'
local by = {}
for line in io.lines(arg[1]) do
  local case = line:match("^(%S+)")
  local msgs, recs, secs = line:match('"msgs":(%d+),"records":(%d+).-"secs":([%d.]+)')
  by[case] = by[case] or {}
  table.insert(by[case], { m = msgs / secs, r = recs / secs })
end
local function median(list, k)
  local v = {}
  for i, x in ipairs(list) do v[i] = x[k] end
  table.sort(v)
  return v[math.floor((#v + 1) / 2)]
end
local plain = median(by.plain, "m")
print(string.format("%-8s %14s %14s %10s", "case", "frames/s", "records/s", "vs plain"))
for _, case in ipairs({ "plain", "fanout", "tables" }) do
  local m, r = median(by[case], "m"), median(by[case], "r")
  print(string.format("%-8s %14.0f %14.0f %9.2fx", case, m, r, m / plain))
end
LUA
