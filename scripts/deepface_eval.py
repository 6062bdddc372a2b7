#!/usr/bin/env python3
"""Reference evaluation with deepface (run INSIDE the deepface venv, see scripts/deepface-venv.sh).

Runs DeepFace.verify (cosine, align=True, enforce_detection=True unless told otherwise) on every
pair of a pairs CSV (columns file_x,file_y,Decision with Decision Yes/No) and writes one row per
pair:

    file_x,file_y,label,distance,verified,threshold,error

label is 1 for Yes (same person), 0 for No. A pair deepface cannot process (e.g. no face found
with enforce_detection=True) gets an empty distance/verified and the exception text in `error`;
it is counted as an error, i.e. as a wrong decision, in the accuracy (the denominator is all
pairs), so a detector that finds fewer faces cannot look better by dropping hard pairs.

Why enforce_detection matters: deepface pads every image with a black border of half its size
before detecting when align=True, and on the padded img13.jpg/img14.jpg of deepface's test set
the ssd detector's confidence drops below its 0.90 cut-off (0.85/0.89; 0.997/0.97 unpadded), so
with enforce_detection=True all 47 pairs using them are errors (SFace/ssd 84.33%, Dlib/ssd
67.67%). deepface's published-style figures (SFace/ssd 99.33%, Dlib/ssd 81.67%) are what
--enforce-detection false gives: those pairs then fall back to the whole image.

This is a dev/benchmark tool: FaceKit never depends on Python at run time.

Example:
    VENV=$(scripts/deepface-venv.sh | tail -1)
    export DEEPFACE_HOME=$(scripts/deepface-home.sh | tail -1)
    $VENV/bin/python scripts/deepface_eval.py --pairs DATA/master.csv --images DATA \
        --model SFace --detector yunet --out /tmp/deepface-ref/SFace-yunet.csv
"""
import argparse
import csv
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", required=True, help="CSV with file_x,file_y,Decision (Yes/No)")
    p.add_argument("--images", required=True, help="directory the file names are relative to")
    p.add_argument("--model", default="SFace", help="deepface model_name (SFace, Dlib, ...)")
    p.add_argument("--detector", default="yunet", help="deepface detector_backend")
    p.add_argument("--metric", default="cosine", help="distance metric (default cosine)")
    p.add_argument("--enforce-detection", choices=["true", "false"], default="true",
                   help="deepface's enforce_detection (default true: a pair without a detected "
                   "face is an error). false makes deepface embed the whole image instead, "
                   "which is how deepface's own benchmarks count such pairs")
    p.add_argument("--out", help="per-pair results CSV (default: none)")
    p.add_argument("--limit", type=int, default=0, help="only the first N pairs (quick checks)")
    p.add_argument("--deepface-home", help="sets DEEPFACE_HOME before deepface is imported "
                   "(default: the DEEPFACE_HOME env var; see scripts/deepface-home.sh)")
    p.add_argument("--quiet", action="store_true", help="no per-pair progress on stderr")
    return p.parse_args()


def load_pairs(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    pairs = []
    for i, r in enumerate(rows, start=2):  # line numbers as an editor shows them
        decision = (r.get("Decision") or "").strip().lower()
        if decision not in ("yes", "no"):
            sys.exit(f"{path}:{i}: Decision must be Yes or No, got {r.get('Decision')!r}")
        pairs.append((r["file_x"].strip(), r["file_y"].strip(), 1 if decision == "yes" else 0))
    return pairs


def main():
    args = parse_args()
    if args.deepface_home:
        os.environ["DEEPFACE_HOME"] = os.path.abspath(args.deepface_home)
    if "DEEPFACE_HOME" not in os.environ:
        # Without it deepface reads ~/.deepface/weights and tries to download what is missing,
        # which fails offline and, worse, may use weights different from FaceKit's.
        print("warning: DEEPFACE_HOME is not set; deepface will use ~/.deepface "
              "(run scripts/deepface-home.sh to share FaceKit's weights)", file=sys.stderr)
    # SFace and Dlib (and every detector but mtcnn) do not depend on deepface's backend engine,
    # but with tensorflow installed deepface would import it at `import deepface` (seconds and
    # hundreds of MB for nothing). Results are identical either way; an explicit env var wins.
    if args.detector != "mtcnn":
        os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    pairs = load_pairs(args.pairs)
    if args.limit:
        pairs = pairs[: args.limit]

    t_import = time.perf_counter()
    from deepface import DeepFace  # imported late: env vars above must be set first
    t_import = time.perf_counter() - t_import

    results = []
    t_first = None
    t0 = time.perf_counter()
    for n, (fx, fy, label) in enumerate(pairs, 1):
        ts = time.perf_counter()
        row = {"file_x": fx, "file_y": fy, "label": label, "distance": "", "verified": "",
               "threshold": "", "error": ""}
        try:
            r = DeepFace.verify(
                img1_path=os.path.join(args.images, fx),
                img2_path=os.path.join(args.images, fy),
                model_name=args.model,
                detector_backend=args.detector,
                distance_metric=args.metric,
                enforce_detection=args.enforce_detection == "true",
                align=True,
                silent=True,
            )
            row.update(distance=f"{float(r['distance']):.6f}", verified=int(bool(r["verified"])),
                       threshold=f"{float(r['threshold']):.6f}")
        except Exception as e:  # noqa: BLE001 - any failure of a pair is data, not a crash
            # deepface wraps the real reason (e.g. FaceNotDetected) in a generic ValueError;
            # keep the whole chain, on one line so the CSV stays easy to read
            chain, cur = [], e
            while cur is not None and len(chain) < 4:
                chain.append(f"{type(cur).__name__}: {cur}")
                cur = cur.__cause__ or cur.__context__
            row["error"] = " <- ".join(chain).replace("\n", " ")[:400]
        if t_first is None:
            t_first = time.perf_counter() - ts  # includes model + detector build
        results.append(row)
        if not args.quiet:
            status = row["error"][:60] if row["error"] else f"d={row['distance']} v={row['verified']}"
            print(f"[{n}/{len(pairs)}] {fx} {fy} label={label} {status}", file=sys.stderr)
    total = time.perf_counter() - t0

    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["file_x", "file_y", "label", "distance",
                                              "verified", "threshold", "error"])
            w.writeheader()
            w.writerows(results)

    tp = sum(1 for r in results if r["verified"] == 1 and r["label"] == 1)
    tn = sum(1 for r in results if r["verified"] == 0 and r["label"] == 0)
    fp = sum(1 for r in results if r["verified"] == 1 and r["label"] == 0)
    fn = sum(1 for r in results if r["verified"] == 0 and r["label"] == 1)
    err = sum(1 for r in results if r["error"])
    n = len(results)
    acc = 100.0 * (tp + tn) / n if n else 0.0
    warm = (total - t_first) / (n - 1) if n > 1 else float("nan")
    print(f"model={args.model} detector={args.detector} metric={args.metric} "
          f"enforce_detection={args.enforce_detection} "
          f"backend={os.environ.get('DEEPFACE_BACKEND_ENGINE', 'auto')} pairs={n}")
    print(f"accuracy={acc:.2f}% TP={tp} TN={tn} FP={fp} FN={fn} errors={err}")
    # where the time goes: import, first pair (includes building models), steady-state pairs
    print(f"time: import {t_import:.2f}s, first pair {t_first or 0:.2f}s, "
          f"then {warm:.3f}s/pair, total {total:.1f}s")
    if args.out:
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
