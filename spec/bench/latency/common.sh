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
