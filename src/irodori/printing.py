"""What printing does to colour art: the renderers that make training inputs (and evaluation
inputs) from colour images, in numpy and Pillow alone (no torch: ``irodori evaluate --mode paint``
prints a folder of colour images with them on a colorizing install).

- :func:`manga_effect`: the tint model's manga input mode (ink lines, screentone, flat greys, the
  lightness kept near the art's);
- :func:`bw_page`: the paint model's black-and-white page (paper, screentone, solid ink, inked
  edges; line art alone on white), and :func:`paint_ink`, the ink layer its composite is scored on;
- :func:`printed_page`: a colour image printed as an 8-bit grey B&W page, seeded by its name, as the
  paint evaluation sets are (docs/MANGA_MODE.md).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from PIL import Image, ImageFilter

from .color import l_to_gray, rgb_to_lab, rgb_to_uint8
from .paint import ink_layer, paper_level


# ----------------------------------------------------------------------------------------------
# Manga input mode
# ----------------------------------------------------------------------------------------------
def _tone_threshold(h: int, w: int, *, pitch: float, angle: float, kind: str) -> np.ndarray:
    """Halftone threshold map in [0, 1]: a pixel is paper where its grey exceeds the map."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = math.cos(angle), math.sin(angle)
    u = (xx * c + yy * s) * (2 * math.pi / pitch)
    v = (-xx * s + yy * c) * (2 * math.pi / pitch)
    if kind == "dots":
        return (np.cos(u) * np.cos(v) + 1.0) / 2.0  # round dots whose size follows the tone
    return (np.cos(u) + 1.0) / 2.0  # parallel lines whose width follows the tone


def manga_effect(l: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """L (H, W) float in [0, 100] -> L of a synthetic printed manga rendering of it.

    Rendered at twice the resolution and reduced with antialiasing, as a scanned page is when
    the colorizer downsizes it, so the network sees softened dots rather than aliased ones.
    """
    h, w = l.shape
    grey = Image.fromarray(np.clip(l * 2.55, 0, 255).astype(np.uint8), "L")
    big = grey.resize((w * 2, h * 2), Image.BICUBIC)
    g = np.asarray(big, dtype=np.float32) / 255.0

    # Ink lines: difference of Gaussians (XDoG-style), thresholded to solid black strokes.
    sigma = float(rng.uniform(0.8, 1.6))
    blur1 = np.asarray(big.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255.0
    blur2 = np.asarray(big.filter(ImageFilter.GaussianBlur(sigma * 1.6)), dtype=np.float32) / 255.0
    dog = blur1 - 0.98 * blur2
    ink = dog < -float(rng.uniform(0.01, 0.03))

    # Flat areas (low local contrast) get screentone; textured areas keep a posterised grey.
    local = np.asarray(big.filter(ImageFilter.BoxBlur(3)), dtype=np.float32) / 255.0
    flat = np.abs(g - local) < 0.06
    pitch = float(rng.uniform(5.0, 12.0))  # in the 2x canvas: 2.5-6 px at training size
    angle = math.radians(float(rng.choice([15.0, 30.0, 45.0, 60.0, 75.0]) + rng.uniform(-5, 5)))
    kind = "dots" if rng.random() < 0.75 else "lines"
    thr = _tone_threshold(2 * h, 2 * w, pitch=pitch, angle=angle, kind=kind)

    black_level = float(rng.uniform(0.12, 0.22))
    white_level = float(rng.uniform(0.88, 0.95))
    out = np.where(g > white_level, 1.0, np.where(g < black_level, 0.0, g))
    toned = (g > thr).astype(np.float32)
    mid = (g >= black_level) & (g <= white_level)
    out = np.where(mid & flat, toned, out)
    out = np.where(mid & ~flat, np.round(out * 4.0) / 4.0, out)  # a few flat greys, like print
    out[ink] = 0.0

    paper = float(rng.uniform(0.92, 1.0))
    ink_level = float(rng.uniform(0.0, 0.08))
    out = ink_level + out * (paper - ink_level)
    page = Image.fromarray(np.clip(out * 255.0, 0, 255).astype(np.uint8), "L")
    page = page.resize((w, h), Image.BOX)
    l_out = np.asarray(page, dtype=np.float32) / 2.55
    l_out += rng.normal(0.0, float(rng.uniform(0.0, 1.5)), l_out.shape).astype(np.float32)
    return np.clip(l_out, 0.0, 100.0)


# ----------------------------------------------------------------------------------------------
# Black-and-white page renderer (paint mode): what printing does to colour art
# ----------------------------------------------------------------------------------------------
TRAIN_TONE_LENGTH = 5  # flatten_tone's stroke length at training size (dots there are 1-4 px)


def _xdog_ink(big: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Ink lines of a grey canvas: a difference of Gaussians (XDoG-style) thresholded to
    strokes -> bool (H, W)."""
    sigma = float(rng.uniform(0.8, 1.6))
    blur1 = np.asarray(big.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255.0
    blur2 = np.asarray(big.filter(ImageFilter.GaussianBlur(sigma * 1.6)), dtype=np.float32) / 255.0
    return (blur1 - 0.98 * blur2) < -float(rng.uniform(0.008, 0.03))


def bw_page(l: np.ndarray, rng: np.random.Generator, *, lineart: bool = False) -> np.ndarray:
    """L (H, W) float in [0, 100] of colour art -> L of the black-and-white page a printer would
    make of it (the paint-mode training input; the target is the colour art itself).

    Rendered at 2x and reduced, as :func:`manga_effect`. Light areas (skin, sky, most clothes)
    become white paper, mid-tones screentone (dots or lines, random pitch and angle), dark areas
    solid ink, and the art's edges are inked; ``lineart`` draws the outlines alone on white
    (with solid blacks half the time). Then, at random: a 1-bit page (thresholded after
    reduction), scan softening, a grey or yellowed paper and noise.
    """
    h, w = l.shape
    grey = Image.fromarray(np.clip(l * 2.55, 0, 255).astype(np.uint8), "L")
    big = grey.resize((w * 2, h * 2), Image.BICUBIC)
    g = np.asarray(big, dtype=np.float32) / 255.0
    ink = _xdog_ink(big, rng)
    black_level = float(rng.uniform(0.08, 0.25))
    if lineart:
        out = np.ones_like(g)
        if rng.random() < 0.5:
            out[g < black_level] = 0.0
    else:
        paper_level = float(rng.uniform(0.55, 0.85))
        pitch = float(rng.uniform(4.0, 12.0))  # in the 2x canvas
        angle = math.radians(float(rng.choice([15.0, 30.0, 45.0, 60.0, 75.0]) + rng.uniform(-5, 5)))
        thr = _tone_threshold(2 * h, 2 * w, pitch=pitch, angle=angle,
                              kind="dots" if rng.random() < 0.8 else "lines")
        # The tone's grey: mid-tones mapped onto the printable range (a few tone sheets: posterised).
        levels = int(rng.integers(2, 5))
        span = (g - black_level) / max(paper_level - black_level, 1e-3)
        tone_grey = 0.25 + 0.6 * np.round(np.clip(span, 0, 1) * levels) / levels
        out = np.where(g >= paper_level, 1.0, np.where(g < black_level, 0.0, (tone_grey > thr).astype(np.float32)))
    out[ink] = 0.0
    page = Image.fromarray(np.clip(out * 255.0, 0, 255).astype(np.uint8), "L").resize((w, h), Image.BOX)
    if rng.random() < 0.3:
        page = page.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.8))))  # scan softening
    values = np.asarray(page, dtype=np.float32) / 255.0
    if rng.random() < 0.15:
        values = (values > 0.5).astype(np.float32)  # a 1-bit scan
    paper, ink_level = float(rng.uniform(0.85, 1.0)), float(rng.uniform(0.0, 0.1))
    l_out = (ink_level + values * (paper - ink_level)) * 100.0
    l_out += rng.normal(0.0, float(rng.uniform(0.0, 1.0)), l_out.shape).astype(np.float32)
    return np.clip(l_out, 0.0, 100.0).astype(np.float32)


def paint_ink(l_page: np.ndarray) -> np.ndarray:
    """The ink layer the paint composite uses at training size (``tone="flat"``), from the
    rendered page's L (H, W) -> L_ink (H, W) float32, paper levelled to 100."""
    return ink_layer(l_page.astype(np.float32), paper_l=paper_level(l_page), tone="flat", length=TRAIN_TONE_LENGTH)


def printed_page(rgb: np.ndarray, name: str, *, lineart: bool = False) -> np.ndarray:
    """A colour image (H, W, 3) uint8 printed as a black-and-white page by :func:`bw_page`, seeded
    by ``name`` (crc32, as scripts/build_paint_evalsets.py seeds its sets) -> 8-bit grey (H, W)
    uint8, its CIE L that of the page."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return rgb_to_uint8(l_to_gray(bw_page(rgb_to_lab(rgb)[..., 0], rng, lineart=lineart)))
