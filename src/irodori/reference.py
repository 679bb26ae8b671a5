"""Reference pages: colour a page after colour images of the same series (docs/REFERENCE.md).

A CPU-sized version of exemplar-based colorization (He et al. 2018, "Deep Exemplar-based
Colorization"; Xu et al. 2020, "Stylization-Based Architecture for Fast Deep Exemplar
Colorization"), with no network trained for it:

1. **Features.** The page's lightness and each reference's lightness (its grey version) go
   through the same ImageNet network, the first eleven MBConv blocks of EfficientNet-Lite0
   (``reference-lite0.onnx``, exported by ``scripts/export_reference_features.py``), so both are
   seen the same way whatever colour model runs. The input is a 384-px view, mirrored outwards
   by BORDER pixels (zero padding would make every image's edge alike). A cell of the
   1/16-scale grid is described by the stride-8 (pooled 2x2) and the stride-16 features, each
   unit-normalised, and by its mean lightness.
2. **Correspondence.** Every page cell is compared (cosine similarity, less a penalty for a
   different mean lightness) with every cell of every reference, at two scales and mirrored (a
   character sheet shows her larger than a panel does, and facing the other way). A page
   cell's **guide** colour is the soft-max-weighted mean CIE Lab of its best-matching
   reference cells. Its **confidence** ramps with the similarity and is zero unless the match
   is mutual (cycle consistency), coherent (the neighbours' matches move along), distinct
   (clearly better than the 16th best), not the reference's coloured backdrop, and supported
   by confident neighbours: chance matches of an unrelated image fail these, so it changes
   (nearly) nothing. The confident matches that place something (cells with detail, sharing
   their shift with others) are then grown into their neighbours, which look for their match
   around the shifted one (PatchMatch's propagation step, Barnes et al. 2009).
3. **Hints.** The most confident cells, spread over the page, become colour hints
   (:class:`irodori.hints.Hint`), which the pipeline already feeds to the network and spreads
   along similar lightness (:func:`irodori.hints.propagate_hints`). In tint mode a hint keeps
   the page's lightness (only its chroma is used); in paint mode it carries the reference's
   lightness too (at least PAINT_MIN_L), so paper takes the reference's flat colour. A page to
   be painted is matched in an ink view of both images (ink dark, all else white: the B&W print
   and a coloured page of the same art share only their ink), with references that do not
   also match it in the grey view left out.

The reference analysis (features and cell colours) is done once by :meth:`ReferenceMatcher.analyse`
and reused for every page of a batch (:meth:`irodori.colorizer.Colorizer.with_references`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import glob
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .cbz import is_archive
from .color import l_to_gray, lab_to_rgb, rgb_to_lab, rgb_to_uint8
from .hints import CarriedHint, Hint, HintError, gaussian_smooth, parse_hints
from .imageio import (DEFAULT_MAX_PIXELS, HINTS_TEXT, IMAGE_EXTENSIONS, ImageReadError, ImageSource, Lightness,
                      input_prefix, is_junk, is_strip, open_image, page_scale, page_side, rgb_over, scoped, to_srgb,
                      within_pages)
from .align import (ALIGN_MIN_CELLS, FLATS_SIDE, AlignedColour, Alignment, Drawing, aligned_colour, fit_alignments,
                    reference_flats)
from .balloons import components
from .paint import box_mean, grow
from .registry import ModelError, models_dir, verify

log = logging.getLogger(__name__)

FEATURES_ONNX = "reference-lite0.onnx"
FEATURES_SHA256 = "21afca430504359ca8371975cd80de65976e5883d27944523d5cee6c86e4780c"  # scripts/export_reference_features.py prints it
STRIDE8_BLOCK, LAST_BLOCK = 4, 10  # EfficientNet-Lite0 blocks: end of stage 3 (40 ch, 1/8), of stage 5 (112 ch, 1/16)
BORDER = 32  # pixels mirrored around the feature network's input (a multiple of 16)
CELL = 16  # pixels of the feature network's input per grid cell (its stride-16 grid)
FEATURE_SIDE = 384  # the longest side the feature network sees (page and reference alike)
REFERENCE_SCALES = (1.0, 0.5)  # a reference is analysed at these sizes (relative to FEATURE_SIDE)
MAX_REFERENCES = 8  # per call; each adds matching time to every page
INK_LOW, INK_HIGH = 25.0, 50.0  # the ink view's ramp, CIE L
MIN_RELATED = 0.03  # paint: a reference counts when this share of the page matches it in the grey view
# paint: the page's grey view is blurred by this Gaussian sigma (pixels of the feature view) for
# that test, so that its screentone reads as the grey a coloured page has there (0: not blurred)
RELATED_BLUR = 0.0
# ... and may colour line art's blank sheet (paint.background_mask) only from this share: on the val
# sets matching OpenMoji references were related on 5-61 % of the page, other emoji up to 14 %, and
# an unrelated reference's colour on the sheet cost 0.7 dB there.
MIN_RELATED_SHEET = 0.15
# ... and only with colours at least this light (CIE L): the blank sheet is paper, and white paper
# matched a green chalkboard (val openmoji-paint, matching reference: +1.48 dB without this, +2.26
# with it, +1.48 at L 90).
SHEET_HINT_L = 80.0
TONE_WEIGHT = 0.5  # similarity lost per 100 L of difference between two cells' mean lightness
W8, W16 = 0.5, 1.0  # weights of the stride-8 and stride-16 features in a cell's descriptor
TEMPERATURE = 0.02  # soft-max temperature over cosine similarities (He et al. 2018 use 0.01 on VGG)
TOP_K = 4  # best matches averaged into a guide colour
CYCLE_CELLS = 2  # a match is mutual when the way back lands within this many cells (Chebyshev)
MIN_COHERENCE = 0.5  # share of the 8 neighbours whose matches move along with a cell's
COHERENCE_CELLS = 2  # ... landing within this many cells of its own match
AMBIGUITY_RANK = 16  # a match is distinct when clearly better than the 16th best ...
MARGIN_FULL = 0.1  # ... fully so at this similarity margin
SUPPORT_RADIUS = 2  # a confident cell needs confident company in its (2r+1)^2 window ...
MIN_SUPPORT = 0.15  # ... at least this share of it
SIMILARITY_FLOOR, SIMILARITY_FULL = 0.5, 0.8  # confidence 0 at or below, 1 at or above (val sets: docs/REFERENCE.md)
MIN_CONFIDENCE = 0.3  # cells below this give no hint
GROW_STEPS = 8  # rings a confident match is grown by (grow_matches) ...
GROW_SLACK = 0.1  # ... into cells whose shifted match is this close to their best anywhere
GROW_DECAY = 0.9  # ... each ring's confidence this share of the ring before
SEED_DETAIL = 5.0  # ... from cells with at least this much detail (std of L): a blank cell's match has no place
GROW_RIM = True  # ... never into a coloured backdrop's rim
GROW_QUORUM = 6  # ... and sharing their shift with at least this many such cells (themselves counted)
MAX_CELL_MIX = 22.0  # on a page with a blank sheet (line art, gutters): a reference cell whose colour is mixed
# (the std of its pixels' ab, ink excluded, above this: a shape's edge, half white, half purple) gives no hint
# (0: every cell does)
BLANK_COMPANY = 2  # a blank page cell (detail below SEED_DETAIL) takes a coloured match only within this many
# cells of a confident cell with detail: a lone flat match is any flat area (an unrelated page's paper took a
# reference's yellow glow); 0: no such check
NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
WINDOW = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
ALIGN = True  # where a page is a reference's very drawing, its colours copied (irodori.align) ...
ALIGN_HINTS = True  # ... its matches still giving hints, whose corrections spread beyond the copy ...
ALIGN_PAINT = True  # ... on a page to paint too ...
ALIGN_RAW = True  # ... fitted to each reference's best match of every cell of detail too, not only to the confident
# matches: a screentone print matched its own colour page with confidence on 3-16 cells of 480 (val panels-paint)
MAX_REFERENCE_HINTS = 160  # per page (the pipeline takes at most hints.MAX_HINTS in all)
MIN_REFERENCE_CHROMA = 5.0  # a reference whose most colourful spot (64x64 view) is greyer than this is refused
BACKGROUND_DE = 8.0  # CIE76 distance to the border colour within which a reference cell is backdrop
BACKDROP_CHROMA = 6.0  # a grey or white backdrop is kept (white paper is a good hint for paper)
BACKDROP, PLAIN_BACKDROP = 1, 2  # Reference.where[:, 3]: a coloured backdrop, a white or grey one
# A reference that is irodori's output with its hints (in its PNG): a hint's area is the pixels joined to
# it whose ab, averaged around each, lies within OWN_HINT_AB of the output's at the hint (hint_areas); the
# rest is the network's guess.
OWN_HINT_AB, OWN_HINT_BOX = 12.0, 2  # (the ab averaged over 5 x 5 pixels)
OWN_HINT_DIMMED = 0.5  # ... at the area's chroma, if at least this share of the hint's (_shows)
OWN_HINT_INK = 25.0  # ... from a hint's pixel, unless it is darker than this (ink: it shows no colour) ...
OWN_HINT_REACH = 8  # ... or does not show the hint's chroma: then from the nearest that does, this close
OWN_HINT_WALL = 20.0  # ... and not across pixels this much darker than it (L averaged as ab): the lines around
OWN_HINT_SHARE = 0.3  # ... and a reference cell is the user's where it was clicked, or where a hint's area
# covers this share of it more than CARRIED_APART cells from there (own_cells)
SPOT_SAMPLES = 16  # cell_patch: samples across a cell's side, of line darkness around a hint's area's spot
SPOT_AGREE = 0.65  # a carried hint goes where the page's patch correlates this well with its area's (place_spot) ...
SPOT_FLAT = 2.0  # ... (a patch varying less than this is a flat fill, paper or sky: not carried) ...
CARRIED_APART = 3  # ... and one of a colour within this many cells: one hint a shape (_carried_near)
SPOT_SCALES = (0.7, 0.85, 1.0, 1.2, 1.4)  # ... read over a cell's extent times these (the art's size differs)
SPOT_SEARCH = 0.75  # ... looked for this many cells around where its match puts it
PAINT_MIN_L = 40.0  # a painted hint is at least this light: a flat over paper, never a black wash
DARK_SHARE = 0.25  # a cell's colour is the mean of its pixels above this lightness quantile (ink excluded)


_FOUND: contextvars.ContextVar[list[tuple[int, float]] | None] = contextvars.ContextVar("irodori_reference_hints",
                                                                                       default=None)


def counting_hints() -> contextlib.AbstractContextManager[list[tuple[int, float]]]:
    """Within the block, in this thread, :meth:`ReferenceMatcher.read_page` appends (how many hints
    it gave, the share of the page it copied) for each page to the list yielded (a page's answer
    says whether its references matched)."""
    return scoped(_FOUND, [])


class PendingCopy:
    """The colour copied where a page is a reference's very drawing (:meth:`ReferenceMatcher.copy_of`),
    found in a thread of its own while the caller runs the network and spreads the hints, which
    need nothing of it: on 2 cores a painted 780x1200 page with 4 references of its drawing took
    about 40 ms less, a tinted one little (docs/REFERENCE.md, Speed). :meth:`result` waits for it."""

    def __init__(self, find: Any = None, references: Sequence[Reference] = ()) -> None:
        """``find``: a callable taking nothing -> AlignedColour or None, started at once in a
        thread (None: nothing to copy); ``references``: those it reads, by name in the log."""
        self._future: Future = Future()
        self._references, self._said = tuple(references), False
        self.hints = 0  # how many hints the references gave the page (:meth:`ReferenceMatcher.read_page`)
        self.threaded = find is not None
        if find is None:
            self._future.set_result(None)
            return
        context = contextvars.copy_context()  # (the page's name in any log line it writes)
        threading.Thread(target=context.run, args=(self._run, find), name="irodori-copy", daemon=True).start()

    def _run(self, find: Any) -> None:
        try:
            self._future.set_result(find())
        except BaseException as error:  # raised again in the caller's thread, by result()
            self._future.set_exception(error)

    def result(self, paper: np.ndarray | None = None, sheet: str = "line art's blank sheet keeps"
               ) -> AlignedColour | None:
        """The copy, once found (an error in finding it is raised here); the first call says on
        the log, in the caller's thread, what was copied, and counts the share of the page it
        colours (:func:`counting_hints`). ``paper`` (h, w) in [0, 1] at the network's size: how
        much of each pixel the output keeps paper whatever was copied (the blank ``sheet``, named
        with its verb: line art's, or a page's gutters and margins), which that share leaves out and the log names
        (helper 71: "copied on 98 % of the page" of a print whose sheet kept 94 % of it white)."""
        copied = self._future.result()
        if not self._said:
            self._said = True
            share = float(copied.weight.mean()) if copied is not None else 0.0
            shown = float((copied.weight * (1.0 - paper)).mean()) if copied is not None and paper is not None else share
            counted = _FOUND.get()
            if counted is not None:
                counted.append((0, shown))
            if copied is not None:
                names = sorted({self._references[a.source].name for a in copied.regions})  # a path, or a place
                log.info("%sreferences: the same drawing as %s on %.0f%% of the page, its colours copied%s",
                         input_prefix(), ", ".join(f"reference {n}" if n.isdigit() else n for n in names),
                         100 * share, "" if shown >= share - 0.005 else
                         f"; {sheet} {100 * (share - shown):.0f}% of the page paper over them, so they "
                         f"colour {100 * shown:.0f}% (background paint colours it too)")
            elif self._references and not self.hints:
                log.info("%sreferences: nothing on the page matched them; coloured as without them", input_prefix())
        return copied


class ReferenceImageError(ValueError):
    """A reference that cannot be used: missing, not an image, too large, too many, not colour.
    (Not ``ReferenceError``, which would hide Python's built-in exception of that name.)"""


def __getattr__(name: str) -> Any:
    """``ReferenceError``, this exception's name until 2026-12-01, for code that imported it
    (it hid Python's built-in of that name); with a DeprecationWarning."""
    if name == "ReferenceError":
        import warnings

        warnings.warn("irodori.reference.ReferenceError is now ReferenceImageError", DeprecationWarning, stacklevel=2)
        return ReferenceImageError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Reference:
    """One analysed reference image: what matching needs, computed once (n cells over every
    scale and mirror).

    ``features`` (n, C) float32, unit rows: each cell's descriptor in the grey view (the
    reference's lightness), ``ink_features`` (n, C) in the ink view (:func:`ink_view`);
    ``lab`` (n, 3) float32 CIE Lab of each cell (L 0..100, a/b about -110..110); ``where`` (n, 4)
    int32: the cell's view (scale and mirror, numbered), row, column, and BACKDROP where it is a
    coloured backdrop (:func:`background_cells`: matched, but never a hint), PLAIN_BACKDROP a white
    or grey one (a hint, paper for paper, but never grown into); ``tones`` and ``ink_tones`` (n,)
    float32: each cell's mean L in either view; ``mix`` (n,) float32: how mixed each cell's
    colour is (:func:`cell_lab`; None for a Reference made without it: then no cell is mixed);
    ``guessed`` (n,) bool: for irodori's own output coloured with hints, the cells outside its
    hints' areas (:func:`own_cells`): matched, but never a hint (None: every cell counts);
    ``spots`` (n, 2) float32: where in each cell (row and column, as shares of the cell's height
    and width, in [0, 1]) its hint goes, the middle for most cells, for a cell of a hint's area a
    pixel well inside that area (None: the middle of every cell); ``spot_patch`` (n, S, S) float32:
    for a cell of a hint's area, the line darkness around its spot (:func:`spot_patches`; 0 for
    the others); ``views`` ((gh, gw, mirrored) per view, in the order of ``where``'s first column)
    and ``drawing``, what :mod:`irodori.align` copies where a page is this very drawing
    (:class:`irodori.align.Drawing`; None: nothing is copied, as from irodori's own output).
    """

    name: str
    features: np.ndarray
    ink_features: np.ndarray
    lab: np.ndarray
    where: np.ndarray
    tones: np.ndarray
    ink_tones: np.ndarray
    mix: np.ndarray | None = None
    guessed: np.ndarray | None = None
    spots: np.ndarray | None = None
    spot_patch: np.ndarray | None = None
    views: tuple[tuple[int, int, bool], ...] = ()
    drawing: Drawing | None = None

    @property
    def cells(self) -> int:
        return int(self.features.shape[0])

    @property
    def hinted(self) -> np.ndarray:
        """(n,) bool: the cells of its hints' areas (not :attr:`guessed`); none without hints."""
        return np.zeros(self.cells, bool) if self.guessed is None else ~self.guessed


@dataclass(frozen=True)
class Guide:
    """The colour the references suggest for each page cell: ``lab`` (gh, gw, 3) float32 CIE
    Lab, ``confidence`` (gh, gw) float32 in [0, 1]; the page is ``shape`` (H, W) pixels;
    ``spot`` (gh, gw, 2) float32: where in each cell its hint goes (the matched reference cell's
    :attr:`Reference.spots`; None: the middle); ``user`` (gh, gw) bool: the cells matched to a
    hint's area of a reference that is irodori's output coloured with hints (None: none is),
    ``spot_patch`` (gh, gw, S, S) float32 the line darkness around that area's spot there;
    ``best`` (gh, gw) int each cell's best match, an index into the cells of ``sources`` (the
    references matched) taken together; ``copied`` the colour copied where the page is a
    reference's very drawing (:class:`PendingCopy`: an :class:`irodori.align.AlignedColour`, or None)."""

    lab: np.ndarray
    confidence: np.ndarray
    shape: tuple[int, int]
    spot: np.ndarray | None = None
    user: np.ndarray | None = None
    spot_patch: np.ndarray | None = None
    best: np.ndarray | None = None
    sources: tuple[Reference, ...] = ()
    copied: PendingCopy = dataclasses.field(default_factory=PendingCopy)

    @property
    def coverage(self) -> float:
        """Share of the page's cells with a usable match (confidence at least MIN_CONFIDENCE)."""
        return float((self.confidence >= MIN_CONFIDENCE).mean())


# ----------------------------------------------------------------------------------------------
# Reading references
# ----------------------------------------------------------------------------------------------
def reference_files(sources: Iterable[str | Path], *, limit: int = MAX_REFERENCES) -> list[Path]:
    """Paths given on the command line -> image files: a file as is, a folder's images (sorted,
    not recursive; files that are not images by their extension, such as ``ComicInfo.xml`` or
    ``notes.txt``, and junk such as ``._x`` and ``Thumbs.db`` skipped, as a folder of pages is
    walked), a glob pattern (``'refs/*.png'``, quoted, as pages' are: its images, sorted).
    ReferenceImageError for a missing path, a pattern that matches no image, a folder without
    images, a comic archive (its pages are not read as references) or more than ``limit`` files."""
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if not path.exists() and any(c in str(source) for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(source)) if Path(p).is_file() and not is_junk(Path(p))
                           and Path(p).suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise ReferenceImageError(f"reference {source} matches no image")
            files.extend(found)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not is_junk(p) and not p.name.startswith(".")
                           and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise ReferenceImageError(f"reference folder {path} has no images")
            files.extend(found)
        elif path.is_file() and is_archive(path):
            raise ReferenceImageError(f"reference {path} is an archive: give its colour pages as image files or a "
                                      "folder of them")
        elif path.is_file():
            files.append(path)
        else:
            raise ReferenceImageError(f"reference {path} does not exist")
    unique: dict[Path, Path] = {}  # a file named twice (a file and a glob holding it): once, in its first place
    for path in files:
        unique.setdefault(path.resolve(), path)
    files = list(unique.values())
    if len(files) > limit:
        raise ReferenceImageError(f"too many references ({len(files)}; at most {limit}: each one is matched "
                                  "against every page)")
    return files


def reference_image(source: ImageSource, *, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS
                    ) -> tuple[np.ndarray, list[Hint]]:
    """A reference image -> (sRGB uint8 (H, W, 3), transparency over white; the hints it was
    coloured with when it is irodori's own output, its PNG's ``irodori:hints`` text,
    :data:`irodori.imageio.HINTS_TEXT`, else []). ReferenceImageError when it cannot be read or is
    too large (the same limits as a page) or has no colour at all."""
    try:
        img = open_image(source, max_pixels=max_pixels)
    except ImageReadError as exc:
        raise ReferenceImageError(f"reference {name}: {exc}") from None
    return _checked_rgb(img, name), hints_of_output(img)


def _checked_rgb(img: Image.Image, name: str) -> np.ndarray:
    """An opened reference -> sRGB uint8 (H, W, 3), transparency over white; ReferenceImageError
    when it is too small or grey."""
    if img.info.get("icc_profile"):
        img = to_srgb(img)
    rgb = np.asarray(rgb_over(img))
    if rgb.shape[0] < CELL * 2 or rgb.shape[1] < CELL * 2:
        raise ReferenceImageError(f"reference {name} is {rgb.shape[1]}x{rgb.shape[0]}: too small to match "
                                  f"(at least {CELL * 2}x{CELL * 2})")
    small = np.asarray(Image.fromarray(rgb).resize((64, 64), Image.BOX))
    if np.hypot(*rgb_to_lab(small)[..., 1:].transpose(2, 0, 1)).max() < MIN_REFERENCE_CHROMA:
        clear = "A" in img.getbands() and not img.getchannel("A").getbbox()  # (helper 72: "no colour" for it)
        raise ReferenceImageError(f"reference {name} " + (
            "is wholly transparent: nothing of it shows (over white)" if clear
            else "has no colour (a grey or black-and-white image)") + ": a reference shows the colours to use")
    return rgb


# ----------------------------------------------------------------------------------------------
# Features and matching
# ----------------------------------------------------------------------------------------------
def feature_size(height: int, width: int, side: int | None = None) -> tuple[int, int]:
    """(h, w) the feature network sees: longest side about ``side`` (default FEATURE_SIDE; a
    strip's pages', as :func:`irodori.imageio.page_scale` measures them), both multiples of 16."""
    side = FEATURE_SIDE if side is None else side
    scale = page_scale(height, width, side)
    if is_strip(height, width):
        scale = min(scale, 1.0)  # a strip is never enlarged (a 1x12000 line was analysed at 16x84000)
    h, w = (max(16, int(round(height * scale / 16)) * 16), max(16, int(round(width * scale / 16)) * 16))
    return within_pages(h, w, side, 16)  # the 16-px rounding counted


def grey_input(l: np.ndarray) -> np.ndarray:
    """CIE L (h, w) -> the network's input (1, 1, h, w) float32: sRGB grey levels 0..255."""
    return (l_to_gray(l) * 255.0).astype(np.float32)[None, None]


def ink_view(l: np.ndarray) -> np.ndarray:
    """CIE L (h, w) -> the image as ink on white, float32 0..100: L below INK_LOW is ink (0),
    above INK_HIGH white (100), linear between. A printed B&W page and a coloured page of the
    same art differ in everything but their ink (paper and tone become fills of any lightness),
    so a page to be painted is matched with its references in this view."""
    return (np.clip((l - INK_LOW) / (INK_HIGH - INK_LOW), 0.0, 1.0) * 100.0).astype(np.float32)


def descriptors(f8: np.ndarray, f16: np.ndarray) -> np.ndarray:
    """The network's outputs (40, h, w) and (112, h/2, w/2) -> (h/2 * w/2, 152) float32 unit rows,
    one per cell of the CELL (16-px) grid: f8 averaged over 2x2, f16 as it is, each
    unit-normalised and weighted by W8 and W16."""
    c, h, w = f8.shape
    f8 = f8[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    parts = []
    for f, weight in ((f8, W8), (f16[:, : f8.shape[1], : f8.shape[2]], W16)):
        flat = f.reshape(f.shape[0], -1).T
        parts.append(weight * flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6))
    out = np.concatenate(parts, axis=1)
    return (out / np.sqrt(W8 ** 2 + W16 ** 2)).astype(np.float32)


def _cells(l: np.ndarray) -> np.ndarray:
    """(h, w) with h, w multiples of CELL -> (h/CELL, CELL, w/CELL, CELL): its cells' pixels."""
    h, w = l.shape
    return l.reshape(h // CELL, CELL, w // CELL, CELL)


def cell_means(l: np.ndarray) -> np.ndarray:
    """(h, w) with h, w multiples of CELL -> (h/CELL * w/CELL,) float32 mean of each cell."""
    return _cells(l).mean(axis=(1, 3)).reshape(-1).astype(np.float32)


def cell_detail(l: np.ndarray) -> np.ndarray:
    """(h, w) with h, w multiples of CELL -> (h/CELL * w/CELL,) float32 standard deviation of
    each cell: near 0 on blank paper or a flat fill, whose match says nothing about where it is."""
    return _cells(l).std(axis=(1, 3)).reshape(-1).astype(np.float32)


def cell_lab(rgb: np.ndarray, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """sRGB uint8 (H, W, 3) -> ((gh * gw, 3) float32 CIE Lab per grid cell: the mean of the
    cell's pixels above its DARK_SHARE lightness quantile (ink lines excluded), measured on
    the image resized to the grid times CELL; (gh * gw,) float32 how mixed that colour is: the
    standard deviation of those pixels' a and b about it)."""
    gh, gw = grid
    small = np.asarray(Image.fromarray(rgb).resize((gw * CELL, gh * CELL), Image.BOX))
    lab = rgb_to_lab(small).astype(np.float32).reshape(gh, CELL, gw, CELL, 3).transpose(0, 2, 1, 3, 4)
    lab = lab.reshape(gh * gw, CELL * CELL, 3)
    floor = np.quantile(lab[..., 0], DARK_SHARE, axis=1)[:, None]
    keep = (lab[..., 0] >= floor)[..., None]
    count = keep.sum(axis=1)
    mean = (lab * keep).sum(axis=1) / count
    spread = ((((lab - mean[:, None]) * keep)[..., 1:] ** 2).sum(axis=(1, 2)) / count[:, 0]) ** 0.5
    return mean.astype(np.float32), spread.astype(np.float32)


def match(page: np.ndarray, page_tone: np.ndarray, grid: tuple[int, int], references: Sequence[Reference], *,
          ink: bool = False, detail: np.ndarray | None = None, mix_limit: float | None = None,
          guesses: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Page descriptors (n, C) and mean lightness (n,) of the cells of a ``grid`` -> (guide Lab
    (n, 3), confidence (n,), both float32, the index of the reference each cell's best match
    is in (n,), and that match, an index into the references' cells taken together (n,));
    ``ink``: the references' ink-view descriptors.

    Similarity is the cosine of descriptors less TONE_WEIGHT per 100 L of difference in the
    cells' mean lightness (features of flat areas hardly tell white from black); the guide is
    the soft-max (TEMPERATURE) mean of the TOP_K best reference cells. Confidence ramps from
    SIMILARITY_FLOOR to SIMILARITY_FULL and is zero unless the best match is mutual
    (cycle-consistency, CYCLE_CELLS), coherent with its neighbours' (:func:`coherence`),
    distinct (clearly better than the AMBIGUITY_RANK-th best), not a coloured backdrop, and
    supported by confident cells around it (SUPPORT_RADIUS, MIN_SUPPORT). With ``detail`` (n,), the cells'
    standard deviation of L (:func:`cell_detail`), a blank cell's coloured match needs matched
    detail near it (:func:`lone_flat_matches`), and the confident matches are then grown into
    their neighbours (:func:`grow_matches`), which take the grown match's colour. With
    ``mix_limit``, a cell whose (grown) match is a reference cell of mixed colour (``mix`` above
    it: a shape's edge) keeps the match but gets no confidence, so gives no hint; so does one whose
    match is a reference's guessed cell (``Reference.guessed``), unless ``guesses`` (whether the
    page matches the reference at all: :meth:`ReferenceMatcher.guide`'s relatedness).
    """
    bank = np.concatenate([r.ink_features if ink else r.features for r in references])
    bank_tone = np.concatenate([r.ink_tones if ink else r.tones for r in references])
    offsets = np.cumsum([0] + [int(r.where[:, 0].max()) + 1 for r in references])
    where = np.concatenate([r.where + [[offset, 0, 0, 0]] for offset, r in zip(offsets, references)])
    sim = page @ bank.T  # (n, m)
    if TONE_WEIGHT:  # in place: the (n, m) matrices are the largest arrays of a page's matching
        penalty = np.subtract.outer(page_tone, bank_tone)
        np.abs(penalty, out=penalty)
        penalty *= TONE_WEIGHT / 100.0
        sim -= penalty
    top, top_sim, runner_up = best_matches(sim, [r.cells for r in references])
    weights = np.exp((top_sim - top_sim[:, :1]) / TEMPERATURE)
    weights /= weights.sum(axis=1, keepdims=True)
    labs = np.concatenate([r.lab for r in references])
    guide = np.einsum("nk,nkc->nc", weights, labs[top])
    confidence = match_confidence(sim, top[:, 0], top_sim[:, 0], runner_up, where, grid)
    best = top[:, 0]
    if detail is not None and BLANK_COMPANY:
        confidence *= ~lone_flat_matches(confidence, detail, guide, grid)
    if detail is not None and GROW_STEPS:
        seeds = (confidence >= MIN_CONFIDENCE) & (detail >= SEED_DETAIL)
        if GROW_QUORUM:
            seeds &= shift_quorum(seeds, where[best], grid) >= GROW_QUORUM
        grown, chosen, grown_confidence = grow_matches(sim, best, seeds, confidence, top_sim[:, 0], where, grid)
        guide[grown] = labs[chosen[grown]]
        confidence[grown] = grown_confidence[grown]
        best = np.where(grown, chosen, best)
    if mix_limit and all(r.mix is not None for r in references):  # after growth: a mixed cell still passes it on
        confidence[np.concatenate([r.mix for r in references])[best] > mix_limit] = 0.0
    if not guesses and any(r.guessed is not None for r in references):  # last: the match stands, its colour not
        guessed = np.concatenate([np.zeros(r.cells, bool) if r.guessed is None else r.guessed for r in references])
        confidence[guessed[best]] = 0.0
        mine = np.concatenate([r.hinted for r in references])[best]  # a hint's area: its own colour, not
        # blended with the runners-up (a pale red for a red)
        guide[mine] = labs[best[mine]]
    owner = np.repeat(np.arange(len(references)), [r.cells for r in references])
    return guide.astype(np.float32), confidence.astype(np.float32), owner[best], best


def aligned_candidates(page: np.ndarray, detail: np.ndarray, sure: tuple[np.ndarray, np.ndarray] | None,
                       references: Sequence[Reference], *, ink: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The matches a page's alignment with its references is fitted to (:meth:`ReferenceMatcher.copy_of`):
    ``sure`` (each cell's best match (n,), an index into the cells of ``references`` taken
    together, and its confidence (n,)) where at least MIN_CONFIDENCE, and with ALIGN_RAW, for
    every cell of ``detail`` (n,) at least SEED_DETAIL, each reference's own most similar cell to
    it by the page's descriptors ``page`` (n, C) (the ink view's with ``ink``), confident or not:
    RANSAC needs only some of them right, and those of a reference that is not the page's
    drawing agree on no transform (val panels-paint: the matching reference's best fit 10-74
    inliers, an unrelated one's at most 10) -> (page cells (k,), matches (k,)), each pair once."""
    cells, matches = [], []
    if sure is not None:
        best, confidence = (np.asarray(a).reshape(-1) for a in sure)
        picked = np.nonzero(confidence >= MIN_CONFIDENCE)[0]
        cells.append(picked)
        matches.append(best[picked])
    if ALIGN_RAW:
        detailed = np.nonzero(detail.reshape(-1) >= SEED_DETAIL)[0]
        start = 0
        for r in references:
            if r.drawing is not None and len(detailed):
                sim = page[detailed] @ (r.ink_features if ink else r.features).T
                cells.append(detailed)
                matches.append(start + np.argmax(sim, axis=1))
            start += r.cells
    if not cells:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(cells), np.concatenate(matches)], axis=1).astype(np.int64), axis=0)
    return pairs[:, 0], pairs[:, 1]


def lone_flat_matches(confidence: np.ndarray, detail: np.ndarray, guide: np.ndarray, grid: tuple[int, int]
                      ) -> np.ndarray:
    """Confident cells (n,) of a page ``grid`` whose match says nothing about where they are:
    blank (``detail`` below SEED_DETAIL), matched to a colour (``guide`` Lab (n, 3), chroma at
    least BACKDROP_CHROMA: white paper for paper is always plausible), with no confident cell of
    detail within BLANK_COMPANY cells -> bool (n,). A flat area matches any flat area of a
    reference equally well; beside matched detail (the inside of a shape whose outline was
    found) its colour is the shape's."""
    confident = confidence >= MIN_CONFIDENCE
    placed = (confident & (detail >= SEED_DETAIL)).reshape(grid)
    near = box_mean(placed.astype(np.float32), BLANK_COMPANY).reshape(-1) > 0
    coloured = np.hypot(guide[:, 1], guide[:, 2]) >= BACKDROP_CHROMA
    return confident & (detail < SEED_DETAIL) & coloured & ~near


def shift_quorum(seeds: np.ndarray, matched: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """How many seeds share each seed's shift (same view, page-to-reference offset within
    COHERENCE_CELLS) -> (n,) int, 0 off the seeds."""
    idx = np.flatnonzero(seeds)
    out = np.zeros(seeds.shape, dtype=np.int64)
    if not idx.size:
        return out
    rows, cols = np.divmod(idx, grid[1])
    shift = np.stack([matched[idx, 1] - rows, matched[idx, 2] - cols], axis=1)
    same = (matched[idx, 0][:, None] == matched[idx, 0][None]) & (
        np.abs(shift[:, None] - shift[None]).max(axis=-1) <= COHERENCE_CELLS)
    out[idx] = same.sum(axis=1)
    return out


def grow_lookup(where: np.ndarray) -> np.ndarray:
    """The reference cells' places ``where`` (m, 4) -> int64 (views, rows + 4, cols + 4): cell
    (view, row + 2, col + 2) -> its index in ``where``; -1 off the views, on any backdrop (found
    by a helper: a character drawn twice as large as in the reference grew into its white
    background, and her green skirt was painted white), and beside a coloured one (GROW_RIM: a
    rim cell is mostly backdrop; a cover's pink wall grew into a page's paper; beside a white
    one it is mostly figure). The margin of 2 takes a neighbour's shift and the 3x3 window of
    :func:`grow_matches` without clipping."""
    shape = (int(where[:, 0].max()) + 1, int(where[:, 1].max()) + 5, int(where[:, 2].max()) + 5)
    at = (where[:, 0], where[:, 1] + 2, where[:, 2] + 2)
    closed = np.zeros(shape, dtype=bool)
    closed[at] = where[:, 3] == BACKDROP
    if GROW_RIM:
        closed = np.stack([grow(view) for view in closed])
    closed[at] |= where[:, 3] != 0
    lookup = np.full(shape, -1, dtype=np.int64)
    lookup[at] = np.arange(len(where))
    lookup[closed] = -1
    return lookup


def grow_matches(sim: np.ndarray, best: np.ndarray, seeds: np.ndarray, confidence: np.ndarray, best_sim: np.ndarray,
                 where: np.ndarray, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confident matches grown into their neighbourhood -> (grown (n,) bool, the reference cell
    each grown cell takes (n,) int, confidence (n,) float32, both valid where grown).

    ``sim`` (n, m) similarities; ``best`` (n,) each page cell's best reference cell,
    ``best_sim`` its similarity, ``confidence`` (n,) from :func:`match_confidence`; ``seeds``
    (n,) bool, the confident cells to grow from (in :func:`match`: those with detail, at least
    SEED_DETAIL, and a shift shared by GROW_QUORUM of them, :func:`shift_quorum`: a white
    cell matches any white cell, and a few chance matches of an unrelated picture agree on no
    shift); ``where`` (m, 4) places the reference cells (view, row, col, backdrop); ``grid``
    the page's (gh, gw). Confident cells that are not seeds, and cells whose best match is a
    coloured backdrop, are left as they are (a cell matching white paper is grown into: line
    art's white insides are what growth colours).

    A true correspondence is locally a shift: a page cell beside a confident one most likely
    matches the reference cell beside that one's match. So, GROW_STEPS rings at a time, a cell
    next to a matched one looks in the same view of the reference around the shifted match
    (3x3 cells, for a change of scale) and takes the most similar cell there, if that is at
    least SIMILARITY_FLOOR, within GROW_SLACK of the cell's own best match anywhere, and neither
    on a backdrop nor beside a coloured one (:func:`grow_lookup`). Its confidence is its
    neighbour's times GROW_DECAY, at most its similarity ramp (itself at least MIN_CONFIDENCE); a
    grown cell below MIN_CONFIDENCE gives no hint but still grows. This is PatchMatch's
    propagation step (Barnes et al. 2009) seeded only by the checked matches, so an unrelated
    reference, which has (nearly) none, gains (nearly) nothing; measured on the val sets in
    docs/REFERENCE.md.
    """
    gh, gw = grid
    n = sim.shape[0]
    lookup = grow_lookup(where)
    chosen = np.where(seeds, best, -1)
    chosen[(confidence >= MIN_CONFIDENCE) & ~seeds] = -2  # matched already, not a seed: kept as it is
    chosen[where[best, 3] == BACKDROP] = -2  # its match is a coloured backdrop: not grown into
    conf = np.where(seeds, confidence, 0.0).astype(np.float32)
    grown = np.zeros(n, dtype=bool)
    rows, cols = np.divmod(np.arange(n), gw)
    for _ in range(GROW_STEPS):
        cand, cand_sim, cand_conf = np.full(n, -1), np.full(n, -np.inf, dtype=np.float32), np.zeros(n, np.float32)
        for dy, dx in NEIGHBOURS:
            ny, nx = rows - dy, cols - dx  # the neighbour a cell grows from
            inside = (ny >= 0) & (ny < gh) & (nx >= 0) & (nx < gw)
            nb = np.where(inside, ny * gw + nx, 0)
            source = np.where(inside & (chosen == -1), chosen[nb], -1)
            live = np.flatnonzero(source >= 0)
            if not live.size:
                continue
            view, row, col = where[source[live], 0], where[source[live], 1] + dy + 2, where[source[live], 2] + dx + 2
            centre = lookup[view, row, col] >= 0
            live, view, row, col = live[centre], view[centre], row[centre], col[centre]
            j = lookup[view[:, None], row[:, None] + WINDOW[:, 0], col[:, None] + WINDOW[:, 1]]  # (live, 9)
            s = np.where(j >= 0, sim[live[:, None], np.maximum(j, 0)], -np.inf).astype(np.float32)
            pick = s.argmax(axis=1)
            s, j = s[np.arange(live.size), pick], j[np.arange(live.size), pick]
            better = s > cand_sim[live]
            at = live[better]
            cand[at], cand_sim[at], cand_conf[at] = j[better], s[better], conf[nb[at]] * GROW_DECAY
        take = (cand >= 0) & (cand_sim >= SIMILARITY_FLOOR) & (cand_sim >= best_sim - GROW_SLACK)
        if not take.any():
            break
        ramp = np.clip((cand_sim - SIMILARITY_FLOOR) / (SIMILARITY_FULL - SIMILARITY_FLOOR), MIN_CONFIDENCE, 1.0)
        chosen[take] = cand[take]
        conf[take] = np.minimum(cand_conf[take], ramp[take])
        grown |= take
    return grown, np.maximum(chosen, 0), conf


def best_matches(sim: np.ndarray, counts: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarities (n, m) -> (the TOP_K best columns of each row (n, k), best first, their
    similarities (n, k), and the AMBIGUITY_RANK-th best similarity (n,)). With ``counts``, the
    columns are that many cells of each reference in turn, and all three are taken within the
    reference that holds a row's best match (the first on a tie): a second copy of a reference,
    or the same character in two, neither blends into the first one's colour nor makes its
    matches ambiguous (found by a helper: three copies of one cover gave no hint at all). Each
    row is ranked within that reference alone (a third of the time of ranking it within all four
    of the benchmark's)."""
    counts = [sim.shape[1]] if counts is None else list(counts)
    starts = np.cumsum([0, *counts])
    k = min(TOP_K, AMBIGUITY_RANK, *counts)
    owner = np.argmax(np.maximum.reduceat(sim, starts[:-1], axis=1), axis=1)  # the first of equals
    top, top_sim = np.empty((sim.shape[0], k), np.intp), np.empty((sim.shape[0], k), sim.dtype)
    ranked = np.empty(sim.shape[0], sim.dtype)
    for o, (start, count) in enumerate(zip(starts, counts)):
        rows = np.flatnonzero(owner == o)
        rank = min(AMBIGUITY_RANK, count)
        block = sim[rows, start:start + count]
        near = np.argpartition(block, count - rank, axis=1)[:, -rank:]  # the `rank` best, unordered
        near_sim = np.take_along_axis(block, near, axis=1)
        order = np.argsort(-near_sim, axis=1)[:, :k]
        top[rows] = np.take_along_axis(near, order, axis=1) + start
        top_sim[rows] = np.take_along_axis(near_sim, order, axis=1)
        ranked[rows] = near_sim.min(axis=1)
    return top, top_sim, ranked


def match_confidence(sim: np.ndarray, best: np.ndarray, best_sim: np.ndarray, runner_up: np.ndarray,
                     where: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Each page cell's confidence (n,) in its best match (column ``best`` of ``sim``, of
    similarity ``best_sim``; ``where`` (m, 4) places the reference cells): the similarity ramp,
    times mutual, coherent, distinct from ``runner_up`` and not backdrop, then kept only where
    supported by confident neighbours. See :func:`match`."""
    back = sim.argmax(axis=0)[best]  # page cell -> its best reference cell -> that cell's best page cell
    here, gw = np.arange(sim.shape[0]), grid[1]
    mutual = np.maximum(abs(back // gw - here // gw), abs(back % gw - here % gw)) <= CYCLE_CELLS
    gate = mutual & (coherence(where[best, :3], grid) >= MIN_COHERENCE) & (where[best, 3] != BACKDROP)
    distinct = np.clip((best_sim - runner_up) / MARGIN_FULL, 0.0, 1.0)
    ramp = np.clip((best_sim - SIMILARITY_FLOOR) / (SIMILARITY_FULL - SIMILARITY_FLOOR), 0.0, 1.0)
    confidence = ramp * gate * distinct
    support = box_mean((confidence >= MIN_CONFIDENCE).reshape(grid), SUPPORT_RADIUS).reshape(-1)
    return confidence * (support >= MIN_SUPPORT)


def coherence(matched: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Where each page cell's best match lies, (n, 3) (view, row, col), on a page ``grid`` ->
    (n,) float32: the share of its 8 neighbours whose matches lie in the same view within
    COHERENCE_CELLS of its own (a true correspondence moves the neighbourhood along; chance
    matches of an unrelated image scatter)."""
    gh, gw = grid
    m = matched.reshape(gh, gw, 3)
    pad = np.pad(m, ((1, 1), (1, 1), (0, 0)), mode="constant", constant_values=-10_000)
    agree = np.zeros((gh, gw), dtype=np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            other = pad[1 + dy : 1 + dy + gh, 1 + dx : 1 + dx + gw]
            near = np.abs(other[..., 1:] - m[..., 1:]).max(axis=-1) <= COHERENCE_CELLS
            agree += (other[..., 0] == m[..., 0]) & near
    return (agree / 8.0).reshape(-1)


def background_cells(lab: np.ndarray) -> np.ndarray:
    """Cell colours (gh, gw, 3) CIE Lab -> int8 (gh, gw): the reference's background, cells
    within BACKGROUND_DE of the median colour of the grid's outer ring, BACKDROP (1) where that
    colour is coloured, PLAIN_BACKDROP (2) where it is near-grey (chroma below BACKDROP_CHROMA),
    0 elsewhere. A coloured backdrop (a sky, a lilac studio wall) belongs to that picture, not
    to the character: a page cell that matches it takes no hint (its own paper would otherwise
    take the reference's backdrop), while the match itself stays, so paper still finds paper
    rather than the next-best colour. White paper for white paper is a good hint, and it keeps a
    painted page's paper clean, so a plain backdrop gives hints; but no match is grown into
    either (:func:`grow_matches`). Nothing is background when the ring has no dominant colour
    (its cells spread wider than BACKGROUND_DE around their median, in more than half of them)."""
    ring = np.concatenate([lab[0], lab[-1], lab[1:-1, 0], lab[1:-1, -1]])
    centre = np.median(ring, axis=0)
    if (np.linalg.norm(ring - centre, axis=1) <= BACKGROUND_DE).mean() < 0.5:
        return np.zeros(lab.shape[:2], dtype=np.int8)
    kind = PLAIN_BACKDROP if np.hypot(*centre[1:]) < BACKDROP_CHROMA else BACKDROP
    return np.where(np.linalg.norm(lab - centre, axis=-1) <= BACKGROUND_DE, kind, 0).astype(np.int8)


def hint_areas(rgb: np.ndarray, hints: Sequence[Hint]) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """An irodori output (H, W, 3) sRGB uint8 coloured with ``hints`` (in its pixels) -> for each
    hint that shows, (its area (H, W) bool, the area's mean colour (3,) CIE Lab, the pixel (y, x)
    it grew from, the hint's or the nearest that shows it): the pixels joined
    (4-connected) to the hint's pixel, or to the nearest that shows the hint's chroma
    (:func:`_hint_seed`), whose chroma, averaged over OWN_HINT_BOX pixels around each (a fill is
    crossed by lines and the texture of its shading), lies within OWN_HINT_AB of the seed's, and
    whose lightness, so averaged, is not a line's (more than OWN_HINT_WALL under the seed's). A
    hint the output does not show has none: no seed, or an area whose mean colour (of its pixels
    that are not ink) does not show the hint's (:func:`_shows`; helper 59's page 1: a yellow hint
    on pale hair came out beige and joined the beige wash around it; a red hint tinted onto light
    paper is a pale red)."""
    if not hints:
        return []
    lab = rgb_to_lab(rgb).astype(np.float32)
    a, b = box_mean(lab[..., 1], OWN_HINT_BOX), box_mean(lab[..., 2], OWN_HINT_BOX)
    l_smooth = box_mean(lab[..., 0], OWN_HINT_BOX)
    areas = []
    for hint in hints:
        target = rgb_to_lab(np.array([[hint.rgb]], np.uint8))[0, 0]
        seed = _hint_seed(lab[..., 0], a, b, hint, target)
        if seed is None:
            continue
        y, x = seed
        close = np.hypot(a - a[y, x], b - b[y, x]) <= OWN_HINT_AB
        close &= l_smooth >= l_smooth[y, x] - OWN_HINT_WALL
        labels, _ = components(close)
        area = labels == labels[y, x]
        fill = area & (lab[..., 0] >= OWN_HINT_INK)
        colour = lab[fill if fill.any() else area].mean(axis=0)
        if _shows(colour[1:], target[1:]):  # else the output does not show the hint (its ink left out)
            areas.append((area, colour, (y, x)))
    return areas


def _shows(ab: np.ndarray, hint_ab: np.ndarray) -> np.ndarray:
    """Whether colours' ab (..., 2) show a hint's (2,): within OWN_HINT_AB of the hint's ab at each
    colour's chroma, down to OWN_HINT_DIMMED of the hint's -> bool (...). Ink over a colour takes
    chroma with its lightness: a red hint on dark dotted hair showed at 85 % of its chroma, 12.5
    from it, and was taken for not shown (helper 65)."""
    chroma = float(np.hypot(*hint_ab))
    scale = np.clip(np.hypot(ab[..., 0], ab[..., 1]) / chroma, OWN_HINT_DIMMED, 1.0) if chroma > 0 else 1.0
    return np.hypot(*np.moveaxis(ab - np.multiply.outer(scale, hint_ab), -1, 0)) <= OWN_HINT_AB


def _hint_seed(l: np.ndarray, a: np.ndarray, b: np.ndarray, hint: Hint, target: np.ndarray) -> tuple[int, int] | None:
    """Where a hint's area starts: the hint's pixel, or, where that is ink or beside a line (its
    averaged chroma not the hint's), the nearest pixel within OWN_HINT_REACH that shows the hint's
    chroma and is not ink (helper 60: a hint a few pixels from a coat's edge passed nothing on);
    where none shows it in full, the nearest that shows it dimmed (:func:`_shows`: a hinted
    screentone or dark dotted hair, every pixel's average taking in the dots: helper 65)."""
    h, w = l.shape
    y0, y1 = max(0, hint.y - OWN_HINT_REACH), min(h, hint.y + OWN_HINT_REACH + 1)
    x0, x1 = max(0, hint.x - OWN_HINT_REACH), min(w, hint.x + OWN_HINT_REACH + 1)
    ab = np.stack([a[y0:y1, x0:x1], b[y0:y1, x0:x1]], axis=-1)
    shows = np.hypot(*np.moveaxis(ab - target[1:], -1, 0)) <= OWN_HINT_AB
    if not (shows & (l[y0:y1, x0:x1] >= OWN_HINT_INK)).any():
        shows = _shows(ab, target[1:])
    shows &= l[y0:y1, x0:x1] >= OWN_HINT_INK
    if not shows.any():
        return None
    ys, xs = np.nonzero(shows)
    nearest = int(np.argmin((ys + y0 - hint.y) ** 2 + (xs + x0 - hint.x) ** 2))
    return int(ys[nearest] + y0), int(xs[nearest] + x0)


def own_cells(areas: list[tuple[np.ndarray, np.ndarray, tuple[int, int]]], grid: tuple[int, int], *,
              mirror: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`hint_areas` on a reference's cell ``grid`` (seen mirrored if ``mirror``) -> (own (n,)
    bool: for each area the cell of the pixel it grew from (where the user clicked), and those
    at least OWN_HINT_SHARE covered by it more than CARRIED_APART cells away (a long coat's far
    end); their colour (n, 3) CIE Lab: that area's, the user's word, not the cell's mean, which
    blends the fill with its lines and what is around it; their spots (n, 2): where in the cell
    a hint of it goes, the clicked pixel in its cell, else :func:`_area_spot`; the middle for the
    other cells). An area often holds more than the clicked shape (the hint's colour spread on
    page 1 from the hair over the face): a hint in each cell of it gave the face the hair's colour
    on the next page (helper 67). The other cells of an output coloured with hints are the network's
    guesses: matched, never a hint (helper 59: in "colour one, then the rest" page 1's guessed
    beige backgrounds were poured onto the white backgrounds of the chapter's other pages,
    16.90 -> 16.08 dB; taking every cell of a hint's colour, a yellow sky went with a hair's hint).
    A shape smaller than a cell (a character's hair on a page, a cell 46 px across) covered no
    cell enough and passed nothing on, even to the same page (helper 65)."""
    gh, gw = grid
    own, colour = np.zeros((gh, gw), bool), np.zeros((gh, gw, 3), np.float32)
    spots = np.full((gh, gw, 2), 0.5, np.float32)
    h, w = areas[0][0].shape if areas else (1, 1)
    rows, cols = np.indices((gh, gw))
    for area, target, (sy, sx) in areas:
        share = np.asarray(Image.fromarray(area.astype(np.float32), "F").resize((gw, gh), Image.BOX))
        seed = min(gh - 1, sy * gh // h), min(gw - 1, sx * gw // w)
        far = (np.abs(rows - seed[0]) > CARRIED_APART) | (np.abs(cols - seed[1]) > CARRIED_APART)
        mine = (share >= OWN_HINT_SHARE) & far
        for y, x in zip(*np.nonzero(mine)):
            spots[y, x] = _area_spot(area, (y, x), grid)
        mine[seed] = True
        spots[seed] = ((sy + 0.5) * gh / h - seed[0], (sx + 0.5) * gw / w - seed[1])
        own |= mine
        colour[mine] = target
    if mirror:
        own, colour, spots = own[:, ::-1], colour[:, ::-1], spots[:, ::-1] * [1.0, -1.0] + [0.0, 1.0]
    return own.reshape(-1), colour.reshape(-1, 3), np.ascontiguousarray(spots, dtype=np.float32).reshape(-1, 2)


def spot_patches(darkness: np.ndarray, mine: np.ndarray, spots: np.ndarray, grid: tuple[int, int], *,
                 mirror: bool = False) -> np.ndarray:
    """A reference's :func:`blurred_darkness` (H, W) for ``grid``, its cells of hints' areas
    ``mine`` (n,) on that grid (seen mirrored if ``mirror``) and their ``spots`` (n, 2) -> the
    :func:`cell_patch` around each spot (n, S, S) float32 (S = SPOT_SAMPLES), as the view sees
    it (mirrored too); 0 for the others."""
    gh, gw = grid
    h, w = darkness.shape
    out = np.zeros((gh * gw, SPOT_SAMPLES, SPOT_SAMPLES), np.float32)
    for cell in np.nonzero(mine)[0]:
        row, col = divmod(int(cell), gw)
        fx = (col + spots[cell, 1]) / gw
        patch = cell_patch(darkness, (row + spots[cell, 0]) * h / gh, (1.0 - fx if mirror else fx) * w,
                           (h / gh, w / gw))
        out[cell] = patch[:, ::-1] if mirror else patch
    return out


def colour_drawing(rgb: np.ndarray) -> Drawing:
    """A reference's sRGB (H, W, 3) uint8 -> its :class:`irodori.align.Drawing`, at most
    FLATS_SIDE a side: its flats (:func:`irodori.align.reference_flats`), L and line darkness."""
    height, width = rgb.shape[:2]
    scale = min(1.0, FLATS_SIDE / max(height, width))
    size = max(1, round(width * scale)), max(1, round(height * scale))
    small = rgb if scale == 1.0 else np.asarray(Image.fromarray(rgb).resize(size, Image.BOX))
    lab = rgb_to_lab(small).astype(np.float32)
    cell = CELL * max(small.shape[:2]) / FEATURE_SIDE
    darkness = line_darkness(lab[..., 0], (cell, cell))
    return Drawing(reference_flats(lab, darkness), np.ascontiguousarray(lab[..., 0]), darkness)


def blurred_darkness(l: np.ndarray, cell: tuple[float, float]) -> np.ndarray:
    """L (H, W) -> its :func:`line_darkness` averaged over :func:`_patch_blur` px around each
    pixel, float32 (H, W): what :func:`cell_patch` samples, for cells of ``cell`` (height, width) px."""
    return box_mean(line_darkness(l, cell), _patch_blur(cell)).astype(np.float32)


def line_darkness(l: np.ndarray, cell: tuple[float, float]) -> np.ndarray:
    """L (H, W) -> float32 (H, W): how much darker each pixel is than the closing of L around it
    (a maximum then a minimum filter over a window of about a sixteenth of a ``cell``, at least
    5 px: the black top-hat of mathematical morphology, Soille 2003, ch. 4). Ink lines and dots
    stand out at their darkness; flat areas are 0 whatever their L, so that an output's paint and
    a B&W page's paper read alike (matched on L, a hinted red circle correlated 0.70 with itself
    on the page it was painted from)."""
    radius = max(2, round(min(cell) / 16))
    closed = l.astype(np.float32)
    for op in (np.maximum, np.minimum):
        for axis in (0, 1):
            closed = _window_extreme(closed, radius, axis, op)
    return closed - l.astype(np.float32)


def _window_extreme(values: np.ndarray, radius: int, axis: int, op: np.ufunc) -> np.ndarray:
    """``op`` (np.maximum or np.minimum) of ``values`` (R, W) over windows of 2 radius + 1 along
    ``axis``, clipped at the ends: shifted copies folded in place."""
    out = values.copy()
    near, far = [slice(None), slice(None)], [slice(None), slice(None)]
    for k in range(1, radius + 1):
        near[axis], far[axis] = slice(k, None), slice(None, -k)
        op(out[tuple(near)], values[tuple(far)], out=out[tuple(near)])
        op(out[tuple(far)], values[tuple(near)], out=out[tuple(far)])
    return out


def _patch_blur(cell: tuple[float, float]) -> int:
    """The box radius line darkness is averaged over before :func:`cell_patch` samples it: about
    half a sample's spacing, so that a line between samples is still read."""
    return max(1, round(min(cell) / (2 * SPOT_SAMPLES)))


def cell_patch(l: np.ndarray, y: float, x: float, cell: tuple[float, float], *, top: int = 0,
               left: int = 0) -> np.ndarray:
    """Values (R, W) of an image (its :func:`line_darkness`, blurred; the first row and column at
    (top, left) of the image) sampled at S x S points (S = SPOT_SAMPLES) spread over one ``cell``
    (height, width, in pixels) centred on (y, x): (S, S) float32, 0 (no ink) outside the image.
    Sampled in cells, it reads the same art at any scale."""
    steps = (np.arange(SPOT_SAMPLES) + 0.5) / SPOT_SAMPLES - 0.5
    ys = np.floor(y + steps * cell[0]).astype(int)[:, None] - top
    xs = np.floor(x + steps * cell[1]).astype(int)[None, :] - left
    inside = (ys >= 0) & (ys < l.shape[0]) & (xs >= 0) & (xs < l.shape[1])
    values = l[np.clip(ys, 0, l.shape[0] - 1), np.clip(xs, 0, l.shape[1] - 1)]
    return np.where(inside, values, 0.0).astype(np.float32)


def place_spot(lightness: Lightness, y: float, x: float, cell: tuple[float, float], patch: np.ndarray
               ) -> tuple[int, int] | None:
    """Where, within SPOT_SEARCH of a ``cell`` (height, width in page pixels) of (y, x), the
    page's line darkness (:func:`line_darkness`, blurred) around a point agrees best with
    ``patch`` (:func:`spot_patches`: the same of a hint's area on its reference, an output
    coloured with it), read over a cell's extent times each of SPOT_SCALES (the art's size on
    the page against the reference's): (y, x) in page pixels, or None where none correlates by
    SPOT_AGREE (normalised cross-correlation, as template matching scores it). A match is a
    cell's, placed by where the area lies in the reference's cell; the page's cells lie
    elsewhere on its art, up to a cell off (helper 65's page 2: the hair's hints fell on the face
    and filled the panel's paper orange)."""
    height, width = lightness.shape
    reach = (SPOT_SEARCH + max(SPOT_SCALES) / 2) * cell[0], (SPOT_SEARCH + max(SPOT_SCALES) / 2) * cell[1]
    y0, y1 = max(0, int(y - reach[0]) - 1), min(height, int(y + reach[0]) + 2)
    x0, x1 = max(0, int(x - reach[1]) - 1), min(width, int(x + reach[1]) + 2)
    # blank paper around the window: samples outside the page read it
    window = np.pad(blurred_darkness(lightness.rows(y0, y1)[:, x0:x1], cell), 1, constant_values=0.0)
    offsets = np.arange(-SPOT_SEARCH * SPOT_SAMPLES, SPOT_SEARCH * SPOT_SAMPLES + 1) / SPOT_SAMPLES  # (K,) cells
    samples = (np.arange(SPOT_SAMPLES) + 0.5) / SPOT_SAMPLES - 0.5  # (S,) cells
    want = ((patch - patch.mean()) / patch.std()).astype(np.float32)
    best, where = -1.0, None
    for scale in SPOT_SCALES:
        ys = np.floor(y + np.add.outer(offsets, samples * scale) * cell[0]).astype(int) - y0 + 1  # (K, S)
        xs = np.floor(x + np.add.outer(offsets, samples * scale) * cell[1]).astype(int) - x0 + 1
        ys, xs = np.clip(ys, 0, window.shape[0] - 1), np.clip(xs, 0, window.shape[1] - 1)
        seen = window[ys[:, None, :, None], xs[None, :, None, :]]  # (K, K, S, S)
        seen = seen - seen.mean(axis=(2, 3), keepdims=True)
        score = (seen * want).mean(axis=(2, 3)) / np.maximum(seen.std(axis=(2, 3)), 1e-3)  # (K, K)
        score -= 1e-6 * np.hypot(*np.meshgrid(offsets, offsets, indexing="ij"))  # ties: the nearest
        k = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[k] > best:
            best, where = float(score[k]), (y + offsets[k[0]] * cell[0], x + offsets[k[1]] * cell[1], scale)
    log.debug("a hint's area carried near (%d, %d): best correlation %.2f at (%d, %d), scale %.2f", x, y, best,
              where[1], where[0], where[2])
    if best < SPOT_AGREE:
        return None
    return min(height - 1, max(0, int(where[0]))), min(width - 1, max(0, int(where[1])))


def _area_spot(area: np.ndarray, cell: tuple[int, int], grid: tuple[int, int]) -> tuple[float, float]:
    """Where in ``cell`` (row, column) of ``grid`` a hint of ``area`` (H, W) bool goes, as shares
    of the cell's height and width: the pixel of the area in the cell with most of the area
    around it (OWN_HINT_BOX), the nearest the cell's middle of those; a hint there fills the
    area's shape, where the cell's middle may be another shape (the face beside the hair)."""
    h, w = area.shape
    y0, y1 = cell[0] * h // grid[0], max(cell[0] * h // grid[0] + 1, (cell[0] + 1) * h // grid[0])
    x0, x1 = cell[1] * w // grid[1], max(cell[1] * w // grid[1] + 1, (cell[1] + 1) * w // grid[1])
    inside = box_mean(area[y0:y1, x0:x1], OWN_HINT_BOX) * area[y0:y1, x0:x1]
    yy, xx = np.indices(inside.shape)
    centre = np.hypot(yy + 0.5 - (y1 - y0) / 2, xx + 0.5 - (x1 - x0) / 2)
    y, x = np.unravel_index(int(np.argmax(inside - 1e-6 * centre)), inside.shape)
    return (y + 0.5) / (y1 - y0), (x + 0.5) / (x1 - x0)


def hints_of_output(img: Image.Image) -> list[Hint]:
    """The hints an image was coloured with, when it is irodori's output that says so (its PNG's
    :data:`irodori.imageio.HINTS_TEXT` text), else [] (also for text that is not such a list)."""
    text = img.info.get(HINTS_TEXT)
    if not isinstance(text, str):
        return []
    try:
        return parse_hints(json.loads(text))
    except (ValueError, HintError):
        return []


def spread_cells(confidence: np.ndarray, *, limit: int = MAX_REFERENCE_HINTS, floor: float = MIN_CONFIDENCE,
                 keep: np.ndarray | None = None) -> list[tuple[int, int]]:
    """confidence (gh, gw) -> up to ``limit`` cells (row, col) spread over the page: the grid is
    cut into about ``limit`` square blocks, each gives its most confident cell, and cells below
    ``floor`` give none; the most confident come first. ``keep`` (gh, gw) bool: cells taken
    first, each of them that is confident enough (matches of the user's hint areas: a few cells,
    and two of one block are two shapes, the hair and the top beneath it: helper 65)."""
    gh, gw = confidence.shape
    side = max(1, int(np.ceil(np.sqrt(gh * gw / max(1, limit)))))
    kept = [] if keep is None else [(-float(confidence[y, x]), int(y), int(x))
                                   for y, x in zip(*np.nonzero(keep & (confidence >= floor)))]
    if kept:
        confidence = np.where(keep, 0.0, confidence)
    cells: list[tuple[float, int, int]] = []
    for y0 in range(0, gh, side):
        for x0 in range(0, gw, side):
            block = confidence[y0 : y0 + side, x0 : x0 + side]
            y, x = np.unravel_index(int(np.argmax(block)), block.shape)
            if block[y, x] >= floor:
                cells.append((-float(block[y, x]), y0 + int(y), x0 + int(x)))
    cells = sorted(kept) + sorted(cells)
    return [(y, x) for _, y, x in cells[:limit]]


class ReferenceMatcher:
    """The feature network (onnxruntime) and the matching; thread-safe, load once.

    ``analyse(image)`` -> :class:`Reference`; ``guide(lightness, refs)`` -> :class:`Guide`;
    ``hints(lightness, refs, paint=...)`` -> colour hints for the pipeline.
    """

    def __init__(self, path: Path | None = None, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        if path is None:
            path = verify(models_dir() / FEATURES_ONNX, FEATURES_SHA256)
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as OnnxBackend's
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{path}: cannot load the reference feature network: {exc}") from None

    def features(self, *views: np.ndarray) -> list[np.ndarray]:
        """CIE L views (h, w) float32 of one size, multiples of CELL -> their descriptors
        (h/CELL * w/CELL, C) each, in one run of the network. Each view is mirrored outwards by
        BORDER pixels first and the features of that margin dropped: the network's zero padding
        otherwise makes every image's edge look alike, and an unrelated picture's border would
        match the page's."""
        batch = np.concatenate([grey_input(np.pad(view, BORDER, mode="symmetric")) for view in views])
        f8, f16 = self.session.run(None, {"grey": batch})
        m8, m16 = BORDER // 8, BORDER // 16
        return [descriptors(a[:, m8:-m8, m8:-m8], b[:, m16:-m16, m16:-m16]) for a, b in zip(f8, f16)]

    def analyse(self, source: ImageSource | np.ndarray, *, name: str = "reference",
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Reference:
        """A colour image (anything :func:`irodori.imageio.open_image` takes, an sRGB uint8 array
        among them) -> its :class:`Reference`, at REFERENCE_SCALES and mirrored. ReferenceImageError
        when it cannot be read, or is too large, too small or grey (:func:`reference_image`)."""
        rgb, own = reference_image(source, name=name, max_pixels=max_pixels)  # an array too: the same checks
        areas = hint_areas(rgb, own)  # irodori's output coloured with hints: their areas alone are the user's
        feats, labs, where, tones, inks, ink_tones, mixes, guessed, spots, patches, views = ([] for _ in range(11))
        l_full = rgb_to_lab(rgb)[..., 0] if own else None
        for scale in REFERENCE_SCALES:
            size = feature_size(*rgb.shape[:2], side=max(32, int(FEATURE_SIDE * scale)))
            grid = (size[0] // CELL, size[1] // CELL)
            lab, mix_cells = cell_lab(rgb, grid)
            darkness = blurred_darkness(l_full, (rgb.shape[0] / grid[0], rgb.shape[1] / grid[1])) if own else None
            l_small = rgb_to_lab(np.asarray(Image.fromarray(rgb).resize(size[::-1], Image.BOX)))[..., 0]
            for mirror in (False, True):
                l_in = l_small[:, ::-1] if mirror else l_small
                l_in = np.ascontiguousarray(l_in, dtype=np.float32)
                cells = lab.reshape(*grid, 3)[:, ::-1].reshape(-1, 3) if mirror else lab
                mix = mix_cells.reshape(grid)[:, ::-1].reshape(-1) if mirror else mix_cells
                if own:
                    mine, colour, spot = own_cells(areas, grid, mirror=mirror)
                    cells = np.where(mine[:, None], colour, cells)
                    mix = np.where(mine, 0.0, mix)  # a hint's area has its one colour, whatever else is in the cell
                    guessed.append(~mine)
                    spots.append(spot)
                    patches.append(spot_patches(darkness, mine, spot, grid, mirror=mirror))
                mixes.append(mix)
                backdrop = background_cells(cells.reshape(*grid, 3)).reshape(-1)
                rows, cols = np.indices(grid).reshape(2, -1)
                inked = ink_view(l_in)
                grey, ink = self.features(l_in, inked)
                feats.append(grey)
                inks.append(ink)
                tones.append(cell_means(l_in))
                ink_tones.append(cell_means(inked))
                labs.append(cells)
                where.append(np.stack([np.full_like(rows, len(where)), rows, cols, backdrop], axis=1))
                views.append((grid[0], grid[1], mirror))
        drawing = None if own else colour_drawing(rgb)  # irodori's own output: its hints alone
        return Reference(name, np.concatenate(feats), np.concatenate(inks), np.concatenate(labs),
                         np.concatenate(where).astype(np.int32), np.concatenate(tones).astype(np.float32),
                         np.concatenate(ink_tones).astype(np.float32), np.concatenate(mixes).astype(np.float32),
                         np.concatenate(guessed) if own else None, np.concatenate(spots) if own else None,
                         np.concatenate(patches) if own else None, tuple(views), drawing)

    def guide(self, lightness: Lightness, references: Sequence[Reference], *, ink: bool = False,
              sheet: np.ndarray | None = None, size: tuple[int, int] | None = None) -> Guide:
        """The references' colour for each cell of the page (its lightness), with confidence.

        ``ink`` (a page to be painted): matched in the ink view (:func:`ink_view`), which finds
        more of a B&W page in a coloured reference, but also finds white paper in any bright
        area of an unrelated picture; so only references that also match in the grey view, on
        at least MIN_RELATED of the page, take part (measured on the val sets: an unrelated
        reference lost up to 2 dB in the ink view alone, none with this check; the copy of the
        same drawing is looked for in every reference, related or not). ``sheet`` (h, w)
        in [0, 1], line art's blank sheet at any size: only references related on at least
        MIN_RELATED_SHEET of the page colour it. With the network's ``size`` (h, w),
        :attr:`Guide.copied` is the colour copied where the page is a reference's very drawing
        (:meth:`copy_of`)."""
        feature = feature_size(*lightness.shape)
        l_small = lightness.reduced(*feature)
        grid = (feature[0] // CELL, feature[1] // CELL)
        aligning = size is not None and ALIGN
        if not ink:
            features, detail = self.features(l_small)[0], cell_detail(l_small)
            lab, confidence, _, best = match(features, cell_means(l_small), grid, references, detail=detail)
            copied = self.copy_of(lightness, aligned_candidates(features, detail, (best, confidence), references),
                                  references, grid, size, paint=False) if aligning else PendingCopy(None, references)
            return Guide(lab.reshape(*grid, 3), confidence.reshape(grid), lightness.shape,
                         *matched_spots(references, best, grid), best.reshape(grid), tuple(references), copied)
        inked = ink_view(l_small)
        l_grey = gaussian_smooth(l_small, RELATED_BLUR) if RELATED_BLUR > 0 else l_small
        grey_features, ink_features = self.features(l_grey, inked)
        _, grey_confidence, source, _ = match(grey_features, cell_means(l_grey), grid, references, guesses=True)
        shares = related_shares((grey_confidence >= MIN_CONFIDENCE).reshape(grid), source.reshape(grid),
                                len(references))
        related = [share >= MIN_RELATED for share in shares]
        log.debug("%sreferences: %d of %d related to the page", input_prefix(), sum(related), len(references))
        ink_detail = cell_detail(inked)
        kept = [r for r, yes in zip(references, related) if yes]
        sure = None  # the related references' confident matches, if any, indexed into every reference's cells
        if kept:
            lab, confidence, owner, best = match(ink_features, cell_means(inked), grid, kept, ink=True,
                                                 detail=ink_detail,
                                                 mix_limit=MAX_CELL_MIX if sheet is not None else None)
            kept_at = np.flatnonzero(np.repeat(related, [r.cells for r in references]))  # kept cells' indices
            sure = (kept_at[best], confidence)
        copied = (self.copy_of(lightness, aligned_candidates(ink_features, ink_detail, sure, references, ink=True),
                               references, grid, size, paint=True) if aligning and ALIGN_PAINT
                  else PendingCopy(None, references))
        if not kept:  # none gives hints; one may still be the page's very drawing
            return Guide(np.zeros((*grid, 3), np.float32), np.zeros(grid, np.float32), lightness.shape,
                         copied=copied)
        spot, user, spot_patch = matched_spots(kept, best, grid)
        if sheet is not None:
            on_sheet = np.asarray(Image.fromarray(sheet.astype(np.float32), "F").resize(grid[::-1], Image.BOX)) > 0.5
            weak = np.array([share < MIN_RELATED_SHEET for share, yes in zip(shares, related) if yes])
            dark = lab[:, 0] < SHEET_HINT_L  # paper takes a paper-light colour, never a dark wash ...
            if user is not None:  # ... but a hint's area is placed on its shape, not on the cell's paper
                dark &= ~user.reshape(-1)
            confidence[on_sheet.reshape(-1) & (weak[owner] | dark)] = 0.0
        return Guide(lab.reshape(*grid, 3), confidence.reshape(grid), lightness.shape, spot, user, spot_patch,
                     best.reshape(grid), tuple(kept), copied)

    def hints(self, lightness: Lightness, references: Sequence[Reference], *, paint: bool,
              limit: int | None = None, sheet: np.ndarray | None = None) -> list[Hint]:
        """Colour hints from the references' confident matches, in input pixels. Tint: the hint
        has the page's lightness at that cell (only its chroma counts); paint: the reference's.
        A match of a hint's area of a reference coloured with hints is placed where that area
        is in its cell (:attr:`Reference.spots`).
        At most MAX_REFERENCE_HINTS, and at most ``limit``. ``sheet``: see :meth:`guide`."""
        return self.read_page(lightness, references, paint=paint, limit=limit, sheet=sheet)[0]

    def read_page(self, lightness: Lightness, references: Sequence[Reference], *, paint: bool,
                  limit: int | None = None, sheet: np.ndarray | None = None, size: tuple[int, int] | None = None
                  ) -> tuple[list[Hint], PendingCopy]:
        """(:meth:`hints`, and with the network's ``size`` (h, w), the colour to copy where the page
        is a reference's very drawing (:meth:`copy_of`, found in a thread of its own while the
        caller goes on: :class:`PendingCopy`, whose ``result()`` is None where it is nowhere)). The cells
        copied give hints too (their corrections carry the colour past the copy), unless
        ALIGN_HINTS is off."""
        limit = MAX_REFERENCE_HINTS if limit is None else min(limit, MAX_REFERENCE_HINTS)
        if not references:
            return [], PendingCopy()
        guide = self.guide(lightness, references, ink=paint, sheet=sheet, size=size)
        copied = guide.copied
        confidence = guide.confidence
        aligned = None if ALIGN_HINTS else copied.result()
        if aligned is not None:
            gh, gw = confidence.shape
            covered = np.asarray(Image.fromarray(aligned.weight, "F").resize((gw, gh), Image.BOX)) > 0.5
            confidence = np.where(covered, 0.0, confidence)
        cells = spread_cells(confidence, limit=limit, keep=guide.user) if limit > 0 else []
        found = self._cell_hints(lightness, guide, cells, paint=paint) if cells else []
        copied.hints = len(found)
        counted = _FOUND.get()
        if counted is not None:
            counted.append((len(found), 0.0))  # (the share copied: PendingCopy.result)
        if not copied.threaded:  # nothing to wait for: said now (a copy found in its thread is said
            copied.result()  # when the caller takes it, after this page's hints, however fast it was)
        if found:  # said per page at the default level: whether the references took part is the user's question
            share = 100 * guide.coverage  # (a hint from under 0.5 % of the page said "0 %": helper 60)
            log.info("%sreferences: %s of the page matched, %d hint%s", input_prefix(),
                     f"{share:.0f}%" if share >= 0.5 else "under 1%", len(found), "" if len(found) == 1 else "s")
        return found, copied

    def copy_of(self, lightness: Lightness, candidates: tuple[np.ndarray, np.ndarray], sources: Sequence[Reference],
                grid: tuple[int, int], size: tuple[int, int], *, paint: bool) -> PendingCopy:
        """Where the page is a reference's very drawing at another place, size or mirror: its
        ``candidates`` (:func:`aligned_candidates`: page cells (k,) of its ``grid`` and their
        matches (k,), indices into the cells of ``sources`` taken together) fitted here by
        similarity transforms (:meth:`transforms`; a few ms, and none holds on most pages, whose
        references are other art: then no thread is started), and the reference's flats copied
        along them at the network's ``size`` (h, w) (:meth:`copied_along`) in a thread of its own
        (:class:`PendingCopy`, whose result is None where no transform holds)."""
        fits = self.transforms(candidates, sources, grid, size)
        if not fits:
            return PendingCopy(None, sources)
        return PendingCopy(functools.partial(self.copied_along, lightness, fits, sources, size, paint=paint), sources)

    @staticmethod
    def transforms(candidates: tuple[np.ndarray, np.ndarray], sources: Sequence[Reference], grid: tuple[int, int],
                   size: tuple[int, int]) -> list[tuple[Alignment, np.ndarray]]:
        """The similarity transforms :meth:`copy_of` copies along (:func:`irodori.align.fit_alignments`,
        in pixels of the network's ``size`` (h, w)), each with its inlier cells ((gh, gw) bool);
        [] where none holds or no reference has a drawing (irodori's own output)."""
        if all(r.drawing is None for r in sources):
            return []
        gh, gw = grid
        h, w = size
        sure, matched = candidates
        starts = np.cumsum([0] + [r.cells for r in sources])
        owner = np.searchsorted(starts, matched, side="right") - 1
        local = matched - starts[owner]
        usable = np.array([sources[o].drawing is not None for o in owner], bool)
        sure, owner, local = sure[usable], owner[usable], local[usable]
        if len(sure) < ALIGN_MIN_CELLS:
            return []
        ref, mirrored = np.zeros((len(sure), 2)), np.zeros(len(sure), bool)
        for o in np.unique(owner):  # each match's middle in its reference's drawing, unmirrored
            r, mine = sources[o], owner == o
            view, row, col = r.where[local[mine], :3].T
            views = np.array(r.views, dtype=np.float64)[view]  # (k, 3): the view's grid height, width, mirror
            fh, fw = r.drawing.l.shape
            x = (col + 0.5) / views[:, 1]
            mirrored[mine] = views[:, 2] > 0
            ref[mine] = np.stack([(row + 0.5) / views[:, 0] * fh, np.where(mirrored[mine], 1.0 - x, x) * fw], axis=1)
        page = np.stack([(sure // gw + 0.5) * h / gh, (sure % gw + 0.5) * w / gw], axis=1)
        fits = []
        for alignment, inliers in fit_alignments(page, ref, mirrored, owner, h / gh):
            mask = np.zeros(gh * gw, bool)
            mask[sure[inliers]] = True
            fits.append((alignment, mask.reshape(gh, gw)))
        return fits

    @staticmethod
    def copied_along(lightness: Lightness, fits: list[tuple[Alignment, np.ndarray]], sources: Sequence[Reference],
                     size: tuple[int, int], *, paint: bool) -> AlignedColour | None:
        """The references' colours copied along ``fits`` (:meth:`transforms`) where they hold, at
        the network's ``size`` (h, w) (:func:`irodori.align.aligned_colour`); None where none does."""
        h, w = size
        page_l = lightness.reduced(h, w)
        cell = CELL * max(h, w) / FEATURE_SIDE
        grid = fits[0][1].shape
        return aligned_colour(page_l, line_darkness(page_l, (cell, cell)), fits, [r.drawing for r in sources],
                              grid, paint=paint)

    @staticmethod
    def _cell_hints(lightness: Lightness, guide: Guide, cells: list[tuple[int, int]], *, paint: bool) -> list[Hint]:
        """The hints of the spread ``cells`` (row, col) of a page's :class:`Guide`, in input
        pixels: a reference's at its spot in the cell, a hint's area carried to its shape
        (:func:`place_spot`; not carried from a flat area, nor twice near one place)."""
        height, width = lightness.shape
        gh, gw = guide.confidence.shape
        lab = np.array([guide.lab[y, x] for y, x in cells], dtype=np.float64)
        if paint:
            lab[:, 0] = np.clip(lab[:, 0], PAINT_MIN_L, 100.0)
        else:
            page_l = lightness.reduced(gh, gw)
            lab[:, 0] = [page_l[y, x] for y, x in cells]
        rgb = rgb_to_uint8(lab_to_rgb(lab[None])[0])
        spot = np.full((gh, gw, 2), 0.5, np.float32) if guide.spot is None else guide.spot
        found = []
        for (y, x), colour in zip(cells, rgb):
            rgb_hint = tuple(int(c) for c in colour)
            at = (y + spot[y, x, 0]) * height / gh, (x + spot[y, x, 1]) * width / gw
            if guide.user is None or not guide.user[y, x]:
                found.append(Hint(min(width - 1, int(at[1])), min(height - 1, int(at[0])), rgb_hint))
                continue
            if guide.spot_patch[y, x].std() < SPOT_FLAT:  # a hint's area flat across the cell (paper, a sky),
                continue  # matched as any flat area is: placed nowhere in particular (helper 67: a panel's paper
                # hint, carried, filled another panel's paper)
            placed = place_spot(lightness, *at, (height / gh, width / gw), guide.spot_patch[y, x])
            if placed is not None and not _carried_near(found, placed, rgb_hint, (height / gh, width / gw)):
                found.append(CarriedHint(placed[1], placed[0], rgb_hint))  # (else: no point near looks like
        return found  # the area's surroundings, or one of its colour is there already)


def _carried_near(found: list[Hint], at: tuple[int, int], rgb: tuple[int, int, int],
                  cell: tuple[float, float]) -> bool:
    """Whether a carried hint of colour ``rgb`` lies within CARRIED_APART cells of ``at`` (y, x):
    one hint per shape, as the user gave page 1 (several of one area's cells each gave one, and
    together they reached over the hair's outline into the face: helper 67)."""
    return any(isinstance(hint, CarriedHint) and hint.rgb == rgb
               and abs(hint.y - at[0]) <= CARRIED_APART * cell[0] and abs(hint.x - at[1]) <= CARRIED_APART * cell[1]
               for hint in found)


def matched_spots(references: Sequence[Reference], best: np.ndarray, grid: tuple[int, int]
                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Each page cell's match (``best``, (n,) indices into the references' cells taken together)
    -> (its :attr:`Reference.spots` (gh, gw, 2) float32, whether it is a cell of a hint's area
    (gh, gw) bool, its :attr:`Reference.spot_patch` (gh, gw, S, S) float32), all None when no
    reference is irodori's output coloured with hints."""
    if all(r.spots is None for r in references):
        return None, None, None
    spots = np.concatenate([np.full((r.cells, 2), 0.5, np.float32) if r.spots is None else r.spots
                            for r in references])
    user = np.concatenate([r.hinted for r in references])
    patch = np.concatenate([np.zeros((r.cells, SPOT_SAMPLES, SPOT_SAMPLES), np.float32) if r.spot_patch is None
                            else r.spot_patch for r in references])
    return (spots[best].reshape(*grid, 2), user[best].reshape(grid),
            patch[best].reshape(*grid, SPOT_SAMPLES, SPOT_SAMPLES))


def related_shares(matched: np.ndarray, source: np.ndarray, count: int) -> np.ndarray:
    """matched (h, w) bool: the page's cells matched in the grey view; source (h, w) int: by
    which of ``count`` references -> (count,) the share of the page each matches; of a strip
    longer than 2:1, the share of its best-matched page (windows of :func:`irodori.imageio.page_side`
    cells, half a window apart): one page of a webtoon matching its reference was diluted below
    MIN_RELATED by the strip's other pages, and the reference was ignored."""
    tall = matched.shape[0] >= matched.shape[1]
    along, by = (matched, source) if tall else (matched.T, source.T)
    window = page_side(*along.shape)
    last = along.shape[0] - window  # >= 0: a page is one window, the whole of it
    starts = sorted({*range(0, last + 1, max(1, window // 2)), last})
    return np.array([max((along[s:s + window] & (by[s:s + window] == i)).mean() for s in starts)
                     for i in range(count)])


@functools.lru_cache(maxsize=4)
def load_matcher(threads: int | None = None) -> ReferenceMatcher:
    """The shared matcher for ``threads`` onnxruntime threads (None: its default, every core),
    loaded on first use and kept (the network is a few MB)."""
    return ReferenceMatcher(threads=threads)


def reference_sources(sources: Any) -> list[Any]:
    """One reference source or several -> a list: a lone path, bytes, file, PIL image, array or
    :class:`Reference` is one source (iterating it would give its letters, bytes or rows)."""
    single = (str, Path, bytes, bytearray, memoryview, Image.Image, np.ndarray, Reference)
    if isinstance(sources, single) or hasattr(sources, "read") or isinstance(sources, os.PathLike):
        return [sources]
    try:
        return list(sources)
    except TypeError:
        raise ReferenceImageError(f"a reference is a path, bytes, a file, a PIL image, an array or a list of them, "
                                  f"not {type(sources).__name__}") from None


def analyse_references(sources: Iterable[Any] | Any, *, matcher: ReferenceMatcher | None = None,
                       max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[Reference]:
    """References in any form -> analysed: a :class:`Reference` is kept as is; a path, bytes, a
    file, a PIL image or an sRGB array is read and analysed (one of them alone, or several in a
    list). A folder path stands for its images. ReferenceImageError: missing, unreadable, too large,
    more than MAX_REFERENCES."""
    items: list[Any] = []
    problems: list[str] = []  # every bad reference named at once, not one per run (a helper's three runs)
    for source in reference_sources(sources):
        if isinstance(source, (str, Path)):
            try:
                items.extend(reference_files([source], limit=MAX_REFERENCES))
            except ReferenceImageError as exc:
                problems.append(str(exc))
        else:
            items.append(source)
    if len(items) > MAX_REFERENCES:
        raise ReferenceImageError(f"too many references ({len(items)}; at most {MAX_REFERENCES})")
    if all(isinstance(item, Reference) for item in items):
        _raise_problems(problems)
        return list(items)
    matcher = matcher or load_matcher()
    out = []
    for index, item in enumerate(items):
        if isinstance(item, Reference):
            out.append(item)
            continue
        # "reference PATH", as typed (two folders may each hold a 001.png), or its place in the list
        name = str(item) if isinstance(item, Path) else str(index + 1)
        try:
            out.append(matcher.analyse(item, name=name, max_pixels=max_pixels))
        except ReferenceImageError as exc:
            problems.append(str(exc))
    _raise_problems(problems)
    return out


def _raise_problems(problems: list[str]) -> None:
    """ReferenceImageError naming every bad reference (one: its message as it is), or nothing."""
    if len(problems) == 1:
        raise ReferenceImageError(problems[0])
    if problems:
        raise ReferenceImageError(f"{len(problems)} references cannot be used: " + "; ".join(problems))
