"""Builds deepface 0.0.103's PyTorch recognition models with seeded random
weights and exports each to ONNX the way deepface's published .onnx files
take input: channels last (n, h, w, 3), BGR, float32, batch axis dynamic.

Random weights, because deepface's real files cannot be downloaded here: the
point is that FaceKit and deepface compute the same function of the same file.

usage: export_onnx.py OUT_DIR [MODEL ...]   (recognition models, or Age, Gender, Race, Emotion)
"""
import importlib
import os
import sys

import numpy as np
import torch
from torch import nn

# deepface name -> (module under deepface.models.facial_recognition.pytorch, builder, file name, (h, w))
MODELS = {
    "VGG-Face": ("VGGFace", lambda m: m.VggFaceDescriptor(m.base_model()), "vgg_face_weights.onnx", (224, 224)),
    "Facenet": ("Facenet", lambda m: m.InceptionResNetV1(), "facenet_weights.onnx", (160, 160)),
    "Facenet512": ("Facenet", lambda m: m.InceptionResNetV1(dimension=512), "facenet512_weights.onnx", (160, 160)),
    "ArcFace": ("ArcFace", lambda m: m.base_model(), "arcface_weights.onnx", (112, 112)),
    "GhostFaceNet": ("GhostFaceNet", lambda m: m.base_model(), "ghostfacenet_v1.onnx", (112, 112)),
    "OpenFace": ("OpenFace", lambda m: m.OpenFaceNet(), "openface_weights.onnx", (96, 96)),
    # deepface's DeepID input_shape is (47, 55) as (w, h): its tensors are 55 high, 47 wide.
    "DeepID": ("DeepID", lambda m: m.DeepIdNet(), "deepid_weights.onnx", (55, 47)),
}


# deepface's demography models (issue 4): name -> (module, file name, side, channels).
# The ONNX rewrite was checked on these exports against ONNX Runtime
# (max |diff| / max |ref| <= 6e-7); deepface's clients and their
# preprocessing are issue 4's.
DEMOGRAPHY = {
    "Age": ("Age", "age_model_weights.onnx", 224, 3),
    "Gender": ("Gender", "gender_model_weights.onnx", 224, 3),
    "Race": ("Race", "race_model_single_batch.onnx", 224, 3),
    "Emotion": ("Emotion", "facial_expression_model_weights.onnx", 48, 1),
}


def randomize(model: nn.Module, seed: int) -> None:
    """Seeded random values in every parameter and buffer, scaled so that
    activations stay in a sane range through deep stacks (a plain N(0, 1)
    would overflow float32 in VGG's 16 layers)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if not p.is_floating_point():
                continue
            if name.endswith("running_var"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.75)
            elif name.endswith("running_mean") or name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
            else:  # batch-norm gamma, PReLU slopes
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.75)


class ChannelsLast(nn.Module):
    """deepface's ONNX graphs take (n, h, w, 3): the permute is inside the graph."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


def export(name: str, out_dir: str, seed: int = 1234, opset: int = 17) -> str:
    module_name, build, file_name, (h, w) = MODELS[name]
    module = importlib.import_module(f"deepface.models.facial_recognition.pytorch.{module_name}")
    model = build(module)
    randomize(model, seed + sum(map(ord, name)))
    model.eval()
    wrapped = ChannelsLast(model).eval()
    path = os.path.join(out_dir, file_name)
    dummy = torch.rand(1, h, w, 3)
    torch.onnx.export(
        wrapped, dummy, path, opset_version=opset, input_names=["input"], output_names=["embedding"],
        dynamic_axes={"input": {0: "n"}, "embedding": {0: "n"}}, do_constant_folding=True)
    return path


def export_demography(name: str, out_dir: str, seed: int = 1234, opset: int = 17) -> str:
    module_name, file_name, side, channels = DEMOGRAPHY[name]
    module = importlib.import_module(f"deepface.models.demography.pytorch.{module_name}")
    model = module.base_model()
    randomize(model, seed + sum(map(ord, name)))
    wrapped = ChannelsLast(model.eval()).eval()
    path = os.path.join(out_dir, file_name)
    torch.onnx.export(
        wrapped, torch.rand(1, side, side, channels), path, opset_version=opset, input_names=["input"],
        output_names=["output"], dynamic_axes={"input": {0: "n"}, "output": {0: "n"}}, do_constant_folding=True)
    return path


def main() -> None:
    out_dir = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        path = export_demography(name, out_dir) if name in DEMOGRAPHY else export(name, out_dir)
        print(name, path, flush=True)


if __name__ == "__main__":
    main()
