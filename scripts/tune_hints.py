"""Choose the hint-propagation constants on the validation split (never the test split).

For each setting of (EDGE_COST, REACH, SHARPNESS) in irodori.hints: PSNR on data/corpus/val with
10 hints revealed from the truth (the same hints for every setting). Prints a Markdown table,
best first, and with --write splices it into docs/HINTS.md between the TUNING markers.

    python scripts/tune_hints.py --write docs/HINTS.md      # about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from docsplice import splice

from irodori import hints as hints_mod
from irodori.colorizer import load_colorizer
from irodori.evaluate import evaluate_folder

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- TUNING:BEGIN (scripts/tune_hints.py) -->", "<!-- TUNING:END -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general-int8")
    parser.add_argument("--val-dir", default=str(REPO / "data" / "corpus" / "val"))
    parser.add_argument("--hints", type=int, default=10)
    parser.add_argument("--write", default=None, metavar="FILE.md", help="splice the table into this file")
    args = parser.parse_args(argv)
    colorizer = load_colorizer(args.model)
    rows = []
    for edge, reach, sharp in itertools.product((0.0, 0.3, 1.0, 3.0, 6.0), (0.35, 0.6, 1.0, 1.6), (0.04,)):
        hints_mod.EDGE_COST, hints_mod.REACH, hints_mod.SHARPNESS = edge, reach, sharp
        result = evaluate_folder(colorizer, args.val_dir, hints=args.hints, fd=False, progress=False)
        rows.append((result["with_hints"]["psnr"], edge, reach, sharp, result["prediction"]["psnr"]))
        print(f"edge {edge} reach {reach} sharpness {sharp}: {rows[-1][0]:.2f} dB", file=sys.stderr)
    rows.sort(reverse=True)
    lines = [f"model `{colorizer.name}`, {result['images']} validation images",
             "", f"| EDGE_COST | REACH | SHARPNESS | PSNR, {args.hints} hints (dB) | no hints (dB) |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {edge} | {reach} | {sharp} | {psnr:.2f} | {base:.2f} |" for psnr, edge, reach, sharp, base in rows]
    table = "\n".join(lines)
    print(table)
    if args.write:
        splice(args.write, BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
