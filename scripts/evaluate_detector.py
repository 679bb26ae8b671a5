#!/usr/bin/env python3
"""How often the paint/tint detector decides right (:meth:`irodori.Colorizer.contract_for` with
no ``--mode``: :func:`irodori.paint.choose_mode`).

Reads the inputs of the paint evaluation sets (scripts/build_paint_evalsets.py): ``pages``,
``openmoji`` and ``cartoons`` must be painted; ``grey-art`` and ``photos`` tinted. Prints a
JSON report (per set: count, correct, accuracy, the wrong files) and, with ``--write``, puts
its table into docs/MANGA_MODE.md between the markers. The rule's constants were chosen on
the val sets (``--sets data/eval-paint-val``); the reported figures are on the test sets::

    python scripts/evaluate_detector.py --sets data/eval-paint --write docs/MANGA_MODE.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXPECTED = {"pages": "paint", "openmoji": "paint", "cartoons": "paint", "grey-art": "tint", "photos": "tint",
            "grey-clipart": None}
BEGIN, END = "<!-- detector:begin -->", "<!-- detector:end -->"


_COLORIZER = []


def detect(path: Path) -> tuple[str, str]:
    """-> (the mode ``irodori colorize`` picks for the file with no ``--mode``, and why): the
    contract of ``load_colorizer("auto")``, which can paint (:func:`irodori.paint.choose_mode`)."""
    from irodori import load_colorizer
    from irodori.imageio import lightness_of, open_image

    if not _COLORIZER:
        _COLORIZER.append(load_colorizer("auto", threads=1))
    lightness, _ = lightness_of(open_image(path))
    contract = _COLORIZER[0].contract_for(lightness)
    return contract.mode, contract.reason


def evaluate(sets: Path) -> dict:
    report: dict = {"sets": str(sets), "per_set": {}}
    right = total = 0
    for name, want in EXPECTED.items():
        folder = sets / name / "input"
        if not folder.is_dir():
            continue
        files = sorted(folder.glob("*.png"))
        wrong = []
        for f in files:
            got, why = detect(f)
            if got != want:
                wrong.append(f"{f.name}: {got} ({why})")
        if want is None:  # ambiguous (grey clip art: flat fills, or line art on white): shown, not scored
            painted = sum(detect(f)[0] == "paint" for f in files)
            report["unscored"] = {name: {"n": len(files), "painted": painted}}
            continue
        report["per_set"][name] = {"expected": want, "n": len(files), "correct": len(files) - len(wrong),
                                   "accuracy": round((len(files) - len(wrong)) / max(1, len(files)), 4),
                                   "wrong": wrong}
        right += len(files) - len(wrong)
        total += len(files)
    report["overall"] = {"n": total, "correct": right, "accuracy": round(right / max(1, total), 4)}
    return report


def table(report: dict) -> str:
    rows = ["| set | should be | images | correct | accuracy |", "|---|---|---:|---:|---:|"]
    for name, r in report["per_set"].items():
        rows.append(f"| {name} | {r['expected']} | {r['n']} | {r['correct']} | {r['accuracy']:.1%} |")
    o = report["overall"]
    rows.append(f"| **all** | | {o['n']} | {o['correct']} | **{o['accuracy']:.1%}** |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", type=Path, default=Path("data/eval-paint"))
    ap.add_argument("--write", type=Path, help="put the table into this Markdown file between the markers")
    ap.add_argument("--json", type=Path, help="write the full report here")
    args = ap.parse_args(argv)
    report = evaluate(args.sets)
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(table(report))
    if args.write:
        doc = args.write.read_text(encoding="utf-8")
        if BEGIN not in doc or END not in doc:
            print(f"{args.write}: no {BEGIN} ... {END} markers", file=sys.stderr)
            return 2
        head, rest = doc.split(BEGIN, 1)
        args.write.write_text(head + BEGIN + "\n" + table(report) + "\n" + END + rest.split(END, 1)[1], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
