"""deepface 0.0.103's analyze, timed in one process, for scripts/bench-analyze.sh.

Usage: python deepface_analyze_bench.py IMAGE REPEATS DETECTOR
Prints one JSON object: the first call's seconds (model loading included),
the median of the later calls in ms, and the first call's result.
"""
import json
import statistics
import sys
import time

from deepface import DeepFace

image, repeats, detector = sys.argv[1], int(sys.argv[2]), sys.argv[3]
actions = ("emotion", "age", "gender", "race")


def run():
    return DeepFace.analyze(image, actions=actions, detector_backend=detector, silent=True)


start = time.perf_counter()
result = run()
first = time.perf_counter() - start
times = []
for _ in range(repeats):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
print(json.dumps({"first_s": first, "warm_ms": 1000 * statistics.median(times), "result": result},
                 default=lambda v: v.item() if hasattr(v, "item") else str(v)))
