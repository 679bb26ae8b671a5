"""What every stage of the corpus build shares: the repository root, the split names, the
``Candidate`` record a source offers, and the deterministic keys derived from a path (name hash,
split, output file name, background colour), plus two small helpers (repository-relative paths for
cards and indexes, a file's sha256).

They sit apart from the stages so that the sources, the image pipeline, the cards and the packer
can share them without importing one another.
"""
from __future__ import annotations

import colorsys
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]   # scripts/corpus/common.py -> the repository
SPLITS = ("train", "val", "test")
WHITE = (255, 255, 255)


@dataclass
class Candidate:
    """One original image offered by a source, with everything the pipeline needs to process it."""
    source: str
    rel: str                 # path relative to the source's image root: hashed for the split
    file: Path | None        # file on disk, or None when ``data`` or ``load`` gives the image
    original_path: str       # path inside the package
    package: str
    version: str
    license: str
    kind: str
    attribution: str = ""
    data: bytes | None = None
    min_side: int = 128      # short side after trimming the transparent border
    min_opaque: float = 0.0  # fraction of pixels with alpha >= 128 on the full canvas
    background: tuple = WHITE
    # Decodes the original when it is not a plain image file (SVG to rasterise, a font glyph);
    # raises OSError/ValueError when it cannot.
    load: Callable[[], Image.Image] | None = field(default=None, repr=False)


def name_hash(text: str) -> int:
    """First 32 bits of sha256(text) as an int: the deterministic key for splits and ordering."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def split_of(source: str, rel: str) -> str:
    """Fixed split by hash, so adding sources never moves an image: 6% test, 6% val, 88% train."""
    h = name_hash(f"{source}/{rel}") % 100
    return "test" if h < 6 else "val" if h < 12 else "train"


def safe_name(rel: str) -> str:
    """Deterministic file stem from a relative path: slashes become ``__``, odd chars ``_``."""
    stem = rel.rsplit(".", 1)[0].replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._+-]", "_", stem)


def pastel(key: str) -> tuple:
    """A flat light background colour derived deterministically from ``key``."""
    h = name_hash(key)
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360, 0.05 + (h >> 9) % 8 / 100, 0.96)
    return (round(r * 255), round(g * 255), round(b * 255))


def white_or_pastel(key: str) -> tuple:
    """White or a light pastel, alternately by hash: so the network never learns that the
    background of a cut-out is always white."""
    return WHITE if name_hash(key) % 2 else pastel(key)


def rel_to_repo(p: Path) -> str:
    """Path as written in the card: relative to the repository root when inside it."""
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
