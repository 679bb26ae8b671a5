"""The same drawing in a reference: its colours copied into the page, aligned (docs/REFERENCE.md).

Where a reference holds the very drawing a page shows (a colour edition of a B&W page, a cover
whose art a panel reuses, panels cut from one picture at other sizes), the confident cell
matches of :func:`irodori.reference.match` agree on one similarity transform per region of the
page: a scale, a shift and perhaps a mirror. Such a transform is found by RANSAC (Fischler and
Bolles 1981: two matches propose a scale and a shift, the others vote) and fitted by least
squares on the matches that agree with it; up to ALIGN_MODELS of them a page, one per panel. It
is refined to the pixel (Gauss-Newton on the lightness: Lucas and Kanade 1981) and kept only
where page and aligned reference look alike and correlate (ink lies where the reference's
does). There the reference's colours are copied, pixel for pixel at the network's size, in
place of the network's: chroma for a page that is tinted, lightness and chroma (its flats: its
own thin lines taken out) for a page that is painted, whose ink then goes over them as
everywhere. Elsewhere nothing changes; a reference that only resembles the page (another pose,
another series) gives no transform and only the hints of :mod:`irodori.reference`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .balloons import components
from .hints import gaussian_smooth
from .paint import box_mean, grow, stroke_mask

ALIGN_MIN_CELLS = 10  # a transform needs this many matches that agree with it (reference.aligned_candidates) ...
ALIGN_TOLERANCE = 1.0  # ... each landing within this many page cells of where it puts them
ALIGN_TRIALS = 256  # RANSAC: pairs of matches tried per reference and mirror
ALIGN_MODELS = 4  # transforms a page (panels of one picture), the largest first
ALIGN_SCALE = (0.125, 16.0)  # page pixels per reference pixel a transform may have
ALIGN_AGREE = 0.5  # the page's line darkness and the aligned reference's (paint: L) correlate this much
ALIGN_L = 12.0  # tint: the page and the aligned reference differ by less than this in L (a quarter cell's mean) ...
ALIGN_L_CHROMA = 0.25  # ... and this share of the reference's chroma more ...
ALIGN_PAINT_L = 25.0  # ... paint: a B&W print's (its screentone averaged) and a colour page's
ALIGN_DARK = 8.0  # ... and in line darkness
WALL_LENGTH = 7  # ... and not across a page's stroke (a dark feature this long: no screentone dot) ...
WALL_DARK = 20.0  # ... this much darker than around it ...
WALL_SLACK = 2  # ... with no line of the aligned reference's within this many pixels ...
WALL_BLUR = 2  # ... found on the page's line darkness averaged over (2 r + 1)^2 pixels (a print's dots fade into ...
WALL_AREA = (4, 0.6)  # ... a tone, no line), and thin: under this share of a (2 r + 1)^2 window dark (a dark tone)
UNLIKE_STD = 8.0  # ... nor where the page's detail is not the reference's (unlike) ...
UNLIKE_NCC = 0.2
ALIGN_EDGES = 0.6  # paint: and the edges of the two, a quarter cell's mean, correlate this much (edge_agreement),
ALIGN_EDGES_TRUSTED = 80  # ... unless this many matches agree on its transform (a print's flat colours lose edges)
ALIGN_DETAIL = 0.15  # paint: a transform's matched cells are at least this share detail of the page's it explains
ALIGN_SEEDS = 3  # ... in a part of it that holds at least this many inlier cells
ALIGN_MARGIN = 6  # ... within this many cells of the box around its inlier cells
ALIGN_REACH = 12  # tint: the region then grown this many pixels through pixels alike one by one, to the walls ...
REACH_WALL = 1  # ... its lines grown this many pixels (a crossing's gap closed: the copy stopped 3-4 px short at 3)
REFINE_LEVELS = (4, 2)  # refine: Gauss-Newton on the page reduced this many times in turn (() : not refined) ...
REFINE_STEPS = (4, 2)  # ... at most this many steps at each, fewer once one moves less than REFINE_DONE px ...
REFINE_DONE = 0.1
REFINE_SCALE = 0.15  # ... and kept if it moves the scale by at most this share ...
REFINE_SHIFT = 12  # ... and its region's middle by at most this many pixels
ALIGN_COVERED = 0.9  # a transform whose box is this much copied already (by a larger one) is passed over
OWN_SHOWN = 10.0  # AlignedColour.beside: where the user's hints moved the colour this much, theirs stays
ALIGN_FEATHER = 1.5  # the copied colour's edge blended over this many pixels (Gaussian sigma)
FLATS_SIDE = 512  # a reference's colours are kept at most this many pixels a side
FLAT_LINE = 12.0  # a reference pixel this much darker than the closing around it is a line: no flat colour


@dataclass(frozen=True)
class Alignment:
    """One region of the page that is a reference's drawing: page pixel (y, x) at the network's
    size = ``scale`` * (ref_y, ``mirror`` * ref_x) + (``ty``, ``tx``), reference pixels those of
    its :class:`Drawing`; ``source`` indexes the page's references as given, ``inliers`` how many
    matches agreed, ``agreement`` how well page and aligned reference correlate over the region
    (:func:`aligned_colour`)."""

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

    def beside(self, spread: np.ndarray, without: np.ndarray | None) -> np.ndarray:
        """The copy over ``spread`` (2 or 3, h, w: the colour with every hint spread), except where
        the user's hints changed it: where ``without`` (the same with the references' hints alone;
        None: the user gave none) differs from it, by OWN_SHOWN units of Lab or more at full
        strength, the user's colour stays. (Spread again over the copy, a hint on a page to paint
        took the reference's shading too: the tiger's stripes came out as navy blocks.)"""
        copied = self.over(spread)
        if without is None:
            return copied
        own = np.clip(np.abs(spread - without).max(axis=0) / OWN_SHOWN, 0.0, 1.0)
        return (copied * (1.0 - own) + spread * own).astype(np.float32)

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
    keep = darkness < FLAT_LINE
    out = lab.astype(np.float32).copy()
    missing = ~keep
    for radius in (3, 9):  # box windows (a line is a few pixels wide; a thick one takes the larger)
        if not missing.any():
            break
        weight = box_mean(keep, radius)
        filled = [box_mean(np.where(keep, lab[..., c], 0.0), radius) / np.maximum(weight, 1e-6) for c in range(3)]
        found = missing & (weight > 0.05)
        for c in range(3):
            out[..., c][found] = filled[c][found]
        missing &= ~found
    return out


def fit_alignments(page: np.ndarray, ref: np.ndarray, mirror: np.ndarray, source: np.ndarray, cell: float, *,
                   seed: int = 0) -> list[tuple[Alignment, np.ndarray]]:
    """Matched points -> the similarity transforms they agree on, each with its inliers (n,) bool.

    ``page`` (n, 2) page pixels (y, x) of matched cells' centres at the network's size, ``ref``
    (n, 2) their matches in reference pixels (those of its :class:`Drawing`), unmirrored,
    ``mirror`` (n,) whether the match was in a mirrored view, ``source`` (n,) int which
    reference; ``cell`` a page cell's side in pixels. Matches of one reference and one mirror
    are fitted together: RANSAC (ALIGN_TRIALS pairs, seeded by ``seed``, the reference and the
    mirror), then least squares on the inliers (within ALIGN_TOLERANCE cells); the best of all
    is kept and its group fitted again on what is left, until no transform has ALIGN_MIN_CELLS."""
    left = np.ones(len(page), bool)
    found: list[tuple[Alignment, np.ndarray]] = []
    tolerance = ALIGN_TOLERANCE * cell
    fitted: dict[tuple[int, bool], tuple[Alignment, np.ndarray] | None] = {}  # a group's fit, until it loses inliers
    while len(found) < ALIGN_MODELS:
        best: tuple[Alignment, np.ndarray] | None = None
        for src in np.unique(source[left]):
            for flip in (False, True):
                key = (int(src), flip)
                if key not in fitted:
                    fitted[key] = _group_fit(page, ref, left & (source == src) & (mirror == flip), key, tolerance,
                                             np.random.default_rng([seed, *key]))
                fit = fitted[key]
                if fit is not None and (best is None or fit[0].inliers > best[0].inliers):
                    best = fit
        if best is None:
            break
        found.append(best)
        left &= ~best[1]
        del fitted[(best[0].source, best[0].mirror < 0)]  # its group is fitted again on what is left
    return found


def _group_fit(page: np.ndarray, ref: np.ndarray, members: np.ndarray, key: tuple[int, bool], tolerance: float,
               rng: np.random.Generator) -> tuple[Alignment, np.ndarray] | None:
    """The transform of one reference and mirror's matches (``members`` (n,) bool), with its
    inliers (n,) bool, or None (:func:`_ransac`)."""
    group = np.nonzero(members)[0]
    if len(group) < ALIGN_MIN_CELLS:
        return None
    model = _ransac(page[group], ref[group], -1 if key[1] else 1, tolerance, rng)
    if model is None:
        return None
    scale, ty, tx, inside = model
    inliers = np.zeros(len(page), bool)
    inliers[group[inside]] = True
    return Alignment(key[0], scale, -1 if key[1] else 1, ty, tx, int(inside.sum())), inliers


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
    ey = p[None, :, 0] - (scale[:, None] * q[None, :, 0] + shift[:, 0, None])  # (trials, n), each axis apart:
    ex = p[None, :, 1] - (scale[:, None] * q[None, :, 1] + shift[:, 1, None])  # 3 times a norm over (trials, n, 2)
    near = ey * ey + ex * ex < tolerance * tolerance
    inside = near[int(np.argmax(near.sum(axis=1)))]
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


def refine(alignment: Alignment, page: np.ndarray, drawing: Drawing, mask: np.ndarray) -> Alignment:
    """An alignment fitted to cell centres (a cell is about 16 px of a 384-px view: a panel's
    scale came out 1.14 or 1.31 where it was 1.25) -> the one under which the reference's
    lightness (its ``drawing``'s) best matches the ``page`` (h, w) over ``mask`` (h, w) bool, up to a gain
    and an offset of lightness: Gauss-Newton steps on the scale and shift (Lucas and Kanade
    1981; the forward-additive form of Baker and Matthews 2004), on the page reduced
    REFINE_LEVELS times in turn, the reference reduced alike. Unchanged where it moves by more
    than REFINE_SCALE of its scale or REFINE_SHIFT pixels, or finds too little to work on."""
    current = alignment
    for k, steps in zip(REFINE_LEVELS, REFINE_STEPS):
        small = reduced_plane(page, k)
        where = reduced_plane(mask.astype(np.float32), k) > 0.5
        if where.sum() < 32:
            continue
        f = max(1, int(k / current.scale))  # the reference reduced to about the page's scale: no aliasing
        ref = drawing.l_reduced(f)
        step = _at(current, k, f)
        ys, xs = np.nonzero(where)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        target, inside = small[y0:y1, x0:x1], where[y0:y1, x0:x1]
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
        for _ in range(steps):
            step, moved = _gauss_newton(step, ref, target, inside, yy, xx, (y0, x0))
            if moved < REFINE_DONE:
                break
        current = _at(step, 1.0 / k, 1.0 / f)
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return alignment
    cy, cx = ys.mean() + 0.5, xs.mean() + 0.5  # where the region's middle goes, refined
    ry, rx = (cy - alignment.ty) / alignment.scale, alignment.mirror * (cx - alignment.tx) / alignment.scale
    moved = np.hypot(current.scale * ry + current.ty - cy, current.scale * current.mirror * rx + current.tx - cx)
    if abs(current.scale / alignment.scale - 1.0) > REFINE_SCALE or moved > REFINE_SHIFT:
        return alignment
    return current


def _gauss_newton(a: Alignment, ref: np.ndarray, target: np.ndarray, inside: np.ndarray, yy: np.ndarray,
                  xx: np.ndarray, origin: tuple[int, int]) -> tuple[Alignment, float]:
    """One step of :func:`refine`: (the alignment moved, how far in pixels)."""
    warped = warp(ref, a, target.shape, origin)
    gy, gx = np.gradient(warped)
    ry, rx = (yy - a.ty) / a.scale, a.mirror * (xx - a.tx) / a.scale  # where each pixel falls in the reference
    sel = inside & (ry > 1) & (ry < ref.shape[0] - 1) & (rx > 1) & (rx < ref.shape[1] - 1)
    if sel.sum() < 16:
        return a, 0.0
    i, p = warped[sel].astype(np.float64), target[sel].astype(np.float64)
    ic, pc = i - i.mean(), p - p.mean()
    gain = float((ic * pc).sum() / max((ic * ic).sum(), 1e-9))  # p ~ gain i + offset, least squares
    if gain <= 0:
        return a, 0.0
    residual = gain * ic - pc
    dy, dx = gy[sel], gx[sel]
    jacobian = gain * np.stack([-(dy * (yy[sel] - a.ty) + dx * (xx[sel] - a.tx)) / a.scale, -dy, -dx])  # (3, k):
    jacobian -= jacobian.mean(axis=1, keepdims=True)  # the offset refitted with the move (rows: a mean 30 times
    normal = jacobian @ jacobian.T  # faster than down the columns of (k, 3))
    if np.linalg.cond(normal) > 1e12:
        return a, 0.0
    ds, dty, dtx = np.linalg.solve(normal, -jacobian @ residual)
    moved = float(max(abs(dty), abs(dtx), abs(ds) * max(target.shape)))
    return Alignment(a.source, a.scale + ds, a.mirror, a.ty + dty, a.tx + dtx, a.inliers), moved


def _at(a: Alignment, k: float, f: float) -> Alignment:
    """The alignment for the page reduced ``k`` times and the reference reduced ``f`` times."""
    return Alignment(a.source, a.scale * f / k, a.mirror, a.ty / k, a.tx / k, a.inliers, a.agreement)


def reduced_plane(plane: np.ndarray, k: float) -> np.ndarray:
    """(H, W) float -> its means over k x k blocks (float32; the last partial blocks dropped), by
    Pillow's reduce (7 times numpy's reshaped mean at 512 x 333)."""
    k = int(k)
    if k <= 1:
        return plane if plane.dtype == np.float32 else plane.astype(np.float32)
    h, w = plane.shape[0] // k, plane.shape[1] // k
    if not h or not w:  # (a plane narrower than a block: Pillow's reduce refuses it)
        return np.zeros((h, w), np.float32)
    whole = np.ascontiguousarray(plane[:h * k, :w * k], dtype=np.float32)
    return np.asarray(Image.fromarray(whole, "F").reduce(k), dtype=np.float32)


def region_cells(inliers: np.ndarray, margin: int) -> np.ndarray:
    """(gh, gw) bool: a transform's inlier cells -> the box around them, grown by ``margin`` cells."""
    ys, xs = np.nonzero(inliers)
    out = np.zeros_like(inliers)
    out[max(0, ys.min() - margin):ys.max() + margin + 1, max(0, xs.min() - margin):xs.max() + margin + 1] = True
    return out


def warp(plane: np.ndarray, alignment: Alignment, size: tuple[int, int], origin: tuple[int, int] = (0, 0)
         ) -> np.ndarray:
    """A reference plane (H, W) float -> (h, w) float32 of the page from pixel ``origin`` (y, x)
    on, by the alignment (bilinear; 0 outside the reference)."""
    s, m = alignment.scale, alignment.mirror
    y0, x0 = origin
    data = (m / s, 0.0, m * (x0 - alignment.tx) / s, 0.0, 1.0 / s, (y0 - alignment.ty) / s)
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


def edge_agreement(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """How well the edges of two (h, w) maps coincide over ``where`` (h, w) bool: the correlation
    of their gradients, sum(ga . gb) / sqrt(sum |ga|^2 sum |gb|^2), in [-1, 1]; 0 when either is
    flat. The same drawing's edges are where the reference's are; another drawing in a like
    pose has its edges elsewhere, though its regions' lightness may correlate."""
    ay, ax = np.gradient(a.astype(np.float64))
    by, bx = np.gradient(b.astype(np.float64))
    ay, ax, by, bx = ay[where], ax[where], by[where], bx[where]
    norm = np.sqrt((ay * ay + ax * ax).sum() * (by * by + bx * bx).sum())
    return float((ay * by + ax * bx).sum() / norm) if norm > 1e-9 else 0.0


@dataclass(frozen=True)
class Drawing:
    """What is copied from a colour reference where a page is its drawing: ``flats`` (H, W, 3)
    float32 CIE Lab (:func:`reference_flats`), ``l`` (H, W) float32 its own lightness and
    ``darkness`` (H, W) float32 its line darkness, at most FLATS_SIDE a side."""

    flats: np.ndarray
    l: np.ndarray
    darkness: np.ndarray

    @functools.cached_property
    def chroma(self) -> np.ndarray:
        """(H, W) float32: the flats' chroma (CIE C*ab), computed once."""
        return np.hypot(self.flats[..., 1], self.flats[..., 2]).astype(np.float32)

    def l_reduced(self, f: int) -> np.ndarray:
        """Its L reduced ``f`` times (:func:`reduced_plane`), computed once per factor: the
        refinement reads it for every region of every page of a batch."""
        cache = self.__dict__.setdefault("_l_reduced", {})  # (as cached_property keeps chroma)
        if f not in cache:
            cache[f] = reduced_plane(self.l, f)
        return cache[f]


def aligned_colour(page_l: np.ndarray, page_darkness: np.ndarray, fits: Sequence[tuple[Alignment, np.ndarray]],
                   drawings: Sequence[Drawing | None], grid: tuple[int, int], *, paint: bool) -> AlignedColour | None:
    """The page's L and line darkness (h, w) at the network's size, the transforms with their
    inlier cells ((gh, gw) bool each) and every reference's :class:`Drawing` -> the colour to
    copy where the page is a reference's drawing, or None where it is nowhere.

    Each transform is refined (:func:`refine`). It holds where the page and the aligned
    reference look alike around each pixel (averaged over a quarter of a cell): their lightness
    within ALIGN_L and their line darkness within ALIGN_DARK (a page to paint: their lightness
    within ALIGN_PAINT_L, its screentone averaged into the grey it prints; its dots are no
    lines of the colour page's), not across a line of the page's the reference lacks (a
    panel's frame), nor where the page's detail is not the reference's (:func:`unlike`); its
    region is what of that is joined to its inlier cells, inside the reference and within
    ALIGN_MARGIN cells of them. It is kept when page and reference correlate at least
    ALIGN_AGREE there (:func:`agreement`: line darkness; a page to paint: lightness) and, on a
    page to paint, when ALIGN_DETAIL of the pixels around its matches are detail it explains.
    Where two regions overlap, the one with more inlier cells near wins."""
    h, w = page_l.shape
    gh, gw = grid
    page = _PageViews(page_l, page_darkness, max(1, round(min(h / gh, w / gw) / 4)),
                      max(1, round(min(h / gh, w / gw) / 2)), printed=paint)
    lab = np.zeros((3, h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    support = np.zeros((h, w), np.float32)
    kept = []
    for alignment, inliers in fits:
        drawing = drawings[alignment.source]
        cells = _cells_to_pixels(region_cells(inliers, ALIGN_MARGIN), (h, w))
        if (weight[cells] > 0).mean() > ALIGN_COVERED:  # another reference's copy of the same drawing has it (the
            continue  # bench's four references, the page itself mirrored and cut, gave two transforms)
        near = _cells_to_pixels(grow(inliers, 1), (h, w))  # the pixels of its matches' cells and their neighbours
        if REFINE_LEVELS:
            alignment = refine(alignment, page_l, drawing, near)
        box = cells & covered(alignment, drawing.l.shape, (h, w))
        if not box.any():
            continue
        crop = _bounds(box)
        found = page.region(alignment, drawing, inliers, box, near, crop, paint=paint)
        if found is None:
            continue
        where, score = found
        density = np.asarray(Image.fromarray(box_mean(inliers, 2).astype(np.float32), "F").resize(
            (w, h), Image.BILINEAR))[crop] + 1e-3
        take = where & (density > support[crop])
        support[crop][take] = density[take]
        _copy(lab, weight, take, crop, drawing.flats, alignment, range(3) if paint else range(1, 3))
        kept.append(Alignment(alignment.source, alignment.scale, alignment.mirror, alignment.ty, alignment.tx,
                              alignment.inliers, score))
    if not kept:
        return None
    weight = np.minimum(weight, gaussian_smooth(weight, ALIGN_FEATHER)) if ALIGN_FEATHER else weight
    return AlignedColour(lab, weight.astype(np.float32), tuple(kept))


class _PageViews:
    """What :func:`aligned_colour` reads of the page, once for all its transforms: L averaged
    over ``radius`` px, its strokes (:func:`irodori.paint.stroke_mask`: lines, not screentone dots),
    its line darkness a little blurred, and its local statistics over ``detail`` px (:func:`unlike`)."""

    def __init__(self, l: np.ndarray, darkness: np.ndarray, radius: int, detail: int, *, printed: bool) -> None:
        self.l, self.darkness, self.radius, self.detail = l, darkness, radius, detail
        self.view = box_mean(l, radius)
        blur = WALL_BLUR if printed else 0
        dark = (box_mean(darkness, blur) if blur else darkness) > WALL_DARK
        self.lines = stroke_mask(dark, WALL_LENGTH)  # (a print's screentone, its dots in rows, walled in 40 %
        if WALL_AREA and printed:  # of an elephant's panel: val panels-paint)
            self.lines &= box_mean(dark, WALL_AREA[0]) < WALL_AREA[1]
        self.mean = box_mean(self.view, detail)
        self.var = np.maximum(box_mean(self.view * self.view, detail) - self.mean * self.mean, 0.0)

    @functools.cached_property
    def soft(self) -> np.ndarray:
        """(h, w): the line darkness averaged over 3 x 3 pixels (a tinted page's agreement reads it)."""
        return box_mean(self.darkness, 1)

    def region(self, a: Alignment, drawing: Drawing, inliers: np.ndarray, box: np.ndarray, near: np.ndarray,
               crop: tuple[slice, slice], *, paint: bool) -> tuple[np.ndarray, float] | None:
        """The transform's region within ``crop`` of the page (bool, the crop's shape) and how
        well page and reference correlate there, or None where it does not hold; ``near`` (h, w)
        bool: the pixels of its inlier cells and their neighbours."""
        h, w = self.view.shape
        origin, size = (crop[0].start, crop[1].start), (crop[0].stop - crop[0].start, crop[1].stop - crop[1].start)
        view, radius = self.view[crop], self.radius
        ref_l = warp(drawing.l, a, size, origin)
        ref_view = box_mean(ref_l, radius)
        ref_dark = warp(drawing.darkness, a, size, origin)
        if paint:
            alike = np.abs(view - ref_view) < ALIGN_PAINT_L
        else:  # a grey copy's lightness depends on how it was made, most where the colour is strongest (a
            # luma grey, Pillow's "L", put a red hair 15 under its CIE L: helper 68's hair was not copied)
            tolerance = ALIGN_L + ALIGN_L_CHROMA * warp(drawing.chroma, a, size, origin)
            alike = np.abs(view - ref_view) < tolerance
            alike &= box_mean(np.abs(self.darkness[crop] - ref_dark), radius) < ALIGN_DARK
        line = self.lines[crop] & ~grow(ref_dark > WALL_DARK, WALL_SLACK)  # a page's line where the reference
        wall = grow(line, WALL_SLACK + 1)  # has none (a panel's frame) is a wall, a crossing's gap closed
        alike &= ~wall
        differ, detailed = unlike(view, ref_view, self.detail, (self.mean[crop], self.var[crop]))
        inside = box[crop]
        seen = near[crop] & inside
        if paint and (detailed & ~differ)[seen].sum() < ALIGN_DETAIL * seen.sum():  # a print's frames and paper
            return None  # align with any other page's: the transform must explain the page's detail near its matches
        where = _joined(inside & alike & ~differ, inliers, (h, w), origin)
        where = ~grow(~grow(where, radius), radius) & inside  # closed: a line a pixel off is no hole
        if not paint and ALIGN_REACH:  # up to the walls: the windows above see a frame beside its panel's edge
            # (a tinted panel's copy stopped 8-12 px short of its frame, the network's colour between: helper 69)
            same = inside & ~grow(line, REACH_WALL) & (np.abs(self.l[crop] - ref_l) < tolerance)
            for _ in range(ALIGN_REACH):
                where = where | (grow(where, 1) & same)
        score = (agreement(view, ref_view, where) if paint
                 else agreement(self.soft[crop], box_mean(ref_dark, 1), where))
        if (paint and ALIGN_EDGES and score >= ALIGN_AGREE and inliers.sum() < ALIGN_EDGES_TRUSTED
                and edge_agreement(view, ref_view, where) < ALIGN_EDGES):
            return None  # (asked of a tinted page too: val panels-tint -0.08 dB, the development set -0.15)
        return (where, score) if score >= ALIGN_AGREE else None


def _bounds(mask: np.ndarray) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return slice(int(ys[0]), int(ys[-1]) + 1), slice(int(xs[0]), int(xs[-1]) + 1)


def covered(a: Alignment, ref_shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: the page's pixels whose middles the alignment puts inside the reference (of
    ``ref_shape``), a pixel from its edge."""
    ry = (np.arange(size[0]) + 0.5 - a.ty) / a.scale
    rx = a.mirror * (np.arange(size[1]) + 0.5 - a.tx) / a.scale
    return ((ry >= 0.5) & (ry <= ref_shape[0] - 0.5))[:, None] & ((rx >= 0.5) & (rx <= ref_shape[1] - 0.5))[None]


def _copy(lab: np.ndarray, weight: np.ndarray, take: np.ndarray, crop: tuple[slice, slice], flats: np.ndarray,
          a: Alignment, channels: range) -> None:
    """The reference's ``flats`` (H, W, 3), aligned, into ``lab`` (3, h, w) where ``take`` (the
    shape of ``crop``) is true (those ``channels`` of it: a tinted page's copy is chroma alone),
    ``weight`` set to 1 there."""
    size = take.shape
    for c in channels:
        lab[c][crop][take] = warp(flats[..., c], a, size, (crop[0].start, crop[1].start))[take]
    weight[crop][take] = 1.0


def unlike(a: np.ndarray, b: np.ndarray, radius: int, a_stats: tuple[np.ndarray, np.ndarray] | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) bool: where the page's detail ``a`` (h, w) is not the aligned reference's ``b``
    around each pixel (windows of 2 radius + 1): the page varies (L's standard deviation at
    least UNLIKE_STD) and the reference hardly does (under half that) or their correlation is
    under UNLIKE_NCC. Where only the reference varies, nothing is said: a print loses its light
    colours' detail to white paper. Also (h, w) bool: where the page varies. ``a_stats``: a's
    window means and variances, if known."""
    if a_stats is None:
        ma = box_mean(a, radius)
        va = np.maximum(box_mean(a * a, radius) - ma * ma, 0.0)
    else:
        ma, va = a_stats
    mb = box_mean(b, radius)
    vb = np.maximum(box_mean(b * b, radius) - mb * mb, 0.0)
    cov = box_mean(a * b, radius) - ma * mb
    ncc = cov / np.sqrt(np.maximum(va * vb, 1e-6))
    detailed = va >= UNLIKE_STD ** 2
    return detailed & ((vb < (UNLIKE_STD / 2) ** 2) | (ncc < UNLIKE_NCC)), detailed


def _cells_to_pixels(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(cells.astype(np.uint8) * 255).resize(size[::-1], Image.NEAREST)) > 0


def _joined(mask: np.ndarray, inliers: np.ndarray, size: tuple[int, int], origin: tuple[int, int] = (0, 0)
            ) -> np.ndarray:
    """The parts of ``mask`` (a part of a page of ``size`` (h, w) from pixel ``origin`` on) bool
    joined to an inlier cell's middle, in at least ALIGN_SEEDS of them."""
    labels, _ = components(mask)
    gh, gw = inliers.shape
    ys, xs = np.nonzero(inliers)
    ys = ((ys + 0.5) * size[0] / gh).astype(int) - origin[0]
    xs = ((xs + 0.5) * size[1] / gw).astype(int) - origin[1]
    ok = (ys >= 0) & (ys < mask.shape[0]) & (xs >= 0) & (xs < mask.shape[1])
    seeds = labels[ys[ok], xs[ok]]
    ids, counts = np.unique(seeds[seeds > 0], return_counts=True)
    return np.isin(labels, ids[counts >= min(ALIGN_SEEDS, len(seeds))])
