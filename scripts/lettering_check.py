#!/usr/bin/env python3
"""Does painting keep small lettering, and still flatten screentone? (docs/MANGA_MODE.md)

Draws a 780x1100 black-and-white page per type size: a panel of art (a box and an ellipse), a
panel of a dot screen (5 px pitch, turned 29 degrees, about 18 % ink) and twelve lines of words
in Pillow's own font (the same everywhere Pillow runs) on paper. Paints it with ``--model``
(default ``manga-int8``) in paint mode with ``--tone flat`` and ``--tone keep``, and with
``--tone flat`` as it was before the screen test (:class:`irodori.paint.Screentone` left out:
the density rule alone), and reports:

- **lettering lost**: the share of the lettering's ink pixels (input L < 50) painted lighter
  than L 50;
- **screen kept**: the share of the screen panel's dots (input L < 50) still darker than L 50
  (flat should take them away, keep should keep them).

A second page per type size puts speech balloons on a screen (:func:`balloon_page`) and reports
the lettering lost and the balloons' paper (mean CIE L and chroma; white paper is L 100, chroma
0) with the balloons found (:class:`irodori.balloons.Balloons`) and without them.

With ``--renders DIR`` (colour art: the val split, never test) it also renders 28 of its images
as black-and-white pages 1,100 px high (:func:`irodori.data.bw_page`, seeded; screens of 2-6 px
pitch at random angles, scan softening, 1-bit) and reports how much of each painted page
differs (by more than 20 L) from the density rule alone: screens the lattice test missed.

    python scripts/lettering_check.py --renders data/corpus-art/val --write docs/MANGA_MODE.md
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docsplice import splice  # noqa: E402

BEGIN, END = "<!-- LETTERING:BEGIN (scripts/lettering_check.py) -->", "<!-- LETTERING:END -->"
SIZES = (8, 10, 12, 14)
WORDS = ("the of and to in is you that it he was for on are as with his they at be this have from or one had by "
         "word but not what all were we when your can said there use an each which she do how their if will up "
         "other about out many then them these so some her would make like him into time has look two more write "
         "go see number no way could people my than first water been call who its now find long down day did get "
         "come made may part").split()
SCREEN_BOX = (40, 620, 360, 1040)  # x0, y0, x1, y1


def page(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (the page, uint8 (1100, 780); the lettering's mask; the screen panel's mask)."""
    h, w = 1100, 780
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx * np.cos(0.5) + yy * np.sin(0.5), -xx * np.sin(0.5) + yy * np.cos(0.5)
    dots = (np.cos(u * 2 * np.pi / 5) * np.cos(v * 2 * np.pi / 5) + 1) / 2 > 0.75
    x0, y0, x1, y1 = SCREEN_BOX
    screen = (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    pixels = np.where(screen & dots, 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    draw = ImageDraw.Draw(img)
    draw.rectangle((x0 - 4, y0 - 4, x1 + 3, y1 + 3), outline=0, width=3)
    draw.rectangle((400, 616, 740, 1044), outline=0, width=3)
    draw.ellipse((470, 700, 680, 960), outline=0, width=4)
    font = ImageFont.load_default(size=size)
    rng = np.random.default_rng(size)
    for i in range(12):
        words = list(rng.choice(WORDS, 200))
        while font.getlength(" ".join(words)) > 660:
            words.pop()
        draw.text((60, 100 + i * int(size * 1.4)), " ".join(words).capitalize(), fill=0, font=font)
    from irodori.color import gray8_to_l

    out = np.asarray(img)
    ink = gray8_to_l(out) < 50.0
    return out, ink & (yy < 600), ink & screen


BALLOONS = 6  # balloons on a page of screentone, two lines of type each


def balloon_page(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (a page, uint8 (1100, 780): one panel of the same dot screen with BALLOONS speech
    balloons on it (outlined ellipses with tails, two lines of type each); their lettering's
    mask; their paper's mask (inside the outlines, two pixels from the letters))."""
    h, w = 1100, 780
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx * np.cos(0.5) + yy * np.sin(0.5), -xx * np.sin(0.5) + yy * np.cos(0.5)
    dots = (np.cos(u * 2 * np.pi / 5) * np.cos(v * 2 * np.pi / 5) + 1) / 2 > 0.75
    img = Image.fromarray(np.where(dots, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, 39), fill=255)
    draw.rectangle((0, h - 40, w, h), fill=255)
    draw.rectangle((0, 0, 39, h), fill=255)
    draw.rectangle((w - 40, 0, w, h), fill=255)
    draw.rectangle((36, 36, w - 37, h - 37), outline=0, width=3)
    font = ImageFont.load_default(size=size)
    rng = np.random.default_rng(100 + size)
    inside = np.zeros((h, w), dtype=bool)
    for i in range(BALLOONS):
        lines = []
        for _ in range(2):
            words = list(rng.choice(WORDS, 8))
            while font.getlength(" ".join(words)) > 12 * size:
                words.pop()
            lines.append(" ".join(words).capitalize())
        bw = round(max(font.getlength(line) for line in lines) * 1.25) + 30  # tight, as letterers draw them
        bh = round(2.8 * size) + 34
        x0, y0 = 70 + (i % 2) * 340, 80 + (i // 2) * 330
        draw.polygon([(x0 + bw // 2 - 20, y0 + bh - 10), (x0 + bw // 2 + 20, y0 + bh - 10), (x0 + bw // 2, y0 + bh + 50)],
                     fill=255, outline=0, width=3)
        draw.ellipse((x0, y0, x0 + bw, y0 + bh), fill=255, outline=0, width=3)
        ellipse = ((xx - x0 - bw / 2) / (bw / 2 - 5)) ** 2 + ((yy - y0 - bh / 2) / (bh / 2 - 5)) ** 2 < 1
        inside |= ellipse
        for j, line in enumerate(lines):
            draw.text((x0 + (bw - font.getlength(line)) / 2, y0 + bh / 2 - 1.3 * size + j * 1.4 * size), line,
                      fill=0, font=font)
    from irodori.color import gray8_to_l
    from irodori.paint import grow

    out = np.asarray(img)
    ink = gray8_to_l(out) < 50.0
    lettering = ink & inside
    return out, lettering, inside & ~grow(lettering, 2) & ~ink


@contextlib.contextmanager
def found_as(kind: str, blank: Callable, on: bool = True) -> Iterator[None]:
    """Within the block (when ``on``), ``irodori.colorizer.<kind>.find`` returns what it finds
    remade by ``blank(cls, found)``, as before that finder existed; restored after."""
    import irodori.colorizer as colorizer_module

    finder = getattr(colorizer_module, kind)
    find = finder.find
    if on:
        finder.find = classmethod(lambda cls, *a, **k: blank(cls, find(*a, **k)))
    try:
        yield
    finally:
        finder.find = find


def without_balloons(on: bool = True) -> contextlib.AbstractContextManager:
    """Within the block (when ``on``), no page has balloons (:class:`irodori.balloons.Balloons`),
    as before they were looked for."""
    return found_as("Balloons", lambda cls, found: cls(np.zeros_like(found.cells), found.factor), on)


def measure_balloons(colorizer, *, tone: str, balloons: bool) -> dict[int, tuple[float, float, float]]:
    """-> {type size: (lettering lost, the balloons' paper: mean CIE L, mean chroma)}."""
    from irodori.color import rgb_to_lab

    rows = {}
    with without_balloons(not balloons):
        for size in SIZES:
            pixels, lettering, paper = balloon_page(size)
            lab = rgb_to_lab(np.asarray(colorizer.colorize(pixels, mode="paint", tone=tone).convert("RGB")))
            chroma = np.hypot(lab[..., 1], lab[..., 2])
            rows[size] = (float((lab[..., 0][lettering] > 50).mean()), float(lab[..., 0][paper].mean()),
                          float(chroma[paper].mean()))
    return rows


def density_rule_alone(on: bool = True) -> contextlib.AbstractContextManager:
    """Within the block (when ``on``), every cell of a page counts as a screen: the tone filter's
    density rule decides alone, as before the lattice test (:class:`irodori.paint.Screentone`)."""
    return found_as("Screentone", lambda cls, found: cls(np.ones_like(found.cells), found.size), on)


def paint_l(colorizer, pixels: np.ndarray, **options) -> np.ndarray:
    """The page painted -> its CIE L (H, W)."""
    from irodori.color import rgb_to_l

    return rgb_to_l(np.asarray(colorizer.colorize(pixels, mode="paint", **options).convert("RGB")))


def measure(colorizer, *, tone: str, screen_test: bool) -> dict[int, tuple[float, float]]:
    """-> {type size: (lettering lost, screen kept)}."""
    rows = {}
    with density_rule_alone(not screen_test):
        for size in SIZES:
            pixels, lettering, dots = page(size)
            out = paint_l(colorizer, pixels, tone=tone)
            rows[size] = (float((out[lettering] > 50).mean()), float((out[dots] < 50).mean()))
    return rows


def renders_differ(colorizer, folder: Path, *, pages: int = 28, side: int = 1100) -> tuple[list[float], int]:
    """-> (per rendered page, the share of pixels whose L differs by more than 20 between
    ``--tone flat`` and the density rule alone; the balloons found on them all, which have none)."""
    from irodori.color import rgb_to_l
    from irodori.data import bw_page, list_images
    from irodori.imageio import Lightness

    rng = np.random.default_rng(7)
    shares, balloons = [], 0
    for path in list_images([folder])[::5][:pages]:
        with Image.open(path) as im:
            art = im.convert("RGB")
        k = side / max(art.size)
        art = art.resize((round(art.width * k), round(art.height * k)), Image.BICUBIC)
        page_pixels = np.clip(bw_page(rgb_to_l(np.asarray(art)), rng) * 2.55, 0, 255).astype(np.uint8)
        painted = paint_l(colorizer, page_pixels)
        with density_rule_alone():
            alone = paint_l(colorizer, page_pixels)
        shares.append(float((np.abs(painted - alone) > 20).mean()))
        contract = colorizer.contract_for(Lightness(page_pixels, "gray8"), mode="paint")
        balloons += contract.balloons.count if contract.balloons is not None else 0
    return shares, balloons


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="manga-int8")
    ap.add_argument("--renders", type=Path, help="colour art to render as B&W pages (the val split)")
    ap.add_argument("--write", type=Path, help="put the table into this Markdown file between the markers")
    args = ap.parse_args()
    from irodori import load_colorizer

    colorizer = load_colorizer(args.model)
    columns = {"`--tone flat`": measure(colorizer, tone="flat", screen_test=True),
               "`--tone keep`": measure(colorizer, tone="keep", screen_test=True),
               "`--tone flat`, density rule alone (before)": measure(colorizer, tone="flat", screen_test=False)}
    head = "| type size | " + " | ".join(f"{name}: lettering lost / screen kept" for name in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for size in SIZES:
        cells = [f"{rows[size][0]:.1%} / {rows[size][1]:.0%}" for rows in columns.values()]
        lines.append(f"| {size} px | " + " | ".join(cells) + " |")
    table = "\n".join(lines).replace("%", " %")
    balloons = {"found": measure_balloons(colorizer, tone="flat", balloons=True),
                "not looked for (before)": measure_balloons(colorizer, tone="flat", balloons=False)}
    table += ("\n\nBalloons on screentone: the same screen filling a panel, with "
              f"{BALLOONS} speech balloons on it (tight outlined ellipses with tails, two lines of type each), "
              "painted with `--tone flat`:\n\n| type size | "
              + " | ".join(f"balloons {name}: lettering lost / balloon paper L, chroma" for name in balloons)
              + " |\n|---|" + "---:|" * len(balloons))
    for size in SIZES:
        cells = [f"{rows[size][0]:.1%} / {rows[size][1]:.1f}, {rows[size][2]:.1f}" for rows in balloons.values()]
        table += f"\n| {size} px | " + " | ".join(cells).replace("%", " %") + " |"
    if args.renders:
        shares, found = renders_differ(colorizer, args.renders)
        table += (f"\n\n{len(shares)} val images rendered as B&W pages 1,100 px high: painted with `--tone flat`, "
                  f"{sum(share == 0 for share in shares)} are identical to the density rule alone, and on average "
                  f"{np.mean(shares):.3%} of a page's pixels differ by more than 20 L (at most {max(shares):.2%}): "
                  "dots or short strokes the lattice test kept that the density rule alone takes away. "
                  f"Balloons found on them (they have none): {found}.").replace("%", " %")
    print(table)
    if args.write:
        splice(args.write, BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
