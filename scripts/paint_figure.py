"""Draw docs/images/paint-renderer.jpg: held-out colour art beside the black-and-white pages
that ``irodori.data.bw_page`` prints from it (the paint model's training inputs) and their ink
layers with the screentone flattened (what the paint composite keeps of the page).

    python scripts/paint_figure.py [--corpus data/corpus-art]

Uses val-split images of the corpus built by scripts/build_corpus.py (art sources).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from irodori.color import rgb_to_lab
from irodori.data import bw_page, paint_ink

REPO = Path(__file__).resolve().parents[1]
SIDE = 192


def _grey(l: np.ndarray) -> np.ndarray:
    return np.repeat((np.clip(l, 0, 100) * 2.55).astype(np.uint8)[..., None], 3, axis=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(REPO / "data" / "corpus-art"))
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "paint-renderer.jpg"))
    args = parser.parse_args()
    files = sorted((Path(args.corpus) / "val").rglob("*.jpg"))[::12][:6]
    rows = []
    for i, path in enumerate(files):
        rgb = np.asarray(Image.open(path).convert("RGB").resize((SIDE, SIDE), Image.LANCZOS))
        page = bw_page(rgb_to_lab(rgb)[..., 0], np.random.default_rng(i), lineart=i % 3 == 2)
        rows.append(np.hstack([rgb, _grey(page), _grey(paint_ink(page))]))
    Image.fromarray(np.vstack(rows)).save(args.out, quality=88)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
