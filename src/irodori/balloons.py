"""Speech balloons and narration boxes: closed shapes of paper that hold lettering (numpy only).

A colour edition leaves a page's balloons white and prints their lettering as it was; a paint
model, which sees a balloon as one more open area of paper, paints it like the paper around it
(beige), and the tone filter may take a balloon's small letters for screentone where a screen
cell reaches into it. :class:`Balloons` finds them once per page (it is carried in the
:class:`irodori.paint.Contract`): the tone filter leaves their ink as printed, and the
:class:`irodori.paint.BlankSheet` keeps their paper white, as it keeps a page's gutters (a hint
placed in a balloon fills it, and only it). A narration box printed white on black is found
the same way with ink and paper swapped, and keeps its black and its white letters.

How (the classic layout analysis of comic pages, as in Arai and Tolle 2011, "Method for real
time text extraction of digital manga comic", and Rigaud et al. 2013, "Text and balloon
extraction in comics"): the page's paper, on a grid of cells read at their darkest, is split
into connected components; one whose shape with its holes is neither too big (the gutters'
paper, holding the panels) nor too small, is compact (a balloon is an ellipse, a box or a
cloud, not a winding gap between drawn shapes), has margins and whose holes are lettering is
a balloon. Lettering, read at full resolution, is many small marks of one height side by side
along straight lines (or down columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from irodori.imageio import page_side
from irodori.paint import SHEET_MIN_L, grow, levelled_l, run_ids

if TYPE_CHECKING:
    from irodori.imageio import Lightness

BALLOON_MIN_AREA = 5e-4  # of the page's cells, at least (a balloon holding one short word at 1200 px)
BALLOON_MAX_AREA = 0.15  # ... at most: a bigger closed area of paper is a panel's open ground, not a balloon
BALLOON_SOLIDITY = 0.35  # the shape with its holes fills at least this share of its box (an ellipse: 0.79;
# one with a long tail: 0.45)
BALLOON_MIN_CELLS = 4  # cells across, at least, each way
BALLOON_MAX_HOLES = 0.5  # share of the shape that is ink (its lettering), at most
BALLOON_BLANK = 0.15  # share of the shape, at least, that is paper BALLOON_BLANK_PX or more from its lettering:
BALLOON_BLANK_PX = 10  # a balloon's margins (20-70 %), not the paper among a screen's dots or hatching (0-8 %);
BALLOON_TIGHT_PX = 6  # ... or this close, if its lettering is no pattern (see pattern)
GLYPHS_MAX = 1000  # marks inside a shape, at most: a balloon holds a few hundred letters, a dense texture thousands
LETTERING_SIDE = 1600  # lettering is read at this longest side at most (a 300 dpi A4 scan's type, 3 x smaller)
SOLID_INK_L = 25.0  # levelled L: a cell whose lightest pixel is darker is solid ink (a white-on-black box's ground)
BOX_SOLIDITY = 0.85  # a white-on-black box fills its bounding box (0.99); a black area of the art does not (0.6)
GLYPH_INK_L = 50.0  # levelled L: darker is the ink of a letter, when the letters are black; ...
GLYPH_CORE_PERCENTILE = 1.0  # ... else (a softened scan's small type) darker than half-way from paper to the
# inside's darkest (this percentile of its L): at L 50 a blurred letter fell apart into specks
GLYPH_CHAIN = 3  # marks in a chain of neighbours on a line, at least: a word (a face's brows and eyes are pairs)
GLYPH_DRIFT = 0.6  # glyph heights: a chain's centres lie within this of a straight line through them ...
GLYPH_SLOPE = 0.18  # ... at most this steep (10 degrees: lettering set aslant; hatching runs steeper) ...
GLYPH_SLOPE_SPAN = 4.0  # ... where the chain is this many glyph heights long or longer
GLYPHS_MIN = 8  # marks on lines, at least, for the holes to be lettering (a word or two: "What a day!" has 9)
GLYPH_LINE = 0.6  # of the glyph height: two marks whose centres differ less in height are on one line ...
GLYPH_GAP = 1.5  # ... and whose gap is narrower than this many glyph heights are neighbours on it
GLYPH_INK_SHARE = 0.9  # the marks on lines hold at least this share of the ink inside the shape (lettering:
# 95-100 %; a drawing's folds, specks and shading, 64-88 %)
GLYPH_MIN_PX = 3  # the marks' median height, at least: specks of 2 px are a screen's dots or noise, not type
GLYPH_WIDTH_SPREAD = 0.1  # the marks' widths (or heights) vary (letters, words: their standard deviation 14-90 %
# of their mean), a row of equal dots or rivets does not (3 %)
GLYPH_MAX_ASPECT = 2.5  # pattern: the marks' median height over width above this is strokes of line tone ...
GLYPH_GRID = 0.6  # ... or this share of them in columns as well as rows
GLYPH_MAX_HEIGHT = 0.45  # of the shape's height: taller marks are drawing, not lettering


def components(mask: np.ndarray, *, diagonal: bool = False) -> tuple[np.ndarray, int]:
    """Connected components of ``mask`` (h, w) bool, 4-connected (``diagonal``: 8-connected) ->
    (labels int64 (h, w): 0 off the mask, 1..n; n), what scipy.ndimage.label gives, in numpy
    alone: union-find over the mask's horizontal runs. Runs that touch across rows are joined,
    each root hooked under the smallest root it meets and every run pointed straight at its
    root, until no touching pair differs."""
    ids = run_ids(mask)
    n = int(ids.max()) if ids.size else 0
    if n == 0:
        return np.zeros(mask.shape, dtype=np.int64), 0
    pairs = [(ids[:-1], ids[1:])]
    if diagonal:
        pairs += [(ids[:-1, :-1], ids[1:, 1:]), (ids[:-1, 1:], ids[1:, :-1])]
    u = np.concatenate([a[(a > 0) & (b > 0)] for a, b in pairs])
    v = np.concatenate([b[(a > 0) & (b > 0)] for a, b in pairs])
    parent = np.arange(n + 1)
    if u.size:
        key = np.unique(u * (n + 1) + v)
        u, v = key // (n + 1), key % (n + 1)
        while True:
            pu, pv = parent[u], parent[v]
            differ = pu != pv
            if not differ.any():
                break
            np.minimum.at(parent, np.maximum(pu, pv)[differ], np.minimum(pu, pv)[differ])
            while True:
                up = parent[parent]
                if np.array_equal(up, parent):
                    break
                parent = up
    roots, order = np.unique(parent[1:], return_inverse=True)
    relabel = np.concatenate([[0], order.ravel() + 1])
    return relabel[ids], len(roots)


def boxes(labels: np.ndarray, n: int) -> np.ndarray:
    """labels (h, w) int 0..n -> (n + 1, 4) int64: each label's bounding box (top, bottom, left,
    right), bottom and right exclusive (row 0, the background's, is meaningless). Read from the
    labels' horizontal runs, far fewer than their pixels."""
    h, w = labels.shape
    change = np.ones((h, w + 1), dtype=bool)
    change[:, 1:w] = labels[:, 1:] != labels[:, :-1]
    ys, xs = np.nonzero(change[:, :w] & (labels > 0))  # where each run starts ...
    ye, xe = np.nonzero(change[:, 1:] & (labels > 0))  # ... and ends, in the same order
    which = labels[ys, xs]
    box = np.zeros((n + 1, 4), dtype=np.int64)
    box[:, 0], box[:, 2] = h, w
    np.minimum.at(box[:, 0], which, ys)
    np.maximum.at(box[:, 1], which, ye + 1)
    np.minimum.at(box[:, 2], which, xs)
    np.maximum.at(box[:, 3], which, xe + 1)
    return box


def fill_holes(shape: np.ndarray) -> np.ndarray:
    """shape (h, w) bool -> the same with its holes filled: everything that a 4-connected path
    off ``shape`` does not join to the outside of the box (letters in a balloon, and the
    counters of its O's)."""
    outside, _ = components(np.pad(~shape, 1, constant_values=True))
    return (outside != outside[0, 0])[1:-1, 1:-1]


def reduced(levelled: np.ndarray, inside: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """levelled (h, w) float32 L and inside (h, w) bool, reduced ``step`` times each way: each
    block's mean L (a block's darkest would close the gaps between letters) and whether any of
    it is inside."""
    if step <= 1:
        return levelled, inside
    pad = ((0, -levelled.shape[0] % step), (0, -levelled.shape[1] % step))
    blocks = [np.pad(a, pad, mode="edge") for a in (levelled, inside)]
    h, w = blocks[0].shape[0] // step, blocks[0].shape[1] // step
    return (blocks[0].reshape(h, step, w, step).mean(axis=(1, 3)),
            blocks[1].reshape(h, step, w, step).any(axis=(1, 3)))


def lettered_shapes(lightness: "Lightness", ground: np.ndarray, *, factor: int, paper_l: float,
                    white_on_black: bool = False) -> tuple[np.ndarray, int]:
    """ground (h, w) bool: the cells a balloon's inside is made of (paper; with
    ``white_on_black``, solid ink) -> (the balloons' cells (h, w) bool, their count). A
    candidate is a component of ground cells with its holes (:func:`fill_holes`), having holes,
    BALLOON_MIN_AREA to BALLOON_MAX_AREA of the page, at least BALLOON_MIN_CELLS across,
    filling BALLOON_SOLIDITY of its box, at most BALLOON_MAX_HOLES of it holes, at least
    BALLOON_BLANK of it margins (ground BALLOON_BLANK_PX from its holes, growing with the page
    beyond 1200 px); it is a balloon if its holes are :func:`lettering` (white on black: a box,
    filling BOX_SOLIDITY of its bounding box, and the levelled L turned over, so that paper
    letters are the marks)."""
    labels, n = components(ground)
    cells = np.zeros_like(ground)
    f = int(factor)
    own = np.bincount(labels.ravel(), minlength=n + 1)
    box = boxes(labels, n)
    tall, wide = box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]
    least, most = BALLOON_MIN_AREA * ground.size, BALLOON_MAX_AREA * ground.size
    # A balloon cut by the image's edge is one too; the gutters' paper, with the panels it holds, is too big.
    candidate = ((tall >= BALLOON_MIN_CELLS) & (wide >= BALLOON_MIN_CELLS) & (own <= most)
                 & (own >= (1.0 - BALLOON_MAX_HOLES) * least) & (tall * wide >= least))
    candidate[0] = False
    height, width = lightness.shape
    side = page_side(height, width)
    reach, tight = (max(1, round(max(px, px * side / 1200) / f))
                    for px in (BALLOON_BLANK_PX, BALLOON_TIGHT_PX))
    count = 0
    for k in np.flatnonzero(candidate):
        top, bottom, left, right = (int(v) for v in box[k])
        inside = fill_holes(labels[top:bottom, left:right] == k)
        size = int(inside.sum())
        if not (least <= size <= most and own[k] < size and size - own[k] <= BALLOON_MAX_HOLES * size
                and size >= (BOX_SOLIDITY if white_on_black else BALLOON_SOLIDITY) * tall[k] * wide[k]):
            continue
        # Roomy lettering passes the type tests alone; tight lettering (a caption with a few pixels
        # of room) must also not be a pattern (:func:`pattern`), as a screen's dots or panes are.
        roomy = margins(inside, ground[top:bottom, left:right], reach) >= BALLOON_BLANK * size
        if not roomy and margins(inside, ground[top:bottom, left:right], tight) < BALLOON_BLANK * size:
            continue
        y0, y1, x0, x1 = top * f, min(height, bottom * f), left * f, min(width, right * f)
        pixels = np.repeat(np.repeat(inside, f, axis=0), f, axis=1)[:y1 - y0, :x1 - x0]
        levelled = levelled_l(lightness.rows(y0, y1)[:, x0:x1], paper_l)
        if white_on_black:
            levelled = 100.0 - levelled
        if lettering(*reduced(levelled, pixels, -(-side // LETTERING_SIDE)), patterns=not roomy):
            cells[top:bottom, left:right] |= inside
            count += 1
    return cells, count


def margins(inside: np.ndarray, paper: np.ndarray, reach: int) -> int:
    """inside (h, w) bool, a closed shape with its holes, and paper (h, w) bool -> the cells of
    its paper at least ``reach`` cells from its holes: a balloon's margins around its lettering
    (a screen's dots leave none)."""
    return int((inside & paper & ~grow(inside & ~paper, reach)).sum())


def lettering(levelled: np.ndarray, inside: np.ndarray, *, patterns: bool = False) -> bool:
    """levelled (h, w) float32 L (paper 100) of a closed shape's bounding box, ``inside`` (h, w)
    bool the shape -> whether the ink inside is lettering (:func:`on_lines`), set in rows or, as
    Japanese is, in columns: GLYPHS_MIN to GLYPHS_MAX marks of 8-connected ink (darker than
    GLYPH_INK_L, or than half-way from paper to the inside's darkest: a blurred scan's small type
    is grey). A face's eyes and mouth are too few or too far apart, its hair and folds too tall,
    a row of rivets too alike. Chosen on test pages made from val art and on renders of the
    train split (2 % of them had such shapes before the last three rules of :func:`on_lines`)."""
    core = float(np.percentile(levelled[inside], GLYPH_CORE_PERCENTILE))
    ink = inside & (levelled < max(GLYPH_INK_L, (100.0 + core) / 2.0))
    labels, n = components(ink, diagonal=True)
    if not GLYPHS_MIN <= n <= GLYPHS_MAX:
        return False
    box = boxes(labels, n)[1:]
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    return (on_lines(box, area, rows[-1] - rows[0] + 1, patterns=patterns)
            or on_lines(box[:, [2, 3, 0, 1]], area, cols[-1] - cols[0] + 1, patterns=patterns))  # columns: turned


def chains(near: np.ndarray) -> np.ndarray:
    """near (n, n) bool, which marks are neighbours on a line -> (n,) int: a label per chain (the
    connected marks of a line: a word, or words close together), the smallest index in it."""
    near = near | near.T
    label = np.arange(len(near))
    while True:
        lower = np.where(near, label[None, :], len(near)).min(axis=1)
        new = np.minimum(label, lower)
        if np.array_equal(new, label):
            return label
        label = new


def straight(chain: np.ndarray, x: np.ndarray, y: np.ndarray, glyph: float) -> np.ndarray:
    """chain (n,) labels (:func:`chains`), the marks' centres (x, y) -> (n,) bool: the marks that
    lie within GLYPH_DRIFT glyph heights of the straight line through their chain (least
    squares; a JPEG speck that joined a line falls off it alone), in a chain at most GLYPH_SLOPE
    steep where it is GLYPH_SLOPE_SPAN glyphs long or more (a short chain's slope means little):
    a line of type, also set a little aslant, not a staircase of hatching."""
    k = len(chain)
    count = np.bincount(chain, minlength=k).astype(np.float64)
    sx, sy = np.bincount(chain, x, k), np.bincount(chain, y, k)
    sxx, sxy = np.bincount(chain, x * x, k), np.bincount(chain, x * y, k)
    denom = count * sxx - sx * sx
    slope = np.divide(count * sxy - sx * sy, denom, out=np.zeros_like(denom), where=denom > 1e-9)
    offset = np.divide(sy - slope * sx, count, out=np.zeros_like(sy), where=count > 0)
    low, high = np.full(k, np.inf), np.full(k, -np.inf)
    np.minimum.at(low, chain, x)
    np.maximum.at(high, chain, x)
    steep = (np.abs(slope) > GLYPH_SLOPE) & (high - low >= GLYPH_SLOPE_SPAN * glyph)
    return ~steep[chain] & (np.abs(y - offset[chain] - slope[chain] * x) <= GLYPH_DRIFT * glyph)


def pattern(box: np.ndarray, chain: np.ndarray) -> bool:
    """box (n, 4) of marks on lines, chain (n,) their lines' labels -> whether they are a pattern
    rather than type: marks GLYPH_MAX_ASPECT times taller than wide (strokes of line tone), or,
    on two lines or more, GLYPH_GRID of them with a mark of another line centred within a pixel
    (they stand in columns too: a window's panes, a grid of dots; letters of different widths
    fall in columns by chance only)."""
    tall = float(np.median((box[:, 1] - box[:, 0]) / np.maximum(box[:, 3] - box[:, 2], 1))) > GLYPH_MAX_ASPECT
    if tall or len(np.unique(chain)) < 2:
        return tall
    x = (box[:, 2] + box[:, 3]) / 2.0
    other = chain[:, None] != chain[None, :]
    return float((other & (np.abs(x[:, None] - x[None, :]) <= 1.0)).any(axis=1).mean()) >= GLYPH_GRID


def on_lines(box: np.ndarray, area: np.ndarray, across: int, *, patterns: bool = False) -> bool:
    """box (n, 4) int: marks' bounding boxes (top, bottom, left, right), area (n,) their ink
    pixels; ``across``: the shape's height -> whether they are lines of type running left to
    right. The marks no taller than GLYPH_MAX_HEIGHT of the shape are neighbours on a line when
    their centres lie within GLYPH_LINE glyph heights (the median), their gap is under
    GLYPH_GAP of them and they are of about one height (or longer side); marks on lines are
    those in a chain of GLYPH_CHAIN or more neighbours (:func:`chains`) that runs straight
    (:func:`straight`). Lettering: GLYPHS_MIN or more marks on lines, holding
    GLYPH_INK_SHARE of the ink, GLYPH_MIN_PX or taller, of widths or heights that vary
    (GLYPH_WIDTH_SPREAD)."""
    heights = box[:, 1] - box[:, 0]
    small = heights <= GLYPH_MAX_HEIGHT * across
    if small.sum() < GLYPHS_MIN:
        return False
    glyph = float(np.median(heights[small]))
    centre = (box[:, 0] + box[:, 1]) / 2.0
    same_line = np.abs(centre[:, None] - centre[None, :]) <= GLYPH_LINE * glyph
    gap = np.maximum(box[None, :, 2] - box[:, None, 3], box[:, None, 2] - box[None, :, 3])
    alike = np.zeros(same_line.shape, dtype=bool)
    for size in (heights, np.maximum(heights, box[:, 3] - box[:, 2])):  # longer sides: an "I" and a "W" in a column
        alike |= (size[None, :] >= 0.4 * size[:, None]) & (size[None, :] <= 2.5 * size[:, None])
    near = same_line & (gap <= GLYPH_GAP * glyph) & alike & small[None, :]
    np.fill_diagonal(near, False)
    chain = chains(near)
    on_line = small & (np.bincount(chain, minlength=len(chain))[chain] >= GLYPH_CHAIN) & straight(
        chain, (box[:, 2] + box[:, 3]) / 2.0, centre, glyph)
    sizes = [(box[:, 3] - box[:, 2])[on_line], heights[on_line]]  # capitals set in a column are all one height
    return (int(on_line.sum()) >= GLYPHS_MIN and glyph >= GLYPH_MIN_PX
            and area[on_line].sum() >= GLYPH_INK_SHARE * area.sum()
            and max(size.std() / size.mean() for size in sizes) >= GLYPH_WIDTH_SPREAD
            and not (patterns and pattern(box[on_line], chain[on_line])))


@dataclass(frozen=True)
class Balloons:
    """A page's balloons: ``cells`` (h, w) bool on a grid of ``factor`` x ``factor`` input
    pixels, each balloon's inside (its paper and its lettering, not its outline); ``count``."""

    cells: np.ndarray
    factor: int
    count: int = 0

    @classmethod
    def find(cls, lightness: "Lightness", l_darkest: np.ndarray, *, factor: int, paper_l: float,
             l_lightest: np.ndarray | None = None) -> "Balloons":
        """l_darkest (h, w) float32: the page's darkest CIE L per cell of ``factor`` px, not
        levelled (:meth:`irodori.imageio.Lightness.darkest`); ``lightness``: the page at full
        resolution, read inside each candidate's box for :func:`lettering`; ``paper_l``: the
        page's paper L. Balloons are the :func:`lettered_shapes` of the paper cells (levelled L
        >= SHEET_MIN_L). With ``l_lightest`` (each cell's lightest L), also narration boxes
        printed white on black: the lettered shapes of the cells that are solid ink (levelled
        L < SOLID_INK_L), whose letters are paper."""
        f = int(factor)
        cells, count = lettered_shapes(lightness, levelled_l(l_darkest, paper_l) >= SHEET_MIN_L, factor=f,
                                       paper_l=paper_l)
        if l_lightest is not None:
            inverse, more = lettered_shapes(lightness, levelled_l(l_lightest, paper_l) < SOLID_INK_L, factor=f,
                                            paper_l=paper_l, white_on_black=True)
            cells, count = cells | inverse, count + more
        return cls(cells, f, count)

    def rows(self, y0: int, y1: int, width: int) -> np.ndarray:
        """The balloons' insides in input rows y0:y1: (y1 - y0, width) bool."""
        return self.cells[np.arange(y0, y1) // self.factor][:, np.arange(width) // self.factor]


__all__ = ["Balloons", "boxes", "chains", "components", "fill_holes", "lettered_shapes", "lettering", "on_lines",
           "pattern", "straight"]
