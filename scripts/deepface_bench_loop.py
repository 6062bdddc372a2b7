#!/usr/bin/env python3
"""deepface side of bench-deepface.sh's 1-vs-N scenario (run INSIDE the deepface venv).

Verifies BASE against each of IMG... with DeepFace.verify in one process, the way a Python
user would loop, and prints one JSON line with where the time went:
  import_s     `from deepface import DeepFace`
  first_s      the first verify (includes building the detector + recognition models)
  warm_mean_s  mean of verifies 2..N (models cached inside deepface)
  warm_median_s, per_call_s, distances, verified
A failing verify (e.g. no face) is recorded as null and does not stop the loop, so the timing
still covers N calls.
"""
import argparse
import json
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("images", nargs="+")
ap.add_argument("--model", default="SFace")
ap.add_argument("--detector", default="yunet")
args = ap.parse_args()

t = time.perf_counter()
from deepface import DeepFace  # noqa: E402  (timed on purpose)
import_s = time.perf_counter() - t

per_call, distances, verified = [], [], []
for img in args.images:
    t = time.perf_counter()
    try:
        r = DeepFace.verify(args.base, img, model_name=args.model, detector_backend=args.detector)
        distances.append(float(r["distance"]))
        verified.append(bool(r["verified"]))
    except Exception as e:  # noqa: BLE001
        print(f"verify {img} failed: {e}", file=sys.stderr)
        distances.append(None)
        verified.append(None)
    per_call.append(time.perf_counter() - t)

warm = per_call[1:]
print(json.dumps({
    "import_s": import_s,
    "first_s": per_call[0],
    "warm_mean_s": statistics.mean(warm) if warm else None,
    "warm_median_s": statistics.median(warm) if warm else None,
    "per_call_s": per_call,
    "distances": distances,
    "verified": verified,
    "backend": os.environ.get("DEEPFACE_BACKEND_ENGINE", "auto"),
}))
