#!/usr/bin/env bash
# `npm run bench:open-loop`: latency of the built `ward serve` when calls
# arrive at a fixed rate, as Envoy's do, whatever the server is doing, with
# `--heap-growing-percent` at Ward's default (50) and at V8's own heuristics
# (`node`), alternating. `bench:grpc` keeps 16 calls in flight (a closed loop):
# a pause there delays only those 16, so its percentiles hide what a long
# garbage collection does to calls arriving at a steady rate, and show more
# frequent short pauses as worse than rare long ones.
#
# Each round starts Ward pinned to one core (SERVER_CPU, default 1) with the
# shipped policies and audit records to a file in a temporary directory, warms
# it up for 2 s at 16 in flight, then h2load (CLIENT_CPU, default 0; loopback)
# offers BENCH_RATE calls a second (default 8000: 8 connections of a rate of
# BENCH_RATE/8, up to 256 in flight each) for BENCH_SECONDS (default 20).
# Printed per round: calls, latency
# percentiles and the longest (from h2load's per-request log), and Ward's full
# garbage collections with their pauses (Node's --trace-gc). Keep BENCH_RATE well
# below what `bench:grpc` measured for Ward with audit records to a file, or
# the figures show queueing instead of pauses. Needs h2load (apt-get install
# -y nghttp2-client). Environment: BENCH_RATE, BENCH_SECONDS, BENCH_ROUNDS
# (default 2), SERVER_CPU, CLIENT_CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${BENCH_RATE:-8000}
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
ROUNDS=${BENCH_ROUNDS:-2}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
for tool in h2load taskset; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y nghttp2-client" >&2; exit 1; }
done
[ -f dist/main.js ] || { echo "dist/main.js not found: npm run build" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ward-open-loop-XXXXXX")
WARD_PID=
cleanup() {
  [ -n "$WARD_PID" ] && kill "$WARD_PID" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
BENCH_WRITE_REQUEST="$DIR/request.bin" npx tsx bench/grpc.ts
PER_CLIENT=$((RATE / 8))

run() { # run LABEL WARD_ARGS...
  local label=$1
  shift
  rm -f "$DIR/audit.log" "$DIR/requests.log"
  taskset -c "$SERVER_CPU" node --trace-gc dist/main.js serve --policies policies --grpc 127.0.0.1:0 --http off \
    --log-level warn --audit-log "$DIR/audit.log" "$@" >"$DIR/stdout" 2>"$DIR/stderr" &
  WARD_PID=$!
  local port=
  for _ in $(seq 1 100); do
    port=$(grep -oE '"127\.0\.0\.1:[0-9]+' "$DIR/stdout" 2>/dev/null | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.2
  done
  [ -n "$port" ] || { echo "ward did not start:" >&2; cat "$DIR/stderr" >&2; exit 1; }
  local url="http://127.0.0.1:$port/envoy.service.auth.v3.Authorization/Check"
  local headers=(-d "$DIR/request.bin" -H "content-type: application/grpc" -H "te: trailers")
  taskset -c "$CLIENT_CPU" h2load -D 2 -c1 -m16 "${headers[@]}" "$url" >/dev/null
  local gc_from
  gc_from=$(wc -l <"$DIR/stdout")
  taskset -c "$CLIENT_CPU" h2load -D "$SECONDS_PER_RUN" -c8 -m256 --rps="$PER_CLIENT" --log-file="$DIR/requests.log" "${headers[@]}" "$url" >/dev/null
  local pauses
  pauses=$(tail -n +"$((gc_from + 1))" "$DIR/stdout" | grep Mark-Compact | grep -oE 'MB, [0-9.]+' | cut -d' ' -f2 | tr '\n' ' ' || true)
  kill "$WARD_PID"
  wait "$WARD_PID" 2>/dev/null || true
  WARD_PID=
  # h2load's log: start time, HTTP status, duration in µs.
  awk '{print $3}' "$DIR/requests.log" | sort -n | awk -v label="$label" '
    { d[NR] = $1 }
    END {
      printf "%-32s %8d calls  p50 %7.1f ms  p99 %7.1f ms  p99.9 %7.1f ms  p99.99 %7.1f ms  longest %7.1f ms\n",
        label, NR, d[int(NR * 0.5)] / 1000, d[int(NR * 0.99)] / 1000, d[int(NR * 0.999)] / 1000, d[int(NR * 0.9999)] / 1000, d[NR] / 1000
    }'
  echo "  full collections during the load (pause ms): ${pauses:-none}"
}

echo "bench:open-loop — $RATE calls/s offered for $SECONDS_PER_RUN s (8 connections), ward on core $SERVER_CPU, h2load on core $CLIENT_CPU, $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
  run "heap growth 50% (default)"
  run "heap growth: V8's own" --heap-growing-percent node
done
