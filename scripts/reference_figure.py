#!/usr/bin/env python3
"""The README's "colour one, then the rest" picture (docs/images/reference-workflow.jpg).

Page 1 is examples/manga_page.png, coloured with four hints (the girl's hair and skirt, the
woman's coat and skirt). Page 2 is made here from page 1's panels: the woman and the girl
change places, the horse and the duck (mirrored) too, in panels of other shapes. Page 2 is then coloured twice: alone, and with coloured page 1 as its reference. The
picture: page 1 coloured (the reference) | page 2 | page 2 alone | page 2 after page 1.

    python scripts/reference_figure.py   # needs only the core install
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from irodori.colorizer import load_colorizer  # noqa: E402

PAGE = ROOT / "examples" / "manga_page.png"
# Page 1's hints (x, y, colour), in its pixels: hair, skirt (the girl); coat, skirt (the woman).
# (Placed again 2026-12-02: the hair's and the girl's skirt's had come to lie on her nose and on the
# panel's paper, which the skirt's red then filled.)
HINTS = [(200, 494, "#d2691e"), (205, 604, "#c0282d"), (567, 579, "#2e8b57"), (576, 639, "#283c78")]
GIRL, WOMAN, DUCK, HORSE = (35, 379, 389, 733), (409, 379, 745, 733), (35, 753, 429, 1065), (449, 753, 745, 1065)
ROW_HEIGHT = 420


def second_page(page: Image.Image) -> Image.Image:
    """Page 2: the girl and the woman side by side on top (she now on the left), the horse and
    the duck below, in bordered panels of other shapes: the same art in another layout."""
    out = Image.new("L", (page.width, 832), 255)
    draw = ImageDraw.Draw(out)
    layout = [(WOMAN, (32, 32, 372, 420), False), (GIRL, (386, 32, 748, 420), False),
              (HORSE, (32, 434, 392, 800), False), (DUCK, (406, 434, 748, 800), True)]
    for crop, box, mirror in layout:
        art = page.crop(crop)
        art = ImageOps.mirror(art) if mirror else art
        inner = (box[2] - box[0] - 6, box[3] - box[1] - 6)
        art = ImageOps.pad(art, inner, color=255, method=Image.LANCZOS)
        out.paste(art, (box[0] + 3, box[1] + 3))
        draw.rectangle(box, outline=0, width=3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "reference-workflow.jpg")
    args = parser.parse_args(argv)
    colorizer = load_colorizer("auto")
    page1 = Image.open(PAGE).convert("L")
    coloured1 = colorizer.colorize(page1, hints=HINTS)
    page2 = second_page(page1)
    alone = colorizer.colorize(page2)
    after = colorizer.colorize(page2, reference=[coloured1])
    tiles = [coloured1, page2.convert("RGB"), alone, after]
    width = sum(round(t.width * ROW_HEIGHT / t.height) for t in tiles) + 8 * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, ROW_HEIGHT), "white")
    x = 0
    for tile in tiles:
        small = tile.resize((round(tile.width * ROW_HEIGHT / tile.height), ROW_HEIGHT), Image.LANCZOS)
        sheet.paste(small, (x, 0))
        x += small.width + 8
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=85)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1000} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
