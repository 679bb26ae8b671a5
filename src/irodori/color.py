"""sRGB <-> CIE Lab (D65), the one place that owns colour maths and normalisation.

Two implementations share the constants below: numpy (inference, no torch needed) and torch
(training, differentiable). The network never sees raw Lab: it reads ``l_norm = L / 50 - 1``
(range [-1, 1]) and predicts ``ab_norm = ab / 110`` (roughly [-1, 1]). Use the helpers here for
both directions; no other module hard-codes 50, 110 or the matrices.

All sRGB values are floats in [0, 1] (or uint8 where a function says so); L is in [0, 100],
a and b are in about [-110, 110].
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is an optional dependency (the `train` extra)
    import torch

# D65 reference white, and the sRGB primaries -> CIE XYZ matrix (same values as scikit-image).
WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)

# Network normalisation.
L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0

# CIE f(t) breakpoint: t > (6/29)^3 uses the cube root, below it the linear segment.
_EPS = (6.0 / 29.0) ** 3
_KAPPA = 1.0 / (3.0 * (6.0 / 29.0) ** 2)


# ----------------------------------------------------------------------------------------------
# Normalisation (works on numpy arrays and torch tensors alike)
# ----------------------------------------------------------------------------------------------
def normalize_l(l):
    """L in [0, 100] -> network input in [-1, 1]."""
    return l / L_SCALE - L_CENTER / L_SCALE


def denormalize_l(l_norm):
    return (l_norm + L_CENTER / L_SCALE) * L_SCALE


def normalize_ab(ab):
    """ab in about [-110, 110] -> about [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm):
    return ab_norm * AB_SCALE


# ----------------------------------------------------------------------------------------------
# numpy
# ----------------------------------------------------------------------------------------------
def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, None)
    return np.where(c > 0.0031308, 1.055 * c ** (1.0 / 2.4) - 0.055, 12.92 * c)


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPS, np.cbrt(t), t * _KAPPA + 4.0 / 29.0)


def _f_inv(t: np.ndarray) -> np.ndarray:
    return np.where(t > 6.0 / 29.0, t**3, (t - 4.0 / 29.0) / _KAPPA)


@functools.cache
def _linear_table() -> np.ndarray:
    """(256,) float64: the linear value of each 8-bit sRGB value."""
    return _srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0)


GREY_CHROMA = 1.5  # mean |R - G| + |G - B| (0..255) under which an image's pixels hold no colour ...
GREY_SPOTS = (30, 0.005)  # ... if under this share of them differ by more than this (hand tinting)


def holds_no_colour(rgb: np.ndarray) -> bool:
    """sRGB (..., 3) uint8 -> True when its pixels hold no colour: R = G = B within GREY_CHROMA
    on average (a grey scan saved as RGB or colour JPEG), and no spot of colour (GREY_SPOTS: a
    grey photograph hand-tinted on 1 % of it, its lips and scarf, holds colour, as
    :class:`irodori.colorizer.Colorizer` warns)."""
    rgb = np.asarray(rgb, dtype=np.int16)
    diff = np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2])
    return bool(diff.mean() < GREY_CHROMA and (diff > GREY_SPOTS[0]).mean() < GREY_SPOTS[1])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) float in [0, 1] or uint8 -> Lab (..., 3) float32."""
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:  # the sRGB curve of the 256 values, looked up (the same numbers, 3x faster)
        linear = _linear_table()[rgb]
    else:
        linear = _srgb_to_linear(rgb.astype(np.float64))
    xyz = linear @ XYZ_FROM_RGB.T / WHITE_D65
    fx, fy, fz = _f(xyz[..., 0]), _f(xyz[..., 1]), _f(xyz[..., 2])
    lab = np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)
    return lab.astype(np.float32)


def rgb_to_l(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) float in [0, 1] or uint8 -> CIE L only (..., ) float32; cheaper than
    rgb_to_lab when the chroma is not needed (uint8 input goes through a 256-entry table)."""
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        table = _srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
        lin = table[rgb]
    else:
        lin = _srgb_to_linear(rgb.astype(np.float64)).astype(np.float32)
    y = lin @ XYZ_FROM_RGB[1].astype(np.float32)  # Yn = 1
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def gray_to_l(gray: np.ndarray) -> np.ndarray:
    """Grey sRGB values (float in [0, 1] or uint8) -> CIE L in [0, 100], float32.

    A neutral grey has X/Xn = Y/Yn = Z/Zn = linear(g), so L depends on the grey value alone.
    """
    gray = np.asarray(gray)
    if gray.dtype == np.uint8:
        gray = gray.astype(np.float64) / 255.0
    y = _srgb_to_linear(gray.astype(np.float64))
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def l_to_gray(l: np.ndarray) -> np.ndarray:
    """CIE L in [0, 100] -> the neutral grey sRGB value in [0, 1] (float32)."""
    y = _f_inv((np.asarray(l, dtype=np.float64) + 16.0) / 116.0)
    return np.clip(_linear_to_srgb(y), 0.0, 1.0).astype(np.float32)


def l_to_gray_rgb(l: np.ndarray) -> np.ndarray:
    """CIE L (H, W) -> the grey sRGB uint8 image (H, W, 3) with that lightness and no chroma:
    the grayscale baseline, and the "input" column of comparison sheets."""
    return np.repeat(rgb_to_uint8(l_to_gray(l))[..., None], 3, axis=-1)


def _lab_to_linear(l: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    fy = (l + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1) * WHITE_D65
    return xyz @ RGB_FROM_XYZ.T


def lab_to_rgb(lab: np.ndarray, *, preserve_l: bool = True, iterations: int = 12) -> np.ndarray:
    """Lab (..., 3) -> sRGB (..., 3) float32 in [0, 1].

    Colours outside the sRGB gamut cannot be shown. Plain clipping of RGB changes the lightness;
    with ``preserve_l`` the chroma of each out-of-gamut pixel is shrunk instead (bisection on a
    scale factor for ab; scale 0 is a neutral grey, which is always inside the gamut), so the
    output keeps the requested L exactly up to 8-bit quantisation: the ink stays the input's ink.
    """
    lab = np.asarray(lab, dtype=np.float64)
    l, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    lin = _lab_to_linear(l, a, b)
    if preserve_l:
        tol = 1e-6
        bad = np.any((lin < -tol) | (lin > 1.0 + tol), axis=-1)
        if np.any(bad):
            l_bad, a_bad, b_bad = l[bad], a[bad], b[bad]
            lo = np.zeros(l_bad.shape)
            hi = np.ones(l_bad.shape)
            for _ in range(iterations):
                mid = (lo + hi) / 2.0
                trial = _lab_to_linear(l_bad, a_bad * mid, b_bad * mid)
                ok = np.all((trial >= -tol) & (trial <= 1.0 + tol), axis=-1)
                lo = np.where(ok, mid, lo)
                hi = np.where(ok, hi, mid)
            lin[bad] = _lab_to_linear(l_bad, a_bad * lo, b_bad * lo)
    return np.clip(_linear_to_srgb(lin), 0.0, 1.0).astype(np.float32)


# Fast path for the colouring pipeline: float32, planar, and a lookup table for the sRGB curve.
_M32 = (RGB_FROM_XYZ * WHITE_D65[None, :]).astype(np.float32)  # linear RGB from (X/Xn, Y/Yn, Z/Zn)
_LUT_STEPS = 65535  # linear-light steps of the sRGB-encoding table: 1/20 of an 8-bit level at worst
_SRGB8_LUT = np.clip(np.rint(_linear_to_srgb(np.arange(_LUT_STEPS + 1) / _LUT_STEPS) * 255.0), 0, 255).astype(np.uint8)
_L8_LUT = gray_to_l(np.arange(256, dtype=np.uint8))  # CIE L of each 8-bit grey level


def _f_inv32(t: np.ndarray) -> np.ndarray:
    cube = t * t * t
    return np.where(t > np.float32(6.0 / 29.0), cube, (t - np.float32(4.0 / 29.0)) * np.float32(1.0 / _KAPPA))


# The sRGB gamut as a table of chroma limits on an (L, hue) grid: the largest chroma of the ray
# of constant L and hue that is inside the gamut (near the yellow cusp a ray leaves the gamut and
# comes back; the outer limit keeps saturated yellows reachable). The table ships with the
# package (gamut_table.npy, rebuilt and compared by a test) because marching every ray takes
# seconds. A pixel's limit is interpolated linearly in L; where the shrunk colour is still
# outside (the cell holding a cusp, or a colour in a ray's gap), the limit is searched for that
# pixel alone.
_GAMUT_L_PER_UNIT = 2  # L step 0.5
_GAMUT_HUES = 720  # hue step 0.5 degrees
GAMUT_TABLE_PATH = Path(__file__).with_name("gamut_table.npy")


def build_gamut_table() -> np.ndarray:
    """(201, 720) float32: the outer chroma limit at L = i / 2 and hue = j / 2 degrees."""
    l = np.arange(100 * _GAMUT_L_PER_UNIT + 1, dtype=np.float64) / _GAMUT_L_PER_UNIT
    hue = np.arange(_GAMUT_HUES) * (2.0 * np.pi / _GAMUT_HUES)
    l, hue = np.meshgrid(l, hue, indexing="ij")
    cos, sin = np.cos(hue), np.sin(hue)
    fy = (l + 16.0) / 116.0
    y = _f_inv(fy)

    def inside(chroma: np.ndarray) -> np.ndarray:
        x = _f_inv(fy + chroma * cos / 500.0) * WHITE_D65[0]
        z = _f_inv(fy - chroma * sin / 200.0) * WHITE_D65[2]
        ok = np.ones(l.shape, dtype=bool)
        for row in RGB_FROM_XYZ:
            c = row[0] * x + row[1] * y + row[2] * z
            ok &= (c >= 0.0) & (c <= 1.0)
        return ok

    step = 0.5
    lo = np.zeros_like(l)
    for k in range(1, int(200 / step) + 1):  # march out; keep the last chroma inside
        lo = np.where(inside(np.full_like(l, k * step)), k * step, lo)
    hi = lo + step
    for _ in range(12):  # then narrow the step down: the limit to 0.5 / 2**12
        mid = (lo + hi) / 2.0
        ok = inside(mid)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return lo.astype(np.float32)


@functools.lru_cache(maxsize=None)
def gamut_limits() -> np.ndarray:
    """(201, 720) float32: the chroma limit at L = i / 2 over hue [j / 2, (j + 1) / 2] degrees
    (the lesser of the two edges; within half a degree the limit varies smoothly)."""
    table = np.load(GAMUT_TABLE_PATH)
    return np.minimum(table, np.roll(table, -1, axis=1))


# Overshoot of linear RGB past 0 or 1 that is clipped instead of searched: it moves L by < 0.1
# (L is steep next to black, so the low side gets less slack; float32 rounding alone puts
# white a few 1e-5 past 1).
_SLACK_LOW, _SLACK_HIGH = 5e-5, 2e-3


def _outside(lin: np.ndarray) -> np.ndarray:
    return (lin.min(axis=0) < -_SLACK_LOW) | (lin.max(axis=0) > 1.0 + _SLACK_HIGH)


def _gamut_scale(l: np.ndarray, a: np.ndarray, b: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Chroma scale in [0, 1] from the table's limit, interpolated linearly in L."""
    limits = gamut_limits()
    u = np.clip(l * np.float32(_GAMUT_L_PER_UNIT), 0, limits.shape[0] - 1.001)
    i = u.astype(np.int32)
    u -= i
    i *= _GAMUT_HUES
    hue = np.arctan2(b, a)
    hue += np.float32(2 * np.pi)
    hue *= np.float32(_GAMUT_HUES / (2 * np.pi))
    j = hue.astype(np.int32)
    j %= _GAMUT_HUES
    i += j
    flat = limits.ravel()
    below, above = flat[i], flat[i + _GAMUT_HUES]
    limit = below + (above - below) * u
    return np.minimum(np.float32(1.0), limit / np.maximum(chroma, np.float32(1e-6)))


def _linear(fy: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fy = (L + 16) / 116, a, b (n,) float32 -> linear sRGB (3, n) float32 (unclipped)."""
    f = np.empty((3,) + fy.shape, dtype=np.float32)
    np.multiply(a, np.float32(1.0 / 500.0), out=f[0])
    f[0] += fy
    f[1] = fy
    np.multiply(b, np.float32(-1.0 / 200.0), out=f[2])
    f[2] += fy
    xyz = _f_inv32(f)
    lin = np.empty_like(xyz)
    tmp = np.empty_like(xyz[0])
    for c in range(3):  # a 3x3 matrix on planes: far faster than matmul on a (3, n) array
        np.multiply(xyz[0], _M32[c, 0], out=lin[c])
        lin[c] += np.multiply(xyz[1], _M32[c, 1], out=tmp)
        lin[c] += np.multiply(xyz[2], _M32[c, 2], out=tmp)
    return lin


def lab_to_srgb8(l: np.ndarray, a: np.ndarray, b: np.ndarray, *, iterations: int = 8) -> np.ndarray:
    """L, a, b planes (H, W) -> sRGB uint8 (H, W, 3): the colouring pipeline's fast Lab -> sRGB.

    Like ``rgb_to_uint8(lab_to_rgb(lab))``, out-of-gamut chroma is shrunk (hue and L kept)
    rather than RGB clipped, so the output keeps L; colours inside the gamut are converted as
    they are (every 8-bit sRGB colour round-trips exactly). The limit comes from
    :func:`gamut_limits` (interpolated in L), with a per-pixel bisection only where the shrunk
    colour is still outside; the maths is float32 and the sRGB curve a 64k-entry table. Within a
    level or two of the exact path for colours near the gamut; far outside it, a few levels.
    Fastest on strips of some 10^4 to 10^5 pixels (cache-sized temporaries).
    """
    shape = np.shape(l)
    l, a, b = (np.asarray(v, dtype=np.float32).ravel() for v in (l, a, b))
    fy = (l + np.float32(16.0)) * np.float32(1.0 / 116.0)
    lin = _linear(fy, a, b)
    out = _outside(lin)
    if out.any():  # colours inside the gamut are kept; the others shrink to the table's limit
        fy_o, a_o, b_o = fy[out], a[out], b[out]
        scale = _gamut_scale(l[out], a_o, b_o, np.sqrt(a_o * a_o + b_o * b_o))
        lin_o = _linear(fy_o, a_o * scale, b_o * scale)
        lin[:, out] = lin_o
        over = np.zeros_like(out)
        over[out] = _outside(lin_o)
    else:
        over = out
    if over.any():  # past a cusp the interpolated limit overshoots: search those pixels
        fy_o, a_o, b_o = fy[over], a[over], b[over]
        lo, hi = np.zeros_like(fy_o), np.ones_like(fy_o)
        for _ in range(iterations):
            mid = (lo + hi) * np.float32(0.5)
            trial = _linear(fy_o, a_o * mid, b_o * mid)
            ok = (trial.min(axis=0) >= 0.0) & (trial.max(axis=0) <= 1.0)
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        lin[:, over] = _linear(fy_o, a_o * lo, b_o * lo)
    np.clip(lin, 0.0, 1.0, out=lin)
    lin *= np.float32(_LUT_STEPS)
    lin += np.float32(0.5)
    return _SRGB8_LUT[lin.astype(np.int32).T].reshape(shape + (3,))


def gray8_to_l(gray: np.ndarray) -> np.ndarray:
    """8-bit grey (uint8) -> CIE L float32 through a 256-entry table (same values as gray_to_l)."""
    return _L8_LUT[gray]


def ab_bins(step: float = 10.0) -> np.ndarray:
    """Centres (K, 2) of the ab grid cells (side ``step``) that touch the sRGB gamut at some L:
    the classes of a colour-classification head (Zhang et al. 2016 use the same grid; K = 260
    for step 10 with this gamut test). Deterministic, so a model stores ``step``, not the table."""
    grid = np.arange(-110.0, 110.0 + 1e-9, step)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    centres = np.stack([a.ravel(), b.ravel()], axis=-1)
    touches = np.zeros(len(centres), dtype=bool)
    half = step / 2.0
    for da in (-half, 0.0, half):
        for db in (-half, 0.0, half):
            for l in np.linspace(1.0, 99.0, 50):
                lin = _lab_to_linear(np.full(len(centres), l), centres[:, 0] + da, centres[:, 1] + db)
                touches |= np.all((lin >= 0.0) & (lin <= 1.0), axis=-1)
    return centres[touches].astype(np.float32)


def rgb_to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float sRGB in [0, 1] -> uint8 with rounding (not truncation)."""
    return np.clip(np.rint(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# torch (differentiable; imported lazily so the core install works without torch)
# ----------------------------------------------------------------------------------------------
def _torch_matrix(m: np.ndarray, ref: "torch.Tensor") -> "torch.Tensor":
    import torch

    return torch.as_tensor(m, dtype=ref.dtype, device=ref.device)


def rgb_to_lab_torch(rgb: "torch.Tensor") -> "torch.Tensor":
    """sRGB (N, 3, H, W) float in [0, 1] -> Lab (N, 3, H, W), differentiable."""
    import torch

    rgb = rgb.clamp(0.0, 1.0)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).pow(2.4), rgb / 12.92)
    m = _torch_matrix(XYZ_FROM_RGB / WHITE_D65[:, None], rgb)
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    f = torch.where(xyz > _EPS, xyz.clamp_min(_EPS).pow(1.0 / 3.0), xyz * _KAPPA + 4.0 / 29.0)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_to_rgb_torch(lab: "torch.Tensor") -> "torch.Tensor":
    """Lab (N, 3, H, W) -> sRGB (N, 3, H, W) in [0, 1] (clipped), differentiable."""
    import torch

    l, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    fy = (l + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=1)
    xyz = torch.where(f > 6.0 / 29.0, f.pow(3), (f - 4.0 / 29.0) / _KAPPA)
    m = _torch_matrix(RGB_FROM_XYZ * WHITE_D65[None, :], lab)
    lin = torch.einsum("ij,njhw->nihw", m, xyz).clamp(0.0, 1.0)
    return torch.where(
        lin > 0.0031308, 1.055 * lin.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055, 12.92 * lin
    ).clamp(0.0, 1.0)
