"""Image-quality metrics on sRGB uint8 images, and the Fréchet distance of feature statistics
(numpy only: no torch, no scipy, no scikit-image at run time).

- PSNR over all RGB channels, peak 255; identical images give ``inf``.
- SSIM of Wang et al. (2004): Gaussian window sigma 1.5 truncated to 11x11, K1 = 0.01, K2 = 0.03,
  data range 255, population (co)variances; per RGB channel, then averaged. Matches
  ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255, channel_axis=-1)``.
- Colourfulness CF of Hasler and Suesstrunk (2003), with the *signed* opponent channels
  rg = R - G and yb = (R + G) / 2 - B (not absolute values):
  CF = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2), on the 0..255 scale.
  A grey image scores 0; ordinary photos score roughly 20 to 80.
- ΔCF = |mean CF(prediction) - mean CF(ground truth)| over an image set: how far the set's
  colourfulness is from the truth's, in either direction (too dull or too garish).
- Hue counts and hue overlap: the pixels of clear colour (CIELAB chroma C*ab >= 12) counted
  by hue angle h_ab in six 60-degree sectors, and the histogram intersection of two such
  counts as shares (Swain and Ballard 1991): 1 when a set's colours are spread over the hues
  as the truth's are, 0 when they share no hue. A sepia wash scores low however close its PSNR.
- Fréchet distance between two Gaussians (mu, sigma) fitted to feature vectors (Dowson and Landau
  1982; the formula of FID, whatever the features).
"""

from __future__ import annotations

import numpy as np

from irodori.color import rgb_to_lab

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): an 11x11 window, as in Wang et al. and scikit-image
SSIM_K1, SSIM_K2 = 0.01, 0.03


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


def _gaussian_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 2-D filtering of x (H, W) keeping only the 'valid' part (H - 2r, W - 2r).

    scikit-image filters with reflected borders and then crops r pixels from every side before
    averaging; the pixels it keeps never see the border, so the 'valid' part is the same figure.
    """
    n = len(kernel)
    h, w = x.shape
    rows = sum(kernel[i] * x[i : h - n + 1 + i] for i in range(n))
    return sum(kernel[i] * rows[:, i : w - n + 1 + i] for i in range(n))


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean SSIM in [-1, 1] of two uint8 images (H, W, 3) or (H, W); 1.0 when identical.

    Colour images: SSIM of each RGB channel, averaged. Both sides must be at least 11 pixels.
    """
    _check_pair(pred, truth)
    if pred.ndim not in (2, 3):
        raise ValueError(f"ssim needs an (H, W) or (H, W, C) image, got shape {pred.shape}")
    size = 2 * SSIM_RADIUS + 1
    if min(pred.shape[:2]) < size:
        raise ValueError(f"ssim needs images of at least {size}x{size} pixels, got {pred.shape[:2]}")
    offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    kernel /= kernel.sum()
    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2
    a = pred.astype(np.float64).reshape(*pred.shape[:2], -1)
    b = truth.astype(np.float64).reshape(*truth.shape[:2], -1)
    scores = []
    for c in range(a.shape[-1]):
        x, y = a[..., c], b[..., c]
        mu_x, mu_y = _gaussian_valid(x, kernel), _gaussian_valid(y, kernel)
        var_x = _gaussian_valid(x * x, kernel) - mu_x**2
        var_y = _gaussian_valid(y * y, kernel) - mu_y**2
        cov_xy = _gaussian_valid(x * y, kernel) - mu_x * mu_y
        ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        scores.append(ssim_map.mean())
    return float(np.mean(scores))


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


def delta_cf(cf_mean: float, cf_truth_mean: float) -> float:
    """ΔCF = |mean CF of a set - mean CF of its ground truth| (both on the 0..255 scale)."""
    return abs(float(cf_mean) - float(cf_truth_mean))


HUE_CHROMA = 12.0  # C*ab: weaker colour is near-grey, its hue noise
# h_ab in 60-degree sectors from 0; roughly reds and skin, oranges and yellows, greens, cyans and
# sky blues, blues, then purples, magentas and sRGB's pure blue (h_ab 306)
HUE_SECTORS = ("0-60", "60-120", "120-180", "180-240", "240-300", "300-360")


def hue_counts(rgb: np.ndarray, *, chroma_min: float = HUE_CHROMA) -> np.ndarray:
    """RGB (H, W, 3) uint8 -> (6,) int64: how many of its pixels of CIELAB chroma at least
    ``chroma_min`` fall in each 60-degree sector of hue angle h_ab (HUE_SECTORS). ValueError for
    another shape."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"hue_counts needs an (H, W, 3) image, got shape {rgb.shape}")
    lab = rgb_to_lab(rgb)
    a, b = lab[..., 1], lab[..., 2]
    coloured = np.hypot(a, b) >= chroma_min
    sector = (np.degrees(np.arctan2(b[coloured], a[coloured])) % 360.0 // 60.0).astype(np.intp)
    return np.bincount(np.minimum(sector, 5), minlength=6).astype(np.int64)


def hue_overlap(counts: np.ndarray, truth_counts: np.ndarray) -> float:
    """Histogram intersection of two hue counts (:func:`hue_counts`, summed over a set), each as
    shares: sum(min(p, q)) in [0, 1]. NaN when either has no coloured pixel."""
    p, q = (np.asarray(c, dtype=np.float64) for c in (counts, truth_counts))
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features (N, D), N >= 2 -> (mean (D,), covariance (D, D) with the N - 1 denominator), float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"feature statistics need an (N, D) array with N >= 2, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    eigvals, eigvecs = np.linalg.eigh(0.5 * (matrix + matrix.T))
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): mu (D,), sigma (D, D) PSD.

    d = |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1^1/2 sigma2 sigma1^1/2)^1/2).
    The symmetric form needs only eigendecompositions of symmetric PSD matrices (no scipy
    ``sqrtm`` of the non-symmetric sigma1 sigma2, no complex parts to discard), so it stays
    stable when the covariances are singular (fewer images than feature dimensions).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"means differ in shape or are not vectors: {mu1.shape} vs {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"covariances must be ({d}, {d}), got {sigma1.shape} and {sigma2.shape}")
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    eigvals = np.linalg.eigvalsh(0.5 * (inner + inner.T))
    tr_covmean = np.sqrt(np.clip(eigvals, 0.0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
    return float(max(value, 0.0))
