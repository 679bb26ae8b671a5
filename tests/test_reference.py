"""Reference pages: colour images of the same series guide the colours (irodori.reference)."""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from irodori.cli import main
from irodori.color import rgb_to_lab
from irodori.colorizer import load_colorizer
from irodori.hints import Hint
from irodori.imageio import Lightness
from irodori.reference import (
    BACKDROP,
    MAX_REFERENCES,
    PLAIN_BACKDROP,
    Reference,
    ReferenceImageError,
    ReferenceMatcher,
    analyse_references,
    background_cells,
    best_matches,
    cell_lab,
    coherence,
    grow_matches,
    lone_flat_matches,
    shift_quorum,
    spread_cells,
)

HUES = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (240, 200, 30), (160, 60, 200), (30, 190, 200)]


def cartoon(seed: int = 0, size: tuple[int, int] = (320, 256)) -> np.ndarray:
    """A colour cartoon: outlined shapes of distinct hues, with stripes and dots inside, on a pale
    background; sRGB uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (245, 240, 225))
    draw = ImageDraw.Draw(img)
    for i, hue in enumerate(HUES):
        x, y = int(rng.integers(10, size[0] - 90)), int(rng.integers(10, size[1] - 90))
        r = int(rng.integers(30, 45))
        box = (x, y, x + 2 * r, y + 2 * r)
        (draw.ellipse if i % 2 else draw.rectangle)(box, fill=hue, outline=(0, 0, 0), width=3)
        for k in range(3):  # texture the feature network can hold on to
            draw.line((x + 8, y + 12 + 14 * k, x + 2 * r - 8, y + 8 + 14 * k), fill=(0, 0, 0), width=2)
    return np.asarray(img)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


@pytest.fixture(scope="module")
def colorizer():
    return load_colorizer("general-int8", mode="tint", threads=1)


@pytest.fixture(scope="module")
def matcher():
    return ReferenceMatcher(threads=1)


# -- matching ------------------------------------------------------------------------------------
def test_a_page_coloured_after_itself_takes_its_own_colours(colorizer):
    truth = cartoon(1)
    grey = _grey(truth)
    without = colorizer.colorize(grey)
    coloured = colorizer.colorize(grey, reference=[truth])
    assert coloured.info["irodori.reference_hints"] > 10 and "irodori.reference_hints" not in without.info
    without, with_ref = np.asarray(without), np.asarray(coloured)
    assert _psnr(with_ref, truth) > _psnr(without, truth) + 3.0
    # the output keeps the input's lightness: references change colour, never the ink
    np.testing.assert_allclose(rgb_to_lab(with_ref)[..., 0], rgb_to_lab(np.stack([grey] * 3, -1))[..., 0], atol=1.0)


def test_an_unrelated_reference_changes_little(colorizer, tmp_path):
    page = _grey(cartoon(2))
    noise = np.random.default_rng(3).integers(0, 256, (64, 48, 3), dtype=np.uint8)  # no structure to match
    photo = np.asarray(Image.fromarray(noise).resize((384, 288), Image.NEAREST))
    without = np.asarray(colorizer.colorize(page))
    unmatched = colorizer.colorize(page, reference=[photo])
    assert unmatched.info["irodori.reference_hints"] == 0  # said to the caller: nothing matched
    assert unmatched.info["irodori.reference_copied"] == 0.0
    with_ref = np.asarray(unmatched)
    assert _psnr(with_ref, without) > 35.0
    # the user's own hints fill their regions as they do without a reference (found by a helper:
    # any reference turned them back into corrections)
    hints = [(60, 60, "#20a0e0"), (200, 150, "#e04020")]
    assert _psnr(np.asarray(colorizer.colorize(page, hints=hints, reference=[photo])),
                 np.asarray(colorizer.colorize(page, hints=hints))) > 35.0


def test_guide_is_confident_on_the_same_image_and_not_on_noise(matcher):
    truth = cartoon(4)
    from irodori.imageio import Lightness

    page = Lightness.from_l(rgb_to_lab(truth)[..., 0].astype(np.float32))
    same = matcher.guide(page, [matcher.analyse(truth)])
    noise = np.random.default_rng(5).integers(0, 256, truth.shape, dtype=np.uint8)
    other = matcher.guide(page, [matcher.analyse(noise)])
    assert same.coverage > 0.1 and other.coverage == 0.0
    confident = same.confidence >= 0.5
    # where it is confident, the guide's colour is the page's own (cells are 16 px of a 384-px view)
    small = rgb_to_lab(np.asarray(Image.fromarray(truth).resize(same.confidence.shape[::-1], Image.BOX)))
    error = np.hypot(*(same.lab[..., 1:] - small[..., 1:]).transpose(2, 0, 1))[confident]
    assert np.median(error) < 12.0


def test_grown_matches_cover_more_of_a_zoomed_crop_with_the_right_colours(matcher, monkeypatch):
    from irodori import reference
    from irodori.imageio import Lightness

    truth = cartoon(4)
    crop = truth[40:, 30:]  # a panel: part of the reference, enlarged 1.4x
    zoom = np.asarray(Image.fromarray(crop).resize((int(crop.shape[1] * 1.4), int(crop.shape[0] * 1.4)), Image.BICUBIC))
    page, ref = Lightness.from_l(rgb_to_lab(zoom)[..., 0].astype(np.float32)), matcher.analyse(truth)
    grown = matcher.guide(page, [ref])
    monkeypatch.setattr(reference, "GROW_STEPS", 0)
    seeds_only = matcher.guide(page, [ref])
    assert grown.coverage > 1.25 * seeds_only.coverage
    small = rgb_to_lab(np.asarray(Image.fromarray(zoom).resize(grown.confidence.shape[::-1], Image.BOX)))
    error = np.hypot(*(grown.lab[..., 1:] - small[..., 1:]).transpose(2, 0, 1))[grown.confidence >= 0.3]
    assert np.median(error) < 8.0


def test_copies_of_a_reference_do_not_make_its_matches_ambiguous(matcher):
    # found by a helper: three copies of one cover (a file and a folder holding it) gave no hint
    from irodori.imageio import Lightness

    truth = cartoon(4)
    page = Lightness.from_l(rgb_to_lab(truth[40:, 30:])[..., 0].astype(np.float32))
    ref = matcher.analyse(truth)
    one = matcher.guide(page, [ref])
    three = matcher.guide(page, [ref, ref, ref])
    assert one.coverage > 0.1
    # (the copies' similarities differ in their last bits, so a cell may match another copy)
    assert three.coverage > 0.9 * one.coverage
    both = (one.confidence >= 0.3) & (three.confidence >= 0.3)
    assert (np.abs(three.lab[both] - one.lab[both]).max(axis=-1) < 3.0).mean() > 0.95


def test_background_cells_tell_a_coloured_backdrop_from_a_white_one():
    lab = np.zeros((6, 8, 3), np.float32)
    lab[...] = (70.0, 30.0, -10.0)  # a lilac wall
    lab[2:4, 3:5] = (50.0, -20.0, 30.0)  # the character
    kinds = background_cells(lab)
    assert (kinds[2:4, 3:5] == 0).all() and (kinds[0] == BACKDROP).all() and kinds.sum() == (48 - 4) * BACKDROP
    lab[lab[..., 1] == 30.0] = (97.0, 0.5, 2.0)  # white paper instead
    assert (background_cells(lab)[0] == PLAIN_BACKDROP).all()
    lab[0, :, 1:] = np.linspace(-60, 60, 8)[:, None]  # no dominant colour on the ring
    lab[-1, :, 1:] = np.linspace(60, -60, 8)[:, None]
    lab[:, 0, 1:] = 40.0
    assert (background_cells(lab) == 0).all()


def test_spread_cells_covers_the_page_most_confident_first():
    confidence = np.ones((12, 12), np.float32)
    confidence[0, 0] = 0.99
    cells = spread_cells(confidence, limit=16, floor=0.3)
    assert len(cells) == 16
    rows = [y for y, _ in cells]
    assert min(rows) < 3 and max(rows) > 8  # over the whole page, not the top rows
    assert spread_cells(np.full((4, 4), 0.1, np.float32), limit=8, floor=0.3) == []


def test_coherence_tells_moving_neighbourhoods_from_scatter():
    rows, cols = np.indices((6, 6))
    shifted = np.stack([np.zeros_like(rows), rows + 3, cols + 1], -1).reshape(-1, 3)
    assert coherence(shifted, (6, 6)).reshape(6, 6)[1:-1, 1:-1].min() == 1.0
    scattered = np.random.default_rng(0).integers(0, 40, (36, 3))
    assert coherence(scattered, (6, 6)).mean() < 0.2


def shifted_reference(page_grid=(6, 6), ref_grid=(9, 9), shift=(1, 2), seed=0):
    """A page whose cells are a reference's shifted by ``shift``: random unit descriptors, the
    page's similarities (n, m) to the reference, and the reference cells' places (m, 4)."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(ref_grid[0] * ref_grid[1], 64))
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    rows, cols = np.indices(page_grid).reshape(2, -1)
    truth = (rows + shift[0]) * ref_grid[1] + cols + shift[1]
    page = ref[truth] + 0.2 * rng.normal(size=(truth.size, 64)) / 8
    page /= np.linalg.norm(page, axis=1, keepdims=True)
    r_rows, r_cols = np.indices(ref_grid).reshape(2, -1)
    where = np.stack([np.zeros_like(r_rows), r_rows, r_cols, np.zeros_like(r_rows)], 1).astype(np.int32)
    return page @ ref.T, truth, where


def test_grown_matches_follow_the_seeds_shift_across_the_page():
    sim, truth, where = shifted_reference()
    best = sim.argmax(axis=1)
    seeds = np.zeros(36, bool)
    seeds[[14, 15, 20, 21]] = True  # a 2x2 block in the middle of the 6x6 page
    confidence = np.where(seeds, 1.0, 0.0).astype(np.float32)
    grown, chosen, conf = grow_matches(sim, best, seeds, confidence, sim.max(axis=1), where, (6, 6))
    assert grown.sum() == 32 and not grown[seeds].any()  # every other cell, within the rings
    assert (chosen[grown] == truth[grown]).all()
    assert conf[grown].max() <= 0.9 and conf[grown].min() >= 0.3  # decayed, still a hint
    # A cell whose shifted match is the reference's backdrop is not grown into; beside a coloured
    # backdrop neither (its rim is mostly backdrop), beside a white one it is
    for kind, closed in ((PLAIN_BACKDROP, [0]), (BACKDROP, [0, 1, 6, 7])):
        backdrop = where.copy()
        backdrop[truth[0], 3] = kind
        grown, _, _ = grow_matches(sim, best, seeds, confidence, sim.max(axis=1), backdrop, (6, 6))
        assert not grown[closed].any() and grown.sum() == 32 - len(closed)
    # A cell whose own best match is white paper elsewhere is grown into (line art's white
    # insides are what growth colours); one whose best match is a coloured backdrop is not.
    other = int(np.setdiff1d(np.arange(len(where)), truth)[-1])
    for kind, taken in ((PLAIN_BACKDROP, True), (BACKDROP, False)):
        marked, off = where.copy(), best.copy()
        marked[other, 3], off[5] = kind, other
        grown, chosen, _ = grow_matches(sim, off, seeds, confidence, sim.max(axis=1), marked, (6, 6))
        assert grown[5] == taken and (not taken or chosen[5] == truth[5])


def test_grown_matches_stop_where_the_shifted_match_is_poor():
    sim, truth, where = shifted_reference()
    sim[:18] = np.random.default_rng(1).uniform(-0.2, 0.3, (18, sim.shape[1]))  # the top half matches nothing
    seeds = np.zeros(36, bool)
    seeds[[26, 27]] = True
    confidence = np.where(seeds, 1.0, 0.0).astype(np.float32)
    grown, chosen, _ = grow_matches(sim, sim.argmax(axis=1), seeds, confidence, sim.max(axis=1), where, (6, 6))
    assert not grown[:18].any() and grown[18:].sum() == 16
    assert (chosen[grown] == truth[grown]).all()


def test_a_lone_flat_match_is_dropped_but_a_shapes_inside_is_kept():
    """An unrelated page's blank paper took a reference's yellow glow from a few flat matches
    (found by a helper); a blank cell beside matched detail is the inside of a found shape."""
    grid = (6, 8)
    confidence = np.zeros(48, np.float32)
    detail = np.zeros(48, np.float32)
    guide = np.zeros((48, 3), np.float32)
    guide[:, 0], guide[:, 2] = 90.0, 30.0  # light yellow everywhere
    confidence[[0, 1, 8]] = 0.8  # blank cells, far from any detail: lone
    confidence[[30, 31, 38]] = 0.8
    detail[30] = 12.0  # ... beside an outline that was matched: a shape's inside
    guide[9, 2] = 2.0  # white paper for paper is always plausible
    confidence[9] = 0.8
    lone = lone_flat_matches(confidence, detail, guide, grid)
    assert list(np.flatnonzero(lone)) == [0, 1, 8]


def test_a_cell_at_a_shapes_edge_is_mixed_and_a_flat_one_is_not(matcher):
    """A cell half paper, half purple gave a pale hint whose correction put an olive smear on a
    purple mane (found by a helper); such cells are told apart by the spread of their colours."""
    from irodori.reference import CELL, MAX_CELL_MIX

    rgb = np.full((CELL, 3 * CELL, 3), 255, np.uint8)
    rgb[:, CELL:] = (120, 40, 160)  # cell 1 purple; cell 2 half purple, half paper
    rgb[:, 2 * CELL + CELL // 2:] = 255
    lab, mix = cell_lab(rgb, (1, 3))
    assert mix[0] < 1 and mix[1] < 1 and mix[2] > MAX_CELL_MIX
    assert lab.shape == (3, 3) and lab[0, 0] > 99 and lab[1, 1] > 30
    ref = analyse_references([cartoon(0)], matcher=matcher)[0]
    assert ref.mix is not None and ref.mix.shape == (ref.cells,)


def test_cli_takes_a_reference_glob_and_names_bad_references_by_their_path(tmp_path, capsys, caplog):
    page = tmp_path / "page.png"
    Image.fromarray(_grey(cartoon(0))).save(page)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    Image.fromarray(cartoon(0)).save(tmp_path / "a" / "001.png")
    Image.fromarray(_grey(cartoon(1))).save(tmp_path / "b" / "001.png")
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="irodori.reference"):
        assert main(["colorize", str(page), "-o", str(out), "--reference", str(tmp_path / "a" / "*.png")]) == 0
    assert "page.png: references: " in caplog.text and "of the page matched" in caplog.text  # said by default
    assert main(["colorize", str(page), "-o", str(out), "--overwrite", "--reference", str(tmp_path / "*" / "001.png"),
                 "-q"]) == 2
    assert f"reference {tmp_path / 'b' / '001.png'} has no colour" in capsys.readouterr().err
    assert main(["colorize", str(page), "-o", str(out), "--reference", str(tmp_path / "c" / "*.png"), "-q"]) == 2
    assert "matches no image" in capsys.readouterr().err


def test_shift_quorum_counts_seeds_that_agree_on_a_shift():
    rows, cols = np.indices((6, 6)).reshape(2, -1)
    matched = np.stack([np.zeros(36, int), rows + 3, cols + 1], 1)
    matched[[0, 35]] = [[0, 20, 0], [1, 4, 5]]  # two chance matches: another shift, another view
    seeds = np.zeros(36, bool)
    seeds[[0, 7, 8, 9, 14, 15, 35]] = True
    quorum = shift_quorum(seeds, matched, (6, 6))
    assert list(quorum[[7, 8, 9, 14, 15]]) == [5] * 5 and quorum[0] == 1 and quorum[35] == 1
    assert quorum[~seeds].max() == 0


# -- what bad references get ------------------------------------------------------------------
def test_bad_references_get_clear_errors(tmp_path, matcher):
    with pytest.raises(ReferenceImageError, match="does not exist"):
        analyse_references([tmp_path / "missing.png"], matcher=matcher)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ReferenceImageError, match="notes.txt: not an image"):
        analyse_references([tmp_path / "notes.txt"], matcher=matcher)
    Image.fromarray(_grey(cartoon(0))).save(tmp_path / "grey.png")
    with pytest.raises(ReferenceImageError, match="no colour"):
        analyse_references([tmp_path / "grey.png"], matcher=matcher)
    Image.fromarray(cartoon(0)).save(tmp_path / "big.png")
    with pytest.raises(ReferenceImageError, match="big.png"):
        analyse_references([tmp_path / "big.png"], matcher=matcher, max_pixels=1000)
    with pytest.raises(ReferenceImageError, match="too many references"):
        analyse_references([cartoon(0)] * (MAX_REFERENCES + 1), matcher=matcher)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "ComicInfo.xml").write_text("<ComicInfo/>")  # not an image: not a reference either
    with pytest.raises(ReferenceImageError, match="has no images"):
        analyse_references([tmp_path / "empty"], matcher=matcher)
    (tmp_path / "ch01.cbz").write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(ReferenceImageError, match="ch01.cbz is an archive"):
        analyse_references([tmp_path / "ch01.cbz"], matcher=matcher)


def test_a_folder_stands_for_its_images_and_analysed_references_pass_through(tmp_path, matcher):
    folder = tmp_path / "refs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(cartoon(i)).save(folder / f"{i}.png")
    (folder / "._0.png").write_bytes(b"\0" * 10)  # macOS junk is skipped, not an error
    (folder / "ComicInfo.xml").write_text("<ComicInfo/>")  # and so are files that are not images
    (folder / "notes.txt").write_text("page 3: her coat is green")
    refs = analyse_references([folder], matcher=matcher)
    assert [r.name for r in refs] == [str(folder / "0.png"), str(folder / "1.png")]  # the path: two folders' 0.png
    assert all(isinstance(r, Reference) for r in refs)
    assert refs[0].features.shape[0] == refs[0].lab.shape[0] == refs[0].where.shape[0]
    assert analyse_references(refs) == refs


def test_one_reference_alone_is_one_source_not_its_letters(tmp_path, matcher, colorizer):
    Image.fromarray(cartoon(0)).save(tmp_path / "cover.png")
    for one in (str(tmp_path / "cover.png"), tmp_path / "cover.png", cartoon(0), Image.fromarray(cartoon(0))):
        assert len(analyse_references(one, matcher=matcher)) == 1
    assert len(colorizer.with_references(str(tmp_path / "cover.png")).references) == 1
    page = _grey(cartoon(0))
    assert np.array_equal(np.asarray(colorizer.colorize(page, reference=str(tmp_path / "cover.png"))),
                          np.asarray(colorizer.colorize(page, reference=[tmp_path / "cover.png"])))
    with pytest.raises(ReferenceImageError, match=r"^reference 2: not an image"):  # not "reference reference 2"
        analyse_references([cartoon(0), b"not an image"], matcher=matcher)


# -- the CLI: analysed once per run, for images and archive pages alike ------------------------
def test_cli_analyses_references_once_for_a_folder_and_a_cbz(tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        Image.fromarray(_grey(cartoon(10 + i))).save(inputs / f"p{i}.png")
    with zipfile.ZipFile(inputs / "ch01.cbz", "w") as archive:
        for i in range(2):
            path = tmp_path / f"page{i}.png"
            Image.fromarray(_grey(cartoon(20 + i))).save(path)
            archive.write(path, f"{i:03d}.png")
    ref = tmp_path / "cover.png"
    Image.fromarray(cartoon(10)).save(ref)
    calls = []
    original = ReferenceMatcher.analyse
    monkeypatch.setattr(ReferenceMatcher, "analyse", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    out = tmp_path / "out"
    assert main(["colorize", str(inputs), "-o", str(out), "--reference", str(ref), "--model", "general-int8",
                 "-q", "--threads", "2"]) == 0
    assert len(calls) == 1
    assert sorted(p.name for p in out.iterdir()) == ["ch01.cbz", "p0.png", "p1.png", "p2.png"]
    coloured = np.asarray(Image.open(out / "p0.png"))
    plain = tmp_path / "plain"
    assert main(["colorize", str(inputs / "p0.png"), "-o", str(plain), "--model", "general-int8", "-q"]) == 0
    assert _psnr(coloured, cartoon(10)) > _psnr(np.asarray(Image.open(plain / "p0.png")), cartoon(10)) + 2.0


def test_a_hinted_output_given_back_as_a_reference_gives_its_hints_colours_alone(tmp_path):
    """Helper 59: in "colour one, then the rest", page 1's guessed colours (its beige paper) went
    with its hints onto the other pages (16.90 -> 16.08 dB). A PNG output keeps the hints it was
    coloured with, and as a reference only the areas its hints coloured give hints, in the
    hints' own colours; the rest of it is matched but gives none."""
    from irodori.imageio import HINTS_TEXT, Lightness, encode
    from irodori.reference import hint_areas, own_cells

    colorizer = load_colorizer("general-int8", threads=1)
    truth = cartoon(3)
    page = _grey(truth)
    inside = np.all(truth == HUES[0], axis=-1)  # a shape's inside, away from its lines and stripes
    inside &= np.roll(inside, 4, 0) & np.roll(inside, -4, 0) & np.roll(inside, 4, 1) & np.roll(inside, -4, 1)
    y, x = (int(v[len(v) // 2]) for v in np.nonzero(inside))
    red = (220, 30, 30)
    hinted = colorizer.colorize(page, hints=[(x, y, "#%02x%02x%02x" % red)])
    (tmp_path / "p1.png").write_bytes(encode(hinted, "png"))
    (tmp_path / "p1.jpg").write_bytes(encode(hinted, "jpg"))
    saved = Image.open(tmp_path / "p1.png")
    assert json.loads(saved.info[HINTS_TEXT]) == [[x, y, "#dc1e1e"]]
    assert HINTS_TEXT not in Image.open(tmp_path / "p1.jpg").info  # (JPEG keeps none: all its cells count)
    rgb = np.asarray(saved.convert("RGB"))
    (area, colour, seed), = hint_areas(rgb, [Hint(x, y, red)])
    assert area[y, x] and 0.005 < area.mean() < 0.2 and not area[0, 0]  # the hinted shape, not the page
    edge = x - next(d for d in range(1, 60) if truth[y, x - d].max() < 60)  # the shape's outline, left of the hint
    (beside, _, _), = hint_areas(rgb, [Hint(edge, y, red)])  # a hint on its line starts beside it (helper 60)
    assert beside[y, x] and abs(int(beside.sum()) - int(area.sum())) < 0.1 * area.sum()
    mine, colours, spots = own_cells([(area, colour, seed)], (16, 20))
    assert 0 < mine.sum() < 16 * 20 and np.allclose(colours[mine], colour)
    h, w = area.shape  # each own cell's spot lies in the area; the other cells' in their middle
    for cell in np.nonzero(mine)[0]:
        row, col = divmod(int(cell), 20)
        assert area[int((row + spots[cell, 0]) * h / 16), int((col + spots[cell, 1]) * w / 20)]
    assert np.all(spots[~mine] == 0.5)
    cell = seed[0] * 16 // h * 20 + seed[1] * 20 // w  # the clicked cell is the area's, its spot the click
    assert seed == (y, x) and mine[cell]
    assert abs((cell // 20 + spots[cell, 0]) * h / 16 - y) <= 1 and abs((cell % 20 + spots[cell, 1]) * w / 20 - x) <= 1
    mirrored, _, mirrored_spots = own_cells([(area, colour, seed)], (16, 20), mirror=True)
    assert np.array_equal(mirrored.reshape(16, 20), mine.reshape(16, 20)[:, ::-1])
    np.testing.assert_allclose(mirrored_spots.reshape(16, 20, 2)[:, ::-1, 1], 1.0 - spots.reshape(16, 20, 2)[..., 1])
    stripped = tmp_path / "plain.png"
    saved.save(stripped)  # the same pixels, no hints kept
    lab_red = rgb_to_lab(np.array([[red]], np.uint8))[0, 0]
    matcher = colorizer.matcher
    lightness = Lightness.from_l(rgb_to_lab(np.repeat(page[..., None], 3, axis=2))[..., 0].astype(np.float32))
    red_share = []
    for source in (tmp_path / "p1.png", stripped):
        found = matcher.hints(lightness, [matcher.analyse(source)], paint=False)
        ab = rgb_to_lab(np.array([[h.rgb for h in found]], np.uint8))[0, :, 1:]
        red_share.append(float((np.linalg.norm(ab - lab_red[1:], axis=1) <= 15).mean()) if found else None)
    assert red_share[0] is not None and red_share[0] > 0.9  # its hints: the hinted shape's red
    assert red_share[1] is not None and red_share[1] < 0.5  # without the kept hints: every colour of it


def _line_page(seed: int = 3, size: tuple[int, int] = (960, 768)) -> Image.Image:
    """A black-and-white page: outlined shapes with strokes inside on white paper, and a small
    circle (30 px, smaller than a reference cell of 48 px on this page) at (715, 635)."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    for i in range(6):
        x, y = int(rng.integers(30, size[0] - 270)), int(rng.integers(30, size[1] - 270))
        r = int(rng.integers(90, 135))
        (draw.ellipse if i % 2 else draw.rectangle)((x, y, x + 2 * r, y + 2 * r), outline=0, width=6)
        for k in range(3):
            draw.line((x + 24, y + 36 + 42 * k, x + 2 * r - 24, y + 24 + 42 * k), fill=0, width=5)
    draw.ellipse((700, 620, 730, 650), outline=0, width=3)
    return img


def test_a_hint_in_a_shape_smaller_than_a_cell_passes_on_into_that_shape(tmp_path):
    """Helper 65: page 1 coloured with hints on a character's hair, top and skirt passed none of
    them on, even to the same page: no cell of the reference was 30 % covered by so small a shape.
    The cell holding most of it now counts; its hint is carried into the shape (not to the cell's
    middle, another shape), in the shape's own colour, and filled as the user's hints are, so the
    paper around it stays as it was (a skirt's green carried as a reference's guess flooded the
    panel's paper)."""
    from irodori.hints import CarriedHint
    from irodori.imageio import encode
    from irodori.reference import hint_areas, hints_of_output

    colorizer = load_colorizer("manga-int8", mode="paint", threads=1)
    page = _line_page()
    hinted = colorizer.colorize(page, hints=[(715, 635, "#d02020")])
    (tmp_path / "p1.png").write_bytes(encode(hinted, "png"))
    saved = Image.open(tmp_path / "p1.png")
    (area, colour, _), = hint_areas(np.asarray(saved.convert("RGB")), hints_of_output(saved))
    assert area[635, 715] and area.sum() < 0.3 * 48 * 48  # the circle's inside, under a third of a cell
    matcher = colorizer.matcher
    lightness = Lightness.from_l(rgb_to_lab(np.asarray(page.convert("RGB")))[..., 0].astype(np.float32))
    found = matcher.hints(lightness, [matcher.analyse(tmp_path / "p1.png")], paint=True)
    carried = [hint for hint in found if isinstance(hint, CarriedHint)]
    assert len(carried) == 1 and area[carried[0].y, carried[0].x]  # in the circle, wherever its cell's middle is
    out = rgb_to_lab(np.asarray(colorizer.with_references([tmp_path / "p1.png"]).colorize(page)))
    plain = rgb_to_lab(np.asarray(colorizer.colorize(page)))
    inside = (slice(628, 643), slice(708, 723))
    assert plain[inside][..., 1].mean() < 10.0 and out[inside][..., 1].mean() > 40.0  # red, as on page 1
    paper = np.ones(page.size[::-1], bool)
    paper[560:700, 640:790] = False
    assert np.abs(out[paper] - plain[paper]).mean() < 1.0  # the rest as without the reference
    # The same art 23 px right and 17 down, half a cell: the page's cells lie elsewhere on it, and
    # the hint is still put in the circle (its ink around it matched), not a cell's share beside it
    moved = Image.new("L", page.size, 255)
    moved.paste(page.crop((0, 0, page.width - 23, page.height - 17)), (23, 17))
    lightness = Lightness.from_l(rgb_to_lab(np.asarray(moved.convert("RGB")))[..., 0].astype(np.float32))
    found = matcher.hints(lightness, [matcher.analyse(tmp_path / "p1.png")], paint=True)
    carried = [hint for hint in found if isinstance(hint, CarriedHint)]
    assert carried and all(np.hypot(hint.x - 738, hint.y - 652) < 12 for hint in carried)


def test_a_reference_among_the_pages_is_not_coloured_as_one(tmp_path, capsys, caplog):
    """Helper 72: ``irodori colorize vol/ -r -o out/ --reference vol/refs/`` coloured the cover in
    vol/refs/ after itself, as a page; a reference of the run is now never one of its pages."""
    vol = tmp_path / "vol"
    (vol / "refs").mkdir(parents=True)
    Image.fromarray(_grey(cartoon(10))).save(vol / "p1.png")
    Image.fromarray(cartoon(10)).save(vol / "refs" / "cover.png")
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="irodori.batch"):
        assert main(["colorize", str(vol), "-r", "-o", str(out), "--reference", str(vol / "refs"),
                     "--model", "general-int8"]) == 0
    assert (out / "p1.png").is_file() and not (out / "refs").exists()
    assert "cover.png: a reference of this run; not coloured as a page" in caplog.text
    assert "1 coloured, 1 skipped (a reference of this run, kept)" in capsys.readouterr().err


def test_colour_one_then_the_rest_never_writes_over_the_reference_page(tmp_path, capsys, caplog):
    """The README's workflow: page 1 coloured with hints into out/, then the chapter into out/
    with out/p0.png as the reference. With --overwrite the hinted page was coloured again over
    itself, without its hints."""
    chapter = tmp_path / "chapter"
    chapter.mkdir()
    for i in range(2):
        Image.fromarray(_grey(cartoon(10 + i))).save(chapter / f"p{i}.png")
    out = tmp_path / "out"
    assert main(["colorize", str(chapter / "p0.png"), "-o", str(out), "--model", "general-int8", "-q",
                 "--hint", "20,20,#20c020"]) == 0
    hinted = (out / "p0.png").read_bytes()
    assert main(["colorize", str(chapter), "-o", str(out), "--reference", str(out / "p0.png"), "--overwrite",
                 "--model", "general-int8", "-q"]) == 0
    assert (out / "p0.png").read_bytes() == hinted and (out / "p1.png").is_file()
    # it said "--overwrite to redo", which had been given
    assert "1 coloured, 1 skipped (a reference of this run, kept)" in capsys.readouterr().err
    (out / "p2.png").write_bytes((out / "p1.png").read_bytes())
    Image.fromarray(_grey(cartoon(12))).save(chapter / "p2.png")
    made = (out / "p0.png").stat().st_mtime
    os.utime(out / "p2.png", (made - 60, made - 60))  # an output made before the reference: not after it
    with caplog.at_level("WARNING", logger="irodori.batch"):
        assert main(["colorize", str(chapter), "-o", str(out), "--reference", str(out / "p0.png"),
                     "--model", "general-int8"]) == 0
    err = capsys.readouterr().err
    assert "0 coloured, 3 skipped (2: output exists, --overwrite to redo; 1: a reference of this run, kept)" in err
    # p1, made after the reference (the same run stopped and run again: helper 59), is not named
    assert "1 existing output kept as it was, made before the references were last changed" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="irodori.batch"):  # a run refused for its reference says that alone
        assert main(["colorize", str(chapter), "-o", str(out), "--reference", str(tmp_path / "missing.png"),
                     "--model", "general-int8"]) == 2  # (it said first to redo p2 with --overwrite: helper 72)
    assert "missing.png does not exist" in capsys.readouterr().err and "existing output" not in caplog.text
    with caplog.at_level("WARNING", logger="irodori.batch"):  # hints for the reference page itself: said, not lost
        assert main(["colorize", str(chapter / "p0.png"), "-o", str(out), "--reference", str(out / "p0.png"),
                     "--hint", "5,5,#ff0000", "--overwrite", "--model", "general-int8", "-q"]) == 0
    assert "is a reference of this run and is kept as it is: its hints were not used" in caplog.text
    assert (out / "p0.png").read_bytes() == hinted


def test_cli_reference_takes_a_shell_expanded_glob_and_refuses_a_line_whose_pages_it_took(tmp_path, capsys,
                                                                                            caplog):
    """--reference refs/*.png, unquoted, reaches irodori as several files: all are references (with
    one value per --reference its second file was an input page, coloured and written); pages
    given after it were taken as references too, and the line is refused, saying so."""
    page = tmp_path / "page.png"
    Image.fromarray(_grey(cartoon(0))).save(page)
    refs = [tmp_path / f"r{i}.png" for i in range(2)]
    for i, ref in enumerate(refs):
        Image.fromarray(cartoon(i)).save(ref)
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="irodori.reference"):
        assert main(["colorize", str(page), "-o", str(out), "--reference", *map(str, refs), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["page.png"]
    assert "page.png: references: " in caplog.text
    assert main(["colorize", "--reference", *map(str, refs), str(page), "-o", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "no input to colour: --reference took every value after it" in err and str(page) in err
    assert not (tmp_path / "o2").exists()
    assert main(["colorize", "-o", str(tmp_path / "o3")]) == 2
    assert "give the images to colour" in capsys.readouterr().err


def test_every_bad_reference_is_named_at_once(tmp_path, capsys):
    page = tmp_path / "page.png"
    Image.fromarray(_grey(cartoon(0))).save(page)
    grey = tmp_path / "grey.png"
    Image.fromarray(_grey(cartoon(1))).save(grey)
    Image.fromarray(cartoon(2)).save(tmp_path / "good.png")
    bad = [str(tmp_path / "nope.png"), str(grey), str(tmp_path / "none-*.png")]
    assert main(["colorize", str(page), "-o", str(tmp_path / "out"), "--reference", str(tmp_path / "good.png"),
                 *bad, "-q"]) == 2
    err = capsys.readouterr().err
    assert "3 references cannot be used" in err
    assert "nope.png does not exist" in err and "grey.png has no colour" in err and "matches no image" in err


def test_cli_refuses_bad_references_before_any_work(tmp_path, capsys):
    page = tmp_path / "page.png"
    Image.fromarray(_grey(cartoon(0))).save(page)
    out = tmp_path / "out"
    assert main(["colorize", str(page), "-o", str(out), "--reference", str(tmp_path / "nope.png"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "reference" in err and "nope.png does not exist" in err
    assert not out.exists() or not any(out.iterdir())


def test_a_bw_page_painted_after_its_colour_original_takes_its_colours():
    """Paint mode: the B&W print (ink on white) of a coloured cartoon, with the colour cartoon as
    the reference, comes out closer to it than without; the ink stays exactly."""
    truth = cartoon(6)
    ink = np.where(rgb_to_lab(truth)[..., 0] < 25, 0, 255).astype(np.uint8)
    painter = load_colorizer("auto", mode="paint", threads=1)
    without = np.asarray(painter.colorize(ink))
    with_ref = np.asarray(painter.colorize(ink, reference=[truth]))
    assert _psnr(with_ref, truth) > _psnr(without, truth) + 1.0
    inked = ink == 0
    assert rgb_to_lab(with_ref)[..., 0][inked].max() < 30


def test_a_reference_on_white_paper_leaves_line_arts_sheet_paper_and_transparent():
    """Helper 57: a reference on white paper (its lines' edges anti-aliased grey) made a line
    drawing's transparent sheet opaque and smudged it grey: its white and grey hints there
    handed the sheet to the spreading. Only coloured ones do now."""
    truth = cartoon(6).copy()
    truth[(truth == (245, 240, 225)).all(axis=-1)] = 255  # on white paper
    reference = np.asarray(Image.fromarray(truth).filter(ImageFilter.GaussianBlur(1)))  # grey line edges
    line_layer = np.zeros(truth.shape[:2] + (4,), np.uint8)
    line_layer[..., 3] = np.where(rgb_to_lab(truth)[..., 0] < 25, 255, 0)  # black lines on a clear layer
    painter = load_colorizer("auto", mode="paint", threads=1)
    alone = np.asarray(painter.colorize(line_layer))
    with_ref = np.asarray(painter.colorize(line_layer, reference=[reference]))
    clear = alone[..., 3] == 0
    assert clear.mean() > 0.5 and np.array_equal(with_ref[..., 3] == 0, clear)


def test_what_line_arts_blank_sheet_keeps_paper_over_a_copy_is_said_and_not_counted(caplog):
    """Helper 71: a print read as line art was "the same drawing ... on 98 % of the page, its
    colours copied" (and ``reference_copied`` 0.98) where its blank sheet, kept paper, left 4 %
    coloured. The log now says what the sheet keeps paper, and the share counts only what shows."""
    truth = cartoon(6).copy()
    truth[(truth == (245, 240, 225)).all(axis=-1)] = (120, 170, 230)  # a sky-blue backdrop, around the shapes
    lines = Image.fromarray(np.where(rgb_to_lab(truth)[..., 0] < 25, 0, 255).astype(np.uint8), "L")
    painter = load_colorizer("auto", threads=1)
    with caplog.at_level(logging.INFO, logger="irodori"):
        kept = painter.colorize(lines, reference=[truth])  # line art: its sheet stays paper
    said = [r.getMessage() for r in caplog.records if "the same drawing" in r.getMessage()]
    whole = painter.colorize(lines, reference=[truth], background="paint").info["irodori.reference_copied"]
    copied = float(re.search(r"on (\d+)% of the page", said[0]).group(1)) / 100
    shown = kept.info["irodori.reference_copied"]
    assert len(said) == 1 and "line art's blank sheet keeps" in said[0] and f"colour {100 * shown:.0f}%" in said[0]
    assert 0.0 < shown < whole - 0.01 and abs(copied - whole) < 0.01  # the copy is the same; less of it shows
    sheet = np.asarray(lines) == 255
    sheet &= (rgb_to_lab(truth)[..., 2] < -20)  # the backdrop's paper around the shapes ...
    assert (np.asarray(kept)[sheet] >= 250).all(axis=-1).mean() > 0.9  # ... stays white


def test_only_a_closely_related_reference_colours_line_arts_blank_sheet(matcher, monkeypatch):
    """Paint: on the blank sheet around line art, reference colour is taken only from references
    related to the page on at least MIN_RELATED_SHEET of it, and only if paper-light (at least
    SHEET_HINT_L); elsewhere as before."""
    import irodori.reference as R
    from irodori.imageio import Lightness

    truth = cartoon(7)
    page = Lightness.from_l(np.where(rgb_to_lab(truth)[..., 0] < 25, 0.0, 100.0).astype(np.float32))
    refs = [matcher.analyse(truth)]
    sheet = np.zeros(truth.shape[:2], np.float32)
    sheet[:, : truth.shape[1] // 2] = 1.0  # call the left half the sheet
    free = matcher.guide(page, refs, ink=True)
    # with a sheet, mixed reference cells give no hint either (test_a_cell_at_a_shapes_edge...)
    mixed = matcher.guide(page, refs, ink=True, sheet=sheet).confidence.reshape(-1) == 0
    assert (mixed & (free.confidence.reshape(-1) > 0)).any()
    monkeypatch.setattr(R, "MAX_CELL_MIX", 0.0)  # here: the sheet's own rules alone
    kept = matcher.guide(page, refs, ink=True, sheet=sheet)  # the page's own colours: closely related
    on_sheet = np.zeros(free.confidence.shape, bool)
    on_sheet[:, : free.confidence.shape[1] // 2] = True
    dark = on_sheet & (free.lab[..., 0] < R.SHEET_HINT_L)
    np.testing.assert_array_equal(kept.confidence[~dark], free.confidence[~dark])
    assert free.confidence[dark].max() > 0.3 and kept.confidence[dark].max() == 0.0  # no dark wash on paper
    monkeypatch.setattr(R, "MIN_RELATED_SHEET", 1.01)  # no reference is related enough
    strict = matcher.guide(page, refs, ink=True, sheet=sheet)
    half = free.confidence.shape[1] // 2
    assert free.confidence[:, :half].max() > 0.3 and strict.confidence[:, :half].max() == 0.0
    np.testing.assert_array_equal(strict.confidence[:, half + 1:], free.confidence[:, half + 1:])


@pytest.mark.parametrize("counts", [None, [40, 40], [30, 90, 20], [5, 60]])
def test_best_matches_are_ranked_within_the_reference_of_each_rows_best(counts):
    """Each row's best columns, their similarities and its AMBIGUITY_RANK-th best, all taken
    within the reference holding its best match (the first on a tie), as a sort of that
    reference's columns gives them; a reference with fewer cells than the rank ranks them all."""
    from irodori.reference import AMBIGUITY_RANK, TOP_K

    rng = np.random.default_rng(3)
    sim = rng.standard_normal((50, sum(counts) if counts else 70)).astype(np.float32)
    sim[7, :] = 1.0  # every column equal: the first reference's first column
    top, top_sim, ranked = best_matches(sim, counts)
    starts = np.cumsum([0, *(counts or [sim.shape[1]])])
    k = min(TOP_K, AMBIGUITY_RANK, *(counts or [sim.shape[1]]))
    assert top.shape == top_sim.shape == (50, k) and ranked.shape == (50,)
    for row in range(50):
        owner = int(np.argmax([sim[row, a:b].max() for a, b in zip(starts[:-1], starts[1:])]))
        block = sim[row, starts[owner]:starts[owner + 1]]
        ordered = np.sort(block)[::-1]
        assert starts[owner] <= top[row].min() and top[row].max() < starts[owner + 1]
        np.testing.assert_array_equal(top_sim[row], ordered[:k])
        np.testing.assert_array_equal(sim[row, top[row]], top_sim[row])
        assert ranked[row] == ordered[min(AMBIGUITY_RANK, len(block)) - 1]
    assert top[7].max() < starts[1]  # a tie between references: the first one


def test_a_reference_is_related_to_a_webtoon_strip_by_its_best_matched_page():
    """One page of a long strip matching its reference was diluted below MIN_RELATED by the
    strip's other pages, and the reference was ignored ("0 of 1 related")."""
    from irodori.reference import MIN_RELATED, related_shares

    matched, source = np.zeros((200, 20), bool), np.zeros((200, 20), int)
    matched[100:110, 5:15] = True  # half of one 20x20 cell page region of a strip ten pages long
    source[100:110, 5:15] = 1
    shares = related_shares(matched, source, 2)
    assert shares[0] == 0.0 and shares[1] >= 0.25 * 0.5 > MIN_RELATED  # per page: 100 of a 40x20 window
    assert matched.mean() < MIN_RELATED  # the whole strip's share, as it was measured
    page = np.zeros((30, 20), bool)
    page[:6] = True  # a page (not a strip): its share over the whole page, as before
    assert related_shares(page, np.zeros((30, 20), int), 1)[0] == page.mean()
    assert np.array_equal(related_shares(matched.T, source.T, 2), shares)  # a wide strip alike


def test_a_strips_features_stay_within_four_pages_of_pixels():
    """A 1x200000 line was enlarged and its 16-px rounding not counted: 16x84000 features, 6.4 GB."""
    from irodori.reference import FEATURE_SIDE, feature_size

    assert feature_size(1200, 780) == (384, 256)  # a page: as before
    assert feature_size(12000, 800) == (2880, 192)  # a webtoon strip: as its pages
    for size in ((1, 200000), (200000, 1), (1, 12000), (30, 100000)):
        h, w = feature_size(*size)
        assert h * w <= 4 * FEATURE_SIDE ** 2 and h % 16 == w % 16 == 0


def test_a_reference_named_twice_counts_once_and_the_old_name_still_imports(tmp_path):
    import warnings

    import irodori.reference as R

    for name in ("a.png", "b.png"):
        Image.fromarray(cartoon(0)).save(tmp_path / name)
    files = R.reference_files([tmp_path / "b.png", str(tmp_path / "*.png"), tmp_path / "b.png"])
    assert files == [tmp_path / "b.png", tmp_path / "a.png"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert R.ReferenceError is ReferenceImageError  # this exception's name before 2026-12-01
    assert caught and caught[0].category is DeprecationWarning


def _boxed_page() -> tuple[np.ndarray, np.ndarray]:
    """A page (uint8 grey, 400 x 300) with one large shape outlined in ink, and that shape's
    inside (bool): a dress, flat paper inside its outline."""
    page = np.full((400, 300), 255, np.uint8)
    page[40:44, 40:260] = page[300:304, 40:260] = 0
    page[40:304, 40:44] = page[40:304, 256:260] = 0
    page[340:344, 20:280] = 0
    inside = np.zeros(page.shape, bool)
    inside[44:300, 44:256] = True
    return page, inside


@pytest.mark.parametrize("mode, grey", [("paint", 255), ("tint", 170)])
def test_a_users_hint_wins_over_a_references_across_the_whole_shape(mode, grey):
    """A dress the reference colours teal, with the user's red hint in it: it came out teal with
    a red blot around the hint (98 % of the dress teal: helper 52). The hint now wins in the whole
    shape; the paper outside the outline takes no red."""
    page, inside = _boxed_page()
    page[inside] = grey
    reference = np.stack([page] * 3, -1)
    reference[inside] = (40, 160, 150)
    colorizer = load_colorizer("auto", mode=mode, threads=1)
    out = np.asarray(colorizer.colorize(page, hints=["150,170,#c01020"], reference=[reference]).convert("RGB"))
    lab = rgb_to_lab(out)
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360
    red = ((hue < 60) | (hue > 330)) & (np.hypot(lab[..., 1], lab[..., 2]) > 15)
    assert red[inside].mean() > 0.9
    outside = np.zeros(page.shape, bool)
    outside[350:, :] = True  # below the line under the shape
    assert red[outside].mean() < 0.05


def test_a_users_hint_keeps_its_reach_beside_a_references_many_hints():
    """Helper 54: on the example page, a red hint in the woman's coat beside a reference's many
    hints kept only a third of what it fills alone (a blob with a square corner): the
    references' hints coarsened the grid its distances were measured on, and theirs just
    outside the coat, across a thin line, were nearer to much of it. Where the hint alone is
    strongly red it stays red."""
    page = Image.open(Path(__file__).resolve().parent.parent / "examples" / "manga_page.png").convert("L")
    page = page.crop((0, 360, 780, 1100))  # the second row of panels: the woman and the duck
    grey = np.asarray(page)
    reference = np.stack([grey] * 3, -1).astype(np.float32)
    paper = grey > 128
    reference[paper] *= np.array([0.75, 0.95, 0.8])  # the same art, every paper area a pale green
    colorizer = load_colorizer("auto", threads=1)
    hint = ["555,200,#c03030"]

    def redness(out: Image.Image) -> np.ndarray:
        rgb = np.asarray(out.convert("RGB")).astype(int)[100:360, 480:680]  # the woman
        return rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2])

    alone = redness(colorizer.colorize(page, hints=hint))
    beside = redness(colorizer.colorize(page, hints=hint, reference=[reference.astype(np.uint8)]))
    strong = alone > 80
    assert strong.sum() > 1000  # the coat's front and sleeve
    assert (beside[strong] > 50).mean() > 0.95  # it was 0.66
