"""Turning one candidate into a training image, and recognising the same picture twice.

``process`` decodes, trims the transparent border, filters (size, transparency, near-grey and,
for the sources added after v0.1 only, flat fills and normal maps), composites alpha onto the
candidate's background and resizes. ``dhash`` finds exact duplicates within a source;
``Fingerprint`` and ``HashIndex`` find near-duplicates across sources. The thresholds are
constants here because the data cards quote them.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .common import Candidate

MAX_SIDE = 256                       # the SHORTER side is at most this (never upscaled)
# Minimum mean CIE-Lab chroma sqrt(a*^2 + b*^2) over opaque pixels, per kind. "clipart" is the v0.1
# name of "flat" (kept in the v0.1 manifest; the full card counts both as flat).
MIN_CHROMA = {"photo": 1.5, "painted": 2.0, "clipart": 5.0, "flat": 5.0, "lineart": 5.0}
MAX_PIXELS = 40_000_000            # larger originals are skipped, not decoded
# Filters of the sources added after v0.1 (the v0.1 sources never see them: see process()).
MIN_DETAIL = 4.0                   # std of 8-bit grey over opaque pixels; below = a flat fill
PHASH_NEAR, DHASH_NEAR = 8, 12     # near-duplicate candidates: both 64-bit hashes this close ...
NEAR_CORR = 0.95                   # ... and 32x32 grey thumbnails correlated at least this much


def mean_chroma(rgba: Image.Image) -> float:
    """Mean CIE-Lab (D65) chroma over pixels with alpha >= 128, on a <=128 px thumbnail."""
    small = rgba.copy()
    small.thumbnail((128, 128), Image.BILINEAR)
    arr = np.asarray(small, dtype=np.float32)
    rgb = arr[..., :3][arr[..., 3] >= 128] / 255.0
    if rgb.size == 0:
        return 0.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                          [0.0193, 0.1192, 0.9505]], dtype=np.float32).T
    xyz /= np.array([0.9505, 1.0, 1.089], dtype=np.float32)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return float(np.hypot(500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])).mean())


def _opaque_rgb(rgba: Image.Image, side: int) -> np.ndarray:
    """(N, 3) float RGB in [0, 255] of the pixels with alpha >= 128 on a <= side px thumbnail."""
    small = rgba.convert("RGBA")
    small.thumbnail((side, side), Image.BILINEAR)
    arr = np.asarray(small, dtype=np.float32)
    return arr[..., :3][arr[..., 3] >= 128]


def detail_std(rgba: Image.Image) -> float:
    """Standard deviation of the grey level (0-255) over opaque pixels: ~0 for a flat colour fill
    (a glow sprite, a solid swatch), which has no lightness structure to learn colour from."""
    rgb = _opaque_rgb(rgba, 128)
    if rgb.size == 0:
        return 0.0
    return float((rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).std())


def is_normal_map(rgba: Image.Image) -> bool:
    """True for a tangent-space normal map: a texture whose pixels encode unit normals as
    RGB = 127.5 * (n + 1), which averages to a flat blue-purple (128, 128, ~255) and whose blue is
    determined by red and green (b = sqrt(1 - x^2 - y^2)). Teaches only a fake colour."""
    rgb = _opaque_rgb(rgba, 64)
    if rgb.size == 0:
        return False
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    if abs(r.mean() - 128) > 24 or abs(g.mean() - 128) > 24 or b.mean() < 190:
        return False
    nx, ny = (r - 127.5) / 127.5, (g - 127.5) / 127.5
    b_pred = 127.5 + 127.5 * np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0.0, 1.0))
    return float((np.abs(b - b_pred) < 24).mean()) > 0.8


def dhash(rgb: Image.Image) -> bytes:
    """64-bit difference hash of the grey image, used to drop exact/near duplicates per source."""
    g = np.asarray(rgb.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    return np.packbits(g[:, 1:] > g[:, :-1]).tobytes()


_DCT32 = np.cos(np.pi * (2 * np.arange(32)[None, :] + 1) * np.arange(32)[:, None] / 64)


def phash(rgb: Image.Image) -> int:
    """64-bit perceptual hash: signs of the 8x8 lowest 2-D DCT frequencies of the 32x32 grey image
    against their median (DC excluded from the median). It survives re-encoding, resizing and
    recolouring, so the same picture shipped by two packages lands within a small Hamming
    distance."""
    g = np.asarray(rgb.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float64)
    low = (_DCT32 @ g @ _DCT32.T)[:8, :8].ravel()
    return int.from_bytes(np.packbits(low > np.median(low[1:])).tobytes(), "big")


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy >= 2 has bitwise_count; the fallback unpacks bytes)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)


@dataclass(frozen=True)
class Fingerprint:
    """What near-duplicate detection compares: two 64-bit hashes and a normalised thumbnail."""
    ph: int                  # phash()
    dh: int                  # dhash() as an int
    thumb: np.ndarray        # 32x32 grey, zero mean, unit variance, float16, flattened


def fingerprint(rgb: Image.Image) -> Fingerprint:
    """Fingerprint of an RGB image (after processing: composited and resized)."""
    g = np.asarray(rgb.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float32).ravel()
    thumb = ((g - g.mean()) / (g.std() + 1e-6)).astype(np.float16)
    return Fingerprint(phash(rgb), int.from_bytes(dhash(rgb), "big"), thumb)


def file_fingerprint(path: Path) -> Fingerprint:
    """Fingerprint of a written corpus JPEG: kept images are always fingerprinted from the files,
    so a source is deduplicated the same way whether earlier sources were built in the same run
    or loaded from an earlier one."""
    with Image.open(path) as im:
        return fingerprint(im.convert("RGB"))


class HashIndex:
    """Fingerprints of kept images, searched for near-duplicates.

    Near-duplicate = pHash within PHASH_NEAR and dHash within DHASH_NEAR bits (a cheap candidate
    filter) AND a correlation of the normalised 32x32 grey thumbnails of at least NEAR_CORR. The
    hashes alone confuse different pictures drawn on one template (Naev's portraits share pose,
    lighting and background); the correlation separates those (< 0.95) from re-encoded, resized
    or recoloured copies (> 0.95).
    """

    def __init__(self) -> None:
        self.ph: list[int] = []
        self.dh: list[int] = []
        self.thumbs: list[np.ndarray] = []
        self.keys: list[str] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, fp: Fingerprint, key: str) -> None:
        self.ph.append(fp.ph)
        self.dh.append(fp.dh)
        self.thumbs.append(fp.thumb)
        self.keys.append(key)

    def find(self, fp: Fingerprint) -> str | None:
        """Key of the first indexed near-duplicate of ``fp``, else None."""
        if not self.keys:
            return None
        close = ((_popcount(np.array(self.ph, dtype=np.uint64) ^ np.uint64(fp.ph)) <= PHASH_NEAR)
                 & (_popcount(np.array(self.dh, dtype=np.uint64) ^ np.uint64(fp.dh)) <= DHASH_NEAR))
        for i in np.flatnonzero(close):
            corr = float(np.dot(self.thumbs[i].astype(np.float32), fp.thumb.astype(np.float32)))
            if corr / fp.thumb.size >= NEAR_CORR:
                return self.keys[i]
        return None


def process(c: Candidate, *, strict: bool = False) -> tuple[Image.Image | None, str]:
    """Load and filter one candidate: (RGB image ready to save, "") or (None, skip reason).

    ``strict`` adds the filters written for the sources added after v0.1 (the v0.1 sources are
    built without them, so data/corpus stays byte-for-byte reproducible): a stated licence, no flat
    colour fills and no normal maps.
    """
    if strict and not c.license:
        return None, "no per-file licence"
    try:
        if c.load is not None:
            im = c.load()
        else:
            im = Image.open(io.BytesIO(c.data) if c.data is not None else c.file)
        if im.width * im.height > MAX_PIXELS:
            return None, "too large to decode"
        if min(im.size) < c.min_side:
            return None, "too small"
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "RGBA", "P", "PA", "L", "LA", "1"):   # CMYK, I;16, ...
            im = im.convert("RGB")
        im = im.convert("RGBA")          # keeps palette / grey transparency as alpha
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    alpha = np.asarray(im.getchannel("A"))
    if c.min_opaque and (alpha >= 128).mean() < c.min_opaque:
        return None, "mostly transparent"
    rows, cols = np.nonzero((alpha > 8).any(1))[0], np.nonzero((alpha > 8).any(0))[0]
    if rows.size == 0:
        return None, "fully transparent"
    im = im.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    if min(im.size) < c.min_side:
        return None, "too small"
    if mean_chroma(im) < MIN_CHROMA[c.kind]:
        return None, "near-grey"
    if strict and detail_std(im) < MIN_DETAIL:
        return None, "flat colour fill"
    if strict and is_normal_map(im):
        return None, "normal map"
    bg = Image.new("RGBA", im.size, c.background + (255,))
    rgb = Image.alpha_composite(bg, im).convert("RGB")
    scale = MAX_SIDE / min(rgb.size)
    if scale < 1:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                         Image.LANCZOS)
    return rgb, ""
