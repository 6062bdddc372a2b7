#!/usr/bin/env bash
# Creates (idempotently) the Python virtualenv that holds the *reference* library
# deepface 0.0.103, used only by FaceKit's side-by-side dev/benchmark scripts
# (scripts/deepface_eval.py, scripts/compare-deepface.sh, scripts/bench-deepface.sh).
# FaceKit itself never runs Python; nothing here is a run-time dependency.
#
# Usage:  scripts/deepface-venv.sh            # create/refresh, print the venv path last
#         FACEKIT_DEEPFACE_VENV=/some/dir scripts/deepface-venv.sh
#         scripts/deepface-venv.sh --force    # wipe and rebuild
#         scripts/deepface-venv.sh --check    # re-run the import smoke test on an existing venv
#
# Environment:
#   FACEKIT_DEEPFACE_VENV  venv location (default ~/.cache/facekit/deepface-venv)
#   PYTHON                 interpreter used to create the venv (default python3; 3.11 tested)
#
# What gets installed, and why each pin exists:
#   deepface==0.0.103          the reference version we compare against.
#   werkzeug                   deepface.commons.image_utils imports werkzeug at import time
#                              but deepface does not declare it (it only comes with Flask).
#   opencv-contrib-python-headless<5
#                              opencv 5 drops the Caffe importer (cv2.dnn.readNetFromCaffe), which
#                              the "ssd" detector needs; yunet needs cv2.FaceDetectorYN (>=4.8).
#                              The contrib flavour is the one deepface/retina-face declare, so pip
#                              does not pull a second, conflicting cv2 distribution.
#   onnxruntime                runs SFace (deepface builds an onnxruntime session for it).
#   dlib-bin                   prebuilt dlib wheel (PyPI "dlib" is an sdist needing cmake + a long
#                              C++ build); provides the Dlib model and the "dlib" detector.
#   mtcnn==1.0.0 + tensorflow + tf-keras
#                              the "mtcnn" detector; mtcnn 1.x runs on tensorflow. Once tensorflow
#                              is importable deepface picks it as its backend engine and then
#                              insists on tf-keras for tf>=2.16. We install the plain "tensorflow"
#                              dist, not "tensorflow-cpu": tf-keras declares a dependency on the
#                              name "tensorflow", so with tensorflow-cpu pip installs BOTH dists
#                              into the same site-packages/tensorflow dir (two owners of one set of
#                              files). On Linux x86_64 the plain wheel is CPU-only anyway (CUDA libs
#                              come only with tensorflow[and-cuda]) and has the same size.
#                              Set DEEPFACE_BACKEND_ENGINE=onnx to keep deepface from importing
#                              tensorflow when a run does not need mtcnn (deepface_eval.py does).
#
# Verified with this set (deepface_eval.py on the 300-pair master.csv): models SFace and Dlib
# each with detectors opencv, ssd, yunet, mtcnn and dlib all import and run on CPU. Also tried:
# mtcnn 0.1.1 runs too (through tf-keras) but gives different boxes (e.g. img3/img12 distance
# 0.644 instead of 0.596), so keep 1.0.0.
set -euo pipefail

VENV="${FACEKIT_DEEPFACE_VENV:-$HOME/.cache/facekit/deepface-venv}"
PYTHON="${PYTHON:-python3}"
FORCE=0
CHECK=0
case "${1:-}" in
  --force) FORCE=1 ;;
  --check) CHECK=1 ;;
  "") ;;
  *) echo "usage: $0 [--force|--check]" >&2; exit 64 ;;
esac

# Pinned set that was verified to import and run together (Python 3.11, x86_64, CPU only).
# Bump deliberately: the accuracy figures we compare against were measured with these.
PKGS=(
  "deepface==0.0.103"
  "werkzeug==3.1.9"
  "opencv-contrib-python-headless==4.14.0.94"
  "onnxruntime==1.32.0"
  "dlib-bin==20.0.1.post1"
  "mtcnn==1.0.0"
  "tensorflow==2.21.0"
  "tf-keras==2.21.0"
)
# A stamp of the requested set, written only after install AND smoke test succeed: when it
# matches we skip both (the smoke test imports tensorflow, ~5 s), so callers such as
# compare-deepface.sh can run this on every invocation for free.
STAMP_CONTENT="$(printf '%s\n' "${PKGS[@]}")"
STAMP="$VENV/.facekit-deepface-stamp"

log() { printf '[deepface-venv] %s\n' "$*" >&2; }

if [[ $FORCE -eq 1 && -d "$VENV" ]]; then
  log "removing $VENV (--force)"
  rm -rf "$VENV"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv at $VENV with $($PYTHON --version 2>&1)"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_CONTENT" && $CHECK -eq 0 ]]; then
  log "venv up to date (stamp matches; --check to re-test, --force to rebuild)"
  echo "$VENV"
  exit 0
fi
rm -f "$STAMP"   # a failure below must not leave a stamp claiming a good venv

if [[ $CHECK -eq 0 ]]; then
  t0=$SECONDS
  # Upgrade pip first: old pips mis-resolve the tensorflow/tf-keras/numpy set.
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # One resolver run for everything, so pip sees every constraint at once
  # (separate runs could let a later one silently replace cv2 or numpy).
  log "installing: ${PKGS[*]}"
  "$VENV/bin/python" -m pip install --quiet "${PKGS[@]}"
  # Belt and braces: some third-party packages depend on plain opencv-python; two cv2
  # distributions in one venv overwrite each other's files. Keep only the contrib-headless one.
  for other in opencv-python opencv-python-headless opencv-contrib-python; do
    if "$VENV/bin/python" -m pip show --quiet "$other" >/dev/null 2>&1; then
      log "removing conflicting $other and reinstalling the contrib-headless cv2"
      "$VENV/bin/python" -m pip uninstall --quiet -y "$other"
      "$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps \
        "opencv-contrib-python-headless==4.14.0.94"
    fi
  done
  log "pip done in $((SECONDS - t0)) s"
fi

# Smoke test: import every piece the supported model x detector combos need, and check the
# capabilities the detectors rely on. Cheap (~seconds) and catches a broken venv early.
log "smoke-testing imports"
# A throwaway DEEPFACE_HOME: importing deepface creates $DEEPFACE_HOME/.deepface/weights, and the
# smoke test must not litter the user's home (~/.deepface) with it.
SMOKE_HOME="$(mktemp -d)"
trap 'rm -rf "$SMOKE_HOME"' EXIT
DEEPFACE_HOME="$SMOKE_HOME" "$VENV/bin/python" - <<'PY'
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import cv2, onnxruntime, dlib, numpy
assert int(cv2.__version__.split(".")[0]) < 5, "opencv 5 has no Caffe importer (ssd)"
assert hasattr(cv2, "FaceDetectorYN"), "yunet needs opencv>=4.8 (cv2.FaceDetectorYN)"
assert hasattr(cv2.dnn, "readNetFromCaffe"), "ssd needs cv2.dnn.readNetFromCaffe"
assert hasattr(cv2, "CascadeClassifier"), "opencv detector needs cv2.CascadeClassifier"
import werkzeug  # undeclared deepface dependency
import tensorflow as tf, tf_keras
from mtcnn import MTCNN
from deepface import DeepFace
from deepface.commons import backend_utils
print(f"  python {sys.version.split()[0]}, numpy {numpy.__version__}, cv2 {cv2.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, dlib {dlib.__version__}, tf {tf.__version__}, "
      f"deepface {DeepFace.__version__}, backend engine {backend_utils.get_backend_engine()}",
      file=sys.stderr)
PY
printf '%s' "$STAMP_CONTENT" > "$STAMP"

# Last line of stdout is the venv path so callers can do: VENV=$(scripts/deepface-venv.sh | tail -1)
echo "$VENV"
