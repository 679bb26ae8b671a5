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

DEFAULT_MODEL = "general-int8"  # general quantised: 3.5x faster network, same colours (its card)


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
        onnx="general-v0.2.onnx",
        onnx_sha256="127c3b4ed8be6202d3a61f403d497d7da663c5e9c64847d67f178c565a2693f5",
        weights_dir="general-v0.2",
        weights_sha256="11dceeb3a740d4ff49c16b8a4fa93a9cb781d5f0c8fdd3acd87b669ff7101d10",
        description="Photos and art of every kind (painted, flat, line art), and manga pages; trained "
        "on the full open corpus (docs/DATA-full.md). Float32: the reference of general-int8.",
        card="docs/models/general.md",
    ),
    "general-int8": ShippedModel(
        name="general-int8",
        onnx="general-v0.2-int8.onnx",
        onnx_sha256="679e1ed6d2704904911ec3fb928669930263e21b11cb24220d13c29d3264c8b6",
        weights_dir="general-v0.2",  # quantised from these weights; fine-tuning starts from them
        weights_sha256="11dceeb3a740d4ff49c16b8a4fa93a9cb781d5f0c8fdd3acd87b669ff7101d10",
        description="`general` quantised to int8: 3.5x faster network on CPU, the same colours "
        "within measurement (held-out photos: PSNR +0.00 dB; manga pages: +0.16 dB).",
        card="docs/models/general-int8.md",
    ),
    "manga": ShippedModel(
        name="manga",
        onnx="manga-v0.2.onnx",
        onnx_sha256="c9bdc1a72eabc13c04e40576cbf8ce46c84a54367539e950b7ed2f2f566a4aea",
        weights_dir="manga-v0.2",
        weights_sha256="3f35f1fa842d7eb5b897ba085b6a11623b97795a092b8476880b516b349c326d",
        description="Printed manga and comic pages (screentone, inked lines, grey scans): `general` "
        "trained further on the corpus's art rendered as manga pages. Float32.",
        card="docs/models/manga.md",
    ),
    "manga-int8": ShippedModel(
        name="manga-int8",
        onnx="manga-v0.2-int8.onnx",
        onnx_sha256="65f65794dc23ba152b8b5052863c0581d911e7e4f51473ceeb5fb8439fd870ec",
        weights_dir="manga-v0.2",  # quantised from these weights; fine-tuning starts from them
        weights_sha256="3f35f1fa842d7eb5b897ba085b6a11623b97795a092b8476880b516b349c326d",
        description="`manga` quantised to int8: 3.6x faster network on CPU, the same colours "
        "within measurement (held-out manga pages: PSNR +0.00 dB).",
        card="docs/models/manga-int8.md",
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
