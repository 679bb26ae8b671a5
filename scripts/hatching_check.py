#!/usr/bin/env python3
"""How much of a hatched shape a user's hint colours (docs/HINTS.md, "hatching inside a shape").

A drawn dress on a 400 x 300 line-art page: an ink outline, the left half plain paper, the right
half hatched with diagonal strokes (width / spacing in pixels). A red hint is placed in the plain
half; each case is coloured with the hint alone and with a reference that colours the dress teal.
Printed per case: the share of paper pixels (L > 50) that came out red (hue under 60 or over 330
degrees, chroma over 15) in the plain half, in the hatched half, and below the shape (which must
stay 0)::

    python scripts/hatching_check.py [--model auto] [--save DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

CASES = [(1, 6), (2, 10), (2, 16), (3, 24)]  # stroke width, spacing (px)
HINT = "100,170,#c01020"  # x, y: in the plain half
TEAL = (40, 160, 150)


def dress(width: int, spacing: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (page uint8 (400, 300), the dress's inside, its hatched half) (bool (400, 300))."""
    page = np.full((400, 300), 255, np.uint8)
    page[40:44, 40:260] = page[300:304, 40:260] = 0
    page[40:304, 40:44] = page[40:304, 256:260] = 0
    page[340:344, 20:280] = 0
    inside = np.zeros(page.shape, bool)
    inside[44:300, 44:256] = True
    hatched = np.zeros(page.shape, bool)
    hatched[44:300, 150:256] = True
    yy, xx = np.mgrid[:400, :300]
    page[hatched & ((xx + yy) % spacing < width)] = 0
    return page, inside, hatched


def red(rgb: np.ndarray) -> np.ndarray:
    from irodori.color import rgb_to_lab

    lab = rgb_to_lab(rgb)
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360
    return ((hue < 60) | (hue > 330)) & (np.hypot(lab[..., 1], lab[..., 2]) > 15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="auto", help="as colorize --model (default: auto, what a user gets)")
    ap.add_argument("--save", type=Path, help="write each output here")
    args = ap.parse_args()
    from irodori.colorizer import load_colorizer

    colorizer = load_colorizer(args.model, mode="paint", threads=1)
    print("| hatching (stroke / spacing, px) | with | plain half red | hatched half red | below the shape red |")
    print("|---|---|---:|---:|---:|")
    for width, spacing in CASES:
        page, inside, hatched = dress(width, spacing)
        reference = np.stack([page] * 3, -1)
        reference[inside & (page > 128)] = TEAL
        paper = page > 128
        below = np.zeros(page.shape, bool)
        below[350:] = True
        for name, refs in (("hint alone", None), ("hint and a teal reference", [reference])):
            out = np.asarray(colorizer.colorize(page, hints=[HINT], reference=refs).convert("RGB"))
            r = red(out)
            print(f"| {width} / {spacing} | {name} | {r[inside & ~hatched & paper].mean():.1%} | "
                  f"{r[hatched & paper].mean():.1%} | {r[below].mean():.1%} |")
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                Image.fromarray(out).save(args.save / f"hatch-{width}-{spacing}-{'ref' if refs else 'alone'}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
