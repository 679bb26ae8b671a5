"""The one colouring pipeline behind the CLI, the Python API and the web server.

Data flow for one image::

    file/bytes/PIL/array --open_image--> PIL image (EXIF applied)
      --lightness_of--> Lightness: the decoded 8-bit pixels (L made per strip on demand), alpha aside
      --contract_for--> Contract: tint (keep L) or paint (keep the ink, colour paper and tone)
      --references (if any): confident matches with them become hints (irodori.reference)
      --resize (antialiased)--> l_small (h, w), longest side <= max_side (a strip's pages'), aspect kept
      --pad to the model's size multiple--> network (with the hints' channels) --> ab_small (2, h, w)
      --hints: each one's correction spread along similar lightness; palette: snapped to its colours
      --for each strip of rows (on a few threads): upsample ab (bilinear/bicubic/lanczos),
        L of those rows at full resolution, Lab -> sRGB with chroma shrunk where out of gamut
      --paste--> sRGB image (+ alpha)

In tint, only chroma passes through the network: chroma is low-frequency and the eye forgives
its softness, while every line of ink lives in L, which is never resampled, so the output's CIE L
equals the input's (up to 8-bit rounding) at any size and aspect ratio. In paint, the network's
page lightness lies under the input's ink, kept exactly (irodori.paint).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import re
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import numpy as np
from PIL import Image

from .balloons import Balloons
from .color import denormalize_ab, denormalize_l, lab_to_srgb8, normalize_l, rgb_to_l, rgb_to_lab
from .hints import (HINT_CHANNELS_WITH_L, MAX_HINTS, CarriedHint, Hint, HintError, apply_palette, check_inside,
                    hint_map, in_own_regions, palette_with_hints, parse_hints, parse_palette, propagate_hints,
                    propagation_grid)
from .imageio import (DEFAULT_MAX_PIXELS, HINTS_TEXT, ImageSource, Lightness, input_name, input_named, input_prefix,
                      lightness_of, open_image, page_scale, page_side, print_resolution, to_srgb, within_pages)
from .paint import (BACKGROUNDS, LINE_L, MAX_CHROMA, MODES, NO_MARK_PAPER_L, PAPER_FILL_L, PAPER_PERCENTILE,
                    SHAPE_CELLS, SHAPE_CLOSE, TONES, BlankSheet, Contract, PageStats, Screentone, ShapeFill, SheetFill,
                    choose_background, choose_mode, composite, flats_to_lines, gutters, levelled_l, one_colour,
                    one_flat_per_shape, page_stats, paper_regions, strip_gaps, tone_length)
from .reference import (SHEET_HINT_L, PendingCopy, Reference, ReferenceMatcher, analyse_references, counting_hints,
                        load_matcher, reference_sources)
from .registry import AUTO_MODEL, DEFAULT_MODEL, DEFAULT_PAINT_MODEL, ModelError

log = logging.getLogger(__name__)

UPSAMPLE_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
DEFAULT_MAX_SIDE = 512
SHEET_SIDE = 256  # blank-sheet cells along an image's longest side (Colorizer.blank_sheet) ...
# ... and a page's, looking for its gutters: finer, so that a gutter 1.1 % of the page wide (12 px
# on a 1100 px page) stays open when the sheet's gap closing grows the frames by a cell
GUTTER_SIDE = 512
STRIP_PIXELS = 1 << 16  # pixels per strip when merging chroma with full-resolution L: cache-sized
WHITE_L = 98.0  # CIE L: a hint this light, tinted, can add no colour (the sRGB gamut has hardly any chroma there)
# The annealed mean's temperature T a caller may ask for (Zhang et al. 2016): softmax(logits / T)
# over the colour bins, then their mean. Lower = more vivid (towards the most likely colour, with
# blotches below 0.2), higher = calmer (1.0: the plain mean, greyish). Models have their own default.
TEMPERATURE_RANGE = (0.1, 1.0)


class Backend(Protocol):
    """Runs the network: l (1, 1, h, w), hints (1, C, h, w) normalised -> ab (1, 2, h, w), C =
    ``hint_channels``: 3 (a, b, mask) or 4 (and the hint's L, :func:`irodori.hints.hint_map`).
    A paint model (``paints``) also gives its page lightness: ``run_paint`` -> (ab, l_paint
    (1, 1, h, w) normalised), from its line-art head with ``line_art`` where it has one."""

    size_multiple: int
    hint_channels: int
    max_side: int
    name: str
    paints: bool

    temperature: float | None  # the annealed mean's default T; None: the model takes none

    def run(self, l_norm: np.ndarray, hints: np.ndarray, temperature: float | None = None) -> np.ndarray: ...

    def run_paint(self, l_norm: np.ndarray, hints: np.ndarray, temperature: float | None = None, *,
                  line_art: bool = False) -> tuple[np.ndarray, np.ndarray]: ...


def _metadata_int(meta: dict[str, str], key: str, default: int, *, path: Path, most: int) -> int:
    """A whole-number metadata entry of an ONNX model, 1 to ``most`` (ModelError otherwise)."""
    text = meta.get(key, str(default))
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        raise ModelError(f"{path}: metadata {key} is {text[:40]!r}, not a whole number from 1 to {most}")
    return value


def check_network_output(ab: np.ndarray, shape: tuple[int, ...], *, model: str | Path, name: str = "ab") -> None:
    """ModelError unless the network's output ``name`` (ab, or a paint model's l_paint) has
    ``shape`` (N, C, H, W) and is finite: NaN, inf or the wrong number of channels is the model's
    fault, whatever the image."""
    if tuple(ab.shape) != tuple(shape):
        raise ModelError(f"model {model}: its output has shape {tuple(ab.shape)} where {tuple(shape)} was expected "
                         f"({name}: {shape[1]} channel{'s' if shape[1] != 1 else ''} at the input's size); "
                         "not an irodori model")
    if not np.isfinite(ab).all():
        raise ModelError(f"model {model}: its output holds NaN or inf; the model is broken (a diverged "
                         "training run or a damaged export)")


def _temperature_default(session: Any, meta: dict[str, str], path: Path) -> float | None:
    """The default T of a model exported with the optional scalar input ``temperature``, from
    its metadata; None for a model without it (a regression head, or exported before it existed)."""
    if "temperature" not in {i.name for i in session.get_overridable_initializers()}:
        return None
    text = meta.get("irodori.temperature", "")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise ModelError(f"{path}: metadata irodori.temperature is {text[:40]!r}, not a number in (0, 1]")
    return value


def _hint_channels(shape: list, path: Path) -> int:
    """The hint channels of an ONNX model's ``hints`` input (N, C, H, W): 3, or 4 for a model
    that takes hints' lightness; ModelError for any other (a symbolic C reads as 3)."""
    channels = shape[1] if len(shape) == 4 else None
    channels = 3 if isinstance(channels, str) else channels
    if channels not in (3, 4):
        raise ModelError(f"{path}: its hints input has shape {shape}, not (N, 3 or 4, H, W); not an irodori model")
    return channels


def check_whole(value: Any, name: str, *, least: int | None = None) -> int:
    """``value`` as an int: ValueError unless a whole number (not a bool, a float or a string; a
    setting read from the environment must be converted by the caller), at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if least is not None and value < least:
        raise ValueError(f"{name} must be at least {least}, not {value}")
    return int(value)


class OnnxBackend:
    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # onnxruntime's threads otherwise spin for a while after each run, taking the cores from the
        # numpy and Pillow work that follows (hint propagation, the merge): with 4 references, a
        # 780x1200 page took 215-233 ms spinning and 197 ms not, and no page got slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # fatal only: the optional temperature input draws a warning at every load, and a file that
        # is no model printed onnxruntime's own coloured error lines before irodori's one line
        options.log_severity_level = 4
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            missing = re.search(r'External data path does not exist: "([^"]+)"', str(exc))
            if missing:  # a shipped float model's .onnx copied away from its weights
                raise ModelError(f"{path}: reads its weights from {missing.group(1)} (ONNX external data), which is "
                                 "missing: copy that file with it, keeping its place beside the .onnx file") from None
            raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {_one_line(exc)})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        names = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if names != ["l", "hints"] or outputs not in (["ab"], ["ab", "l_paint"], ["ab", "l_paint", "l_paint_line_art"]):
            raise ModelError(f"{path}: not an irodori model (inputs {names}, outputs {outputs}; "
                             "expected l, hints -> ab, or ab, l_paint[, l_paint_line_art])")
        self.paints = "l_paint" in outputs
        self.line_art_output = "l_paint_line_art" if "l_paint_line_art" in outputs else "l_paint"
        self.hint_channels = _hint_channels(self.session.get_inputs()[1].shape, path)
        self.size_multiple = _metadata_int(meta, "irodori.size_multiple", 32, path=path, most=1024)
        self.max_side = _metadata_int(meta, "irodori.max_side", DEFAULT_MAX_SIDE, path=path, most=1 << 16)
        if self.max_side < self.size_multiple:
            raise ModelError(f"{path}: its metadata irodori.max_side ({self.max_side}) is smaller than its "
                             f"irodori.size_multiple ({self.size_multiple})")
        self.name = meta.get("irodori.name", Path(path).stem)
        self.path = Path(path)
        self.temperature = _temperature_default(self.session, meta, self.path)
        self._probe()

    def _probe(self) -> None:
        """One run on a blank input of the smallest size, so that a model whose output has the
        wrong shape or is not finite is refused at load, naming the file, not on every image."""
        m = self.size_multiple
        try:
            ab = self.run(np.zeros((1, 1, m, m), np.float32), np.zeros((1, self.hint_channels, m, m), np.float32))
        except Exception as exc:  # onnxruntime's own types
            raise ModelError(f"{self.path}: fails on a blank {m}x{m} input ({type(exc).__name__}: {_one_line(exc)})"
                             ) from None
        check_network_output(ab, (1, 2, m, m), model=self.path)

    def run(self, l_norm: np.ndarray, hints: np.ndarray, temperature: float | None = None) -> np.ndarray:
        feed = {"l": l_norm, "hints": hints}
        if temperature is not None:  # else the graph's own default
            feed["temperature"] = np.array(temperature, dtype=np.float32)
        return self.session.run(["ab"], feed)[0]

    def run_paint(self, l_norm: np.ndarray, hints: np.ndarray, temperature: float | None = None, *,
                  line_art: bool = False) -> tuple[np.ndarray, np.ndarray]:
        feed = {"l": l_norm, "hints": hints}
        if temperature is not None:
            feed["temperature"] = np.array(temperature, dtype=np.float32)
        ab, l_paint = self.session.run(["ab", self.line_art_output if line_art else "l_paint"], feed)
        return ab, l_paint


class TorchBackend:
    """A training checkpoint, run with PyTorch (needs the `train` extra)."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import torch

        from .checkpoint import load_generator

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.model, meta = load_generator(path)
        self.model.eval()
        self.size_multiple = self.model.config.size_multiple
        self.max_side = DEFAULT_MAX_SIDE
        self.name = f"{Path(path).name}@{meta.get('step')}"
        self.path = Path(path)
        self.temperature = self.model.config.temperature if self.model.config.head == "classification" else None
        self.paints = bool(self.model.config.paint)
        self.hint_channels = self.model.config.hint_channels

    def run(self, l_norm: np.ndarray, hints: np.ndarray, temperature: float | None = None) -> np.ndarray:
        with self._torch.inference_mode():
            ab = self.model(self._torch.from_numpy(l_norm), self._torch.from_numpy(hints), temperature=temperature)
        return ab.numpy()

    def run_paint(self, l_norm: np.ndarray, hints: np.ndarray, temperature: float | None = None, *,
                  line_art: bool = False) -> tuple[np.ndarray, np.ndarray]:
        with self._torch.inference_mode():
            ab, l_paint = self.model(self._torch.from_numpy(l_norm), self._torch.from_numpy(hints), return_l=True,
                                     temperature=temperature, line_art=line_art)
        return ab.numpy(), l_paint.numpy()


def load_backend(model: str | Path, *, threads: int | None = None) -> Backend:
    """A shipped model name, an .onnx file, or a checkpoint/run directory. ModelNotFoundError for
    anything else; ValueError for ``threads`` that is not a whole number, 1 or more (or None)."""
    from .registry import MODELS, ModelNotFoundError, shipped_onnx_path

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a whole number, 1 or more (or None for one per core), not {threads!r}")

    if isinstance(model, str) and model in MODELS:
        return OnnxBackend(shipped_onnx_path(model), threads=threads)
    path = Path(model)
    if path.is_file() and path.suffix.lower() == ".onnx":
        return OnnxBackend(path, threads=threads)
    if path.is_dir():
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ModelNotFoundError(
                f"{path} is a training checkpoint; running it needs PyTorch (pip install 'irodori[train]'), "
                "or export it first: irodori export CHECKPOINT -o model.onnx"
            ) from None
        return TorchBackend(path, threads=threads)
    if path.is_file():
        raise ModelNotFoundError(f"{model} is not a model: give a shipped name ({', '.join(MODELS)}), an .onnx file "
                                 "or a checkpoint directory")
    raise ModelNotFoundError(f"no such model: {model} (shipped: {', '.join(MODELS)}; or an .onnx file or checkpoint directory)")


class Colorizer:
    """Colour images with one loaded model. Thread-safe; holds no per-call state.

    ``colorize(image)`` takes a path, bytes, a binary file, a PIL image, or a uint8 array
    (H, W) / (H, W, 3) / (H, W, 4), and returns a PIL image of the same size: mode RGB, or RGBA
    when the input had alpha. A colour input is re-coloured from its lightness (its own colours
    are discarded). Its ``info["dpi"]`` is the input's print resolution when the input declares
    one, ``info["irodori.mode"]`` the contract it was coloured under, and, when references were
    given, ``info["irodori.reference_hints"]`` how many hints they gave and
    ``info["irodori.reference_copied"]`` the share of the image (0..1) coloured by a copy of one
    whose very drawing it is (not counting a blank sheet the output keeps paper over the copy:
    line art's, a page's gutters; both 0: nothing on the image matched them, and it is coloured
    as without them).

    Two contracts (:class:`irodori.paint.Contract`, chosen once per image by
    :meth:`contract_for`): **tint** keeps the input's CIE L exactly (photos, grey art); **paint**
    keeps the input's ink and gives paper and screentone the predicted colour, lightness
    included (B&W pages, line art, 1-bit scans; needs a paint model). ``mode="auto"`` lets the
    detector (:func:`irodori.paint.choose_mode`) decide per image. ``backend`` tints (and paints
    if it is a paint model); ``paint_backend``, when given, paints.
    """

    def __init__(self, backend: Backend, *, paint_backend: Backend | None = None, mode: str = "auto",
                 tone: str = "flat", background: str = "auto", max_side: int | None = None,
                 upsample: str = "bilinear", max_pixels: int | None = DEFAULT_MAX_PIXELS, workers: int | None = None,
                 temperature: float | None = None, references: Iterable[Reference] = (),
                 keep_colour: bool = False) -> None:
        if upsample not in UPSAMPLE_FILTERS:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_FILTERS)}")
        check_choices(mode, tone, background)
        self.backend = backend
        self.paint_backend = paint_backend if paint_backend is not None else (backend if backend.paints else None)
        if self.paint_backend is not None and not self.paint_backend.paints:
            raise ValueError(f"{self.paint_backend.name} is not a paint model (it predicts no l_paint)")
        if mode == "paint" and self.paint_backend is None:
            raise no_paint_model(backend.name)
        self.mode, self.tone, self.background = mode, tone, background
        self.max_side = backend.max_side if max_side is None else check_whole(max_side, "max_side")  # 0: an error
        multiple = max(b.size_multiple for b in (backend, self.paint_backend) if b is not None)
        if self.max_side < multiple:
            whose = "" if max_side is not None else f" (model {backend.name}'s own)"
            raise ValueError(f"max_side{whose} must be at least {multiple}, not {self.max_side}")
        if max_side is not None and max_side > FAR_SIDE * backend.max_side:  # helper 61: --max-side 100000
            log.warning("max_side %d: the network sees images at up to %d px a side, where %s's own is %d; far "
                        "beyond it the colour gets garish and blotchy (the network sees less of the picture at "
                        "once), and time and memory grow with the pixels", max_side, max_side, backend.name,
                        backend.max_side)
        self.upsample = upsample
        self.max_pixels = None if max_pixels is None else check_whole(max_pixels, "max_pixels", least=1)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.temperature = self.check_temperature(temperature)  # None: the model's own
        self.references = tuple(references)  # analysed (with_references); used when a call gives none
        if not isinstance(keep_colour, bool):
            raise ValueError(f"keep_colour must be True or False, not {keep_colour!r}")
        self.keep_colour = keep_colour  # a colour input is returned as it is (a chapter's colour cover)
        # How many black-and-white images mode auto tinted and painted, and the last names
        # (input_name), for a batch's word when one chapter's pages were coloured both ways
        # (mixed_modes); bounded, as a server's colorizer lives long
        self.kept = 0  # colour inputs returned as they were (keep_colour), for a batch's counts
        self.auto_modes: dict[str, int] = {"tint": 0, "paint": 0}
        self.auto_names: dict[str, deque[str]] = {"tint": deque(maxlen=NAMES_KEPT), "paint": deque(maxlen=NAMES_KEPT)}
        self._tally = threading.Lock()

    def check_temperature(self, temperature: float | None) -> float | None:
        """A requested annealed-mean T, checked: ValueError outside TEMPERATURE_RANGE, or when the
        model takes none (a regression head, or an ONNX file exported before the input existed:
        re-export it). None stays None (the model's own T)."""
        if temperature is None:
            return None
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)):
            raise ValueError(f"temperature must be a number from {TEMPERATURE_RANGE[0]} to {TEMPERATURE_RANGE[1]}, "
                             f"not {temperature!r}")
        if self.backend.temperature is None:
            raise ValueError(f"model {self.name} has no temperature input (a regression head, or exported "
                             "before irodori had it: re-export it with irodori export); leave --temperature out")
        low, high = TEMPERATURE_RANGE
        if not low <= temperature <= high:  # also refuses nan
            raise ValueError(f"temperature must be from {low} to {high}, not {temperature}")
        return float(temperature)

    @property
    def name(self) -> str:
        if self.paint_backend is not None and self.paint_backend is not self.backend:
            return f"{self.backend.name}+{self.paint_backend.name}"
        return self.backend.name

    # -- the contract ---------------------------------------------------------------------------
    def contract_for(self, lightness: Lightness, *, mode: str | None = None, tone: str | None = None,
                     background: str | None = None) -> Contract:
        """The contract for one image: ``mode`` "auto" (default: this colorizer's), "tint" or
        "paint". Auto measures the page (:func:`irodori.paint.page_stats`) and paints ink on
        paper when a paint model is loaded. ``background`` "auto" (default: this colorizer's),
        "paint", "paper" or "gutters": whether a painted image's blank sheet takes colour; auto
        keeps line art's sheet paper, and a page's gutters and margins
        (:func:`irodori.paint.choose_background`, :meth:`blank_sheet`). ValueError for paint
        without a paint model."""
        mode, tone, background = (self.mode if mode is None else mode, self.tone if tone is None else tone,
                                  self.background if background is None else background)
        check_choices(mode, tone, background)
        unused = "".join(f"; the {what} choice is for paint only" for what, asked in
                         (("tone", tone != "flat"), ("background", background != "auto")) if asked)
        lab = lab_sample(lightness)  # sampled once: the chroma here, the hue of one kept
        chroma = lab_chroma(lab)
        if self.keep_colour and is_coloured(chroma, share=KEEP_SHARE):
            hue = one_hue(lab)
            if hue is not None:  # helper 61: sepia prints were kept, with no word of why
                log.warning("%skept as it is (--keep-colour), but its colour is one hue (%.0f degrees): if it is a "
                            "sepia or toned black-and-white print, colour it without --keep-colour", input_prefix(),
                            hue)
            return Contract("tint", tone, keep=True, reason="a colour image: kept as it is (--keep-colour; "
                            "load_colorizer(keep_colour=True) in Python)")
        warn_if_coloured(chroma, keeping=self.keep_colour)  # whichever the mode: asked or chosen, they are replaced
        if self.keep_colour and chroma.size and not is_coloured(chroma) and float(chroma.mean()) > FAINT_CHROMA:
            log.warning("%sholds faint colour (mean chroma %.1f), too little to be kept as a colour image "
                        "(--keep-colour): coloured from its lightness (a faded colour snapshot? keep it aside)",
                        input_prefix(), float(chroma.mean()))  # helper 61: a faded snapshot, re-coloured unsaid
        if mode == "tint":  # asked: nothing more to measure (the detector costs ~10 ms a page)
            return Contract("tint", tone, reason=f"asked{unused}")
        height, width = lightness.shape
        rows = sample_rows(lightness)
        stats = page_stats(rows, chroma=float(chroma.mean()) if chroma.size else 0.0)
        reason = "asked" if mode != "auto" else stats.describe()
        if mode == "paint":
            warn_painting_asked(stats, size=(height, width))
        if mode == "auto":
            mode = choose_mode(stats)
            if mode == "paint" and min(height, width) < MIN_PAINT_SIDE:  # a thumbnail: its stats tell nothing
                mode, reason = "tint", f"under {MIN_PAINT_SIDE} px a side ({width}x{height}): too small to tell ink " \
                                       "on paper from a photograph; tinting keeps its lightness"
            elif (rows.size and float(rows.std()) < FLAT_L_STD and not is_coloured(chroma)
                  and (mode == "tint" or stats.paper_l < NO_MARK_PAPER_L)):
                # one grey too dark for paper: painted, it was levelled to white without a word (helper 54); a
                # black one, tinted for having no paper, was counted among a chapter's photographs (helper 78)
                mode, reason = "tint", f"one grey, too dark for paper (L {float(rows.mean()):.0f})"
            elif mode == "paint" and self.paint_backend is None:
                mode, reason = "tint", f"{reason}; looks like ink on paper, but {self.backend.name} cannot paint"
            elif not is_coloured(chroma):  # a colour cover among B&W pages is tinted, rightly (uncounted by the
                # test warn_if_coloured uses: a muted cover of mean chroma 5.4 was counted a B&W image, helper 75)
                with self._tally:
                    self.auto_modes[mode] += 1
                    self.auto_names[mode].append(input_name() or "an image")
        if mode == "paint" and self.paint_backend is None:
            raise no_paint_model(self.backend.name)
        line_art = mode == "paint" and choose_background(stats) == "paper"
        if mode == "paint" and background == "auto":
            background = "paper" if line_art else "gutters"
            reason = f"{reason}; line art: its sheet stays paper" if line_art else reason
        elif mode == "paint" and background in ("paper", "gutters"):
            reason = f"{reason}; {'its sheet stays' if background == 'paper' else 'its gutters stay'} paper (asked)"
        if mode == "tint":
            reason = f"{reason}{unused}"
        length = tone_length(height, width)
        screen = None
        if mode == "paint" and tone == "flat":
            start = time.perf_counter()
            screen = Screentone.find(lightness, paper_l=stats.paper_l, length=length, workers=self.workers)
            log.debug("%sscreentone in %.0f %% of the page's cells (%.0f ms)", input_prefix(),
                      100 * screen.cells.mean(), (time.perf_counter() - start) * 1000)
        balloons = None
        if mode == "paint":  # background "paint" too: a colourist paints the page, not its balloons (helper 49)
            balloons = self.find_balloons(lightness, stats.paper_l, sheet_kind(background))
        return Contract(mode, tone, paper_l=stats.paper_l, length=length,
                        background="paint" if mode == "tint" else background, reason=reason, screen=screen,
                        black_l=stats.black_l, balloons=balloons, line_art=line_art)

    def find_balloons(self, lightness: Lightness, paper_l: float, background: str) -> Balloons:
        """The page's speech balloons and white-on-black narration boxes
        (:class:`irodori.balloons.Balloons`) on the grid of its blank sheet for ``background``
        (:func:`sheet_factor`)."""
        start = time.perf_counter()
        factor = sheet_factor(lightness.shape, background)
        balloons = Balloons.find(lightness, lightness.darkest(factor), factor=factor, paper_l=paper_l,
                                 l_lightest=lightness.lightest(factor))
        log.debug("%s%d balloons (%.0f ms)", input_prefix(), balloons.count, (time.perf_counter() - start) * 1000)
        return balloons

    # -- the pipeline ---------------------------------------------------------------------------
    def colorize(self, image: ImageSource, *, hints: Iterable[Any] | None = None,
                 palette: str | Iterable[Any] | None = None, temperature: float | None = None,
                 mode: str | None = None, tone: str | None = None, background: str | None = None,
                 reference: Iterable[Any] | None = None) -> Image.Image:
        """``hints``: colour hints in input pixels (see :mod:`irodori.hints`; HintError if one is
        malformed or outside the image); in paint mode a hint fills its region (bounded by ink)
        at the hint's own lightness. ``palette``: restrict the colours to these (and grey).
        ``temperature``: the annealed mean's T for this image, in TEMPERATURE_RANGE (lower = more
        vivid; default: this Colorizer's, else the model's own; ValueError if the model has none).
        ``mode`` ("auto", "tint", "paint"), ``tone`` ("flat", "keep") and ``background`` ("auto",
        "paint", "paper", "gutters"; see :meth:`contract_for`) override this colorizer's for this image
        (ValueError: paint without a paint model). ``reference``: colour
        images of the same series (paths, folders, bytes, PIL images, arrays, or :class:`Reference`
        objects from :meth:`analyse_references`; default: this colorizer's, see
        :meth:`with_references`, which a batch uses to analyse them once);
        where the page matches them, their colours become hints (:mod:`irodori.reference`;
        ReferenceImageError when one cannot be used). Warnings and the log name the input: its path,
        or the name a caller gave it with :func:`irodori.imageio.input_named`."""
        with input_named(image if isinstance(image, (str, Path)) else None):
            return self._colorize(image, hints=hints, palette=palette, temperature=temperature, mode=mode,
                                  tone=tone, background=background, reference=reference)

    def _colorize(self, image: ImageSource, *, hints: Iterable[Any] | None, palette: str | Iterable[Any] | None,
                  temperature: float | None, mode: str | None, tone: str | None, background: str | None,
                  reference: Iterable[Any] | None) -> Image.Image:
        hints = parse_hints(hints)
        references = self.references if reference is None else self.analyse_references(reference)
        with counting_hints() as found:
            out = self._colour(image, hints=hints, palette=palette, temperature=temperature, mode=mode, tone=tone,
                               background=background, references=references)
        if references:
            out.info["irodori.reference_hints"] = sum(n for n, _ in found)
            out.info["irodori.reference_copied"] = max((share for _, share in found), default=0.0)
        return out

    def _colour(self, image: ImageSource, *, hints: list[Hint], palette: str | Iterable[Any] | None,
                temperature: float | None, mode: str | None, tone: str | None, background: str | None,
                references: tuple[Reference, ...] | list[Reference]) -> Image.Image:
        palette_ab, given = parse_palette(palette), list(hints)  # (shape_fills takes some of the hints)
        if palette_ab is not None:
            palette_ab = palette_with_hints(palette_ab, given)
        img = open_image(image, max_pixels=self.max_pixels)
        log.debug("%s: input %dx%d, mode %s, %d hints", self.name, *img.size, img.mode, len(hints))
        lightness, alpha = lightness_of(img)
        dpi, turned = print_resolution(img), bool(img.info.get("irodori.turned"))
        kept = img if self.keep_colour else None  # a colour input may be returned as it is
        del img  # the Lightness holds what is needed (8-bit pixels, not a float copy)
        # Line art on a transparent sheet is ink on paper: what shows through is paper (white).
        hidden = alpha is not None and (alpha < 255).any()
        transparent = hidden and (mode or self.mode) != "tint"
        on_paper = over_white(lightness, alpha) if transparent else lightness
        # what is transparent holds no colour of the image's, whatever its RGB (helper 51)
        seen = on_paper if transparent else over_white(lightness, alpha) if hidden else lightness
        contract = self.contract_for(seen, mode=mode, tone=tone, background=background)
        name = input_name() or "image"  # colorize() named a path input by its path as given
        check_inside(hints, lightness.shape[1], lightness.shape[0], turned=turned)
        if contract.keep:
            log.info("%s: %s", name, contract.reason)
            with self._tally:
                self.kept += 1
            if hints or palette_ab is not None:
                log.warning("%s: kept as it is: its %s not used", name,
                            "hints and palette are" if hints and palette_ab is not None
                            else "hints are" if hints else "palette is")
            return kept_as_it_is(kept, dpi)
        del kept
        log.info("%s: %s (%s)", name, contract.mode, contract.reason)
        warn_hints_that_colour_nothing(hints, on_paper if contract.mode == "paint" else lightness, contract, name)
        if contract.mode == "paint":
            shapes, hints = shape_fills(hints, on_paper, contract, self.network_size(*on_paper.shape))
            lab_small, sheet = self.predict_paint(on_paper, hints=hints, references=references,
                                                  temperature=temperature, contract=contract)
            if palette_ab is not None:
                lab_small[1:] = apply_palette(lab_small[1:], palette_ab)
            out = self.merge_image(on_paper, lab_small[1:], l_paint=lab_small[0], contract=contract, sheet=sheet,
                                   shapes=shapes)
            if transparent:
                if contract.background == "paper" or drawn_on_a_layer(alpha):
                    alpha = painted_alpha(alpha, self.layer_sheet(on_paper, contract, sheet))
                out = own_colour_where_transparent(out, lightness, alpha)
        else:  # seen over white: a transparent layer's RGB under its clear pixels is no picture (black, often:
            # tinted, a line layer was "no detail to colour": helper 77); the output keeps the input's L and alpha
            ab_small = self.predict_ab(seen, hints=hints, references=references, temperature=temperature)
            if palette_ab is not None:
                ab_small = apply_palette(ab_small, palette_ab)
            out = self.merge_image(lightness, ab_small)
        if alpha is not None:
            out.putalpha(Image.fromarray(alpha, "L"))
        if dpi is not None:
            out.info["dpi"] = dpi  # the print size stays the input's (imageio.encode writes it)
        out.info["irodori.mode"] = contract.mode
        if given:  # kept in a PNG output: given back as a reference, its hints' colours are the user's word
            out.info[HINTS_TEXT] = json.dumps([[hint.x, hint.y, "#%02x%02x%02x" % hint.rgb] for hint in given])
        return out

    # -- references -----------------------------------------------------------------------------
    @property
    def matcher(self) -> ReferenceMatcher:
        """The reference feature network, loaded on first use, on this colorizer's threads (shared
        by every colorizer with as many)."""
        return load_matcher(self.workers)

    def analyse_references(self, sources: Iterable[Any]) -> list[Reference]:
        """Reference images -> analysed once (:func:`irodori.reference.analyse_references`), for
        every page of a batch (one source, or several); ReferenceImageError names a bad one."""
        sources = reference_sources(sources)
        if not sources:
            return []
        return analyse_references(sources, matcher=None if all(isinstance(s, Reference) for s in sources)
                                  else self.matcher, max_pixels=self.max_pixels)

    def with_references(self, sources: Iterable[Any]) -> "Colorizer":
        """A colorizer like this one that colours every image after these references (analysed
        here, once: a folder or archive then reuses them for every page). ReferenceImageError names a
        bad one."""
        other = copy.copy(self)
        other.references = tuple(self.analyse_references(sources))
        return other

    def reference_hints(self, lightness: Lightness, references: list[Reference], hints: list[Hint], *,
                        paint: bool, sheet: np.ndarray | None = None) -> tuple[list[Hint], PendingCopy]:
        """(The user's hints with the references' hints added before them (reference hints within a
        48th of the page of one of the user's are dropped here, and those in the shape it fills
        when the hints are spread: :func:`irodori.hints.in_own_regions`), at most MAX_HINTS; the
        colour copied where the page is a reference's very drawing, at the network's size, or None,
        found beside the network (:class:`irodori.reference.PendingCopy`):
        :meth:`irodori.reference.ReferenceMatcher.read_page`).
        ``sheet``, line art's blank sheet (:meth:`blank_sheet`): only references closely related to
        the page colour it (:meth:`irodori.reference.ReferenceMatcher.guide`)."""
        found, copied = self.matcher.read_page(lightness, references, paint=paint, limit=MAX_HINTS - len(hints),
                                               sheet=sheet, size=self.network_size(*lightness.shape))
        near = page_side(*lightness.shape) / 48
        kept = [r for r in found if all(abs(r.x - u.x) > near or abs(r.y - u.y) > near for u in hints)]
        return kept + hints, copied

    def colorize_lightness(self, l_full: np.ndarray, *, hints: Iterable[Any] | None = None) -> np.ndarray:
        """l_full (H, W) float32 CIE L in [0, 100] -> sRGB uint8 (H, W, 3) with that L."""
        lightness = Lightness.from_l(l_full)
        return np.asarray(self.merge_image(lightness, self.predict_ab(lightness, hints=hints)))

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) the network sees: longest side at most max_side, aspect ratio kept; a strip
        longer than 2:1 (a webtoon's) with its shorter side at max_side / 2, as its pages would be
        seen, up to 4 x max_side x max_side pixels (:func:`irodori.imageio.page_scale`), its
        padding to the size multiple counted (a 600000x1 line was padded to 32 px wide, 4 GB)."""
        scale = min(1.0, page_scale(height, width, self.max_side))
        return within_pages(max(1, round(height * scale)), max(1, round(width * scale)), self.max_side,
                            self.backend.size_multiple)

    def network_inputs(self, lightness: Lightness, *, hints: Iterable[Any] | None = None,
                       backend: Backend | None = None, paint: bool = False
                       ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """-> (l (1, 1, H', W'), hints (1, C, H', W'), (h, w)): exactly what the network is fed
        (reduced, normalised, padded to the size multiple), and the unpadded size. A model that
        takes hints' lightness (C = 4) gets the hint colour's own L when ``paint``, else the page's."""
        backend = backend or self.backend
        height, width = lightness.shape
        h, w = self.network_size(height, width)
        l_small = lightness.reduced(h, w)
        channels = getattr(backend, "hint_channels", 3)
        hints_small = hint_map(parse_hints(hints), (height, width), (h, w), channels=channels,
                               page_l=None if paint else l_small)
        m = backend.size_multiple
        pad = ((0, (-h) % m), (0, (-w) % m))
        mode = "reflect" if min(h, w) > 1 else "edge"
        l_in = np.pad(normalize_l(l_small.astype(np.float32)), pad, mode=mode)[None, None]
        hint_in = np.pad(hints_small, ((0, 0),) + pad)[None]
        return np.ascontiguousarray(l_in, dtype=np.float32), np.ascontiguousarray(hint_in, dtype=np.float32), (h, w)

    def predict_ab(self, lightness: Lightness | np.ndarray, *, hints: Iterable[Any] | None = None,
                   references: Iterable[Reference] = (), propagate: bool = True,
                   temperature: float | None = None) -> np.ndarray:
        """Lightness (or L (H, W)) -> ab_small (2, h, w) in Lab units at the network size.

        Hints go into the network and, because the network follows them only weakly, are also
        spread over regions of similar lightness (:func:`irodori.hints.propagate_hints`; off
        with ``propagate=False``, which measures the network alone). Analysed ``references``
        add hints where the page matches them (:meth:`reference_hints`).
        """
        if not isinstance(lightness, Lightness):
            lightness = Lightness.from_l(lightness)
        hints = own = parse_hints(hints)
        copied = PendingCopy()
        if references:
            hints, copied = self.reference_hints(lightness, list(references), own, paint=False)
            found, own = carried_as_own(hints[:len(hints) - len(own)], own)
            hints = found + own
        ab, l_small = self.network_ab(lightness, hints, temperature=temperature)
        spread = float(l_small.std())
        if spread < FLAT_L_STD:  # found by a helper: a blank grey scan came back orange
            log.warning("%sno detail to colour (a blank or uniform image, L varying by %.1f): left grey%s",
                        input_prefix(), spread, ", but for its hints" if hints else "")
            ab = np.zeros_like(ab)
        net = ab
        if hints and propagate:
            ab = self.spread_hints(ab, l_small, lightness, hints, len(own))
        copied = copied.result()  # (found beside the network: PendingCopy)
        if copied is not None:  # where the page is a reference's very drawing: its chroma, copied after the
            # references' hints (their corrections are meant for the network's colour), not where the user's won
            found, without = hints[:len(hints) - len(own)], None
            if own and propagate:
                without = self.spread_hints(net, l_small, lightness, found, 0) if found else net
            ab = copied.beside(ab, without)
        return ab

    @staticmethod
    def spread_hints(ab: np.ndarray, l_small: np.ndarray, lightness: Lightness, hints: list[Hint], own: int
                     ) -> np.ndarray:
        """ab (2, h, w) with ``hints`` spread over similar lightness (the last ``own`` the user's,
        each filling its shape; the references' before them correct the colour under them,
        except in the user's shapes: :func:`irodori.hints.in_own_regions`)."""
        if own and len(hints) > own:  # the user's hint wins in its whole shape, not only beside it
            found, mine = hints[:len(hints) - own], hints[len(hints) - own:]
            grid = propagation_grid(l_small.shape, len(hints), own=own)
            taken = in_own_regions(reduced(l_small, grid), lightness.shape, mine, found)
            hints = [hint for hint, inside in zip(found, taken) if not inside] + mine
        colours, filling = hint_fill(hints, own, line_art=False)
        return propagate_hints(ab, l_small, hints, lightness.shape, fill=colours, filling=filling, own=own)

    def network_ab(self, lightness: Lightness, hints: list[Hint], *,
                   temperature: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The network alone: parsed hints -> (ab_small (2, h, w) in Lab units, the L (h, w) it saw:
        a faded print's with its levels restored, which the hints spread over too; over the faded
        levels, whose edges are half as strong, one hint on a jacket coloured the flag, the face
        and the sky: helper 66)."""
        l_in, hint_in, (h, w) = self.network_inputs(lightness, hints=hints)
        l_read = (l_in[0, 0, :h, :w] + 1.0) * 50.0
        box, sides = frame_box(l_read)
        l_net = l_restored = restore_faded_levels(l_in, (h, w), box=box)
        level = plain_frame_level(l_read, box, sides)
        top, bottom, left, right = 0, h, 0, w  # the network sees all of it ...
        if l_net is not l_in or level is not None:  # ... but a faded print, or one in a white border or on a
            # black lid, alone, the frame staying grey (helper 66: a print in a white border on a black lid came
            # out with orange and blue blotches, blue as the print alone now; val tint sets within 0.04 dB).
            # A frame on one side is a sky's first band, one under a tenth of the image a panel's
            # margin; art on a plain ground is not cut (its ground may have a colour: cut to the
            # figure, val characters-tint lost 0.12 dB with a reference)
            if sides >= FRAMED_SIDES and (box[1] - box[0]) * (box[3] - box[2]) <= FRAMED_AREA * h * w:
                top, bottom, left, right = box
                l_net, hint_in = self.size_padded(l_net, hint_in, box)
                log.debug("%sa frame on %d sides: the network sees the print inside it", input_prefix(), sides)
        start = time.perf_counter()
        t = self.temperature if temperature is None else self.check_temperature(temperature)
        ab_net = self.backend.run(l_net, hint_in) if t is None else self.backend.run(l_net, hint_in, temperature=t)
        log.debug("%s: network on %dx%d (padded %dx%d) in %.0f ms", self.name, right - left, bottom - top,
                  l_net.shape[3], l_net.shape[2], (time.perf_counter() - start) * 1000)
        check_network_output(ab_net, (1, 2, *l_net.shape[2:]), model=getattr(self.backend, "path", self.name))
        ab = np.zeros((2, h, w), np.float32)
        ab[:, top:bottom, left:right] = denormalize_ab(ab_net[0, :, :bottom - top, :right - left])
        if level is not None:  # a print's white border or a black lid stays grey (helper 61: stained)
            ab[:, outside_box((h, w), box)] = 0.0  # with what is written on it
            log.debug("%sa plain frame on %d sides stays grey", input_prefix(), sides)
        return ab, l_read if l_restored is l_in else (l_restored[0, 0, :h, :w] + 1.0) * 50.0

    def size_padded(self, l_net: np.ndarray, hint_in: np.ndarray, box: tuple[int, int, int, int]
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The network's inputs (1, 1, H', W') and (1, C, H', W') cut to ``box`` (top, bottom, left,
        right) and padded again to the backend's size multiple, as :meth:`network_inputs` pads."""
        top, bottom, left, right = box
        m = self.backend.size_multiple
        pad = ((0, (-(bottom - top)) % m), (0, (-(right - left)) % m))
        l_cut = np.pad(l_net[0, 0, top:bottom, left:right], pad, mode="reflect")[None, None]
        hint_cut = np.pad(hint_in[0, :, top:bottom, left:right], ((0, 0),) + pad)[None]
        return np.ascontiguousarray(l_cut, dtype=np.float32), np.ascontiguousarray(hint_cut, dtype=np.float32)

    def predict_paint(self, lightness: Lightness, *, hints: Iterable[Any] | None = None,
                      references: Iterable[Reference] = (), propagate: bool = True,
                      temperature: float | None = None, contract: Contract | None = None
                      ) -> tuple[np.ndarray, SheetFill | None]:
        """Lightness -> (lab_small (3, h, w) float32: the paint model's page lightness l_paint and
        its ab, in Lab units at the network size; what :meth:`merge_image` does with line art's
        blank sheet, or None). Hints are spread as in
        :meth:`predict_ab`, their lightness too, so a hint on white paper fills its region at its
        own colour. Analysed ``references`` add hints where the page matches them (in the ink
        view), spread the same way. A ``contract`` whose background is "paper" keeps the blank
        sheet (:meth:`blank_sheet`) paper, one whose background is "gutters" keeps it paper where
        it is a page's gutters and margins; the user's hints on it of one colour fill the area they
        are in flat with that colour (:class:`irodori.paint.SheetFill`), hints of several colours
        spread across it from white, as a reference's do (only from a reference closely related to
        the page, and only paper-light colours). ValueError without a paint model."""
        own = parse_hints(hints)
        if self.paint_backend is None:
            raise ValueError(f"{self.backend.name} cannot paint (it predicts no l_paint)")
        line_art = contract is not None and contract.background == "paper"
        blank = self.blank_sheet(lightness, contract) if contract is not None else None
        on_sheet = blank.pixels(lightness) if blank is not None else None
        share = coverage(on_sheet, self.network_size(*lightness.shape)) if on_sheet is not None else None
        found, copied = (self.paint_reference_hints(lightness, list(references), own, on_sheet, share)
                         if references else ([], PendingCopy()))
        found, own = carried_as_own(found, own)
        lab, l_small = self.paint_network(lightness, found + own, propagate=propagate, temperature=temperature,
                                          line_art=line_art)
        # Line art's lines are its only walls: read at their darkest per cell, so that a line
        # thinner than a cell of the grid still bounds the flats and the hints (a page's
        # screentone, read so, would become walls too). Line art's shapes take one flat colour
        # each, its sheet painted too or not (helper 82).
        flat = line_art or (contract is not None and contract.line_art)
        drawn = lightness.darkest_at(lab.shape[1:]) if flat else None
        darkest = drawn if line_art else None
        if flat:
            lab = one_flat_per_shape(lab, drawn)
        lab = flats_to_lines(lab, darkest if line_art else l_small)
        fill = None
        if blank is not None:
            fill, own, found = sheet_hints(blank, on_sheet, own, found, line_art=line_art)
            if fill is None or fill.painted:
                lab = on_paper_sheet(lab, share)  # white, for the hints there to paint it
        net = lab
        if (found or own) and propagate:
            lab = self.spread_paint_hints(lab, l_small, lightness, contract, found, own, on_sheet=on_sheet,
                                          line_art=line_art, darkest=darkest)
        paper = coverage(fill.paper(), lab.shape[1:]) if fill is not None else None  # (the merge keeps it white)
        copied = copied.result(paper, "line art's blank sheet keeps" if line_art
                               else "the page's blank gutters and margins keep")
        if copied is not None:  # where the page is a reference's very drawing: its flats (as predict_ab)
            without = None
            if own and propagate:
                without = (self.spread_paint_hints(net, l_small, lightness, contract, found, [], on_sheet=on_sheet,
                                                   line_art=line_art, darkest=darkest) if found else net)
            lab = copied.beside(lab, without)
        return lab, fill

    def paint_reference_hints(self, lightness: Lightness, references: list[Reference], own: list[Hint],
                              on_sheet: np.ndarray | None, share: np.ndarray | None
                              ) -> tuple[list[Hint], PendingCopy]:
        """The references' hints for a page to paint (:meth:`reference_hints`, matched in the ink
        view); on line art's blank sheet (``on_sheet`` (H, W) bool, ``share`` its coverage of the
        network's grid) only paper-light ones (L >= SHEET_HINT_L); and the colour they copy."""
        hints, copied = self.reference_hints(lightness, references, own, paint=True, sheet=share)
        found = hints[:len(hints) - len(own)]
        if on_sheet is not None and found:  # a reference gives the blank sheet paper-light colours only
            light = rgb_to_l(np.array([hint.rgb for hint in found], dtype=np.uint8).reshape(-1, 3))
            found = [hint for hint, l in zip(found, light) if l >= SHEET_HINT_L or not on_sheet[hint.y, hint.x]]
        return found, copied

    def paint_network(self, lightness: Lightness, hints: list[Hint], *, propagate: bool,
                      temperature: float | None, line_art: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The paint model run on the page -> (Lab (3, h, w) float32 at the network size: l_paint
        and ab; the input's L (h, w) there). With ``propagate`` the hints are spread afterwards
        (:meth:`spread_paint_hints`), and not fed to a model that takes hints' chroma alone: it
        answers a hint with a blob of its colour, so spreading the hint's difference from that
        blob would move the rest of the region hardly at all. A model that takes their lightness
        too (``hint_channels`` 4) is fed them. ``line_art``: the lightness of the model's line-art
        head, where it has one (line art's sheet hides flat fills; a page's paper, shading).
        ModelError for output that is not finite."""
        backend = self.paint_backend
        l_in, hint_in, (h, w) = self.network_inputs(lightness, hints=hints, backend=backend, paint=True)
        if hints and propagate and getattr(backend, "hint_channels", 3) < HINT_CHANNELS_WITH_L:
            hint_in = np.zeros_like(hint_in)
        start = time.perf_counter()
        t = self.temperature if temperature is None else self.check_temperature(temperature)
        ab_net, l_net = backend.run_paint(l_in, hint_in, temperature=t, line_art=line_art)
        log.debug("%s: paint network on %dx%d in %.0f ms", backend.name, w, h, (time.perf_counter() - start) * 1000)
        model = getattr(backend, "path", backend.name)
        check_network_output(ab_net, (1, 2, *l_in.shape[2:]), model=model)
        check_network_output(l_net, (1, 1, *l_in.shape[2:]), model=model, name="l_paint")
        lab = np.concatenate([denormalize_l(l_net[0, :, :h, :w]), denormalize_ab(ab_net[0, :, :h, :w])])
        return lab.astype(np.float32), (l_in[0, 0, :h, :w] + 1.0) * 50.0

    def spread_paint_hints(self, lab: np.ndarray, l_small: np.ndarray, lightness: Lightness,
                           contract: Contract | None, found: list[Hint], own: list[Hint], *,
                           on_sheet: np.ndarray | None, line_art: bool, darkest: np.ndarray | None) -> np.ndarray:
        """The references' hints (``found``) and the user's (``own``) spread over the painted Lab
        (3, h, w): line art's within its lines (read at their darkest), a page's within walls of its
        ink and grey when the user placed hints (:func:`page_walls`); the user's fill their region
        (:func:`hint_fill`), starting on their own side of a line."""
        def walls_at(grid: tuple[int, int]) -> np.ndarray | None:
            return (lightness.darkest_at(grid) if line_art
                    else page_walls(lightness, contract, grid, l_small)
                    if (own or REFERENCE_WALLS) and contract is not None else None)

        grid = propagation_grid(lab.shape[1:], len(found + own), own=len(own))
        walls = walls_at(grid)
        if found and own:  # the user's hint wins in its whole shape, not only beside it
            seen = walls if walls is not None else reduced(l_small, grid)
            taken = in_own_regions(seen, lightness.shape, own, found,
                                   own_l=[lightness.at(hint.y, hint.x) for hint in own])
            found = [hint for hint, inside in zip(found, taken) if not inside]  # the grid is the user's: unchanged
        hints = found + own
        colours, filling = hint_fill(hints, len(own), line_art=line_art, sheet=on_sheet)
        # The user's clicks start on their own side of a line (a reference's hints stay where they are).
        hint_l = ([float("nan")] * len(found) + [lightness.at(hint.y, hint.x) for hint in own]
                  if walls is not None else None)
        lab = propagate_hints(lab, l_small, hints, lightness.shape, walls=walls, fill=colours, filling=filling,
                              hint_l=hint_l, own=len(own))
        lab[0] = np.clip(lab[0], 0.0, 100.0)
        if line_art or own:  # the fills too run up to the lines (the distances grow, and the fill fades, beside them)
            lab = flats_to_lines(lab, darkest if line_art else l_small)
        return lab

    def layer_sheet(self, lightness: Lightness, contract: Contract, sheet: SheetFill | None) -> SheetFill | None:
        """What of a painted drawing on a transparent layer keeps the input's alpha (``sheet``, the
        paint's own, for :func:`painted_alpha`): under background "gutters" (a page's, which a
        drawing has none of), the layer's blank sheet around its figures, as line art's is, less
        what the user's hints poured colour into (helper 77: the layer came out opaque white)."""
        if contract.background != "gutters":
            return sheet
        blank = self.blank_sheet(lightness, dataclasses.replace(contract, background="paper", balloons=None))
        if blank is None:
            return sheet
        return SheetFill(blank.pixels(lightness), sheet.fills if sheet is not None else ())

    def blank_sheet(self, lightness: Lightness, contract: Contract) -> BlankSheet | None:
        """The blank sheet that stays paper under ``contract``: around line art (background
        "paper"), or a page's gutters and margins (background "gutters", when
        :func:`irodori.paint.gutters` finds them), and in both, and alone under background "paint",
        the speech balloons the contract holds (:class:`irodori.balloons.Balloons`); else None. A
        :class:`irodori.paint.BlankSheet` on the page's darkest L per cell, at most SHEET_SIDE (a
        page's: GUTTER_SIDE) cells a side (:func:`sheet_factor`), levelled to the contract's paper."""
        if contract.mode != "paint":
            return None
        balloons = contract.balloons if contract.balloons is not None and contract.balloons.count else None
        if contract.background == "paint" and balloons is None:
            return None
        page = contract.background == "gutters"
        factor = sheet_factor(lightness.shape, sheet_kind(contract.background))
        darkest = lightness.darkest(factor)
        if balloons is not None:
            log.info("%s%d speech balloon%s found: %s paper, or take%s the colour of a hint placed in %s",
                     input_prefix(), balloons.count, *(("", "it stays", "s", "it") if balloons.count == 1
                                                       else ("s", "they stay", "", "them")))
        if contract.background == "paint":  # the page's balloons alone stay paper
            return BlankSheet.of(balloons.cells, darkest, factor=factor, paper_l=contract.paper_l)
        sheet = BlankSheet.find(darkest, factor=factor, paper_l=contract.paper_l)
        if page and not gutters(sheet.cells):
            gaps = strip_gaps(sheet.cells)
            if gaps is None:
                (log.info if contract.reason.endswith("(asked)") else log.debug)(
                    "%sno gutters and margins around panels found: the whole page is painted%s", input_prefix(),
                    " but its balloons" if balloons is not None else "")
                if balloons is None:
                    return None
                return BlankSheet.of(balloons.cells, darkest, factor=factor, paper_l=contract.paper_l)
            log.info("%sthe gaps between the strip's panels (%.0f%% of it) stay paper, or take the colour of a hint "
                     "placed in them", input_prefix(), 100 * gaps.mean())
            sheet = BlankSheet.of(gaps, darkest, factor=factor, paper_l=contract.paper_l)
        elif page:
            log.info("%sgutters and margins found (%.0f%% of the page): they stay paper, or take the colour of a "
                     "hint placed in them", input_prefix(), 100 * sheet.cells.mean())
        if balloons is not None:
            return BlankSheet.of(sheet.cells | balloons.cells, darkest, factor=factor, paper_l=contract.paper_l)
        return sheet

    def merge(self, l_full: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
        """L (H, W) and ab_small (2, h, w) -> sRGB uint8 (H, W, 3); see :meth:`merge_image`."""
        return np.asarray(self.merge_image(Lightness.from_l(l_full), ab_small))

    def merge_image(self, lightness: Lightness, ab_small: np.ndarray, *, l_paint: np.ndarray | None = None,
                    contract: Contract | None = None, sheet: SheetFill | None = None,
                    shapes: Sequence[ShapeFill] = ()) -> Image.Image:
        """Upsample ab to full size with the named filter and merge it with the full-resolution L,
        strip by strip: each band of rows gets its L, its upsampled ab and its sRGB, and is pasted
        into the output, so memory beyond input and output grows with the width, not the area.
        Strips run on ``self.workers`` threads (numpy and Pillow release the GIL).

        Paint (``contract.mode == "paint"``, with ``l_paint`` (h, w) the predicted page
        lightness): each band's L is its ink layer (:meth:`irodori.paint.Contract.ink`, read with
        a few rows of context for the tone filter) composited over the upsampled colour
        (:func:`irodori.paint.composite`); line art's blank ``sheet`` takes its flat colour
        (white paper, or the colour a hint fills it with: :class:`irodori.paint.SheetFill`), and
        the small shapes hints were placed in take theirs (:class:`irodori.paint.ShapeFill`)."""
        height, width = lightness.shape
        _, h, w = ab_small.shape
        painting = contract is not None and contract.mode == "paint"
        planes = [*ab_small, l_paint] if painting else list(ab_small)
        channels = [Image.fromarray(np.ascontiguousarray(c, dtype=np.float32), "F") for c in planes]
        resample = UPSAMPLE_FILTERS[self.upsample]
        rows = max(8, min(height, STRIP_PIXELS // width))
        sy = h / height

        def strip(y0: int) -> tuple[int, Image.Image]:
            y1 = min(height, y0 + rows)
            box = (0.0, y0 * sy, float(w), y1 * sy)
            up = [np.asarray(c.resize((width, y1 - y0), resample, box=box)) for c in channels]
            if not painting:
                return y0, Image.fromarray(lab_to_srgb8(lightness.rows(y0, y1), up[0], up[1]), "RGB")
            l_ink = contract.ink(lightness, y0, y1)
            l_paint, a, b = np.clip(up[2], 0.0, 100.0), up[0], up[1]
            for fill in ([sheet] if sheet is not None else []) + list(shapes):
                l_paint, a, b = fill.planes(y0, y1, l_paint, a, b)
            l_out, a, b = composite(l_paint, a, b, l_ink, black_l=contract.black_l)
            return y0, Image.fromarray(lab_to_srgb8(l_out, a, b), "RGB")

        out = Image.new("RGB", (width, height))
        starts = range(0, height, rows)
        start = time.perf_counter()
        if self.workers > 1 and len(starts) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                for y0, band in pool.map(strip, starts):
                    out.paste(band, (0, y0))
        else:
            for y0 in starts:
                out.paste(strip(y0)[1], (0, y0))
        log.debug("%s: merged %dx%d (%s chroma from %dx%d) in %d strips on %d threads in %.0f ms", self.name, width,
                  height, self.upsample, w, h, len(starts), self.workers, (time.perf_counter() - start) * 1000)
        return out


FADED_BLACK = 15.0  # restore_faded_levels: a picture whose darkest (1st percentile) L is above this ...
FADED_WHITE = 97.0  # ... and whose lightest (99th) is below this is a faded print ...
FADED_LEVELS = (5.0, 95.0)  # ... whose L range the tint network sees stretched to at least this
FRAME_STD = 3.0  # picture_in_frame: an edge row or column whose L varies less than this (std) is frame
FRAME_MOST = 0.25  # ... and at most this share of the height (width) is taken as frame on each side,
FRAME_MOST_DARK = 0.8  # ... or this share of a dark frame (a scanner's lid, its L under FRAME_DARK_L):
FRAME_DARK_L = 12.0  # a 6 x 4 print on an A4 bed leaves two thirds of it lid (helper 61)
FRAMES = 4  # picture_in_frame: frames inside frames (a border on a lid, and the row blending one into the other)
FRAME_RIM = 2  # restore_faded_levels: pixels of the picture along a frame left out of its levels
FRAME_LEAST = 16  # ... and what is left inside them is at least this many pixels a side
FRAMED_SIDES = 2  # the tint network sees a faded print alone inside a frame found on this many sides, at least
FRAMED_AREA = 0.9  # ... that leaves the picture at most this share of the image (a 2-px margin is no frame)


def picture_in_frame(l: np.ndarray) -> np.ndarray:
    """L (h, w) -> the part inside a uniform frame (a scanner's black lid, album paper, a print's
    white border): edge rows of one level (each varying less than FRAME_STD, and within FRAME_STD
    of the outermost), then edge columns likewise (read between those rows), up to FRAME_MOST of
    each side; a smooth gradient (a sky) is no frame. A frame would otherwise decide the
    picture's darkest or lightest levels (helper 48: a faded print on black was not seen as faded).
    Frames inside frames are taken off too, up to FRAMES, each at a level more than 2 FRAME_STD
    from the one around it on that side (helper 54: a print's white border on a scanner's black
    lid left the border in, and the faded print came out orange); a sky's next band, a few L
    from the last, is not taken as another frame."""
    top, bottom, left, right = frame_box(l)[0]
    return l[top:bottom, left:right]


def frame_box(l: np.ndarray) -> tuple[tuple[int, int, int, int], int]:
    """L (h, w) -> ((top, bottom, left, right) of the picture inside its frames, how many of the
    four sides have one that ends at the picture's edge): :func:`picture_in_frame`'s box. A side
    counts only where the picture's edge line (its median) lies more than 2 FRAME_STD from the
    frame's level: a print's edge on a lid or its border does; a plain ground that merely
    surrounds a picture's content does not (helper 57: a grey cover's own ground was taken for a
    scanner's frame, and the colour stopped at a straight seam around its title and circle)."""
    top, bottom, left, right = 0, l.shape[0], 0, l.shape[1]
    levels: list[float | None] = [None] * 4  # the last frame's level on each side: top, bottom, left, right
    for _ in range(FRAMES):
        inner = l[top:bottom, left:right]
        t = _frame_depth(inner, levels[0])
        b = inner.shape[0] - _frame_depth(inner[::-1], levels[1])
        rows = inner[t:b]
        lf = _frame_depth(rows.T, levels[2])
        r = inner.shape[1] - _frame_depth(rows.T[::-1], levels[3])
        if (t, b, lf, r) == (0, inner.shape[0], 0, inner.shape[1]) or min(b - t, r - lf) < FRAME_LEAST:
            break
        edges = (inner[0].mean(), inner[-1].mean(), rows[:, 0].mean(), rows[:, -1].mean())
        found = (t > 0, b < inner.shape[0], lf > 0, r < inner.shape[1])
        levels = [float(edge) if taken else level for edge, taken, level in zip(edges, found, levels)]
        top, bottom, left, right = top + t, top + b, left + lf, left + r
    picture = l[top:bottom, left:right]
    lines = (picture[0], picture[-1], picture[:, 0], picture[:, -1])
    return (top, bottom, left, right), sum(level is not None and abs(float(np.median(line)) - level) > 2 * FRAME_STD
                                           for line, level in zip(lines, levels))


FRAME_MARKED = 0.85  # _frame_depth: a row this much at the frame's level is frame, marks on it (writing) or not
FRAME_PAPER_L = 90.0  # plain_frame_level: a frame at least this light is a print's border or album paper


def plain_frame_level(l: np.ndarray, box: tuple[int, int, int, int], sides: int) -> float | None:
    """The L of the frame around ``box`` in L (h, w) (:func:`frame_box`, found on ``sides``) when
    it is a print's paper border or a scanner's black lid (its median L at least FRAME_PAPER_L,
    or under FRAME_DARK_L), on FRAMED_SIDES or more, leaving the picture at most FRAMED_AREA of
    the image: a frame the tint network would stain (a white border came out with yellow and
    blue patches), where a mid-grey ground may be a colour. Else None."""
    top, bottom, left, right = box
    h, w = l.shape
    if sides < FRAMED_SIDES or (bottom - top) * (right - left) > FRAMED_AREA * h * w:
        return None
    level = float(np.median(l[outside_box((h, w), box)]))
    return level if level >= FRAME_PAPER_L or level < FRAME_DARK_L else None


def outside_box(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """bool ``shape`` (h, w): True outside ``box`` (top, bottom, left, right), the frame around it."""
    outside = np.ones(shape, bool)
    outside[box[0]:box[1], box[2]:box[3]] = False
    return outside


def _frame_depth(l: np.ndarray, around: float | None = None) -> int:
    """How many of the first rows of L (h, w) are a frame (:func:`picture_in_frame`); none when
    their level is within 2 FRAME_STD of ``around``, the frame around them on this side."""
    if l.size == 0:
        return 0  # rows left empty by the frames taken off (a tiny image): nothing to measure, nothing to warn
    most = int(l.shape[0] * (FRAME_MOST_DARK if float(l[0].mean()) < FRAME_DARK_L else FRAME_MOST))
    if most == 0 or around is not None and abs(float(l[0].mean()) - around) <= 2 * FRAME_STD:
        return 0
    head = l[:most]
    framed = (head.std(axis=1) < FRAME_STD) & (np.abs(head.mean(axis=1) - l[0].mean()) < FRAME_STD)
    level = float(np.median(l[0]))
    if level >= FRAME_PAPER_L:  # a paper border written on: most of each row at its level (helper 61)
        framed |= (np.abs(head - level) < FRAME_STD).mean(axis=1) >= FRAME_MARKED
    return int(np.argmin(framed)) if not framed.all() else most


def restore_faded_levels(l_in: np.ndarray, size: tuple[int, int], *,
                         box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The tint network's input (1, 1, H', W') float32, L normalised to [-1, 1], its picture the
    top-left ``size`` (h, w) -> the same, a faded print's levels restored (``box``: the picture's
    :func:`frame_box`, when the caller has it; else measured here): where the picture's
    1st percentile L is above FADED_BLACK and its 99th below FADED_WHITE (blacks lifted, whites
    dulled, as an old print fades; read inside a uniform frame, :func:`picture_in_frame`), [p1,
    p99] is stretched linearly to at least FADED_LEVELS, as
    an auto-levels tool would. Only what the network sees changes; the output keeps the input's
    lightness. Read as it was, a faded print came out one cold blue (a helper's faded portrait:
    mean blue minus red from -9 to +74; the network takes low contrast for haze and sky). On the
    validation tint sets (general-int8) it moved photos +0.11 dB, grey art +0.04 and grey clip
    art +0.01; a rule on lifted blacks alone cost clip art 0.16 dB (light drawings on white)."""
    h, w = size
    l = (l_in + 1.0) * 50.0
    box = frame_box(l[0, 0, :h, :w])[0] if box is None else box
    # a framed side's first FRAME_RIM pixels blend the print with its frame at the network's size
    # (a small print on a black lid read its p1 from that rim, and was not faded: helper 61)
    top, left = (edge + FRAME_RIM if edge > 0 else edge for edge in box[::2])
    bottom, right = (edge - FRAME_RIM if edge < side else edge for edge, side in zip(box[1::2], (h, w)))
    if bottom - top < FRAME_LEAST or right - left < FRAME_LEAST:
        top, bottom, left, right = box
    lo, hi = (float(v) for v in np.percentile(l[0, 0, top:bottom, left:right], [1, 99]))
    if not (lo > FADED_BLACK and hi < FADED_WHITE and hi - lo > 5.0):
        return l_in
    low, high = min(lo, FADED_LEVELS[0]), max(hi, FADED_LEVELS[1])
    stretched = np.clip(low + (l - lo) * ((high - low) / (hi - lo)), 0.0, 100.0)
    log.debug("a faded print (L %.0f-%.0f): the network sees it at L %.0f-%.0f", lo, hi, low, high)
    return (stretched / 50.0 - 1.0).astype(np.float32)


def sheet_kind(background: str) -> str:
    """The background whose sheet grid a ``background`` uses: "paint" (the balloons alone stay
    paper) uses a page's ("gutters")."""
    return "gutters" if background == "paint" else background


def sheet_factor(shape: tuple[int, int], background: str) -> int:
    """The input pixels a side of a blank sheet's cells (:meth:`Colorizer.blank_sheet`), and of a
    page's balloons: GUTTER_SIDE cells along a page's (background "gutters") longest side,
    SHEET_SIDE along line art's (a strip's: along each of its pages, :func:`irodori.imageio.page_side`)."""
    return -(-page_side(*shape) // (GUTTER_SIDE if background == "gutters" else SHEET_SIDE))


FAR_SIDE = 2  # a max_side above this many times the model's own is warned of (Colorizer)
# --mode auto tints an image smaller than this a side (helper 61: 20-32 px thumbnails of photos
# were painted, their lightness changed by up to 159 of 255)
MIN_PAINT_SIDE = 48


def warn_painting_asked(stats: PageStats, *, size: tuple[int, int]) -> None:
    """--mode paint asked for an image (of ``size`` (height, width)) that auto would tint: painted
    as asked, with a warning saying what painting does to it (no paper: its lightest tone
    levelled to white; a photograph's shading flattened under the paint; a thumbnail, whose
    statistics tell nothing, said to be one: helper 73 had no warning for it)."""
    if min(size) < MIN_PAINT_SIDE:
        log.warning("%spainted as asked, but the automatic choice tints an image under %d px a side (%dx%d): too "
                    "small to tell ink on paper from a photograph; tinting (mode tint) keeps its lightness",
                    input_prefix(), MIN_PAINT_SIDE, size[1], size[0])
    elif stats.paper_l < NO_MARK_PAPER_L:
        log.warning("%spainted as asked, but it has no paper: its lightest tone (L %.0f) is taken as the paper and "
                    "levelled to white, and the rest lightened with it; tinting (mode tint) keeps its tones",
                    input_prefix(), stats.paper_l)
    elif choose_mode(stats) == "tint":
        log.warning("%spainted as asked, but it looks like what the automatic choice tints (%s): painting "
                    "replaces its shading with the paint's; tinting (mode tint) keeps it", input_prefix(),
                    stats.describe())


INK_BAND_PIXELS = 1 << 20  # InkRows.darkest: pixels of a band, about 40 MB of the tone filter's temporaries
# Whether a page's hints from references alone also spread over its ink walls (page_walls), as
# the user's do; off, they spread over the page's grey (scripts/ablate_reference.py measures both)
REFERENCE_WALLS = False
INK_WALLS = 0.5  # page_walls: the share of the ink layer's darkest per cell in the walls, the rest the page's grey


class InkRows(Lightness):
    """A page's ink layer without its screentone (:func:`irodori.paint.ink_layer`, tone "flat"),
    read band by band as :class:`Lightness` reads L, so that :meth:`Lightness.darkest_at` works
    on it: each band is filtered with 3 x the tone length of rows of context above and below (as
    :meth:`Colorizer.merge_image` reads it), and the whole layer never exists at once."""

    def __init__(self, lightness: Lightness, contract: Contract) -> None:
        self.source, self.contract, self.kind, self.pixels = lightness, contract, "ink", None
        self.height, self.width = lightness.shape

    def rows(self, y0: int, y1: int) -> np.ndarray:
        return self.contract.ink(self.source, y0, y1, tone="flat")

    def darkest(self, factor: int, *, band: int | None = None) -> np.ndarray:
        """:meth:`Lightness.darkest` of the ink, read in bands of about INK_BAND_PIXELS (the tone
        filter's temporaries are tens of bytes a pixel)."""
        f = max(1, int(factor))
        return super().darkest(f, band=band or max(1, INK_BAND_PIXELS // (self.width * f)))


def reduced(l_small: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``l_small`` (h, w) reduced to ``grid`` (hp, wp), bilinear, float32: the lightness hints
    spread over where no walls are given (:func:`irodori.hints.propagate_hints`)."""
    hp, wp = grid
    return np.asarray(Image.fromarray(l_small.astype(np.float32), "F").resize((wp, hp), Image.BILINEAR))


def page_walls(lightness: Lightness, contract: Contract, grid: tuple[int, int], l_small: np.ndarray) -> np.ndarray:
    """The lightness a page's hints spread over (:func:`irodori.hints.propagate_hints`'s
    ``walls``), (hp, wp) = ``grid`` float32: INK_WALLS of the ink layer without its screentone
    (:class:`InkRows`) read at its darkest per cell, so that a line thinner than a cell still
    walls a hint in, and the rest ``l_small`` (h, w), the page as the network sees it, reduced.

    On the page's grey alone a line fades when reduced and a toned area is one grey: a hint on
    a tree of the README's example page coloured its sky, hill and other tree about as strongly
    as the tree (a shift of 40 to 63 in a and b); now they shift 10 to 15, the tree 72. With the
    ink alone, 5 random hints on the first 30 validation pages scored 0.20 dB less (16.97 →
    16.77 dB); half and half, 0.05 dB less (16.92)."""
    grey = reduced(l_small, grid)
    return (INK_WALLS * InkRows(lightness, contract).darkest_at(grid) + (1.0 - INK_WALLS) * grey).astype(np.float32)


def hint_fill(hints: list[Hint], own: int, *, line_art: bool, sheet: np.ndarray | None = None
              ) -> tuple[str, list[bool] | None]:
    """How ``hints`` spread (:func:`irodori.hints.propagate_hints`'s ``fill`` and ``filling``),
    the last ``own`` of them the user's, the others a reference's (:meth:`Colorizer.reference_hints`):
    in line art a hint fills the flats with its colour, except a reference's on the blank
    ``sheet`` (H, W) bool, which spreads its correction (from white); on a page or a photograph
    the user's hints fill their regions with their chroma (the lightness, a page's shading,
    corrected when painting) and a reference's hints spread corrections, since the blend of
    many cells' mean colours washed the chroma out (painted, on the validation sets:
    colourfulness 64 -> 60 % of the truth's on characters, 85 -> 81 % on panels, for +0.05 dB;
    tinted, panels 97 -> 88 %)."""
    first_own = len(hints) - own
    if line_art:
        return "colour", [i >= first_own or sheet is None or not sheet[hint.y, hint.x]
                          for i, hint in enumerate(hints)]
    return "chroma", [i >= first_own for i in range(len(hints))]


def sheet_hints(blank: BlankSheet, on_sheet: np.ndarray, own: list[Hint], found: list[Hint], *, line_art: bool
                ) -> tuple[SheetFill | None, list[Hint], list[Hint]]:
    """What the hints do on the blank sheet (``on_sheet`` (H, W) bool) -> (the sheet's fill or
    None, the user's hints and the references' that are still to be spread).

    The user's hints on the sheet pour a paint bucket into the area they are in; a reference's
    are spread from white like corrections (one doubtful match must not flood the whole sheet),
    and on line art they leave the sheet to the spreading when no hint of the user's is on it.
    On a page (its gutters, margins and balloons) the user's hints there fill the area each is in
    (paper, if one area holds hints of several colours) and nothing else, and the references'
    there are dropped (their gutters are paper too)."""
    poured = [hint for hint in own if on_sheet[hint.y, hint.x]]
    groups = poured_areas(blank, on_sheet, poured)
    if line_art:
        fill = SheetFill.from_hints(on_sheet, groups)
        if not poured and any(on_sheet[hint.y, hint.x] and coloured(hint) for hint in found):
            fill = None  # a reference's colours on the sheet: spread across it from white
        return fill, own, found
    flat = [(area, colours) for area, colours in groups if one_colour(colours)]
    if len(flat) < len(groups):  # said: such hints were dropped without a word (helper 57)
        log.warning("%shints of several colours in one blank area (the gutters and margins, or a balloon): "
                    "it stays paper; give it hints of one colour", input_prefix())
    off_sheet = [hint for hint in own if not on_sheet[hint.y, hint.x]]
    return SheetFill.from_hints(on_sheet, flat), off_sheet, [hint for hint in found if not on_sheet[hint.y, hint.x]]


def coloured(hint: Hint) -> bool:
    """Whether a hint's colour has chroma (at least SHEET_HINT_CHROMA), not white or grey."""
    lab = rgb_to_lab(np.array(hint.rgb, dtype=np.uint8).reshape(1, 3))[0]
    return bool(np.hypot(lab[1], lab[2]) >= SHEET_HINT_CHROMA)


def poured_areas(blank: BlankSheet, on_sheet: np.ndarray, poured: list[Hint]
                 ) -> list[tuple[np.ndarray | None, np.ndarray]]:
    """The user's hints on the sheet (``on_sheet`` (H, W) bool) grouped by the area each pours
    into (:meth:`irodori.paint.BlankSheet.part`; None: the whole sheet) -> [(area, their colours
    (n, 3) Lab)], in the hints' order. A balloon's hint and a gutter's fill each their own (both
    were dropped when the two were taken as one area of two colours: helper 57)."""
    groups: list[tuple[np.ndarray | None, list[Hint]]] = []
    for hint in poured:
        area = blank.part([(hint.y, hint.x)], on_sheet)
        same = next((group for group in groups if (group[0] is None and area is None) or (
            group[0] is not None and area is not None and np.array_equal(group[0], area))), None)
        if same is None:
            groups.append((area, [hint]))
        else:
            same[1].append(hint)
    return [(area, rgb_to_lab(np.array([hint.rgb for hint in hints], dtype=np.uint8).reshape(-1, 3)))
            for area, hints in groups]


LAYER_CLEAR = 0.5  # drawn_on_a_layer: more than this share of an image wholly transparent


def drawn_on_a_layer(alpha: np.ndarray) -> bool:
    """Whether an image with ``alpha`` (H, W) uint8 is a drawing on a transparent layer (more
    than LAYER_CLEAR of it wholly clear: a drawing program's line layer, its ink the alpha),
    whose painted colour must be made opaque to be seen, under any background (helper 73: with
    ``--background paint`` it kept the input's alpha and none of its colour showed); a page
    with a few clear parts (a cut margin) keeps its alpha, as a tinted one does."""
    return bool((alpha == 0).mean() > LAYER_CLEAR)


def painted_alpha(alpha: np.ndarray, sheet: SheetFill | None) -> np.ndarray:
    """The alpha (H, W) uint8 of a transparent drawing (a drawing program's line layer) once
    painted: the flats under the figure are opaque (with the input's alpha the colour would not
    show), the blank sheet kept paper (line art's, or a page's gutters) keeps the input's alpha;
    all of it is opaque where no sheet is kept (background "paint") or hints painted it."""
    if sheet is None or sheet.whole:
        return np.full_like(alpha, 255)
    return np.where(sheet.paper(), alpha, np.uint8(255)).astype(np.uint8)


def own_colour_where_transparent(out: Image.Image, lightness: Lightness, alpha: np.ndarray) -> Image.Image:
    """A painted transparent drawing's RGB output -> the same, but where the output stays partly
    transparent (``alpha`` (H, W) uint8 between 0 and 255) the pixel keeps the input's own grey,
    not its grey over the white paper it was painted on: the anti-aliased edge of a black line on
    a transparent layer stays black at its alpha, so it shows no light fringe when laid over a
    dark picture. Wholly transparent pixels stay paper (white for a viewer that drops alpha)."""
    clear = (alpha > 0) & (alpha < 255)
    if not clear.any():
        return out
    rgb = np.array(out)
    l_own = np.concatenate([lightness.rows(y0, min(lightness.shape[0], y0 + 256))[clear[y0:y0 + 256]]
                            for y0 in range(0, lightness.shape[0], 256)])
    zero = np.zeros_like(l_own)
    rgb[clear] = lab_to_srgb8(l_own[None], zero[None], zero[None])[0]
    return Image.fromarray(rgb, "RGB")


def coverage(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """mask (H, W) bool -> float32 (h, w) in [0, 1]: the share of each cell of an (h, w) =
    ``size`` grid that the mask covers (a box filter)."""
    img = Image.fromarray(mask.astype(np.uint8) * 255, "L").resize(size[::-1], Image.BOX)
    return np.asarray(img, dtype=np.float32) / 255.0


def on_paper_sheet(lab: np.ndarray, sheet: np.ndarray) -> np.ndarray:
    """lab (3, h, w) float32 and a blank sheet (h, w) in [0, 1] -> lab with the sheet blended to
    white paper (L 100, no chroma)."""
    out = lab * (1.0 - sheet)
    out[0] += 100.0 * sheet
    return out.astype(np.float32)


def no_paint_model(name: str) -> ValueError:
    """The error for mode paint asked of ``name``, a model that only tints."""
    return ValueError(f"mode paint needs a paint model; {name} only tints (try --model manga; "
                      "load_colorizer(\"manga\") in Python)")


def check_choices(mode: str, tone: str, background: str) -> None:
    """ValueError, naming the value, unless mode, tone and background are each one of their
    choices (or auto)."""
    for what, value, choices in (("mode", mode, ("auto", *MODES)), ("tone", tone, TONES),
                                 ("background", background, ("auto", *BACKGROUNDS))):
        if value not in choices:
            raise ValueError(f"{what} must be {', '.join(choices[:-1])} or {choices[-1]}, not {value!r}")


def auto_mode_counts(colorizer: Colorizer) -> tuple[int, int]:
    """How many black-and-white images ``colorizer``'s mode auto has tinted and painted so far
    (its ``auto_modes``): a mark for :func:`mixed_modes`."""
    return colorizer.auto_modes["tint"], colorizer.auto_modes["paint"]


def mixed_modes(colorizer: Colorizer, since: tuple[int, int] = (0, 0), *, within: str = "") -> str | None:
    """Words for a batch's log when ``colorizer``'s mode auto both tinted and painted
    black-and-white images after the mark ``since`` (:func:`auto_mode_counts`): a chapter whose
    pages came out some as colour pages, some as a sepia tint (helper 52); None when it did not.
    Each image's own line says why; these name the fewer (the first of the last NAMES_KEPT) and
    the fix. ``within``: an archive's name, left out of its pages' names (the warning says it)."""
    tinted = colorizer.auto_modes["tint"] - since[0]
    painted = colorizer.auto_modes["paint"] - since[1]
    if tinted <= 0 or painted <= 0:
        return None
    fewer, count = ("tinted", tinted) if tinted <= painted else ("painted", painted)
    names = list(colorizer.auto_names["tint" if fewer == "tinted" else "paint"])[-count:]
    names = [name.removeprefix(f"{within}: ") if within else name for name in names]
    shown = ", ".join(names[:3]) + (f" and {count - 3} more" if count > 3 else "")
    return (f"--mode auto painted {painted} black-and-white image{'' if painted == 1 else 's'} and "
            f"tinted {tinted} ({fewer}: {shown}); to colour them all one way, give --mode paint (pages) or "
            "--mode tint (photographs)")


NAMES_KEPT = 1000  # names of auto's choices a colorizer remembers (mixed_modes)


def load_colorizer(model: str | Path | None = AUTO_MODEL, *, mode: str = "auto", tone: str = "flat",
                   background: str = "auto", max_side: int | None = None, upsample: str = "bilinear",
                   threads: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                   temperature: float | None = None, keep_colour: bool = False) -> Colorizer:
    """Load a model once (shipped name, .onnx file, or checkpoint directory). ``threads`` (default:
    all cores) is used both by the network and by the full-resolution merge. ``temperature``: the
    annealed mean's T for every image (see :meth:`Colorizer.colorize`; default: the model's own).
    ``mode``, ``tone`` and ``background`` are every image's defaults (see :meth:`Colorizer.contract_for`).
    ``keep_colour``: an input already in colour (a chapter's colour cover) is returned as it is
    (RGB or RGBA, sRGB, ``info["irodori.mode"]`` "kept"), not re-coloured from its lightness.

    With ``model="auto"`` (the default; None too), two shipped models are loaded: ``general-int8`` tints photos
    and grey art, and ``manga-int8`` (DEFAULT_PAINT_MODEL) paints ink on paper, chosen per image by the detector
    (``mode="auto"``; "tint" or "paint" forces one). A named model does what it can: a tint
    model only tints (ValueError with ``mode="paint"``), a paint model both."""
    start = time.perf_counter()
    paint_backend = None
    if model is None or model == AUTO_MODEL:
        backend = load_backend(DEFAULT_MODEL, threads=threads)
        # with mode "tint" too: a call may still ask mode="paint" (helper 50 was told to load manga)
        paint_backend = load_backend(DEFAULT_PAINT_MODEL, threads=threads)
        if not paint_backend.paints:  # the shipped manga model predates paint mode
            paint_backend = None
    else:
        backend = load_backend(model, threads=threads)
    colorizer = Colorizer(backend, paint_backend=paint_backend, mode=mode, tone=tone, background=background,
                          max_side=max_side, upsample=upsample, max_pixels=max_pixels, workers=threads,
                          temperature=temperature, keep_colour=keep_colour)
    log.debug("model %s (%s) loaded in %.0f ms: %s backend, network side at most %d, size multiple %d, %d threads",
              colorizer.name, model, (time.perf_counter() - start) * 1000, type(backend).__name__,
              colorizer.max_side, backend.size_multiple, colorizer.workers)
    return colorizer


_DEFAULTS: dict[int | None, Colorizer] = {}  # colorize's default colorizers, by their threads


def colorize(image: ImageSource, *, hints: Iterable[Any] | None = None,
             palette: str | Iterable[Any] | None = None, temperature: float | None = None,
             mode: str | None = None, tone: str | None = None, background: str | None = None,
             reference: Iterable[Any] | None = None, threads: int | None = None) -> Image.Image:
    """Colour one image with the default models (tint and paint, chosen per image), loaded on
    first use and kept (the keywords: see :meth:`Colorizer.colorize`). ``threads``: the cores
    they run on (None: every core, as :func:`load_colorizer`); each value loads them once (a
    helper on a shared machine could not limit it)."""
    colorizer = _DEFAULTS.get(threads)
    if colorizer is None:
        colorizer = _DEFAULTS[threads] = load_colorizer(threads=threads)
    return colorizer.colorize(image, hints=hints, palette=palette, temperature=temperature, mode=mode, tone=tone,
                              background=background, reference=reference)


__all__ = ["Colorizer", "Hint", "HintError", "OnnxBackend", "TorchBackend", "colorize", "load_colorizer"]


def sample_rows(lightness: Lightness, *, budget: int = 1 << 18) -> np.ndarray:
    """Whole rows of CIE L spread evenly over the image, about ``budget`` pixels in all: the
    detector's sample (real horizontal neighbours, no resampling, which would blur dots into
    grey) -> l_rows (R, W) float32."""
    height, width = lightness.shape
    step = max(1, (height * width) // budget)
    return np.concatenate([lightness.rows(y, y + 1) for y in range(0, height, step)])


def warn_if_coloured(chroma: np.ndarray, *, keeping: bool = False) -> None:
    """Warn that a colour input's own colours are replaced (said once per image, louder than the
    contract's log line), from its :func:`chroma_sample` (n,): a mean chroma above MAX_CHROMA or
    more than COLOURED_SHARE of it clearly coloured (a colour page of a chapter is mostly white
    paper, so its mean chroma is low, 5 on a helper's; its share of coloured pixels is not).
    ``keeping``: the colorizer keeps colour images, but this one, under KEEP_SHARE coloured, was
    not kept: said so, rather than advising the keeping it already asked for (helper 58)."""
    if not is_coloured(chroma):
        return
    mean, coloured = float(chroma.mean()), float((chroma > COLOURED_CHROMA).mean())
    advice = (f"keeping colour keeps only images more than {100 * KEEP_SHARE:.0f}% clearly coloured (a B&W "
              "scan with a strip of colour is coloured)" if keeping else
              "colorize --keep-colour, or load_colorizer(keep_colour=True) in Python, keeps such images as they are")
    log.warning("%sa colour image (mean chroma %.1f, %.1f%% of it clearly coloured): its own colours "
                "are replaced by new ones from its lightness (%s)", input_prefix(), mean, 100 * coloured, advice)


def is_coloured(chroma: np.ndarray, *, share: float | None = None) -> bool:
    """Whether an input is a colour image, from its :func:`chroma_sample` (n,): a mean chroma
    above MAX_CHROMA or more than ``share`` (default COLOURED_SHARE) of it clearly coloured (see
    :func:`warn_if_coloured`)."""
    if not chroma.size:
        return False
    share = COLOURED_SHARE if share is None else share
    return float(chroma.mean()) > MAX_CHROMA or float((chroma > COLOURED_CHROMA).mean()) > share


def kept_as_it_is(img: Image.Image, dpi: tuple[float, float] | None) -> Image.Image:
    """A colour input returned by a colorizer that keeps them: RGB (RGBA with its alpha), in
    sRGB, with its print resolution, ``info["irodori.mode"]`` "kept"."""
    out = to_srgb(img) if img.info.get("icc_profile") else img
    alpha = any(band in ("A", "a") for band in out.getbands()) or "transparency" in out.info
    out = out.convert("RGBA" if alpha else "RGB")
    out.info = {"irodori.mode": "kept", **({"dpi": dpi} if dpi is not None else {})}
    return out


def mean_chroma(lightness: Lightness, *, budget: int = 1 << 14) -> float:
    """The mean CIE chroma of a colour input (:func:`chroma_sample`); 0 for grey kinds."""
    chroma = chroma_sample(lightness, budget=budget)
    return float(chroma.mean()) if chroma.size else 0.0


def chroma_sample(lightness: Lightness, *, budget: int = 1 << 14) -> np.ndarray:
    """The CIE chroma (n,) float32 of about ``budget`` pixels of a colour input, evenly spread;
    empty for grey kinds. Where the input's paper (each channel's PAPER_PERCENTILE-th percentile)
    is light, at least PAPER_CAST_L, and tinted as paper ages, towards yellow (b at least |a|)
    and at most PAPER_CAST_CHROMA, the pixels are white-balanced to it first (each channel
    divided by the paper's, von Kries): black ink on cream or yellowed paper is no colour image.
    (A painting's own light green or blue is kept: two low-chroma portraits turned grey when it
    was not.)"""
    return lab_chroma(lab_sample(lightness, budget=budget))


def lab_chroma(lab: np.ndarray) -> np.ndarray:
    """CIE Lab (n, 3) -> CIE chroma (n,) float32."""
    return np.hypot(lab[:, 1], lab[:, 2]).astype(np.float32)


def lab_sample(lightness: Lightness, *, budget: int = 1 << 14) -> np.ndarray:
    """CIE Lab (n, 3) float of about ``budget`` pixels of a colour input, evenly spread, its
    paper's cast taken out as :func:`chroma_sample` says; (0, 3) for grey kinds."""
    if lightness.kind != "rgb8":
        return np.zeros((0, 3), np.float32)
    height, width = lightness.shape
    step = max(1, int(np.sqrt(height * width / budget)))
    rgb = np.ascontiguousarray(lightness.pixels[::step, ::step]).reshape(-1, 3)
    paper = np.maximum(np.percentile(rgb, PAPER_PERCENTILE, axis=0), 1.0)
    l_paper, a_paper, b_paper = rgb_to_lab(np.rint(paper).astype(np.uint8)[None, None])[0, 0]
    if l_paper >= PAPER_CAST_L and abs(a_paper) <= b_paper <= PAPER_CAST_CHROMA:
        rgb = np.clip(rgb * (paper.max() / paper), 0, 255).astype(np.uint8)
    return rgb_to_lab(rgb[None])[0]


ONE_HUE_SHARE = 0.97  # one_hue: this share of the chroma within ONE_HUE_SPREAD degrees of its mean hue
ONE_HUE_SPREAD = 30.0
TONED_SPREAD = 3.0  # ... and its colour at one lightness varying less than this (colour_given_lightness)


def one_hue(lab: np.ndarray) -> float | None:
    """A colour input's :func:`lab_sample` (n, 3) -> the hue angle (degrees, CIE Lab) when its
    colour is one hue, as a sepia, selenium or cyanotype toned print's is (ONE_HUE_SHARE of its
    chroma, weighted, within ONE_HUE_SPREAD of the mean hue), and set by its lightness, as a
    toner's is (:func:`colour_given_lightness` under TONED_SPREAD), else None. Single-coloured
    art (a lemon, a teddy bear) is one hue too: a hint, not a test that a print is toned. Real
    colour photographs of one warm hue (a red cup of coffee, a tabby cat) passed the hue test
    alone and were said to be perhaps sepia prints (helper 66): their colour at one lightness
    varies 9-11 Lab units, a toned print's under 1."""
    chroma = lab_chroma(lab)
    coloured = chroma > 4.0
    if not coloured.any():
        return None
    hue, weight = np.arctan2(lab[coloured, 2], lab[coloured, 1]), chroma[coloured]
    mean = np.arctan2((weight * np.sin(hue)).sum(), (weight * np.cos(hue)).sum())
    apart = np.abs(np.angle(np.exp(1j * (hue - mean))))
    share = float(weight[apart < np.radians(ONE_HUE_SPREAD)].sum() / weight.sum())
    if share < ONE_HUE_SHARE or colour_given_lightness(lab) >= TONED_SPREAD:
        return None
    return float(np.degrees(mean)) % 360


def colour_given_lightness(lab: np.ndarray) -> float:
    """CIE Lab (n, 3) -> how much the colour varies among pixels of one lightness: the standard
    deviation of a and b (their hypotenuse) within each 10-L band of at least 20 pixels, averaged
    by the bands' sizes; 0 when no band has that many. A toner colours by the silver's density,
    so a toned print's colour follows its lightness (under 1 on prints toned by hand-made curves)."""
    bands = np.clip((lab[:, 0] // 10).astype(int), 0, 9)
    spreads, sizes = [], []
    for band in range(10):
        inside = bands == band
        if inside.sum() >= 20:
            spreads.append(float(np.hypot(lab[inside, 1].std(), lab[inside, 2].std())))
            sizes.append(int(inside.sum()))
    return float(np.average(spreads, weights=sizes)) if spreads else 0.0


# An image whose L at the network's size varies less than this (standard deviation) has nothing
# for the tint network to hold on to: a uniform grey came back orange or yellow at chroma 70-80
# (float and int8 alike), a foggy print of std 2 grey levels red. It is left grey (hints still
# colour it); a foggy print of std 5 (2 L) is coloured plausibly, sky and ground.
FLAT_L_STD = 1.0
FAINT_CHROMA = 3.0  # --keep-colour: an image not kept whose mean chroma is above this is said to hold faint colour
COLOURED_CHROMA = 20.0  # a pixel this colourful (CIE chroma) is clearly coloured, not a cast or JPEG noise
COLOURED_SHARE = 0.005  # an input with this share of such pixels is a colour image, however white its paper
# (0.03 until a helper found hand tinting of 1-2 % of a portrait, its lips and scarf, replaced without a word)
# Only a reference's hint of this chroma at least on line art's blank sheet hands the sheet to
# the spreading: white and grey ones alone (a reference on white paper, its lines' anti-aliased
# edges) leave it paper, a transparent one clear (they smudged it grey and made it opaque: helper
# 57; val openmoji-paint with a matching reference +2.55 -> +2.54 dB).
SHEET_HINT_CHROMA = 5.0
KEEP_SHARE = 0.05  # keep_colour keeps an input only with this share: a B&W scan beside a colour strip is coloured


PAPER_CAST_L = 70.0  # mean_chroma: a paper at least this light ...
PAPER_CAST_CHROMA = 35.0  # ... and at most this yellow (b) is paper with a cast (cream, yellowed), balanced away


def over_white(lightness: Lightness, alpha: np.ndarray) -> Lightness:
    """The image composited over white paper by its alpha (H, W) uint8 -> a new Lightness of the
    same kind: the sheet a transparent drawing is printed on."""
    a = alpha.astype(np.float32) / 255.0
    pixels, kind = lightness.pixels, lightness.kind
    white = {"gray8": 255.0, "rgb8": 255.0, "gray16": 65535.0, "l": 100.0}[kind]
    if pixels.ndim == 3:
        a = a[..., None]
    mixed = pixels.astype(np.float32) * a + white * (1.0 - a)
    return Lightness(np.round(mixed).astype(pixels.dtype) if pixels.dtype != np.float32 else mixed, kind)


def carried_as_own(found: list[Hint], own: list[Hint]) -> tuple[list[Hint], list[Hint]]:
    """A page's reference hints ``found`` and the user's ``own`` -> (the reference's, the user's
    with the hints carried from a reference page's own hints after them): a hint the user gave
    page 1, carried to its shape here (:class:`irodori.hints.CarriedHint`), is spread as the
    user's are, filling its shape within the ink's walls, not as a reference's guess."""
    carried = [hint for hint in found if isinstance(hint, CarriedHint)]
    return [hint for hint in found if not isinstance(hint, CarriedHint)], own + carried


def shape_fills(hints: list[Hint], lightness: Lightness, contract: Contract, network: tuple[int, int]
                ) -> tuple[list[ShapeFill], list[Hint]]:
    """The user's hints placed in closed shapes too small for the grid the hints spread on
    (:func:`irodori.hints.propagation_grid` of the ``network`` size (h, w); at most SHAPE_CELLS
    of its cells from the hint every way: an eye, a button on a large scan) -> (their flat
    fills at full resolution, :class:`irodori.paint.ShapeFill`; the other hints). Spread on the
    grid, such a hint started from the cell beside it and coloured the shape around instead
    (found by a helper: a hint in an 8-px nose on a 3000-px drawing turned the head blue, the
    nose white). Shapes are read on the ink layer without its screentone."""
    height, width = lightness.shape
    grid = propagation_grid(network, len(hints))
    reach = int(np.ceil(SHAPE_CELLS * max(height / grid[0], width / grid[1])))
    ink = InkRows(lightness, contract)
    shapes, rest, papers = [], [], []
    close = max(SHAPE_CLOSE, contract.length // 2)  # dots as far apart as a tone's strokes are short
    regions = None  # the page's blank paper and its areas, read once, for hints on it
    for hint in hints:
        y0, x0 = max(0, hint.y - reach), max(0, hint.x - reach)
        y1, x1 = min(height, hint.y + reach + 1), min(width, hint.x + reach + 1)
        window = ink.rows(y0, y1)[:, x0:x1]
        lab = rgb_to_lab(np.array([[hint.rgb]], dtype=np.uint8))[0, 0]
        lab = (float(lab[0]), float(lab[1]), float(lab[2]))
        shape = ShapeFill.find(window, hint.y, hint.x, y0=y0, x0=x0, lab=lab,
                               edges=(y0 == 0, y1 == height, x0 == 0, x1 == width))
        if shape is None and window[hint.y - y0, hint.x - x0] >= PAPER_FILL_L:  # on paper: perhaps a panel's
            if regions is None:
                regions = paper_regions(levelled_l(lightness.rows(0, height), contract.paper_l), close)
            paper = ShapeFill.paper(regions, hint.y, hint.x, lab=lab, close=close)
            if paper is not None:
                papers.append((hint, paper))
                continue
        (shapes if shape is not None else rest).append(shape if shape is not None else hint)
    filled, spread = one_fill_per_paper(papers)
    return shapes + filled, rest + spread


def one_fill_per_paper(papers: list[tuple[Hint, ShapeFill]]) -> tuple[list[ShapeFill], list[Hint]]:
    """Hints with their fills of a panel's paper (:meth:`ShapeFill.paper`) -> (the fills, one per
    paper; the hints that fill none). Hints of one colour (within SHEET_FILL_DE) on one paper
    give one fill; hints of several colours on one paper fill nothing, are spread as others are,
    and are warned of (helper 67: of a red and a blue hint on one panel's paper, the blue filled
    it all without a word), as on the gutters and in balloons."""
    filled, spread = [], []
    for i, (hint, paper) in enumerate(papers):
        same = [j for j, (_, other) in enumerate(papers) if (other.mask & paper.mask).any()]
        colours = np.array([papers[j][1].lab for j in same])
        if not one_colour(colours):
            spread.append(hint)
            if i == min(same):
                where = ", ".join(f"({papers[j][0].x},{papers[j][0].y})" for j in same)
                log.warning("%shints of several colours on one panel's paper, at %s: not filled flat; their colours "
                            "spread from each", input_prefix(), where)
        elif i == min(same):
            filled.append(paper)
    return filled, spread


def warn_hints_that_colour_nothing(hints: list[Hint], lightness: Lightness, contract: Contract, name: str) -> None:
    """Warn of the hints that cannot colour where they lie: tinted, one on white paper (the
    lightness is the input's, and the sRGB gamut has hardly any chroma there); painted, one on an
    ink line or a solid black (ink stays ink, and a line is the wall between two shapes, so which
    one it meant is unknown: its colour spreads into the shapes around it, as a hint's correction
    does). Hints must be inside the image (check_inside)."""
    if contract.mode == "tint":
        stuck = [hint for hint in hints if lightness.at(hint.y, hint.x) >= WHITE_L]
        where, advice = "on white paper, which tinting keeps white (the lightness is the input's)", \
            "--mode paint colours paper"
    else:
        ink = LINE_L * max(contract.paper_l, 1.0) / 100.0  # levelled L below LINE_L is a line
        stuck = [hint for hint in hints if lightness.at(hint.y, hint.x) < ink]
        where = "on an ink line or a solid black, which stays ink"
        advice = "its colour still spreads into the shapes around it; place it inside the shape you mean"
    if stuck:
        at = ", ".join(f"({hint.x},{hint.y})" for hint in stuck[:5])
        log.warning("%s: %d hint%s %s at %s; %s", name, len(stuck), "" if len(stuck) == 1 else "s", where, at, advice)


def _one_line(exc: BaseException) -> str:
    """An error's text on one line (onnxruntime's hold line breaks)."""
    return " ".join(str(exc).split())

