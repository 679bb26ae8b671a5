"""``irodori evaluate``: colour the grey versions of colour images and score them.

For each colour image in a folder: take its CIE L (the model sees nothing else), colour it, and
compare with the original. The grayscale baseline (the same L with zero chroma, i.e. doing
nothing) is scored on the same images, so every figure has its "beats doing nothing" reference.

A folder with ``input/`` and ``truth/`` sub-folders is a paired set (the evaluation sets of
``scripts/build_corpus.py --eval``: grey photos, synthetic manga pages): each input, matched to
its truth by file stem, is coloured as it is, and the reference is the truth's colours under the
input's lightness (what a perfect colorizer could output, since the lightness is kept; for a
grey photo that is the truth itself).

Figures (:mod:`irodori.metrics`): PSNR and SSIM against the truth, per image then averaged;
colourfulness CF (Hasler-Suesstrunk, signed formula), its ratio to the truth's and
ΔCF = |mean CF - mean CF of the truth|; and the Fréchet distance FD between the set's
EfficientNet-Lite0 features and the truth's (:mod:`irodori.features`; not Inception FID), for the
prediction and for the baseline. FD needs the eval extra and at least two images.

With ``hints=N`` each image is also coloured with N hints revealed from its ground truth
(:func:`irodori.hints.sample_hints`, seeded by the image's name, so the same hints every run):
the measure of how well a model follows a user's hints. ``sheets`` writes one side-by-side
sheet per image: the input's lightness (tint; paint: the B&W input) | ground truth | prediction
(| prediction with hints, hints marked).
"""

from __future__ import annotations

import json
import math
import unicodedata
import zlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from PIL import Image, ImageDraw

from .color import gray8_to_l, holds_no_colour, l_to_gray_rgb, lab_to_srgb8, rgb_to_l, rgb_to_lab
from .features import DESCRIPTION as FD_FEATURES
from .features import features_available, load_feature_extractor
from .hints import Hint, sample_hints
from .imageio import IMAGE_EXTENSIONS, is_junk, load_rgb
from .metrics import SSIM_RADIUS, colorfulness, delta_cf, feature_statistics, frechet_distance, psnr, ssim

if TYPE_CHECKING:
    from .colorizer import Colorizer

EVAL_EXTENSIONS = IMAGE_EXTENSIONS
FOOTNOTE = ("CF: Hasler–Süsstrunk colourfulness, signed opponent formula. FD: Fréchet distance of "
            "EfficientNet-Lite0 (ImageNet) pooled features, not Inception FID; comparable only within "
            "this table's image set.")


SSIM_MIN_SIDE = 2 * SSIM_RADIUS + 1  # SSIM's window


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _fd(features: dict[str, list[np.ndarray]], side: str) -> float:
    """FD between the features of ``side`` ("pred" or "gray") and of the truth; NaN below 2 images."""
    if len(features["truth"]) < 2:
        return float("nan")
    return frechet_distance(*feature_statistics(np.stack(features[side])),
                            *feature_statistics(np.stack(features["truth"])))


def _sheet_names(names: list[str]) -> dict[str, str]:
    """image name -> its sheet's file name: "vol1/p01.png" -> "vol1__p01.jpg". Where two images
    share a stem ("a.png", "a.jpg"), each keeps its extension ("a_png.jpg", "a_jpg.jpg")."""
    stems = {name: name.replace("/", "__").rsplit(".", 1)[0] for name in names}
    shared = {stem for stem, n in Counter(stems.values()).items() if n > 1}  # one pass: sets can be large
    return {name: (name.replace("/", "__").replace(".", "_") if stem in shared else stem) + ".jpg"
            for name, stem in stems.items()}


def result_json(result: dict) -> str:
    """The result of :func:`evaluate_folder` as strict JSON: a figure that is not a number (FD of
    one image, a ratio to a grey truth) or infinite (an exact match's PSNR) is written as null."""
    def finite(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: finite(v) for k, v in x.items()}
        if isinstance(x, list):
            return [finite(v) for v in x]
        return x

    return json.dumps(finite(result), indent=2, allow_nan=False) + "\n"


def list_pairs(folder: Path) -> list[tuple[str, Path | None, Path]]:
    """-> [(name, input or None, truth)], sorted: a paired set (input/ + truth/) or colour images."""
    if (folder / "input").is_dir() and (folder / "truth").is_dir():
        def by_stem(sub: str) -> dict[str, Path]:
            return {p.stem: p for p in (folder / sub).iterdir()
                    if p.is_file() and p.suffix.lower() in EVAL_EXTENSIONS and not is_junk(p.name)}

        inputs, truths = by_stem("input"), by_stem("truth")
        unmatched = sorted(set(inputs) ^ set(truths))
        if unmatched:  # named with the side that lacks its partner (it said only "orphan")
            said = [f"{(inputs if stem in inputs else truths)[stem].relative_to(folder).as_posix()} has no "
                    f"{'truth' if stem in inputs else 'input'}" for stem in unmatched[:5]]
            more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
            raise FileNotFoundError(f"{folder}: input/ and truth/ do not pair up: {'; '.join(said)}{more}")
        return [(stem, inputs[stem], truths[stem]) for stem in sorted(truths)]
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in EVAL_EXTENSIONS and not is_junk(p.relative_to(folder)))
    return [(p.relative_to(folder).as_posix(), None, p) for p in files]


def under_lightness(truth: np.ndarray, l_full: np.ndarray) -> np.ndarray:
    """The reference of a paired set: the truth's colours (ab) under the input's lightness."""
    lab = rgb_to_lab(truth)
    return lab_to_srgb8(l_full.astype(np.float32), lab[..., 1].astype(np.float32), lab[..., 2].astype(np.float32))


def load_pair(name: str, input_path: Path | None, truth_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One item of :func:`list_pairs` -> (truth as stored, the lightness to colour, the reference).

    Without an input the lightness is the truth's own and the reference is the truth; with one
    (a grey photo, a manga page) it is the input's, and the reference is the truth's colours under
    it (:func:`under_lightness`). Input and truth must be the same size."""
    truth = np.asarray(load_rgb(truth_path))
    if input_path is None:
        return truth, rgb_to_l(truth), truth
    l_full = rgb_to_l(np.asarray(load_rgb(input_path)))
    if l_full.shape != truth.shape[:2]:
        raise ValueError(f"{name}: input {l_full.shape[::-1]} and truth {truth.shape[1::-1]} differ in size")
    return truth, l_full, under_lightness(truth, l_full)


def _colour(colorizer: "Colorizer", mode: str, page: Path | np.ndarray | None, l_full: np.ndarray | None,
            hints: list[Hint] | None = None) -> np.ndarray:
    """The prediction, sRGB uint8 (H, W, 3): tint colours the lightness ``l_full``; paint colours
    the B&W ``page`` (an input file, or a printed page (H, W) uint8) as ``irodori colorize --mode
    paint`` does (its lightness may change)."""
    if mode == "paint":
        return np.asarray(colorizer.colorize(page, mode="paint", hints=hints).convert("RGB"))
    return colorizer.colorize_lightness(l_full, hints=hints)


def _evaluation_files(folder: Path, *, limit: int | None, mode: str) -> list[tuple[str, Path | None, Path]]:
    """The items of ``folder`` to score (:func:`list_pairs`). FileNotFoundError when there is
    none; ValueError for a bad ``limit`` (the images to score)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    files = list_pairs(folder)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a whole number of images, 1 or more (or None for all), not {limit!r}")
    if not files:
        raise FileNotFoundError(f"no colour images in {folder}")
    return files


FD_FEW = 50  # FD on fewer images than this is said to be mostly the sample's size


def _fd_extractor(fd: bool | None, notes: list[str], threads: int | None = None) -> Any:
    """The FD feature extractor ``fd`` asks for (None: when installed), on ``threads`` torch
    threads (the colorizer's: `evaluate --threads` reached only the colouring, helper 80), or None; what was not
    computed, and why, is added to ``notes`` (too few images scored: after scoring).
    FeaturesUnavailable when ``fd`` insists and the packages are missing."""
    if fd is None:
        fd = features_available()
        if not fd:
            notes.append("FD not computed: the EfficientNet-Lite0 packages are not installed.")
    elif fd is False:
        notes.append("FD not computed (switched off).")
    return load_feature_extractor(threads) if fd else None


def _load_item(name: str, input_path: Path | None, truth_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`load_pair`, and ValueError for an image smaller than SSIM's window (OSError,
    ValueError or SyntaxError when it cannot be read or the sizes differ)."""
    pair = load_pair(name, input_path, truth_path)
    l_full = pair[1]
    if min(l_full.shape) < SSIM_MIN_SIDE:
        raise ValueError(f"{l_full.shape[1]}x{l_full.shape[0]} is smaller than SSIM's {SSIM_MIN_SIDE}-px window")
    return pair


def _score_image(colorizer: "Colorizer", mode: str, name: str, page: Path | np.ndarray | None,
                 pair: tuple[np.ndarray, np.ndarray, np.ndarray], *, hints: int) -> tuple[dict, list[np.ndarray]]:
    """One loaded item (:func:`_load_item`) coloured (and, with ``hints`` > 0, coloured again with
    that many hints sampled from the truth, seeded by its name) -> (its row of metrics, the
    sheet's panels: baseline, truth, prediction[, prediction with hints]). Tint scores against the
    truth's colours under the input's lightness beside the grey baseline; paint on full RGB
    beside the B&W ``page`` as it is (its input file, or the colour image printed: (H, W) uint8).
    The model's errors propagate: they are not the image's."""
    hint_source, l_full, truth = pair
    gray = l_to_gray_rgb(l_full)
    if mode == "paint":  # full RGB: the truth as it is, the B&W input as it is the baseline
        truth = hint_source
        if isinstance(page, np.ndarray):  # a colour image alone, printed as a B&W page
            gray = np.repeat(page[..., None], 3, axis=2)
        else:
            gray = np.asarray(load_rgb(page).convert("L").convert("RGB"))
    pred = _colour(colorizer, mode, page, l_full)
    row = {"image": name, "psnr": psnr(pred, truth), "psnr_gray": psnr(gray, truth), "ssim": ssim(pred, truth),
           "ssim_gray": ssim(gray, truth), "cf": colorfulness(pred), "cf_gray": colorfulness(gray),
           "cf_truth": colorfulness(truth), **({"printed": True} if isinstance(page, np.ndarray) else {})}
    panels = [gray, truth, pred]
    if hints:
        given = sample_hints(hint_source, hints, np.random.default_rng(zlib.crc32(name.encode())))
        pred_hints = _colour(colorizer, mode, page, l_full, given)
        row.update(psnr_hints=psnr(pred_hints, truth), ssim_hints=ssim(pred_hints, truth),
                   cf_hints=colorfulness(pred_hints))
        panels.append(mark_hints(pred_hints, given))
    return row, panels


def _summaries(rows: list[dict], cf_truth: float, notes: list[str]) -> Callable[[str], dict]:
    """Per-image rows -> a function of a metric suffix ("", "_gray", "_hints") giving that
    method's means: psnr, ssim, colorfulness, its ratio to the truth's, delta_cf. An exact match
    (a grey truth against the grayscale baseline) has infinite PSNR: every PSNR mean leaves out
    the same images (noted), so the model and the baseline are compared on one set."""
    psnr_keys = [k for k in rows[0] if k.startswith("psnr")]
    psnr_rows = [r for r in rows if all(math.isfinite(r[k]) for k in psnr_keys)]
    if len(psnr_rows) < len(rows):
        notes.append(f"PSNR means leave out {_count(len(rows) - len(psnr_rows), 'image')} with an exact match "
                     "(infinite PSNR).")

    def summary(suffix: str) -> dict:
        cf = _mean([r["cf" + suffix] for r in rows])
        return {"psnr": _mean([r["psnr" + suffix] for r in psnr_rows]), "ssim": _mean([r["ssim" + suffix] for r in rows]),
                "colorfulness": cf, "colorfulness_ratio": cf / cf_truth if cf_truth else float("nan"),
                "delta_cf": delta_cf(cf, cf_truth)}

    return summary


def _scorable_item(name: str, input_path: Path | None, truth_path: Path, mode: str
                   ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], Path | np.ndarray | None]:
    """(:func:`_load_item`, the page to paint: the input, or in paint mode a colour image alone
    printed as a B&W page, :func:`irodori.printing.printed_page`, seeded by its name), and
    ValueError for an item that holds nothing to score: a grey truth, a 1-bit input in tint mode,
    a printed page with no paper (OSError, ValueError or SyntaxError: the reason it is skipped)."""
    pair = _load_item(name, input_path, truth_path)
    if holds_no_colour(pair[0]):  # a helper's: a grey file among the truths pulled the means down
        raise ValueError("a grey image: no colour to score against")
    if mode == "tint" and input_path is not None and holds_no_colour(pair[2]):
        # a 1-bit input: its black and white hold no colour, so every method "matched" the truth
        # (SSIM 1, infinite PSNR) and pulled the SSIM mean up (helper 55)
        raise ValueError("no colour under its input's lightness: a black-and-white input is scored with --mode paint")
    if mode == "paint" and input_path is None:
        return pair, _printed(pair[0], name)
    return pair, input_path


def _printed(truth: np.ndarray, name: str) -> np.ndarray:
    """A colour image printed as a B&W page (:func:`irodori.printing.printed_page`); ValueError
    when the page has no paper (its lightest, the 97th percentile, under NO_MARK_PAPER_L: a
    dark scene printed as one grey, which paint would level to white paper; helper 60's night
    planet came out light lavender, 12.3 dB against 21.7 for the print)."""
    from .paint import NO_MARK_PAPER_L, PAPER_PERCENTILE
    from .printing import printed_page

    page = printed_page(truth, name)
    paper = float(np.percentile(gray8_to_l(page), PAPER_PERCENTILE))
    if paper < NO_MARK_PAPER_L:
        raise ValueError(f"printed as a B&W page, it has no paper (its lightest, L {paper:.0f}, is under "
                         f"{NO_MARK_PAPER_L:.0f}): a dark scene, not a page to paint")
    return page


def evaluate_folder(model: "str | Colorizer", folder: str | Path, *, max_side: int | None = None,
                    limit: int | None = None, hints: int = 0, sheets: str | Path | None = None,
                    sheet_height: int | None = 256, fd: bool | None = None, progress: bool = True,
                    mode: str = "tint") -> dict:
    """-> {"model", "mode", "references" (the names of the colorizer's references, which every
    image is coloured after: :meth:`Colorizer.with_references`), "images", "prediction": {...},
    "grayscale": {...}, "baseline" (what
    "grayscale" scored), "truth": {...}, "per_image": [...], "fd_features", "notes"}
    (+ "with_hints": {...} when ``hints`` > 0).

    ``mode`` "tint" (default) colours each truth's lightness (or a paired input's) and scores it
    against the truth's colours under that lightness, beside the grayscale baseline; "paint"
    paints each B&W input of a paired folder (``input/`` B&W pages, ``truth/`` their colour
    versions), or each colour image of a plain folder printed as a B&W page first
    (:func:`irodori.printing.printed_page`, seeded by its name), and scores it on full RGB against
    the truth, beside that B&W page as it is (the "grayscale" entry), as docs/MANGA_MODE.md's
    evaluation does. ValueError for another mode.
    ``model`` is a shipped name, an .onnx file, a checkpoint directory, or a loaded Colorizer.
    ``prediction`` and ``grayscale`` hold the means of psnr, ssim, colorfulness, colorfulness_ratio,
    and delta_cf and fd over the set. ``fd``: None computes FD when the feature packages are
    installed, True insists (:class:`irodori.features.FeaturesUnavailable` when they are not),
    False skips it; a skipped FD is None, an undefined one (fewer than 2 images) NaN, with a note.
    ``sheets``: a folder for a sheet per image (:func:`write_sheet`), its panels ``sheet_height``
    pixels high (None: the image's own height).
    An image that cannot be scored (unreadable, sizes differ, too small, a grey truth) is skipped with a note
    (``limit`` counts the images scored); ValueError when none can be.
    """
    if hints < 0:
        raise ValueError("hints must be 0 or more")
    if mode not in ("tint", "paint"):
        raise ValueError(f"mode must be tint or paint, not {mode!r}")
    from tqdm import tqdm

    from .colorizer import Colorizer, load_colorizer

    folder = Path(folder)
    files = _evaluation_files(folder, limit=limit, mode=mode)
    wanted = len(files) if limit is None else min(limit, len(files))
    notes: list[str] = []
    colorizer = model if isinstance(model, Colorizer) else load_colorizer(model, max_side=max_side)
    extractor = _fd_extractor(fd, notes, colorizer.workers)
    features: dict[str, list[np.ndarray]] = {"pred": [], "gray": [], "truth": []}
    sheet_dir = Path(sheets) if sheets is not None else None
    if sheet_dir is not None:
        sheet_dir.mkdir(parents=True, exist_ok=True)
    rows, skipped = [], []
    sheet_names = _sheet_names([name for name, _, _ in files])
    # closed on Ctrl-C too: the bar was drawn again under the CLI's "interrupted"
    with tqdm(total=wanted, desc="evaluate", unit="img", disable=not progress) as bar:
        for name, input_path, truth_path in files:
            if len(rows) == wanted:  # the first ``limit`` images that can be scored
                break
            try:
                pair, page = _scorable_item(name, input_path, truth_path, mode)
            except (OSError, ValueError, SyntaxError) as exc:  # unreadable, sizes differ, too small, grey
                skipped.append(f"{name} ({exc})")
                if limit is None:  # the bar counts the files (with a limit, the images scored): it ends full
                    bar.update()
                continue
            row, panels = _score_image(colorizer, mode, name, page, pair, hints=hints)
            if extractor is not None:
                gray, truth, pred = panels[:3]
                for side, vec in zip(("pred", "gray", "truth"), extractor.features([pred, gray, truth])):
                    features[side].append(vec)  # (1280,) only: the images themselves are not kept
            if sheet_dir is not None:
                # tint: what it is coloured from, the input's lightness (a sepia scan's too: helper 66)
                labels = ["B&W input" if mode == "paint" else "input's lightness", "truth", colorizer.name,
                          f"{colorizer.name}, {hints} hints"][:len(panels)]
                write_sheet(panels, sheet_dir / sheet_names[name], labels=labels,
                            height=sheet_height or panels[0].shape[0])
            rows.append(row)
            bar.update()
        if bar.n < bar.total:  # a limit that the files, some skipped, could not fill: the bar ends full
            bar.total = bar.n
            bar.refresh()
    if skipped:
        notes.append(f"{_count(len(skipped), 'image')} skipped: " + "; ".join(skipped))
    if mode == "tint":
        notes += _printed_inputs_note([input_path for _, input_path, _ in files if input_path is not None])
    printed = sum(1 for row in rows if row.get("printed"))
    if printed:
        notes.append(f"{_count(printed, 'colour image')} without a B&W input printed as B&W pages by the paint "
                     "training's renderer (irodori.printing.printed_page: paper, screentone, ink; seeded by name), "
                     "then painted; the baseline is that printed page")
    if not rows:
        raise ValueError(f"no image in {folder} could be evaluated: " + "; ".join(skipped))
    if extractor is not None and len(rows) < 2:  # (counted on what was scored: one of several files readable
        notes.append(f"FD undefined: it needs at least 2 images, and {_count(len(rows), 'image')} could be scored.")
    elif extractor is not None and len(rows) < FD_FEW:  # said nothing: helper 74)
        notes.append(f"FD on {len(rows)} images: its feature covariance has rank {len(rows) - 1} of 1280, so the "
                     "figure is mostly the sample's size; compare it only with runs on the same images (docs/FD.md).")
    cf_truth = _mean([r["cf_truth"] for r in rows])
    summary = _summaries(rows, cf_truth, notes)
    result = {
        "model": colorizer.name,
        "mode": mode,
        "references": [reference.name for reference in colorizer.references],
        "folder": str(folder),
        "images": len(rows),
        "max_side": colorizer.max_side,
        "prediction": {**summary(""), "fd": _fd(features, "pred") if extractor else None},
        "grayscale": {**summary("_gray"), "fd": _fd(features, "gray") if extractor else None},
        "baseline": "the B&W input as it is" if mode == "paint" else "the input's lightness as grey",  # "grayscale"
        "truth": {"colorfulness": cf_truth},
        "fd_features": FD_FEATURES if extractor else None,
        "notes": notes,
        "per_image": rows,
    }
    if hints:
        result["with_hints"] = {"hints": hints, **summary("_hints")}
    return result


PRINTED_LOOK = 8  # _printed_inputs_note: the paired inputs looked at


def _printed_inputs_note(inputs: list[Path]) -> list[str]:
    """A note when most of the first PRINTED_LOOK paired inputs are ink on paper (B&W pages, line
    art), which the automatic choice paints (:func:`irodori.paint.choose_mode`), scored here
    tinted: their lightness kept (helper 58 scored a fine-tuned paint model so, without a word)."""
    from .colorizer import sample_rows
    from .imageio import lightness_of, open_image
    from .paint import choose_mode, page_stats

    looked = printed = 0
    for path in inputs[:PRINTED_LOOK]:
        try:
            lightness, _ = lightness_of(open_image(path))
        except (OSError, ValueError, SyntaxError):
            continue  # skipped, and said so, by the scoring
        looked += 1
        printed += choose_mode(page_stats(sample_rows(lightness))) == "paint"
    if not looked or 2 * printed <= looked:
        return []
    return [f"{printed} of the first {looked} inputs look like ink on paper (B&W pages or line art), which "
            "`irodori colorize` paints: scored here tinted (their lightness kept); --mode paint scores them painted"]


def mark_hints(rgb: np.ndarray, hints: list[Hint]) -> np.ndarray:
    """A copy of rgb (H, W, 3) with each hint drawn as a ring in its own colour (white-outlined)."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    r = max(3, round(max(img.size) / 100))
    for hint in hints:
        box = (hint.x - r, hint.y - r, hint.x + r, hint.y + r)
        draw.ellipse(box, fill=hint.rgb, outline=(255, 255, 255), width=max(1, r // 3))
    return np.asarray(img)


def sheet_row(panels: list[np.ndarray], *, height: int = 256) -> np.ndarray:
    """Panels (H, W, 3) side by side at a fixed height, with a white gutter -> (height, W', 3)."""
    scaled = []
    for panel in panels:
        h, w, _ = panel.shape
        width = max(1, round(w * height / h))
        scaled.append(np.asarray(Image.fromarray(panel).resize((width, height), Image.LANCZOS)))
    gutter = np.full((height, 4, 3), 255, np.uint8)
    return np.hstack([part for panel in scaled for part in (panel, gutter)][:-1])


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows (h_i, w_i, 3) one under another, left-aligned on white, with a gutter."""
    canvas = np.full((sum(r.shape[0] + 4 for r in rows) - 4, max(r.shape[1] for r in rows), 3), 255, np.uint8)
    y = 0
    for r in rows:
        canvas[y : y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + 4
    return canvas


def write_sheet(panels: list[np.ndarray], path: Path, *, height: int = 256,
                labels: list[str] | None = None) -> None:
    """One row of panels (see :func:`sheet_row`), saved as JPEG; ``labels``, one per panel,
    written in a strip above each (Pillow's default font)."""
    row = sheet_row(panels, height=height)
    if labels:
        strip = Image.new("RGB", (row.shape[1], 20), "white")
        draw, x = ImageDraw.Draw(strip), 0
        for panel, label in zip(panels, labels):
            width = max(1, round(panel.shape[1] * height / panel.shape[0]))  # as sheet_row lays them out
            draw.text((x + 4, 4), fit_label(draw, label, width - 8), fill=(0, 0, 0))
            x += width + 4
        row = np.vstack([np.asarray(strip), row])
    Image.fromarray(row).save(path, quality=88)


def fit_label(draw: ImageDraw.ImageDraw, text: str, width: float) -> str:
    """A label the default font can draw within ``width`` pixels: accents dropped and other
    characters outside ASCII as "?" (the font has no glyphs for them: a model folder named
    "café 漫画" came out as boxes), and a long one cut from the left with "..." (a model's path
    ran into the next panel's label; its end, the name and step, is what tells them apart)."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = "".join(c if c.isascii() and c.isprintable() else "?" for c in text)
    if draw.textlength(text) <= width:
        return text
    while text and draw.textlength("..." + text) > width:
        text = text[1:]
    return "..." + text


def _cell(value: float | None, spec: str) -> str:
    """A table cell: blank for a figure that was not computed, n/a for an undefined (NaN) one."""
    if value is None:
        return ""
    return format(value, spec) if math.isfinite(value) else "n/a"


def format_table(result: dict) -> str:
    """A Markdown table of the means, prediction beside the grayscale baseline, and its footnote."""
    p, g, t = result["prediction"], result["grayscale"], result["truth"]

    def line(label: str, s: dict) -> str:
        cells = [_cell(s["psnr"], ".2f"), _cell(s["ssim"], ".3f"), _cell(s["colorfulness"], ".1f"),
                 _cell(s["colorfulness_ratio"], ".0%"), _cell(s["delta_cf"], ".1f"), _cell(s.get("fd"), ".2f")]
        return f"| {label} | " + " | ".join(cells) + " |"

    references = result.get("references") or []
    after = f" after {_count(len(references), 'reference')} ({', '.join(references)})" if references else ""
    lines = [
        f"model `{result['model']}` ({result.get('mode', 'tint')}){after} on {_count(result['images'], 'image')} of "
        f"`{result['folder']}` (network side {result['max_side']})",
        "",
        "| | PSNR (dB) | SSIM | CF | CF / truth | ΔCF | FD |",
        "|---|---:|---:|---:|---:|---:|---:|",
        line("irodori", p),
    ]
    if "with_hints" in result:
        lines.append(line(f"irodori + {result['with_hints']['hints']} hints from the truth", result["with_hints"]))
    lines += [
        line("B&W input as it is" if result.get("mode") == "paint" else "grayscale baseline", g),
        f"| ground truth | | | {t['colorfulness']:.1f} | 100% | | |",
        "",
        FOOTNOTE,
    ]
    lines += result.get("notes", [])
    return "\n".join(lines)
