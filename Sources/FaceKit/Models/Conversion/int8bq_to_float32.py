#!/usr/bin/env python3
"""Turn an int8 block-quantized ONNX model (opset 21 DequantizeLinear with
block_size) into a float32 one that OpenCV 4.6's importer reads.

Only weights are quantized in these files: every DequantizeLinear reads
constant initializers, often followed by a Reshape with a constant shape. Both
are folded into plain float32 initializers; the graph is then saved at opset 13
(OpenCV 4.6 understands nothing newer). Used by `facekit models pull` for the
PyPI route only; the official float32 files need none of this.
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def dequantize(x, scale, zero_point, axis, block_size):
    x = x.astype(np.float32)
    zp = zero_point.astype(np.float32) if zero_point is not None else np.zeros_like(scale, dtype=np.float32)
    if scale.ndim == 0:
        return (x - zp) * scale
    axis = axis % x.ndim
    if block_size:
        # Each scale covers block_size consecutive elements along axis.
        scale = np.repeat(scale, block_size, axis=axis)
        zp = np.repeat(zp, block_size, axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, x.shape[axis])
        scale, zp = scale[tuple(index)], zp[tuple(index)]
    else:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (x - zp) * scale


def convert(src, dst):
    model = onnx.load(src)
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    folded = {}
    keep = []
    for node in graph.node:
        ins = list(node.input)
        if node.op_type == "DequantizeLinear" and all(i in consts or i == "" for i in ins):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            zp = consts.get(ins[2]) if len(ins) > 2 and ins[2] else None
            value = dequantize(consts[ins[0]], consts[ins[1]], zp, attrs.get("axis", 1), attrs.get("block_size", 0))
            folded[node.output[0]] = consts[node.output[0]] = value.astype(np.float32)
        elif node.op_type == "Reshape" and ins[0] in folded and ins[1] in consts:
            shape = [int(s) for s in consts[ins[1]]]
            src_shape = folded[ins[0]].shape
            shape = [src_shape[k] if s == 0 else s for k, s in enumerate(shape)]
            folded[node.output[0]] = consts[node.output[0]] = folded[ins[0]].reshape(shape)
        else:
            keep.append(node)
    used = {i for n in keep for i in n.input} | {o.name for o in graph.output}
    initializers = [i for i in graph.initializer if i.name in used and i.name not in folded]
    initializers += [numpy_helper.from_array(v, name) for name, v in folded.items() if name in used]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    # Initializers listed as graph inputs, and inputs nothing reads, confuse
    # older importers.
    names = {i.name for i in graph.initializer}
    read = {i for n in keep for i in n.input}
    inputs = [i for i in graph.input if i.name not in names and i.name in read]
    del graph.input[:]
    graph.input.extend(inputs)
    left = [n.op_type for n in graph.node if n.op_type in ("DequantizeLinear", "QuantizeLinear")]
    if left:
        sys.exit(f"{src}: {len(left)} quantized nodes read non-constant inputs; cannot fold")
    del model.opset_import[:]
    model.opset_import.extend([onnx.helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args()
    convert(a.src, a.dst)
