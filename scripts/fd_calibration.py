"""What an FD figure means: the Fréchet distance of known changes to the truth, the figures of docs/FD.md.

The model cards' FD target is "at most half the grayscale baseline's". This script puts that
target on a scale. On each evaluation set it takes the reference images exactly as
``irodori evaluate`` does (the truth's colours under the input's lightness) and changes only their
colour in known ways -- chroma scaled, hue rotated, colour blurred, colour removed -- then measures
the FD of each changed set against the reference, in the same EfficientNet-Lite0 feature space.
Beside them: the shipped model for that set, and two halves of the truth against each other (what
FD gives for two different sets of images of the same kind, so not a paired comparison).
Writes docs/fd-calibration.json and splices the table into docs/FD.md between the FDCAL markers.

    python scripts/fd_calibration.py            # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from docsplice import splice
from PIL import Image, ImageFilter

from irodori.color import l_to_gray_rgb, lab_to_srgb8, rgb_to_lab
from irodori.colorizer import load_colorizer
from irodori.evaluate import list_pairs, load_pair
from irodori.features import load_feature_extractor
from irodori.metrics import feature_statistics, frechet_distance

REPO = Path(__file__).resolve().parents[1]
SETS = (("photos", "general"), ("manga", "manga"))
BEGIN, END = "<!-- FDCAL:BEGIN (scripts/fd_calibration.py) -->", "<!-- FDCAL:END -->"
CHANGES = (  # (label, chroma scale, hue rotation in degrees, colour blur radius in px)
    ("chroma × 0.75", 0.75, 0, 0), ("chroma × 0.5", 0.5, 0, 0), ("chroma × 0.25", 0.25, 0, 0),
    ("chroma × 1.5", 1.5, 0, 0), ("hue + 15°", 1.0, 15, 0), ("hue + 30°", 1.0, 30, 0),
    ("hue + 60°", 1.0, 60, 0), ("hue + 90°", 1.0, 90, 0), ("hue + 180°", 1.0, 180, 0),
    ("colour blurred, radius 4 px", 1.0, 0, 4), ("colour blurred, radius 8 px", 1.0, 0, 8),
)


def change(rgb: np.ndarray, scale: float, rotate: float, blur: float) -> np.ndarray:
    """rgb with its ab chroma scaled, rotated in hue and/or Gaussian-blurred; lightness kept."""
    lab = rgb_to_lab(rgb).astype(np.float32)
    a, b = lab[..., 1] * scale, lab[..., 2] * scale
    if rotate:
        c, s = np.cos(np.radians(rotate)), np.sin(np.radians(rotate))
        a, b = a * c - b * s, a * s + b * c
    if blur:
        a, b = _blur(a, blur), _blur(b, blur)
    return lab_to_srgb8(lab[..., 0], a.astype(np.float32), b.astype(np.float32))


def _blur(channel: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of an ab channel with Pillow, through 8 bits (steps of 2 ab units over ±256)."""
    u8 = np.clip(np.round(channel * 0.5 + 128), 0, 255).astype(np.uint8)
    out = np.asarray(Image.fromarray(u8).filter(ImageFilter.GaussianBlur(radius)), np.float32)
    return (out - 128) * 2.0


def fd(extractor, images: list[np.ndarray], reference: np.ndarray) -> float:
    return frechet_distance(*feature_statistics(extractor.features(images)), *feature_statistics(reference))


def calibrate(folder: Path, model: str, extractor, *, halves: int = 10) -> dict:
    colorizer = load_colorizer(model)
    refs, grays, preds = [], [], []
    for pair in list_pairs(folder):
        _, l_full, reference = load_pair(*pair)
        refs.append(reference)
        grays.append(l_to_gray_rgb(l_full))
        preds.append(colorizer.colorize_lightness(l_full))
    ref_features = extractor.features(refs)
    rows = [{"set": "grayscale (the baseline)", "fd": fd(extractor, grays, ref_features)},
            {"set": f"`{colorizer.name}` (shipped)", "fd": fd(extractor, preds, ref_features)}]
    for label, scale, rotate, blur in CHANGES:
        rows.append({"set": f"truth, {label}", "fd": fd(extractor, [change(r, scale, rotate, blur) for r in refs],
                                                         ref_features)})
    rng = np.random.default_rng(0)
    split = []
    for _ in range(halves):
        order = rng.permutation(len(refs))
        half = len(order) // 2
        split.append(frechet_distance(*feature_statistics(ref_features[order[:half]]),
                                      *feature_statistics(ref_features[order[half:]])))
    rows.append({"set": f"truth: one random half against the other (mean of {halves})", "fd": float(np.mean(split))})
    return {"folder": str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else str(folder),
            "images": len(refs), "model": colorizer.name, "rows": rows}


def table(results: dict) -> str:
    names = list(results)
    lines = ["| changed set, against the reference | " + " | ".join(f"FD, {n} ({results[n]['images']})" for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    by_set = {}
    for n in names:
        for row in results[n]["rows"]:
            label = "the shipped model" if row["set"].endswith("(shipped)") else row["set"]
            by_set.setdefault(label, {})[n] = row["fd"]
    for label, values in by_set.items():
        lines.append(f"| {label} | " + " | ".join(f"{values[n]:.1f}" for n in names) + " |")
    gray = {n: results[n]["rows"][0]["fd"] for n in names}
    lines.append("| *the target: half of grayscale's* | " + " | ".join(f"*{gray[n] / 2:.1f}*" for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", default=str(REPO / "data" / "eval"))
    parser.add_argument("--json", default=str(REPO / "docs" / "fd-calibration.json"))
    parser.add_argument("--write", default=str(REPO / "docs" / "FD.md"))
    args = parser.parse_args(argv)
    eval_dir = Path(args.eval_dir)
    if not (eval_dir / "photos").is_dir():
        print(f"{eval_dir} has no evaluation sets: run `make corpus-full` first", file=sys.stderr)
        return 1
    extractor = load_feature_extractor()
    results = {name: calibrate(eval_dir / name, model, extractor) for name, model in SETS}
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    body = table(results)
    print(body)
    if args.write:
        splice(args.write, BEGIN, END, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
