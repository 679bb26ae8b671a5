"""Paint mode: ink on paper becomes a colour page (numpy only; no torch).

A printed or scanned black-and-white page is ink on paper: skin, sky and clothes are white
paper, mid-tones are screentone dots, shadows solid ink. Keeping its lightness (tint) can only
tint it. A colourist instead lays the line art over colour flats and shading on a Multiply
layer. Paint mode does the same with a paint model's predicted lightness ``l_paint`` (flats and
shading, from :mod:`irodori.model`) and chroma:

    L_out = min(l_paint, L_ink)        ab_out = ab * L_out / l_paint

``L_ink`` is the input's own lightness at full resolution, levelled so that its paper is white
(L 100). Where the page is paper, the colour shows; where it is ink, the ink is kept exactly as
dark and as sharp as printed (a darken composite: unlike a plain multiply it never makes a line
darker than it was) and loses its chroma in proportion. With ``tone="keep"`` the screentone
dots are part of the ink layer and stay as a printed texture over the colour; with
``tone="flat"`` (the default, as a colour edition looks) :func:`flatten_tone` removes dots from
the ink layer first, so toned regions take the network's smooth colour (its ``l_paint`` has
already read the tone as a grey).

:func:`page_stats` and :func:`choose_mode` are the detector that decides, once per image,
whether an image is ink on paper (paint) or a photograph or grey painting (tint).

Line art (an emoji, a colouring page, a character on a blank sheet) is painted as a colourist
flats it: the figure gets colour and the blank sheet around it stays paper.
:func:`choose_background` decides that per image, and :func:`background_mask` finds the sheet:
the paper reachable from the image's border without crossing a line.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from irodori.imageio import is_strip, page_side

if TYPE_CHECKING:
    from irodori.balloons import Balloons
    from irodori.imageio import Lightness

MODES = ("tint", "paint")
TONES = ("flat", "keep")
BACKGROUNDS = ("paint", "paper", "gutters")


def unused_paint_settings(tone: str | None, background: str | None, mode: str | None, *,
                          paints: bool | None = None, model: str = "") -> str | None:
    """Paint mode's settings that will not be used -> a warning, in the command line's words
    (the server rewords its flags), or None: a ``tone`` other than flat or a ``background`` other
    than auto (None: not given) with ``mode`` tint, or for a ``model`` that cannot paint
    (``paints`` False; None: not known yet). A helper's ``--background gutters --mode tint`` was
    taken without a word, and so was the same in the API (helper 62)."""
    given = [f"--{name} {value}" for name, value, default in
             (("tone", tone, "flat"), ("background", background, "auto")) if value not in (None, default)]
    if not given:
        return None
    settings = f"{' and '.join(given)}: paint mode's setting{'' if len(given) == 1 else 's'}, unused"
    if mode == "tint":
        return f"{settings}: --mode tint keeps each image's lightness and paints nothing"
    if paints is False:
        return f"{settings}: {model} cannot paint (it keeps each image's lightness); the manga model paints"
    return None
PAPER_PERCENTILE = 97.0  # the paper's lightness: the 97th percentile of the page's L
# Directions of the line openings (dy, dx): a stroke is kept if it is long in one of them.
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def tone_length(height: int, width: int) -> int:
    """The shortest ink stroke kept by ``tone="flat"``, in input pixels: 7 px on a 1200 px page
    (screentone dots there are 2-5 px across), growing with the page (a 600-dpi scan's dots are
    larger in pixels), at most 15."""
    return int(np.clip(round(7 * page_side(height, width) / 1200), 5, 15))


TONE_DENSITY = 0.1  # a pixel is in a toned region when this share of its neighbourhood is dots
DOT_CONTRAST = 40  # ink darkness (0-255) a dot stands above what the opening leaves


def box_sum(mask: np.ndarray, radius: int) -> np.ndarray:
    """Sum of a bool or 0/1 (H, W) over (2 radius + 1)^2 windows clipped at the edges: int32
    (H, W) (float64 for a float input), by cumulative sums along each axis in turn (an integral
    image read by slices, not gathered)."""
    total = mask if mask.dtype.kind == "f" else mask.astype(np.int32, copy=False)
    for axis in (0, 1):
        total = _window_sums(total, radius, axis)
    return total


def _window_sums(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Sums of ``values`` (H, W) along ``axis`` over windows of 2 radius + 1, clipped at the ends:
    differences of a cumulative sum held at zero before the start and at the total past the end."""
    n = values.shape[axis]
    kind = np.float64 if values.dtype.kind == "f" else np.int32
    if axis == 0:  # row by row: numpy's cumsum down the columns of a C-ordered array strides, 2.5 times slower
        cumulative = np.empty((n + 2 * radius + 1, values.shape[1]), kind)
        cumulative[:radius + 1] = 0
        for i in range(n):
            np.add(cumulative[radius + i], values[i], out=cumulative[radius + 1 + i])
        cumulative[radius + 1 + n:] = cumulative[radius + n]
        return cumulative[2 * radius + 1:] - cumulative[:n]
    cumulative = np.empty((values.shape[0], n + 2 * radius + 1), kind)
    cumulative[:, :radius + 1] = 0
    np.cumsum(values, axis=1, out=cumulative[:, radius + 1:radius + 1 + n])
    cumulative[:, radius + 1 + n:] = cumulative[:, radius + n:radius + n + 1]
    return cumulative[:, 2 * radius + 1:] - cumulative[:, :n]


def window_counts(height: int, width: int, radius: int) -> np.ndarray:
    """How many pixels of an (H, W) image each of :func:`box_sum`'s clipped windows holds: (H, W) int."""
    def along(n: int) -> np.ndarray:
        i = np.arange(n)
        return np.minimum(i + radius + 1, n) - np.maximum(i - radius, 0)
    return along(height)[:, None] * along(width)[None, :]


def box_mean(mask: np.ndarray, radius: int) -> np.ndarray:
    """Mean of a bool (H, W) over (2 radius + 1)^2 windows (clipped at the edges): float64 (H, W)."""
    return box_sum(mask, radius) / window_counts(*mask.shape, radius)


def strokes(dark: np.ndarray, length: int) -> np.ndarray:
    """The ink's strokes: ``dark`` (..., H, W) uint8 or float32 ink darkness -> the same, with every
    feature shorter than ``length`` px in all four directions (0, 90, 45, 135 degrees) taken
    away: the maximum over directions of a grey-level opening by a line segment."""
    h, w = dark.shape[-2:]
    m = length
    out = np.zeros_like(dark)
    edge = [(0, 0)] * (dark.ndim - 2) + [(m, m), (m, m)]
    pad = np.pad(dark, edge)
    for dy, dx in _DIRECTIONS:
        n = length if dy == 0 or dx == 0 else max(3, round(length / np.sqrt(2)))
        offsets = [k - n // 2 for k in range(n)]
        eroded = pad[..., m:m + h, m:m + w].copy()
        for k in offsets:
            if k:
                np.minimum(eroded, pad[..., m + k * dy:m + k * dy + h, m + k * dx:m + k * dx + w], out=eroded)
        epad = np.pad(eroded, edge)
        opened = eroded.copy()
        for k in offsets:
            if k:
                np.maximum(opened, epad[..., m - k * dy:m - k * dy + h, m - k * dx:m - k * dx + w], out=opened)
        np.maximum(out, opened, out=out)
    return out


def stroke_mask(mask: np.ndarray, length: int) -> np.ndarray:
    """``mask`` (H, W) bool -> what of it lies on a line segment of ``length`` px (0 and 90
    degrees; ``length`` / sqrt 2 at 45 and 135) that it holds whole: the union over directions
    of binary openings, each erosion and dilation by a segment found in log2(length) steps
    (van Herk 1992, Gil and Werman 1993, for one direction). By threshold decomposition,
    ``stroke_mask(dark > t, n)`` is ``strokes(dark, n) > t`` at any length, without its
    ``length`` passes a direction."""
    m = length
    pad = np.pad(mask.astype(bool), m)  # (a shift's lost edge then lies in the margin)
    out = np.zeros_like(pad)
    for dy, dx in _DIRECTIONS:
        n = length if dy == 0 or dx == 0 else max(3, round(length / np.sqrt(2)))
        o = -(n // 2)  # the segment runs from o to o + n - 1 steps of (dy, dx)
        eroded = _shifted(_segment_fold(pad, n, dy, dx, np.logical_and), o * dy, o * dx)
        out |= _shifted(_segment_fold(eroded, n, -dy, -dx, np.logical_or), -o * dy, -o * dx)
    return out[m:-m, m:-m]


def _segment_fold(mask: np.ndarray, n: int, dy: int, dx: int, op: np.ufunc) -> np.ndarray:
    """``op`` of mask[p], mask[p + d], ... mask[p + (n - 1) d] for every pixel p (False past the
    edges), in doubling steps."""
    out, span = mask.copy(), 1
    while span < n:
        step = min(span, n - span)
        out = op(out, _shifted(out, step * dy, step * dx))
        span += step
    return out


def _shifted(mask: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """out[y, x] = mask[y + sy, x + sx], False outside."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(sy) < h and abs(sx) < w:
        out[max(0, -sy):h - max(0, sy), max(0, -sx):w - max(0, sx)] = \
            mask[max(0, sy):h - max(0, -sy), max(0, sx):w - max(0, -sx)]
    return out


def flatten_tone(dark: np.ndarray, length: int, screen: np.ndarray | None = None) -> np.ndarray:
    """Remove screentone dots from an ink layer, keeping lines, lettering and solid blacks.

    ``dark`` (H, W) uint8 ink darkness (0 paper .. 255 solid ink) -> the same with the dots of
    toned regions removed. A dot is a dark feature shorter than ``length`` px in all four
    directions (0, 90, 45, 135 degrees): what the maximum over directions of a grey-level opening
    by a line segment takes away (a stroke is long along itself, solid black everywhere). Only
    where such features cover at least ``TONE_DENSITY`` of the surrounding 4 ``length`` square
    (a screen of dots) is the opening used; a letter, a full stop or a short stroke on paper
    stays. Dense tones whose dots merge into a dark mesh are long too, and stay as texture.
    ``screen`` (H, W) bool, where the page's dots lie on a lattice (:class:`Screentone`): the
    opening is used only there too, so that small lettering, as dense in short strokes as a
    screen but not regular, keeps its letters, and there it also takes the dots within 2
    ``length`` of where the density holds (a screen's edge along an outline). None: wherever the
    density says (the training renders, whose tones are all screens).
    """
    out = strokes(dark, length)
    reach = 2 * length
    toned = box_mean((dark.astype(np.int16) - out) > DOT_CONTRAST, reach) >= TONE_DENSITY
    if screen is not None:
        # a screen's last dots, whose window is half line or paper (under TONE_DENSITY on a sparse
        # screen), lie within the window's reach of its toned pixels: taken too, inside the
        # screen's cells (helper 57: a sparse screen kept a dotted frame along its outlines)
        toned = (box_sum(toned, reach) > 0) & screen
    return np.where(toned, out, dark)


SCREEN_REGULARITY = 0.5  # a cell is screentone when its autocorrelation peaks this high in two directions
SCREEN_EDGE_REGULARITY = 0.4  # ... or this high beside such a cell (a screen's edge: Screentone)
SCREEN_MIN_EDGES = 0.08  # ink edges per pixel (rows and columns): a sparser window cannot hold a screen's dots
SCREEN_CELL = 6  # tone lengths a cell
SCREEN_MARGIN = 1.0  # tone lengths of context around each cell in its window
SCREEN_BAND_PIXELS = 1 << 17  # Screentone.find reads the page in bands of about this many pixels (cache-sized)
_SCREEN_APART = np.pi / 6  # the two peaks' directions differ by at least 30 degrees


def lattice_regularity(windows: np.ndarray, reach: int) -> np.ndarray:
    """How regularly dots repeat in each window: (K, n, n) float32 ink darkness -> (K,) float32
    in [-1, 1], the second of two autocorrelation peaks in directions at least 30 degrees apart.

    The windows' circular autocorrelation (by FFT, normalised to 1 at zero shift) is searched at
    shifts of 1.5 to ``reach`` px for local maxima. A screen of dots, square or hexagonal, has
    peaks near 1 along two lattice vectors; lettering has at most one direction that repeats
    (along the line of text, or the line spacing) and no second one. Autocorrelation peaks as
    the measure of a texture's periodicity: Haralick, "Statistical and structural approaches to
    texture", Proc. IEEE 67(5), 1979."""
    n = windows.shape[-1]
    x = windows - windows.mean(axis=(1, 2), keepdims=True)
    spectrum = np.fft.rfft2(x)
    ac = np.fft.irfft2(spectrum.real ** 2 + spectrum.imag ** 2, s=(n, n))
    ac /= np.maximum(ac[:, :1, :1], 1e-6)
    shifts = np.arange(-reach - 1, reach + 2)
    block = ac[:, shifts % n][:, :, shifts % n]  # shifts -reach-1 .. reach+1 on both axes
    inner = block[:, 1:-1, 1:-1]
    peak = np.ones(inner.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                peak &= inner >= block[:, 1 + dy:block.shape[1] - 1 + dy, 1 + dx:block.shape[2] - 1 + dx]
    dy, dx = np.meshgrid(shifts[1:-1], shifts[1:-1], indexing="ij")
    ring = (np.hypot(dy, dx) >= 1.5) & (np.hypot(dy, dx) <= reach) & ((dy > 0) | ((dy == 0) & (dx > 0)))
    values = np.where(peak, inner, -1.0)[:, ring]  # (K, shifts in a half plane: the other is its mirror)
    angle = np.arctan2(dy, dx)[ring]
    first = angle[values.argmax(axis=1)]
    apart = np.abs((angle[None, :] - first[:, None] + np.pi / 2) % np.pi - np.pi / 2) > _SCREEN_APART
    return np.where(apart, values, -1.0).max(axis=1).astype(np.float32)


@dataclass(frozen=True)
class Screentone:
    """Where a page's dots are screentone: cells of ``SCREEN_CELL`` x the tone length a side
    whose dots lie on a lattice (:func:`lattice_regularity` of the cell and ``SCREEN_MARGIN`` tone
    lengths around it at least ``SCREEN_REGULARITY``, on the ink as it is or, for a cell that
    fails, on its dots alone: the ink less its :func:`strokes`, since a panel's frame or a
    balloon's outline through a screen is no part of its lattice), and, beside such cells, the cells at a
    screen's edge, only partly toned: those with too few ink edges to test, or regular to at least
    ``SCREEN_EDGE_REGULARITY`` (a hysteresis, as Canny's edge detector keeps weak edges next to
    strong ones). :func:`flatten_tone` flattens dots only there, so small lettering on paper
    stays, even a cell away from a screen.

    ``cells``: bool (ch, cw); ``size``: the cells' side in input pixels."""

    cells: np.ndarray
    size: int

    @classmethod
    def find(cls, lightness: "Lightness", *, paper_l: float, length: int, workers: int = 1) -> "Screentone":
        """Read the page's L (:class:`irodori.imageio.Lightness`) in bands of cell rows, levelled
        so that ``paper_l`` is white, and test each cell busy with ink edges; bands on
        ``workers`` threads (numpy's FFT releases the GIL)."""
        height, width = lightness.shape
        size = SCREEN_CELL * length
        ch, cw = -(-height // size), -(-width // size)
        step = max(1, SCREEN_BAND_PIXELS // (size * width))

        def band(i0: int) -> np.ndarray:
            i1 = min(ch, i0 + step)
            margin = round(SCREEN_MARGIN * length)
            top, bottom = i0 * size - margin, i1 * size + margin
            rows = lightness.rows(max(0, top), min(height, bottom))
            dark = (100.0 - levelled_l(rows, paper_l)) * 2.55
            above = max(0, -top)  # beyond the page is paper
            dark = np.pad(dark.astype(np.float32), ((above, bottom - top - above - dark.shape[0]),
                                                    (margin, cw * size - width + margin)))
            n = size + 2 * margin
            windows = np.lib.stride_tricks.sliding_window_view(dark, (n, n))[::size, ::size]
            windows = windows[:i1 - i0, :cw].reshape(-1, n, n)
            ink = windows > 64  # a quarter dark: the ink whose edges are counted
            edges = (ink[:, 1:] != ink[:, :-1]).mean(axis=(1, 2)) + (ink[:, :, 1:] != ink[:, :, :-1]).mean(axis=(1, 2))
            busy = edges >= SCREEN_MIN_EDGES  # paper, solid black and a few lines need no test
            regularity = np.full(len(windows), np.nan, np.float32)  # not tested: too few ink edges
            if busy.any():
                regularity[busy] = lattice_regularity(windows[busy], 2 * length)
            again = busy & (regularity < SCREEN_REGULARITY)
            if again.any():  # the dots alone: lines and frames among them (a panel's edge) are no part of the lattice
                dots = windows[again] - strokes(windows[again], length)
                regularity[again] = np.maximum(regularity[again], lattice_regularity(dots, 2 * length))
            return regularity.reshape(i1 - i0, cw)

        starts = range(0, ch, step)
        if workers > 1 and len(starts) > 1:
            with ThreadPoolExecutor(workers) as pool:
                bands = list(pool.map(band, starts))
        else:
            bands = [band(i0) for i0 in starts]
        regularity = np.concatenate(bands)
        screen = np.nan_to_num(regularity, nan=-1.0) >= SCREEN_REGULARITY
        # a screen's edge: the cells beside it, partly toned, unless busy with something irregular (lettering)
        edge = grow(screen, 1) & ~(np.nan_to_num(regularity, nan=1.0) < SCREEN_EDGE_REGULARITY)
        return cls(cells=screen | edge, size=size)

    def rows(self, y0: int, y1: int, width: int) -> np.ndarray:
        """The screentone mask of input rows y0:y1: (y1 - y0, width) bool."""
        return self.cells[np.arange(y0, y1) // self.size][:, np.arange(width) // self.size]


def ink_layer(l_rows: np.ndarray, *, paper_l: float, tone: str, length: int,
              screen: np.ndarray | None = None) -> np.ndarray:
    """The ink layer of a band of rows: l_rows (R, W) float32 CIE L in [0, 100] -> L_ink (R, W)
    float32, levelled so the paper is L 100; with ``tone="flat"`` screentone dots removed
    (:func:`flatten_tone`, only where ``screen`` (R, W) bool says the dots are a screen, if
    given). Raises ValueError for an unknown tone."""
    if tone not in TONES:
        raise ValueError(f"tone must be one of {', '.join(TONES)}")
    levelled = levelled_l(l_rows, paper_l)
    if tone == "flat":
        dark = np.round((100.0 - levelled) * 2.55).astype(np.uint8)
        levelled = 100.0 - flatten_tone(dark, length, screen).astype(np.float32) / 2.55
    return levelled.astype(np.float32)


def composite(l_paint: np.ndarray, a: np.ndarray, b: np.ndarray, l_ink: np.ndarray, *, black_l: float = 0.0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour under ink: (l_paint, a, b) the predicted colour page and l_ink the ink layer, all
    (R, W) float32 Lab -> (L, a, b) of the output: L = min(l_paint, l_ink) (ink never lighter or
    darker than printed), chroma scaled by (L - black_l) / (l_paint - black_l), clipped to [0, 1]:
    ink is black, not dark colour, and the page's own black (``black_l``, the levelled L of its
    solid ink: a grey ink on a yellowed scan is L 15) has no chroma left."""
    l_out = np.minimum(l_paint, l_ink)
    scale = np.clip((l_out - black_l) / np.maximum(l_paint - black_l, 1e-3), 0.0, 1.0)
    return l_out, a * scale, b * scale


LINE_L = 25.0  # CIE L on the network's grid: darker is a line (or solid ink) whose colour the network cannot know
LINE_SHADOW = 4  # grid pixels beside a line where the network's colour fades towards the line's grey


def flats_to_lines(lab: np.ndarray, l_small: np.ndarray, *, shadow: int = LINE_SHADOW) -> np.ndarray:
    """lab (3, h, w) float32, the paint model's colour on its grid, and l_small (h, w) the
    input's CIE L on the same grid -> lab with each region's colour carried up to and under its
    lines, as a colourist's flats run under the line art.

    The network learns that ink has no chroma, and its colour fades towards grey over a few
    pixels before each line, a pale halo inside every outline. Here the pixels within ``shadow``
    of a line (l_small < LINE_L) and the lines themselves take, ring by ring, the mean colour of
    their 4-neighbours already settled; a ring grows only over paper, so a region's colour does
    not cross its line, and then under the line, at most 2 * ``shadow`` rings deep (solid blacks
    keep the network's colour inside)."""
    line = l_small < LINE_L
    if not line.any():
        return lab
    h, w = line.shape
    out = np.ascontiguousarray(lab, dtype=np.float32).reshape(3, -1).copy()
    line = line.ravel()
    settled = ~grow(line.reshape(h, w), shadow).ravel()
    _settle_rings(out, settled, ~line, w, shadow)
    settled |= ~line  # a region narrower than the shadow keeps the network's colour
    _settle_rings(out, settled, line, w, 2 * shadow)
    return out.reshape(lab.shape)


SHAPE_L = 50.0  # line art on the network's grid, at its darkest per cell: lighter is the inside of a shape
SHAPE_MIN_PIXELS = 20  # grid pixels: a smaller shape (an eye, a gap between two lines) keeps the network's colour
FLAT_CLOSE = 2  # grid pixels the lines grow by while shapes are told apart: gaps up to twice as wide are closed,
# as the blank sheet's fill closes them (a line grown by one of its cells, 2 grid pixels where the network sees 512)
FLAT_GROW_BACK = 6  # rings, by 4-neighbours, the shapes grow back by (a square's corner is 4 away; a corridor the
# closing took whole fills from its ends, and stays the network's colour further in: 64 rings scored the same on val)


def one_flat_per_shape(lab: np.ndarray, darkest: np.ndarray, *, min_pixels: int = SHAPE_MIN_PIXELS) -> np.ndarray:
    """lab (3, h, w) float32, the paint model's colour of line art on its grid, and darkest (h,
    w) the drawing's CIE L at its darkest per grid cell -> lab with each closed shape one flat
    colour: the median of its L, of its a and of its b, as a colourist lays flats.

    A shape is 4-connected pixels lighter than SHAPE_L, told apart from its neighbours with the
    lines grown by FLAT_CLOSE (a small gap in a line does not join two shapes, nor a shape to the
    sheet: helper 82), then grown back up to the lines; it must not reach the image's edge (the
    sheet around the drawing does; it stays paper) and must number at least ``min_pixels``. Line
    art says nothing about shading, and the network's guesses inside a shape were blotches of two
    or three colours. Chosen on val (OpenMoji line art, 84 images, ``manga-int8``, no hints):
    19.14 → 19.86 dB, colourfulness 97 → 94 % of the truth's; the 6 cartoons, whose truths are
    shaded, 13.65 → 13.78 (gaps left open: 19.86 and 13.66, closing 1 pixel 19.86 and 13.78; the
    median of a and b alone: OpenMoji 19.43; the mean of L, a and b: 19.66 and 91 %; half-way to
    the median: 19.37)."""
    from .balloons import components

    line = darkest <= SHAPE_L
    labels, n = components(~grow(line, FLAT_CLOSE) if FLAT_CLOSE else ~line)
    if n == 0:
        return lab
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    labels = _grown_back(labels, ~line, FLAT_GROW_BACK) if FLAT_CLOSE else labels
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    kept = counts >= min_pixels
    kept[0] = False
    kept[edge] = False
    ids = labels.ravel()
    inside = kept[ids]
    if not inside.any():
        return lab
    ids = ids[inside]
    out = np.ascontiguousarray(lab, dtype=np.float32).reshape(3, -1).copy()
    sizes = counts * kept
    middle = np.minimum(np.cumsum(sizes) - sizes + sizes // 2, ids.size - 1)  # in the sort by shape, then value
    shape_key = ids.astype(np.int64) << 22
    for channel in out:  # one sort of (shape, value) packed in an int64 (3 times a lexsort's speed)
        value_key = np.clip(np.rint((channel[inside] + 256.0) * 4096.0), 0, (1 << 22) - 1).astype(np.int64)
        median = (np.sort(shape_key | value_key)[middle] & ((1 << 22) - 1)) / 4096.0 - 256.0
        channel[inside] = median[ids]
    return out.reshape(lab.shape)


def _grown_back(labels: np.ndarray, allowed: np.ndarray, rings: int) -> np.ndarray:
    """labels (h, w) int (0: none) grown, ``rings`` times, into the unlabelled pixels of
    ``allowed`` beside them (4-neighbours; the larger label where two meet)."""
    out = labels.astype(np.int32)  # (half the bytes a ring moves)
    for _ in range(rings):
        near = np.zeros_like(out)
        near[1:] = np.maximum(near[1:], out[:-1])
        near[:-1] = np.maximum(near[:-1], out[1:])
        near[:, 1:] = np.maximum(near[:, 1:], out[:, :-1])
        near[:, :-1] = np.maximum(near[:, :-1], out[:, 1:])
        take = (out == 0) & allowed & (near > 0)
        if not take.any():
            break
        out[take] = near[take]
    return out


def _neighbours(pixels: np.ndarray, size: int, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Flat pixel indices -> their 4-neighbours as (indices, inside the image) pairs (a
    neighbour off the image is given as the pixel itself)."""
    col = pixels % width
    return [(np.where(inside, pixels + step, pixels), inside)
            for step, inside in ((-width, pixels >= width), (width, pixels < size - width),
                                 (-1, col > 0), (1, col < width - 1))]


def _settle_rings(lab: np.ndarray, settled: np.ndarray, where: np.ndarray, width: int, rings: int) -> None:
    """``rings`` rings of :func:`flats_to_lines` on flat pixels (``lab`` (3, n), ``settled`` (n,)
    bool, both written in place): each ring, every pixel of ``where`` not yet settled but beside
    a settled one takes the mean of its settled 4-neighbours. Only the ring's front is visited:
    the waiting pixels beside a settled one, then the neighbours of those just settled."""
    waiting = np.flatnonzero(where & ~settled)
    front = waiting[np.any([settled[near] & inside for near, inside in _neighbours(waiting, settled.size, width)],
                           axis=0)] if waiting.size else waiting
    for _ in range(rings):
        if front.size == 0:
            return
        weight = np.zeros(front.size, dtype=np.float32)
        total = np.zeros((lab.shape[0], front.size), dtype=np.float32)
        near_all = _neighbours(front, settled.size, width)
        for near, inside in near_all:
            taken = settled[near] & inside
            weight += taken
            total += lab[:, near] * taken
        lab[:, front] = total / weight
        settled[front] = True
        beside = np.zeros(settled.size, dtype=bool)
        for near, inside in near_all:
            beside[near[inside]] = True
        front = np.flatnonzero(beside & where & ~settled)


SHEET_MIN_L = 80.0  # levelled L: a cell at least this light is blank paper (barriers are anything darker)
SHEET_CLOSE = 1  # cells each line grows by while the sheet is filled (background_mask)
SHEET_ROUNDS = 24  # alternating row and column fills; a sheet reached by none after that stays painted


def run_ids(open_: np.ndarray) -> np.ndarray:
    """open_ (h, w) bool -> int (h, w): an id per horizontal run of True cells (runs end at a
    False cell and at each row's end); False cells get id 0."""
    h, w = open_.shape
    starts = open_.copy()
    starts[:, 1:] &= ~open_[:, :-1]
    return np.where(open_, np.cumsum(starts.ravel()).reshape(h, w), 0)


def grow(mask: np.ndarray, cells: int = 1, *, square: bool = True) -> np.ndarray:
    """mask (h, w) bool grown by ``cells`` cells (a binary dilation): in the 8 directions (by a
    square), or with ``square=False`` in the 4 straight ones (by a cross)."""
    out = mask.copy()
    for _ in range(cells):
        step = out.copy()
        step[1:] |= out[:-1]
        step[:-1] |= out[1:]
        across = step if square else out  # rows first, then columns of the result: a square
        step[:, 1:] |= across[:, :-1].copy()
        step[:, :-1] |= across[:, 1:].copy()
        out = step
    return out


def background_mask(l_darkest: np.ndarray, *, close: int = SHEET_CLOSE) -> np.ndarray:
    """l_darkest (h, w) float32: each cell's darkest levelled CIE L (paper 100; so a line one
    pixel wide still walls its cell, :meth:`irodori.imageio.Lightness.darkest`) -> bool (h, w):
    the blank sheet, the cells of paper (L >= SHEET_MIN_L) that a 4-connected path of paper joins
    to the image's border (a diagonal line one cell wide is a wall). Gaps in a sketchy line up
    to 2 * ``close`` cells wide are closed: the fill runs with the lines grown by ``close`` cells,
    and the sheet it finds is grown back as far over paper (a gap-closing fill, as paint programs
    offer).

    A flood fill made of whole-run steps: a run of paper cells along a row (or a column) that
    touches a reached cell is reached in full; rows and columns alternate until nothing changes,
    at most SHEET_ROUNDS times (any shape whose path bends fewer times is found exactly)."""
    open_paper = l_darkest >= SHEET_MIN_L
    paper = open_paper & ~grow(~open_paper, close) if close > 0 else open_paper
    reach = np.zeros_like(paper)
    reach[[0, -1], :] = paper[[0, -1], :]
    reach[:, [0, -1]] = paper[:, [0, -1]]
    reach = _flood(reach, paper)
    return grow(reach, close) & open_paper if close > 0 else reach


def _flood(reach: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """reach (h, w) bool carried over the cells of open_ (h, w) bool that a 4-connected path
    joins to it: whole row and column runs (:func:`run_ids`) that touch it, alternately, until
    nothing changes or SHEET_ROUNDS times."""
    runs = (run_ids(open_), run_ids(np.ascontiguousarray(open_.T)).T)
    reach = reach & open_
    count = int(reach.sum())
    for _ in range(SHEET_ROUNDS):
        for ids in runs:
            hit = np.zeros(int(ids.max()) + 1, dtype=bool)
            hit[ids[reach]] = True
            hit[0] = False
            reach = hit[ids]
        now = int(reach.sum())
        if now == count:
            break
        count = now
    return reach


GUTTER_WIDTH = 0.045  # of the grid's longest side: a gutter or a margin is a strip at most twice this wide
GUTTER_CORE = 0.02  # share of the sheet that may be wider than that
PANEL_MIN = 0.01  # of the grid's cells: a smaller area inside the sheet (a page number, a speck) is no panel
PANEL_FILL = 0.85  # the panels fill at least this share of their bounding boxes (rectangles, or nearly)
PANEL_COUNT = 64  # areas examined at most: a sheet around more is no page of panels
PANELS_MIN = 2  # panels at least: one rectangle in a thin border is as often a picture with a light edge
MARGIN_SHARE = 0.5  # of each of the image's four edges, at least, is sheet: margins frame the page


def gutters(cells: np.ndarray) -> bool:
    """cells (h, w) bool: a page's blank sheet (:func:`background_mask`) -> True when it is the
    page's gutters and margins, which a colourist leaves white: margins along every edge (at
    least MARGIN_SHARE of each), strips at most 2 GUTTER_WIDTH of the longest side wide (all but
    GUTTER_CORE of the sheet; the image's edge bounds a margin), around panels that fill their
    bounding boxes (PANEL_FILL of them, together), at least PANELS_MIN of them. A sheet that is
    the open background of a drawing is wide, or wraps a figure, not rectangles: False."""
    edges = (cells[0], cells[-1], cells[:, 0], cells[:, -1])
    if min(edge.mean() for edge in edges) < MARGIN_SHARE:
        return False
    k = max(1, round(GUTTER_WIDTH * page_side(*cells.shape)))
    core = ~grow(~np.pad(cells, 1), k)
    if core.sum() > GUTTER_CORE * cells.sum():
        return False
    rest = ~cells
    seeds = ~grow(cells, 2) & rest  # an area's inside, two cells from the sheet: lettering and specks vanish
    area = box = panels = 0
    for _ in range(PANEL_COUNT):
        if not seeds.any():
            break
        seed = np.zeros_like(seeds)
        seed.flat[np.flatnonzero(seeds)[0]] = True
        part = _flood(seed, rest)
        seeds &= ~part
        if part.sum() < PANEL_MIN * cells.size:
            continue
        rows, cols = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
        area += int(part.sum())
        box += (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
        panels += 1
    return not seeds.any() and panels >= PANELS_MIN and area >= PANEL_FILL * box


STRIP_GAP = 0.02  # of a strip's page side: blank rows across a webtoon this long at least are a gap between panels
STRIP_GAP_BLANK = 0.99  # share of a row's cells that are sheet for the row to be blank


def strip_gaps(cells: np.ndarray) -> np.ndarray | None:
    """cells (h, w) bool: the blank sheet of a strip longer than 2:1 (a webtoon's,
    :func:`irodori.imageio.page_side`) on its grid -> its cells in runs of blank rows (columns,
    for a wide strip) across its whole width, at least STRIP_GAP of a page's side long, not at
    its ends (a wide drawing's sky above it is no gap): the gaps between the strip's panels,
    which a colourist leaves white, as a page's gutters (a strip has no margins around framed
    panels for :func:`gutters` to find); None for a page, or a strip without them."""
    h, w = cells.shape
    if not is_strip(h, w):
        return None
    along = cells if h >= w else cells.T
    blank = along.mean(axis=1) >= STRIP_GAP_BLANK
    edges = np.flatnonzero(np.diff(np.concatenate([[False], blank, [False]]).astype(np.int8)))
    least = max(2, int(np.ceil(STRIP_GAP * page_side(h, w))))
    gaps = np.zeros_like(along)
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= least and start > 0 and stop < len(blank):  # between panels, not the strip's ends
            gaps[start:stop] = along[start:stop]
    if not gaps.any():
        return None
    return gaps if h >= w else gaps.T


SHEET_EDGE_ROUNDS = 3  # row, column, row fills that carry the sheet from its cells to the lines, pixel by pixel
SHEET_RAMP_L = 30.0  # levelled L: a line's anti-aliased edge lighter than this, beside the sheet, is on white


@dataclass(frozen=True)
class BlankSheet:
    """Line art's blank sheet (:func:`background_mask`), found on a grid of cells and carried to
    full resolution where it meets the lines.

    ``cells``: bool (h, w), the sheet's cells, each ``factor`` x ``factor`` input pixels (all of
    them paper); ``walls``: bool (h, w), the cells beside the sheet that hold a line, where the
    sheet's edge is found pixel by pixel (:meth:`pixels`); ``paper_l``: the L levelled to 100."""

    cells: np.ndarray
    walls: np.ndarray
    factor: int
    paper_l: float

    @classmethod
    def find(cls, l_darkest: np.ndarray, *, factor: int, paper_l: float) -> "BlankSheet":
        """l_darkest (h, w) float32: each cell's darkest CIE L, not levelled, the cells
        ``factor`` input pixels a side (:meth:`irodori.imageio.Lightness.darkest`); ``paper_l``:
        the page's paper L."""
        return cls.of(background_mask(l_darkest * (100.0 / max(paper_l, 1.0))), l_darkest, factor=factor,
                      paper_l=paper_l)

    @classmethod
    def of(cls, cells: np.ndarray, l_darkest: np.ndarray, *, factor: int, paper_l: float) -> "BlankSheet":
        """A sheet made of ``cells`` (h, w) bool on the grid of ``l_darkest`` (as :meth:`find`):
        a page's gutters, its balloons (:class:`irodori.balloons.Balloons`), or both."""
        walls = grow(cells, 1) & (l_darkest * (100.0 / max(paper_l, 1.0)) < SHEET_MIN_L)
        return cls(cells=cells, walls=walls, factor=int(factor), paper_l=float(paper_l))

    def part(self, points: list[tuple[int, int]], sheet: np.ndarray) -> np.ndarray | None:
        """The areas of the sheet that ``points`` (y, x) in input pixels lie on, as a paint
        bucket pours into one area: ``sheet`` (H, W) bool (:meth:`pixels`) -> bool (H, W), or None
        when that is the whole sheet. The sheet is every area of paper the image's edge reaches,
        also a shape the frame cuts, which a hint poured into must fill alone. A point in a cell
        that holds a line starts from the sheet cells beside it."""
        f = self.factor
        seed = np.zeros_like(self.cells)
        for y, x in points:
            cy, cx = y // f, x // f
            if self.cells[cy, cx]:
                seed[cy, cx] = True
            else:
                seed[max(0, cy - 1):cy + 2, max(0, cx - 1):cx + 2] = True
        area = _flood(seed, self.cells)
        if area.sum() == self.cells.sum():
            return None
        height, width = sheet.shape
        grown = grow(area, 1)  # with the cells that hold its edge
        return sheet & grown[np.arange(height) // f][:, np.arange(width) // f]

    def pixels(self, lightness: "Lightness", *, band: int = 16) -> np.ndarray:
        """-> bool (H, W): the sheet in input pixels. A sheet cell is sheet; in a wall cell, the
        paper pixels (levelled L >= SHEET_MIN_L) that a fill from the sheet's cells reaches
        without crossing ink (SHEET_EDGE_ROUNDS row and column run fills), and the anti-aliased
        outer edge of the lines (:func:`_edge_fill`: ink on white, not on colour). Read ``band``
        cell rows at a time, with one cell of context above and below."""
        height, width = lightness.shape
        f = self.factor
        out = np.empty((height, width), dtype=bool)
        cols = np.arange(width) // f
        for c0 in range(0, self.cells.shape[0], band):
            y0, y1 = c0 * f, min(height, (c0 + band) * f)
            top, bottom = max(0, y0 - f), min(height, y1 + f)
            rows = np.arange(top, bottom) // f
            seed = self.cells[rows][:, cols]
            wall = self.walls[rows][:, cols]
            if wall.any():
                levelled = lightness.rows(top, bottom) * (100.0 / max(self.paper_l, 1.0))
                seed = _edge_fill(seed, wall, levelled)
            out[y0:y1] = seed[y0 - top:y1 - top]
        return out


SHEET_FILL_DE = 6.0  # hints on the sheet whose colours lie within this of their mean fill it flat


def one_colour(colours: np.ndarray) -> bool:
    """Whether hints' colours (n, 3) Lab are one colour: all within SHEET_FILL_DE of their mean."""
    return bool(np.linalg.norm(colours - colours.mean(axis=0), axis=1).max() <= SHEET_FILL_DE)


@dataclass(frozen=True)
class SheetFill:
    """What becomes of the blank sheet in the output (line art's, or a page's gutters, margins
    and balloons): ``mask`` (H, W) bool, the sheet in input pixels (:meth:`BlankSheet.pixels`),
    stays white paper but where ``fills`` pour a flat colour, as a paint bucket does: each
    (area, lab), ``area`` (H, W) bool the part of the sheet the hints were poured into
    (:meth:`BlankSheet.part`; None: all of it), ``lab`` their colour (CIE L, a, b)."""

    mask: np.ndarray
    fills: tuple[tuple[np.ndarray | None, tuple[float, float, float]], ...] = ()

    @property
    def painted(self) -> bool:
        """Whether hints poured colour into some of the sheet."""
        return bool(self.fills)

    @property
    def whole(self) -> bool:
        """Whether one fill covers the whole sheet."""
        return any(area is None for area, _ in self.fills)

    def paper(self) -> np.ndarray:
        """(H, W) bool: the sheet that stays paper (no fill poured into it)."""
        paper = self.mask.copy()
        for area, _ in self.fills:
            if area is None:
                return np.zeros_like(self.mask)
            paper &= ~area
        return paper

    @classmethod
    def from_hints(cls, mask: np.ndarray, groups: list[tuple[np.ndarray | None, np.ndarray]]) -> "SheetFill | None":
        """``groups``: the hints on the sheet by the area they pour into, each (area or None for
        all of it, their colours (n, 3) Lab) -> a paper sheet (no hints), flat fills (each
        area's hints all within SHEET_FILL_DE of their mean; a balloon's and the gutters' hints
        fill each its own), or None: hints of several colours in one area, which the hint
        propagation blends across it."""
        if not all(one_colour(colours) for _, colours in groups):
            return None
        means = [colours.mean(axis=0) for _, colours in groups]
        return cls(mask, tuple((area, (float(m[0]), float(m[1]), float(m[2])))
                               for (area, _), m in zip(groups, means)))

    def planes(self, y0: int, y1: int, l_paint: np.ndarray, a: np.ndarray, b: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows y0..y1 of the painted page (L, a, b) -> the same with the sheet's colours: each
        fill where its hints were poured, paper on the rest of it."""
        on = self.mask[y0:y1]
        out = [np.where(on, white, plane) for white, plane in zip((100.0, 0.0, 0.0), (l_paint, a, b))]
        for area, lab in self.fills:
            flat = on if area is None else area[y0:y1]
            out = [np.where(flat, value, plane) for value, plane in zip(lab, out)]
        return out[0], out[1], out[2]


SHAPE_CELLS = 3  # a closed shape within this many cells of the hints' grid, every way, is filled pixel by pixel
PAPER_FILL_L = 90.0  # levelled L of the ink layer: a hint on a pixel this light is on blank paper, ...
PAPER_FILL_MOST = 0.5  # ... and its closed paper (inside a panel's frame), at most this share of the page, is filled
SHAPE_OPEN_L = 50.0  # levelled L of the ink layer: lighter is inside a shape (paper, flattened tone)
SHAPE_CLOSE = 2  # px each line grows by while a small shape is found: gaps up to twice this are closed


def paper_regions(layer: np.ndarray, close: int = SHAPE_CLOSE) -> tuple[np.ndarray, np.ndarray]:
    """layer (H, W) float32: a page's whole levelled L (its screentone kept: helper 67's hint on
    a duck's dotted body, read on the ink layer without its dots, filled the whole panel flat) ->
    (its blank paper, PAPER_FILL_L and lighter, (H, W) bool; the connected areas of that paper
    with gaps in its outlines and between dots up to 2 ``close`` px closed, labels (H, W) int64,
    0 off them): read once a page, for every hint on its paper (:meth:`ShapeFill.paper`)."""
    from .balloons import components

    open_ = layer >= PAPER_FILL_L
    return open_, components(open_ & ~grow(~open_, close))[0]


@dataclass(frozen=True)
class ShapeFill:
    """A hint in a closed shape too small for the grid the hints spread on (an eye, a button: a
    few cells across, where the grid's propagation spills into the shape around it), filled flat with the
    hint's colour ``lab`` (CIE L, a, b) at full resolution: ``mask`` (h, w) bool, the shape's
    pixels in the window whose top-left input pixel is (``y0``, ``x0``)."""

    y0: int
    x0: int
    mask: np.ndarray
    lab: tuple[float, float, float]

    @classmethod
    def find(cls, window: np.ndarray, y: int, x: int, *, y0: int, x0: int, lab: tuple[float, float, float],
             edges: tuple[bool, bool, bool, bool] = (False, False, False, False)) -> "ShapeFill | None":
        """window (h, w) float32: the levelled ink layer around a hint at (y, x) (input pixels,
        inside the window whose corner is (y0, x0)); ``edges``: whether its top, bottom, left and
        right sides are the image's edge -> the fill of the shape the hint is in, or None when
        the hint is on ink or its shape reaches a side of the window inside the image (not small).
        Gaps in its outline up to 2 SHAPE_CLOSE px are closed (the lines grown that much while
        the shape is found, and the shape grown back over the paper), as sheets' are."""
        open_ = window >= SHAPE_OPEN_L
        py, px = y - y0, x - x0
        if not open_[py, px]:
            return None
        closed = open_ & ~grow(~open_, SHAPE_CLOSE)
        if not closed[py, px]:  # a hint right beside a line: its shape without the closing
            closed = open_
        seed = np.zeros_like(open_)
        seed[py, px] = True
        shape = _flood(seed, closed)
        sides = (shape[0].any(), shape[-1].any(), shape[:, 0].any(), shape[:, -1].any())
        if any(touch and not edge for touch, edge in zip(sides, edges)) or all(edges):
            return None
        return cls(y0, x0, grow(shape, SHAPE_CLOSE) & open_ if closed is not open_ else shape, lab)

    @classmethod
    def paper(cls, regions: tuple[np.ndarray, np.ndarray], y: int, x: int, *, lab: tuple[float, float, float],
              close: int = SHAPE_CLOSE) -> "ShapeFill | None":
        """A page's :func:`paper_regions` (read with ``close``), a hint at (y, x) -> the fill of the
        blank paper it is on (from the nearest such paper within 2 ``close`` px, for a click beside
        a line), or None: the hint is not on blank paper, or the paper is not closed (it reaches
        the page's edge) or is more than PAPER_FILL_MOST of the page. A panel's paper is one
        region however its figures and balloons cut it on the grid the hints spread on, where a
        hint on one side left the other pale, with a seam through the blank paper between (helper
        65)."""
        open_, labels = regions
        if not open_[y, x]:
            return None
        reach = 2 * close  # a click beside a line: the paper nearest it, on its side
        top, left = max(0, y - reach), max(0, x - reach)
        ys, xs = np.nonzero(labels[top:y + reach + 1, left:x + reach + 1])
        if ys.size == 0:
            return None
        nearest = int(np.argmin((ys + top - y) ** 2 + (xs + left - x) ** 2))
        shape = labels == labels[ys[nearest] + top, xs[nearest] + left]
        if shape[0].any() or shape[-1].any() or shape[:, 0].any() or shape[:, -1].any():
            return None
        if shape.mean() > PAPER_FILL_MOST:
            return None
        return cls(0, 0, grow(shape, close) & open_, lab)

    def planes(self, y0: int, y1: int, l_paint: np.ndarray, a: np.ndarray, b: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows y0..y1 of the painted page (L, a, b) -> the same with the shape filled."""
        top, bottom = max(y0, self.y0), min(y1, self.y0 + self.mask.shape[0])
        if top >= bottom:
            return l_paint, a, b
        rows = slice(top - y0, bottom - y0)
        cols = slice(self.x0, self.x0 + self.mask.shape[1])
        on = self.mask[top - self.y0:bottom - self.y0]
        out = []
        for plane, value in zip((l_paint, a, b), self.lab):
            plane = plane if plane.flags.writeable else plane.copy()
            plane[rows, cols] = np.where(on, value, plane[rows, cols])
            out.append(plane)
        return out[0], out[1], out[2]


def _run_fill(reach: np.ndarray, open_: np.ndarray, rounds: int) -> np.ndarray:
    """reach, open_ (R, W) bool -> reach carried along every run of open_ it touches, in
    ``rounds`` alternating row and column fills (reach outside open_ is kept)."""
    for i in range(rounds):
        grid = np.ascontiguousarray(open_.T) if i % 2 else open_
        ids = run_ids(grid)
        hit = np.zeros(int(ids.max()) + 1, dtype=bool)
        hit[ids[reach.T if i % 2 else reach]] = True
        hit[0] = False
        reach = reach | (hit[ids].T if i % 2 else hit[ids])
    return reach


def _edge_fill(seed: np.ndarray, wall: np.ndarray, levelled: np.ndarray) -> np.ndarray:
    """seed (sheet cells), wall (line cells beside them) (R, W) bool and levelled L (R, W) ->
    the sheet's pixels: the paper of the wall cells that the seed reaches (SHEET_EDGE_ROUNDS
    fills), then the light side of the lines' anti-aliasing (SHEET_RAMP_L <= L < SHEET_MIN_L)
    reached from there without crossing paper that is not sheet, and one pixel into the ink."""
    paper = levelled >= SHEET_MIN_L
    reach = _run_fill(seed, (seed | wall) & paper, SHEET_EDGE_ROUNDS)
    ramp = wall & ~paper & (levelled >= SHEET_RAMP_L)
    reach = _run_fill(reach, reach | ramp, 2)
    return reach | (grow(reach, 1) & ~paper)


@dataclass(frozen=True)
class PageStats:
    """What the detector measures on an image, its L levelled so its paper is 100: ``paper``
    (L >= 95) and ``ink`` (L < 25), fractions of the sampled pixels; ``texture``, the median
    absolute second difference of L along rows at the mid-tone pixels (screentone dots and
    hatching: tens of L; the smooth greys of photos and paintings: a few); ``paper_l``;
    ``chroma``, the mean CIE chroma of a colour input (0 for grey); and ``gaps``, the narrow
    gaps of paper between ink along a row (at most GAP_PX wide) per 1000 pixels: a dot screen,
    even one printed in pure black and white, has tens; line art a few at most; ``lightest``, the
    CIE L of the lightest 0.5 % of pixels, not levelled (under MIN_PAPER_L: no paper at all);
    ``darkest``, the levelled L of the darkest 0.05 % (above MAX_MARK_L: no ink or pencil mark
    at all) and ``spread``, the standard deviation of L averaged along rows (its shapes), for
    ``faded``: a faded photograph."""

    paper_l: float
    paper: float
    ink: float
    texture: float
    chroma: float
    gaps: float = 0.0
    lightest: float = 100.0  # CIE L of the lightest 0.5 % of pixels (not levelled)
    black_l: float = 0.0  # levelled L of the page's solid ink (BLACK_PERCENTILE of its ink pixels)
    darkest: float = 0.0  # levelled L of the darkest 0.05 % of pixels (above MAX_MARK_L: no mark at all)
    spread: float = 0.0  # standard deviation of L along rows smoothed over SPREAD_PX: the image's shapes, not its grain

    @property
    def mid(self) -> float:
        return max(0.0, 1.0 - self.paper - self.ink)

    @property
    def faded(self) -> bool:
        """A faded photograph: no mark (MAX_MARK_L), no fine texture (MIN_TEXTURE: show-through
        text from a page's back is one), a "paper" darker than any paper (NO_MARK_PAPER_L), and
        shapes to colour (MIN_SPREAD: a blank page, grey or not, stays paper)."""
        return (self.darkest > MAX_MARK_L and self.texture < MIN_TEXTURE and self.paper_l < NO_MARK_PAPER_L
                and self.spread >= MIN_SPREAD)

    def describe(self) -> str:
        """Why the automatic choice is what it is, in words, then the measures behind it."""
        marks = ("; no mark, no fine texture, its lightest grey too dark for paper" if self.faded else "")
        return (f"{mode_and_why(self)[1]}: paper {self.paper:.0%}, ink {self.ink:.0%}, mid-tones {self.mid:.0%}, "
                f"mid-tone texture {self.texture:.1f}, chroma {self.chroma:.1f}{marks}")


def levelled_l(l: np.ndarray, paper_l: float) -> np.ndarray:
    """CIE L (any shape, in [0, 100]) rescaled so that the paper, ``paper_l``, is 100; clipped."""
    return np.clip(l * (100.0 / max(paper_l, 1.0)), 0.0, 100.0)


def paper_level(l: np.ndarray) -> float:
    """The paper's CIE L of a page (any shape, L in [0, 100]): its 97th percentile, at least 30
    (a page that is nearly all ink still has paper somewhere)."""
    return float(np.clip(np.percentile(l, PAPER_PERCENTILE), 30.0, 100.0))


GAP_PX = 4  # PageStats.gaps: a gap of paper at most this wide between two ink runs is narrow


def narrow_gaps(ink: np.ndarray) -> float:
    """ink (R, W) bool, whole rows -> the gaps of at most GAP_PX non-ink pixels between two ink
    runs of the same row, per 1000 pixels."""
    if ink.size == 0:
        return 0.0
    margin = np.zeros((ink.shape[0], GAP_PX + 1), dtype=np.int8)  # no gap spans two rows
    edges = np.diff(np.concatenate([margin, ink.astype(np.int8), margin], axis=1).ravel())
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return float((starts[1:] - ends[:-1] <= GAP_PX).sum()) * 1000.0 / ink.size


BLACK_PERCENTILE = 10.0  # of the ink pixels' levelled L (under 25): the page's black, which keeps no chroma


def page_stats(l_rows: np.ndarray, *, chroma: float = 0.0) -> PageStats:
    """l_rows (R, W) float32 CIE L of rows sampled from the full-resolution image (whole rows,
    so horizontal neighbours are real neighbours; no resampling, which would blur dots into grey)
    -> PageStats."""
    if l_rows.size == 0:
        return PageStats(100.0, 1.0, 0.0, 0.0, chroma)
    paper_l = paper_level(l_rows)
    levelled = levelled_l(l_rows, paper_l)
    white = paper_threshold(levelled)
    texture = 0.0
    if levelled.shape[1] > 2:
        centre = levelled[:, 1:-1]
        second = np.abs(levelled[:, 2:] - 2.0 * centre + levelled[:, :-2])
        mid = (centre >= 25.0) & (centre < white)
        texture = float(np.median(second[mid])) if mid.any() else 0.0
    ink = levelled[levelled < 25.0]
    black_l = float(np.percentile(ink, BLACK_PERCENTILE)) if ink.size else 0.0
    return PageStats(paper_l=paper_l, paper=float((levelled >= white).mean()), ink=float((levelled < 25.0).mean()),
                     texture=texture, chroma=float(chroma), gaps=narrow_gaps(levelled < 50.0),
                     lightest=float(np.percentile(l_rows, 99.5)), black_l=black_l,
                     darkest=float(np.percentile(levelled, DARKEST_PERCENTILE)), spread=row_spread(l_rows))


SPREAD_PX = 16  # PageStats.spread: L is averaged over runs of this many pixels along a row first


def row_spread(l_rows: np.ndarray) -> float:
    """l_rows (R, W) CIE L -> the standard deviation of L averaged over SPREAD_PX-pixel runs of
    each row: a photograph's shapes count, a scan's grain and noise hardly."""
    width = l_rows.shape[1] // SPREAD_PX * SPREAD_PX
    if width == 0:
        return 0.0
    return float(l_rows[:, :width].reshape(l_rows.shape[0], -1, SPREAD_PX).mean(axis=2).std())


PAPER_MIN = 95.0  # levelled L: paper, on a clean page
PAPER_NOISY_MIN = 88.0  # ... and at the lowest, on a grainy scan


def paper_threshold(levelled: np.ndarray) -> float:
    """The levelled L above which a pixel counts as paper: PAPER_MIN, or lower on a scan whose
    paper is grainy: the light pixels' (L >= PAPER_NOISY_MIN) median less 3 robust standard
    deviations (1.4826 x their median absolute deviation), at least PAPER_NOISY_MIN. Grain of
    sigma 5 on paper at 240 put a quarter of a line drawing's paper among the mid-tones, and it
    was tinted."""
    light = levelled[levelled >= PAPER_NOISY_MIN]
    if light.size == 0:
        return PAPER_MIN
    centre = float(np.median(light))
    spread = 1.4826 * float(np.median(np.abs(light - centre)))
    return float(np.clip(centre - 3.0 * spread, PAPER_NOISY_MIN, PAPER_MIN))


# The rule, chosen on the validation sets (scripts/evaluate_detector.py; docs/MANGA_MODE.md): ink
# on paper has almost no mid-tones (line art, 1-bit scans), or its mid-tones are a fine texture
# of dots and lines (screentone); photographs and paintings have smooth mid-tones. A colour
# input is tinted (its own colours are discarded, as always).
MAX_CHROMA = 8.0
MIN_PAPER_L = 50.0  # an image whose lightest 0.5 % is darker has no paper: a dark photo, not ink on paper
# A faded photograph (PageStats.faded): nothing darker than MAX_MARK_L (levelled L of its darkest
# 0.05 %), no fine texture, a "paper" darker than NO_MARK_PAPER_L, and shapes (MIN_SPREAD).
# Levelled to white and painted as line art it came back white (found by a helper: a mid-grey
# print of std 5 went from mean 128 to 240). A blank page of a chapter, on paper grey or white,
# with show-through from its back or not, stays painted, paper: tinted, a grey one took a
# yellow of chroma 40 to 75 (found by two more helpers).
MAX_MARK_L = 75.0
NO_MARK_PAPER_L = 80.0
MIN_SPREAD = 1.5  # PageStats.spread of a faded photograph, at least (a blank grey page: under 0.5)
DARKEST_PERCENTILE = 0.05
MAX_MID = 0.05
MIN_TEXTURE = 9.0
# Line art, whose surrounding sheet stays paper (chosen on the validation sets; docs/MANGA_MODE.md):
# almost no mid-tones (anti-aliased line edges at most), ink that is lines and some solid blacks,
# and few narrow gaps. Screentone (more mid-tones, or in a 1-bit print many narrow gaps between
# dots) or mostly solid black make a page, whose open areas are sky, walls or skin, and are
# painted; a blank sheet (no ink) has nothing to stand out from.
LINE_ART_MAX_MID = 0.08
LINE_ART_MAX_INK = 0.35  # 1 % missed one thin ring on a 300 px sheet; 15 % a bold drawing's (helper 75's 28 %,
# 9 of val's 84 OpenMoji line art at 15-30 %: painted whole, their sheets washed in clouds of colour)
LINE_ART_MAX_GAPS = 10.0  # narrow gaps per 1000 px (PageStats.gaps): more is a dot screen, 1-bit or not
SPARSE_INK = 0.02  # less ink than this is lettering or a sketch on a blank sheet, whatever its gaps


def choose_background(stats: PageStats) -> str:
    """PageStats of an image to be painted -> "paper" (line art: the sheet around the figure
    stays white) or "gutters" (a page: every open area takes colour but its gutters and margins,
    if it has panels). A page of text alone (credits, an afterword) has the narrow gaps of a dot
    screen between its letters, but little ink: it keeps its paper too, as does a blank sheet."""
    if stats.mid <= LINE_ART_MAX_MID and stats.ink <= LINE_ART_MAX_INK and (
            stats.gaps <= LINE_ART_MAX_GAPS or stats.ink < SPARSE_INK):
        return "paper"
    return "gutters"


def choose_mode(stats: PageStats) -> str:
    """PageStats -> "paint" (a B&W page, line art, a 1-bit scan) or "tint" (a photograph, grey
    art, a colour image)."""
    return mode_and_why(stats)[0]


def mode_and_why(stats: PageStats) -> tuple[str, str]:
    """PageStats -> (:func:`choose_mode`'s choice, why, in words for the log)."""
    if stats.chroma > MAX_CHROMA:
        return "tint", "a colour image"
    if stats.faded:
        return "tint", "a faded photograph"
    if stats.lightest < MIN_PAPER_L:
        return "tint", "no paper (a photograph or grey art)"
    if stats.mid <= MAX_MID:
        return "paint", "ink on paper"
    if stats.texture >= MIN_TEXTURE:
        return "paint", "ink and screentone on paper"
    return "tint", "smooth mid-tones (a photograph or grey art)"


@dataclass(frozen=True)
class Contract:
    """How one image is coloured, chosen once per image (:meth:`irodori.Colorizer.contract_for`)
    and carried through the pipeline instead of flags.

    ``mode``: "tint" (the output's L is the input's; photos, grey art) or "paint" (ink kept,
    paper and tone take the predicted colour); ``tone``: "flat" or "keep" (paint only);
    ``paper_l``: the page's paper lightness, levelled to 100 in paint mode; ``length``: the
    tone filter's stroke length in input pixels; ``background``: "paint" (every open area takes
    colour), "paper" (line art: the blank sheet around the figure stays white) or "gutters" (a
    page: its blank sheet stays white where it is the gutters and margins around panels,
    :func:`gutters`; else painted) (paint only);
    ``reason``: why (for the log); ``screen``: where the page's dots are screentone, for
    ``tone="flat"`` (:class:`Screentone`; None: wherever the tone filter finds dots);
    ``black_l``: the levelled L of the page's solid ink, which :func:`composite` leaves without
    chroma; ``balloons``: the page's speech balloons (:class:`irodori.balloons.Balloons`; None:
    not looked for), whose ink the tone filter leaves as printed and whose paper stays white
    (:meth:`irodori.Colorizer.blank_sheet`); ``keep``: the input is already in colour and the
    colorizer keeps colour inputs (``keep_colour``): it is returned as it is, not coloured;
    ``line_art``: the image is line art (:func:`choose_background` says "paper"), whatever
    background was asked, so its closed shapes take flat colours (:func:`one_flat_per_shape`)."""

    mode: str
    tone: str = "flat"
    paper_l: float = 100.0
    length: int = 7
    background: str = "paint"
    reason: str = ""
    screen: Screentone | None = field(default=None, compare=False, repr=False)
    black_l: float = 0.0
    balloons: Balloons | None = field(default=None, compare=False, repr=False)
    keep: bool = False
    line_art: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.tone not in TONES:
            raise ValueError(f"tone must be one of {', '.join(TONES)}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}")

    def ink(self, lightness: "Lightness", y0: int, y1: int, *, tone: str | None = None) -> np.ndarray:
        """The ink layer (:func:`ink_layer`) of rows y0:y1 of ``lightness``: (y1 - y0, W)
        float32, levelled to this contract's paper, with this contract's tone (or ``tone``; its
        dots are flattened only in the screen's cells and outside the balloons). The tone filter
        reads 3 x the tone length of rows above and below (its openings and its density window),
        so a page read band by band gets the layer it would get whole."""
        tone = tone or self.tone
        halo = 3 * self.length if tone == "flat" else 0
        height, width = lightness.shape
        top, bottom = max(0, y0 - halo), min(height, y1 + halo)
        screen = None
        if tone == "flat":
            screen = self.screen.rows(top, bottom, width) if self.screen is not None else None
            if self.balloons is not None and self.balloons.count:  # lettering in a balloon is never tone
                outside = ~self.balloons.rows(top, bottom, width)
                screen = outside if screen is None else screen & outside
        layer = ink_layer(lightness.rows(top, bottom), paper_l=self.paper_l, tone=tone, length=self.length,
                          screen=screen)
        return layer[y0 - top:y1 - top]


__all__ = ["BACKGROUNDS", "MODES", "TONES", "BlankSheet", "Contract", "PageStats", "Screentone", "SheetFill", "background_mask",
           "choose_background", "choose_mode", "composite", "flatten_tone", "flats_to_lines", "grow", "gutters",
           "ink_layer", "lattice_regularity", "one_colour", "page_stats", "paper_level", "paper_regions",
           "tone_length"]
