"""``irodori evaluate``: colour the grey versions of colour images and score them.

For each colour image in a folder: take its CIE L (the model sees nothing else), colour it, and
compare with the original. The grayscale baseline (the same L with zero chroma, i.e. doing
nothing) is scored on the same images, so every figure has its "beats doing nothing" reference.

With ``hints=N`` each image is also coloured with N hints revealed from its ground truth
(:func:`irodori.hints.sample_hints`, seeded by the image's name, so the same hints every run):
the measure of how well a model follows a user's hints. ``sheets`` writes one side-by-side
sheet per image: grey input | ground truth | prediction (| prediction with hints, hints marked).
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from PIL import Image, ImageDraw

from .color import l_to_gray_rgb, rgb_to_l
from .hints import Hint, sample_hints
from .imageio import load_rgb
from .metrics import colorfulness, psnr

if TYPE_CHECKING:
    from .colorizer import Colorizer

EVAL_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluate_folder(model: "str | Colorizer", folder: str | Path, *, max_side: int | None = None,
                    limit: int | None = None, hints: int = 0, sheets: str | Path | None = None,
                    progress: bool = True) -> dict:
    """-> {"model", "images", "prediction": {...}, "grayscale": {...}, "truth": {...}, "per_image": [...]}
    (+ "with_hints": {...} when ``hints`` > 0).

    ``model`` is a shipped name, an .onnx file, a checkpoint directory, or a loaded Colorizer.
    """
    if hints < 0:
        raise ValueError("hints must be 0 or more")
    from tqdm import tqdm

    from .colorizer import Colorizer, load_colorizer

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EVAL_EXTENSIONS)
    if limit:
        files = files[:limit]
    if not files:
        raise FileNotFoundError(f"no colour images in {folder}")
    colorizer = model if isinstance(model, Colorizer) else load_colorizer(model, max_side=max_side)
    sheet_dir = Path(sheets) if sheets is not None else None
    if sheet_dir is not None:
        sheet_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in tqdm(files, desc="evaluate", unit="img", disable=not progress):
        name = path.relative_to(folder).as_posix()
        truth = np.asarray(load_rgb(path))
        l_full = rgb_to_l(truth)
        pred = colorizer.colorize_lightness(l_full)
        gray = l_to_gray_rgb(l_full)
        row = {
            "image": name,
            "psnr": psnr(pred, truth),
            "psnr_gray": psnr(gray, truth),
            "cf": colorfulness(pred),
            "cf_gray": colorfulness(gray),
            "cf_truth": colorfulness(truth),
        }
        panels = [gray, truth, pred]
        if hints:
            given = sample_hints(truth, hints, np.random.default_rng(zlib.crc32(name.encode())))
            pred_hints = colorizer.colorize_lightness(l_full, hints=given)
            row["psnr_hints"] = psnr(pred_hints, truth)
            row["cf_hints"] = colorfulness(pred_hints)
            panels.append(mark_hints(pred_hints, given))
        if sheet_dir is not None:
            write_sheet(panels, sheet_dir / (name.replace("/", "__").rsplit(".", 1)[0] + ".jpg"))
        rows.append(row)
    cf_truth = _mean([r["cf_truth"] for r in rows])
    cf_pred = _mean([r["cf"] for r in rows])
    result = {
        "model": colorizer.name,
        "folder": str(folder),
        "images": len(rows),
        "max_side": colorizer.max_side,
        "prediction": {"psnr": _mean([r["psnr"] for r in rows]), "colorfulness": cf_pred,
                       "colorfulness_ratio": cf_pred / cf_truth if cf_truth else float("nan")},
        "grayscale": {"psnr": _mean([r["psnr_gray"] for r in rows]),
                      "colorfulness": _mean([r["cf_gray"] for r in rows])},
        "truth": {"colorfulness": cf_truth},
        "per_image": rows,
    }
    if hints:
        cf_hints = _mean([r["cf_hints"] for r in rows])
        result["with_hints"] = {"hints": hints, "psnr": _mean([r["psnr_hints"] for r in rows]),
                                "colorfulness": cf_hints,
                                "colorfulness_ratio": cf_hints / cf_truth if cf_truth else float("nan")}
    return result


def mark_hints(rgb: np.ndarray, hints: list[Hint]) -> np.ndarray:
    """A copy of rgb (H, W, 3) with each hint drawn as a ring in its own colour (white-outlined)."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    r = max(3, round(max(img.size) / 100))
    for hint in hints:
        box = (hint.x - r, hint.y - r, hint.x + r, hint.y + r)
        draw.ellipse(box, fill=hint.rgb, outline=(255, 255, 255), width=max(1, r // 3))
    return np.asarray(img)


def write_sheet(panels: list[np.ndarray], path: Path, *, height: int = 256) -> None:
    """Panels (H, W, 3) side by side at a fixed height with a white gutter, saved as JPEG."""
    scaled = []
    for panel in panels:
        h, w, _ = panel.shape
        width = max(1, round(w * height / h))
        scaled.append(np.asarray(Image.fromarray(panel).resize((width, height), Image.LANCZOS)))
    gutter = np.full((height, 4, 3), 255, np.uint8)
    row = np.hstack([part for panel in scaled for part in (panel, gutter)][:-1])
    Image.fromarray(row).save(path, quality=88)


def format_table(result: dict) -> str:
    """A Markdown table of the means, prediction beside the grayscale baseline."""
    p, g, t = result["prediction"], result["grayscale"], result["truth"]
    lines = [
        f"model `{result['model']}` on {result['images']} images of `{result['folder']}` (network side {result['max_side']})",
        "",
        "| | PSNR (dB) | colourfulness CF | CF / ground truth |",
        "|---|---:|---:|---:|",
        f"| irodori | {p['psnr']:.2f} | {p['colorfulness']:.1f} | {p['colorfulness_ratio']:.0%} |",
    ]
    if "with_hints" in result:
        hh = result["with_hints"]
        lines.append(f"| irodori + {hh['hints']} hints from the truth | {hh['psnr']:.2f} | {hh['colorfulness']:.1f} "
                     f"| {hh['colorfulness_ratio']:.0%} |")
    lines += [
        f"| grayscale baseline | {g['psnr']:.2f} | {g['colorfulness']:.1f} | {g['colorfulness'] / t['colorfulness']:.0%} |",
        f"| ground truth | | {t['colorfulness']:.1f} | 100% |",
    ]
    return "\n".join(lines)
