"""The same drawing in a reference: its colours copied into the page, aligned (docs/REFERENCE.md).

Where a reference holds the very drawing a page shows (a colour edition of a B&W page, a cover
whose art a panel reuses, panels cut from one picture at other sizes), the confident cell
matches of :func:`irodori.reference.match` agree on one similarity transform per region of the
page: a scale, a shift and perhaps a mirror. Such a transform is found by RANSAC (Fischler and
Bolles 1981: two matches propose a scale and a shift, the others vote) and fitted by least
squares on the matches that agree with it; up to ALIGN_MODELS of them a page, one per panel. It
is kept only where the page's line darkness and the aligned reference's correlate (ink lies
where the reference's does). There the reference's colours are copied, pixel for pixel at the
network's size, in place of the network's: chroma for a page that is tinted, lightness and
chroma (its flats: its own thin lines taken out) for a page that is painted, whose ink then
goes over them as everywhere. Elsewhere nothing changes; a reference that only resembles the
page (another pose, another series) gives no transform and only the hints of
:mod:`irodori.reference`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .balloons import components
from .hints import gaussian_smooth
from .paint import box_mean, grow, strokes

ALIGN_MIN_CELLS = 10  # a transform needs this many confident matches that agree with it ...
ALIGN_TOLERANCE = 1.0  # ... each landing within this many page cells of where it puts them
ALIGN_TRIALS = 256  # RANSAC: pairs of matches tried per reference and mirror
ALIGN_MODELS = 4  # transforms a page (panels of one picture), the largest first
ALIGN_SCALE = (0.125, 16.0)  # page pixels per reference pixel a transform may have
ALIGN_AGREE = 0.5  # the page's line darkness and the aligned reference's correlate at least this much
ALIGN_L = 12.0  # tint: the page and the aligned reference differ by less than this in L (a quarter cell's mean) ...
ALIGN_PAINT_L = 25.0  # ... paint: a B&W print's (its screentone averaged) and a colour page's
ALIGN_DARK = 8.0  # ... and in line darkness
WALL_LENGTH = 7  # ... and not across a page's stroke (a dark feature this long: no screentone dot) ...
WALL_DARK = 20.0  # ... this much darker than around it ...
WALL_SLACK = 2  # ... with no line of the aligned reference's within this many pixels
UNLIKE_STD = 8.0  # ... nor where the page's detail is not the reference's (unlike) ...
UNLIKE_NCC = 0.2
ALIGN_SEEDS = 3  # ... in a part of it that holds at least this many inlier cells
ALIGN_MARGIN = 6  # ... within this many cells of the box around its inlier cells
REFINE_SCALE = 0.1  # refine: scales searched within this share of the fitted one ...
REFINE_SHIFT = 8  # ... and shifts within this many pixels (0: not refined)
ALIGN_FEATHER = 1.5  # the copied colour's edge blended over this many pixels (Gaussian sigma)
FLATS_SIDE = 512  # a reference's colours are kept at most this many pixels a side
FLAT_LINE = 12.0  # a reference pixel this much darker than the closing around it is a line: no flat colour


@dataclass(frozen=True)
class Alignment:
    """One region of the page that is a reference's drawing: page pixel (y, x) at the network's
    size = ``scale`` * (ref_y, ``mirror`` * ref_x) + (``ty``, ``tx``), reference pixels those of
    its :attr:`irodori.reference.Reference.flats`; ``source`` indexes the references matched,
    ``inliers`` how many matches agreed, ``agreement`` the line darknesses' correlation over
    the region."""

    source: int
    scale: float
    mirror: int
    ty: float
    tx: float
    inliers: int
    agreement: float = 0.0


@dataclass(frozen=True)
class AlignedColour:
    """The references' colour where a page is their drawing: ``lab`` (3, h, w) float32 CIE Lab
    at the network's size, ``weight`` (h, w) float32 in [0, 1] (0: the network's colour stays)."""

    lab: np.ndarray
    weight: np.ndarray
    regions: tuple[Alignment, ...]

    def over(self, planes: np.ndarray) -> np.ndarray:
        """``planes`` (2, h, w) ab or (3, h, w) Lab at the network's size -> the same with the
        aligned colour blended in by :attr:`weight` (ab alone for two planes: a tinted page's
        lightness is its own)."""
        guide = self.lab[1:] if planes.shape[0] == 2 else self.lab
        return (planes * (1.0 - self.weight) + guide * self.weight).astype(np.float32)


def reference_flats(lab: np.ndarray, darkness: np.ndarray) -> np.ndarray:
    """A colour reference's CIE Lab (H, W, 3) and its line darkness (H, W) -> its flats (H, W, 3)
    float32: each line pixel (darker than its closing by FLAT_LINE or more) takes the mean colour
    of the pixels around it that are not line (normalised convolution, Knutsson and Westin 1993),
    so that a copy placed a pixel off does not draw the reference's lines beside the page's."""
    keep = (darkness < FLAT_LINE).astype(np.float32)
    out = lab.astype(np.float32).copy()
    missing = keep < 1
    for sigma in (2.0, 6.0):
        if not missing.any():
            break
        weight = gaussian_smooth(keep, sigma)
        filled = [gaussian_smooth(lab[..., c] * keep, sigma) / np.maximum(weight, 1e-6) for c in range(3)]
        found = missing & (weight > 0.05)
        for c in range(3):
            out[..., c][found] = filled[c][found]
        missing &= ~found
    return out


def fit_alignments(page: np.ndarray, ref: np.ndarray, mirror: np.ndarray, source: np.ndarray, cell: float, *,
                   seed: int = 0) -> list[tuple[Alignment, np.ndarray]]:
    """Matched points -> the similarity transforms they agree on, each with its inliers (n,) bool.

    ``page`` (n, 2) page pixels (y, x) of confident cells' centres at the network's size, ``ref``
    (n, 2) their matches in reference pixels (:attr:`Reference.flats`), unmirrored, ``mirror`` (n,)
    whether the match was in a mirrored view, ``source`` (n,) int which reference; ``cell`` a page
    cell's side in pixels. Matches of one reference and one mirror are fitted together: RANSAC
    (ALIGN_TRIALS pairs, a fixed ``seed``), then least squares on the inliers (within
    ALIGN_TOLERANCE cells), repeated on what is left until no transform has ALIGN_MIN_CELLS."""
    rng = np.random.default_rng(seed)
    left = np.ones(len(page), bool)
    found: list[tuple[Alignment, np.ndarray]] = []
    tolerance = ALIGN_TOLERANCE * cell
    while len(found) < ALIGN_MODELS:
        best: tuple[Alignment, np.ndarray] | None = None
        for src in np.unique(source[left]):
            for flip in (False, True):
                group = np.nonzero(left & (source == src) & (mirror == flip))[0]
                if len(group) < ALIGN_MIN_CELLS:
                    continue
                model = _ransac(page[group], ref[group], -1 if flip else 1, tolerance, rng)
                if model is None:
                    continue
                scale, ty, tx, inside = model
                inliers = np.zeros(len(page), bool)
                inliers[group[inside]] = True
                if best is None or inside.sum() > best[0].inliers:
                    best = (Alignment(int(src), scale, -1 if flip else 1, ty, tx, int(inside.sum())), inliers)
        if best is None:
            break
        found.append(best)
        left &= ~best[1]
    return found


def _ransac(p: np.ndarray, q: np.ndarray, m: int, tolerance: float, rng: np.random.Generator
            ) -> tuple[float, float, float, np.ndarray] | None:
    """Points p = s (qy, m qx) + t: the (s, ty, tx, inliers (n,) bool) most points agree on,
    refitted on them, or None when fewer than ALIGN_MIN_CELLS do."""
    q = q * np.array([1.0, m])
    n = len(p)
    i = rng.integers(0, n, ALIGN_TRIALS)
    j = rng.integers(0, n, ALIGN_TRIALS)
    dq = q[i] - q[j]
    dp = p[i] - p[j]
    span = np.linalg.norm(dq, axis=1)
    ok = span > 1e-6
    scale = np.where(ok, np.linalg.norm(dp, axis=1) / np.maximum(span, 1e-6), 0.0)
    # the pair's two vectors must point the same way (no rotation): their cosine near 1
    cosine = np.einsum("kc,kc->k", dp, dq) / np.maximum(np.linalg.norm(dp, axis=1) * span, 1e-6)
    ok &= (scale >= ALIGN_SCALE[0]) & (scale <= ALIGN_SCALE[1]) & (cosine > 0.95)
    if not ok.any():
        return None
    scale, shift = scale[ok], p[i[ok]] - scale[ok, None] * q[i[ok]]
    error = np.linalg.norm(p[None] - (scale[:, None, None] * q[None] + shift[:, None]), axis=2)  # (trials, n)
    votes = (error < tolerance).sum(axis=1)
    inside = error[int(np.argmax(votes))] < tolerance
    for _ in range(3):  # least squares on the inliers, then the inliers again
        if inside.sum() < ALIGN_MIN_CELLS:
            return None
        qc, pc = q[inside] - q[inside].mean(0), p[inside] - p[inside].mean(0)
        s = float((qc * pc).sum() / max((qc * qc).sum(), 1e-6))
        if not ALIGN_SCALE[0] <= s <= ALIGN_SCALE[1]:
            return None
        t = p[inside].mean(0) - s * q[inside].mean(0)
        inside = np.linalg.norm(p - (s * q + t), axis=1) < tolerance
    if inside.sum() < ALIGN_MIN_CELLS:
        return None
    return s, float(t[0]), float(t[1]), inside


def refine(alignment: Alignment, page: np.ndarray, plane: np.ndarray, mask: np.ndarray) -> Alignment:
    """An alignment fitted to cell centres (a cell is about 16 px of a 384-px view: its scale
    is a few per cent off across a panel) -> the one near it under which the reference's
    ``plane`` (H, W) best correlates with the ``page`` (h, w) over ``mask`` (h, w) bool: scales
    within REFINE_SCALE about the mask's middle and shifts within REFINE_SHIFT px, searched at
    half size, then by single pixels and a fifth of the step in scale at full size."""
    if mask.sum() < 64:
        return alignment
    best = alignment
    for half, scales, reach in ((True, np.linspace(1 - REFINE_SCALE, 1 + REFINE_SCALE, 9), REFINE_SHIFT // 2),
                                (False, 1 + np.array([-1.0, 0.0, 1.0]) * REFINE_SCALE / 20, 1)):
        step = 2 if half else 1
        target = page[::step, ::step]
        where = mask[::step, ::step]
        ys, xs = np.nonzero(where)
        cy, cx = ys.mean() * step, xs.mean() * step
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        patch, inside = target[y0:y1, x0:x1], where[y0:y1, x0:x1]
        centre = best
        scores = []
        for f in scales:
            candidate = _scaled(centre, f, cy, cx)
            warped = np.pad(warp(plane, candidate, page.shape)[::step, ::step], reach, mode="edge")
            for dy in range(-reach, reach + 1):
                for dx in range(-reach, reach + 1):
                    moved = warped[reach + y0 - dy:reach + y1 - dy, reach + x0 - dx:reach + x1 - dx]
                    scores.append((agreement(patch, moved, inside), f, dy * step, dx * step))
        score, f, dy, dx = max(scores)
        candidate = _scaled(centre, f, cy, cx)
        best = Alignment(candidate.source, candidate.scale, candidate.mirror, candidate.ty + dy, candidate.tx + dx,
                         candidate.inliers)
    return best


def _scaled(alignment: Alignment, factor: float, cy: float, cx: float) -> Alignment:
    """The alignment with its scale times ``factor`` about page pixel (cy, cx), which stays put."""
    s = alignment.scale * factor
    ty = cy - factor * (cy - alignment.ty)
    tx = cx - factor * (cx - alignment.tx)
    return Alignment(alignment.source, s, alignment.mirror, ty, tx, alignment.inliers)


def region_cells(inliers: np.ndarray, margin: int) -> np.ndarray:
    """(gh, gw) bool: a transform's inlier cells -> the box around them, grown by ``margin`` cells."""
    ys, xs = np.nonzero(inliers)
    out = np.zeros_like(inliers)
    out[max(0, ys.min() - margin):ys.max() + margin + 1, max(0, xs.min() - margin):xs.max() + margin + 1] = True
    return out


def warp(plane: np.ndarray, alignment: Alignment, size: tuple[int, int]) -> np.ndarray:
    """A reference plane (H, W) float -> (h, w) float32 at the page's network size, by the
    alignment (bilinear; 0 outside the reference)."""
    s, m = alignment.scale, alignment.mirror
    data = (m / s, 0.0, -m * alignment.tx / s, 0.0, 1.0 / s, -alignment.ty / s)
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), "F")
    return np.asarray(img.transform(size[::-1], Image.AFFINE, data, resample=Image.BILINEAR), dtype=np.float32)


def agreement(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Pearson correlation of two (h, w) maps over ``where`` (h, w) bool; 0 when either is flat."""
    x, y = a[where].astype(np.float64), b[where].astype(np.float64)
    if x.size < 16:
        return 0.0
    x -= x.mean()
    y -= y.mean()
    norm = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / norm) if norm > 1e-9 else 0.0


@dataclass(frozen=True)
class Drawing:
    """What is copied from a colour reference where a page is its drawing: ``flats`` (H, W, 3)
    float32 CIE Lab (:func:`reference_flats`), ``l`` (H, W) float32 its own lightness and
    ``darkness`` (H, W) float32 its line darkness, at most FLATS_SIDE a side."""

    flats: np.ndarray
    l: np.ndarray
    darkness: np.ndarray


def aligned_colour(page_l: np.ndarray, page_darkness: np.ndarray, fits: Sequence[tuple[Alignment, np.ndarray]],
                   drawings: Sequence[Drawing | None], grid: tuple[int, int], *, paint: bool) -> AlignedColour | None:
    """The page's L and line darkness (h, w) at the network's size, the transforms with their
    inlier cells ((gh, gw) bool each) and every reference's :class:`Drawing` -> the colour to
    copy where the page is a reference's drawing, or None where it is nowhere.

    A transform holds where the page and the aligned reference look alike around each pixel
    (averaged over a quarter of a cell): their lightness within ALIGN_L and their line darkness
    within ALIGN_DARK (a page to paint: their lightness within ALIGN_PAINT_L, its screentone
    averaged into the grey it prints; its dots are no lines of the colour page's); its
    region is what of that is joined to its inlier cells, inside the reference and near the
    inliers, and it is kept when the darknesses correlate at least ALIGN_AGREE there
    (:func:`agreement`). Where two regions overlap, the one with more inlier cells near wins."""
    h, w = page_darkness.shape
    gh, gw = grid
    radius = max(1, round(min(h / gh, w / gw) / 4))
    page_view = box_mean(page_l, radius)
    page_lines = strokes(page_darkness.astype(np.float32), WALL_LENGTH) > WALL_DARK
    page_soft = box_mean(page_darkness, 1)
    lab = np.zeros((3, h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    support = np.zeros((h, w), np.float32)
    kept = []
    for alignment, inliers in fits:
        drawing = drawings[alignment.source]
        if REFINE_SHIFT:
            seen = _cells_to_pixels(grow(inliers, 1), (h, w)) & (warp(np.ones(drawing.l.shape, np.float32),
                                                                      alignment, (h, w)) > 0.99)
            alignment = refine(alignment, box_mean(page_l, 1), box_mean(drawing.l, 1), seen)
        inside = warp(np.ones(drawing.l.shape, np.float32), alignment, (h, w)) > 0.99
        ref_view = box_mean(warp(drawing.l, alignment, (h, w)), radius)
        ref_dark = warp(drawing.darkness, alignment, (h, w))
        alike = np.abs(page_view - ref_view) < (ALIGN_PAINT_L if paint else ALIGN_L)
        if not paint:  # a print's screentone is no line of the colour page's
            alike &= box_mean(np.abs(page_darkness - ref_dark), radius) < ALIGN_DARK
        walls = grow(page_lines & ~grow(ref_dark > WALL_DARK, WALL_SLACK), WALL_SLACK + 1)  # a page's line where
        alike &= inside & ~walls  # the reference has none (a panel's frame) is a wall, a crossing's gap closed
        alike &= ~unlike(page_view, ref_view, round(min(h / gh, w / gw) / 2))
        near = _cells_to_pixels(region_cells(inliers, ALIGN_MARGIN), (h, w)) & alike
        where = _joined(near, inliers, (h, w))
        where = ~grow(~grow(where, radius), radius) & inside  # closed: a line a pixel off is no hole
        score = (agreement(page_view, ref_view, where) if paint
                 else agreement(page_soft, box_mean(ref_dark, 1), where))
        if score < ALIGN_AGREE:
            continue
        density = np.asarray(Image.fromarray(box_mean(inliers, 2).astype(np.float32), "F").resize(
            (w, h), Image.BILINEAR)) + 1e-3
        take = where & (density > support)
        support[take] = density[take]
        for c in range(3):
            lab[c][take] = warp(drawing.flats[..., c], alignment, (h, w))[take]
        weight[take] = 1.0
        kept.append(Alignment(alignment.source, alignment.scale, alignment.mirror, alignment.ty, alignment.tx,
                              alignment.inliers, score))
    if not kept:
        return None
    weight = np.minimum(weight, gaussian_smooth(weight, ALIGN_FEATHER)) if ALIGN_FEATHER else weight
    return AlignedColour(lab, weight.astype(np.float32), tuple(kept))


def unlike(a: np.ndarray, b: np.ndarray, radius: int) -> np.ndarray:
    """(h, w) bool: where the page's detail ``a`` (h, w) is not the aligned reference's ``b``
    around each pixel (windows of 2 radius + 1): the page varies (L's standard deviation at
    least UNLIKE_STD) and the reference hardly does (under half that) or their correlation is
    under UNLIKE_NCC. Where only the reference varies, nothing is said: a print loses its light
    colours' detail to white paper."""
    ma, mb = box_mean(a, radius), box_mean(b, radius)
    va = np.maximum(box_mean(a * a, radius) - ma * ma, 0.0)
    vb = np.maximum(box_mean(b * b, radius) - mb * mb, 0.0)
    cov = box_mean(a * b, radius) - ma * mb
    ncc = cov / np.sqrt(np.maximum(va * vb, 1e-6))
    return (va >= UNLIKE_STD ** 2) & ((vb < (UNLIKE_STD / 2) ** 2) | (ncc < UNLIKE_NCC))


def _cells_to_pixels(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(cells.astype(np.uint8) * 255).resize(size[::-1], Image.NEAREST)) > 0


def _joined(mask: np.ndarray, inliers: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The parts of ``mask`` (h, w) bool joined to an inlier cell's middle."""
    labels, _ = components(mask)
    gh, gw = inliers.shape
    ys, xs = np.nonzero(inliers)
    seeds = labels[((ys + 0.5) * size[0] / gh).astype(int), ((xs + 0.5) * size[1] / gw).astype(int)]
    ids, counts = np.unique(seeds[seeds > 0], return_counts=True)
    return np.isin(labels, ids[counts >= min(ALIGN_SEEDS, len(ys))])
