"""Evaluation metrics: PSNR, SSIM, colourfulness, ΔCF, Fréchet distance, EfficientNet-Lite0 features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irodori.color import l_to_gray_rgb, rgb_to_l
from irodori.metrics import (colorfulness, delta_cf, feature_statistics, frechet_distance, hue_counts, hue_overlap,
                             psnr, ssim)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    h, w = 48, 40
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([255 * yy / h, 255 * xx / w, 128 + 60 * np.sin(xx / 5.0)], axis=-1)
    return np.clip(rgb + rng.normal(0, 8, rgb.shape), 0, 255).astype(np.uint8)


def _noisy(rgb: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rgb + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8)


# ---- hue counts and overlap ------------------------------------------------------------------
def test_hue_counts_put_pure_colours_in_their_sectors_and_skip_grey():
    # red, yellow, green, cyan, blue, magenta, then grey and a near-grey beige (C*ab < 12)
    rgb = np.array([[[255, 0, 0], [255, 255, 0], [0, 200, 0], [0, 255, 255], [0, 0, 255], [255, 0, 255],
                     [128, 128, 128], [200, 196, 188]]], np.uint8)
    # h_ab: red 40, yellow 103, green 136, cyan 197, blue 306, magenta 328
    assert hue_counts(rgb).tolist() == [1, 1, 1, 1, 0, 2]
    with pytest.raises(ValueError, match="H, W, 3"):
        hue_counts(rgb[..., 0])


def test_hue_overlap_is_one_for_the_same_spread_and_low_for_a_sepia_wash():
    truth = np.array([10, 30, 20, 0, 25, 15])
    assert hue_overlap(truth * 7, truth) == pytest.approx(1.0)  # counts, not shares: the size does not matter
    sepia = np.array([20, 80, 0, 0, 0, 0])
    assert hue_overlap(sepia, truth) == pytest.approx(0.10 + 0.30)
    assert math.isnan(hue_overlap(np.zeros(6), truth))


# ---- PSNR, colourfulness, ΔCF ----------------------------------------------------------------
def test_psnr_identical_is_inf_and_shape_mismatch_raises(photo):
    assert psnr(photo, photo) == math.inf
    assert 20 < psnr(_noisy(photo, 10), photo) < 35
    with pytest.raises(ValueError, match="shape"):
        psnr(photo, photo[:-1])


def test_colorfulness_of_grey_is_zero_and_of_colour_positive(photo):
    grey = np.repeat(photo[..., :1], 3, axis=-1)
    assert colorfulness(grey) == 0.0
    assert colorfulness(photo) > 10
    with pytest.raises(ValueError):
        colorfulness(photo[..., 0])


def test_colorfulness_uses_the_signed_opponent_channels():
    # Uniform colours: no spread, so CF = 0.3 * |(mean rg, mean yb)|; the signed yb of pure blue is -255.
    blue = np.zeros((4, 4, 3), np.uint8)
    blue[..., 2] = 255
    assert colorfulness(blue) == pytest.approx(0.3 * 255)
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert colorfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))


def test_delta_cf_is_symmetric_and_zero_on_equal_means():
    assert delta_cf(30.0, 30.0) == 0.0
    assert delta_cf(20.0, 30.0) == delta_cf(40.0, 30.0) == 10.0


# ---- SSIM ------------------------------------------------------------------------------------
def test_ssim_identical_images_is_one(photo):
    assert ssim(photo, photo) == pytest.approx(1.0, abs=1e-12)
    assert ssim(photo[..., 0], photo[..., 0]) == pytest.approx(1.0, abs=1e-12)  # 2-D grey images too


def test_ssim_of_grey_images():
    flat = np.full((32, 32, 3), 100, np.uint8)
    assert ssim(flat, flat) == pytest.approx(1.0)
    # Two flat greys: only the luminance term remains, (2 a b + C1) / (a^2 + b^2 + C1).
    other = np.full((32, 32, 3), 140, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(flat, other) == pytest.approx((2 * 100 * 140 + c1) / (100**2 + 140**2 + c1))


def test_ssim_falls_with_noise(photo):
    light, heavy = ssim(_noisy(photo, 5), photo), ssim(_noisy(photo, 40), photo)
    assert 0 < heavy < light < 1


def test_ssim_matches_scikit_image(photo):
    metrics = pytest.importorskip("skimage.metrics")
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    noisy = _noisy(photo, 25)
    ref = metrics.structural_similarity(noisy, photo, channel_axis=-1, **kw)
    assert ssim(noisy, photo) == pytest.approx(ref, abs=1e-3)
    ref_grey = metrics.structural_similarity(noisy[..., 1], photo[..., 1], **kw)
    assert ssim(noisy[..., 1], photo[..., 1]) == pytest.approx(ref_grey, abs=1e-3)


def test_ssim_rejects_shape_mismatch_and_tiny_images(photo):
    with pytest.raises(ValueError, match="shape"):
        ssim(photo, photo[:, :-1])
    with pytest.raises(ValueError, match="11x11"):
        ssim(photo[:10], photo[:10])


# ---- Fréchet distance ------------------------------------------------------------------------
def test_frechet_distance_of_identical_statistics_is_zero():
    feats = np.random.default_rng(0).normal(size=(40, 16))
    mu, sigma = feature_statistics(feats)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    # fewer samples than dimensions: a singular covariance is fine
    mu, sigma = feature_statistics(feats[:5])
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_closed_forms():
    # 1-D: (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2)
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 4 + 9 - 2 * 6)
    # diagonal: the sum over dimensions
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([4.0, 2.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2 + s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)
    # a rotation of both Gaussians changes nothing
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    rotated = frechet_distance(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T)
    assert rotated == pytest.approx(expected)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError):
        feature_statistics(np.zeros((1, 8)))  # one sample has no covariance


# ---- EfficientNet-Lite0 features -------------------------------------------------------------
@pytest.fixture(scope="module")
def extractor():
    from irodori.features import features_available, load_feature_extractor

    if not features_available():
        pytest.skip("EfficientNet-Lite0 packages not installed (the eval extra)")
    return load_feature_extractor()


def test_the_feature_network_knows_a_cat(extractor):
    data = pytest.importorskip("skimage.data")
    logits = extractor.logits([data.chelsea(), data.coffee()])
    assert 281 <= int(np.argmax(logits[0])) <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert int(np.argmax(logits[1])) == 967  # espresso


def test_fd_of_a_set_with_itself_is_zero_and_with_its_grey_versions_is_not(extractor, photo):

    rng = np.random.default_rng(2)
    images = [photo, _noisy(photo, 20)] + [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(2)]
    feats = extractor.features(images)
    assert feats.shape == (4, 1280) and np.isfinite(feats).all()
    greys = extractor.features([l_to_gray_rgb(rgb_to_l(im)) for im in images])
    stats, stats_grey = feature_statistics(feats), feature_statistics(greys)
    assert frechet_distance(*stats, *stats) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(*stats, *stats_grey) > 1.0


def test_features_are_refused_when_the_weights_are_not_ours(monkeypatch):
    from irodori import features

    if not features.features_available():
        pytest.skip("EfficientNet-Lite0 packages not installed (the eval extra)")
    package, file_class, _ = features.IMAGENET_WEIGHTS["efficientnet-lite0"]
    monkeypatch.setitem(features.IMAGENET_WEIGHTS, "efficientnet-lite0", (package, file_class, "0" * 64))
    with pytest.raises(features.FeaturesUnavailable, match="sha256"):
        features.FeatureExtractor()


# ---- evaluate_folder -------------------------------------------------------------------------
def test_evaluate_folder_reports_every_metric_beside_the_baseline(tiny_onnx, colour_folder):
    from irodori.evaluate import FOOTNOTE, evaluate_folder, format_table
    from irodori.features import features_available

    result = evaluate_folder(str(tiny_onnx), colour_folder, hints=2, progress=False)
    for side in ("prediction", "grayscale"):
        for key in ("psnr", "ssim", "colorfulness", "colorfulness_ratio", "delta_cf", "fd"):
            assert key in result[side], (side, key)
        assert -1 <= result[side]["ssim"] <= 1
    assert result["grayscale"]["delta_cf"] == pytest.approx(result["truth"]["colorfulness"])
    assert {"ssim", "ssim_gray", "ssim_hints"} <= set(result["per_image"][0])
    assert "ssim" in result["with_hints"]
    if features_available():
        assert result["prediction"]["fd"] >= 0 and result["grayscale"]["fd"] > 0
    table = format_table(result)
    assert "| | PSNR (dB) | SSIM | CF | CF / truth | ΔCF | FD |" in table
    assert "grayscale baseline" in table and "hints from the truth" in table and FOOTNOTE in table


def test_evaluate_folder_fd_switches(tiny_onnx, colour_folder, monkeypatch):
    from irodori.evaluate import evaluate_folder, format_table
    from irodori.features import features_available

    off = evaluate_folder(str(tiny_onnx), colour_folder, limit=2, fd=False, progress=False)
    assert off["prediction"]["fd"] is None and off["notes"] and off["notes"][0] in format_table(off)
    if not features_available():
        return
    one = evaluate_folder(str(tiny_onnx), colour_folder, limit=1, fd=True, progress=False)
    assert math.isnan(one["prediction"]["fd"]) and "at least 2 images" in " ".join(one["notes"])
    assert "| n/a |" in format_table(one)
    from irodori.colorizer import load_colorizer
    from irodori.features import FeatureExtractor

    seen, real = [], FeatureExtractor._run  # `evaluate --threads 1` ran the FD network on every core (helper 80)
    monkeypatch.setattr(FeatureExtractor, "_run", lambda self, images, head: seen.append(self.threads)
                        or real(self, images, head))
    evaluate_folder(load_colorizer(tiny_onnx, threads=1), colour_folder, limit=2, fd=True, progress=False)
    assert seen and set(seen) == {1}


def test_a_grey_file_among_the_truths_is_skipped_and_named(tiny_onnx, colour_folder):
    # found by a helper: scored as a truth of colourfulness 0, it pulled the set's means down
    from PIL import Image

    from irodori.evaluate import evaluate_folder

    rgb = np.asarray(Image.open(colour_folder / "img0.png").convert("RGB"))
    Image.fromarray(rgb).convert("L").convert("RGB").save(colour_folder / "zz_grey.jpg", quality=80)
    grey = np.asarray(Image.fromarray(rgb).convert("L").convert("RGB")).copy()
    grey[10:16, 20:30] = (190, 50, 50)  # hand tinting on about 1 % of it: a colour truth
    Image.fromarray(grey).save(colour_folder / "zz_tinted.png")
    result = evaluate_folder(str(tiny_onnx), colour_folder, fd=False, progress=False)
    scored = [r["image"] for r in result["per_image"]]
    assert result["images"] == 7 and not any(n.startswith("zz_grey") for n in scored) and "zz_tinted.png" in scored
    assert "zz_grey.jpg (a grey image: no colour to score against)" in " ".join(result["notes"])


def test_evaluate_writes_strict_json_and_one_sheet_per_image_even_when_stems_repeat(tiny_onnx, colour_folder,
                                                                                    tmp_path):
    import json

    from PIL import Image

    from irodori.evaluate import evaluate_folder, result_json

    folder = tmp_path / "set"
    folder.mkdir()
    rgb = np.asarray(Image.open(colour_folder / "img0.png"))
    Image.fromarray(rgb).save(folder / "a.png")
    Image.fromarray(rgb[::-1]).save(folder / "a.bmp")
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(folder / "grey.png")  # no colour: skipped
    result = evaluate_folder(str(tiny_onnx), folder, fd=True, limit=1, progress=False)
    assert math.isnan(result["prediction"]["fd"])  # one image: FD undefined
    strict = json.loads(result_json(result), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert strict["prediction"]["fd"] is None and strict["images"] == 1
    assert "FD undefined: it needs at least 2 images, and 1 image could be scored." in result["notes"]
    (folder / "a.bmp").unlink()  # of two files, one scored (the grey one skipped): said too, not only for one file
    assert "FD undefined: it needs at least 2 images, and 1 image could be scored." in evaluate_folder(
        str(tiny_onnx), folder, fd=True, progress=False)["notes"]
    Image.fromarray(rgb[::-1]).save(folder / "a.bmp")
    result = evaluate_folder(str(tiny_onnx), folder, fd=True, progress=False)
    assert math.isfinite(result["prediction"]["fd"])  # two images: FD given, and said to be mostly their number
    assert any(n.startswith("FD on 2 images: its feature covariance has rank 1") for n in result["notes"])
    result = evaluate_folder(str(tiny_onnx), folder, sheets=tmp_path / "sheets", fd=False, progress=False)
    result["per_image"][1]["psnr_gray"] = math.inf  # an exact match (a painted line art equal to its truth)
    assert json.loads(result_json(result))["per_image"][1]["psnr_gray"] is None
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == ["a_bmp.jpg", "a_png.jpg"]
    # the columns are labelled (a helper could not tell them apart): a strip of dark text above the panels
    sheet = np.asarray(Image.open(tmp_path / "sheets" / "a_png.jpg").convert("L"))
    from PIL import ImageDraw

    from irodori.evaluate import fit_label

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))  # a name the font cannot draw, a path too long for its panel
    assert fit_label(draw, "café 漫画@3", 300) == "cafe ??@3"
    cut = fit_label(draw, "runs/a very long experiment name, fine-tuned on the wesnoth portraits@300", 120)
    assert cut.startswith("...") and cut.endswith("portraits@300") and draw.textlength(cut) <= 120
    assert sheet.shape[0] == 256 + 20 and (sheet[:20] < 100).mean() > 0.002 and (sheet[:20] > 200).mean() > 0.5


def test_fd_without_the_packages_is_skipped_or_refused(tiny_onnx, colour_folder, monkeypatch):
    from irodori import evaluate, features

    monkeypatch.setattr(features, "_PACKAGES", ("irodori_no_such_package",))
    monkeypatch.setattr(evaluate, "load_feature_extractor",  # bypass the cache
                        lambda threads=None: features.FeatureExtractor(threads=threads))
    auto = evaluate.evaluate_folder(str(tiny_onnx), colour_folder, limit=2, progress=False)
    assert auto["prediction"]["fd"] is None and "not installed" in auto["notes"][0]
    with pytest.raises(features.FeaturesUnavailable, match="pip install --no-deps efficientnet-lite-pytorch"):
        evaluate.evaluate_folder(str(tiny_onnx), colour_folder, limit=2, fd=True, progress=False)


def test_a_paired_set_is_scored_against_the_truths_colours_under_the_inputs_lightness(tiny_onnx, colour_folder,
                                                                                         tmp_path):
    from PIL import Image

    from irodori.color import lab_to_srgb8, rgb_to_lab
    from irodori.evaluate import evaluate_folder

    pairs = tmp_path / "pairs"
    (pairs / "input").mkdir(parents=True)
    (pairs / "truth").mkdir()
    truths = sorted(colour_folder.glob("*.png"))[:3]
    for i, path in enumerate(truths):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        Image.fromarray(rgb).save(pairs / "truth" / f"{path.stem}.png")
        grey = np.asarray(Image.fromarray(rgb).convert("L"))
        if i == 0:
            grey = (grey // 64 * 64 + 32).astype(np.uint8)  # a "page" whose lightness differs: 4 greys
        Image.fromarray(grey).save(pairs / "input" / f"{path.stem}.png")
    result = evaluate_folder(str(tiny_onnx), pairs, fd=False, progress=False)
    assert result["images"] == 3
    assert not any("ink on paper" in note for note in result["notes"])  # grey inputs: tint is their scoring
    # The baseline is the input's own grey against the truth's colours under that lightness: for
    # the posterised page that reference holds the truth's colours at its four greys.
    first = result["per_image"][0]
    rgb = np.asarray(Image.open(truths[0]).convert("RGB"))
    l_in = rgb_to_l(np.asarray(Image.open(pairs / "input" / f"{truths[0].stem}.png").convert("RGB")))
    lab = rgb_to_lab(rgb)
    reference = lab_to_srgb8(l_in.astype(np.float32), lab[..., 1].astype(np.float32), lab[..., 2].astype(np.float32))
    assert first["psnr_gray"] == pytest.approx(psnr(l_to_gray_rgb(l_in), reference))
    # a 1-bit input holds no colour under its black and white: every method "matched" the truth
    # (SSIM 1, infinite PSNR) and pulled the SSIM mean up (helper 55); it is skipped, named
    posterised = Image.open(pairs / "input" / f"{truths[0].stem}.png")
    posterised.load()
    Image.fromarray(np.asarray(posterised) > 128).save(pairs / "input" / f"{truths[0].stem}.png")
    result = evaluate_folder(str(tiny_onnx), pairs, fd=False, progress=False)
    assert result["images"] == 2 and f"{truths[0].stem} (no colour under its input's lightness" in " ".join(
        result["notes"])
    posterised.save(pairs / "input" / f"{truths[0].stem}.png")

    (pairs / "input" / f"{truths[1].stem}.png").unlink()
    with pytest.raises(FileNotFoundError, match=f"do not pair up: truth/{truths[1].stem}.png has no input"):
        evaluate_folder(str(tiny_onnx), pairs, fd=False, progress=False)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(pairs / "input" / f"{truths[1].stem}.png")
    (pairs / "input" / f"{truths[2].stem}.png").write_bytes(b"not an image")
    for sub in ("input", "truth"):  # a resource fork in each: not a pair, not an image
        (pairs / sub / f"._{truths[0].stem}.png").write_bytes(b"\x00\x05\x16\x07")
    result = evaluate_folder(str(tiny_onnx), pairs, fd=False, progress=False)  # both skipped, the rest scored
    assert result["images"] == len(truths) - 2
    notes = " ".join(result["notes"])
    assert "2 images skipped" in notes and "differ in size" in notes and "cannot identify image file" in notes
    # each named, even where the reason already holds the name (a stem's text was taken for it)
    assert f"{truths[1].stem} (" in notes and f"{truths[2].stem} (" in notes


def test_paint_mode_scores_a_paired_set_on_full_rgb_beside_the_bw_input(tiny_paint_onnx, colour_folder, tmp_path):
    """--mode paint: each B&W input painted as colorize(mode="paint") paints it, scored against
    the truth as it is; the baseline is the B&W input as it is. A set without inputs is printed
    first (helper 58 had to copy a script's code to make B&W pages of held-out colour images)."""
    from PIL import Image

    from irodori import load_colorizer
    from irodori.evaluate import evaluate_folder, format_table

    pairs = tmp_path / "pairs"
    (pairs / "input").mkdir(parents=True)
    (pairs / "truth").mkdir()
    for path in sorted(colour_folder.glob("*.png"))[:2]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        Image.fromarray(rgb).save(pairs / "truth" / f"{path.stem}.png")
        bw = np.where(np.asarray(Image.fromarray(rgb).convert("L")) > 128, 255, 0).astype(np.uint8)
        Image.fromarray(bw).save(pairs / "input" / f"{path.stem}.png")
    colorizer = load_colorizer(tiny_paint_onnx, threads=1)
    result = evaluate_folder(colorizer, pairs, fd=False, progress=False, mode="paint")
    assert result["mode"] == "paint" and result["images"] == 2
    first = result["per_image"][0]
    name = sorted((pairs / "input").glob("*.png"))[0]
    truth = np.asarray(Image.open(pairs / "truth" / name.name).convert("RGB"))
    painted = np.asarray(colorizer.colorize(name, mode="paint").convert("RGB"))
    bw = np.asarray(Image.open(name).convert("RGB"))
    assert first["psnr"] == pytest.approx(psnr(painted, truth)) and first["psnr_gray"] == pytest.approx(psnr(bw, truth))
    assert "(paint)" in format_table(result) and "B&W input as it is" in format_table(result)
    from irodori.printing import printed_page

    result = evaluate_folder(colorizer, colour_folder, fd=False, progress=False, mode="paint", limit=2)
    first, path = result["per_image"][0], sorted(colour_folder.glob("*.png"))[0]
    truth = np.asarray(Image.open(path).convert("RGB"))
    page = printed_page(truth, path.name)  # seeded by the name evaluate reports: the same page every run
    assert page.dtype == np.uint8 and page.shape == truth.shape[:2]
    assert np.array_equal(page, printed_page(truth, path.name))
    painted = np.asarray(colorizer.colorize(page, mode="paint").convert("RGB"))
    assert first["printed"] and first["psnr"] == pytest.approx(psnr(painted, truth))
    assert first["psnr_gray"] == pytest.approx(psnr(np.repeat(page[..., None], 3, axis=2), truth))
    assert any("2 colour images without a B&W input printed as B&W pages" in note for note in result["notes"])
    night = tmp_path / "night"  # a dark scene prints as one grey with no paper: skipped, said why (helper 60)
    night.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray((rng.normal((30, 20, 60), 4, (64, 96, 3))).clip(0, 255).astype(np.uint8)).save(night / "a.png")
    Image.open(sorted(colour_folder.glob("*.png"))[0]).save(night / "b.png")
    result = evaluate_folder(colorizer, night, fd=False, progress=False, mode="paint")
    assert result["images"] == 1 and "it has no paper" in " ".join(result["notes"])
    with pytest.raises(ValueError, match="mode must be tint or paint"):
        evaluate_folder(colorizer, pairs, fd=False, progress=False, mode="auto")


def test_printed_inputs_scored_tinted_are_noted(tiny_onnx, tmp_path):
    """Helper 58 scored a fine-tuned paint model on B&W pages without --mode paint: tinted, as
    the default, without a word. Now a note says they look like ink on paper."""
    from PIL import Image, ImageFilter

    from conftest import bw_page_image
    from irodori.evaluate import evaluate_folder

    for sub in ("input", "truth"):
        (tmp_path / sub).mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        scanned = Image.fromarray(bw_page_image()).filter(ImageFilter.GaussianBlur(0.8))  # greys at the ink's edges
        scanned.save(tmp_path / "input" / f"p{i}.png")
        Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(tmp_path / "truth" / f"p{i}.png")
    result = evaluate_folder(str(tiny_onnx), tmp_path, fd=False, progress=False)
    assert any("2 of the first 2 inputs look like ink on paper" in note and "--mode paint" in note
               for note in result["notes"]), result["notes"]
