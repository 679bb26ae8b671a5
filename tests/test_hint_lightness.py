"""Hints that carry their lightness: a model with a fourth hint channel (model.hint_channels 4),
grown on one with three, trained with the truth's L under each simulated hint, exported, and fed
the hint colour's L when painting (the page's when tinting)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import bw_page_image
from irodori.color import normalize_l, rgb_to_lab
from irodori.hints import HINT_CHANNELS_WITH_L, Hint, hint_map
from irodori.imageio import lightness_of

torch = pytest.importorskip("torch")


def test_hint_map_gives_paint_the_hint_colours_lightness_and_tint_the_pages():
    hints = [Hint(x=10, y=20, rgb=(200, 40, 40)), Hint(x=70, y=50, rgb=(250, 240, 200))]
    page_l = np.linspace(0.0, 100.0, 40 * 40, dtype=np.float32).reshape(40, 40)
    three = hint_map(hints, (80, 80), (40, 40))
    paint = hint_map(hints, (80, 80), (40, 40), channels=HINT_CHANNELS_WITH_L)
    tint = hint_map(hints, (80, 80), (40, 40), channels=HINT_CHANNELS_WITH_L, page_l=page_l)
    assert paint.shape == tint.shape == (4, 40, 40)
    assert np.array_equal(paint[:3], three) and np.array_equal(tint[:3], three)  # a, b, mask as before
    assert np.array_equal(paint[3] != 0, three[2] == 1)  # L only under the hints
    colour_l = rgb_to_lab(np.array([[200, 40, 40], [250, 240, 200]], np.uint8))[:, 0]
    assert paint[3, 10, 5] == pytest.approx(normalize_l(colour_l[0]), abs=1e-5)
    assert paint[3, 25, 35] == pytest.approx(normalize_l(colour_l[1]), abs=1e-5)
    assert tint[3, 10, 5] == pytest.approx(normalize_l(page_l[9:12, 4:7].mean()), abs=1e-5)


def test_simulated_hints_with_lightness_make_the_same_draws_and_carry_the_truths_l():
    from irodori.data import simulate_hints

    rng = np.random.default_rng(0)
    ab = rng.uniform(-60, 60, (2, 48, 48)).astype(np.float32)
    l = rng.uniform(0, 100, (48, 48)).astype(np.float32)
    for seed in range(5):
        three = simulate_hints(ab, np.random.default_rng(seed), max_hints=16)
        four = simulate_hints(ab, np.random.default_rng(seed), max_hints=16, l=l)
        assert four.shape == (4, 48, 48) and np.array_equal(four[:3], three)
        under = four[2] == 1
        assert under.any() and not four[3][~under].any()
        values = np.unique(four[3][under])  # one L per patch: its mean truth L, normalised
        assert (values >= -1).all() and (values <= 1).all() and len(values) <= 16


def test_a_grown_lightness_channel_starts_as_the_model_it_grew_on():
    from irodori.model import Generator, GeneratorConfig, grow_hint_lightness

    torch.manual_seed(0)
    cfg = GeneratorConfig(encoder="efficientnet-lite0", head="classification", paint=True)
    model = Generator(cfg).eval()
    grown = grow_hint_lightness(model).eval()
    assert grown.config.hint_channels == 4
    l = torch.rand(1, 1, 64, 64) * 2 - 1
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :, 20:23, 30:33] = torch.tensor([0.4, -0.3, 1.0])[:, None, None]
    with_l = torch.cat([hints, torch.zeros(1, 1, 64, 64)], dim=1)
    with_l[0, 3, 20:23, 30:33] = 0.6  # any lightness: its weights start at zero
    with torch.inference_mode():
        for before, after in zip(model(l, hints, return_l=True), grown(l, with_l, return_l=True)):
            assert torch.equal(before, after)
    with pytest.raises(ValueError, match="cannot grow"):
        grow_hint_lightness(grown)
    with pytest.raises(ValueError, match="cannot grow"):
        grow_hint_lightness(Generator(GeneratorConfig()))  # the U-Net's stem interleaves its channels


@pytest.fixture(scope="module")
def lightness_paint_onnx(tmp_path_factory):
    """A tiny paint model with four hint channels, a few steps on synthetic B&W pages, exported."""
    from irodori.config import load_config
    from irodori.export import export_onnx
    from irodori.train import train

    out = tmp_path_factory.mktemp("tiny-l-run")
    cfg = load_config("tiny", {"out_dir": str(out), "steps": 4, "val_every": 0,
                               "model": {"paint": True, "hint_channels": 4},
                               "data": {"paint_prob": 0.8, "hint_prob": 1.0}, "loss": {"paint_l1": 1.0}})
    train(cfg, dry_run=True, progress=False)
    path = tmp_path_factory.mktemp("onnx") / "tiny-l.onnx"
    export_onnx(out, path, name="tiny-l", max_side=128)
    return path


def test_a_model_taking_hints_lightness_exports_loads_and_paints_with_a_hint(lightness_paint_onnx):
    import onnx

    from irodori import load_colorizer
    from irodori.colorizer import OnnxBackend

    backend = OnnxBackend(lightness_paint_onnx)
    assert backend.hint_channels == 4 and backend.paints
    meta = {p.key: p.value for p in onnx.load(str(lightness_paint_onnx)).metadata_props}
    assert "hints=(N,4,H,W)" in meta["irodori.interface"] and "(L/50-1)*mask" in meta["irodori.interface"]
    page = Image.fromarray(bw_page_image(96, 128))
    colorizer = load_colorizer(lightness_paint_onnx)
    for mode in ("paint", "tint"):
        out = colorizer.colorize(page, hints=[(64, 48, "#d02020")], mode=mode)
        assert out.size == page.size and out.mode == "RGB"
    # What the network is fed: the hint colour's L when painting, the page's own when tinting.
    lightness, _ = lightness_of(page)
    hint = Hint(x=64, y=48, rgb=(208, 32, 32))
    _, painted, (h, w) = colorizer.network_inputs(lightness, hints=[hint], paint=True)
    _, tinted, _ = colorizer.network_inputs(lightness, hints=[hint])
    y, x = hint.cell(lightness.shape, (h, w))
    red_l = rgb_to_lab(np.array([[208, 32, 32]], np.uint8))[0, 0]
    assert painted.shape[1] == tinted.shape[1] == 4
    assert painted[0, 3, y, x] == pytest.approx(normalize_l(red_l), abs=1e-5)
    assert tinted[0, 3, y, x] == pytest.approx(normalize_l(lightness.reduced(h, w)[y - 1:y + 2, x - 1:x + 2].mean()),
                                               abs=1e-4)


def test_training_from_a_shipped_model_grows_the_lightness_channel(tmp_path, caplog):
    from irodori.cli import main

    out = tmp_path / "grown"
    with caplog.at_level("INFO", logger="irodori"):
        code = main(["train", "--dry-run", "--preset", "paint", "--init", "manga", "--model.hint_channels=4",
                     "--out", str(out)])
    assert code == 0
    assert "grew a lightness hint channel" in caplog.text
    meta = json.loads(next(out.glob("step-*/checkpoint.json")).read_text())
    assert meta["config"]["model"]["hint_channels"] == 4
