#!/usr/bin/env bash
# The web page at / in headless Chromium (Debian's chromium): starts
# `facekit serve`, drops img1.jpg and img2.jpg (same person) and then img1.jpg
# and img3.jpg (different people) into the page, checks each decision, and
# saves screenshots of the result, faces boxed, as test artifacts.
#
#   scripts/page-test.sh                     # screenshots in .build/artifacts/
#   FACEKIT_BIN=/path/to/facekit ARTIFACTS=/tmp/shots scripts/page-test.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dataset=${FACEKIT_DATASET:-$(cd "$root/.." && pwd)/shared/data/deepface-dataset}
artifacts=${ARTIFACTS:-$root/.build/artifacts}
PORT=${PORT:-5096}
DEVTOOLS_PORT=${DEVTOOLS_PORT:-9226}

if ! command -v chromium >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get install -y chromium >/dev/null; else echo "page-test: run: sudo apt-get install chromium" >&2; exit 1; fi
fi
bin=${FACEKIT_BIN:-}
if [[ -z $bin ]]; then
  swift build -c release --package-path "$root" --product facekit >&2
  bin="$root/.build/release/facekit"
fi

work=$(mktemp -d)
server="" browser=""
cleanup() {
  [[ -n $browser ]] && kill "$browser" 2>/dev/null && wait "$browser" 2>/dev/null || true
  [[ -n $server ]] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --port "$PORT" --log-level warning > "$work/server.log" 2>&1 &
server=$!
chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
  --remote-debugging-port="$DEVTOOLS_PORT" about:blank > "$work/chromium.log" 2>&1 &
browser=$!
for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && curl -sf "http://127.0.0.1:$DEVTOOLS_PORT/json/version" >/dev/null && break
  sleep 0.2
done

python3 "$root/scripts/page_check.py" "$DEVTOOLS_PORT" "http://127.0.0.1:$PORT/" \
  "$dataset/img1.jpg" "$dataset/img2.jpg" "Same person" "$artifacts/page-verify-same.png"
python3 "$root/scripts/page_check.py" "$DEVTOOLS_PORT" "http://127.0.0.1:$PORT/" \
  "$dataset/img1.jpg" "$dataset/img3.jpg" "Different people" "$artifacts/page-verify-different.png"
echo "page-test: PASS"
