#!/usr/bin/env bash
# `npm run bench:grpc:instructions`: the instructions each server executes per
# Check call, counted by valgrind's callgrind, for the floor and for the built
# Ward with audit records off and to a file. It complements `npm run bench:grpc`
# on a shared machine, where CPU time per call moves by 10 to 50% from one run
# to the next: an instruction count repeats to within a few per cent.
#
# What it does not measure: time. Instructions are not cycles (a cache miss or
# a slow builtin costs more than its count), the kernel is not counted, and
# valgrind runs the server about 50 times slower, so anything that depends on
# time (V8 compiling hot code on its own thread, caches keyed by the
# millisecond) weighs differently. The script therefore also prints the count
# without V8's optimizing compiler. Use it to compare two builds of Ward, or
# Ward with the floor, not as a throughput figure.
#
# Each server runs pinned (core 1) under callgrind with instrumentation off,
# gets WARM calls from h2load (core 0, loopback, 16 in flight), then CALLS
# calls are counted. Needs valgrind and h2load (apt-get install -y valgrind
# nghttp2-client). Environment: WARM (default 10000), CALLS (default 5000),
# SERVER_CPU (1), CLIENT_CPU (0).
set -euo pipefail
cd "$(dirname "$0")/.."
WARM=${WARM:-10000}
CALLS=${CALLS:-5000}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
for tool in valgrind callgrind_control callgrind_annotate h2load taskset; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y valgrind nghttp2-client" >&2; exit 1; }
done
[ -f dist/main.js ] || { echo "dist/main.js not found: npm run build" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ward-instructions-XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
BENCH_WRITE_REQUEST="$DIR/request.bin" npx tsx bench/grpc.ts

# measure NAME ARGS... : prints "NAME <Ir per call> <Ir per call without the optimizing compiler>"
measure() {
  local name=$1; shift
  local out="$DIR/$name"
  mkdir -p "$out"
  taskset -c "$SERVER_CPU" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg" "$@" >"$out/stdout" 2>"$out/stderr" &
  SERVER_PID=$!
  local port=""
  for _ in $(seq 1 600); do
    port=$(grep -oE '"127\.0\.0\.1:[0-9]+|^listening [0-9]+' "$out/stdout" 2>/dev/null | head -1 | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name did not start:" >&2; cat "$out/stderr" >&2; exit 1; }
    sleep 0.5
  done
  [ -n "$port" ] || { echo "$name did not print its port within 300 s" >&2; exit 1; }
  local load=(taskset -c "$CLIENT_CPU" h2load -c1 -m16 -d "$DIR/request.bin" -H "content-type: application/grpc" -H "te: trailers" "http://127.0.0.1:$port/envoy.service.auth.v3.Authorization/Check")
  "${load[@]}" -n "$WARM" >/dev/null
  callgrind_control -i on "$SERVER_PID" >/dev/null 2>&1
  callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
  "${load[@]}" -n "$CALLS" >"$out/h2load"
  callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
  callgrind_control -i off "$SERVER_PID" >/dev/null 2>&1
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  local ok; ok=$(grep -oE '[0-9]+ succeeded' "$out/h2load" | grep -oE '^[0-9]+' || echo 0)
  [ "$ok" = "$CALLS" ] || { echo "$name: only $ok of $CALLS calls succeeded" >&2; exit 1; }
  local dump="$out/cg.1"
  local total; total=$(grep -h '^summary:' "$dump" | awk '{print $2}')
  local compiler; compiler=$(callgrind_annotate --threshold=100 "$dump" 2>/dev/null | { grep -E 'compiler::|maglev::' || true; } | awk '{gsub(",", "", $1); s += $1} END {print s + 0}')
  echo "$name $((total / CALLS)) $(((total - compiler) / CALLS))"
}

echo "grpc-instructions: $CALLS counted calls after $WARM, servers on core $SERVER_CPU under callgrind, h2load -c1 -m16 on core $CLIENT_CPU"
WARD=(node dist/main.js serve --policies policies --grpc 127.0.0.1:0 --http off --log-level warn)
RESULTS=$( {
  measure floor node --import tsx bench/floor-server.ts 0
  measure ward-audit-off "${WARD[@]}" --audit-log off
  measure ward-audit-file "${WARD[@]}" --audit-log "$DIR/audit.log"
} )
[ "$(echo "$RESULTS" | wc -l)" -eq 3 ] || { echo "a server could not be measured (above)" >&2; exit 1; }
echo "server            instructions/call   without V8's optimizing compiler   floor/server (without compiler)"
FLOOR=$(echo "$RESULTS" | awk '$1 == "floor" {print $2, $3}')
echo "$RESULTS" | while read -r name total rest; do
  read -r ftotal frest <<<"$FLOOR"
  printf "%-17s %17d   %32d   %.2f (%.2f)\n" "$name" "$total" "$rest" "$(echo "$ftotal / $total" | bc -l)" "$(echo "$frest / $rest" | bc -l)"
done
