"""Draw docs/images/temperature.jpg: two example pages coloured at several annealed-mean temperatures.

    python scripts/temperature_sheet.py

Each row is one image of examples/: its grey input, then the default model's colours at each
temperature T (``irodori colorize --temperature T``), from calm (1.0, the plain mean of the colour
classes) to vivid (0.1, nearly the most likely class). The model's own T is marked.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from irodori.color import l_to_gray_rgb
from irodori.colorizer import load_colorizer
from irodori.evaluate import sheet_row, stack_rows
from irodori.imageio import lightness_of, open_image

REPO = Path(__file__).resolve().parents[1]
TEMPERATURES = (1.0, 0.7, None, 0.3, 0.2, 0.1)  # None: the model's own


def labelled(panel: np.ndarray, text: str) -> np.ndarray:
    """The panel with ``text`` on a white band under it."""
    img = Image.new("RGB", (panel.shape[1], panel.shape[0] + 18), "white")
    img.paste(Image.fromarray(panel), (0, 0))
    ImageDraw.Draw(img).text((4, panel.shape[0] + 3), text, fill=(40, 40, 40))
    return np.asarray(img)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general-int8")
    parser.add_argument("--images", nargs="+", default=["photo_hills.png", "cartoon_tiger.png"])
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "temperature.jpg"))
    parser.add_argument("--height", type=int, default=150)
    args = parser.parse_args(argv)
    colorizer = load_colorizer(args.model)
    own = colorizer.backend.temperature
    rows = []
    for name in args.images:
        path = REPO / "examples" / name
        lightness, _ = lightness_of(open_image(path))
        panels = [labelled(sheet_row([l_to_gray_rgb(lightness.rows(0, lightness.shape[0]))], height=args.height),
                           "input")]
        for t in TEMPERATURES:
            rgb = np.asarray(colorizer.colorize(path, temperature=t))
            label = f"T = {own if t is None else t:.2f}" + (" (model's own)" if t is None else "")
            panels.append(labelled(sheet_row([rgb], height=args.height), label))
        rows.append(sheet_row(panels, height=args.height + 18))
    Image.fromarray(stack_rows(rows)).save(args.out, quality=88)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
