# Shared by run.sh and rss.sh: start_gen RATE SECS BATCH starts lat_gen on GEN_CPU and sets
# GEN_PID and PORT (its ephemeral port), with its result line in $WORK/gen.out.
start_gen() {
  rm -f "$WORK/port"
  taskset -c "$GEN_CPU" "$WORK/lat_gen" --rate "$1" --secs "$2" --batch "$3" \
    --symbols "$SYMBOLS" --port-file "$WORK/port" > "$WORK/gen.out" 2> "$WORK/gen.err" &
  GEN_PID=$!
  i=0
  while [ ! -s "$WORK/port" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
      echo "lat_gen did not start within 10 s:" >&2
      cat "$WORK/gen.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  PORT=$(cat "$WORK/port")
}

# CPU-seconds of the whole machine so far: "busy steal" (busy: user, nice, system, irq, softirq
# of every CPU; steal: time the hypervisor gave the vCPUs to others), from /proc/stat.
cpu_now() {
  awk '/^cpu / { printf "%.2f %.2f\n", ($2 + $3 + $4 + $7 + $8) / 100, $9 / 100 }' /proc/stat
}

# The CPU-seconds of the children a subshell waited for, from `times` output in file $1.
children_cpu() {
  awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
    printf "%.2f\n", s }' "$1"
}
