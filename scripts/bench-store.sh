#!/usr/bin/env bash
# The face-store benchmark, both parts:
#   1. `facekit bench-store` on synthetic vectors, embedded SQLite store and PostgreSQL +
#      pgvector (a throwaway server from scripts/pg-server.sh): insert rate, exact and ANN
#      top-10 p50/p99, ANN recall@10 against exact, size on disk.
#   2. Folder indexing side by side on deepface's dataset, SFace + yunet: `facekit find`
#      building its cache against deepface 0.0.103's DeepFace.find building its pickle, each
#      on its own fresh copy of the same images, each a whole cold process. Prints images/s
#      for both and the ratio.
#
# Usage: scripts/bench-store.sh [--counts 100000,1000000] [--dims 128,512] [--stores sqlite,postgres]
#                               [--skip-vectors] [--skip-indexing] [-- extra bench-store options]
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
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --counts) COUNTS=$2; shift 2 ;;
    --dims) DIMS=$2; shift 2 ;;
    --stores) STORES=$2; shift 2 ;;
    --skip-vectors) VECTORS=0; shift ;;
    --skip-indexing) INDEXING=0; shift ;;
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
  mkdir -p "$work/facekit-db" "$work/deepface-db"
  # Every image of the dataset, as deepface's find would index the folder.
  find "$DATASET_DEFAULT" -maxdepth 1 \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.png' \) \
    -exec cp {} "$work/facekit-db/" \; -exec cp {} "$work/deepface-db/" \;
  images=$(find "$work/facekit-db" -type f | wc -l)
  # The copies written back now, not by the kernel's flusher during the first timed run.
  sync
  query="$DATASET_DEFAULT/img1.jpg"
  log "indexing $images images with FaceKit (find, SFace + yunet)"
  start=$(date +%s.%N)
  FACEKIT_WORKERS=${FACEKIT_WORKERS:-$(nproc)} "$BIN" find "$query" --db "$work/facekit-db" --model SFace --detector yunet --json \
    >"$work/facekit.json" 2>"$work/facekit.err"
  end=$(date +%s.%N)
  fk=$(python3 -c "print(f'{$end - $start:.2f}')")
  log "indexing $images images with deepface 0.0.103 (DeepFace.find, SFace + yunet, onnx backend)"
  start=$(date +%s.%N)
  DEEPFACE_BACKEND_ENGINE=onnx "$python" -c "
import sys
from deepface import DeepFace
# Default enforce_detection: an image without a face is logged and skipped, as FaceKit does.
DeepFace.find(img_path=sys.argv[1], db_path=sys.argv[2], model_name='SFace', detector_backend='yunet', silent=True)
" "$query" "$work/deepface-db" >"$work/deepface.out" 2>"$work/deepface.err" || { tail -20 "$work/deepface.err" >&2; die "deepface failed"; }
  end=$(date +%s.%N)
  df=$(python3 -c "print(f'{$end - $start:.2f}')")
  grep '^index' "$work/facekit.err" >&2 || true
  python3 - "$images" "$fk" "$df" <<'PY'
import sys
n, fk, df = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print()
print(f"folder indexing, {n} images, SFace + yunet, whole cold process each (find + its index):")
print(f"  FaceKit  find: {fk:7.2f} s  {n / fk:6.2f} images/s")
print(f"  deepface find: {df:7.2f} s  {n / df:6.2f} images/s")
print(f"  FaceKit is {df / fk:.2f}x deepface")
PY
fi
