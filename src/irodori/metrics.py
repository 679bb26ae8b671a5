"""Image-quality metrics on sRGB uint8 images (numpy only).

- PSNR over all RGB channels, peak 255; identical images give ``inf``.
- Colourfulness CF of Hasler and Suesstrunk (2003), with the *signed* opponent channels
  rg = R - G and yb = (R + G) / 2 - B (not absolute values):
  CF = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2), on the 0..255 scale.
  A grey image scores 0; ordinary photos score roughly 20 to 80.
"""

from __future__ import annotations

import numpy as np


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of the same shape (inf when identical)."""
    _check_pair(pred, truth)
    mse = np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness (signed formula) of an RGB image (H, W, 3), 0..255 scale."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"colorfulness needs an (H, W, 3) image, got shape {rgb.shape}")
    x = rgb.astype(np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    sigma = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mu = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(sigma + 0.3 * mu)
