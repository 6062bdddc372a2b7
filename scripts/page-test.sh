#!/usr/bin/env bash
# The web page at / in headless Chromium (Debian's chromium): starts
# `facekit serve` on free ports with a fresh face store, drops img1.jpg and
# img2.jpg (same person) and then img1.jpg and img3.jpg (different people)
# into the page's verify zones and checks each decision; registers img1.jpg
# as "alice" and drops img2.jpg into the single-photo zone, which must show
# the analysis of its face and recognise her. Screenshots of each result are
# saved as test artifacts.
#
#   scripts/page-test.sh                     # screenshots in .build/artifacts/
#   FACEKIT_BIN=/path/to/facekit ARTIFACTS=/tmp/shots scripts/page-test.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dataset=${FACEKIT_DATASET:-$(cd "$root/.." && pwd)/shared/data/deepface-dataset}
artifacts=${ARTIFACTS:-$root/.build/artifacts}

if ! command -v chromium >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get install -y chromium >/dev/null; else echo "page-test: run: sudo apt-get install chromium" >&2; exit 1; fi
fi
bin=${FACEKIT_BIN:-}
if [[ -z $bin ]]; then
  swift build -c release --package-path "$root" --product facekit >&2
  bin="$root/.build/release/facekit"
fi
# Ports the kernel says are free now, so that parallel runs do not collide.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=${PORT:-$(free_port)}
DEVTOOLS_PORT=${DEVTOOLS_PORT:-$(free_port)}

work=$(mktemp -d)
server="" browser=""
cleanup() {
  if [[ -n $browser ]]; then kill "$browser" 2>/dev/null; wait "$browser" 2>/dev/null || true; fi
  if [[ -n $server ]]; then kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --port "$PORT" --store "$work/faces.sqlite" --log-level warning > "$work/server.log" 2>&1 &
server=$!
chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
  --remote-debugging-port="$DEVTOOLS_PORT" about:blank > "$work/chromium.log" 2>&1 &
browser=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && curl -sf "http://127.0.0.1:$DEVTOOLS_PORT/json/version" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "page-test: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

url="http://127.0.0.1:$PORT/"
python3 "$root/scripts/page_check.py" verify "$DEVTOOLS_PORT" "$url" \
  "$dataset/img1.jpg" "$dataset/img2.jpg" "Same person" "$artifacts/page-verify.png"
python3 "$root/scripts/page_check.py" verify "$DEVTOOLS_PORT" "$url" \
  "$dataset/img1.jpg" "$dataset/img3.jpg" "Different people" "$artifacts/page-verify-different.png"
curl -sf -F img=@"$dataset/img1.jpg" -F img_name=alice "${url}register" > /dev/null \
  || { echo "page-test: registering img1.jpg failed" >&2; exit 1; }
python3 "$root/scripts/page_check.py" single "$DEVTOOLS_PORT" "$url" \
  "$dataset/img2.jpg" alice "$artifacts/page-analyze-search.png"
echo "page-test: PASS"
