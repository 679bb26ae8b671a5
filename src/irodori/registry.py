"""The shipped models: a plain dict of names, files and sha256 hashes.

Model files live inside the package (``irodori/models/``) and are checked against their hash
before loading, so a truncated or tampered file fails loudly instead of colouring badly.
Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_MODEL = "general-int8"  # general quantised: 3.5-4x faster network, same colours (its card)


@dataclass(frozen=True)
class ShippedModel:
    name: str
    onnx: str  # file name inside irodori/models/
    onnx_sha256: str
    weights_dir: str  # checkpoint directory inside irodori/models/ (for --init fine-tuning)
    weights_sha256: str  # sha256 of weights_dir/model.safetensors
    description: str
    card: str  # path of the model card in the repository docs


MODELS: dict[str, ShippedModel] = {
    "general": ShippedModel(
        name="general",
        onnx="general-v0.1.onnx",
        onnx_sha256="fbf2dd5ee8b53d90ad2eca7727b337c10a21727132a3fdf90b7fbfdb776b6f1a",
        weights_dir="general-v0.1",
        weights_sha256="514f52cbff4b6e0526042aa44ea52d61f4ea39b4f18a14ee930e1ecf0827f066",
        description="Photos, painted art, clip art and screentoned manga pages; trained on the open "
        "corpus (docs/DATA.md). Float32: the reference the default is measured against.",
        card="docs/models/general.md",
    ),
    "general-int8": ShippedModel(
        name="general-int8",
        onnx="general-v0.1-int8.onnx",
        onnx_sha256="18d0ad8edcdd1826ad9bc80359e73614e33bcafb971f2e1bfabf10721f6f6e09",
        weights_dir="general-v0.1",  # quantised from these weights; fine-tuning starts from them
        weights_sha256="514f52cbff4b6e0526042aa44ea52d61f4ea39b4f18a14ee930e1ecf0827f066",
        description="`general` quantised to int8: 3.5-4x faster network on CPU, the same "
        "colours within measurement (test split: PSNR +0.02 dB, colourfulness -1%).",
        card="docs/models/general-int8.md",
    ),
}


class ModelNotFoundError(FileNotFoundError):
    """A model name or path that does not exist; the message lists the shipped names."""


class ModelIntegrityError(ValueError):
    """A shipped model file whose sha256 does not match the registry."""


def models_dir() -> Path:
    return Path(str(resources.files("irodori").joinpath("models")))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, expected: str) -> Path:
    if not path.is_file():
        raise ModelNotFoundError(f"shipped model file missing: {path} (reinstall irodori)")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{path.name}: sha256 {actual[:16]}... does not match the expected {expected[:16]}...; "
            "the file is damaged or was replaced (reinstall irodori)"
        )
    return path


def get(name: str) -> ShippedModel:
    if name not in MODELS:
        raise ModelNotFoundError(f"unknown model {name!r}; shipped models: {', '.join(MODELS)}")
    return MODELS[name]


def shipped_onnx_path(name: str) -> Path:
    """Path of a shipped model's ONNX file, hash-checked."""
    info = get(name)
    return verify(models_dir() / info.onnx, info.onnx_sha256)


def resolve_init_weights(name_or_path: str) -> Path:
    """A shipped model name -> its packaged checkpoint directory (hash-checked); a path is
    returned as is (a checkpoint or run directory)."""
    if name_or_path in MODELS:
        info = MODELS[name_or_path]
        ckpt = models_dir() / info.weights_dir
        verify(ckpt / "model.safetensors", info.weights_sha256)
        return ckpt
    path = Path(name_or_path)
    if not path.exists():
        raise ModelNotFoundError(f"no such model or checkpoint: {name_or_path} (shipped: {', '.join(MODELS)})")
    return path
