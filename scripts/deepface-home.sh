#!/usr/bin/env bash
# Builds a DEEPFACE_HOME whose .deepface/weights/ are symlinks to FaceKit's own model files,
# so deepface and FaceKit run with byte-identical weights in every side-by-side comparison.
# (deepface looks for each weight file under $DEEPFACE_HOME/.deepface/weights/<name> and only
# downloads it when missing; this machine has no internet, so a missing link = a failed run.)
#
# Usage:  scripts/deepface-home.sh              # prints the DEEPFACE_HOME path as the last line
#         export DEEPFACE_HOME=$(scripts/deepface-home.sh | tail -1)
#
# Environment:
#   FACEKIT_HOME           FaceKit's home; its models/ dir is the source (default ~/.facekit)
#   FACEKIT_DEEPFACE_HOME  where to build the deepface home (default ~/.cache/facekit/deepface-home)
#   FACEKIT_DEEPFACE_VENV  deepface venv, only used to check opencv's bundled haar cascades
#
# Exit status: 0 when every file is linked, 1 when some FaceKit model file is missing
# (the others are still linked, so detectors that need only those keep working).
set -euo pipefail

FK_HOME="${FACEKIT_HOME:-$HOME/.facekit}"
MODELS="$FK_HOME/models"
DF_HOME="${FACEKIT_DEEPFACE_HOME:-$HOME/.cache/facekit/deepface-home}"
WEIGHTS="$DF_HOME/.deepface/weights"
VENV="${FACEKIT_DEEPFACE_VENV:-$HOME/.cache/facekit/deepface-venv}"

# FaceKit file name == deepface file name for all of these (deepface's own names), so the
# mapping is the identity. Who uses what:
#   face_detection_yunet_2023mar.onnx          detector yunet (float32; opencv's FaceDetectorYN)
#   face_recognition_sface_2021dec.onnx        model SFace (float32; run by onnxruntime)
#   dlib_face_recognition_resnet_model_v1.dat  model Dlib
#   shape_predictor_5_face_landmarks.dat       detector dlib (landmarks/alignment)
#   deploy.prototxt + res10_300x300_ssd_iter_140000.caffemodel   detector ssd
#   haarcascade_frontalface_default.xml + haarcascade_eye.xml    detector opencv (see note below)
FILES=(
  face_detection_yunet_2023mar.onnx
  face_recognition_sface_2021dec.onnx
  dlib_face_recognition_resnet_model_v1.dat
  shape_predictor_5_face_landmarks.dat
  deploy.prototxt
  res10_300x300_ssd_iter_140000.caffemodel
  haarcascade_frontalface_default.xml
  haarcascade_eye.xml
)

log() { printf '[deepface-home] %s\n' "$*" >&2; }

mkdir -p "$WEIGHTS"
# Absolute target paths: relative links would break if DF_HOME is moved or reached via a symlink.
MODELS_ABS=""
if [[ -d "$MODELS" ]]; then MODELS_ABS="$(cd "$MODELS" && pwd -P)"; fi
if [[ -z "$MODELS_ABS" ]]; then
  log "FaceKit models dir $MODELS does not exist (run 'facekit models pull' first)"
fi

missing=0
for f in "${FILES[@]}"; do
  dst="$WEIGHTS/$f"
  src="${MODELS_ABS:+$MODELS_ABS/$f}"
  if [[ -n "$src" && -f "$src" ]]; then
    # ln -sfn replaces a stale link or a file deepface may have downloaded earlier, so a
    # home built once always follows the *current* FaceKit files.
    if [[ -e "$dst" && ! -L "$dst" ]]; then log "replacing regular file $dst with a link"; fi
    ln -sfn "$src" "$dst"
    log "linked $f -> $src"
  else
    # Leave no stale link behind: a dangling or old link would make deepface use (or try to
    # download) something FaceKit does not have, and the comparison would be meaningless.
    [[ -L "$dst" ]] && rm -f "$dst"
    log "MISSING $MODELS/$f"
    missing=1
  fi
done

# deepface's opencv detector loads the haar cascades from opencv-python's own cv2/data/ first
# and falls back to the weights dir only when they are absent there, so the links above are
# not what it reads. The two copies have been identical so far; verify instead of assuming.
if [[ -x "$VENV/bin/python" && -n "$MODELS_ABS" ]]; then
  cvdata="$("$VENV/bin/python" -c 'import os, cv2; print(os.path.join(os.path.dirname(cv2.__file__), "data"))' 2>/dev/null || true)"
  for f in haarcascade_frontalface_default.xml haarcascade_eye.xml; do
    if [[ -f "$cvdata/$f" && -f "$MODELS_ABS/$f" ]]; then
      if cmp -s "$cvdata/$f" "$MODELS_ABS/$f"; then
        log "$f: opencv-python's copy (used by deepface) is identical to FaceKit's"
      else
        log "WARNING: $f differs between $cvdata and $MODELS_ABS; deepface's opencv detector uses the former"
      fi
    fi
  done
fi

[[ $missing -eq 1 ]] && log "some files are missing; detectors/models needing them will fail in deepface"
echo "$DF_HOME"
exit $missing
