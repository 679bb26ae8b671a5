"""Where a page is a reference's very drawing, its colours are copied, aligned (irodori.align)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from irodori import load_colorizer
from irodori import reference as reference_module
from irodori.align import ALIGN_MIN_CELLS, edge_agreement, fit_alignments, reduced_plane
from irodori.paint import grow
from irodori.color import rgb_to_lab
from irodori.imageio import Lightness
from irodori.reference import ReferenceMatcher

from test_reference import _grey, _psnr, cartoon

DATA = Path(__file__).resolve().parent / "data"


def _panels(art: np.ndarray, *, mirror_second: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A page of two panels cut from ``art`` (H, W, 3), each zoomed 1.25x, the second mirrored,
    in 2-px black frames on white -> (the page, sRGB uint8; which pixels are inside a panel)."""
    h, w = art.shape[:2]
    page = np.full((h, w, 3), 255, np.uint8)
    inside = np.zeros((h, w), bool)
    for (x0, x1), (cx, cy) in (((6, w // 2 - 4), (10, 30)), ((w // 2 + 4, w - 6), (w // 2 - 40, 20))):
        ph, pw = h - 12, x1 - x0
        crop = Image.fromarray(art).crop((cx, cy, cx + round(pw / 1.25), cy + round(ph / 1.25)))
        if mirror_second and x0 > 6:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        page[6:6 + ph, x0:x1] = np.asarray(crop.resize((pw, ph), Image.LANCZOS))
        inside[8:4 + ph, x0 + 2:x1 - 2] = True
        draw = ImageDraw.Draw(Image.fromarray(page))
        page[6:8, x0:x1] = page[4 + ph:6 + ph, x0:x1] = 0
        page[6:6 + ph, x0:x0 + 2] = page[6:6 + ph, x1 - 2:x1] = 0
        del draw
    return page, inside


def _chroma_error(out: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    a, b = rgb_to_lab(out), rgb_to_lab(truth)
    return float(np.median(np.hypot(a[..., 1] - b[..., 1], a[..., 2] - b[..., 2])[where]))


@pytest.fixture(scope="module")
def tinter():
    return load_colorizer("general-int8", mode="tint", threads=1)


# -- the fit -------------------------------------------------------------------------------------
def test_each_panels_transform_is_found_among_chance_matches():
    rng = np.random.default_rng(0)
    ref_a = rng.uniform(0, 200, (30, 2))
    page_a = 1.5 * ref_a + (10.0, 20.0) + rng.normal(0, 2, (30, 2))
    ref_b = rng.uniform(0, 200, (20, 2))
    page_b = 0.8 * ref_b * (1.0, -1.0) + (200.0, 300.0) + rng.normal(0, 2, (20, 2))  # mirrored
    ref_c, page_c = rng.uniform(0, 200, (15, 2)), rng.uniform(0, 400, (15, 2))  # chance matches
    page = np.concatenate([page_a, page_b, page_c])
    ref = np.concatenate([ref_a, ref_b, ref_c])
    mirror = np.r_[np.zeros(30, bool), np.ones(20, bool), rng.random(15) < 0.5]
    fits = fit_alignments(page, ref, mirror, np.zeros(65, int), cell=16.0)
    assert len(fits) == 2
    (first, inliers_a), (second, inliers_b) = fits
    assert first.mirror == 1 and first.scale == pytest.approx(1.5, abs=0.03)
    assert (first.ty, first.tx) == pytest.approx((10.0, 20.0), abs=3.0)
    assert second.mirror == -1 and second.scale == pytest.approx(0.8, abs=0.03)
    assert inliers_a[:30].all() and inliers_b[30:50].all()
    assert inliers_a[50:].sum() + inliers_b[50:].sum() <= 2  # chance matches do not join them


def test_too_few_agreeing_matches_give_no_transform():
    rng = np.random.default_rng(1)
    n = ALIGN_MIN_CELLS - 1
    ref = rng.uniform(0, 200, (n, 2))
    page = np.concatenate([2.0 * ref + 5.0, rng.uniform(0, 400, (40, 2))])
    ref = np.concatenate([ref, rng.uniform(0, 200, (40, 2))])
    assert fit_alignments(page, ref, np.zeros(len(page), bool), np.zeros(len(page), int), cell=16.0) == []


@pytest.mark.parametrize("shape", [(37, 23), (3, 40), (40, 1)])
def test_a_reduced_plane_is_the_mean_of_each_whole_block(shape):
    """Means over k x k blocks, the last partial ones dropped; a plane narrower than a block
    reduces to nothing (Pillow's reduce, which does the work, refuses it)."""
    plane = np.random.default_rng(0).uniform(0, 100, shape).astype(np.float32)
    for k in (1, 2, 4):
        h, w = shape[0] // k, shape[1] // k
        want = plane[:h * k, :w * k].reshape(h, k, w, k).mean(axis=(1, 3))
        got = reduced_plane(plane, k)
        assert got.shape == (h, w) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-3)


def test_edges_agree_where_a_drawing_is_itself_not_another_in_its_pose():
    """The edge agreement of a painted copy: a drawing's edges coincide with its own (even
    where its tones are printed darker), not with the same shapes moved by a few pixels."""
    yy, xx = np.mgrid[0:96, 0:96]
    drawing = np.where((yy - 48) ** 2 + (xx - 40) ** 2 < 600, 30.0, 90.0) + np.where(xx > 70, -20.0, 0.0)
    where = np.ones_like(drawing, bool)
    printed = 0.5 * drawing + 10.0  # another tone curve: the same edges
    moved = np.roll(drawing, (6, 7), axis=(0, 1))  # a like pose: the same shapes, elsewhere
    assert edge_agreement(printed, drawing, where) > 0.99
    assert edge_agreement(moved, drawing, where) < 0.3
    assert edge_agreement(np.full_like(drawing, 50.0), drawing, where) == 0.0


# -- the pipeline --------------------------------------------------------------------------------
def test_panels_cut_from_a_reference_take_its_colours(tinter, monkeypatch, caplog):
    """Two panels of one cartoon (zoomed, one mirrored), grey: with the cartoon as the reference
    each panel's colour is the cartoon's own there, closer than its hints alone give it."""
    art = cartoon(1, size=(480, 384))
    truth, inside = _panels(art)
    grey = _grey(truth)
    matcher = ReferenceMatcher(threads=1)
    ref = matcher.analyse(art)
    size = tinter.network_size(*grey.shape)
    _, pending = matcher.read_page(Lightness.from_l(rgb_to_lab(truth)[..., 0].astype(np.float32)), [ref],
                                   paint=False, size=size)
    copied = pending.result()
    assert copied is not None and {r.mirror for r in copied.regions} == {1, -1}  # both panels, one mirrored
    assert all(r.scale == pytest.approx(1.25, abs=0.08) for r in copied.regions)
    with caplog.at_level(logging.INFO, logger="irodori.reference"):
        out = tinter.colorize(grey, reference=[art])
        with_copy = np.asarray(out)
    assert 0.2 < out.info["irodori.reference_copied"] < 1.0
    assert re.search(r"the same drawing as reference 1 on \d+% of the page, its colours copied", caplog.text)
    monkeypatch.setattr(reference_module, "ALIGN", False)
    hints_alone = np.asarray(tinter.colorize(grey, reference=[ref]))
    assert _chroma_error(with_copy, truth, inside) < 4.0
    assert _psnr(with_copy, truth) > _psnr(hints_alone, truth) + 1.0
    # the lightness is the page's own: a tinted page's copy is chroma alone
    np.testing.assert_allclose(rgb_to_lab(with_copy)[..., 0], rgb_to_lab(np.stack([grey] * 3, -1))[..., 0], atol=1.0)


def test_the_copy_is_found_beside_the_network_and_its_errors_reach_the_caller(tinter, monkeypatch):
    """The copy needs nothing of the network, so it is found in a thread of its own while the
    network runs (reference.PendingCopy); what it copies is the same, and an error in finding it
    is raised by colorize, in the caller's thread, not lost with the thread."""
    import threading

    art = cartoon(1, size=(480, 384))
    grey = _grey(_panels(art)[0])
    found_in = []
    copied_along = reference_module.ReferenceMatcher.copied_along

    def watched(*args, **kwargs):
        found_in.append(threading.current_thread())
        return copied_along(*args, **kwargs)

    monkeypatch.setattr(reference_module.ReferenceMatcher, "copied_along", staticmethod(watched))
    out = tinter.colorize(grey, reference=[art])
    assert found_in and found_in[0] is not threading.current_thread()
    assert out.info["irodori.reference_copied"] > 0.2

    def broken(*args, **kwargs):
        raise RuntimeError("the copy failed")

    monkeypatch.setattr(reference_module.ReferenceMatcher, "copied_along", staticmethod(broken))
    with pytest.raises(RuntimeError, match="the copy failed"):
        tinter.colorize(grey, reference=[art])


def _blotches(seed: int = 0) -> np.ndarray:
    """A colour picture of soft blotches, nothing drawn: (288, 384, 3) uint8."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((384, 288), Image.BICUBIC))


@pytest.mark.parametrize("other", ["golden", "blotches"])
def test_another_picture_gives_no_transform(tinter, other):
    page, _ = _panels(cartoon(1, size=(480, 384)))
    matcher = ReferenceMatcher(threads=1)
    lightness = Lightness.from_l(rgb_to_lab(page)[..., 0].astype(np.float32))
    if other == "golden":  # a coloured photograph
        with Image.open(DATA / "golden_general.png") as img:
            picture = np.asarray(img.convert("RGB"))
    else:
        picture = _blotches()
    reference = matcher.analyse(picture)
    for paint in (False, True):  # (painted: a panel page's frames and paper aligned with this one's, and
        # its paper took the photograph's colours, until a transform had to explain the page's detail)
        _, copied = matcher.read_page(lightness, [reference], paint=paint, size=tinter.network_size(*page.shape[:2]))
        assert copied.result() is None


def test_a_users_hint_wins_over_the_copied_colour(tinter):
    art = cartoon(1, size=(480, 384))
    truth, inside = _panels(art)
    grey = _grey(truth)
    lab = rgb_to_lab(truth)
    # a hint in the middle of the largest coloured shape inside the first panel
    coloured = inside & (np.hypot(lab[..., 1], lab[..., 2]) > 30) & (np.arange(truth.shape[1]) < truth.shape[1] // 2)
    ys, xs = np.nonzero(coloured)
    y, x = int(np.median(ys)), int(np.median(xs))
    y, x = ys[np.argmin(np.hypot(ys - y, xs - x))], xs[np.argmin(np.hypot(ys - y, xs - x))]
    hint_ab = np.array([-lab[y, x, 1], -lab[y, x, 2]])  # the opposite hue
    hinted = np.asarray(tinter.colorize(grey, reference=[art], hints=[(int(x), int(y), _hex(lab[y, x, 0], hint_ab))]))
    out = rgb_to_lab(hinted)[y - 2:y + 3, x - 2:x + 3, 1:].reshape(-1, 2).mean(0)
    assert np.dot(out, hint_ab) > 0  # the hint's hue, not the reference's


def _hex(l: float, ab: np.ndarray) -> str:
    from irodori.color import lab_to_rgb, rgb_to_uint8

    rgb = rgb_to_uint8(lab_to_rgb(np.array([[[l, ab[0], ab[1]]]], dtype=np.float64)))[0, 0]
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb)


def test_a_print_of_the_panels_is_painted_in_the_references_colours():
    """Paint: the grey print of the two panels, painted with the cartoon as the reference, takes
    its colours (closer to them than painted without), and its darkest ink stays ink."""
    art = cartoon(1, size=(480, 384))
    truth, inside = _panels(art)
    grey = _grey(truth)
    painter = load_colorizer("auto", mode="paint", threads=1)
    with_ref = np.asarray(painter.colorize(grey, reference=[art]))
    without = np.asarray(painter.colorize(grey))
    assert _psnr(with_ref, truth) > _psnr(without, truth) + 2.0
    assert _chroma_error(with_ref, truth, inside) < _chroma_error(without, truth, inside) - 5.0
    inked = grey < 40
    assert rgb_to_lab(with_ref)[..., 0][inked].max() < 45


def test_a_users_hint_on_a_painted_copy_looks_as_without_the_reference():
    """Helper 68: on a page painted after its own drawing, a blue hint spread again over the copy
    took the reference's shading too (navy blocks down to L 12). Its shape now looks as it does
    without the reference."""
    art = cartoon(1, size=(480, 384))
    truth, inside = _panels(art)
    grey = _grey(truth)
    lab = rgb_to_lab(truth)
    shape = inside & (np.hypot(lab[..., 1], lab[..., 2]) > 30)
    ys, xs = np.nonzero(shape)
    k = int(np.argmin(np.hypot(ys - np.median(ys), xs - np.median(xs))))
    y, x = int(ys[k]), int(xs[k])
    painter = load_colorizer("auto", mode="paint", threads=1)
    hints = [(x, y, "#2040ff")]
    alone = rgb_to_lab(np.asarray(painter.colorize(grey, hints=hints)))
    after = rgb_to_lab(np.asarray(painter.colorize(grey, hints=hints, reference=[art])))
    near = np.zeros_like(shape)
    near[max(0, y - 6):y + 7, max(0, x - 6):x + 7] = True
    near &= shape
    assert np.abs(after[near] - alone[near]).max(axis=-1).mean() < 3.0


def test_a_luma_grey_copy_of_saturated_colours_is_copied(tinter):
    """Helper 68: a grey copy made by Pillow's "L" (luma) puts a saturated red 15 under its CIE L,
    past the 12 the regions allowed, and a red hair and a lime skirt were copied on under half
    their pixels. The allowance grows with the reference's chroma."""
    art = cartoon(1, size=(480, 384)).copy()
    for hue, vivid in (((40, 160, 60), (30, 210, 30)), ((220, 40, 40), (235, 20, 20))):
        art[(art == hue).all(axis=-1)] = vivid  # luma greys 17.5 and 14.5 under their CIE L
    page = np.asarray(Image.fromarray(art).convert("L"))  # luma, not CIE L
    lightness = Lightness.from_l(rgb_to_lab(np.stack([page] * 3, -1))[..., 0].astype(np.float32))
    matcher = ReferenceMatcher(threads=1)
    size = tinter.network_size(*page.shape)
    copied = matcher.read_page(lightness, [matcher.analyse(art)], paint=False, size=size)[1].result()
    assert copied is not None
    lab = rgb_to_lab(np.asarray(Image.fromarray(art).resize(size[::-1], Image.BOX)))
    vivid = np.hypot(lab[..., 1], lab[..., 2]) > 70  # the red and green shapes
    assert vivid.sum() > 1000 and copied.weight[vivid].mean() > 0.8


def test_a_reference_too_weakly_matched_for_hints_still_gives_its_copy(monkeypatch):
    """A screentone print matched its own colour page on 3-16 confident cells of 480 (val
    panels-paint), under the share that lets a reference give hints, and nothing was copied. The
    fit now reads each reference's best match of every cell of detail: with no reference allowed
    to give hints at all, the print of the panels is still found to be the cartoon's drawing."""
    from irodori.printing import bw_page

    art = cartoon(1, size=(480, 384))
    truth, _ = _panels(art)
    printed = bw_page(rgb_to_lab(truth)[..., 0].astype(np.float32), np.random.default_rng(0))
    lightness = Lightness.from_l(printed.astype(np.float32))
    monkeypatch.setattr(reference_module, "MIN_RELATED", 1.01)  # no reference gives hints
    matcher = ReferenceMatcher(threads=1)
    size = load_colorizer("auto", mode="paint", threads=1).network_size(*printed.shape)
    hints, pending = matcher.read_page(lightness, [matcher.analyse(art)], paint=True, size=size)
    copied = pending.result()
    assert hints == []
    assert copied is not None and copied.weight.mean() > 0.3
    monkeypatch.setattr(reference_module, "ALIGN_RAW", False)  # the confident matches alone: none here
    assert matcher.read_page(lightness, [matcher.analyse(art)], paint=True, size=size)[1].result() is None


def test_a_prints_screentone_is_no_wall_but_its_frame_is():
    """The copy stops at a line of the page's that the reference lacks (a panel's frame). A print's
    dots in rows, at the network's size, read as such lines too and walled in 40 % of a panel; on
    a page to paint, lines are found in its line darkness averaged and must be thin."""
    from irodori.align import _PageViews

    darkness = np.zeros((96, 96), np.float32)
    darkness[20:76, 20:76] = 0.0
    darkness[20:76:3, 20:76] = darkness[20:76, 20:76:3] = 80.0  # a dark tone: a mesh of dots in rows
    darkness[:, 4:6] = 100.0  # a frame, 2 px wide
    l = 100.0 - darkness
    for printed, mesh_walled in ((True, False), (False, True)):
        lines = _PageViews(l, darkness, 4, 8, printed=printed).lines
        assert lines[40:60, 4:6].all()  # the frame is a wall
        assert (lines[30:66, 30:66].mean() > 0.2) == mesh_walled


def test_a_tinted_panels_copy_reaches_its_frame(tinter, monkeypatch):
    """Helper 69: a tinted panel's copy stopped 8-12 px short of its frame, the network's colour
    between: the region's windows see the frame beside the panel's edge. The region now grows
    to the walls through pixels alike one by one."""
    art = cartoon(1, size=(480, 384))
    truth, inside = _panels(art)
    lightness = Lightness.from_l(rgb_to_lab(truth)[..., 0].astype(np.float32))
    matcher = ReferenceMatcher(threads=1)
    ref = matcher.analyse(art)
    size = tinter.network_size(*truth.shape[:2])
    assert size == truth.shape[:2]  # the network's size is the page's: no resampling to mind
    band = inside & grow(~inside, 8)  # the 8 px of each panel along its frame ...
    band[:60] = False  # ... but at the top, which is outside the box around the matches (flat: no match there)
    from irodori import align

    def reached() -> float:
        copied = matcher.read_page(lightness, [ref], paint=False, size=size)[1].result()
        return float((copied.weight[band] > 0.5).mean())

    now = reached()
    monkeypatch.setattr(align, "ALIGN_REACH", 0)
    assert now > 0.8 and now > reached() + 0.3  # (0.89 against 0.35 when written)
