"""A paint model's second lightness head, for line art (model.line_art_head): grown as a copy of
the page head, trained on the samples that are line art, exported as a third output
(l_paint_line_art), and used by the colorizer where the contract keeps line art's sheet paper."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import bw_page_image

torch = pytest.importorskip("torch")


def _paint_model():
    from irodori.model import Generator, GeneratorConfig

    torch.manual_seed(0)
    return Generator(GeneratorConfig(encoder="efficientnet-lite0", head="classification", paint=True)).eval()


def test_a_grown_line_art_head_starts_as_the_page_head_and_is_chosen_per_image():
    from irodori.model import Generator, GeneratorConfig, grow_line_art_head

    model = _paint_model()
    with torch.no_grad():
        model.l_head.weight.normal_(0.0, 0.05)  # a trained head, not the zeros it starts from
    grown = grow_line_art_head(model).eval()
    assert grown.config.line_art_head
    l, hints = torch.rand(2, 1, 64, 64) * 2 - 1, torch.zeros(2, 3, 64, 64)
    with torch.inference_mode():
        _, page = model(l, hints, return_l=True)
        for line_art in (False, True, torch.tensor([True, False])):
            assert torch.equal(grown(l, hints, return_l=True, line_art=line_art)[1], page)
        with torch.no_grad():
            grown.l_head_line_art.bias.fill_(-0.5)  # line art's fills darker than the page head's
        _, mixed = grown(l, hints, return_l=True, line_art=torch.tensor([True, False]))
        _, art = grown(l, hints, return_l=True, line_art=True)
    assert torch.equal(mixed[1], page[1]) and torch.equal(mixed[0], art[0])
    assert (art[0] <= page[0]).all() and (art[0] < page[0]).float().mean() > 0.5
    with pytest.raises(ValueError, match="needs model.paint"):
        GeneratorConfig(line_art_head=True)
    with pytest.raises(ValueError, match="cannot grow a line-art lightness head on a tint model"):
        grow_line_art_head(Generator(GeneratorConfig()))


def test_samples_say_which_are_line_art():
    from irodori.config import DataConfig
    from irodori.data import make_sample

    rgb = np.asarray(Image.fromarray(bw_page_image(64, 64)).convert("RGB"))
    art = make_sample(rgb, np.random.default_rng(0), DataConfig(paint_prob=1.0, lineart_share=1.0))
    page = make_sample(rgb, np.random.default_rng(0), DataConfig(paint_prob=1.0, lineart_share=0.0))
    paired = make_sample(rgb, np.random.default_rng(0), DataConfig(paint_prob=0.0), l_given=np.full((64, 64), 90.0))
    assert art["line_art"].tolist() == [1.0] and paired["line_art"].tolist() == [1.0]
    assert page["line_art"].tolist() == [0.0]


@pytest.fixture(scope="module")
def two_head_onnx(tmp_path_factory):
    """A tiny paint model with a line-art head, trained a few steps (its line-art samples
    through that head), its line-art head then made darker, exported."""
    from irodori.checkpoint import load_generator, save_checkpoint
    from irodori.config import load_config
    from irodori.export import export_onnx
    from irodori.train import train

    out = tmp_path_factory.mktemp("tiny-two-head-run")
    cfg = load_config("tiny", {"out_dir": str(out), "steps": 4, "val_every": 0,
                               "model": {"paint": True, "line_art_head": True},
                               "data": {"paint_prob": 1.0, "lineart_share": 0.5}, "loss": {"paint_l1": 1.0}})
    last = train(cfg, dry_run=True, progress=False)
    model, meta = load_generator(last)
    with torch.no_grad():
        model.l_head_line_art.bias.fill_(-1.0)  # a line-art head that paints fills black: easy to see
    darker = tmp_path_factory.mktemp("darker")
    save_checkpoint(darker, model=model, step=int(meta["step"]), config=meta["config"], keep=1)
    path = tmp_path_factory.mktemp("onnx") / "tiny-two-head.onnx"
    export_onnx(darker, path, name="tiny-two-head", max_side=128)
    return path


def test_a_two_head_model_exports_both_and_line_art_is_painted_with_its_own(two_head_onnx):
    import onnx

    from irodori import load_colorizer
    from irodori.colorizer import OnnxBackend

    outputs = [o.name for o in onnx.load(str(two_head_onnx)).graph.output]
    assert outputs == ["ab", "l_paint", "l_paint_line_art"]
    backend = OnnxBackend(two_head_onnx)
    assert backend.paints
    l, hints = np.zeros((1, 1, 64, 64), np.float32), np.zeros((1, 3, 64, 64), np.float32)
    page_l, art_l = (backend.run_paint(l, hints, line_art=flag)[1] for flag in (False, True))
    assert (art_l < page_l - 0.5).mean() > 0.9
    # A ring on a blank sheet is line art (its sheet stays paper): the ring's inside takes the
    # line-art head's lightness; a page (its sheet painted) takes the page head's.
    sheet = Image.new("L", (128, 128), 255)
    ImageDraw.Draw(sheet).ellipse((24, 24, 104, 104), outline=0, width=3)
    colorizer = load_colorizer(two_head_onnx, threads=1)
    inside = (slice(54, 74), slice(54, 74))
    as_art = np.asarray(colorizer.colorize(sheet, mode="paint", background="paper").convert("L"))[inside]
    as_page = np.asarray(colorizer.colorize(sheet, mode="paint", background="paint").convert("L"))[inside]
    assert as_art.mean() < as_page.mean() - 40


def test_training_from_a_paint_model_grows_a_line_art_head_and_the_shipped_one_has_one(tmp_path, caplog):
    from irodori.checkpoint import load_generator
    from irodori.cli import main
    from irodori.registry import resolve_init_weights

    assert load_generator(resolve_init_weights("manga"))[0].config.line_art_head
    one_head = tmp_path / "one-head"
    assert main(["train", "--dry-run", "--preset", "tiny", "--model.paint=true", "--data.paint_prob=1.0",
                 "--out", str(one_head), "-q"]) == 0
    out = tmp_path / "grown"
    with caplog.at_level("INFO", logger="irodori"):
        code = main(["train", "--dry-run", "--preset", "tiny", "--init", str(one_head), "--model.line_art_head=true",
                     "--data.paint_prob=1.0", "--out", str(out)])
    assert code == 0 and "grew a line-art lightness head" in caplog.text
    meta = json.loads(next(out.glob("step-*/checkpoint.json")).read_text())
    assert meta["arch"]["line_art_head"] is True
