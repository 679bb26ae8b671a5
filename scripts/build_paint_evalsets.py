#!/usr/bin/env python3
"""Build the paint-mode evaluation sets (docs/MANGA_MODE.md), each a paired set of ``input/``
(black-and-white) and ``truth/`` (colour), from images kept out of training by the corpus split:

- ``pages/``: held-out colour art (painted portraits and scenes, clip art) rendered as printed
  black-and-white pages by :func:`irodori.data.bw_page` (paper, screentone, ink), seeded by name;
- ``openmoji/``: held-out OpenMoji emoji, the package's own black line-art SVG as the input and
  its colour SVG as the truth, both on white at 384 px (real pairs, not synthesised);
- ``cartoons/``: held-out inked cartoons (GCompris) reduced to their lines (``bw_page(lineart)``);
- ``grey-art/`` and ``photos/``: the tint class for the detector, held-out paintings and
  photos as grey images (the detector must tint them); ``grey-clipart/``, grey clip art and
  cartoons, which may be either (flat grey fills, or lines on white): reported, not scored.

``--split test`` (default) writes the reported sets; ``--split val`` the ones rules are tuned on.
Needs a corpus built with the art sources (and, for photos, the photo sources) and cairosvg::

    python scripts/build_corpus.py --sources wesnoth,openclipart,gcompris-cartoons,naev,flare,openmoji,\\
wesnoth-campaigns --out data/corpus-art
    python scripts/build_corpus.py --sources endless-sky,skimage,pypi-samples --out data/corpus-photos
    python scripts/build_paint_evalsets.py --split test --out data/eval-paint
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus.common import split_of  # noqa: E402
from corpus.fetch import fetch_npm  # noqa: E402
from corpus.sources_emoji import OPENMOJI_GROUPS, OPENMOJI_SKIP_SUBGROUPS, render_svg  # noqa: E402

PAGE_SOURCES = ("wesnoth", "wesnoth-campaigns", "openclipart", "naev", "flare")
PAINTED_SOURCES = ("wesnoth", "wesnoth-campaigns", "naev", "flare")  # greyscale paintings: tint
PAGE_SIDE = 640  # long side of a rendered page: dots 2-6 px across, as on a 780x1200 scan
OPENMOJI_SIDE = 384


def _records(corpus: Path, split: str, sources: tuple[str, ...]) -> list[dict]:
    with open(corpus / "manifest.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return sorted((r for r in rows if r["split"] == split and r["source"] in sources), key=lambda r: r["path"])


def _page_rgb(path: Path) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    scale = PAGE_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return np.asarray(img)


def _write(dest: Path, stem: str, grey: np.ndarray, truth: np.ndarray) -> None:
    for sub in ("input", "truth"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey, "L").save(dest / "input" / f"{stem}.png", optimize=True)
    Image.fromarray(truth, "RGB").save(dest / "truth" / f"{stem}.png", optimize=True)


def _grey(l: np.ndarray) -> np.ndarray:
    from irodori.color import l_to_gray, rgb_to_uint8

    return rgb_to_uint8(l_to_gray(l))


def rendered(corpus: Path, dest: Path, split: str, sources: tuple[str, ...], *, lineart: bool) -> int:
    """Held-out colour art rendered as B&W pages (or line art) -> dest; returns the count."""
    from irodori.printing import printed_page

    records = _records(corpus, split, sources)
    for r in records:
        rgb = _page_rgb(corpus / r["path"])
        stem = Path(r["path"]).stem
        _write(dest, stem, printed_page(rgb, stem, lineart=lineart), rgb)
    return len(records)


def grey_versions(corpus: Path, dest: Path, split: str, sources: tuple[str, ...]) -> int:
    """Held-out colour images as grey inputs (same CIE L) -> dest (the tint class)."""
    from irodori.color import rgb_to_lab

    records = _records(corpus, split, sources)
    for r in records:
        rgb = _page_rgb(corpus / r["path"])
        _write(dest, Path(r["path"]).stem, _grey(rgb_to_lab(rgb)[..., 0]), rgb)
    return len(records)


def _on_white(rgba: Image.Image) -> np.ndarray:
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba.convert("RGBA")).convert("RGB"))


def openmoji_pairs(cache: Path, dest: Path, split: str) -> int:
    """OpenMoji's black line-art SVG (input) and colour SVG (truth) of every emoji of the split
    (the corpus's own groups and hash split, so none was trained on) -> dest."""
    base, _ = fetch_npm("openmoji", cache)
    with open(base / "data/openmoji.csv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["group"] in OPENMOJI_GROUPS and not r["skintone"]
                and r["subgroups"] not in OPENMOJI_SKIP_SUBGROUPS]
    count = 0
    for r in sorted(rows, key=lambda r: r["hexcode"]):
        colour, black = base / "color/svg" / f"{r['hexcode']}.svg", base / "black/svg" / f"{r['hexcode']}.svg"
        if not (colour.exists() and black.exists()) or split_of("openmoji", f"color/svg/{r['hexcode']}.svg") != split:
            continue
        truth = _on_white(render_svg(colour, OPENMOJI_SIDE))
        line = np.asarray(Image.fromarray(_on_white(render_svg(black, OPENMOJI_SIDE))).convert("L"))
        _write(dest, r["hexcode"], line, truth)
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--art", type=Path, default=Path("data/corpus-art"), help="corpus with the art sources")
    ap.add_argument("--photos", type=Path, default=Path("data/corpus-photos"), help="corpus with photo sources")
    ap.add_argument("--cache", type=Path, default=Path("data/cache"))
    ap.add_argument("--split", choices=("test", "val", "train"), default="test",
                    help="train: only the OpenMoji line-art pairs, for paint training (irodori train --pairs)")
    ap.add_argument("--out", type=Path, default=None, help="default: data/eval-paint (test), data/eval-paint-val")
    args = ap.parse_args(argv)
    out = args.out or Path({"test": "data/eval-paint", "val": "data/eval-paint-val", "train": "data/pairs"}[args.split])
    if args.split == "train":
        print(json.dumps({"split": "train", "out": str(out),
                          "counts": {"openmoji": openmoji_pairs(args.cache, out / "openmoji", "train")}}))
        return 0
    counts = {
        "pages": rendered(args.art, out / "pages", args.split, PAGE_SOURCES, lineart=False),
        "openmoji": openmoji_pairs(args.cache, out / "openmoji", args.split),
        "cartoons": rendered(args.art, out / "cartoons", args.split, ("gcompris-cartoons",), lineart=True),
        "grey-art": grey_versions(args.art, out / "grey-art", args.split, PAINTED_SOURCES),
        # Grey clip art is ambiguous (flat grey fills, or black lines on white): reported, not scored.
        "grey-clipart": grey_versions(args.art, out / "grey-clipart", args.split, ("openclipart", "gcompris-cartoons")),
    }
    if (args.photos / "manifest.jsonl").is_file():
        counts["photos"] = grey_versions(args.photos, out / "photos", args.split, ("endless-sky", "skimage",
                                                                                    "pypi-samples"))
    print(json.dumps({"split": args.split, "out": str(out), "counts": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
