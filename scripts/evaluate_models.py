"""Reproduce the evaluation figures of every shipped model card (run by `make eval`).

For each shipped model: `irodori evaluate` on the corpus test split (data/corpus/test, rebuilt by
scripts/build_corpus.py), the JSON written to docs/models/<name>-eval.json and the Markdown table
spliced into docs/models/<name>.md between the EVAL markers. A comparison sheet of test images
(grey input | ground truth | prediction) goes to docs/images/<name>-test-sheet.jpg.

Then the same on the two evaluation sets of the full corpus (data/eval/photos and data/eval/manga,
made by `scripts/build_corpus.py --sources full --eval data/eval`), between the EVALSETS markers
and into docs/models/<name>-evalsets.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from docsplice import splice
from PIL import Image

from irodori.color import l_to_gray_rgb, rgb_to_l
from irodori.colorizer import load_colorizer
from irodori.evaluate import evaluate_folder, format_table, stack_rows
from irodori.imageio import load_rgb
from irodori.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- EVAL:BEGIN (scripts/evaluate_models.py) -->", "<!-- EVAL:END -->"
SETS_BEGIN, SETS_END = "<!-- EVALSETS:BEGIN (scripts/evaluate_models.py) -->", "<!-- EVALSETS:END -->"
EVAL_SETS = ("photos", "manga")


def sheet(model: str, files: list[Path], out: Path, height: int = 160) -> None:
    """Rows of (grey input | ground truth | prediction) at a fixed row height."""
    colorizer = load_colorizer(model)
    rows = []
    for path in files:
        truth = load_rgb(path)
        scale = height / truth.height
        truth = truth.resize((max(1, round(truth.width * scale)), height), Image.LANCZOS)
        rgb = np.asarray(truth)
        l_full = rgb_to_l(rgb)
        rows.append(np.hstack([l_to_gray_rgb(l_full), rgb, colorizer.colorize_lightness(l_full)]))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(stack_rows(rows)).save(out, quality=88)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-dir", default=str(REPO / "data" / "corpus" / "test"))
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--eval-dir", default=str(REPO / "data" / "eval"))
    args = parser.parse_args(argv)
    test_dir = Path(args.test_dir)
    if not test_dir.is_dir():
        print(f"{test_dir} missing: run `python scripts/build_corpus.py` first", file=sys.stderr)
        return 1
    for name in args.models:
        result = evaluate_folder(name, test_dir, progress=True)
        result["folder"] = "data/corpus/test"
        (REPO / "docs" / "models" / f"{name}-eval.json").write_text(json.dumps(result, indent=2) + "\n")
        table = format_table(result)
        print(table)
        card = REPO / MODELS[name].card
        if card.is_file():
            splice(card, BEGIN, END, table)
        files = sorted(p for p in test_dir.rglob("*.jpg"))
        by_source: dict[str, list[Path]] = {}
        for f in files:
            by_source.setdefault(f.parent.name, []).append(f)
        picks = [f for group in by_source.values() for f in group[:: max(1, len(group) // 3)][:3]]
        sheet(name, picks, REPO / "docs" / "images" / f"{name}-test-sheet.jpg")

        eval_dir = Path(args.eval_dir)
        if not all((eval_dir / s).is_dir() for s in EVAL_SETS):
            print(f"{eval_dir} missing: `make corpus-full` builds the evaluation sets; skipped", file=sys.stderr)
            continue
        tables, results = [], {}
        for set_name in EVAL_SETS:
            result = evaluate_folder(name, eval_dir / set_name, progress=True)
            result["folder"] = f"data/eval/{set_name}"
            results[set_name] = result
            tables.append(f"**{set_name}**: {format_table(result)}")
        (REPO / "docs" / "models" / f"{name}-evalsets.json").write_text(json.dumps(results, indent=2) + "\n")
        print("\n\n".join(tables))
        if card.is_file():
            splice(card, SETS_BEGIN, SETS_END, "\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
