"""The Python API as an application embeds it: bad settings refused at load with the documented
exceptions, every documented input form, and no state one colorizer leaves for another (found by
helper 50, a developer's afternoon with the API)."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

import irodori
from conftest import REPO, bw_page_image

EXAMPLE = REPO / "examples" / "photo_hills.png"


@pytest.fixture(scope="module")
def colorizer():
    return irodori.load_colorizer(threads=1)


def test_the_exceptions_are_importable_from_the_package_and_model_errors_share_one_base(tmp_path):
    from irodori import HintError, ImageReadError, ModelError, ModelNotFoundError, ReferenceImageError

    assert {"HintError", "ImageReadError", "ModelError", "ModelNotFoundError", "ReferenceImageError"} <= set(
        irodori.__all__)
    assert issubclass(ModelNotFoundError, ModelError) and issubclass(ModelNotFoundError, FileNotFoundError)
    assert all(issubclass(e, ValueError) for e in (HintError, ImageReadError, ModelError, ReferenceImageError))
    with pytest.raises(ModelError, match="no such model"):
        irodori.load_colorizer("no-such-model")
    features = REPO / "src" / "irodori" / "models" / "reference-lite0.onnx"  # an ONNX model, not a colorizer
    with pytest.raises(ModelError, match="not an irodori model"):
        irodori.load_colorizer(features)


@pytest.mark.parametrize("setting, value", [("max_pixels", "10"), ("max_pixels", 0), ("max_pixels", 2.5),
                                            ("max_side", 64.5), ("max_side", "256"), ("max_side", True)])
def test_a_bad_setting_is_refused_at_load_and_leaves_other_colorizers_working(colorizer, setting, value):
    with pytest.raises(ValueError, match=setting):
        irodori.load_colorizer("general-int8", threads=1, **{setting: value})
    assert colorizer.colorize(EXAMPLE).size == (720, 360)  # a string once broke every later decode


def test_documented_input_forms_big_endian_and_path_likes(colorizer, tmp_path):
    grey = np.asarray(Image.open(EXAMPLE).convert("L")).astype(np.uint16) * 257
    native = np.asarray(colorizer.colorize(grey))
    assert np.array_equal(np.asarray(colorizer.colorize(grey.astype(">u2"))), native)  # np.frombuffer of a PGM
    entry = next(e for e in os.scandir(EXAMPLE.parent) if e.name == EXAMPLE.name)
    assert colorizer.colorize(entry).size == (720, 360)

    class ReadOnly:  # a programming error of the caller's, not a corrupt image
        def read(self, n=-1):
            return EXAMPLE.read_bytes()

    with pytest.raises(TypeError, match="needs read, seek, tell and seekable"):
        colorizer.colorize(ReadOnly())


def test_bad_hint_palette_and_reference_values_are_the_documented_errors(colorizer):
    from irodori import HintError, ReferenceImageError

    with pytest.raises(HintError, match="palette must be"):
        colorizer.colorize(EXAMPLE, palette=5)
    with pytest.raises(HintError, match="not bytes"):
        colorizer.colorize(EXAMPLE, palette=b"#ff0000")
    with pytest.raises(HintError, match="not bytes"):
        colorizer.colorize(EXAMPLE, hints=b"10,10,#ff0000")
    with pytest.raises(ReferenceImageError, match="not int"):
        colorizer.colorize(EXAMPLE, reference=5)


def test_a_reference_array_gets_the_checks_a_reference_file_gets(colorizer):
    from irodori import ReferenceImageError

    rgb = np.asarray(colorizer.colorize(REPO / "examples" / "cartoon_tiger.png").convert("RGB"))  # a colour page
    grey = np.repeat(np.asarray(Image.fromarray(rgb).convert("L"))[..., None], 3, axis=2)
    for ref, says in [(grey, "has no colour"), (np.full((10, 10, 3), (200, 30, 30), np.uint8), "too small"),
                      (np.zeros((0, 0, 3), np.uint8), "empty image")]:
        with pytest.raises(ReferenceImageError, match=says):  # a grey array drained the page's colour
            colorizer.colorize(EXAMPLE, reference=[ref])
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert colorizer.colorize(EXAMPLE, reference=[rgba]).size == (720, 360)  # (H, W, 4) as a page takes it
    rgba[..., 3] = 0  # its colours all hidden: said so, not "no colour" (helper 72)
    with pytest.raises(ReferenceImageError, match="is wholly transparent: nothing of it shows"):
        colorizer.colorize(EXAMPLE, reference=[rgba])


def test_a_call_may_paint_with_a_colorizer_loaded_to_tint():
    page = Image.fromarray(bw_page_image(120, 160))
    tinter = irodori.load_colorizer(threads=1, mode="tint")
    assert tinter.colorize(page).info["irodori.mode"] == "tint"
    assert tinter.colorize(page, mode="paint").info["irodori.mode"] == "paint"  # was "needs a paint model"


def test_colorize_cbz_checks_its_arguments_before_any_work(colorizer, tmp_path):
    from irodori.cbz import colorize_cbz

    archive = tmp_path / "ch.cbz"
    buf = io.BytesIO()
    Image.open(EXAMPLE).convert("L").save(buf, "PNG")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("001.png", buf.getvalue())
    before = archive.read_bytes()
    for kwargs, says in [({"fmt": "jpeg"}, "unknown output format 'jpeg'"),
                         ({"fmt": "png", "compression": 20}, "from 0 to 9"),
                         ({"fmt": "jpg", "quality": 500}, "from 1 to 100")]:
        with pytest.raises(ValueError, match=says):
            colorize_cbz(colorizer, archive, tmp_path / "out.cbz", **kwargs)
        assert not (tmp_path / "out.cbz").exists()
    with pytest.raises(ValueError, match="is the archive being coloured"):
        colorize_cbz(colorizer, archive, archive, fmt="png")
    assert archive.read_bytes() == before


def test_keep_colour_returns_a_colour_input_as_it_is_and_colours_the_rest(tmp_path, capsys):
    """A chapter's colour cover was re-coloured from its lightness, with no way to keep it
    (helper 49): keep_colour (--keep-colour) keeps colour inputs as they are, and a batch counts
    them as kept, not coloured (helper 56)."""
    from irodori.cli import main

    keeper = irodori.load_colorizer(threads=1, keep_colour=True)
    rng = np.random.default_rng(0)
    cover = (rng.random((90, 120, 3)) * 255).astype(np.uint8)
    out = keeper.colorize(cover)
    assert out.info["irodori.mode"] == "kept" and np.array_equal(np.asarray(out), cover)
    grey = np.asarray(Image.open(EXAMPLE).convert("L"))
    assert keeper.colorize(grey).info["irodori.mode"] == "tint"  # a grey photo is coloured as ever
    buf, page = io.BytesIO(), io.BytesIO()
    Image.fromarray(cover).save(buf, "PNG")
    Image.fromarray(grey).save(page, "PNG")
    with zipfile.ZipFile(tmp_path / "ch.cbz", "w") as zf:
        zf.writestr("000_cover.png", buf.getvalue())
        zf.writestr("001.png", page.getvalue())
    assert main(["colorize", str(tmp_path / "ch.cbz"), "-o", str(tmp_path / "out"), "--keep-colour",
                 "--threads", "1"]) == 0
    assert "1 coloured, 0 skipped, 0 failed; 1 page of archives kept in colour" in capsys.readouterr().err
    with zipfile.ZipFile(tmp_path / "out" / "ch.cbz") as zf:
        kept = np.asarray(Image.open(io.BytesIO(zf.read("000_cover.png"))).convert("RGB"))
        coloured = np.asarray(Image.open(io.BytesIO(zf.read("001.png"))).convert("RGB"))
    assert np.array_equal(kept, cover)
    assert np.abs(coloured.astype(int) - grey[..., None]).max() > 10  # the grey page took colour
    Image.fromarray(cover).save(tmp_path / "cover.png")
    Image.fromarray(grey).save(tmp_path / "page.png")
    capsys.readouterr()
    assert main(["colorize", str(tmp_path / "cover.png"), str(tmp_path / "page.png"), "-o", str(tmp_path / "o2"),
                 "--keep-colour", "--threads", "1"]) == 0
    assert "1 coloured, 1 kept in colour, 0 skipped, 0 failed" in capsys.readouterr().err


def test_keep_colour_keeps_a_sepia_print_but_says_its_colour_is_one_hue(caplog):
    """A sepia print was kept by --keep-colour with no word (helper 61): it is still kept (single-
    coloured art is one hue too), with a warning saying how to colour it."""
    keeper = irodori.load_colorizer(threads=1, keep_colour=True)
    grey = np.asarray(Image.open(EXAMPLE).convert("L")).astype(np.float32) / 255
    sepia = np.stack([grey * 200 + 30, grey * 150 + 20, grey * 100 + 10], axis=-1).clip(0, 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    cover = (rng.random((90, 120, 3)) * 255).astype(np.uint8)
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        assert keeper.colorize(cover).info["irodori.mode"] == "kept"
        assert "one hue" not in caplog.text  # colours of every hue: kept without a word
        assert keeper.colorize(sepia).info["irodori.mode"] == "kept"
    assert "its colour is one hue" in caplog.text and "colour it without --keep-colour" in caplog.text
    caplog.clear()
    from irodori.color import lab_to_rgb, rgb_to_uint8

    chroma = 10 + 40 * rng.random(grey.shape)  # one warm hue whose chroma varies at each lightness: a
    warm = np.stack([20 + grey * 70, chroma * np.cos(np.radians(50)), chroma * np.sin(np.radians(50))], -1)
    with caplog.at_level("WARNING", logger="irodori.colorizer"):  # photo of a red cup, not a toned print
        assert keeper.colorize(rgb_to_uint8(lab_to_rgb(warm))).info["irodori.mode"] == "kept"
    assert "one hue" not in caplog.text  # (helper 66: real colour photos were said to be perhaps sepia)
    faint = (grey[..., None] * 230 + np.array([[[-10, 2, 14]]]) * (grey[..., None] > 0.5)).clip(0, 255)
    with caplog.at_level("WARNING", logger="irodori.colorizer"):  # a faded colour snapshot (helper 61)
        assert keeper.colorize(faint.astype(np.uint8)).info["irodori.mode"] == "tint"
    assert "holds faint colour (mean chroma" in caplog.text


def test_keep_colour_reads_only_what_shows_and_says_what_it_leaves_unused(caplog):
    """Helper 51: colour hidden under alpha 0 made a grey image "colour" (kept with --mode tint);
    the hints and palette of a kept image were dropped without a word; 1 % of colour on a B&W
    page kept it B&W; an RGBa input lost its alpha; keep_colour="no" turned keeping on."""
    keeper = irodori.load_colorizer(threads=1, keep_colour=True)
    grey = np.asarray(Image.open(EXAMPLE).convert("L").resize((256, 128)))
    rgba = np.zeros((128, 256, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = grey[..., None], 255
    rgba[:, :128] = (255, 0, 0, 0)  # red, but transparent
    assert keeper.colorize(rgba, mode="tint").info["irodori.mode"] == "tint"
    rng = np.random.default_rng(0)
    colour = (rng.random((90, 120, 3)) * 255).astype(np.uint8)
    with caplog.at_level("WARNING", logger="irodori"):
        keeper.colorize(colour, hints=[(5, 5, "#ff0000")], palette="#ff0000")
    assert "kept as it is: its hints and palette are not used" in caplog.text
    page = np.repeat(grey[..., None], 3, axis=2).copy()
    page[:12, :12] = (255, 0, 0)  # a colour strip beside a B&W scan: about 0.5 % of it
    assert keeper.colorize(page).info["irodori.mode"] != "kept"
    page[:24, :24] = (255, 0, 0)  # about 2 %: a colour image, but under keeping's 5 %: said so (helper 58)
    caplog.clear()
    with caplog.at_level("WARNING", logger="irodori"):
        assert keeper.colorize(page).info["irodori.mode"] != "kept"
    assert "keeping colour keeps only images more than 5% clearly coloured" in caplog.text
    assert "--keep-colour" not in caplog.text  # not advised to the one who gave it
    assert keeper.colorize(Image.fromarray(np.dstack([colour, np.full((90, 120), 128, np.uint8)]), "RGBA")
                           .convert("RGBa")).mode == "RGBA"
    with pytest.raises(ValueError, match="keep_colour must be True or False"):
        irodori.load_colorizer("general-int8", keep_colour="no")


def test_only_3_or_4_hint_channels(tmp_path, capsys):
    from irodori.cli import main
    from irodori.model import GeneratorConfig

    with pytest.raises(ValueError, match=r"hint_channels must be an integer in \[3, 4\]"):
        GeneratorConfig(hint_channels=5)
    assert main(["train", "--dry-run", "--preset", "paint", "--init", "manga", "--model.hint_channels=2",
                 "--out", str(tmp_path / "r")]) == 2
    assert "only 4 may be asked" in capsys.readouterr().err


def test_a_max_side_far_beyond_the_models_own_is_warned_of(caplog):
    """--max-side 100000 ran without a word, 2.9 GB and garish colour on a 12 MP scan (helper 61)."""
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        irodori.load_colorizer("general-int8", max_side=768, threads=1)
        assert "max_side" not in caplog.text
        irodori.load_colorizer("general-int8", max_side=4096, threads=1)
    assert "max_side 4096: the network sees images at up to 4096 px a side, where general-int8's own is 512" \
        in caplog.text


def test_the_one_call_api_takes_its_threads_and_keeps_its_models():
    """Helper 66: irodori.colorize() could not be limited to a core on a shared machine."""
    from irodori import colorizer as module

    out = irodori.colorize(EXAMPLE, threads=1)
    kept = module._DEFAULTS[1]
    assert kept.workers == 1 and kept.backend.session.get_session_options().intra_op_num_threads == 1
    assert np.array_equal(np.asarray(irodori.colorize(EXAMPLE, threads=1)), np.asarray(out))
    assert module._DEFAULTS[1] is kept  # loaded once, reused
