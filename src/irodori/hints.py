"""User colour hints and palettes: parsing, validation, and what the network is fed.

A hint says "the colour at pixel (x, y) of the input is #rrggbb". Only its chroma (CIE ab) is
used; the lightness always comes from the input. The network was trained with such hints
simulated from the ground truth (Zhang et al. 2017), so one model colours with or without them.

Accepted forms (CLI, JSON file, Python API, web API all go through :meth:`Hint.parse`)::

    "120,45,#ff8800"                          # CLI --hint X,Y,#RRGGBB
    {"x": 120, "y": 45, "color": "#ff8800"}   # JSON, web API
    (120, 45, "#ff8800") or (120, 45, (255, 136, 0))

A palette (``--palette "#ff8800,#3366cc"``) restricts the output chroma to those colours: every
pixel's predicted ab is replaced by a soft nearest-palette-colour choice, so the layout of
colour stays the network's and the colours become the user's. Pixels the network leaves
near-grey (paper, ink) stay near-grey.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .color import normalize_ab, normalize_l, rgb_to_lab
from .imageio import page_scale, page_side

_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
# A hint covers a square of this side at the network's resolution (about 1 % of a 512-pixel
# side): inside the 1-4 pixel patches the model saw in training at 160 pixels, a little
# larger than one pixel so a click on a thin area still lands where the user meant.
HINT_PATCH = 3
MAX_HINTS = 256  # per image: far more than anyone clicks; bounds the propagation's memory and time
# Softness of the palette snap, in ab units: colours nearer than this blend, farther ones snap.
PALETTE_SOFTNESS = 8.0
# Predicted chroma (ab units) below which a pixel stays grey, and above which it takes its palette
# colour in full; linear between.
PALETTE_GREY = (3.0, 10.0)


class HintError(ValueError):
    """A hint or palette that cannot be used: malformed, or outside the image."""


def parse_color(value: Any) -> tuple[int, int, int]:
    """'#rrggbb' / 'rrggbb' / (r, g, b) -> (r, g, b) with each in 0..255."""
    if isinstance(value, str):
        match = _HEX.fullmatch(value.strip())
        if not match:
            raise HintError(f"colour {value!r} is not #rrggbb")
        text = match.group(1)
        return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    if isinstance(value, (tuple, list)) and len(value) == 3 and all(_is_int(c) and 0 <= c <= 255 for c in value):
        return tuple(int(c) for c in value)  # type: ignore[return-value]
    raise HintError(f"colour {value!r} is not #rrggbb or (r, g, b) in 0..255")


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Hint:
    """A user colour hint at pixel (x, y) of the input image (x right, y down, from 0)."""

    x: int
    y: int
    rgb: tuple[int, int, int]

    def cell(self, full: tuple[int, int], small: tuple[int, int]) -> tuple[int, int]:
        """(row, col) of this hint on an (h, w) = ``small`` grid over an image of ``full``
        (height, width)."""
        (height, width), (h, w) = full, small
        return min(h - 1, int(self.y * h / height)), min(w - 1, int(self.x * w / width))

    @classmethod
    def parse(cls, value: Any) -> "Hint":
        """From a Hint, "X,Y,#rrggbb", {"x", "y", "color"}, or (x, y, colour); HintError if malformed
        (a Hint made by hand is checked as the others are: integer coordinates, a colour in 0..255)."""
        if isinstance(value, Hint):
            value = (value.x, value.y, value.rgb)
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",")]
            if len(parts) != 3 or not all(re.fullmatch(r"-?\d+", p) for p in parts[:2]):
                raise HintError(f"hint {value!r} is not X,Y,#RRGGBB (e.g. 120,45,#ff8800)")
            return cls(int(parts[0]), int(parts[1]), parse_color(parts[2]))
        if isinstance(value, dict):
            unknown = set(value) - {"x", "y", "color"}
            if unknown or not {"x", "y", "color"} <= set(value):
                raise HintError(f"hint {_shown(value)} must have exactly the keys x, y, color")
            x, y, color = value["x"], value["y"], value["color"]
        elif isinstance(value, (tuple, list)) and len(value) == 3:
            x, y, color = value
        else:
            raise HintError(f"hint {_shown(value)} is not X,Y,#RRGGBB, a dict {{x, y, color}} or a tuple (x, y, colour)")
        if not (_is_int(x) and _is_int(y)):
            raise HintError(f"hint coordinates must be integers, got {_shown(x)}, {_shown(y)}")
        return cls(int(x), int(y), parse_color(color))


@dataclass(frozen=True)
class CarriedHint(Hint):
    """A user's hint carried over from a reference page (irodori's output coloured with it,
    :func:`irodori.reference.own_cells`) to where this page matches it, placed inside the
    matched shape: spread as the user's own hints are (filling its shape within the ink's walls),
    not as a reference's guess, which spreads without walls (helper 65: a skirt's green carried
    so flooded the panel's white paper)."""


def _shown(value: Any) -> str:
    """A malformed hint's part as its sender wrote it: JSON where it is JSON (a web client's
    {"x": 1} and true, not Python's {'x': 1} and True: helper 62), else Python's repr."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def parse_hints(values: Iterable[Any] | None) -> list[Hint]:
    """Parse every hint (any accepted form); HintError names the first bad one, or too many. One
    hint given alone (a string, a dict, a Hint) is taken as a list of one; a numpy array as its
    rows."""
    if values is None:
        return []
    if isinstance(values, (bytes, bytearray)):
        raise HintError("hints must be text or a list of hints, not bytes (decode them first)")
    if isinstance(values, (str, dict, Hint)):
        values = [values]
    elif isinstance(values, np.ndarray):
        values = values.tolist()
    try:
        items = list(values)
    except TypeError:
        raise HintError(f"hints must be a list of hints, not {type(values).__name__}") from None
    hints = [Hint.parse(v) for v in items]
    if len(hints) > MAX_HINTS:
        raise HintError(f"too many hints ({len(hints)}; at most {MAX_HINTS} per image)")
    return hints


def check_inside(hints: Iterable[Hint], width: int, height: int, *, turned: bool = False) -> None:
    """HintError if a hint lies outside a width x height image; ``turned``: the image was turned
    upright by its EXIF orientation, which the message says (a photo's hint in the sensor's
    sideways coordinates was "outside", with no word of why)."""
    upright = ("its size upright: the file's EXIF orientation turns it, and hints are in the upright "
               "image's pixels; ") if turned else ""
    for hint in hints:
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise HintError(f"hint at ({hint.x}, {hint.y}) is outside the {width}x{height} image "
                            f"({upright}x must be in 0..{width - 1}, y in 0..{height - 1})")


def _named_hints(name: str, items: list) -> list[Hint]:
    """One entry of a hints file's object, parsed; its HintError names the entry."""
    try:
        return parse_hints(items)
    except HintError as exc:
        raise HintError(f"{name!r}: {exc}") from None


def load_hints_file(path: str | Path) -> list[Hint] | dict[str, list[Hint]]:
    """A JSON file: a list of hints (for every input), or an object {image file name: [hints]}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HintError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HintError(f"{path}: not valid JSON: {exc}") from None
    try:
        if isinstance(data, list):
            return parse_hints(data)
        if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
            return {str(name): _named_hints(name, items) for name, items in data.items()}
    except HintError as exc:
        raise HintError(f"{path}: {exc}") from None
    raise HintError(f"{path}: expected a JSON list of hints or an object mapping image names to lists")


# The hint channels of a model that also takes each hint's lightness: (a, b, mask, L), the first
# three as in a model of 3 (GeneratorConfig.hint_channels; model.grow_hint_lightness).
HINT_CHANNELS_WITH_L = 4


def hint_map(hints: Iterable[Hint], full: tuple[int, int], small: tuple[int, int], *,
             patch: int = HINT_PATCH, channels: int = 3, page_l: np.ndarray | None = None) -> np.ndarray:
    """Hints in input pixels -> the network's hint input (``channels``, h, w): normalised (a, b) *
    mask, mask, and for ``channels`` 4 (a model that takes hints' lightness,
    ``GeneratorConfig.hint_channels``) the normalised L * mask: the page's own L there when
    ``page_l`` (h, w, Lab units) is given (tint: the output keeps it), else the hint colour's
    (paint: the hint says how light its region is).

    ``full`` is the input's (height, width), ``small`` the network's; each hint fills a
    ``patch``-sided square around its position (clipped at the borders). Later hints win
    where patches overlap.
    """
    hints = list(hints)
    check_inside(hints, full[1], full[0])
    h, w = small
    out = np.zeros((channels, h, w), dtype=np.float32)
    if not hints:
        return out
    lab = rgb_to_lab(np.array([hint.rgb for hint in hints], dtype=np.uint8))  # (n, 3)
    ab = normalize_ab(lab[:, 1:])  # (n, 2)
    for hint, (a, b), l in zip(hints, ab, lab[:, 0]):
        yc, xc = hint.cell(full, small)
        y0, x0 = max(0, yc - patch // 2), max(0, xc - patch // 2)
        y1, x1 = min(h, y0 + patch), min(w, x0 + patch)
        out[0, y0:y1, x0:x1] = a
        out[1, y0:y1, x0:x1] = b
        out[2, y0:y1, x0:x1] = 1.0
        if channels >= HINT_CHANNELS_WITH_L:
            out[3, y0:y1, x0:x1] = normalize_l(page_l[y0:y1, x0:x1].mean() if page_l is not None else l)
    return out


# ----------------------------------------------------------------------------------------------
# Palette
# ----------------------------------------------------------------------------------------------
def parse_palette(value: str | Iterable[Any] | None) -> np.ndarray | None:
    """"#rrggbb,#rrggbb,..." or a list of colours -> their ab (k, 2) in Lab units; None for None,
    "" or an empty list (no palette). HintError for a colour that does not parse, or a string of
    separators and blanks alone (",": a palette meant, but no colour in it)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        raise HintError("palette must be text or a list of colours, not bytes (decode them first)")
    try:
        items = [p for p in value.split(",") if p.strip()] if isinstance(value, str) else list(value)
    except TypeError:
        raise HintError(f"palette must be '#RRGGBB,#RRGGBB,...' or a list of colours, not {value!r}") from None
    if not items:
        if isinstance(value, str) and value:
            raise HintError(f"palette {value!r} names no colour (give '#RRGGBB,#RRGGBB,...')")
        return None
    rgb = np.array([parse_color(c) for c in items], dtype=np.uint8)
    return rgb_to_lab(rgb)[:, 1:].astype(np.float32)


def palette_with_hints(palette_ab: np.ndarray, hints: Sequence[Hint]) -> np.ndarray:
    """A palette's ab (k, 2) -> (k + n, 2) with the ab of the ``hints`` given by the user: a hint
    keeps its own colour, in the palette or not (snapped after the spreading, an orange hint under
    a blue palette came out blue: helper 78)."""
    if not hints:
        return palette_ab
    own = rgb_to_lab(np.array([hint.rgb for hint in hints], dtype=np.uint8))[:, 1:].astype(np.float32)
    return np.concatenate([palette_ab, own])


def apply_palette(ab: np.ndarray, palette_ab: np.ndarray, *, softness: float = PALETTE_SOFTNESS) -> np.ndarray:
    """ab (2, h, w) -> ab (2, h, w) made of the palette's colours (and grey) only.

    Each pixel takes a softmax-weighted mix of palette colours by ab distance (weights
    exp(-d^2 / (2 softness^2))): it snaps to the nearest unless two are about equally near,
    where it blends, so region borders do not alias. Pixels predicted near-grey stay grey
    (faded in over ``PALETTE_GREY`` chroma), so paper and ink are not painted.
    """
    flat = ab.reshape(2, -1).T  # (n, 2)
    d2 = ((flat[:, None, :] - palette_ab[None, :, :]) ** 2).sum(axis=2)  # (n, k)
    logits = -(d2 - d2.min(axis=1, keepdims=True)) / (2.0 * softness**2)
    weights = np.exp(logits)
    weights /= weights.sum(axis=1, keepdims=True)
    lo, hi = PALETTE_GREY
    colour = np.clip((np.linalg.norm(flat, axis=1, keepdims=True) - lo) / (hi - lo), 0.0, 1.0)
    return (colour * (weights @ palette_ab)).T.reshape(ab.shape).astype(np.float32)


def sample_hints(truth: np.ndarray, count: int, rng: np.random.Generator, *, patch: int = 3) -> list[Hint]:
    """``count`` hints revealed from a ground-truth image (H, W, 3) uint8, as a user would give
    them: at uniformly random positions, each the mean colour of a ``patch``-sided square there
    (so JPEG noise in one pixel does not decide the hint). Used to measure how well a model
    follows hints (``irodori evaluate --hints N``)."""
    h, w, _ = truth.shape
    hints = []
    for _ in range(count):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        y0, x0 = max(0, y - patch // 2), max(0, x - patch // 2)
        mean = truth[y0 : y0 + patch, x0 : x0 + patch].reshape(-1, 3).mean(axis=0)
        hints.append(Hint(x, y, tuple(int(round(float(c))) for c in mean)))  # type: ignore[arg-type]
    return hints


# ----------------------------------------------------------------------------------------------
# Hint propagation
# ----------------------------------------------------------------------------------------------
# The network sees hints, but a 4.5 M-parameter model trained on a CPU budget learned to follow
# them only weakly (docs/HINTS.md). So each hint's correction (its colour minus the network's
# colour there) is also spread explicitly, as Levin et al. 2004 spread scribbles: along paths
# of similar lightness. Distances are geodesic in (x, y, L): a step costs sqrt(1 + (EDGE * dL)^2)
# pixels, so an ink line or a light/dark border is a wall, and a flat region fills.
PROPAGATE_SIDE = 192  # distances are computed at this longest side (cheap; chroma is smooth)
PROPAGATE_SIDE_MANY = 128  # ... and at this one for more than FEW_HINTS hints
EDGE_COST = 10.0  # pixels of path per unit of L difference between neighbours
REACH = 2.5  # a correction fades as exp(-(d / (REACH * side))^2) with geodesic distance d
SHARPNESS = 0.04  # between hints: soft-min over distance with temperature SHARPNESS * side
FEW_HINTS = 16  # up to this many hints, the distances take two rounds of sweeps; more, one
GROUP_TOLERANCE = 4.0  # more hints than FEW_HINTS: those asking corrections this close share a distance map
SMOOTH = 3.0  # Gaussian sigma, in input pixels, of the lightness the distances see: screentone is not a wall


def gaussian_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """(h, w) float -> the same blurred by a separable Gaussian of ``sigma`` pixels (edges repeated)."""
    if sigma <= 0:
        return image
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = image.astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        n = out.shape[axis]
        out = sum(w * padded[(slice(None),) * axis + (slice(k, k + n),)] for k, w in enumerate(taps))
    return out.astype(np.float32)


def geodesic_distances(l: np.ndarray, seeds: list, *, edge_cost: float | None = None,
                       sweeps: int = 2) -> np.ndarray:
    """l (h, w) CIE L, seeds [(y, x)] -> (n, h, w) approximate geodesic distance from each seed
    (a seed may also be a list of points [(y, x), ...]: the distance to the nearest of them).

    Alternating directional sweeps (down, up, right, left), each vectorised across one axis and
    every seed, each relaxing through the three neighbours of the previous line; ``sweeps``
    rounds of four reach around a bend or two, which is what hint regions need.
    """
    edge_cost = EDGE_COST if edge_cost is None else edge_cost
    h, w = l.shape
    n = len(seeds)
    dist = np.full((n, h, w), np.inf, dtype=np.float32)
    for i, seed in enumerate(seeds):
        points = np.asarray(seed, dtype=np.intp).reshape(-1, 2)
        dist[i, points[:, 0], points[:, 1]] = 0.0
    lf = l.astype(np.float32)

    def step_cost(d_l: np.ndarray, base: float) -> np.ndarray:
        return np.sqrt(base + (edge_cost * d_l) ** 2)

    # Costs between line k-1 and line k, straight and diagonal, for vertical sweeps (rows)...
    v_straight = step_cost(np.abs(lf[1:] - lf[:-1]), 1.0)  # (h-1, w)
    v_left = step_cost(np.abs(lf[1:, 1:] - lf[:-1, :-1]), 2.0)  # (h-1, w-1): from x-1 to x
    v_right = step_cost(np.abs(lf[1:, :-1] - lf[:-1, 1:]), 2.0)  # from x+1 to x
    # ... and for horizontal sweeps (columns), the same on the transpose.
    lt = lf.T
    h_straight = step_cost(np.abs(lt[1:] - lt[:-1]), 1.0)
    h_left = step_cost(np.abs(lt[1:, 1:] - lt[:-1, :-1]), 2.0)
    h_right = step_cost(np.abs(lt[1:, :-1] - lt[:-1, 1:]), 2.0)

    def sweep(d: np.ndarray, straight: np.ndarray, left: np.ndarray, right: np.ndarray, reverse: bool) -> None:
        # d (n, lines, width), relaxed in place line by line. left[j, x] joins (j, x) and
        # (j + 1, x + 1); right[j, x] joins (j, x + 1) and (j + 1, x).
        lines = d.shape[1]
        order = range(lines - 2, -1, -1) if reverse else range(1, lines)
        for k in order:
            prev = k + 1 if reverse else k - 1
            j = min(k, prev)  # index into the between-lines cost arrays
            cur, src = d[:, k], d[:, prev]
            np.minimum(cur, src + straight[j], out=cur)
            np.minimum(cur[:, 1:], src[:, :-1] + (right[j] if reverse else left[j]), out=cur[:, 1:])
            np.minimum(cur[:, :-1], src[:, 1:] + (left[j] if reverse else right[j]), out=cur[:, :-1])

    for _ in range(sweeps):
        sweep(dist, v_straight, v_left, v_right, reverse=False)
        sweep(dist, v_straight, v_left, v_right, reverse=True)
        # Columns are relaxed in a transposed copy: each line is then contiguous in memory (on a
        # strided view the same sweeps took several times longer with many seeds).
        dist_t = np.ascontiguousarray(dist.transpose(0, 2, 1))
        sweep(dist_t, h_straight, h_left, h_right, reverse=False)
        sweep(dist_t, h_straight, h_left, h_right, reverse=True)
        dist = np.ascontiguousarray(dist_t.transpose(0, 2, 1))
    return dist


def group_seeds(seeds: list[tuple[int, int]], asked: list[np.ndarray], *, tolerance: float | None = None
                ) -> tuple[list[list[tuple[int, int]]], list[np.ndarray]]:
    """Seeds and what they ask (corrections, or colours) -> groups of seeds asking within ``tolerance``
    (Lab units, Euclidean; default GROUP_TOLERANCE) of the group's first, each with its members'
    mean. Greedy, in the given order."""
    tolerance = GROUP_TOLERANCE if tolerance is None else tolerance
    groups: list[list[int]] = []
    for i, value in enumerate(asked):
        for members in groups:
            if np.linalg.norm(value - asked[members[0]]) <= tolerance:
                members.append(i)
                break
        else:
            groups.append([i])
    return ([[seeds[i] for i in members] for members in groups],
            [np.mean([asked[i] for i in members], axis=0) for members in groups])


def propagation_grid(shape: tuple[int, int], count: int, *, own: int = 0) -> tuple[int, int]:
    """(h, w) of the network's grid and the number of hints -> (hp, wp), the grid on which
    :func:`propagate_hints` measures distances (longest side PROPAGATE_SIDE, a strip's pages', or
    PROPAGATE_SIDE_MANY for more than FEW_HINTS hints; never larger than the network's). When
    ``own`` of them are the user's (the rest a reference's), the grid is the one the user's would
    get alone, so that references do not coarsen how the user's hints spread."""
    h, w = shape
    scale = _propagation_scale(shape, own or count)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _propagation_scale(shape: tuple[int, int], count: int) -> float:
    return min(1.0, page_scale(*shape, PROPAGATE_SIDE_MANY if count > FEW_HINTS else PROPAGATE_SIDE))


START_DL = 15.0  # propagate_hints(hint_l=): a hint's cell this much darker or lighter than its pixel holds a line


def start_cell(l_p: np.ndarray, seed: tuple[int, int], point: tuple[float, float], l_at: float) -> tuple[int, int]:
    """l_p (hp, wp) the walls' lightness, ``seed`` (y, x) the cell a hint falls in, ``point`` its
    position in cells (fractional), ``l_at`` the L of the pixel it was placed on -> the cell it
    starts from: the seed, unless its L differs from ``l_at`` by more than START_DL; then the one
    of the seed's 3 x 3 neighbours nearest ``l_at`` in L (ties to the nearest to ``point``)."""
    y, x = seed
    if not abs(float(l_p[y, x]) - l_at) > START_DL:  # (NaN: where it is)
        return seed
    hp, wp = l_p.shape
    cells = [(cy, cx) for cy in range(max(0, y - 1), min(hp, y + 2)) for cx in range(max(0, x - 1), min(wp, x + 2))]
    return min(cells, key=lambda c: (round(abs(float(l_p[c]) - l_at) / START_DL),
                                     (c[0] + 0.5 - point[0]) ** 2 + (c[1] + 0.5 - point[1]) ** 2))


FILLS = {None: 0, "chroma": 2, "colour": 3}  # propagate_hints(fill=): trailing channels that take the hints' colours
FILL_APART = 1e4  # group_seeds never puts a hint that fills with one that corrects


OWN_REACH = 0.5  # in_own_regions: a reference's hint where the user's hint spreads with at least this weight gives way


def in_own_regions(walls: np.ndarray, full: tuple[int, int], own: list[Hint], others: list[Hint], *,
                   own_l: Sequence[float] | None = None) -> list[bool]:
    """Which of ``others`` (a reference's hints) lie where one of the user's ``own`` hints
    spreads with a weight of at least OWN_REACH: ``walls`` (hp, wp) the lightness the hints
    spread over (:func:`propagate_hints`'s, at :func:`propagation_grid`), ``full`` the input's
    (height, width), ``own_l`` the L of the pixel each own hint was placed on (it starts on its
    own side of a line, :func:`start_cell`).

    The weight is :func:`propagate_hints`' fade, exp(-(d / (REACH * side))^2), of the geodesic
    distance d over the walls smoothed as there: an ink line between them costs far more than
    the reach (EDGE_COST per unit of L it climbs and falls), a flat shape's width far less.
    Dropping those hints lets the user's hint win across the shape it fills, where a reference's
    hints nearer to most of it had made the shape two colours (helper 52: a dress half the
    hint's colour, half the reference's)."""
    if not own or not others:
        return [False] * len(others)
    hp, wp = walls.shape
    l_p = gaussian_smooth(walls.astype(np.float32), SMOOTH * max(hp, wp) / max(full))

    def cell(hint: Hint) -> tuple[int, int]:
        return min(hp - 1, int(hint.y * hp / full[0])), min(wp - 1, int(hint.x * wp / full[1]))

    seeds = [cell(hint) for hint in own]
    if own_l is not None:
        seeds = [start_cell(l_p, seed, (hint.y * hp / full[0], hint.x * wp / full[1]), float(l_at))
                 for seed, hint, l_at in zip(seeds, own, own_l)]
    nearest = geodesic_distances(l_p, seeds).min(axis=0)  # (hp, wp)
    reach = REACH * float(page_side(hp, wp)) * float(np.sqrt(-np.log(OWN_REACH)))
    return [bool(nearest[cell(hint)] < reach) for hint in others]


def propagate_hints(ab: np.ndarray, l: np.ndarray, hints: list[Hint], full: tuple[int, int], *,
                    patch: int = HINT_PATCH, walls: np.ndarray | None = None, fill: str | None = None,
                    filling: Sequence[bool] | None = None, hint_l: Sequence[float] | None = None,
                    own: int = 0) -> np.ndarray:
    """ab (2, h, w) predicted, l (h, w) the network's lightness, hints in input pixels of a
    ``full`` (height, width) image -> ab (2, h, w) with each hint spread (its correction, or
    with ``fill`` its colour). Paint
    mode passes (L, a, b) (3, h, w), the page lightness first: then the hint's lightness is
    spread too, so a hint on white paper fills its region at its own colour.

    ``walls`` (hp, wp) at :func:`propagation_grid`, if given, is the lightness the distances see
    (smoothed as ``l`` is) instead of ``l`` reduced: line art passes its darkest L per cell, so
    a line thinner than a cell of the grid is still a wall (a bilinear reduction fades it, and a
    hint inside one shape coloured the shapes beside it; a page's screentone would become walls
    too).

    Correction i is the hint's ab (or Lab) minus the mean prediction under its patch. Each pixel takes
    a soft-min blend of the corrections by geodesic distance (the nearest hint along similar
    lightness wins), faded by the distance to that nearest hint.

    ``fill`` spreads the hints' own colours instead of corrections in some channels: each pixel
    moves from the prediction towards the blend of the colours by the same weights, so a hint
    fills its region with one flat colour, as a paint bucket does, where a correction keeps the
    network's uneven colour under it (a shape half yellow, half white stays two colours).
    ``fill="colour"`` (line art's flats): every channel; ``fill="chroma"`` (a page, whose
    lightness carries its shading): a and b, the lightness still corrected. Hints that ask
    nearly the same then share a distance map. ``filling`` (one bool per hint; default all)
    says which hints fill; the others spread their corrections (a reference's many hints beside
    the user's own). ValueError for any other ``fill``, or a ``filling`` of another length.

    ``hint_l`` (one CIE L per hint, NaN to leave one where it is, or None), with ``walls``: the
    lightness of the pixel each hint was placed on. A hint whose cell of the walls' grid is
    darker or lighter than that by more than START_DL (a click on paper beside a line, whose
    cell holds the line) starts from the cell of its 3 x 3 neighbours nearest it in lightness,
    then in position (:func:`start_cell`), so it fills its own side of the line rather than
    both weakly.

    ``own``: the last ``own`` hints are the user's, the others a reference's. The user's spread
    as they would alone (on their grid, :func:`propagation_grid`, with two rounds of sweeps for
    a few), and where the nearest of them spreads with at least OWN_REACH of its weight (its own
    region), the others take no share: the user's hint wins its whole shape. Helper 54: a coat's
    hint beside a reference's 68 hints kept only a blob of what it fills alone, its distances
    coarsened by theirs, and the references' hints just outside the coat, across a thin line,
    were nearer to much of it. ValueError for ``own`` outside 0..len(hints).
    """
    if not 0 <= own <= len(hints):
        raise ValueError(f"own must be 0 to {len(hints)} (the user's hints are the last ones), not {own}")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(map(str, FILLS))}")
    filling = np.ones(len(hints), dtype=bool) if filling is None else np.asarray(filling, dtype=bool)
    if filling.shape != (len(hints),):
        raise ValueError(f"filling needs one value per hint ({len(hints)}), not {filling.shape}")
    if not hints:
        return ab
    from PIL import Image  # noqa: PLC0415 (numpy-only callers of this module need no Pillow)

    h, w = l.shape
    many = len(hints) > FEW_HINTS
    hp, wp = propagation_grid((h, w), len(hints), own=own)
    scale = _propagation_scale((h, w), own or len(hints))
    if walls is not None:
        if walls.shape != (hp, wp):
            raise ValueError(f"walls must be {(hp, wp)} (propagation_grid), not {walls.shape}")
        l_p = walls.astype(np.float32)
    else:
        l_p = np.asarray(Image.fromarray(l.astype(np.float32), "F").resize((wp, hp), Image.BILINEAR))
    # Screentone's pitch and an ink line's width are properties of the print, so the blur is set
    # in input pixels: on a large page the downsizing has already averaged the tone away.
    l_p = gaussian_smooth(l_p, SMOOTH * max(hp, wp) / max(full))
    channels = ab.shape[0]
    targets = rgb_to_lab(np.array([hint.rgb for hint in hints], dtype=np.uint8))[:, 3 - channels:]
    seeds, deltas = [], []
    for hint, target in zip(hints, targets):
        yc, xc = hint.cell(full, (h, w))
        y0, x0 = max(0, yc - patch // 2), max(0, xc - patch // 2)
        under = ab[:, y0 : y0 + patch, x0 : x0 + patch].reshape(channels, -1).mean(axis=1)
        deltas.append(target - under)
        seeds.append((min(hp - 1, int(yc * scale)), min(wp - 1, int(xc * scale))))
    if hint_l is not None and walls is not None:
        points = [(hint.y * hp / full[0], hint.x * wp / full[1]) for hint in hints]
        seeds = [start_cell(l_p, seed, point, float(l_at)) for seed, point, l_at in zip(seeds, points, hint_l)]
    # Many hints (reference pages give up to 160) lie close together: their regions are small,
    # reached in one round of sweeps at a coarser grid, and hints that ask nearly the same
    # (correction or colour) share one distance map; a few hand-placed ones get two rounds at
    # PROPAGATE_SIDE, to reach around bends.
    filled = np.arange(channels) >= channels - FILLS[fill]  # (channels,) bool: spread as colours, not corrections
    # What each hint asks, and last whether it fills: FILL_APART keeps fills and corrections in
    # separate groups.
    # A column keeps the user's hints out of the references' groups.
    users = np.arange(len(hints)) >= len(hints) - own
    asked = [np.append(np.where(filled & fills, target, delta), [FILL_APART * mine, FILL_APART * fills])
             for target, delta, fills, mine in zip(targets, deltas, filling, users)]
    if many:
        seeds, asked = group_seeds(seeds, asked)
    asked = np.array(asked, dtype=np.float32)
    fills, users = asked[:, -1] > 0, asked[:, -2] > 0
    asked = np.delete(asked, -2, axis=1)
    side = float(page_side(hp, wp))  # a strip's pages', not its length: a hint once coloured several pages
    dist = np.empty((len(seeds), hp, wp), np.float32)
    for group, count in ((users, own), (~users, len(hints) - own)):
        if group.any():
            dist[group] = geodesic_distances(l_p, [seed for seed, take in zip(seeds, group) if take],
                                             sweeps=1 if count > FEW_HINTS else 2)
    if users.any() and not users.all():
        theirs = dist[users].min(axis=0) < REACH * side * float(np.sqrt(-np.log(OWN_REACH)))
        dist[~users] = np.where(theirs, np.inf, dist[~users])
    nearest = dist.min(axis=0)
    share = np.exp(-(dist - nearest) / (SHARPNESS * side))
    share /= share.sum(axis=0)
    weight = share * np.exp(-((nearest / (REACH * side)) ** 2))  # (n, hp, wp), summing to at most 1
    spread = np.einsum("nhw,nc->chw", weight, asked[:, :-1])
    planes = [*spread, weight[fills].sum(axis=0)]
    up = np.stack([np.asarray(Image.fromarray(c.astype(np.float32), "F").resize((w, h), Image.BILINEAR))
                   for c in planes])
    kept = np.where(filled[:, None, None], 1.0 - up[-1], 1.0)  # a filled channel gives way to the colours
    return (ab * kept + up[:-1]).astype(np.float32)
