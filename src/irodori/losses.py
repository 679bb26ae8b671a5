"""Training losses. Every term has a weight in ``LossConfig``; 0 turns it off.

- ``loss_l1``: L1 on normalised ab. Regression alone averages plausible colours toward a
  brownish grey ("sepia"), the seed project's failure.
- ``loss_cf``: one-sided colourfulness deficit (predicted mean chroma below the truth's).
- ``loss_cls``: class-rebalanced cross-entropy over ab bins (Zhang et al. 2016) for
  ``model.head = classification``. Targets are soft-encoded (Gaussian over the 5 nearest bins);
  each pixel is weighted by the inverse of its colour's (smoothed) frequency mixed with a uniform
  prior, so rare saturated colours are not drowned by common desaturated ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .color import AB_SCALE

SOFT_SIGMA = 5.0 / AB_SCALE  # Gaussian width of the soft encoding, in normalised ab units
SOFT_NEIGHBOURS = 5


def soft_encode_sparse(ab: torch.Tensor, bins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ab (N, 2, h, w) normalised, bins (K, 2) -> (indices (N, 5, h, w) int64 of each pixel's
    SOFT_NEIGHBOURS nearest bins, nearest first; their Gaussian weights (N, 5, h, w), summing to 1).

    The squared distances come from one (P, 2) @ (2, K) product, |a|^2 - 2 a.b + |b|^2, with the
    bins on the last axis: a fifth of the work of broadcasting (N, K, 2, h, w) differences, which
    took about a fifth of a CPU training step."""
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)  # (P, 2)
    d2 = flat.pow(2).sum(1, keepdim=True) - 2.0 * (flat @ bins.t()) + bins.pow(2).sum(1)  # (P, K)
    near_idx = d2.topk(SOFT_NEIGHBOURS, dim=1, largest=False).indices
    # The five distances again, exactly (a - b)^2, nearest first: the expansion rounds differently.
    near_d2 = (flat[:, None] - bins[near_idx]).pow(2).sum(-1)  # (P, 5)
    near_d2, order = near_d2.sort(dim=1)
    near_idx = near_idx.gather(1, order)
    weights = torch.softmax(-near_d2 / (2 * SOFT_SIGMA**2), dim=1)
    unflat = lambda t: t.reshape(n, h, w, SOFT_NEIGHBOURS).permute(0, 3, 1, 2)
    return unflat(near_idx), unflat(weights)


def soft_encode(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """ab (N, 2, h, w) normalised -> soft class targets (N, K, h, w), each pixel summing to 1
    (the dense form of :func:`soft_encode_sparse`)."""
    idx, weights = soft_encode_sparse(ab, bins)
    n, _, h, w = ab.shape
    return ab.new_zeros((n, bins.shape[0], h, w)).scatter_(1, idx, weights)


def class_rebalance_weights(ab_samples: np.ndarray, bins: np.ndarray, *, mix: float = 0.5) -> np.ndarray:
    """Per-bin weights w_k = 1 / ((1 - mix) * p_k + mix / K), normalised so E_p[w] = 1.

    ab_samples (M, 2) and bins (K, 2) in normalised ab; p is the nearest-bin histogram of the
    samples, smoothed with the soft-encoding Gaussian.
    """
    d2 = ((ab_samples[:, None, :] - bins[None]) ** 2).sum(-1)
    counts = np.bincount(d2.argmin(1), minlength=len(bins)).astype(np.float64)
    p = counts / counts.sum()
    kernel = np.exp(-((bins[:, None, :] - bins[None]) ** 2).sum(-1) / (2 * SOFT_SIGMA**2))
    p_smooth = kernel @ p
    p_smooth /= p_smooth.sum()
    w = 1.0 / ((1.0 - mix) * p_smooth + mix / len(bins))
    w /= (p_smooth * w).sum()
    return w.astype(np.float32)


def compute_losses(ab_pred: torch.Tensor, ab_true: torch.Tensor, cfg, *, logits: torch.Tensor | None = None,
                   bins: torch.Tensor | None = None, class_weights: torch.Tensor | None = None,
                   paint: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """ab (N, 2, H, W) normalised; logits (N, K, h, w) (h = H/4) for the classification head;
    ``paint`` = (l_paint, l_ink, l_true), each (N, 1, H, W) normalised, for a paint model: the
    paint term scores the composite the user sees, min(l_paint, l_ink), against the true L.
    Returns the weighted total as ``loss`` and each term unweighted."""
    lc = cfg.loss
    losses: dict[str, torch.Tensor] = {}
    total = ab_pred.new_zeros(())
    if lc.l1 > 0:
        losses["loss_l1"] = F.l1_loss(ab_pred, ab_true)
        total = total + lc.l1 * losses["loss_l1"]
    if lc.colorfulness > 0:
        chroma_pred = ab_pred.pow(2).sum(1).add(1e-6).sqrt().mean(dim=(1, 2))
        chroma_true = ab_true.pow(2).sum(1).add(1e-6).sqrt().mean(dim=(1, 2))
        losses["loss_cf"] = F.relu(chroma_true - chroma_pred).mean()
        total = total + lc.colorfulness * losses["loss_cf"]
    if lc.classification > 0:
        if logits is None or bins is None or class_weights is None:
            raise ValueError("loss.classification needs model.head=classification")
        scale = ab_true.shape[-1] // logits.shape[-1]
        # Only the 5 nearest bins have target mass: gather their log-probabilities rather than
        # multiply a dense (N, K, h, w) target; the pixel's weight is its nearest bin's.
        near_idx, near_w = soft_encode_sparse(F.avg_pool2d(ab_true, scale), bins)  # (N, 5, h, w)
        pixel_w = class_weights[near_idx[:, 0]]  # (N, h, w)
        ce = -(near_w * F.log_softmax(logits.float(), dim=1).gather(1, near_idx)).sum(1)
        losses["loss_cls"] = (pixel_w * ce).mean()
        total = total + lc.classification * losses["loss_cls"]
    if lc.paint_l1 > 0:
        if paint is None or paint[0] is None:
            raise ValueError("loss.paint_l1 needs a paint model (model.paint=true)")
        l_paint, l_ink, l_true = paint
        losses["loss_paint"] = F.l1_loss(torch.minimum(l_paint.float(), l_ink), l_true)
        total = total + lc.paint_l1 * losses["loss_paint"]
    losses["loss"] = total
    return losses
