#!/usr/bin/env bash
# Facial attribute analysis, FaceKit vs deepface 0.0.103, with the same weights.
#
# deepface's own attribute files (age_model_weights.h5, gender_model_weights.h5,
# race_model_single_batch.h5, facial_expression_model_weights.h5) do not reach this machine, and
# deepface cannot load FaceKit's real alternatives (age_net, gender_net: Caffe; fer: another
# architecture). So the comparable run is deepface's four models with seeded random weights, saved
# in deepface's .h5 layout by scripts/conformance/keras_reference.py (deepface's own load_model
# builds each network). Both sides then load the same four files, detect with yunet and analyse
# one image with all four actions:
#   - outputs: region, age, and every percentage, side by side (max abs difference);
#   - warm: deepface's median per analyze call inside one process (TensorFlow backend, the one
#     that reads .h5) vs FaceKit's median per image inside one process of 1+N images, from decode
#     to the last attribute (FACEKIT_PROFILE stage times; the first image is left out on both sides);
#   - cold: one whole process each, one analyze (start-up, model loading, inference).
# Also prints FaceKit's per-stage timings (FACEKIT_PROFILE) and, for reference, FaceKit with the
# real alternatives (age_net, gender_net, fer), which deepface cannot run.
#
# Usage: scripts/bench-analyze.sh [-n N] [--image IMG] [--detector D] [--out DIR]
#   -n N          warm repetitions (default 5)
#   --image IMG   default: img1.jpg of the dataset (one face)
#   --detector D  default: yunet
#   --out DIR     work folder (default /tmp/facekit-bench-analyze; random weights are cached there)
# Environment: FACEKIT_BIN (default: release build of this checkout), FACEKIT_HOME,
#              FACEKIT_DEEPFACE_VENV, FACEKIT_DEEPFACE_HOME.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_deepface-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_deepface-common.sh"

N=5
IMAGE="$DATASET_DEFAULT/img1.jpg"
DETECTOR=yunet
OUT=/tmp/facekit-bench-analyze
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N="$2"; shift 2 ;;
    --image) IMAGE="$2"; shift 2 ;;
    --detector) DETECTOR="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "-n must be a positive integer"
[[ -f "$IMAGE" ]] || die "missing image $IMAGE"
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"

FK="$(resolve_facekit_bin)"
PY="$(resolve_deepface_python)"
SHARED_DF_HOME="$(resolve_deepface_home)"
FK_MODELS="${FACEKIT_HOME:-$HOME/.facekit}/models"
mkdir -p "$OUT"

# 1. deepface's four attribute models with seeded random weights, in deepface's .h5 layout.
declare -A FILES=([Age]=age_model_weights.h5 [Gender]=gender_model_weights.h5
                  [Race]=race_model_single_batch.h5 [Emotion]=facial_expression_model_weights.h5)
missing=()
for m in "${!FILES[@]}"; do [[ -s "$OUT/random/$m/weights.h5" ]] || missing+=("$m"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "writing random-weight deepface models: ${missing[*]} (TensorFlow; a few minutes)"
  TF_CPP_MIN_LOG_LEVEL=3 "$PY" "$SCRIPTS_DIR/conformance/keras_reference.py" --out "$OUT/random" \
    --dataset "$DATASET_DEFAULT" --models "$(IFS=,; echo "${missing[*]}")" --faces 2 >&2
fi

# 2. Both homes hold the same files: every FaceKit model plus the four .h5 under deepface's names.
FKH="$OUT/facekit-home"; DFH="$OUT/deepface-home"
rm -rf "$FKH" "$DFH"; mkdir -p "$FKH/models" "$DFH/.deepface/weights"
for f in "$FK_MODELS"/*; do ln -s "$f" "$FKH/models/$(basename "$f")"; done
for f in "$SHARED_DF_HOME/.deepface/weights"/*; do ln -s "$(readlink -f "$f")" "$DFH/.deepface/weights/$(basename "$f")"; done
for m in "${!FILES[@]}"; do
  ln -s "$OUT/random/$m/weights.h5" "$FKH/models/${FILES[$m]}"
  ln -s "$OUT/random/$m/weights.h5" "$DFH/.deepface/weights/${FILES[$m]}"
done

# 3. deepface: one process, first call then N warm calls; and a cold process of one call.
log "deepface analyze ($N warm calls, TensorFlow backend)"
DEEPFACE_HOME="$DFH" DEEPFACE_BACKEND_ENGINE=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
  "$PY" "$SCRIPTS_DIR/deepface_analyze_bench.py" "$IMAGE" "$N" "$DETECTOR" > "$OUT/deepface.json" 2> "$OUT/deepface.err" \
  || { tail -5 "$OUT/deepface.err" >&2; die "deepface analyze failed"; }
DEEPFACE_HOME="$DFH" DEEPFACE_BACKEND_ENGINE=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
  /usr/bin/time -f '%e %M' -o "$OUT/deepface.cold" "$PY" "$SCRIPTS_DIR/deepface_analyze_bench.py" "$IMAGE" 0 "$DETECTOR" \
  > /dev/null 2>> "$OUT/deepface.err"

# 4. FaceKit: same files, same image; one image, then 1 + N images in one process.
log "facekit analyze (deepface's random-weight models)"
imgs=("$IMAGE"); for _ in $(seq "$N"); do imgs+=("$IMAGE"); done
FACEKIT_HOME="$FKH" "$FK" analyze "$IMAGE" --detector "$DETECTOR" --json > "$OUT/facekit.json"   # warm the page cache
FACEKIT_HOME="$FKH" /usr/bin/time -f '%e %M' -o "$OUT/facekit.cold" "$FK" analyze "$IMAGE" --detector "$DETECTOR" --json > /dev/null
FACEKIT_HOME="$FKH" FACEKIT_PROFILE=1 "$FK" analyze "${imgs[@]}" --detector "$DETECTOR" --json 2> "$OUT/facekit.profile" > /dev/null
log "facekit analyze (real alternatives: age_net, gender_net, fer)"
/usr/bin/time -f '%e %M' -o "$OUT/real.cold" "$FK" analyze "$IMAGE" --detector "$DETECTOR" --actions emotion,age,gender --json > "$OUT/real.json" 2>/dev/null
FACEKIT_PROFILE=1 "$FK" analyze "${imgs[@]}" --detector "$DETECTOR" --actions emotion,age,gender --json 2>&1 > /dev/null \
  | grep '^profile' > "$OUT/real.profile"

"$PY" - "$OUT" "$N" <<'PYEOF'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
df = json.load(open(f"{out}/deepface.json"))
fk = json.load(open(f"{out}/facekit.json"))
def timing(name):
    secs, kb = open(f"{out}/{name}").read().split()
    return float(secs), int(kb) / 1024
print(f"image faces: deepface {len(df['result'])}, FaceKit {len(fk)}")
for i, (a, b) in enumerate(zip(df["result"], fk)):
    ra, rb = a["region"], b["region"]
    print(f"face {i + 1}: region deepface {[ra[k] for k in 'xywh']} FaceKit {[rb[k] for k in 'xywh']}; "
          f"models {b['models']}")
    print(f"  age: deepface {a['age']}  FaceKit {b['age']}")
    for key in ("gender", "race", "emotion"):
        diff = max(abs(a[key][k] - b[key][k]) for k in a[key])
        print(f"  {key}: dominant deepface {a['dominant_' + key]}, FaceKit {b['dominant_' + key]}; "
              f"max |diff| {diff:.2e} percentage points")
import re, statistics
def warm(name):
    totals = [sum(float(ms) for ms in re.findall(r"([0-9.]+) ms", line))
              for line in open(f"{out}/{name}") if line.startswith("profile")]
    return statistics.median(totals[1:]), totals
df_cold, df_rss = timing("deepface.cold")
fk_cold, fk_rss = timing("facekit.cold")
fk_warm, _ = warm("facekit.profile")
print()
print("same weights (deepface's four models, random weights), one face, four actions:")
print(f"  warm per analyze: deepface {df['warm_ms']:.0f} ms, FaceKit {fk_warm:.0f} ms  -> {df['warm_ms'] / max(fk_warm, 1e-9):.1f}x")
print(f"  cold process:     deepface {df_cold:.2f} s / {df_rss:.0f} MB peak, FaceKit {fk_cold:.2f} s / {fk_rss:.0f} MB peak"
      f"  -> {df_cold / fk_cold:.1f}x")
print(f"  deepface first call inside its process (models load): {df['first_s']:.2f} s")
real_cold, real_rss = timing("real.cold")
real_warm, _ = warm("real.profile")
print("FaceKit with the real alternatives (age_net, gender_net, fer; race unavailable), not runnable by deepface:")
print(f"  warm per analyze {real_warm:.0f} ms, cold process {real_cold:.2f} s / {real_rss:.0f} MB peak")
print("FaceKit stages (FACEKIT_PROFILE, last image):")
lines = [l.strip() for l in open(f"{out}/facekit.profile") if l.startswith("profile")]
print("  " + (lines[-1] if lines else "(no profile output)"))
PYEOF
