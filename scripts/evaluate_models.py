"""Reproduce the evaluation figures of every shipped model card (run by `make eval`).

For each shipped model: `irodori evaluate` on the corpus test split (data/corpus/test, rebuilt by
scripts/build_corpus.py), the JSON written to docs/models/<name>-eval.json and the Markdown table
spliced into docs/models/<name>.md between the EVAL markers. A comparison sheet of test images
(grey input | ground truth | prediction) goes to docs/images/<name>-test-sheet.jpg.

Then the same on the two evaluation sets of the full corpus (data/eval/photos and data/eval/manga,
made by `scripts/build_corpus.py --sources full --eval data/eval`), between the EVALSETS markers
and into docs/models/<name>-evalsets.json; on the model's own set (HOME_SET: `general` photos,
`manga` manga pages) the issue's targets are checked between the TARGETS markers, against the
grayscale baseline and against the 0.1 model, and sheets of its best and worst images (by PSNR
gain over grayscale) go to docs/images/<name>-<set>-best.jpg and -worst.jpg.

The 0.1 model is no longer shipped; it is taken from the git history (V01_COMMIT, checked
against its sha256) and scored on the same sets into docs/models/general-v0.1-evalsets.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from docsplice import splice
from PIL import Image

from irodori.color import l_to_gray_rgb, rgb_to_l
from irodori.colorizer import load_colorizer
from irodori.evaluate import evaluate_folder, format_table, list_pairs, load_pair, result_json, sheet_row, stack_rows
from irodori.imageio import load_rgb
from irodori.registry import MODELS, sha256_file

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- EVAL:BEGIN (scripts/evaluate_models.py) -->", "<!-- EVAL:END -->"
SETS_BEGIN, SETS_END = "<!-- EVALSETS:BEGIN (scripts/evaluate_models.py) -->", "<!-- EVALSETS:END -->"
TARGETS_BEGIN, TARGETS_END = "<!-- TARGETS:BEGIN (scripts/evaluate_models.py) -->", "<!-- TARGETS:END -->"
EVAL_SETS = ("photos", "manga")
HOME_SET = {"general": "photos", "general-int8": "photos", "manga": "manga", "manga-int8": "manga"}
# The 0.1 model, from the history: the last commit that shipped it, and its ONNX file's sha256.
V01_COMMIT = "44e317cef35934d0830eb38e55e9d78ff18d460c"
V01_PATH, V01_SHA256 = "src/irodori/models/general-v0.1.onnx", "fbf2dd5ee8b53d90ad2eca7727b337c10a21727132a3fdf90b7fbfdb776b6f1a"
V01_RECORD = REPO / "docs" / "models" / "general-v0.1-evalsets.json"


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


def pair_sheet(models: list[str], folder: Path, names: list[str], out: Path, height: int = 192) -> None:
    """Rows of (input | truth under the input's lightness | each model's prediction) for pairs of
    a paired set."""
    colorizers = [load_colorizer(m) for m in models]
    pairs = {name: (inp, truth) for name, inp, truth in list_pairs(folder)}
    rows = []
    for name in names:
        _, l_full, truth = load_pair(name, *pairs[name])
        panels = [l_to_gray_rgb(l_full), truth] + [c.colorize_lightness(l_full) for c in colorizers]
        rows.append(sheet_row(panels, height=height))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(stack_rows(rows)).save(out, quality=88)


def best_and_worst(result: dict, k: int = 4) -> tuple[list[str], list[str]]:
    """The k images with the largest and the smallest PSNR gain over grayscale."""
    rows = sorted(result["per_image"], key=lambda r: r["psnr"] - r["psnr_gray"], reverse=True)
    return [r["image"] for r in rows[:k]], [r["image"] for r in rows[-k:]]


def v01_figures(eval_dir: Path) -> dict | None:
    """The 0.1 model's figures on the evaluation sets, re-measured from the git history when
    the checkout has it, else the committed record."""
    onnx = REPO / "build" / "general-v0.1.onnx"
    if not onnx.is_file():
        onnx.parent.mkdir(exist_ok=True)
        blob = subprocess.run(["git", "show", f"{V01_COMMIT}:{V01_PATH}"], cwd=REPO, capture_output=True)
        if blob.returncode == 0:
            onnx.write_bytes(blob.stdout)
    if onnx.is_file() and sha256_file(onnx) == V01_SHA256:
        results = {}
        for set_name in EVAL_SETS:
            result = evaluate_folder(str(onnx), eval_dir / set_name, progress=True)
            result.update(model="general-v0.1", folder=f"data/eval/{set_name}")
            result.pop("per_image")
            results[set_name] = result
        V01_RECORD.write_text(result_json(results))
        return results
    print(f"the 0.1 model is not in this checkout's history ({V01_COMMIT[:12]}); using {V01_RECORD.name}",
          file=sys.stderr)
    return json.loads(V01_RECORD.read_text()) if V01_RECORD.is_file() else None


def targets_table(name: str, set_name: str, result: dict, v01: dict | None) -> str:
    """The issue's targets on the model's own evaluation set, each with its value and verdict."""
    p, g = result["prediction"], result["grayscale"]
    checks = [
        ("colourfulness ≥ 85 % of the truth's", f"{p['colorfulness_ratio']:.0%}", p["colorfulness_ratio"] >= 0.85),
        ("ΔCF ≤ 5", f"{p['delta_cf']:.1f}", p["delta_cf"] <= 5),
        ("FD ≤ half the grayscale baseline's", f"{p['fd']:.2f} (half of gray: {g['fd'] / 2:.2f})", p["fd"] <= g["fd"] / 2),
        ("PSNR ≥ the grayscale baseline's", f"{p['psnr']:.2f} dB (gray {g['psnr']:.2f})", p["psnr"] >= g["psnr"]),
    ]
    if v01 is not None:
        o = v01[set_name]["prediction"]
        checks += [
            ("PSNR ≥ the 0.1 model's", f"{p['psnr']:.2f} dB (0.1: {o['psnr']:.2f})", p["psnr"] >= o["psnr"]),
            ("SSIM ≥ the 0.1 model's", f"{p['ssim']:.3f} (0.1: {o['ssim']:.3f})", p["ssim"] >= o["ssim"]),
            ("ΔCF ≤ the 0.1 model's", f"{p['delta_cf']:.1f} (0.1: {o['delta_cf']:.1f})", p["delta_cf"] <= o["delta_cf"]),
            ("FD ≤ the 0.1 model's", f"{p['fd']:.2f} (0.1: {o['fd']:.2f})", p["fd"] <= o["fd"]),
        ]
    lines = [f"Targets for `{name}` on its own set, `data/eval/{set_name}` ({result['images']} images):", "",
             "| target | measured | met |", "|---|---|:---:|"]
    lines += [f"| {what} | {value} | {'yes' if ok else '**no**'} |" for what, value, ok in checks]
    met = sum(ok for *_, ok in checks)
    lines += ["", f"{met} of {len(checks)} met."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-dir", default=str(REPO / "data" / "corpus" / "test"))
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--eval-dir", default=str(REPO / "data" / "eval"))
    args = parser.parse_args(argv)
    test_dir, eval_dir = Path(args.test_dir), Path(args.eval_dir)
    if not test_dir.is_dir():
        print(f"{test_dir} missing: run `python scripts/build_corpus.py` first", file=sys.stderr)
        return 1
    have_sets = all((eval_dir / s).is_dir() for s in EVAL_SETS)
    if not have_sets:
        print(f"{eval_dir} missing: `make corpus-full` builds the evaluation sets; skipped", file=sys.stderr)
    v01 = v01_figures(eval_dir) if have_sets else None
    for name in args.models:
        result = evaluate_folder(name, test_dir, progress=True)
        result["folder"] = "data/corpus/test"
        (REPO / "docs" / "models" / f"{name}-eval.json").write_text(result_json(result))
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
        if not have_sets:
            continue

        tables, results = [], {}
        for set_name in EVAL_SETS:
            result = evaluate_folder(name, eval_dir / set_name, progress=True)
            result["folder"] = f"data/eval/{set_name}"
            results[set_name] = result
            tables.append(f"**{set_name}**: {format_table(result)}")
        home = HOME_SET.get(name)
        targets = targets_table(name, home, results[home], v01) if home else None
        if home and not name.endswith("-int8"):  # sheets of the float model only: int8 colours the same
            best, worst = best_and_worst(results[home])
            for label, names in (("best", best), ("worst", worst)):
                pair_sheet([name], eval_dir / home, names, REPO / "docs" / "images" / f"{name}-{home}-{label}.jpg")
        (REPO / "docs" / "models" / f"{name}-evalsets.json").write_text(result_json(results))
        print("\n\n".join(tables))
        if targets:
            print(targets)
        if card.is_file():
            splice(card, SETS_BEGIN, SETS_END, "\n\n".join(tables))
            if targets and TARGETS_BEGIN in card.read_text():
                splice(card, TARGETS_BEGIN, TARGETS_END, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
