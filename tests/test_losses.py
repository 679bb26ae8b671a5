"""Loss terms: soft encoding, class rebalancing, each weight switches its term."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from irodori.color import ab_bins, normalize_ab  # noqa: E402
from irodori.config import load_config  # noqa: E402
from irodori.losses import class_rebalance_weights, compute_losses, soft_encode  # noqa: E402

BINS = torch.from_numpy(normalize_ab(ab_bins()))


def test_bins_cover_the_gamut_on_a_10_unit_grid():
    bins = ab_bins()
    assert 200 < len(bins) < 320
    assert np.all(np.abs(bins) <= 110)
    assert [0.0, 0.0] in bins.tolist()


def test_soft_encoding_is_a_distribution_peaked_at_the_nearest_bin():
    ab = torch.tensor([[0.0, 0.0], [0.5, -0.3]]).T.reshape(1, 2, 1, 2)
    q = soft_encode(ab, BINS)
    assert torch.allclose(q.sum(1), torch.ones(1, 1, 2))
    assert int((q[0, :, 0, 0] > 0).sum()) == 5
    nearest = ((BINS - ab[0, :, 0, 1]) ** 2).sum(1).argmin()
    assert q[0, :, 0, 1].argmax() == nearest


def test_rebalancing_favours_rare_colours():
    rng = np.random.default_rng(0)
    common = rng.normal(0, 0.02, (5000, 2))  # mostly near-grey
    rare = np.tile([[0.6, 0.4]], (50, 1))
    bins = BINS.numpy()
    w = class_rebalance_weights(np.concatenate([common, rare]), bins)
    grey = ((bins - [0, 0]) ** 2).sum(1).argmin()
    vivid = ((bins - [0.6, 0.4]) ** 2).sum(1).argmin()
    assert w[vivid] > 3 * w[grey]
    assert np.isfinite(w).all() and (w > 0).all()


def test_each_weight_switches_its_term():
    ab_true = torch.rand(2, 2, 16, 16) - 0.5
    ab_pred = torch.zeros_like(ab_true)
    cfg = load_config("tiny", {"loss": {"l1": 1.0, "colorfulness": 0.0}})
    assert set(compute_losses(ab_pred, ab_true, cfg)) == {"loss", "loss_l1"}
    cfg = load_config("tiny", {"loss": {"l1": 0.0, "colorfulness": 2.0}})
    losses = compute_losses(ab_pred, ab_true, cfg)
    assert set(losses) == {"loss", "loss_cf"} and torch.allclose(losses["loss"], 2 * losses["loss_cf"])
    assert losses["loss_cf"] > 0  # grey prediction falls short of the truth's chroma
    cfg = load_config("tiny", {"model": {"head": "classification"}, "loss": {"l1": 0.0, "classification": 1.0}})
    logits = torch.zeros(2, len(BINS), 8, 8, requires_grad=True)
    losses = compute_losses(ab_pred, ab_true, cfg, logits=logits, bins=BINS, class_weights=torch.ones(len(BINS)))
    assert set(losses) == {"loss", "loss_cls"}
    losses["loss"].backward()
    assert logits.grad.abs().sum() > 0


def test_classification_needs_its_head():
    from irodori.config import ConfigError

    with pytest.raises(ConfigError, match="go together"):
        load_config("tiny", {"loss": {"classification": 1.0}})
