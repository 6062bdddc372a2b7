#!/usr/bin/env bash
# Speed/memory side-by-side: FaceKit vs deepface 0.0.103, SFace + yunet, each side a whole
# process (start-up, model loading and inference all count, as for a user running a command).
#
#   (a) cold single verify:  facekit verify A B --model SFace --detector yunet --json
#                            vs  python -c "DeepFace.verify(A, B, model_name='SFace', detector_backend='yunet')"
#   (b) 1 vs 20, one process: facekit verify BASE IMG1..IMG20 --model SFace --detector yunet --json
#                            vs  scripts/deepface_bench_loop.py (DeepFace.verify in a loop)
#   plus a warm per-pair figure: deepface's mean time per verify inside the loop excluding the
#   first call, vs FaceKit's (b) total / 20 (which still includes FaceKit's start-up, so it
#   flatters deepface).
#
# Wall time and peak RSS come from `/usr/bin/time -f '%e %M'`; each command runs N times and the
# median is reported. Before timing, each command runs once untimed so both sides start with
# their files in the page cache: "cold" here means a fresh process, not a cold disk.
#
# Usage: scripts/bench-deepface.sh [-n N] [--images DIR] [--out DIR] [--deepface-only]
#                                  [--deepface-backend onnx|auto] [--no-warmup]
#   -n N                 repetitions (default $BENCH_N or 3)
#   --images DIR         dataset dir (default /work/shared/data/deepface-dataset); uses img1.jpg,
#                        img2.jpg and the 20 images listed below
#   --out DIR            raw outputs (default /tmp/facekit-bench)
#   --deepface-only      skip FaceKit (e.g. before its binary builds)
#   --deepface-backend   onnx (default): DEEPFACE_BACKEND_ENGINE=onnx, i.e. deepface as a plain
#                        `pip install deepface` runs SFace+yunet, without importing tensorflow.
#                        Our venv also has tensorflow (for the mtcnn detector), which deepface
#                        would otherwise import at start-up; `auto` measures that configuration.
# Environment: FACEKIT_BIN (default: swift build -c release, then .build/release/facekit),
#              FACEKIT_HOME, FACEKIT_DEEPFACE_VENV, FACEKIT_DEEPFACE_HOME.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=_deepface-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_deepface-common.sh"

N="${BENCH_N:-3}"
IMAGES="$DATASET_DEFAULT"
OUT="/tmp/facekit-bench"
DF_ONLY=0
DF_BACKEND="onnx"
WARMUP=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) N="$2"; shift 2 ;;
    --images) IMAGES="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --deepface-only) DF_ONLY=1; shift ;;
    --deepface-backend) DF_BACKEND="$2"; shift 2 ;;
    --no-warmup) WARMUP=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "-n must be a positive integer"
[[ "$DF_BACKEND" == onnx || "$DF_BACKEND" == auto ]] || die "--deepface-backend must be onnx or auto"

# GNU time is the `time` package, not the shell keyword; it reports peak RSS (%M, KB).
if [[ ! -x /usr/bin/time ]]; then
  log "/usr/bin/time missing, installing the 'time' package"
  apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

# Deterministic picks: the base img1.jpg, pair partner img2.jpg, and the 20 images that follow
# img1 in version order among img<N>.jpg (img2..img21: every one has a single detectable face,
# all are used by master.csv; a fixed list keeps runs comparable over time).
A="$IMAGES/img1.jpg"
B="$IMAGES/img2.jpg"
BASE="$A"
OTHERS=()
for i in $(seq 2 21); do OTHERS+=("$IMAGES/img$i.jpg"); done
for f in "$A" "$B" "${OTHERS[@]}"; do [[ -f "$f" ]] || die "missing image $f"; done

mkdir -p "$OUT"
PY="$(resolve_deepface_python)"
export DEEPFACE_HOME
DEEPFACE_HOME="$(resolve_deepface_home)"
if [[ "$DF_BACKEND" == onnx ]]; then export DEEPFACE_BACKEND_ENGINE=onnx; else unset DEEPFACE_BACKEND_ENGINE; fi
export TF_CPP_MIN_LOG_LEVEL=3   # only matters with --deepface-backend auto; keeps logs readable
FK=""
if [[ $DF_ONLY -eq 0 ]]; then FK="$(resolve_facekit_bin)"; fi

log "N=$N, outputs in $OUT, deepface backend=$DF_BACKEND, DEEPFACE_HOME=$DEEPFACE_HOME"
# Timings on a 2-core machine are only meaningful when nothing else runs (a parallel build or
# test suite easily doubles both sides' times). Say so rather than silently print noise.
LOAD1="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
  log "warning: 1-minute load average is $LOAD1; other work on this machine will skew the timings"
fi
[[ -n "$FK" ]] && log "facekit: $FK"

# run_timed NAME CMD...: N timed runs (after one untimed warm-up), appends "wall_s rss_kb"
# lines to $OUT/NAME.times; the last run's stdout/stderr are kept as $OUT/NAME.{out,err}.
run_timed() {
  local name="$1"; shift
  : > "$OUT/$name.times"
  if [[ $WARMUP -eq 1 ]]; then
    "$@" > /dev/null 2>&1 || die "$name failed in warm-up: $* (run it by hand to see why)"
  fi
  local i
  for ((i = 1; i <= N; i++)); do
    /usr/bin/time -f '%e %M' -o "$OUT/$name.time1" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err" \
      || die "$name failed (see $OUT/$name.err)"
    cat "$OUT/$name.time1" >> "$OUT/$name.times"
    log "$name run $i/$N: $(cat "$OUT/$name.time1") (s, KB)"
  done
  rm -f "$OUT/$name.time1"
}

# (a) cold single verify
DF_ONE="from deepface import DeepFace; DeepFace.verify('$A', '$B', model_name='SFace', detector_backend='yunet')"
run_timed deepface-single "$PY" -c "$DF_ONE"
[[ -n "$FK" ]] && run_timed facekit-single "$FK" verify "$A" "$B" --model SFace --detector yunet --json

# (b) 1 vs 20 in one process
run_timed deepface-1v20 "$PY" "$SCRIPTS_DIR/deepface_bench_loop.py" "$BASE" "${OTHERS[@]}" \
  --model SFace --detector yunet
[[ -n "$FK" ]] && run_timed facekit-1v20 "$FK" verify "$BASE" "${OTHERS[@]}" --model SFace --detector yunet --json

# Table. Plain python3: medians, ratios, and deepface's own breakdown from the loop's JSON.
LOAD1="$LOAD1" python3 - "$OUT" "${#OTHERS[@]}" "$N" "$DF_BACKEND" <<'PY'
import json, os, statistics, sys
out, k, n, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def med(name):
    p = os.path.join(out, name + ".times")
    if not os.path.exists(p):
        return None, None
    rows = [l.split() for l in open(p) if l.strip()]
    rows = [r for r in rows if len(r) == 2]
    if not rows:
        return None, None
    return (statistics.median(float(r[0]) for r in rows),
            statistics.median(float(r[1]) for r in rows) / 1024.0)

def f(x, spec):
    return "-" if x is None else format(x, spec)

def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b

print(f"\nSFace + yunet, median of {n} runs, each side a whole process "
      f"(deepface backend: {backend}); ratio = deepface / facekit; "
      f"load average at start {os.environ.get('LOAD1', '?')}")
hdr = f"{'scenario':<22} {'facekit s':>9} {'deepface s':>10} {'speed x':>8} {'facekit MB':>10} {'deepface MB':>11} {'RSS x':>6}"
print(hdr); print("-" * len(hdr))
for label, name in (("cold single verify", "single"), (f"1 vs {k}, one process", "1v20")):
    ft, fm = med("facekit-" + name)
    dt, dm = med("deepface-" + name)
    print(f"{label:<22} {f(ft, '9.2f')} {f(dt, '10.2f')} {f(ratio(dt, ft), '8.1f')} "
          f"{f(fm, '10.0f')} {f(dm, '11.0f')} {f(ratio(dm, fm), '6.1f')}")

# warm per pair: deepface excludes its first call (model build); facekit = total / k
loop = None
try:
    loop = json.loads(open(os.path.join(out, "deepface-1v20.out")).read().strip().splitlines()[-1])
except Exception as e:  # noqa: BLE001
    print(f"(no deepface loop breakdown: {e})")
ft, _ = med("facekit-1v20")
fk_pair = None if ft is None else ft / k
df_pair = None if loop is None else loop["warm_mean_s"]
print(f"{'warm s per pair':<22} {f(fk_pair, '9.3f')} {f(df_pair, '10.3f')} {f(ratio(df_pair, fk_pair), '8.1f')}"
      f"   (facekit: 1v{k} total / {k}, start-up included; deepface: mean of calls 2..{k})")
if loop:
    print(f"\nwhere deepface's time goes (last 1v{k} run): import {loop['import_s']:.2f}s, "
          f"first verify {loop['first_s']:.2f}s (builds yunet + SFace), "
          f"then {loop['warm_mean_s']:.3f}s/verify (median {loop['warm_median_s']:.3f}s); "
          f"the rest of the wall time is interpreter start-up and exit")
    bad = sum(1 for v in loop["verified"] if v is None)
    if bad:
        print(f"warning: {bad} deepface verifies failed in the loop (see deepface-1v20.err)")
PY
echo "raw timings (wall_s rss_kb per run) and outputs in $OUT"
