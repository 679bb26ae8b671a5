"""Paint mode: ink kept, paper and screentone take colour; the detector; the contract object."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import bw_page_image, lettering_page, line_art_image as _line_art
from irodori.color import rgb_to_lab
from irodori.imageio import Lightness
from irodori.paint import (BlankSheet, Contract, PageStats, Screentone, background_mask, box_mean, box_sum,
                           choose_background, choose_mode, composite, flatten_tone, flats_to_lines, grow, gutters,
                           ink_layer, lattice_regularity, page_stats)


def _l(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_lab(np.asarray(rgb)[..., :3])[..., 0]


def _dot_energy(l: np.ndarray, pitch: int) -> float:
    """Spectral energy of L at the dot screen's frequencies (and their first harmonics)."""
    spec = np.abs(np.fft.rfft2(l - l.mean())) ** 2
    h, w = l.shape
    fy, fx = round(h / pitch), round(w / pitch)
    total = 0.0
    for ky, kx in ((fy, fx), (fy, 0), (0, fx), (2 * fy, 2 * fx)):
        for sy in (ky, h - ky) if ky else (0,):
            total += spec[max(0, sy - 1):sy + 2, max(0, kx - 1):kx + 2].sum()
    return float(total)


# -- the pieces ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, radius", [((9, 13), 2), ((4, 3), 5), ((1, 1), 0), ((12, 7), 0)])
def test_box_sums_and_means_are_those_of_windows_clipped_at_the_edges(shape, radius):
    rng = np.random.default_rng(3)
    mask = rng.random(shape) < 0.4
    h, w = shape
    windows = [[mask[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1] for x in range(w)]
               for y in range(h)]
    assert box_sum(mask, radius).tolist() == [[int(win.sum()) for win in row] for row in windows]
    assert np.allclose(box_mean(mask, radius), [[win.mean() for win in row] for row in windows])
    assert np.allclose(box_mean(mask.astype(np.float32), radius), box_mean(mask, radius))  # 0/1 floats alike


def test_flatten_tone_removes_dots_and_keeps_lines_and_solids():
    page = bw_page_image()
    dark = 255 - page
    flat = flatten_tone(dark, 7)
    band = (slice(75, 110), slice(12, 148))
    assert (dark[band] > 128).mean() > 0.1 and (flat[band] > 128).mean() < 0.03
    np.testing.assert_array_equal(flat[10:12, 10:80], 255)  # ink lines stay
    np.testing.assert_array_equal(flat[-12:, -20:], 255)  # a solid black stays


def test_a_sparse_screens_last_dots_beside_its_outline_are_flattened_too():
    """Helper 57: a sparse screen (2 x 2 dots at a pitch of 6, 11 % ink) bounded by an ink line
    kept a dotted frame along the line: there its density window is half line and paper, under
    TONE_DENSITY. Within the screen's cells the dots within that window's reach go too."""
    dark = np.zeros((120, 160), np.uint8)
    dark[20:23, 20:140] = dark[97:100, 20:140] = dark[20:100, 20:23] = dark[20:100, 137:140] = 255  # a box
    for y in range(24, 96, 6):
        for x in range(24, 136, 6):
            dark[y:y + 2, x:x + 2] = 255
    flat = flatten_tone(dark, 7, np.ones_like(dark, bool))
    inside = (slice(24, 96), slice(24, 136))
    assert (dark[inside] > 128).mean() > 0.1 and not (flat[inside] > 128).any()
    np.testing.assert_array_equal(flat[20:23, 20:140], 255)  # the outline stays


def test_flatten_tone_keeps_lettering_and_thin_lines_on_paper():
    """Short strokes on paper are not screentone: a full stop, a short dash, a steep 1-px line
    broken into short runs by the pixel grid all stay; only dense fields of dots go."""
    dark = np.zeros((80, 120), np.uint8)
    dark[20:23, 10:13] = 255  # a full stop
    dark[40:42, 30:35] = 255  # a dash
    for y in range(10, 70):  # a steep 1-px line: runs of 4 px in every direction it takes
        dark[y, 60 + y // 4] = 255
    np.testing.assert_array_equal(flatten_tone(dark, 7), dark)


def test_a_dot_screen_is_regular_and_lettering_or_random_dots_are_not():
    yy, xx = np.mgrid[0:40, 0:40]  # windows as Screentone.find cuts them for a tone length of 5
    rng = np.random.default_rng(0)
    windows = []
    for angle, pitch in ((0.0, 4), (0.5, 5), (0.8, 7)):  # square screens, turned, fine to coarse
        u, v = xx * np.cos(angle) + yy * np.sin(angle), -xx * np.sin(angle) + yy * np.cos(angle)
        windows.append(((np.cos(u * 2 * np.pi / pitch) * np.cos(v * 2 * np.pi / pitch) + 1) / 2 > 0.75) * 255.0)
    windows.append((rng.random((40, 40)) < 0.15) * 255.0)  # a "sand" tone: dots at random, not on a lattice
    lettering = 255.0 - lettering_page()
    windows += [lettering[y:y + 40, x:x + 40] for y in (10, 50, 170) for x in (190, 230, 270)]  # 9 and 10 px type
    regularity = lattice_regularity(np.array(windows, np.float32), 10)
    assert (regularity[:3] > 0.6).all() and (regularity[3:] < 0.4).all(), regularity


def test_tone_flat_keeps_small_lettering_where_the_dots_are_not_a_screen():
    page = lettering_page()
    h, w = page.shape
    dark = 255 - page
    lettering, toned = (dark > 128) & (np.arange(w) >= 190), np.s_[10:h - 10, 10:170]
    before = flatten_tone(dark, 5)  # dense short strokes: the density rule alone takes them for dots
    assert (before[lettering] > 128).mean() < 0.7
    screen = Screentone.find(Lightness(page, "gray8"), paper_l=100.0, length=5)
    assert screen.size == 30 and screen.cells[:, :6].all() and not screen.cells[:, 7:].any()  # cells of 30 px
    flat = flatten_tone(dark, 5, screen.rows(0, h, w))
    np.testing.assert_array_equal(flat[lettering], dark[lettering])  # every letter stays ...
    assert (dark[toned] > 128).mean() > 0.15 and (flat[toned] > 128).mean() < 0.01  # ... the screen goes


def test_a_fine_light_screen_whose_dots_are_grey_is_found_and_flattened():
    h = w = 240  # a 2.5 px screen of about 14 % ink, reduced from twice the size: its dots are grey, not black
    yy, xx = np.mgrid[0:2 * h, 0:2 * w]
    u, v = xx * np.cos(0.3) + yy * np.sin(0.3), -xx * np.sin(0.3) + yy * np.cos(0.3)
    dots = (np.cos(u * 2 * np.pi / 5) * np.cos(v * 2 * np.pi / 5) + 1) / 2 > 0.8
    page = np.asarray(Image.fromarray(np.where(dots, 0, 255).astype(np.uint8)).resize((w, h), Image.BOX))
    dark = 255 - page
    assert (dark > 128).mean() < 0.01 and (dark > 64).mean() > 0.1
    screen = Screentone.find(Lightness(page, "gray8"), paper_l=100.0, length=5)
    assert screen.cells.all()
    np.testing.assert_array_equal(flatten_tone(dark, 5, screen.rows(0, h, w)), flatten_tone(dark, 5))


def test_a_screen_crossed_by_frames_is_still_a_screen_where_the_frames_run():
    h = w = 300
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx * np.cos(0.5) + yy * np.sin(0.5), -xx * np.sin(0.5) + yy * np.cos(0.5)
    page = np.where((np.cos(u * 2 * np.pi / 5) * np.cos(v * 2 * np.pi / 5) + 1) / 2 > 0.75, 0, 255).astype(np.uint8)
    for k in range(15, h, 40):  # frames of small panels (or a hatched grid), 4 px, through the screen
        page[k:k + 4, :] = page[:, k:k + 4] = 0
    screen = Screentone.find(Lightness(page, "gray8"), paper_l=100.0, length=5)
    assert screen.cells.all()  # on the ink as it is, no cell is: the frames' correlation drowns the lattice
    dark = 255 - page
    flat = flatten_tone(dark, 5, screen.rows(0, h, w))
    frames = np.zeros_like(page, bool)
    for k in range(15, h, 40):
        frames[k:k + 4, :] = frames[:, k:k + 4] = True
    assert (dark[~frames] > 128).mean() > 0.15  # the dots: about 18 % ink
    assert (flat[frames] == 255).all() and (flat[~frames] > 128).mean() < 0.06  # the frames stay, the dots go (but those touching them)


def test_screentone_is_found_alike_in_bands_of_any_height(monkeypatch):
    page = np.vstack([lettering_page(), lettering_page()[::-1, ::-1]])  # screens on both sides, lettering between
    lightness = Lightness(page, "gray8")
    whole = Screentone.find(lightness, paper_l=100.0, length=5)
    monkeypatch.setattr("irodori.paint.SCREEN_BAND_PIXELS", 1)  # a band per row of cells
    banded = Screentone.find(lightness, paper_l=100.0, length=5, workers=2)
    np.testing.assert_array_equal(banded.cells, whole.cells)
    assert whole.cells[:10, :6].all() and whole.cells[12:, -7:].all() and not whole.cells[:9, 7:].any()
    mask = whole.rows(0, *page.shape)
    assert mask.shape == page.shape and np.array_equal(whole.rows(37, 101, page.shape[1]), mask[37:101])


def test_composite_keeps_ink_exactly_and_never_darkens_it():
    l_paint = np.array([[60.0, 60.0, 10.0]], np.float32)
    l_ink = np.array([[100.0, 15.0, 15.0]], np.float32)  # paper, ink, ink on a dark colour
    a = np.full_like(l_paint, 40.0)
    l_out, a_out, _ = composite(l_paint, a, a, l_ink)
    np.testing.assert_allclose(l_out, [[60.0, 15.0, 10.0]])
    assert a_out[0, 0] == 40.0 and a_out[0, 1] == pytest.approx(10.0)  # ink loses its chroma in proportion


def test_the_pages_own_black_keeps_no_chroma():
    """A yellowed scan prints its ink at L 15, not 0: that black takes none of the colour under it."""
    rows = np.full((8, 200), 90.0, np.float32)  # grey paper ...
    rows[:, 20:60] = 13.5  # ... and its grey ink, solid
    rows[:, 100:104] = 30.0  # a lighter line
    stats = page_stats(rows)
    assert stats.black_l == pytest.approx(15.0, abs=0.5)  # levelled: 13.5 * 100 / 90
    l_paint, a = np.full((1, 3), 20.0, np.float32), np.full((1, 3), 30.0, np.float32)
    l_ink = np.array([[15.0, 17.5, 100.0]], np.float32)
    _, a_out, _ = composite(l_paint, a, a, l_ink, black_l=stats.black_l)
    np.testing.assert_allclose(a_out, [[0.0, 15.0, 30.0]], atol=0.6)  # the black none, halfway half, paper all
    _, a_before, _ = composite(l_paint, a, a, l_ink)
    assert a_before[0, 0] == pytest.approx(22.5)  # L 15 of 20: three quarters of the colour, a navy black


def test_ink_layer_levels_grey_paper_to_white():
    rows = np.full((4, 8), 90.0, np.float32)
    rows[:, 4] = 20.0
    out = ink_layer(rows, paper_l=90.0, tone="keep", length=7)
    assert out[0, 0] == pytest.approx(100.0) and out[0, 4] == pytest.approx(20.0 * 100 / 90, rel=1e-5)
    with pytest.raises(ValueError, match="tone"):
        ink_layer(rows, paper_l=90.0, tone="soft", length=7)


def test_contract_refuses_unknown_modes():
    with pytest.raises(ValueError, match="mode"):
        Contract("sepia")


# -- the detector --------------------------------------------------------------------------------
def _photo_like(h=120, w=160) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = 40 + 120 * (yy / h) + 40 * np.sin(xx / 17.0)
    return np.clip(smooth + np.random.default_rng(1).normal(0, 2, (h, w)), 0, 255).astype(np.uint8)


def _detect(grey: np.ndarray) -> str:
    from irodori.colorizer import sample_rows
    from irodori.imageio import Lightness

    return choose_mode(page_stats(sample_rows(Lightness(grey, "gray8"))))


def test_the_detector_paints_ink_on_paper_and_tints_photographs():
    page = bw_page_image()
    line_art = np.full((120, 160), 255, np.uint8)
    line_art[30:32, 10:150] = line_art[10:110, 80:82] = 0
    one_bit = np.asarray(Image.fromarray(page).convert("1").convert("L"))
    grey_painting = np.asarray(Image.fromarray(_photo_like()).resize((160, 120), Image.BICUBIC))
    assert _detect(page) == "paint"
    assert _detect(line_art) == "paint"
    assert _detect(one_bit) == "paint"
    assert _detect(_photo_like()) == "tint"
    assert _detect(grey_painting) == "tint"
    assert choose_mode(page_stats(_l(np.repeat(page[..., None], 3, 2)), chroma=30.0)) == "tint"  # a colour input
    # the log says why in words before the measures (a reader saw only numbers)
    from irodori.colorizer import sample_rows
    from irodori.imageio import Lightness

    def why(grey: np.ndarray) -> str:
        return page_stats(sample_rows(Lightness(grey, "gray8"))).describe()

    assert why(line_art).startswith("ink on paper: paper ")
    assert why(_photo_like()).startswith("smooth mid-tones (a photograph or grey art): ")
    assert page_stats(_l(np.repeat(page[..., None], 3, 2)), chroma=30.0).describe().startswith("a colour image: ")


def test_the_detector_paints_line_art_on_cream_or_grainy_paper_and_tints_a_dark_photo():
    """Found by a helper: line art on cream paper read as a colour image, on grainy paper (sigma 5
    at 240) as a photo's mid-tones, and a photo darker than L 20 all through as ink: each was
    coloured under the wrong contract, so a hint on the paper did nothing or a photo was painted."""
    from irodori.colorizer import mean_chroma, sample_rows
    from irodori.imageio import Lightness

    line_art = np.full((240, 320), 255, np.uint8)
    line_art[60:62, 20:300] = line_art[20:220, 160:162] = 0
    cream = np.where(line_art[..., None] > 0, np.array([245, 236, 210], np.uint8), line_art[..., None])
    lightness = Lightness(np.ascontiguousarray(cream), "rgb8")
    assert mean_chroma(lightness) < 8.0  # balanced to its paper
    assert choose_mode(page_stats(sample_rows(lightness), chroma=mean_chroma(lightness))) == "paint"
    grainy = np.where(line_art > 0, 240, 0) + np.random.default_rng(2).normal(0, 5, line_art.shape)
    assert _detect(np.clip(grainy, 0, 255).astype(np.uint8)) == "paint"
    dark = (_photo_like().astype(np.float32) / 255 * 20).astype(np.uint8)  # a night photograph, L under 10
    assert _detect(dark) == "tint"
    night = np.zeros((240, 320), np.uint8)  # a night page: solid black, white panel borders and stars (2.5 %)
    night[::60, :] = night[:, ::80] = 255
    night[np.random.default_rng(3).random((240, 320)) < 0.005] = 255
    assert _detect(night) == "paint"
    dim = np.where(line_art[..., None] > 0, np.array([215, 205, 180], np.uint8), line_art[..., None])  # L 83
    dim_light = Lightness(np.ascontiguousarray(dim), "rgb8")
    assert choose_mode(page_stats(sample_rows(dim_light), chroma=mean_chroma(dim_light))) == "paint"
    green = np.repeat(_photo_like()[..., None], 3, 2).astype(np.float32) * np.array([0.8, 1.0, 0.85])
    green_light = Lightness(np.ascontiguousarray(green.astype(np.uint8)), "rgb8")  # a painting's own cast is kept
    assert mean_chroma(green_light) > 8.0


def test_the_detector_tints_a_faded_photograph_and_paints_a_pencil_sketch_or_a_blank_page():
    """Found by a helper: a foggy mid-grey print (std 5 around 128) had no mark on it, so all its
    pixels were paper: painted as line art, it came back white."""
    rng = np.random.default_rng(4)
    smooth = np.asarray(Image.fromarray(rng.normal(0, 1, (12, 16)).astype(np.float32)).resize((320, 240), Image.BICUBIC))
    foggy = np.clip(128 + 5 * smooth / smooth.std(), 0, 255).astype(np.uint8)
    assert _detect(foggy) == "tint"
    # a blank page of a chapter, on white or grey paper, with show-through from its back or not,
    # stays paper (found by two more helpers: tinted, grey paper turned yellow at chroma 40 to 75)
    for paper in (250, 222, 186, 128):
        blank = np.clip(paper + rng.normal(0, 2, (240, 320)), 0, 255)
        assert _detect(blank.astype(np.uint8)) == "paint"
        if paper > 128:  # letters showing through: short strokes, 2 px wide, in lines
            for y in range(40, 200, 14):
                for x in range(30, 290, 5):
                    blank[y:y + 8, x:x + 2] -= 35
            assert _detect(blank.astype(np.uint8)) == "paint"
    assert _detect(np.full((1, 1), 128, np.uint8)) == "paint"
    pencil = np.full((240, 320), 250, np.uint8)  # grey strokes (L about 60), nothing black
    pencil[60:62, 20:300] = pencil[20:220, 160:162] = 150
    assert _detect(pencil) == "paint"


# -- the pipeline, with a real (tiny) paint model in onnxruntime -----------------------------------
@pytest.fixture(scope="module")
def painter(tiny_paint_onnx):
    from irodori import load_colorizer

    return load_colorizer(tiny_paint_onnx, threads=2)


def test_a_muted_colour_cover_is_not_counted_among_a_chapters_black_and_white_pages(painter):
    """Helper 75: a chapter's colour cover of mean chroma 5.4 (under MAX_CHROMA, but 7 % of it
    clearly coloured) was counted as a black-and-white image auto tinted, and the mixed-modes
    warning advised --mode paint, which would paint over it."""
    from irodori.colorizer import auto_mode_counts

    cover = np.asarray(Image.fromarray(bw_page_image()).convert("RGB")).copy()
    cover[10:40, 10:40] = (200, 40, 40)  # a red title on a grey cover: little colour, clearly colour
    before = auto_mode_counts(painter)
    painter.colorize(cover)
    assert auto_mode_counts(painter) == before
    painter.colorize(bw_page_image())  # a black-and-white page still counts
    assert sum(auto_mode_counts(painter)) == sum(before) + 1


def test_a_colour_input_says_its_colours_are_replaced(painter, caplog, tmp_path):
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, np.linspace(0, 255, 80)[None, :], 40  # a colour cover
    Image.fromarray(rgb).save(tmp_path / "cover.png")
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        painter.colorize(tmp_path / "cover.png")
        assert "cover.png: a colour image (mean chroma" in caplog.text and "colours are replaced" in caplog.text
        for mode in ("tint", "paint"):  # asked, not chosen: the colours are replaced all the same
            caplog.clear()
            painter.colorize(tmp_path / "cover.png", mode=mode)
            assert "cover.png: a colour image (mean chroma" in caplog.text, mode
        caplog.clear()
        painter.colorize(bw_page_image())  # black and white: nothing to say
        assert "a colour image" not in caplog.text
        # hand tinting on 1 % of a grey photograph (found by a helper: lips and a scarf went unsaid)
        photo = np.repeat(_photo_like()[..., None], 3, 2)
        photo[50:62, 70:86] = (190, 50, 50)
        Image.fromarray(photo).save(tmp_path / "tinted.png")
        painter.colorize(tmp_path / "tinted.png")
        assert "tinted.png: a colour image" in caplog.text
        caplog.clear()
        jpeg = tmp_path / "grey.jpg"  # a grey scan saved as colour JPEG: nothing to say
        Image.fromarray(np.repeat(_photo_like()[..., None], 3, 2)).save(jpeg, quality=60)
        painter.colorize(jpeg)
    assert "a colour image" not in caplog.text


def test_paint_keeps_ink_within_3_l_and_tint_keeps_the_lightness(painter):
    page = bw_page_image()
    l_in = _l(np.repeat(page[..., None], 3, 2))
    ink = l_in < 20
    kept = painter.colorize(page, mode="paint", tone="keep")  # every dot is ink too
    assert kept.size == (160, 120) and kept.info["irodori.mode"] == "paint"
    assert ink.any() and np.abs(_l(kept)[ink] - l_in[ink]).max() <= 3.0
    flat = _l(painter.colorize(page, mode="paint"))  # dots become colour; lines and solids stay
    lines = ink.copy()
    lines[75:110, 10:150] = False
    assert np.abs(flat[lines] - l_in[lines]).max() <= 3.0
    tinted = painter.colorize(page, mode="tint")
    assert np.abs(_l(tinted) - l_in).max() < 1.0


def test_a_hint_on_white_paper_fills_its_region_with_its_colour(painter):
    page = bw_page_image()
    red = (208, 32, 32)
    out = np.asarray(painter.colorize(page, mode="paint", hints=[(45, 36, "#d02020")]))
    lab_out, lab_red = rgb_to_lab(out[33:40, 42:49]).reshape(-1, 3).mean(0), rgb_to_lab(np.array([[red]], np.uint8))[0, 0]
    assert np.linalg.norm(lab_out - lab_red) < 10.0
    outside = rgb_to_lab(out[20:50, 100:140]).reshape(-1, 3)  # paper outside the inked box: not red
    assert np.linalg.norm(outside.mean(0) - lab_red) > 30.0


def test_a_hint_on_a_panels_paper_fills_all_of_it_around_its_figure(painter):
    """Helper 65: one hint on a panel's paper filled only its side: the figure and a balloon
    nearly touching the frame cut the paper on the grid the hints spread on, and a seam ran
    through the blank paper between a saturated half and a pale one. A paint bucket fills the
    panel's paper (through a gap of 8 px here), not the figure's inside, nor the next panel."""
    h, w = 1000, 1000
    page = np.full((h, w), 255, np.uint8)
    for x0, x1 in ((20, 480), (500, 980)):  # two panels
        page[20:24, x0:x1] = page[976:980, x0:x1] = page[20:980, x0:x0 + 4] = page[20:980, x1 - 4:x1] = 0
    page[24:968, 250:253] = 0  # a figure's outline, 8 px short of the panel's bottom ...
    page[300:500, 200:360] = 0
    page[304:496, 204:356] = 255  # ... with a box of its own paper inside
    hinted = rgb_to_lab(np.asarray(painter.colorize(page, mode="paint", hints=[(100, 700, "#d02020")])))
    red = rgb_to_lab(np.array([[[208, 32, 32]]], np.uint8))[0, 0]
    for x in (60, 400):  # both sides of the figure, the far one too
        assert np.linalg.norm(hinted[100:140, x:x + 40].reshape(-1, 3).mean(0) - red) < 8.0, x
    assert hinted[350:450, 220:330, 1].mean() < 20.0  # the box inside the figure: its own paper
    assert hinted[100:900, 600:900, 1].mean() < 20.0  # the next panel


def test_hints_of_two_colours_on_one_paper_or_one_on_screentone_fill_no_panel(painter, caplog):
    """Helper 67: of a red and a blue hint on one panel's paper, the blue filled all of it without
    a word; a hint on a duck's dotted body, with no outline around it, filled the whole panel flat
    (the paper was read without the dots)."""
    h, w = 600, 1000
    page = np.full((h, w), 255, np.uint8)
    for x0, x1 in ((20, 580), (600, 980)):  # two panels
        page[20:24, x0:x1] = page[576:580, x0:x1] = page[20:580, x0:x0 + 4] = page[20:580, x1 - 4:x1] = 0
    yy, xx = np.mgrid[0:h, 0:w]
    dots = ((yy % 4) < 2) & ((xx % 4) < 2) & (np.hypot(yy - 300, xx - 300) < 120)  # a dotted disc, no outline
    page[dots] = 0
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        two = rgb_to_lab(np.asarray(painter.colorize(page, mode="paint", tone="keep",
                                                     hints=[(60, 60, "#d02020"), (540, 540, "#2040d0")])))
    assert "hints of several colours on one panel's paper, at (60,60), (540,540)" in caplog.text
    assert two[40:80, 40:80, 1].mean() > two[520:560, 520:560, 1].mean() + 20  # red stays red, blue blue
    dotted = np.nonzero(dots)
    on_dot = int(dotted[1][len(dotted[1]) // 2]), int(dotted[0][len(dotted[0]) // 2])
    toned = rgb_to_lab(np.asarray(painter.colorize(page, mode="paint", hints=[(*on_dot, "#d02020")])))  # tone flat
    plain = rgb_to_lab(np.asarray(painter.colorize(page, mode="paint")))
    assert np.abs(toned[40:80, 40:80] - plain[40:80, 40:80]).mean() < 5.0  # the panel's far paper untouched


def test_a_hint_on_a_large_page_stays_on_its_side_of_a_thin_line(painter):
    # 960 px wide: the network (and the hints' grid) see it 7x smaller, where a 2 px line is a
    # faint grey; the hints' walls read the ink itself, so the line still bounds the fill.
    h, w = 480, 960
    yy, xx = np.mgrid[0:h, 0:w]
    page = np.full((h, w), 255, np.uint8)
    page[40:42, 40:920] = page[300:302, 40:920] = page[40:302, 40:42] = page[40:302, 918:920] = 0  # a box ...
    page[40:302, 479:481] = 0  # ... halved by a thin line
    dots = (np.cos(xx * 2 * np.pi / 5) * np.cos(yy * 2 * np.pi / 5) + 1) / 2 > 0.8
    page[(yy >= 340) & (yy < 460) & (xx >= 40) & (xx < 920) & dots] = 0  # a band of screentone: a page
    page[420:, 900:] = 0
    plain = np.asarray(painter.colorize(page))
    for x in (200, 476):  # in the middle of the left half, and 3 px from the line (whose grid cell holds it)
        out = np.asarray(painter.colorize(page, hints=[(x, 170, "#d02020")]))
        a_left, a_right = (rgb_to_lab(out[60:280, x0:x0 + 300]).reshape(-1, 3).mean(0)[1] for x0 in (100, 560))
        assert a_left > 40.0  # the hint's half is red ...
        assert abs(a_right - rgb_to_lab(plain[60:280, 560:860]).reshape(-1, 3).mean(0)[1]) < 8.0  # ... the other is not


def test_the_hints_ink_walls_are_read_band_by_band_as_the_whole_page_would_give_them():
    from irodori.colorizer import InkRows

    page = np.tile(bw_page_image(), (3, 2))  # 360 x 320: screentone bands, boxes, solid corners
    lightness = Lightness(page, "gray8")
    contract = Contract("paint", paper_l=100.0, length=5)
    whole = Lightness.from_l(ink_layer(lightness.full(), paper_l=100.0, tone="flat", length=5))
    for band in (1, 3, 64):  # cells of 4 rows: each band is filtered with 15 rows of context
        assert np.array_equal(InkRows(lightness, contract).darkest(4, band=band), whole.darkest(4))
    screen = Screentone.find(lightness, paper_l=100.0, length=5)  # only where the dots are a screen
    assert screen.cells.any() and not screen.cells.all()
    with_screen = Contract("paint", paper_l=100.0, length=5, screen=screen)
    whole = Lightness.from_l(ink_layer(lightness.full(), paper_l=100.0, tone="flat", length=5,
                                       screen=screen.rows(0, *page.shape)))
    for band in (1, 3, 64):
        assert np.array_equal(InkRows(lightness, with_screen).darkest(4, band=band), whole.darkest(4))
    assert InkRows(lightness, contract).darkest(4).min() == 0.0  # the lines and solid blacks are there ...
    assert lightness.darkest(4)[20:26, 5:30].max() < 50.0  # the dots' cells (rows 75-110, columns 10-150)
    assert InkRows(lightness, contract).darkest(4)[20:26, 5:30].min() > 90.0  # ... the screentone is not


def test_tone_flat_removes_the_dot_screens_periodic_energy(painter):
    h, w, pitch = 160, 160, 5
    yy, xx = np.mgrid[0:h, 0:w]
    screen = np.where((np.cos(xx * 2 * np.pi / pitch) * np.cos(yy * 2 * np.pi / pitch) + 1) / 2 > 0.75, 0, 255)
    screen = screen.astype(np.uint8)
    l_in = _l(np.repeat(screen[..., None], 3, 2))
    flat = _l(painter.colorize(screen, mode="paint", tone="flat"))
    kept = _l(painter.colorize(screen, mode="paint", tone="keep"))
    assert _dot_energy(flat, pitch) <= 0.1 * _dot_energy(l_in, pitch)
    assert _dot_energy(kept, pitch) >= 0.5 * _dot_energy(l_in, pitch)


def test_a_painted_page_keeps_its_small_lettering_and_flattens_its_screen(painter):
    page = lettering_page()
    lettering = (page < 128) & (np.arange(page.shape[1]) >= 190)
    out = _l(painter.colorize(page, mode="paint", tone="flat"))
    assert (out[lettering] < 50.0).mean() > 0.97  # the letters stay ink
    assert _dot_energy(out[:160, :160], 5) <= 0.2 * _dot_energy(_l(np.repeat(page[:160, :160, None], 3, 2)), 5)


def test_paint_keeps_alpha_and_exif_orientation(painter):
    page = bw_page_image()
    rgba = Image.fromarray(page).convert("RGBA")
    alpha = np.full(page.shape, 255, np.uint8)
    alpha[:, :20] = 0
    rgba.putalpha(Image.fromarray(alpha))
    out = painter.colorize(rgba, mode="paint")
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], alpha)
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(page).save(buf, "JPEG", exif=exif, quality=95)
    turned = painter.colorize(buf.getvalue(), mode="paint")
    assert turned.size == (120, 160)


def test_paint_needs_a_paint_model_and_auto_falls_back_to_tint(tiny_onnx, caplog):
    from irodori import load_colorizer

    with pytest.raises(ValueError, match="paint model"):
        load_colorizer(tiny_onnx, mode="paint")
    tinter = load_colorizer(tiny_onnx)
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        out = tinter.colorize(bw_page_image())
    assert out.info["irodori.mode"] == "tint" and "cannot paint" in caplog.text


def test_auto_decides_per_image_and_logs_why(painter, caplog):
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        page = painter.colorize(bw_page_image())
        photo = painter.colorize(_photo_like())
    assert page.info["irodori.mode"] == "paint" and photo.info["irodori.mode"] == "tint"
    assert "paint (ink on paper: paper" in caplog.text and "tint (smooth mid-tones (a photograph or grey art): paper" in caplog.text


def test_paint_asked_for_an_image_without_paper_is_done_with_a_warning(painter, caplog):
    """--mode paint on a dark grey sheet levels its lightest tone to white paper: as asked, but said."""
    dark = np.full((96, 128), 90, np.uint8)
    dark[40:50, 20:100] = 20
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        out = np.asarray(painter.colorize(dark, mode="paint").convert("L"))
        painter.colorize(bw_page_image(), mode="paint")
    assert out[5, 5] > 200  # levelled: the sheet became paper
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "painted as asked, but it has no paper" in warned[0].getMessage()
    assert "tinting (mode tint) keeps its tones" in warned[0].getMessage()
    caplog.clear()
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        # a photograph with paper-light tones: its shading is replaced (helper 61)
        painter.colorize(np.clip(_photo_like() * 1.4, 0, 255).astype(np.uint8), mode="paint")
    assert "painted as asked, but it looks like what the automatic choice tints (smooth mid-tones" in caplog.text


def test_auto_tints_a_thumbnail_too_small_to_tell(painter, caplog):
    """A 20-32 px thumbnail of a photograph was painted (helper 61): at that size the detector's
    statistics tell nothing, and tinting keeps the lightness."""
    small = np.full((30, 40), 255, np.uint8)  # ink on paper, as a full-size page would be painted
    small[5, 5:35] = small[25, 5:35] = 0
    small[5:26, 5] = small[5:26, 34] = 0
    small[12:18, 15:25] = 0
    assert _detect(small) == "paint"
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        out = painter.colorize(small)
    assert out.info["irodori.mode"] == "tint" and "under 48 px a side (40x30)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        assert painter.colorize(small, mode="paint").info["irodori.mode"] == "paint"  # asked: as asked ...
    assert "painted as asked, but the automatic choice tints an image under 48 px a side (40x30)" in caplog.text


def test_cli_mode_flags(tiny_paint_onnx, tiny_onnx, tmp_path):
    from irodori.cli import main

    Image.fromarray(bw_page_image()).save(tmp_path / "page.png")
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "page.png"), "-o", str(out), "--model", str(tiny_paint_onnx),
                 "--mode", "paint", "--tone", "keep", "-q"]) == 0
    assert Image.open(out / "page.png").size == (160, 120)
    assert main(["colorize", str(tmp_path / "page.png"), "-o", str(tmp_path / "o2"), "--model", str(tiny_onnx),
                 "--mode", "paint", "-q"]) == 2
    with pytest.raises(SystemExit):
        main(["colorize", str(tmp_path / "page.png"), "--mode", "sepia"])


def test_paired_line_art_is_cropped_with_its_colour_image(tmp_path):
    pytest.importorskip("torch")
    from irodori.config import DataConfig
    from irodori.data import ColorImageDataset, list_pairs

    root = tmp_path / "pairs"
    (root / "input").mkdir(parents=True)
    (root / "truth").mkdir()
    truth = np.zeros((96, 128, 3), np.uint8)
    truth[:, :64] = (220, 30, 30)  # red left, blue right
    truth[:, 64:] = (30, 30, 220)
    line = np.full((96, 128), 255, np.uint8)
    line[:, :64] = 0  # the B&W version: black where red
    Image.fromarray(truth).save(root / "truth" / "a.png")
    Image.fromarray(line).save(root / "input" / "a.png")
    Image.fromarray(truth).save(root / "truth" / "orphan.png")  # no input: left out
    pairs = list_pairs([root])
    assert list(pairs) == [root / "truth" / "a.png"]
    ds = ColorImageDataset(list(pairs), DataConfig(crop_size=32, scale_min=0.5, hint_prob=0.0), seed=0, pairs=pairs)
    for k in range(6):
        sample = ds[(k, 0)]
        b = sample["ab"][1].numpy()  # b: red > 0, blue < 0
        l_in = sample["l"][0].numpy()
        sure = np.abs(b) > 0.3  # away from the red/blue border
        assert ((l_in[sure] < 0) == (b[sure] > 0)).all()  # black exactly where red, in every crop and flip
        np.testing.assert_allclose(sample["l_ink"].numpy(), sample["l"].numpy(), atol=0.05)
    with pytest.raises(FileNotFoundError, match="input/ and truth/"):
        list_pairs([tmp_path])


def _pair_folder(root, names):
    """input/ and truth/ with a red-left, blue-right truth and its B&W version (black where red)."""
    (root / "input").mkdir(parents=True)
    (root / "truth").mkdir()
    truth = np.zeros((96, 128, 3), np.uint8)
    truth[:, :64] = (220, 30, 30)
    truth[:, 64:] = (30, 30, 220)
    line = np.full((96, 128), 255, np.uint8)
    line[:, :64] = 0
    for truth_name, input_name in names:
        Image.fromarray(truth).save(root / "truth" / truth_name)
        if input_name:
            Image.fromarray(line).save(root / "input" / input_name)
    return truth, line


def test_pairs_match_by_name_without_extension_and_say_what_has_no_partner(tmp_path):
    from irodori.data import list_pairs

    root = tmp_path / "pairs"
    _pair_folder(root, [("a.jpg", "a.png"), ("b.png", "b_bw.png"), ("c.png", None)])
    unmatched: list[str] = []
    pairs = list_pairs([root], unmatched)
    assert pairs == {root / "truth" / "a.jpg": root / "input" / "a.png"}
    assert sorted(u.split(" (")[0].rsplit("/", 1)[-1] for u in unmatched) == ["b.png", "b_bw.png", "c.png"]


def test_a_paired_input_is_read_upright_and_a_bad_one_is_left_out(tmp_path, caplog):
    """The B&W input is read as colouring reads it (EXIF orientation applied): a phone scan
    stored turned was cropped turned and stretched against its truth. One that cannot be read, or
    is not its truth's shape, is left out with a warning, not a traceback."""
    pytest.importorskip("torch")
    from irodori.config import DataConfig
    from irodori.data import ColorImageDataset, list_pairs, usable_pairs

    root = tmp_path / "pairs"
    _, line = _pair_folder(root, [("turned.png", None), ("broken.png", "broken.png"), ("wide.png", None)])
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: stored turned the other way
    Image.fromarray(np.rot90(line, 1)).save(root / "input" / "turned.jpg", exif=exif, quality=95)
    (root / "input" / "broken.png").write_bytes((root / "input" / "broken.png").read_bytes()[:60])
    Image.fromarray(np.full((96, 200), 255, np.uint8)).save(root / "input" / "wide.png")
    pairs, problems = usable_pairs(list_pairs([root]))
    assert list(pairs) == [root / "truth" / "turned.png"]
    assert any("broken.png" in p for p in problems) and any("200x96 is not the shape of its truth, 128x96" in p
                                                             for p in problems)
    ds = ColorImageDataset(list(pairs), DataConfig(crop_size=32, scale_min=0.5, hint_prob=0.0), seed=0, pairs=pairs)
    for k in range(4):
        sample = ds[(k, 0)]
        b, l_in = sample["ab"][1].numpy(), sample["l"][0].numpy()
        sure = np.abs(b) > 0.3
        assert ((l_in[sure] < 0) == (b[sure] > 0)).all()  # black exactly where red: upright and aligned


def test_training_on_pairs_that_do_not_pair_up_is_refused_with_their_names(colour_folder, tmp_path, capsys):
    pytest.importorskip("torch")
    from irodori.cli import main

    root = tmp_path / "pairs"
    _pair_folder(root, [("a.png", "a_bw.png")])
    args = ["train", "--pairs", str(root), "--preset", "tiny", "--out", str(tmp_path / "run"), "--steps=1", "-q"]
    assert main(args) == 1
    assert "no usable pair in" in (err := capsys.readouterr().err) and "a.png (no input/ file of that name)" in err
    assert main([*args[:1], str(colour_folder), *args[1:]]) == 1  # beside colour images too: never silently none


def test_line_art_on_a_transparent_sheet_is_painted_as_ink_on_paper(painter):
    """Black strokes on a transparent background (an LA drawing): what shows through is paper, so
    it is detected as ink on paper and painted; with no shape to fill, all of it is sheet, and
    its alpha is kept."""
    grey = np.zeros((120, 160), np.uint8)  # black everywhere; only the strokes are opaque
    alpha = np.zeros((120, 160), np.uint8)
    alpha[10:12, 10:150] = alpha[20:110, 80:82] = 255
    la = Image.merge("LA", (Image.fromarray(grey), Image.fromarray(alpha)))
    out = painter.colorize(la)
    assert out.info["irodori.mode"] == "paint" and out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[..., 3], alpha)
    rgb = np.asarray(out)[..., :3]
    assert _l(rgb)[alpha == 0].mean() > 50  # the sheet is paper, not the black under the transparency
    assert _l(rgb)[alpha == 255].max() <= 3.0  # and the strokes are ink


def test_transparent_line_art_gets_opaque_flats_and_keeps_its_transparent_sheet(painter):
    """A ring drawn on a transparent layer (a drawing program's line layer): the paint inside it
    is opaque, as a flats layer under the lines would be, and the sheet stays transparent."""
    art = _line_art()
    alpha = (255 - art).astype(np.uint8)  # the strokes opaque, their anti-aliasing partly
    la = Image.merge("LA", (Image.fromarray(np.zeros_like(art)), Image.fromarray(alpha)))
    out = np.asarray(painter.colorize(la))
    r = np.hypot(*(np.mgrid[0:120, 0:160] - np.array([60, 80])[:, None, None]))
    assert (out[..., 3][r < 38.5] == 255).all() and (out[..., 3][r > 42] == 0).all()
    edge = (out[..., 3] > 0) & (out[..., 3] < 255)  # the strokes' anti-aliased outer edge, partly clear:
    assert edge.sum() > 100 and (out[..., :3][edge] <= 1).all()  # black at its alpha, not grey over white
    on_white = np.asarray(painter.colorize(art))  # the same drawing on white paper: the same figure
    assert np.abs(out[..., :3][r < 38.5].astype(int) - on_white[r < 38.5]).max() <= 2
    blue = np.asarray(painter.colorize(la, hints=[(5, 5, "#2040d0")]))
    assert (blue[..., 3] == 255).all()  # a hint painted the sheet: nothing left transparent
    painted = np.asarray(painter.colorize(la, background="paint"))  # the sheet painted too: all of it shows
    assert (painted[..., 3] == 255).all()  # (it kept the input's alpha, and no colour showed: helper 73)
    assert np.hypot(*rgb_to_lab(painted[..., :3])[..., 1:].transpose(2, 0, 1))[r > 42].mean() > 3
    gutters = np.asarray(painter.colorize(la, background="gutters"))  # a drawing has no gutters: its sheet
    assert np.array_equal(gutters[..., 3], out[..., 3])  # stays clear (it came out opaque white: helper 77)


def test_a_drawing_on_a_transparent_layer_tinted_is_seen_over_white(caplog):
    """Helper 77: tinted, a line layer (black RGB under its clear pixels) was "no detail to colour
    ... left grey"; the network sees it over white, as the choice of mode does, and the output
    keeps the input's lightness and alpha."""
    from irodori import load_colorizer

    art = _line_art()
    alpha = (255 - art).astype(np.uint8)
    la = Image.merge("LA", (Image.fromarray(np.zeros_like(art)), Image.fromarray(alpha)))
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        out = np.asarray(load_colorizer("general-int8", threads=1).colorize(la, mode="tint"))
    assert "no detail to colour" not in caplog.text
    assert np.array_equal(out[..., 3], alpha) and (out[..., :3][alpha == 255] <= 1).all()  # black lines, kept


def test_darkest_keeps_a_one_pixel_line_that_an_average_would_fade():
    page = np.full((40, 50), 100.0, np.float32)
    page[17, :] = 0.0  # one row of ink
    darkest = Lightness.from_l(page).darkest(4)
    assert darkest.shape == (10, 13)  # ceil(40 / 4), ceil(50 / 4)
    assert (darkest[4] == 0.0).all() and (np.delete(darkest, 4, axis=0) == 100.0).all()
    assert np.allclose(Lightness.from_l(page).darkest(1), page)


def test_flats_run_up_to_and_under_the_lines_without_crossing_them():
    l = np.full((20, 40), 100.0, np.float32)
    l[:, 20] = 0.0  # a line between a red region and a blue one
    lab = np.zeros((3, 20, 40), np.float32)
    lab[0], lab[1, :, :20], lab[2, :, 21:] = 90.0, 60.0, -50.0
    fade = np.linspace(1.0, 0.0, 6)  # the network's colour fading to grey towards the line, both sides
    lab[1, :, 15:21] *= fade
    lab[2, :, 20:26] *= fade[::-1]
    out = flats_to_lines(lab, l)
    assert np.allclose(out[1, :, :20], 60.0) and np.allclose(out[2, :, :20], 0.0)  # red up to the line
    assert np.allclose(out[2, :, 21:], -50.0) and np.allclose(out[1, :, 21:], 0.0)  # blue beyond it
    assert np.allclose(out[1, :, 20], 30.0)  # under the line: both sides' mean
    assert np.array_equal(flats_to_lines(lab, np.full_like(l, 100.0)), lab)  # no line: unchanged
    ring = np.full((20, 40), 100.0, np.float32)  # a ring's inside narrower than the shadow keeps its colour
    ring[4:11, 10], ring[4:11, 14], ring[4, 10:15], ring[10, 10:15] = 0.0, 0.0, 0.0, 0.0
    inner = lab.copy()
    inner[1, 5:10, 11:14] = 7.0
    assert np.allclose(flats_to_lines(inner, ring)[1, 5:10, 11:14], 7.0)


def test_grow_dilates_by_a_square_or_a_cross():
    dot = np.zeros((7, 7), bool)
    dot[3, 3] = True
    assert grow(dot).sum() == 9 and grow(dot, 2).sum() == 25
    cross = grow(dot, square=False)
    assert cross.sum() == 5 and cross[2, 3] and cross[3, 2] and not cross[2, 2]


def test_background_mask_finds_the_sheet_a_path_reaches_without_crossing_a_line():
    l = np.full((30, 40), 100.0, np.float32)
    l[5:25, 5] = l[5:25, 30] = l[5, 5:31] = l[24, 5:31] = 0.0  # a closed box
    l[10:20, 15] = 0.0  # a wall inside it: still inside
    for close in (0, 1):
        sheet = background_mask(l, close=close)
        assert sheet[0].all() and sheet[:, 35].all() and not sheet[10:20, 6:30].any()
    inside = (slice(10, 20), slice(6, 30))
    l[14:16, 30] = 100.0  # a two-cell gap in the box's right side: the inside is sheet ...
    assert background_mask(l, close=0)[inside][l[inside] == 100].all()
    assert not background_mask(l, close=1)[inside].any()  # ... unless the fill closes such gaps
    l[12:18, 30] = 100.0  # a wider gap is an opening, closed or not
    assert background_mask(l, close=1)[inside][l[inside] == 100].all()
    # A corridor with bends (a path the whole-run fills must follow turn by turn) is reached.
    maze = np.zeros((21, 21), np.float32)
    maze[1, 0:20] = maze[1:20, 19] = maze[19, 2:20] = maze[3:20, 2] = maze[3, 2:17] = 100.0
    reached = background_mask(maze, close=0)
    assert reached[3, 16] and reached[19, 2] and not reached[10, 10]
    d = np.full((10, 10), 100.0, np.float32)  # a diagonal line one cell wide is a wall
    d[np.arange(10), np.arange(10)] = 0.0
    d[0, :] = d[:, -1] = 0.0  # close the upper-right triangle's border side
    assert not background_mask(d, close=0)[1:8, 2:9][np.triu(np.ones((7, 7), bool))].any()


def test_the_blank_sheets_edge_is_found_pixel_by_pixel_not_by_cell():
    art = _line_art(400, 480)  # a 2-px ring of radius 40 on cells of 8 px: its edge cuts through cells
    lightness = Lightness.from_l(_l(np.repeat(art[..., None], 3, 2)))
    sheet = BlankSheet.find(lightness.darkest(8), factor=8, paper_l=100.0)
    r = np.hypot(*(np.mgrid[0:400, 0:480] - np.array([200, 240])[:, None, None]))
    assert sheet.walls.any() and not sheet.cells[r[4::8, 4::8] < 44].any()  # the ring and figure: no sheet cell
    pixels = sheet.pixels(lightness, band=5)  # bands of 5 cells: a band's edge crosses the ring
    assert pixels[r >= 41.5].all()  # the sheet reaches the line's outer edge (and its anti-aliasing) ...
    assert not pixels[r <= 38.5].any()  # ... and no further: nothing inside the figure


def test_choose_background_keeps_line_arts_sheet_and_paints_pages():
    assert choose_background(page_stats(_l(np.repeat(_line_art()[..., None], 3, 2)))) == "paper"
    sparse = page_stats(_l(np.repeat(_line_art(300, 300)[..., None], 3, 2)))  # one thin ring on a large sheet
    assert sparse.ink < 0.01 and choose_background(sparse) == "paper"
    assert choose_background(page_stats(_l(np.repeat(bw_page_image()[..., None], 3, 2)))) == "gutters"
    blank = PageStats(paper_l=100.0, paper=1.0, ink=0.0, texture=0.0, chroma=0.0)  # stays a white sheet
    text = PageStats(paper_l=100.0, paper=0.99, ink=0.01, texture=40.0, chroma=0.0, gaps=60.0)  # credits: letters
    assert choose_background(blank) == choose_background(text) == "paper"
    solid = PageStats(paper_l=100.0, paper=0.6, ink=0.4, texture=0.0, chroma=0.0)  # 1-bit art with solid blacks
    screen = PageStats(paper_l=100.0, paper=0.93, ink=0.07, texture=40.0, chroma=0.0, gaps=60.0)  # 1-bit dots
    assert choose_background(solid) == choose_background(screen) == "gutters"
    with pytest.raises(ValueError, match="background"):
        Contract("paint", background="sky")


def test_line_arts_closed_shapes_each_take_one_flat_colour_their_median():
    """one_flat_per_shape: a shape closed by lines becomes its colour's median (L, a and b each),
    the sheet reaching the edge and a shape under SHAPE_MIN_PIXELS keep the network's colour."""
    from irodori.paint import SHAPE_MIN_PIXELS, one_flat_per_shape

    darkest = np.full((40, 60), 100.0, np.float32)
    darkest[5, 5:55] = darkest[35, 5:55] = darkest[5:36, 5] = darkest[5:36, 54] = darkest[5:36, 30] = 0.0  # two boxes
    darkest[10, 40:44] = darkest[13, 40:44] = darkest[10:14, 40] = darkest[10:14, 43] = 0.0  # a 2 x 2 eye in the second
    lab = np.random.default_rng(0).normal(50.0, 15.0, (3, 40, 60)).astype(np.float32)
    out = one_flat_per_shape(lab, darkest)
    for box in (np.s_[6:35, 6:30], np.s_[6:10, 31:54]):
        for c in range(3):
            assert np.ptp(out[c][box]) == 0.0
    left = np.zeros((40, 60), bool)
    left[6:35, 6:30] = True
    np.testing.assert_allclose(out[:, 20, 20], np.sort(lab[:, left], axis=1)[:, left.sum() // 2], atol=1e-3)
    np.testing.assert_array_equal(out[:, :5], lab[:, :5])  # the sheet, which reaches the edge
    np.testing.assert_array_equal(out[:, 11:13, 41:43], lab[:, 11:13, 41:43])  # the eye: 4 < SHAPE_MIN_PIXELS
    assert SHAPE_MIN_PIXELS > 4
    gaps = darkest.copy()  # helper 82: a 2-px gap to the sheet, and one between the boxes, left them blotchy / one
    gaps[5, 15:17] = gaps[20:22, 30] = 100.0
    out = one_flat_per_shape(lab, gaps)
    assert all(np.ptp(out[c][6:35, 6:30]) == 0.0 for c in range(3))
    assert (out[:, 20, 20] != out[:, 20, 40]).all()  # each box its own flat


def test_bold_line_art_with_solid_blacks_keeps_its_sheet():
    """A figure drawn in 7-px strokes with black hair and a black skirt (about 20 % ink, no tone) is
    line art: its sheet stays paper, found all round it (helper 75's drawing had 28 % ink and was
    painted whole, its sheet washed in clouds of colour)."""
    from PIL import ImageDraw
    im = Image.new("L", (300, 350), 255)
    d = ImageDraw.Draw(im)
    d.ellipse((75, 30, 225, 180), outline=0, width=7)
    d.chord((75, 30, 225, 180), 180, 360, fill=0)  # hair
    d.polygon((100, 180, 200, 180, 235, 330, 65, 330), outline=0, width=7)
    d.rectangle((100, 280, 200, 330), fill=0)  # skirt
    l = _l(np.repeat(np.asarray(im)[..., None], 3, 2))
    stats = page_stats(l)
    assert 0.15 < stats.ink < 0.35 and stats.mid < 0.08
    assert choose_background(stats) == "paper"
    sheet = BlankSheet.find(Lightness.from_l(l).darkest(2), factor=2, paper_l=100.0)
    assert sheet.cells[0].all() and sheet.cells[:, 0].all()  # the paper round the figure ...
    assert not sheet.cells[60, 75] and not sheet.cells[120, 75]  # ... not inside its face or body


def test_line_arts_sheet_stays_white_and_its_figure_takes_colour(painter, caplog):
    art = _line_art()
    r = np.hypot(*(np.mgrid[0:120, 0:160] - np.array([60, 80])[:, None, None]))
    outside, inside = r > 46, r < 34
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        out = np.asarray(painter.colorize(art))
    assert "line art: its sheet stays paper" in caplog.text
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        painter.colorize(bw_page_image(), background="paper")
    assert "its sheet stays paper (asked)" in caplog.text
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        painter.colorize(art, mode="tint", background="paper")
    assert "tint (asked; the background choice is for paint only)" in caplog.text
    with caplog.at_level("INFO", logger="irodori.colorizer"):  # helper 50: tone="keep" dropped without a word
        painter.colorize(art, mode="tint", tone="keep")
    assert "tint (asked; the tone choice is for paint only)" in caplog.text
    assert (out[r > 41.5] == 255).all()  # paper, exactly, up to the line: no wash, no fringe
    painted = np.asarray(painter.colorize(art, background="paint"))
    # The figure is painted about the same either way: line art, its sheet painted or not, is one
    # flat colour per closed shape, the median of what the network painted in it
    # (paint.one_flat_per_shape; helper 82: with background "paint" it had no flats).
    assert len(np.unique(out[r < 28], axis=0)) == 1 and len(np.unique(painted[r < 28], axis=0)) == 1
    assert np.abs(painted[r < 28].astype(int) - out[r < 28]).max() <= 2
    assert not (painted[outside] == 255).all()  # (the tiny model washes the sheet when asked to paint it)
    blue = np.asarray(painter.colorize(art, hints=[(5, 5, "#2040d0")]))  # a coloured hint on the sheet paints it,
    sheet = rgb_to_lab(blue[r > 41.5])
    target = rgb_to_lab(np.array([[0x20, 0x40, 0xD0]], np.uint8))[0]
    assert np.abs(sheet - target).max() < 1.5  # flat, as a paint bucket fills it, up to the line
    inside_hint = np.asarray(painter.colorize(art, hints=[(80, 60, "#2040d0")]))  # a hint in the figure ...
    assert rgb_to_lab(inside_hint[inside]).mean(0)[2] < -20.0
    assert (inside_hint[outside] == 255).all()  # ... does not tint the sheet across the line


def test_a_hint_in_a_shape_smaller_than_the_grid_fills_that_shape(painter):
    """On a large drawing an 8-px nose is a cell or two of the network's grid: the hint started
    from the cell beside it, and the head around it took the colour while the nose stayed white."""
    yy, xx = np.mgrid[0:1200, 0:1600]
    art = np.full((1200, 1600), 255, np.uint8)
    head = np.hypot(yy - 600, xx - 800)
    art[np.abs(head - 400) < 1.5] = 0  # a head ...
    nose = np.hypot(yy - 600, xx - 900)
    art[np.abs(nose - 7) < 1.2] = 0  # ... and a nose 14 px across, on cells of about 3 px
    out = np.asarray(painter.colorize(art, hints=[(900, 600, "#2040d0")]))
    blue = rgb_to_lab(np.array([[0x20, 0x40, 0xD0]], np.uint8))[0]
    inside_nose = nose < 4.5
    assert np.abs(rgb_to_lab(out[inside_nose]) - blue).max() < 1.5  # flat, the hint's own colour
    around = (head < 380) & (nose > 12)
    assert np.abs(rgb_to_lab(out[around])[:, 2] - blue[2]).mean() > 20  # the head is not painted blue
    assert (out[art == 0] < 8).all()  # the lines stay ink


def test_a_hint_on_an_ink_line_is_named_in_the_log(painter, caplog):
    """It colours nothing (ink stays ink, and which side it meant is unknown): it was silent."""
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        painter.colorize(_line_art(), hints=[(120, 60, "#d02020"), (80, 60, "#2040d0")])  # on the ring; inside
    assert "1 hint on an ink line or a solid black, which stays ink at (120,60)" in caplog.text


def test_a_hint_in_line_art_fills_its_shape_and_not_the_one_beside_it_across_a_thin_line(painter):
    """1-px outlines on a page larger than the network's grid: reduced bilinearly they fade to a
    light grey no wall, and a hint inside one ring coloured the ring beside it too."""
    yy, xx = np.mgrid[0:240, 0:480]
    left, right = np.hypot(yy - 120, xx - 120), np.hypot(yy - 120, xx - 360)
    art = np.full((240, 480), 255, np.uint8)
    art[(np.abs(left - 90) < 0.5) | (np.abs(right - 90) < 0.5)] = 0
    plain = rgb_to_lab(np.asarray(painter.colorize(art)))
    hinted = rgb_to_lab(np.asarray(painter.colorize(art, hints=[(120, 120, "#2040d0")])))
    assert hinted[left < 80][:, 2].mean() < -20.0  # the hinted ring is blue
    assert np.abs(hinted[right < 80] - plain[right < 80]).max() < 1.0  # the other ring is as it was


def test_a_hint_fills_a_line_art_shape_with_its_own_colour_up_to_the_outline(painter):
    """A paint bucket: the whole shape takes the hint's colour, also the band along its outline,
    where the hint's spread fades (the distances grow beside a line) and the network's colour
    showed through before the fills were carried up to the lines."""
    art = np.full((256, 256), 255, np.uint8)
    art[60:64, 40:216] = art[192:196, 40:216] = art[60:196, 40:44] = art[60:196, 212:216] = 0  # a box, 4-px lines
    blue = "#2050d0"
    out = rgb_to_lab(np.asarray(painter.colorize(art, hints=[(128, 128, blue)], mode="paint")))
    target = rgb_to_lab(np.array([[[0x20, 0x50, 0xd0]]], np.uint8))[0, 0]
    inside = out[65:191, 45:211]
    delta_e = np.linalg.norm(inside - target, axis=-1)
    assert np.mean(delta_e < 10) > 0.97  # one colour, the hint's, over the shape ...
    band = np.concatenate([delta_e[:6].ravel(), delta_e[-6:].ravel(), delta_e[:, :6].ravel(), delta_e[:, -6:].ravel()])
    assert np.mean(band < 10) > 0.9  # ... up to its outline
    assert (out[60:64, 40:216, 0] < 10).all()  # the ink stays ink


def test_a_hint_on_a_page_fills_its_shape_with_its_chroma_up_to_the_outline(painter):
    """Helper 57: on a page (its sheet painted, not kept as line art's) a hint's fill left the
    network's beige in a 3-4 px band along the lines around it; it runs up to them now too."""
    art = np.full((256, 256), 255, np.uint8)
    art[60:64, 40:216] = art[192:196, 40:216] = art[60:196, 40:44] = art[60:196, 212:216] = 0  # a box, 4-px lines
    out = rgb_to_lab(np.asarray(painter.colorize(art, hints=[(128, 128, "#2050d0")], mode="paint",
                                                 background="paint")))
    target = rgb_to_lab(np.array([[[0x20, 0x50, 0xd0]]], np.uint8))[0, 0, 1:]
    off = np.linalg.norm(out[65:191, 45:211, 1:] - target, axis=-1)  # the chroma (a page keeps its shading)
    band = np.concatenate([off[:6].ravel(), off[-6:].ravel(), off[:, :6].ravel(), off[:, -6:].ravel()])
    assert np.mean(off < 10) > 0.95 and np.mean(band < 10) > 0.9


def test_a_hint_poured_into_a_shape_cut_by_the_frame_fills_that_shape_and_not_the_sheet(painter):
    """The sheet is all the paper the edge reaches, a shape that runs off the edge too; a hint
    there filled the whole sheet (found by a helper). A paint bucket fills the area it is poured in."""
    art = np.full((256, 256), 255, np.uint8)
    art[180:184, 180:] = art[180:, 180:184] = 0  # a box cut by the bottom right corner
    art[40:44, 40:120] = art[100:104, 40:120] = art[40:104, 40:44] = art[40:104, 116:120] = 0  # and one inside
    yellow = (240, 192, 32)
    out = np.asarray(painter.colorize(art, hints=[(220, 220, "#f0c020")], mode="paint"))
    assert np.abs(out[190:250, 190:250].astype(int) - yellow).max() <= 2  # the cut box: flat, the hint's colour
    assert (out[5:30, 5:250] == 255).all() and (out[120:170, 5:170] == 255).all()  # the sheet: paper
    bucket = np.asarray(painter.colorize(art, hints=[(10, 10, "#f0c020")], mode="paint"))
    assert np.abs(bucket[120:170, 5:170].astype(int) - yellow).max() <= 2  # poured on the sheet: all of it ...
    assert (bucket[190:250, 190:250] == 255).all()  # ... but not the cut box, an area of its own


def test_a_references_dark_colour_never_reaches_line_arts_blank_sheet(painter, monkeypatch):
    """White paper matched a green chalkboard on a reference (a test emoji, 21.4 -> 4.1 dB): a
    reference's hint on the sheet darker than SHEET_HINT_L is dropped; a light one may colour it."""
    from irodori.hints import Hint
    from irodori.reference import PendingCopy

    art = np.full((256, 256), 255, np.uint8)
    art[60:64, 40:216] = art[192:196, 40:216] = art[60:196, 40:44] = art[60:196, 212:216] = 0
    lightness = Lightness.from_l(np.where(art < 128, 0.0, 100.0).astype(np.float32))
    contract = painter.contract_for(lightness, mode="paint")
    assert contract.background == "paper"
    for colour, painted in (((78, 101, 60), False), ((200, 230, 250), True)):  # L 40, L 90
        monkeypatch.setattr(type(painter), "reference_hints",
                            lambda self, lt, refs, hints, colour=colour, **kw: ([Hint(10, 10, colour)] + hints,
                                                                                PendingCopy()))
        _, sheet = painter.predict_paint(lightness, references=["a reference"], contract=contract)
        assert (sheet is None or sheet.painted) == painted


def test_cli_and_server_take_background(tiny_paint_onnx, tmp_path):
    from irodori.cli import main

    Image.fromarray(_line_art()).save(tmp_path / "art.png")
    for background, white in (("auto", True), ("paint", False)):
        out = tmp_path / background
        assert main(["colorize", str(tmp_path / "art.png"), "-o", str(out), "--model", str(tiny_paint_onnx),
                     "--background", background, "-q"]) == 0
        assert (np.asarray(Image.open(out / "art.png").convert("RGB"))[:5, :5] == 255).all() == white
    with pytest.raises(SystemExit):
        main(["colorize", str(tmp_path / "art.png"), "--background", "sky"])


# -- a page's gutters and margins ----------------------------------------------------------------
PANELS = ((8, 8, 74, 112), (82, 8, 152, 54), (82, 62, 152, 112))  # (y0, x0, y1, x1) of a 160 x 120 page


def _panel_page(panels=PANELS, h: int = 160, w: int = 120) -> np.ndarray:
    """A B&W manga page (uint8 grey): panels framed by 2 px of ink on white paper, 8 px gutters
    and margins; in each panel a band of screentone dots and an inked ring on the panel's paper."""
    page = np.full((h, w), 255, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    dots = (np.cos(xx * 2 * np.pi / 5) * np.cos(yy * 2 * np.pi / 5) + 1) / 2 > 0.8
    for y0, x0, y1, x1 in panels:
        inside = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
        page[inside & (yy >= (y0 + y1) // 2) & dots] = 0
        cy, cx = (3 * y0 + y1) // 4, (x0 + x1) // 2
        page[inside & (np.abs(np.hypot(yy - cy, xx - cx) - 8) < 1)] = 0
        page[inside & ~((yy >= y0 + 2) & (yy < y1 - 2) & (xx >= x0 + 2) & (xx < x1 - 2))] = 0
    return page


def _sheet_cells(page: np.ndarray) -> np.ndarray:
    return background_mask(_l(np.repeat(page[..., None], 3, 2)))


def test_gutters_are_thin_strips_of_sheet_around_rectangular_panels_on_every_edge():
    assert gutters(_sheet_cells(_panel_page()))
    assert not gutters(_sheet_cells(bw_page_image()))  # a drawing's open background is wide
    bleed = ((8, 8, 74, 120), (82, 8, 152, 54), (82, 62, 152, 120))  # panels run off the right edge
    assert not gutters(_sheet_cells(_panel_page(bleed)))
    ring = _sheet_cells(_line_art(160, 120))  # a figure's outline, on a sheet that is thin in places
    assert not gutters(ring)
    wide = _panel_page(((8, 8, 74, 112), (82, 8, 152, 54), (112, 62, 152, 112)))  # a wide empty corner
    assert not gutters(_sheet_cells(wide))
    assert not gutters(np.zeros((40, 40), bool))
    assert not gutters(_sheet_cells(_panel_page(((8, 8, 152, 112),))))  # one rectangle in a border: a picture


def test_a_pages_gutters_and_margins_stay_white_and_its_panels_take_colour(painter, caplog, tmp_path):
    page = _panel_page()
    sheet = _sheet_cells(page)
    Image.fromarray(page).save(tmp_path / "p007.png")
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        out = np.asarray(painter.colorize(tmp_path / "p007.png"))
    assert "p007.png: gutters and margins found" in caplog.text  # which page, in a threaded batch
    assert (out[sheet] == 255).all()  # white paper, exactly
    painted = np.asarray(painter.colorize(page, background="paint"))
    assert not (painted[sheet] == 255).all()  # (the tiny model washes the gutters when asked to paint them)
    y0, x0, y1, x1 = PANELS[0]
    assert np.array_equal(out[y0 + 4:y1 - 4, x0 + 4:x1 - 4], painted[y0 + 4:y1 - 4, x0 + 4:x1 - 4])
    caplog.clear()
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        painter.colorize(bw_page_image())  # no panels: the page is painted whole, as before
        painter.colorize(page, background="gutters")
    assert caplog.text.count("gutters and margins found") == 1 and "its gutters stay paper (asked)" in caplog.text
    red = np.asarray(painter.colorize(page, hints=[(3, 3, "#d02020")]))  # a hint poured into the gutters fills them
    assert (red[sheet] == red[3, 3]).all() and rgb_to_lab(red[3:4, 3])[0, 1] > 40.0
    inside = ~grow(sheet, 3)
    assert np.array_equal(red[inside], out[inside])  # ... and nothing else


def test_gutters_a_hundredth_of_a_large_page_wide_stay_white(painter):
    # 1100 px tall, 14 px gutters and 30 px margins (the README's example page): on the 256-cell
    # grid of line art's sheet these gutters closed up and were painted while the margins stayed white.
    panels = ((30, 30, 400, 750), (414, 30, 750, 380), (414, 394, 750, 750), (764, 30, 1070, 750))
    out = np.asarray(painter.colorize(_panel_page(panels, h=1100, w=780)))
    assert (out[404:410, 40:740] == 255).all() and (out[420:740, 384:390] == 255).all()  # between panels
    assert (out[:26] == 255).all() and (out[:, -26:] == 255).all()  # the margins


def test_the_gaps_between_a_webtoon_strips_panels_stay_paper(painter, caplog):
    """A strip has no margins around framed panels for the gutter finder: its white gaps between
    panels were painted with a wash, as an open background is."""
    from irodori.paint import strip_gaps

    gap = np.full((60, 160), 255, np.uint8)
    strip = np.concatenate([bw_page_image(), gap, bw_page_image(), gap, bw_page_image()])  # 480 x 160
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        out = np.asarray(painter.colorize(strip, mode="paint"))
    assert "the gaps between the strip's panels" in caplog.text
    assert (out[125:175] == 255).all() and (out[305:355] == 255).all()  # the gaps, clear of the panels' edges
    page = out[:120, :80]
    assert not (page[20:55, 20:70] == 255).all()  # inside the ink box: painted
    blank = np.ones((30, 20), bool)
    assert strip_gaps(blank) is None  # a page-shaped sheet: the gutter finder's
    tall = np.zeros((90, 20), bool)
    tall[40:45] = tall[:, :2] = True  # five blank rows across the strip, and a blank left margin
    assert np.array_equal(np.flatnonzero(strip_gaps(tall).any(axis=1)), np.arange(40, 45))
    tall[41, 10] = tall[43, 10] = False  # specks in the gap: those rows are no longer blank across ...
    assert strip_gaps(tall) is None  # ... and single rows are shorter than 2 % of the page side (2 at least)
    tall[:] = False
    tall[:5] = tall[85:] = True  # blank rows at the strip's ends: no gaps between panels (a banner's sky)
    assert strip_gaps(tall) is None


def test_stroke_mask_is_the_strokes_of_a_threshold():
    """Threshold decomposition: the binary line openings of ``dark > t`` are ``strokes(dark) > t``,
    at every length, direction and edge (random maps, lengths odd and even)."""
    from irodori.paint import stroke_mask, strokes

    rng = np.random.default_rng(0)
    for _ in range(12):
        h, w = (int(v) for v in rng.integers(4, 60, 2))
        dark = np.where(rng.random((h, w)) < 0.6, rng.random((h, w)) * 100, 0).astype(np.float32)
        for length in (3, 7, 8, 21):
            assert np.array_equal(stroke_mask(dark > 20, length), strokes(dark, length) > 20)
    line = np.zeros((20, 30), bool)
    line[5, 3:13] = True  # a line of 10 px: a stroke at length 10, none at 11
    assert stroke_mask(line, 10)[5, 3:13].all() and not stroke_mask(line, 11).any()
