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

AUTO_MODEL = "auto"  # the default choice: DEFAULT_MODEL tints, DEFAULT_PAINT_MODEL paints, per image
DEFAULT_PAINT_MODEL = "manga-int8"  # paints B&W pages when the detector sees ink on paper (paint mode)
DEFAULT_MODEL = "general-int8"  # general quantised: about 3x faster network, nearly the same colours (its card)


@dataclass(frozen=True)
class ShippedModel:
    name: str
    onnx: str  # file name inside irodori/models/
    onnx_sha256: str
    weights_dir: str  # checkpoint directory inside irodori/models/ (for --init fine-tuning)
    weights_sha256: str  # sha256 of weights_dir/model.safetensors
    description: str
    card: str  # path of the model card in the repository docs
    # The .onnx file holds the graph alone and reads its weights from weights_dir/model.safetensors
    # (ONNX external data; scripts/ship_model.py): both files are hash-checked before loading.
    onnx_reads_weights: bool = False
    paints: bool = False  # it predicts l_paint too: it can paint as well as tint (paint mode)


def _int8_copy(model: ShippedModel, *, onnx_sha256: str, description: str) -> ShippedModel:
    """The int8 copy of a shipped model (``scripts/quantize_model.py``): its own ONNX file,
    ``<float file stem>-int8.onnx``; fine-tuning starts from the float model's weights."""
    return ShippedModel(
        name=f"{model.name}-int8",
        onnx=f"{Path(model.onnx).stem}-int8.onnx",
        onnx_sha256=onnx_sha256,
        weights_dir=model.weights_dir,
        weights_sha256=model.weights_sha256,
        description=description,
        card=f"docs/models/{model.name}-int8.md",
        paints=model.paints,
    )


# scripts/ship_model.py rewrites a float model's files and hashes, scripts/quantize_model.py the
# sha256 of its int8 copy.
_GENERAL = ShippedModel(
    name="general",
    onnx="general-v0.3.onnx",
    onnx_sha256="b4b4c50de1df2ddc43fead654ce47b5e358f571f1d0eb919b6eef1a6ea9a952e",
    weights_dir="general-v0.3",
    weights_sha256="4458349aec747d7b6846623de30169359e765b1f23ed408d555f2689e521bba8",
    description="Photos and art of every kind (painted, flat, line art), and manga pages; trained "
    "on the full open corpus (its card tells which). Float32: the reference of general-int8.",
    card="docs/models/general.md",
    onnx_reads_weights=True,
)
_MANGA = ShippedModel(
    name="manga",
    onnx="manga-v0.6.onnx",
    onnx_sha256="a80be3b37fd317c108775e0d4c01964978e3f3aa8a7492f72cf0b8856a47a438",
    weights_dir="manga-v0.6",
    weights_sha256="9e513e603b809bbcb6404fc246f65a2127ef93997d88b5d0dfe992cdc3a20949",
    description="Black-and-white manga and comic pages, line art and 1-bit scans, painted (ink kept, "
    "paper and screentone coloured) or tinted: v0.6, a paint head grown on `manga` v0.3, trained on the corpus's "
    "art printed as B&W pages and on OpenMoji line art, with a lightness head for pages and one for line art. "
    "Float32: the reference of manga-int8.",
    card="docs/models/manga.md",
    onnx_reads_weights=True,
    paints=True,
)
MODELS: dict[str, ShippedModel] = {
    model.name: model
    for model in (
        _GENERAL,
        _int8_copy(
            _GENERAL,
            onnx_sha256="6eb4aa6339158dc24d6d52d2ef25a8cb6ff1d647a7bd3e1df8a06d9c5aba6a0c",
            description="`general` quantised to int8: about 3x faster network on CPU, nearly the same "
            "colours (held-out photos: PSNR +0.06 dB; manga pages: +0.10 dB).",
        ),
        _MANGA,
        _int8_copy(
            _MANGA,
            onnx_sha256="658077031f27bcd95bcf8e28513a9dbdce7c17ad9616ba59891880b5916b56ed",
            description="`manga` quantised to int8 (7-bit weights): a network 2.6-5.4x faster on CPU, by CPU, "
            "nearly the same paint-mode colours (paint validation sets: PSNR -0.06 to +0.03 dB). The default "
            "for ink on paper.",
        ),
    )
}


class ModelError(ValueError):
    """A model that cannot be used: unreadable or malformed files, an interface that is not
    irodori's, or colour that is not finite. The message names the model (its file, where it has
    one) and what is wrong. It is the model's fault, never one image's: a batch stops on it."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model name or path that does not exist; the message lists the shipped names. A
    ModelError (``except ModelError`` takes every model problem) and a FileNotFoundError."""


class ModelIntegrityError(ModelError):
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
    """Path of a shipped model's ONNX file, hash-checked (and the weights file it reads, if it
    reads one)."""
    info = get(name)
    if info.onnx_reads_weights:
        verify(models_dir() / info.weights_dir / "model.safetensors", info.weights_sha256)
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
