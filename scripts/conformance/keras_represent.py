"""deepface's TensorFlow side of the .h5 rows of scripts/conformance.sh.

Run in the deepface venv (deepface 0.0.103 + TensorFlow/tf_keras), as a
subprocess of run.py, with DEEPFACE_BACKEND_ENGINE=tensorflow and a
DEEPFACE_HOME of its own. Per model: the seeded random weights of
keras_reference.py are saved once (deepface's .h5 layout, save_weights) under
the file name deepface's tf client loads, linked into
DEEPFACE_HOME/.deepface/weights, and deepface loads them itself through
DeepFace.represent(img_path=crop, model_name=M, detector_backend="skip").
Writes one JSON: {model: {"weights", "embeddings", "ms"}}.

usage: keras_represent.py --h5-dir DIR --out FILE.json [--runs N] CROP ... -- MODEL ...
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import keras_reference  # noqa: E402  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np  # noqa: E402

# The file each deepface tf client asks download_weights_if_necessary for.
H5_FILES = {
    "VGG-Face": "vgg_face_weights.h5",
    "Facenet": "facenet_weights.h5",
    "Facenet512": "facenet512_weights.h5",
    "ArcFace": "arcface_weights.h5",
    "GhostFaceNet": "ghostfacenet_v1.h5",
    "OpenFace": "openface_weights.h5",
    "DeepID": "deepid_keras_weights.h5",
}


def random_h5(name: str, h5_dir: str, seed: int) -> str:
    """keras_reference's seeded weights for this model, saved once."""
    path = os.path.join(h5_dir, H5_FILES[name])
    if not os.path.exists(path):
        import tf_keras

        module_name, loader = keras_reference.MODELS[name][:2]
        keras_reference.deepface_model(module_name, loader, path + ".tmp.h5", seed)
        os.replace(path + ".tmp.h5", path)
        tf_keras.backend.clear_session()
    return path


def reference(name: str, weights: str, crops: list, runs: int):
    from deepface import DeepFace
    from deepface.commons import folder_utils
    from deepface.modules import modeling, preprocessing

    weights_dir = os.path.join(folder_utils.get_deepface_home(), ".deepface", "weights")
    os.makedirs(weights_dir, exist_ok=True)
    link = os.path.join(weights_dir, H5_FILES[name])
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.abspath(weights), link)
    if hasattr(modeling, "cached_models"):
        modeling.cached_models.get("facial_recognition", {}).pop(name, None)
    refs = [DeepFace.represent(img_path=c, model_name=name, detector_backend="skip")[0]["embedding"] for c in crops]

    # Per-face forward time of the tf client, as run.py times the ONNX one.
    import cv2

    client = modeling.build_model(task="facial_recognition", model_name=name)
    w, h = client.input_shape
    batch = preprocessing.resize_image(img=cv2.imread(crops[0]), target_size=(h, w))  # divides by 255
    client.forward(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.forward(batch)
        times.append(time.perf_counter() - start)
    return refs, float(np.median(times) * 1000)


def main() -> None:
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--h5-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("crops", nargs="+")
    args = parser.parse_args(argv[:split])
    models = argv[split + 1:]
    if os.environ.get("DEEPFACE_BACKEND_ENGINE") != "tensorflow":
        sys.exit("keras_represent.py: DEEPFACE_BACKEND_ENGINE must be tensorflow")
    os.makedirs(args.h5_dir, exist_ok=True)
    result = {}
    for name in models:
        weights = random_h5(name, args.h5_dir, args.seed)
        refs, ms = reference(name, weights, args.crops, args.runs)
        result[name] = {"weights": os.path.abspath(weights), "embeddings": refs, "ms": ms}
        print(f"{name}: deepface (TF) {ms:.2f} ms/face", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
