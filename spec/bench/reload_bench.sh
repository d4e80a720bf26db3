#!/usr/bin/env bash
# Hot reload under load (a benchmark with printed figures, not a test): `feedhost simulate`
# streams RATE messages a second (Alpaca's protocol, 1 to 3 items each) to `feedhost run` of
# specs/alpaca.lua's market data connection; the spec file is rewritten RELOADS times (a converter
# field changed each time), each change reloaded through the file watch. Printed: the reload time
# (load, validate, compile, compare, swap: the loop is busy that long) and the swap's own share,
# p50 and max; then the frames lost: messages the simulator sent minus frames feedhost's pipeline
# took (must be 0), and the reconnects (must be 0).
#
#   spec/bench/reload_bench.sh [RELOADS] [RATE]        (FEEDHOST_BIN: default build/feedhost)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${FEEDHOST_BIN:-build/feedhost}
RELOADS=${1:-100}
RATE=${2:-10000}
dir=$(mktemp -d /tmp/feedhost-reload-bench.XXXXXX)
sim_pid= fh_pid=
cleanup() {
  for p in $fh_pid $sim_pid; do kill "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

"$BIN" simulate --port 0 --rate "$RATE" --key bench-key --secret bench-secret \
  --log-level info >"$dir/sim.out" 2>"$dir/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
  url=$(grep -o 'ws://[^ ]*' "$dir/sim.out" || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "the simulator did not start" >&2; cat "$dir/sim.err" >&2; exit 1; }

# the spec: specs/alpaca.lua, the trade converter given a field whose value changes every reload
write_spec() {
  awk -v rev="$1" '!done && /timestamp = \{ source = "ts\(data.t\)" \},/ {
    print; print "                rev = { value = " rev " },"; done = 1; next } { print }' \
    specs/alpaca.lua >"$dir/alpaca.lua.tmp"
  mv "$dir/alpaca.lua.tmp" "$dir/alpaca.lua"   # as an editor saves: a new file renamed over
}
write_spec 0
printf '{"api_key":"bench-key","api_secret":"bench-secret"}\n' >"$dir/creds.json"
"$BIN" run "$dir/alpaca.lua" --connection market_data --url "market_data=$url" \
  --credentials "$dir/creds.json" --assets AAPL,MSFT,TSLA,AMD,NVDA --output none \
  --stats-interval 1 >"$dir/fh.out" 2>"$dir/fh.err" &
fh_pid=$!
for _ in $(seq 100); do
  grep -q "subscribed" "$dir/fh.err" && break
  sleep 0.05
done
sleep 2   # the stream at full rate
for i in $(seq "$RELOADS"); do
  write_spec "$i"
  for _ in $(seq 100); do   # this reload logged before the next change
    [ "$(grep -c 'reload (' "$dir/fh.err" || true)" -ge "$i" ] && break
    sleep 0.02
  done
  sleep 0.15
done
sleep 1
connects=$(grep -c 'connecting to' "$dir/fh.err" || true)   # before the simulator goes away
kill -TERM "$sim_pid"        # stops after what it queued went out
wait "$sim_pid" || true
sim_pid=
sleep 2.5                    # feedhost takes the rest, then a stats line
kill -TERM "$fh_pid"
wait "$fh_pid" || true
fh_pid=

sent=$(grep -o '[0-9]* messages sent' "$dir/sim.err" | grep -o '^[0-9]*')
last=$(grep 'stats market_data:' "$dir/fh.err" | tail -1)
frames=$(echo "$last" | grep -o 'frames [0-9]*' | grep -o '[0-9]*$')
rate=$(grep 'stats market_data: live' "$dir/fh.err" | grep -o 'frames/s [0-9.]*' | awk '{ s += $2; n++ }
  END { if (n) printf "%.0f", s / n }')
failed=$(grep -c 'reload (.*) failed' "$dir/fh.err" || true)
grep -o '([0-9.]* ms, swap [0-9.]* ms)' "$dir/fh.err" | tr -d '(),' | awk '{ print $1, $4 }' >"$dir/times"
stat() {   # column $1 of times: p50 and max
  cut -d' ' -f"$1" "$dir/times" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit } printf "p50 %.2f ms, max %.2f ms", v[int((NR + 1) / 2)], v[NR] }'
}
echo "reloads: $(wc -l <"$dir/times") done, $failed failed, under $rate messages/s (the stream's average)"
echo "reload (load, validate, compile, compare, swap): $(stat 1)"
echo "swap (compare and swap, connections updated):    $(stat 2)"
echo "messages sent by the simulator: $sent; frames taken by feedhost's pipeline: $frames"
echo "frames lost: $((sent - frames)); reconnects during the reloads: $((connects - 1))"
