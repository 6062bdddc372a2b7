#!/usr/bin/env bash
# The face-store benchmark, both parts:
#   1. `facekit bench-store` on synthetic vectors, embedded SQLite store and PostgreSQL +
#      pgvector (a throwaway server from scripts/pg-server.sh): insert rate, exact and ANN
#      top-10 p50/p99, ANN recall@10 against exact, size on disk.
#   2. Folder indexing side by side on deepface's dataset, SFace + yunet: `facekit find`
#      building its cache against deepface 0.0.103's DeepFace.find building its pickle, each
#      on its own fresh copy of the same images, each a whole cold process; one untimed run of
#      each first, then --index-runs timed runs alternating which tool goes first. Prints
#      each run, images/s at the medians and the ratios.
#
# Usage: scripts/bench-store.sh [--counts 100000,1000000] [--dims 128,512] [--stores sqlite,postgres]
#                               [--skip-vectors] [--skip-indexing] [--index-runs 5]
#                               [-- extra bench-store options]
# Environment: FACEKIT_BIN (default: release build of this checkout), FACEKIT_HOME,
#              FACEKIT_DEEPFACE_VENV, FACEKIT_DEEPFACE_HOME.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_deepface-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_deepface-common.sh"

COUNTS=100000,1000000
DIMS=128,512
STORES=sqlite,postgres
VECTORS=1
INDEXING=1
INDEX_RUNS=5
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --counts) COUNTS=$2; shift 2 ;;
    --dims) DIMS=$2; shift 2 ;;
    --stores) STORES=$2; shift 2 ;;
    --skip-vectors) VECTORS=0; shift ;;
    --skip-indexing) INDEXING=0; shift ;;
    --index-runs) INDEX_RUNS=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown option $1" ;;
  esac
done

BIN=$(resolve_facekit_bin)
work=$(mktemp -d /tmp/facekit-bench-store.XXXXXX)
pgdir="$work/pg"
cleanup() { "$SCRIPTS_DIR/pg-server.sh" stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

if [[ $VECTORS -eq 1 ]]; then
  args=(bench-store --counts "$COUNTS" --dims "$DIMS" --stores "$STORES" --dir "$work")
  if [[ ",$STORES," == *",postgres,"* ]]; then
    url=$("$SCRIPTS_DIR/pg-server.sh" start "$pgdir")
    log "PostgreSQL 18 + pgvector at $url"
    args+=(--postgres "$url")
  fi
  log "$BIN ${args[*]} ${EXTRA[*]}"
  "$BIN" "${args[@]}" "${EXTRA[@]}"
fi

if [[ $INDEXING -eq 1 ]]; then
  python=$(resolve_deepface_python)
  DEEPFACE_HOME=$(resolve_deepface_home)
  export DEEPFACE_HOME
  query="$DATASET_DEFAULT/img1.jpg"
  # A fresh copy of every image of the dataset, as deepface's find would index the folder,
  # written back before the timed process starts (not by the kernel's flusher during it).
  fresh_copy() {
    rm -rf "$1" && mkdir -p "$1"
    find "$DATASET_DEFAULT" -maxdepth 1 \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.png' \) -exec cp {} "$1/" \;
    sync
  }
  run_facekit() {
    fresh_copy "$work/facekit-db"
    local start end
    start=$(date +%s.%N)
    FACEKIT_WORKERS=${FACEKIT_WORKERS:-$(nproc)} "$BIN" find "$query" --db "$work/facekit-db" --model SFace --detector yunet --json \
      >"$work/facekit.json" 2>"$work/facekit.err" || { tail -20 "$work/facekit.err" >&2; die "facekit failed"; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
  }
  run_deepface() {
    fresh_copy "$work/deepface-db"
    local start end
    start=$(date +%s.%N)
    DEEPFACE_BACKEND_ENGINE=onnx "$python" -c "
import sys
from deepface import DeepFace
# Default enforce_detection: an image without a face is logged and skipped, as FaceKit does.
DeepFace.find(img_path=sys.argv[1], db_path=sys.argv[2], model_name='SFace', detector_backend='yunet', silent=True)
" "$query" "$work/deepface-db" >"$work/deepface.out" 2>"$work/deepface.err" || { tail -20 "$work/deepface.err" >&2; die "deepface failed"; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
  }
  # On this VM, memory the first process touches after the machine has idled is slow to
  # get (page clearing was 14% of a run's samples instead of ~1%, system time 0.1 s ->
  # 0.35 s for FaceKit, +0.1-0.4 s for deepface), and whichever process runs next gets
  # warm pages. So one untimed run of each comes first, and the timed runs alternate
  # which tool goes first.
  log "warm-up: one untimed run of each"
  run_facekit >/dev/null
  run_deepface >/dev/null
  fks=() dfs=()
  for ((r = 1; r <= INDEX_RUNS; r++)); do
    if (( r % 2 )); then
      fk=$(run_facekit); df=$(run_deepface); order="FaceKit first"
    else
      df=$(run_deepface); fk=$(run_facekit); order="deepface first"
    fi
    log "run $r/$INDEX_RUNS ($order): FaceKit $fk s, deepface $df s"
    fks+=("$fk") dfs+=("$df")
  done
  images=$(find "$work/facekit-db" -type f -name '*.jp*g' -o -type f -name '*.png' | wc -l)
  grep '^index' "$work/facekit.err" >&2 || true
  python3 - "$images" "${fks[*]}" "${dfs[*]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
fk = [float(x) for x in sys.argv[2].split()]
df = [float(x) for x in sys.argv[3].split()]
ratios = sorted(d / f for f, d in zip(fk, df))
fm, dm = statistics.median(fk), statistics.median(df)
print()
print(f"folder indexing, {n} images, SFace + yunet, whole cold process each (find + its index), "
      f"{len(fk)} runs after a warm-up, alternating which goes first:")
print(f"  FaceKit  find: median {fm:6.2f} s  {n / fm:6.2f} images/s  (runs: {', '.join(f'{x:.2f}' for x in fk)})")
print(f"  deepface find: median {dm:6.2f} s  {n / dm:6.2f} images/s  (runs: {', '.join(f'{x:.2f}' for x in df)})")
print(f"  FaceKit is {dm / fm:.2f}x deepface (median of each); per run {ratios[0]:.2f}x to {ratios[-1]:.2f}x, "
      f"median {statistics.median(ratios):.2f}x")
PY
fi
