#!/usr/bin/env bash
# FaceKit against deepface 0.0.103 on the same weight files (issue 3).
#
# deepface's real weight files cannot be downloaded on this project's
# machines, so the proof is on seeded random weights, on real face crops from
# the dataset (detector skip), reference from DeepFace.represent:
#   onnx  deepface's own PyTorch architectures, filled with random values
#         (biases and batch-norm statistics too), exported to ONNX with NHWC
#         input as deepface's published files are; deepface's ONNX client
#         (ONNX Runtime) gives the reference.
#   h5    deepface's own Keras architectures with keras_reference.py's random
#         weights, saved in deepface's .h5 layout under the name deepface's tf
#         client loads; deepface's TensorFlow backend gives the reference
#         (run in the deepface venv, conformance/keras_represent.py).
# FaceKit runs the same files: facekit represent CROP --weights FILE --detector skip.
# Prints: model, format, max |diff| / max |reference| (must be <= 1e-4),
# FaceKit and deepface ms per face, FaceKit's first and second load.
#
# Usage: scripts/conformance.sh [--formats onnx,h5] [MODEL ...]   (default: both, all seven)
#
# Environment:
#   FACEKIT_BIN               facekit binary (default: swift build of this checkout)
#   FACEKIT_CONFORMANCE_VENV  venv (default ~/.cache/facekit/conformance-venv)
#   FACEKIT_DEEPFACE_VENV     deepface venv with TensorFlow, h5 rows (default ~/.cache/facekit/deepface-venv)
#   FACEKIT_CONFORMANCE_WORK  exported files, crops, homes (default ~/.cache/facekit/conformance)
#   FACEKIT_DATASET           deepface's test images (default ../shared/data/deepface-dataset)
#
# Why Debian's torch: PyPI's Linux torch wheels depend on about 3 GB of CUDA
# libraries and do not import without them. Debian 12's python3-torch 1.13
# (CPU only, 62 MB of .debs with its dependencies) runs deepface's PyTorch
# models, which use only operators 1.13 has, so the venv sees the system
# site-packages and deepface is installed without its declared dependencies
# (its tensorflow and pytorch extras are not needed for the ONNX path; the h5
# rows use the separate deepface venv of scripts/deepface-venv.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FACEKIT_CONFORMANCE_VENV:-$HOME/.cache/facekit/conformance-venv}"
WORK="${FACEKIT_CONFORMANCE_WORK:-$HOME/.cache/facekit/conformance}"
DATASET="${FACEKIT_DATASET:-$ROOT/../shared/data/deepface-dataset}"
DEEPFACE_VENV="${FACEKIT_DEEPFACE_VENV:-$HOME/.cache/facekit/deepface-venv}"
FORMATS=onnx,h5
MODELS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --formats) FORMATS=$2; shift 2 ;;
    --formats=*) FORMATS=${1#--formats=}; shift ;;
    -*) echo "conformance: unknown option $1" >&2; exit 2 ;;
    *) MODELS+=("$1"); shift ;;
  esac
done

if ! /usr/bin/python3 -c 'import torch' 2>/dev/null || ! dpkg -s python3-venv >/dev/null 2>&1; then
  echo "conformance: installing Debian's python3-torch (CPU) and python3-venv" >&2
  apt-get install -y --no-install-recommends python3-torch python3-venv >&2
fi
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if ! "$VENV/bin/python" -c 'import deepface, onnx, onnxruntime, gdown, werkzeug, pandas, cv2' 2>/dev/null; then
  echo "conformance: filling $VENV" >&2
  "$VENV/bin/pip" install -q --no-deps deepface==0.0.103 retina-face==0.0.19
  # numpy < 2: Debian's torch is built against numpy 1.24's ABI.
  "$VENV/bin/pip" install -q "numpy<2" onnx==1.23.2 onnxruntime==1.32.0 gdown werkzeug "pandas<2.3" "opencv-python-headless<4.11"
fi

if [[ ",$FORMATS," == *",h5,"* && ! -x "$DEEPFACE_VENV/bin/python" ]]; then
  FACEKIT_DEEPFACE_VENV="$DEEPFACE_VENV" "$ROOT/scripts/deepface-venv.sh" >&2
fi

cd "$ROOT"
if [[ -n "${FACEKIT_BIN:-}" ]]; then
  FACEKIT="$FACEKIT_BIN"
else
  swift build --product facekit >&2
  FACEKIT="$(swift build --show-bin-path)/facekit"
fi

export DEEPFACE_HOME="$WORK/deepface-home"
export DEEPFACE_BACKEND_ENGINE=onnx
export PYTHONWARNINGS=ignore
mkdir -p "$DEEPFACE_HOME"
exec "$VENV/bin/python" "$ROOT/scripts/conformance/run.py" --facekit "$FACEKIT" --work "$WORK" --dataset "$DATASET" \
  --formats "$FORMATS" --deepface-python "$DEEPFACE_VENV/bin/python" ${MODELS[@]+"${MODELS[@]}"}
