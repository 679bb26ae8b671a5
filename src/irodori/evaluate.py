"""``irodori evaluate``: colour the grey versions of colour images and score them.

For each colour image in a folder: take its CIE L (the model sees nothing else), colour it, and
compare with the original. The grayscale baseline (the same L with zero chroma, i.e. doing
nothing) is scored on the same images, so every figure has its "beats doing nothing" reference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .color import l_to_gray_rgb, rgb_to_l
from .imageio import load_rgb
from .metrics import colorfulness, psnr

if TYPE_CHECKING:
    from .colorizer import Colorizer

EVAL_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluate_folder(model: "str | Colorizer", folder: str | Path, *, max_side: int | None = None,
                    limit: int | None = None, progress: bool = True) -> dict:
    """-> {"model", "images", "prediction": {...}, "grayscale": {...}, "truth": {...}, "per_image": [...]}.

    ``model`` is a shipped name, an .onnx file, a checkpoint directory, or a loaded Colorizer.
    """
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
    rows = []
    for path in tqdm(files, desc="evaluate", unit="img", disable=not progress):
        truth = np.asarray(load_rgb(path))
        l_full = rgb_to_l(truth)
        pred = colorizer.colorize_lightness(l_full)
        gray = l_to_gray_rgb(l_full)
        rows.append({
            "image": path.relative_to(folder).as_posix(),
            "psnr": psnr(pred, truth),
            "psnr_gray": psnr(gray, truth),
            "cf": colorfulness(pred),
            "cf_gray": colorfulness(gray),
            "cf_truth": colorfulness(truth),
        })
    cf_truth = _mean([r["cf_truth"] for r in rows])
    cf_pred = _mean([r["cf"] for r in rows])
    return {
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


def format_table(result: dict) -> str:
    """A Markdown table of the means, prediction beside the grayscale baseline."""
    p, g, t = result["prediction"], result["grayscale"], result["truth"]
    lines = [
        f"model `{result['model']}` on {result['images']} images of `{result['folder']}` (network side {result['max_side']})",
        "",
        "| | PSNR (dB) | colourfulness CF | CF / ground truth |",
        "|---|---:|---:|---:|",
        f"| irodori | {p['psnr']:.2f} | {p['colorfulness']:.1f} | {p['colorfulness_ratio']:.0%} |",
        f"| grayscale baseline | {g['psnr']:.2f} | {g['colorfulness']:.1f} | {g['colorfulness'] / t['colorfulness']:.0%} |",
        f"| ground truth | | {t['colorfulness']:.1f} | 100% |",
    ]
    return "\n".join(lines)
