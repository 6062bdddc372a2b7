"""FaceKit against deepface 0.0.103 on the same weight files.

For each model and format, seeded random weights; the reference embedding
comes from DeepFace.represent (detector "skip") on the same face crops, and
FaceKit runs the same file with `facekit represent --weights FILE --detector
skip`.
  onnx: deepface's PyTorch architecture exported to ONNX as deepface's
        published files are (export_onnx.py), deepface's ONNX client.
  h5:   deepface's Keras architecture, keras_reference.py's random weights
        saved in deepface's .h5 layout, deepface's TensorFlow client
        (keras_represent.py, run in the deepface venv).
Prints one row per model and format, and exits non-zero when a row fails the
tolerance.

usage: run.py --facekit BIN --work DIR --dataset DIR [--formats onnx,h5]
              [--deepface-python PY] [MODEL ...]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TOLERANCE = 1e-4  # max abs diff / max abs reference value
CROP_IMAGES = ["img1.jpg", "img2.jpg", "img3.jpg", "img11.jpg"]


def make_crops(dataset: str, out_dir: str) -> list:
    """Real faces from the dataset, cropped once with OpenCV's Haar cascade
    and saved losslessly, so that both sides read the same pixels."""
    import cv2

    os.makedirs(out_dir, exist_ok=True)
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    crops = []
    for name in CROP_IMAGES:
        target = os.path.join(out_dir, name.replace(".jpg", "_face.png"))
        if not os.path.exists(target):
            img = cv2.imread(os.path.join(dataset, name))
            if img is None:
                raise SystemExit(f"cannot read {name} in {dataset}")
            faces = cascade.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1.1, 10)
            if len(faces) == 0:
                raise SystemExit(f"no face found in {name}")
            x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
            cv2.imwrite(target, img[y:y + h, x:x + w])
        crops.append(target)
    return crops


def deepface_reference(name: str, weight_file: str, crops: list, home: str, runs: int):
    """Embeddings from deepface's ONNX client and its per-face forward time."""
    weights_dir = os.path.join(home, ".deepface", "weights")
    os.makedirs(weights_dir, exist_ok=True)
    link = os.path.join(weights_dir, os.path.basename(weight_file))
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.abspath(weight_file), link)

    from deepface import DeepFace
    from deepface.modules import modeling, preprocessing

    # deepface caches built models by name; a new file needs a new client.
    if hasattr(modeling, "cached_models"):
        modeling.cached_models.get("facial_recognition", {}).pop(name, None)
    refs = [DeepFace.represent(img_path=c, model_name=name, detector_backend="skip")[0]["embedding"] for c in crops]

    import cv2

    client = modeling.build_model(task="facial_recognition", model_name=name)
    face = cv2.imread(crops[0]).astype(np.float32) / 255
    w, h = client.input_shape
    batch = preprocessing.resize_image(img=face, target_size=(h, w))
    client.forward(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.forward(batch)
        times.append(time.perf_counter() - start)
    return np.array(refs, dtype=np.float64), float(np.median(times) * 1000)


def facekit_embeddings(facekit: str, name: str, weight_file: str, crops: list, env: dict, runs: int):
    out = []
    for c in crops:
        r = subprocess.run([facekit, "represent", c, "--model", name, "--weights", weight_file, "--detector", "skip", "--json"],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"facekit represent failed for {name}: {r.stderr.strip()}")
        out.append(json.loads(r.stdout)[0]["embedding"])
    r = subprocess.run([facekit, "models", "bench", name, "--weights", weight_file, "--image", crops[0], "--runs", str(runs)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"facekit models bench failed for {name}: {r.stderr.strip()}")
    median = first = second = float("nan")
    for line in r.stdout.splitlines():
        if "embedding median" in line:
            median = float(line.split("median")[1].split("ms")[0])
        if "first load" in line:
            first = float(line.split("first load")[1].split("ms")[0])
            second = float(line.split("second load")[1].split("ms")[0])
    return np.array(out, dtype=np.float64), median, first, second


def onnx_rows(args, crops, env) -> list:
    import export_onnx

    rows = []
    weights_dir = os.path.join(args.work, "onnx")
    os.makedirs(weights_dir, exist_ok=True)
    for name in args.models:
        file_name = export_onnx.MODELS[name][2]
        path = os.path.join(weights_dir, file_name)
        if not os.path.exists(path):
            export_onnx.export(name, weights_dir)
        ref, df_ms = deepface_reference(name, path, crops, os.path.join(args.work, "deepface-home"), args.runs)
        got, fk_ms, first, second = facekit_embeddings(args.facekit, name, path, crops, env, args.runs)
        if got.shape != ref.shape:
            rows.append((name, "onnx", float("inf"), fk_ms, df_ms, first, second, f"shape {got.shape} vs {ref.shape}"))
            continue
        rel = float(np.abs(got - ref).max() / np.abs(ref).max())
        rows.append((name, "onnx", rel, fk_ms, df_ms, first, second, ""))
    return rows


def keras_rows(args, crops, env) -> list:
    """Format "h5": keras_reference.py's seeded random weights in deepface's
    .h5 layout; the reference from deepface's TensorFlow backend
    (keras_represent.py, in the deepface venv: this venv has no TensorFlow);
    FaceKit through `facekit represent --weights FILE.h5`."""
    out = os.path.join(args.work, "h5-reference.json")
    tf_env = dict(os.environ, DEEPFACE_BACKEND_ENGINE="tensorflow",
                  DEEPFACE_HOME=os.path.join(args.work, "deepface-home-tf"), TF_CPP_MIN_LOG_LEVEL="3")
    os.makedirs(tf_env["DEEPFACE_HOME"], exist_ok=True)
    cmd = [args.deepface_python, os.path.join(HERE, "keras_represent.py"), "--h5-dir", os.path.join(args.work, "h5"),
           "--out", out, "--runs", str(args.runs), *crops, "--", *args.models]
    r = subprocess.run(cmd, env=tf_env, stdout=sys.stderr)
    if r.returncode != 0:
        raise RuntimeError(f"deepface's TensorFlow reference failed ({' '.join(cmd)})")
    with open(out) as f:
        refs = json.load(f)
    rows = []
    for name in args.models:
        ref = np.array(refs[name]["embeddings"], dtype=np.float64)
        got, fk_ms, first, second = facekit_embeddings(args.facekit, name, refs[name]["weights"], crops, env, args.runs)
        if got.shape != ref.shape:
            rows.append((name, "h5", float("inf"), fk_ms, refs[name]["ms"], first, second, f"shape {got.shape} vs {ref.shape}"))
            continue
        rel = float(np.abs(got - ref).max() / np.abs(ref).max())
        rows.append((name, "h5", rel, fk_ms, refs[name]["ms"], first, second, ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--facekit", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--formats", default="onnx,h5", help="comma-separated: onnx, h5")
    parser.add_argument("--deepface-python", default=os.path.expanduser("~/.cache/facekit/deepface-venv/bin/python"),
                        help="python of the deepface venv with TensorFlow (h5 rows)")
    parser.add_argument("models", nargs="*")
    args = parser.parse_args()
    import export_onnx

    args.models = args.models or list(export_onnx.MODELS)
    os.makedirs(args.work, exist_ok=True)
    crops = make_crops(args.dataset, os.path.join(args.work, "crops"))
    env = dict(os.environ, FACEKIT_HOME=os.path.join(args.work, "facekit-home"))

    formats = args.formats.split(",")
    unknown = set(formats) - {"onnx", "h5"}
    if unknown:
        raise SystemExit(f"unknown format(s) {','.join(sorted(unknown))}: use onnx, h5")
    rows = (onnx_rows(args, crops, env) if "onnx" in formats else []) + (keras_rows(args, crops, env) if "h5" in formats else [])
    print()
    print(f"{len(crops)} face crops from the dataset, detector skip; ms are medians of {args.runs} runs of one face")
    print(f"{'model':<13} {'format':<6} {'max|diff|/max|ref|':>19} {'FaceKit ms':>11} {'deepface ms':>12} {'1st load ms':>12} {'2nd load ms':>12}  result")
    failed = 0
    for name, fmt, rel, fk_ms, df_ms, first, second, note in rows:
        ok = rel <= TOLERANCE
        failed += 0 if ok else 1
        print(f"{name:<13} {fmt:<6} {rel:>19.2e} {fk_ms:>11.2f} {df_ms:>12.2f} {first:>12.1f} {second:>12.1f}  {'ok' if ok else 'FAIL'} {note}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
