"""Colour hints and palettes: parsing, the network's hint input, the CLI flags, and that the
shipped model follows a hint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irodori.color import rgb_to_lab
from irodori.hints import (
    Hint,
    HintError,
    apply_palette,
    hint_map,
    load_hints_file,
    parse_palette,
    sample_hints,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "photo_hills.png"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "irodori.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", ["120,45,#ff8800", "120, 45, ff8800", {"x": 120, "y": 45, "color": "#FF8800"},
                                   (120, 45, "#ff8800"), [120, 45, (255, 136, 0)], Hint(120, 45, (255, 136, 0))])
def test_every_hint_form_parses_to_the_same_hint(value):
    assert Hint.parse(value) == Hint(120, 45, (255, 136, 0))


@pytest.mark.parametrize("value, message", [
    ("120,45", "X,Y,#RRGGBB"),
    ("a,45,#ff8800", "X,Y,#RRGGBB"),
    ("1.5,45,#ff8800", "X,Y,#RRGGBB"),
    ("1,2,#ff88", "not #rrggbb"),
    ("1,2,#gg8800", "not #rrggbb"),
    ({"x": 1, "y": 2}, "exactly the keys"),
    ({"x": 1, "y": 2, "color": "#ff0000", "path": "/etc/passwd"}, "exactly the keys"),
    ({"x": True, "y": 2, "color": "#ff0000"}, "integers"),
    ({"x": 1.0, "y": 2, "color": "#ff0000"}, "integers"),
    ((1, 2, (255, 0, 300)), "0..255"),
    (42, "is not"),
])
def test_malformed_hints_are_a_clear_error(value, message):
    with pytest.raises(HintError, match=message):
        Hint.parse(value)


def test_hint_map_places_a_clipped_patch_of_the_hint_chroma():
    hints = [Hint(0, 0, (255, 0, 0)), Hint(99, 49, (0, 0, 255))]
    m = hint_map(hints, (50, 100), (25, 50), patch=3)
    assert m.shape == (3, 25, 50)
    # A square starting at the top-left corner is shifted inside; one at the far corner is clipped.
    assert m[2, 0:3, 0:3].sum() == 9 and m[2].sum() == 9 + 4
    red_ab = rgb_to_lab(np.array([255, 0, 0], np.uint8))[1:] / 110
    np.testing.assert_allclose(m[0:2, 1, 1], red_ab, atol=1e-5)
    assert m[2, 24, 49] == 1 and m[1, 24, 49] < 0  # blue: b < 0, at the far corner
    assert not m[:, 10:15, 10:40].any()


def test_hints_outside_the_image_name_the_valid_range():
    with pytest.raises(HintError, match=r"outside the 100x50 image \(x must be in 0..99, y in 0..49\)"):
        hint_map([Hint(100, 0, (0, 0, 0))], (50, 100), (25, 50))
    with pytest.raises(HintError, match="outside"):
        hint_map([Hint(-1, 0, (0, 0, 0))], (50, 100), (25, 50))


def test_a_malformed_hint_is_shown_as_its_sender_wrote_it():
    """A JSON client's hint was echoed in Python's syntax ({'x': 1}, True: helper 62)."""
    from irodori.hints import parse_hints

    with pytest.raises(HintError, match='hint {"x": 1, "color": "#ff0000"} must have exactly the keys'):
        parse_hints([{"x": 1, "color": "#ff0000"}])
    with pytest.raises(HintError, match="must be integers, got true, 20"):
        parse_hints([{"x": True, "y": 20, "color": "#ff0000"}])


def test_hints_file_list_mapping_and_errors(tmp_path):
    f = tmp_path / "h.json"
    f.write_text(json.dumps([{"x": 1, "y": 2, "color": "#010203"}]))
    assert load_hints_file(f) == [Hint(1, 2, (1, 2, 3))]
    f.write_text(json.dumps({"page.png": [{"x": 1, "y": 2, "color": "#010203"}], "b.png": []}))
    assert load_hints_file(f) == {"page.png": [Hint(1, 2, (1, 2, 3))], "b.png": []}
    f.write_text("[{")
    with pytest.raises(HintError, match="not valid JSON"):
        load_hints_file(f)
    f.write_text(json.dumps({"x": 1}))
    with pytest.raises(HintError, match="expected a JSON list"):
        load_hints_file(f)
    f.write_text(json.dumps([{"x": 1, "y": 2, "color": "red"}]))
    with pytest.raises(HintError, match=r"h\.json: colour 'red'"):
        load_hints_file(f)
    with pytest.raises(HintError, match="cannot read"):
        load_hints_file(tmp_path / "missing.json")


def test_geodesic_distances_go_around_ink_lines():
    from irodori.hints import geodesic_distances

    flat = np.full((60, 80), 90.0, np.float32)
    d = geodesic_distances(flat, [(10, 20)])[0]
    for y, x in [(10, 60), (50, 70), (59, 0)]:
        euclid = np.hypot(y - 10, x - 20)
        assert euclid - 1e-3 <= d[y, x] <= 1.09 * euclid  # 8-neighbour paths: within 8 % of straight
    walled = flat.copy()
    walled[:50, 40] = 5.0  # an ink line with a gap at the bottom
    d = geodesic_distances(walled, [(10, 20)])[0]
    around = (50 - 10) + (50 - 10) + 10  # down to the gap, through it, and back up (roughly)
    assert d[10, 60] > 0.9 * around and d[10, 30] == pytest.approx(10.0)
    two = geodesic_distances(flat, [(0, 0), (59, 79)])
    assert two.shape == (2, 60, 80) and two[0, 0, 0] == 0 and two[1, 59, 79] == 0


def test_many_hints_asking_the_same_correction_share_a_distance_map():
    from irodori.hints import geodesic_distances, group_seeds, propagate_hints

    flat = np.full((40, 50), 90.0, np.float32)
    both = geodesic_distances(flat, [[(0, 0), (39, 49)]])[0]  # one seed of two points: the nearer counts
    apart = geodesic_distances(flat, [(0, 0), (39, 49)])
    assert np.allclose(both, apart.min(axis=0))
    seeds = [(0, 0), (5, 5), (30, 40), (35, 45)]
    deltas = [np.array([10.0, 0.0]), np.array([12.0, 1.0]), np.array([-20.0, 5.0]), np.array([10.5, 0.5])]
    groups, means = group_seeds(seeds, deltas, tolerance=4.0)
    assert groups == [[(0, 0), (5, 5), (35, 45)], [(30, 40)]]
    assert np.allclose(means[0], [32.5 / 3, 1.5 / 3]) and np.allclose(means[1], [-20.0, 5.0])
    # Many hints of two colours, on two sides of an ink line: each side takes its own colour.
    page = np.full((64, 96), 90.0, np.float32)
    page[:, 47:49] = 5.0
    red, blue = (200, 40, 40), (40, 60, 200)
    hints = [Hint(x, y, red if x < 48 else blue) for y in range(4, 64, 12) for x in (8, 20, 32, 64, 76, 88)]
    assert len(hints) > 16  # the grouped path
    ab = propagate_hints(np.zeros((2, 64, 96), np.float32), page, hints, (64, 96))
    lab_red, lab_blue = (rgb_to_lab(np.array([[c]], np.uint8))[0, 0, 1:] for c in (red, blue))
    assert np.abs(ab[:, :, 10:40].mean(axis=(1, 2)) - lab_red).max() < 8.0
    assert np.abs(ab[:, :, 56:90].mean(axis=(1, 2)) - lab_blue).max() < 8.0


def test_a_fill_hint_paints_its_shape_one_flat_colour_where_a_correction_keeps_the_network_uneven():
    from irodori.hints import propagate_hints

    # Line art: a box outlined in ink; the network painted its left half yellow and left its
    # right half white. A hint in the white half asks for red.
    page = np.full((64, 96), 95.0, np.float32)
    page[10, 10:60] = page[50, 10:60] = page[10:51, 10] = page[10:51, 59] = 5.0
    lab = np.zeros((3, 64, 96), np.float32)
    lab[0] = 95.0
    lab[:, 11:50, 11:35] = np.array([90.0, -5.0, 80.0], np.float32)[:, None, None]  # yellow
    red = (200, 40, 40)
    hints = [Hint(500, 300, red)]  # in the pixels of a 960 px drawing, whose lines are 10 px wide
    target = rgb_to_lab(np.array([[red]], np.uint8))[0, 0]
    inside = (slice(None), slice(14, 47), slice(14, 56))
    filled = propagate_hints(lab, page, hints, (640, 960), walls=page, fill="colour")
    corrected = propagate_hints(lab, page, hints, (640, 960), walls=page)
    def halves(out: np.ndarray) -> float:  # the largest Lab difference between the two halves' means
        return float(np.abs(out[:, 14:47, 14:30].mean(axis=(1, 2)) - out[:, 14:47, 40:56].mean(axis=(1, 2))).max())

    assert np.abs(filled[inside] - target[:, None, None]).mean() < 4.0  # the hint's colour ...
    assert halves(filled) < 8.0  # ... over the whole shape
    assert halves(corrected) > 40.0  # a correction shifted both halves alike: still two colours
    outside = (slice(None), slice(54, 64), slice(None))
    assert np.abs(filled[outside] - lab[outside]).max() < 5.0  # the ink line holds the fill in
    # A page's fill: the hint's chroma over the shape, the network's lightness (its shading) corrected.
    chroma = propagate_hints(lab, page, hints, (640, 960), walls=page, fill="chroma")
    assert halves(chroma[1:]) < 8.0 and np.abs(chroma[1:, 14:47, 14:56] - target[1:, None, None]).mean() < 4.0
    assert np.allclose(chroma[0], corrected[0])  # L: still the yellow half lighter than the white half
    with pytest.raises(ValueError, match="fill must be one of"):
        propagate_hints(lab, page, hints, (640, 960), fill="flat")
    # Hints that do not fill (a reference's, beside the user's) spread their corrections.
    assert np.allclose(propagate_hints(lab, page, hints, (640, 960), walls=page, fill="colour", filling=[False]),
                       corrected)
    with pytest.raises(ValueError, match="one value per hint"):
        propagate_hints(lab, page, hints, (640, 960), fill="colour", filling=[True, False])


def test_smoothing_lets_screentone_through_but_keeps_ink_lines(monkeypatch):
    from irodori import hints as hints_mod

    tone = np.where((np.add.outer(np.arange(96), np.arange(128)) // 2) % 2 == 0, 30.0, 90.0)  # fine checker
    page = np.full((96, 128), 95.0, np.float32)
    page[:, 64:] = tone[:, 64:]  # right half screentone, left half paper
    page[:, 19:21] = 5.0  # a full-height ink line
    smooth = hints_mod.gaussian_smooth(page, 2.0)
    assert smooth[:, 80:].std() < 0.1 * tone[:, 80:].std()  # the tone averages to its mean grey
    assert smooth[:, 20].mean() < smooth[:, 10].mean() - 10  # the ink line is still darker than the paper
    assert hints_mod.gaussian_smooth(page, 0.0) is page  # off means untouched

    ab = np.zeros((2, 96, 128), np.float32)
    in_tone, on_paper = [hints_mod.Hint(90, 10, (220, 60, 40))], [hints_mod.Hint(40, 10, (220, 60, 40))]
    far_tone, behind_line, paper = {}, {}, {}
    for sigma in (0.0, 2.0):
        monkeypatch.setattr(hints_mod, "SMOOTH", sigma)
        far_tone[sigma] = np.abs(hints_mod.propagate_hints(ab, page, in_tone, (96, 128))[:, 60:, 100:]).mean()
        out = hints_mod.propagate_hints(ab, page, on_paper, (96, 128))
        behind_line[sigma], paper[sigma] = np.abs(out[:, :, :15]).mean(), np.abs(out[:, 60:, 25:60]).mean()
    assert far_tone[0.0] < 1.0 < 20.0 < far_tone[2.0]  # a hint fills its toned region only when smoothed
    assert paper[2.0] > 30.0 and behind_line[2.0] < 0.3 * paper[2.0]  # and still stops at the ink line
    # SMOOTH (still 2) is in input pixels: the same network-size lightness from a 10x larger input,
    # where the downsizing would already have averaged such a tone, is barely blurred.
    big = [hints_mod.Hint(900, 100, (220, 60, 40))]
    assert np.abs(hints_mod.propagate_hints(ab, page, big, (960, 1280))[:, 60:, 100:]).mean() < 1.0


def test_sampled_hints_carry_the_truth_colour_and_are_reproducible():
    truth = np.zeros((40, 60, 3), np.uint8)
    truth[:, 30:] = (200, 40, 10)
    a = sample_hints(truth, 12, np.random.default_rng(3))
    assert a == sample_hints(truth, 12, np.random.default_rng(3)) and len(a) == 12
    for hint in a:
        assert 0 <= hint.x < 60 and 0 <= hint.y < 40
        if hint.x >= 32:
            assert hint.rgb == (200, 40, 10)
        if hint.x <= 27:
            assert hint.rgb == (0, 0, 0)


def test_palette_keeps_only_its_colours_and_grey():
    palette = parse_palette("#ff0000,#0000ff, #00ff00")
    assert palette.shape == (3, 2)
    with pytest.raises(HintError):
        parse_palette("#ff0000,bogus")
    assert parse_palette("") is None and parse_palette(None) is None and parse_palette([]) is None
    for nothing in (",", " , ", "  "):  # a palette meant, with no colour in it: said, not ignored
        with pytest.raises(HintError, match="names no colour"):
            parse_palette(nothing)
    rng = np.random.default_rng(0)
    ab = rng.uniform(-80, 80, (2, 30, 40)).astype(np.float32)
    ab[:, :5] = rng.uniform(-2, 2, (2, 5, 40))  # near-grey rows
    out = apply_palette(ab, palette).reshape(2, -1).T
    flat = ab.reshape(2, -1).T
    assert np.abs(out[: 5 * 40]).max() == 0  # near-grey stays grey
    d = np.sqrt(((out[:, None] - palette[None]) ** 2).sum(-1)).min(1)
    # Coloured pixels not at a near-tie between two palette colours land on one of them.
    dist = np.sort(np.sqrt(((flat[:, None] - palette[None]) ** 2).sum(-1)), axis=1)
    clear = ((dist[:, 1] - dist[:, 0]) > 20) & (np.linalg.norm(flat, axis=1) > 10)
    assert clear.sum() > 400 and d[clear].max() < 1.0


# ----------------------------------------------------------------------------------------------
# With the shipped model
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    from irodori.colorizer import load_colorizer

    return load_colorizer(threads=2)


def test_a_hint_outside_an_exif_turned_photo_says_its_sizes_are_upright(shipped, tmp_path):
    """Helper 56: a hint in a camera photo's sideways pixels was "outside the 40x60 image" of a
    file whose own size is 60x40, with no word of the EXIF orientation that turned it."""
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees clockwise to show
    Image.open(EXAMPLE).convert("RGB").resize((60, 40)).convert("L").save(tmp_path / "turned.jpg", exif=exif)
    with pytest.raises(HintError, match=r"outside the 40x60 image \(its size upright: the file's EXIF orientation"):
        shipped.colorize(tmp_path / "turned.jpg", hints=[(50, 5, "#ff0000")])
    Image.open(EXAMPLE).convert("L").resize((60, 40)).save(tmp_path / "plain.png")
    with pytest.raises(HintError, match=r"outside the 60x40 image \(x must be"):
        shipped.colorize(tmp_path / "plain.png", hints=[(70, 5, "#ff0000")])


def _ab(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_lab(rgb)[..., 1:]


def test_the_shipped_model_follows_a_hint(shipped):
    """A hint of a colour the model did not choose pulls the region around it toward that colour,
    and the output keeps the input's lightness."""
    page = Image.open(EXAMPLE)
    before = np.asarray(shipped.colorize(page))
    x, y = page.width // 2, page.height // 4
    window = (slice(y - 15, y + 16), slice(x - 15, x + 16))
    target = np.array([255, 0, 200], np.uint8)  # magenta: far from anything in a landscape
    after = np.asarray(shipped.colorize(page, hints=[(x, y, "#ff00c8")]))
    d_before = np.linalg.norm(_ab(before[window]) - _ab(target), axis=-1).mean()
    d_after = np.linalg.norm(_ab(after[window]) - _ab(target), axis=-1).mean()
    assert d_after < 0.7 * d_before, (d_before, d_after)
    far = (slice(page.height - 20, page.height), slice(0, 20))  # the opposite corner barely moves
    assert np.abs(after[far].astype(int) - before[far].astype(int)).mean() < 12
    l_in = rgb_to_lab(np.asarray(page.convert("RGB")))[..., 0]
    assert np.abs(rgb_to_lab(after)[..., 0] - l_in).max() < 1.0


def test_the_palette_restricts_the_output_colours(shipped):
    page = Image.open(EXAMPLE)
    out = np.asarray(shipped.colorize(page, palette="#2a7de1,#e0a030"))
    ab = _ab(out).reshape(-1, 2)
    chroma = np.linalg.norm(ab, axis=1)
    hue = np.degrees(np.arctan2(ab[:, 1], ab[:, 0]))
    allowed = np.degrees(np.arctan2(*_ab(np.array([[0x2a, 0x7d, 0xe1], [0xe0, 0xa0, 0x30]], np.uint8))[:, ::-1].T))
    coloured = chroma > 8
    off = np.min(np.abs((hue[coloured, None] - allowed[None] + 180) % 360 - 180), axis=1)
    assert coloured.mean() > 0.2 and np.percentile(off, 95) < 20


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def test_cli_hints_and_palette_give_what_the_api_gives(shipped, tmp_path):
    hints_file = tmp_path / "hints.json"
    hints_file.write_text(json.dumps({"photo_hills.png": [{"x": 300, "y": 100, "color": "#ff00c8"}]}))
    proc = _run("colorize", str(EXAMPLE), "-o", str(tmp_path / "out"), "--hints", str(hints_file),
                "--hint", "10,10,#00ff00", "-q")
    assert proc.returncode == 0, proc.stderr
    cli = np.asarray(Image.open(tmp_path / "out" / "photo_hills.png"))
    api = np.asarray(shipped.colorize(EXAMPLE, hints=[(300, 100, "#ff00c8"), (10, 10, "#00ff00")]))
    assert np.abs(cli.astype(int) - api.astype(int)).max() <= 1
    # The same command again (a run stopped and resumed): its output, made after the hints file, is
    # not said to be made without them (helper 59); after the file changes, it is.
    again = _run("colorize", str(EXAMPLE), "-o", str(tmp_path / "out"), "--hints", str(hints_file), "-q")
    assert again.returncode == 0 and "kept its existing output" not in again.stderr
    made = (tmp_path / "out" / "photo_hills.png").stat().st_mtime
    os.utime(hints_file, (made + 60, made + 60))
    again = _run("colorize", str(EXAMPLE), "-o", str(tmp_path / "out"), "--hints", str(hints_file), "-q")
    assert "kept its existing output, made before the hints file was last changed" in again.stderr
    # A correction on a finished folder: the page's output exists, so it is kept; said, not silent.
    before = (tmp_path / "out" / "photo_hills.png").read_bytes()
    proc = _run("colorize", str(EXAMPLE), "-o", str(tmp_path / "out"), "--hint", "20,20,#0000ff", "-q")
    assert proc.returncode == 0 and (tmp_path / "out" / "photo_hills.png").read_bytes() == before
    assert "1 input with hints kept its existing output, perhaps made without them" in proc.stderr
    assert "add --overwrite" in proc.stderr and "photo_hills.png" in proc.stderr
    palette = "#2a7de1,#e0a030"
    proc = _run("colorize", str(EXAMPLE), "-o", str(tmp_path / "pal"), "--palette", palette, "-q")
    assert proc.returncode == 0, proc.stderr
    cli = np.asarray(Image.open(tmp_path / "pal" / "photo_hills.png"))
    api = np.asarray(shipped.colorize(EXAMPLE, palette=palette))
    assert np.abs(cli.astype(int) - api.astype(int)).max() <= 1


def test_cli_hint_errors(tmp_path):
    out = str(tmp_path / "out")
    proc = _run("colorize", str(EXAMPLE), "-o", out, "--hint", "10,10")
    assert proc.returncode == 2 and "X,Y,#RRGGBB" in proc.stderr
    w, h = Image.open(EXAMPLE).size
    proc = _run("colorize", str(EXAMPLE), "-o", out, "--hint", f"{w},0,#ff0000")
    assert proc.returncode == 1 and f"outside the {w}x{h} image" in proc.stderr
    assert not (tmp_path / "out" / "photo_hills.png").exists()
    hints_file = tmp_path / "hints.json"
    hints_file.write_text(json.dumps({"typo.png": [{"x": 1, "y": 1, "color": "#ff0000"}]}))
    proc = _run("colorize", str(EXAMPLE), "-o", out, "--hints", str(hints_file))
    assert proc.returncode == 2 and "typo.png" in proc.stderr and "matches no input" in proc.stderr
    proc = _run("colorize", str(EXAMPLE), "-o", out, "--palette", "#12345")
    assert proc.returncode == 2 and "#rrggbb" in proc.stderr
    proc = _run("colorize", str(EXAMPLE), "-o", out, "--palette", " , ")  # no colour: not silently no palette
    assert proc.returncode == 2 and "names no colour" in proc.stderr
    proc = _run("colorize", str(EXAMPLE), "-o", out, "--hint", "-5,10,#ff0000")  # a value, not an option
    assert proc.returncode == 1 and "hint at (-5, 10) is outside" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_hint_clicked_beside_a_line_starts_from_the_cell_on_its_own_side():
    from irodori.hints import start_cell

    walls = np.full((5, 6), 100.0, np.float32)
    walls[:, 3] = 20.0  # a line fills column 3's cells
    assert start_cell(walls, (2, 3), (2.5, 3.2), 100.0) == (2, 2)  # paper, left part of the line's cell: left
    assert start_cell(walls, (2, 3), (2.5, 3.8), 100.0) == (2, 4)  # ... right part: right
    assert start_cell(walls, (2, 3), (2.5, 3.5), 22.0) == (2, 3)  # clicked on the line itself: stays
    assert start_cell(walls, (2, 1), (2.5, 1.5), 100.0) == (2, 1)  # on paper already: stays
    assert start_cell(walls, (2, 3), (2.5, 3.2), float("nan")) == (2, 3)  # no lightness given: stays


def test_a_bare_name_in_a_hints_file_matching_several_inputs_says_so(tmp_path, caplog):
    from irodori.batch import Job, attach_hints
    from irodori.hints import parse_hints

    jobs = [Job(source=tmp_path / folder / "p01.png", output=tmp_path / "out" / folder / "p01.png")
            for folder in ("ch1", "ch2")]
    hints = {"p01.png": parse_hints([(3, 4, "#ff0000")])}
    with caplog.at_level("WARNING", logger="irodori.batch"):
        attached = attach_hints(jobs, [], hints, roots=[str(tmp_path)])
    assert all(len(job.hints) == 1 for job in attached)  # both still get them
    assert "'p01.png' matches 2 inputs" in caplog.text and "ch1" in caplog.text and "ch2" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="irodori.batch"):
        attach_hints(jobs, [], {"ch1/p01.png": hints["p01.png"]}, roots=[str(tmp_path)])
    assert "matches" not in caplog.text


def test_a_hints_file_naming_one_image_twice_says_which_name_wins(tmp_path):
    # found by a helper: the bare name was said to match no input image, which it does
    from irodori.batch import Job, attach_hints
    from irodori.hints import HintError, parse_hints

    job = Job(source=tmp_path / "a" / "p01.png", output=tmp_path / "out" / "a" / "p01.png")
    red, blue = parse_hints([(3, 4, "#ff0000")]), parse_hints([(5, 6, "#0000ff")])
    with pytest.raises(HintError, match="names one image twice, as 'p01.png' and 'a/p01.png': the second"):
        attach_hints([job], [], {"a/p01.png": red, "p01.png": blue}, roots=[str(tmp_path)])
    with pytest.raises(HintError, match="matches no input image"):  # a name of no input at all
        attach_hints([job], [], {"a/p01.png": red, "p02.png": blue}, roots=[str(tmp_path)])


def test_hints_file_names_match_whatever_their_unicode_form_and_errors_count_right(tmp_path):
    """A file named on macOS ("ページ.png" decomposed, NFD) and a hints file typed elsewhere
    (composed, NFC) did not match (helper 52); two names that are one name in two forms are
    refused; "names a.png, b.png, which matches" said so of two names."""
    import unicodedata

    from irodori.batch import Job, attach_hints
    from irodori.hints import HintError, parse_hints

    composed = "ページ.png"
    decomposed = unicodedata.normalize("NFD", composed)
    job = Job(source=tmp_path / decomposed, output=tmp_path / "out" / decomposed)
    red = parse_hints([(3, 4, "#ff0000")])
    attached = attach_hints([job], [], {composed: red}, roots=[str(tmp_path)])
    assert attached[0].hints == tuple(red)
    with pytest.raises(HintError, match="names one image twice"):
        attach_hints([job], [], {composed: red, decomposed: red}, roots=[str(tmp_path)])
    with pytest.raises(HintError, match="names a.png, b.png, which match no input image"):
        attach_hints([job], [], {"a.png": red, "b.png": red}, roots=[str(tmp_path)])
    # a chapter's hints file for a run on some of its pages: a page left out is no typo (helper 59)
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(HintError, match="names b.png, which matches no input image"):
        attach_hints([job], [], {"a.png": red, "b.png": red}, roots=[str(tmp_path / decomposed)])
    attached = attach_hints([job], [], {composed: red, "a.png": red}, roots=[str(tmp_path / decomposed)])
    assert attached[0].hints == tuple(red)


def test_propagate_hints_takes_the_users_hints_as_the_last_ones():
    """``own`` counts the user's hints at the end of the list: more than there are is an error;
    all of them the user's spreads as without ``own``."""
    from irodori.hints import parse_hints, propagate_hints

    page = np.full((64, 96), 90.0, np.float32)
    ab = np.zeros((2, 64, 96), np.float32)
    hints = parse_hints(["10,10,#ff0000", "80,50,#0000ff"])
    with pytest.raises(ValueError, match="own must be 0 to 2"):
        propagate_hints(ab, page, hints, (64, 96), own=3)
    assert np.allclose(propagate_hints(ab, page, hints, (64, 96), own=2), propagate_hints(ab, page, hints, (64, 96)))


def test_hints_file_keys_by_absolute_path_and_the_keys_meant_for_loose_images(tmp_path):
    """Helper 54: the input's absolute path was said to match no input image; "001.PNG" for
    chapter/001.png got no suggestion (only archive pages were looked at); a bad colour did not
    name its entry."""
    from irodori.batch import Job, attach_hints
    from irodori.hints import HintError, load_hints_file, parse_hints

    source = Path("chapter") / "001.png"
    job = Job(source=source, output=tmp_path / "out" / "001.png")
    red = parse_hints([(3, 4, "#ff0000")])
    attached = attach_hints([job], [], {source.absolute().as_posix(): red}, roots=["chapter"])
    assert attached[0].hints == tuple(red)
    with pytest.raises(HintError, match=r"names 001\.PNG, which matches no input image; did you mean 'chapter/001\.png'\?"):
        attach_hints([job], [], {"001.PNG": red}, roots=["chapter"])
    bad = tmp_path / "hints.json"
    bad.write_text('{"001.png": [{"x": 5, "y": 5, "color": "red"}]}')
    with pytest.raises(HintError, match="hints.json: '001.png': colour 'red' is not #rrggbb"):
        load_hints_file(bad)
