"""Compares FaceKit's outputs with deepface's TensorFlow references and prints
one table row per model (see scripts/conformance-keras.sh)."""
import json
import os
import sys

import numpy as np

root = sys.argv[1]
failed = False
print(f"{'model':<12} {'format':<6} {'max|diff|/max|ref|':>18} {'FaceKit ms/face':>16} {'TF ms/face':>11} {'speed-up':>9} {'load ms 1st/2nd/worker':>23}  verdict")
for name in sys.argv[2:]:
    d = os.path.join(root, name)
    meta = json.load(open(os.path.join(d, "meta.json")))
    fk = json.load(open(os.path.join(d, "facekit.json")))
    ref = np.fromfile(os.path.join(d, "reference.bin"), dtype=np.float32)
    out = np.fromfile(os.path.join(d, "facekit.bin"), dtype=np.float32)
    if ref.shape != out.shape:
        print(f"{name:<12} h5     FaceKit gave {out.size} values, deepface {ref.size}  FAIL")
        failed = True
        continue
    rel = float(np.max(np.abs(out - ref)) / max(np.max(np.abs(ref)), 1e-30))
    ok = rel <= 1e-4
    failed |= not ok
    speed = meta["tf_ms_per_face"] / fk["ms_per_sample"]
    print(f"{name:<12} h5     {rel:>18.2e} {fk['ms_per_sample']:>16.2f} {meta['tf_ms_per_face']:>11.2f} {speed:>8.1f}x "
          f"{fk['first_load_ms']:>9.0f}/{fk['second_load_ms']:.2f}/{fk.get('network_from_memory_ms', float('nan')):<6.0f}  {'ok' if ok else 'FAIL'}")
sys.exit(1 if failed else 0)
