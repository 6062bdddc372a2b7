#!/usr/bin/env bash
# Load test of `facekit serve` on POST /verify with wrk (Debian's wrk):
# starts the release server, warms it up, then runs CONNECTIONS clients for
# DURATION and reports p50/p99 latency, throughput, errors and the server's
# RSS after warm-up and at the end. Exits non-zero on any error, a crash, or
# RSS growth above 10%.
#
#   scripts/load-test.sh                       # 32 clients, 2 minutes, img1.jpg vs img2.jpg
#   DURATION=30s CONNECTIONS=8 scripts/load-test.sh
#   FACEKIT_BIN=/path/to/facekit scripts/load-test.sh   # use a built binary
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-120s}
WARMUP=${WARMUP:-60s}
THREADS=${THREADS:-2}
PORT=${PORT:-5095}
IMG1=${IMG1:-img1.jpg}
IMG2=${IMG2:-img2.jpg}
dataset=${FACEKIT_DATASET:-$(cd "$root/.." && pwd)/shared/data/deepface-dataset}

if ! command -v wrk >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get install -y wrk >/dev/null; else echo "load-test: run: sudo apt-get install wrk" >&2; exit 1; fi
fi
bin=${FACEKIT_BIN:-}
if [[ -z $bin ]]; then
  swift build -c release --package-path "$root" --product facekit >&2
  bin="$root/.build/release/facekit"
fi

work=$(mktemp -d)
server=""
cleanup() {
  if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then kill -TERM "$server"; wait "$server" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# deepface's JSON request: both images as data: URIs.
{
  printf '{"model_name": "SFace", "detector_backend": "yunet", "img1": "data:image/jpeg;base64,'
  base64 -w0 "$dataset/$IMG1"
  printf '", "img2": "data:image/jpeg;base64,'
  base64 -w0 "$dataset/$IMG2"
  printf '"}'
} > "$work/verify.json"

cat > "$work/verify.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$work/verify.json", "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format("requests %d in %.1f s: %.2f req/s\n", summary.requests, seconds, summary.requests / seconds))
  io.write(string.format("latency p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("errors: connect %d, read %d, write %d, timeout %d, non-2xx %d\n",
    e.connect, e.read, e.write, e.timeout, e.status))
  io.write(string.format("ERRORS=%d\n", e.connect + e.read + e.write + e.timeout + e.status))
end
EOF

"$bin" serve --port "$PORT" --queue-depth $((CONNECTIONS * 2)) --timeout 120 --log-level warning > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "load-test: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
# Jobs whose clients have gone still finish on the engine; compare RSS only
# when the engine is idle, so the two readings measure the same state.
idle_rss() {
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$PORT/health" | grep -q '"queued":0,"running":0' && break
    sleep 0.2
  done
  rss
}
echo "server pid $server, RSS at start $(rss) kB; request body $(stat -c %s "$work/verify.json") bytes ($IMG1 vs $IMG2)"

echo "warm-up: $CONNECTIONS clients for $WARMUP"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout 120s -s "$work/verify.lua" "http://127.0.0.1:$PORT/verify" > "$work/warmup.txt"
grep -E "^(requests|latency|errors)" "$work/warmup.txt" | sed 's/^/  /'
rss_warm=$(idle_rss)
echo "RSS after warm-up, idle: $rss_warm kB"

echo "load: $CONNECTIONS clients for $DURATION"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 120s -s "$work/verify.lua" "http://127.0.0.1:$PORT/verify" > "$work/load.txt" &
load=$!
# RSS every 10 s: a plateau is buffers in use, a steady climb is a leak.
samples=()
while kill -0 "$load" 2>/dev/null; do
  sleep 10
  kill -0 "$load" 2>/dev/null && samples+=("$(rss)")
done
wait "$load"
echo "RSS every 10 s under load (kB): ${samples[*]}"
grep -E "^(requests|latency|errors)" "$work/load.txt" | sed 's/^/  /'
kill -0 "$server" 2>/dev/null || { echo "load-test: the server died" >&2; cat "$work/server.log" >&2; exit 1; }
rss_end=$(idle_rss)
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
echo "RSS at end, idle: $rss_end kB ($growth% vs after warm-up)"

errors=$(sed -n 's/^ERRORS=//p' "$work/load.txt")
status=0
[[ $errors == 0 ]] || { echo "load-test: FAIL: $errors errors" >&2; status=1; }
awk -v g="$growth" 'BEGIN { exit !(g > 10) }' && { echo "load-test: FAIL: RSS grew $growth% (> 10%)" >&2; status=1; }
# Graceful shutdown: SIGTERM, and the server must exit 0.
kill -TERM "$server"
if wait "$server"; then echo "server stopped cleanly on SIGTERM"; else echo "load-test: FAIL: server exit code $? on SIGTERM" >&2; status=1; fi
server=""
if [[ -s $work/server.log ]]; then echo "server log (warnings and errors):"; sed 's/^/  /' "$work/server.log" | tail -20; fi
[[ $status == 0 ]] && echo "load-test: PASS (0 errors, RSS within 10%)"
exit $status
