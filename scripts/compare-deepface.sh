#!/usr/bin/env bash
# Accuracy side-by-side: FaceKit vs the reference deepface 0.0.103 on the same pairs, with the
# same weights (deepface's DEEPFACE_HOME links to FaceKit's model files, see deepface-home.sh).
#
# For every model x detector it runs
#   facekit evaluate --pairs CSV --images DIR --model M --detector D --json --per-pair
#   <venv>/bin/python scripts/deepface_eval.py --pairs CSV --images DIR --model M --detector D
# and prints, per combination: both accuracies, decision agreement %, max |distance diff|.
# The parsing/comparison lives in scripts/compare_deepface_parse.py (plain python3, no venv).
#
# Usage: scripts/compare-deepface.sh [options]
#   --pairs CSV        pairs file (default $FACEKIT_DEEPFACE_DATASET/master.csv)
#   --images DIR       image dir (default $FACEKIT_DEEPFACE_DATASET = /work/shared/data/deepface-dataset)
#   --models "A B"     default "SFace Dlib"
#   --detectors "..."  default "opencv ssd yunet mtcnn dlib"
#   --out DIR          raw outputs + summary.csv (default /tmp/facekit-compare)
#   --fresh            re-run deepface even if its CSV for a combination is already in --out.
#                      deepface is the slow, unchanging side (minutes per combination for
#                      mtcnn/dlib), so by default its results are reused; pass --fresh after
#                      changing the pairs, the weights or the venv.
# Environment: FACEKIT_BIN (default: swift build -c release), FACEKIT_HOME (FaceKit's models),
#              FACEKIT_DEEPFACE_VENV, FACEKIT_DEEPFACE_HOME.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_deepface-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_deepface-common.sh"

PAIRS="$DATASET_DEFAULT/master.csv"
IMAGES="$DATASET_DEFAULT"
MODELS="SFace Dlib"
DETECTORS="opencv ssd yunet mtcnn dlib"
OUT="/tmp/facekit-compare"
FRESH=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pairs) PAIRS="$2"; shift 2 ;;
    --images) IMAGES="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --detectors) DETECTORS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ -f "$PAIRS" ]] || die "no pairs file $PAIRS"
[[ -d "$IMAGES" ]] || die "no image dir $IMAGES"
mkdir -p "$OUT"

FK="$(resolve_facekit_bin)"
PY="$(resolve_deepface_python)"
export DEEPFACE_HOME
DEEPFACE_HOME="$(resolve_deepface_home)"
log "facekit: $FK"
log "deepface: $PY (DEEPFACE_HOME=$DEEPFACE_HOME)"

# The evaluate CLI has spelled the detector option both --detector and --detectors (it takes a
# comma list); use whichever this binary's help documents.
DET_OPT="--detector"
if "$FK" evaluate --help 2>&1 | grep -q -- '--detectors'; then DET_OPT="--detectors"; fi

ROWS=()
for m in $MODELS; do
  for d in $DETECTORS; do
    fk_json="$OUT/facekit-$m-$d.json"
    df_csv="$OUT/deepface-$m-$d.csv"

    # FaceKit side. A failing run is recorded (the parser then prints n/a for this row)
    # instead of aborting the whole matrix.
    t0=$SECONDS
    if "$FK" evaluate --pairs "$PAIRS" --images "$IMAGES" --model "$m" "$DET_OPT" "$d" \
         --json --per-pair > "$fk_json" 2> "$OUT/facekit-$m-$d.err"; then
      log "$m/$d facekit: $((SECONDS - t0)) s"
    else
      log "$m/$d facekit FAILED after $((SECONDS - t0)) s (see $OUT/facekit-$m-$d.err)"
    fi

    # deepface side (cached unless --fresh).
    if [[ $FRESH -eq 0 && -s "$df_csv" ]]; then
      log "$m/$d deepface: reusing $df_csv (--fresh to re-run)"
    else
      t0=$SECONDS
      if "$PY" "$SCRIPTS_DIR/deepface_eval.py" --pairs "$PAIRS" --images "$IMAGES" \
           --model "$m" --detector "$d" --out "$df_csv.tmp" --quiet \
           > "$OUT/deepface-$m-$d.log" 2>&1; then
        mv "$df_csv.tmp" "$df_csv"   # only a complete run replaces a cached result
        log "$m/$d deepface: $((SECONDS - t0)) s ($(grep -m1 '^time:' "$OUT/deepface-$m-$d.log" || true))"
      else
        log "$m/$d deepface FAILED after $((SECONDS - t0)) s (see $OUT/deepface-$m-$d.log)"
        rm -f "$df_csv.tmp"
      fi
    fi
    ROWS+=(--row "$m" "$d" "$fk_json" "$df_csv")
  done
done

echo
echo "FaceKit vs deepface 0.0.103 on $PAIRS (cosine, align=True, enforce_detection=True)"
python3 "$SCRIPTS_DIR/compare_deepface_parse.py" --pairs "$PAIRS" "${ROWS[@]}" --csv "$OUT/summary.csv"
echo "raw outputs and summary.csv in $OUT"
