"""Choose the hint-propagation constants on the validation split (never the test split).

For each setting of (EDGE_COST, REACH, SMOOTH) in irodori.hints: PSNR on data/corpus/val with 10
hints revealed from the truth (the same hints for every setting), on the images as they are and
rendered as printed manga (the same rendering as scripts/evaluate_hints.py). The network runs
once per image and set (its output does not depend on these constants); only the propagation is
repeated. The rule, fixed before any test figure: the highest mean of the two sets' PSNR. Prints
a Markdown table, best first, and with --write splices it into docs/HINTS.md between the TUNING
markers.

    python scripts/tune_hints.py --write docs/HINTS.md      # about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from docsplice import splice
from evaluate_hints import SETS, hint_case
from tqdm import tqdm

from irodori import hints as hints_mod
from irodori.colorizer import load_colorizer
from irodori.evaluate import EVAL_EXTENSIONS
from irodori.imageio import Lightness
from irodori.metrics import psnr

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- TUNING:BEGIN (scripts/tune_hints.py) -->", "<!-- TUNING:END -->"
GRID = {"edge": (3.0, 6.0, 10.0), "reach": (1.0, 1.6, 2.5, 4.0), "smooth": (0.0, 1.5, 3.0, 4.5)}


def network_cases(colorizer, files: list[Path], root: Path, count: int) -> dict[str, list]:
    """Per set: (lightness, network ab with the hints, network L, hints, reference) per image."""
    cases: dict[str, list] = {name: [] for name in SETS}
    for path in tqdm(files, desc="network", unit="img"):
        for set_name in SETS:
            _, l_full, given, reference = hint_case(path, root, set_name, count)
            lightness = Lightness.from_l(l_full)
            cases[set_name].append((lightness, *colorizer.network_ab(lightness, given), given, reference))
    return cases


def score(colorizer, cases: list, fill: str | None) -> float:
    """Mean PSNR of the full pipeline under the module's current constants, the hints spread
    as ``fill`` says (:func:`irodori.hints.propagate_hints`)."""
    return float(np.mean([psnr(np.asarray(colorizer.merge_image(
        lightness, hints_mod.propagate_hints(ab, l_small, given, lightness.shape, fill=fill))), reference)
        for lightness, ab, l_small, given, reference in cases]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general-int8")
    parser.add_argument("--val-dir", default=str(REPO / "data" / "corpus" / "val"))
    parser.add_argument("--hints", type=int, default=10)
    parser.add_argument("--write", default=None, metavar="FILE.md", help="splice the table into this file")
    parser.add_argument("--fill", choices=["chroma", "none"], default="chroma",
                        help="spread the hints' chroma (the pipeline's tint mode: colorizer.hint_fill) "
                             "or their corrections (before)")
    args = parser.parse_args(argv)
    fill = None if args.fill == "none" else args.fill
    root = Path(args.val_dir)
    if not root.is_dir():
        print(f"{root} missing: run `python scripts/build_corpus.py` first", file=sys.stderr)
        return 1
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EVAL_EXTENSIONS)
    colorizer = load_colorizer(args.model)
    cases = network_cases(colorizer, files, root, args.hints)
    rows = []
    settings = list(itertools.product(*GRID.values()))
    for edge, reach, smooth in tqdm(settings, desc="settings", unit="setting"):
        hints_mod.EDGE_COST, hints_mod.REACH, hints_mod.SMOOTH = edge, reach, smooth
        plain, manga = (score(colorizer, cases[set_name], fill) for set_name in SETS)
        rows.append(((plain + manga) / 2, plain, manga, edge, reach, smooth))
    rows.sort(reverse=True)
    spread = "their chroma filling regions" if fill else "their corrections spread"
    lines = [f"model `{colorizer.name}`, {len(files)} validation images, {args.hints} hints ({spread}); PSNR in dB", "",
             "| EDGE_COST | REACH | SMOOTH | photos and art | rendered as manga | mean |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {edge} | {reach} | {smooth} | {plain:.2f} | {manga:.2f} | {mean:.2f} |"
              for mean, plain, manga, edge, reach, smooth in rows]
    table = "\n".join(lines)
    print(table)
    if args.write:
        splice(args.write, BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
