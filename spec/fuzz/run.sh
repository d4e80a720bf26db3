#!/usr/bin/env bash
# spec/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds the libFuzzer harnesses (spec/fuzz/Makefile: clang, ASan + UBSan) and runs each target
# for a bounded time (default 20 s) from its committed corpus (spec/fuzz/corpus/<target>/, read
# only: new inputs go to a scratch directory). Prints the executions run per target. Exits 1 on
# any crash, sanitizer report, leak, timeout (an input taking over 10 s) or out-of-memory; the
# input that caused it is kept in build-fuzz/run/<target>/ and its log printed.
#
# Needs clang and libclang-rt-14-dev (Debian). Targets: json_tape ts base64 ws_frame capture kite.
# Output directory: $FUZZ_OUT (default build-fuzz/ at the worktree root).
#
# Replay one input: build-fuzz/fuzz_<target> FILE. Seeds: luajit spec/fuzz/seed.lua rewrites
# corpus/*/seed-*. Keep what a long run found, minimized against what is there:
#   build-fuzz/fuzz_<target> -merge=1 spec/fuzz/corpus/<target> build-fuzz/run/<target>/new
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(json_tape ts base64 ws_frame capture kite)
fi
out=${FUZZ_OUT:-$root/build-fuzz}

if ! make -s -C "$here" OUT="$out" -j"$(nproc)"; then
  echo "fuzz: build failed" >&2
  exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0

failed=()
start=$(date +%s)
for t in "${targets[@]}"; do
  bin=$out/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target $t" >&2
    failed+=("$t")
    continue
  fi
  work=$out/run/$t
  rm -rf "$work"
  mkdir -p "$work/new"
  dict=()
  if [ -f "$here/dict/$t.dict" ]; then
    dict=(-dict="$here/dict/$t.dict")
  fi
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "${dict[@]}" "$work/new" "$here/corpus/$t" >"$work/log" 2>&1
  rc=$?
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$work/log")
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/log" | tail -1)
  if [ $rc -eq 0 ]; then
    printf '%-10s ok    %10s executions in %ss (%s)\n' "$t" "${execs:-?}" "$secs" "$cov"
  else
    printf '%-10s FAIL  %10s executions (exit %d)\n' "$t" "${execs:-?}" "$rc"
    grep -E 'invariant failed|ERROR:|SUMMARY:|runtime error|kite_decode:' "$work/log" | head -20
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null
    echo "full log: $work/log"
    failed+=("$t")
  fi
done
echo "fuzz: ${#targets[@]} targets in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
