#!/usr/bin/env python3
"""Reference pages against no reference, on the reference evaluation sets (docs/REFERENCE.md).

For every set of ``scripts/build_reference_evalsets.py`` (``panels-tint``, ``characters-paint``...),
each target's input is coloured by the shipped models in the set's mode (tint: ``general-int8`` on
the grey input; paint: ``manga-int8`` on the B&W input, through ``load_colorizer("auto")``) three
times: **without** a reference, with the **matching** reference, with the **unrelated** one (each
analysed once by ``Colorizer.analyse_references``). Scored on full RGB against the colour truth:
PSNR (mean over targets; paint changes lightness, so not under the input's), and colourfulness
(Hasler and Susstrunk, irodori.metrics) as a share of the truth's and as ΔCF = |mean CF - mean CF
of the truth|. The issue's targets: matching >= without + 2 dB and ΔCF <= 3; unrelated >= without
- 0.3 dB.

Writes JSON (``--json``), the table between the REFERENCE-EVAL markers of a Markdown file
(``--write``, scripts/docsplice.py) and a sheet (``--sheet``: page | reference | without | with |
truth, the largest and the smallest gain of each set)::

    python scripts/evaluate_reference.py --split val              # tune here: prints the table
    python scripts/evaluate_reference.py --split test --json docs/reference-eval.json \\
        --write docs/REFERENCE.md --sheet docs/images/reference-sheet.jpg
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
from docsplice import splice
from PIL import Image

CONDITIONS = ("without", "matching", "unrelated")
BEGIN, END = "<!-- REFERENCE-EVAL:BEGIN (scripts/evaluate_reference.py) -->", "<!-- REFERENCE-EVAL:END -->"
MATCH_GAIN_DB, MAX_DELTA_CF, UNRELATED_LOSS_DB = 2.0, 3.0, -0.3  # the issue's targets
SHEET_HEIGHT, SHEET_MAX_BYTES = 120, 300_000


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def read_manifest(folder: Path) -> list[dict]:
    """A set's manifest.csv rows (stem, kind, mode, sources, licence), in file order."""
    with open(folder / "manifest.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def colour_item(colorizer, folder: Path, row: dict) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """One target coloured without and with each reference -> (RGB output per condition,
    seconds per condition, the reference's analysis included)."""
    page, outs, seconds = folder / "input" / f"{row['stem']}.png", {}, {}
    for condition in CONDITIONS:
        start = time.perf_counter()
        refs = None
        if condition != "without":
            sub = "match" if condition == "matching" else "unrelated"
            refs = colorizer.analyse_references([_rgb(folder / sub / f"{row['stem']}.png")])
        outs[condition] = np.asarray(colorizer.colorize(page, reference=refs, mode=row["mode"]).convert("RGB"))
        seconds[condition] = time.perf_counter() - start
    return outs, seconds


def score_set(colorizer, folder: Path, *, limit: int | None) -> tuple[dict, list]:
    """-> (the set's summary, per-target rows (stem, psnr per condition, sheet panels))."""
    from irodori.metrics import colorfulness, psnr

    rows = read_manifest(folder)[:limit]
    per = {c: {"psnr": [], "cf": [], "s": []} for c in CONDITIONS}
    cf_truth, items = [], []
    for row in rows:
        truth = _rgb(folder / "truth" / f"{row['stem']}.png")
        outs, seconds = colour_item(colorizer, folder, row)
        cf_truth.append(colorfulness(truth))
        for c in CONDITIONS:
            per[c]["psnr"].append(psnr(outs[c], truth))
            per[c]["cf"].append(colorfulness(outs[c]))
            per[c]["s"].append(seconds[c])
        page = np.repeat(_rgb(folder / "input" / f"{row['stem']}.png")[..., :1], 3, axis=2)
        panels = [page, _rgb(folder / "match" / f"{row['stem']}.png"), outs["without"], outs["matching"], truth]
        items.append((row["stem"], {c: per[c]["psnr"][-1] for c in CONDITIONS}, panels))
    return summarise(per, cf_truth, mode=rows[0]["mode"] if rows else None), items


def summarise(per: dict, cf_truth: list[float], *, mode: str | None) -> dict:
    """Per-condition lists -> means, Δ vs without, colourfulness share and ΔCF, targets met."""
    from irodori.metrics import delta_cf

    cf_t = float(np.mean(cf_truth)) if cf_truth else float("nan")
    out = {"n": len(cf_truth), "mode": mode, "cf_truth": cf_t}
    base = float(np.mean(per["without"]["psnr"])) if cf_truth else float("nan")
    for c in CONDITIONS:
        p = np.array(per[c]["psnr"], dtype=np.float64)
        cf = float(np.mean(per[c]["cf"])) if cf_truth else float("nan")
        out[c] = {"psnr": float(np.mean(p)) if len(p) else float("nan"), "delta_db": float(np.mean(p)) - base if len(p) else float("nan"),
                  "worst_delta_db": float(np.min(p - np.array(per["without"]["psnr"]))) if len(p) else float("nan"),
                  "cf_share": cf / cf_t if cf_t else float("nan"), "delta_cf": delta_cf(cf, cf_t),
                  "seconds": float(np.mean(per[c]["s"])) if len(p) else float("nan")}
    out["targets"] = {"matching_gain": out["matching"]["delta_db"] >= MATCH_GAIN_DB,
                      "matching_delta_cf": out["matching"]["delta_cf"] <= MAX_DELTA_CF,
                      "unrelated_harmless": out["unrelated"]["delta_db"] >= UNRELATED_LOSS_DB}
    return out


def table(report: dict) -> str:
    """The report -> a Markdown table (one row per set)."""
    yes = {True: "yes", False: "**no**"}
    lines = ["| set | mode | targets | PSNR without (dB) | with matching ref. | Δ | with unrelated ref. | Δ | "
             "CF without / matching / unrelated (% of truth) | ΔCF without → matching | met (+2 dB, ΔCF ≤ 3, ≥ −0.3 dB) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for name, r in report["sets"].items():
        w, m, u, t = r["without"], r["matching"], r["unrelated"], r["targets"]
        cf = " / ".join(f"{r[c]['cf_share']:.0%}" for c in CONDITIONS)
        lines.append(f"| {name} | {r['mode']} | {r['n']} | {w['psnr']:.2f} | {m['psnr']:.2f} | {m['delta_db']:+.2f} | "
                     f"{u['psnr']:.2f} | {u['delta_db']:+.2f} | {cf} | {w['delta_cf']:.1f} → {m['delta_cf']:.1f} | "
                     f"{yes[t['matching_gain']]}, {yes[t['matching_delta_cf']]}, {yes[t['unrelated_harmless']]} |")
    return "\n".join(lines)


def write_sheet(picked: list, path: Path) -> None:
    """Rows of (page | reference | without | with | truth) -> a JPEG under SHEET_MAX_BYTES."""
    from irodori.evaluate import sheet_row, stack_rows

    sheet = Image.fromarray(stack_rows([sheet_row(panels, height=SHEET_HEIGHT) for panels in picked]))
    path.parent.mkdir(parents=True, exist_ok=True)
    for quality in (80, 70, 60, 50):  # small: the repo travels to the GPU machine
        sheet.save(path, quality=quality, optimize=True)
        if path.stat().st_size <= SHEET_MAX_BYTES:
            return


def sheet_rows(items: list) -> list:
    """The largest and the smallest gain of a set (one row when the set has one target)."""
    order = sorted(items, key=lambda it: it[1]["matching"] - it[1]["without"])
    return [it[2] for it in ([order[-1], order[0]] if len(order) > 1 else order)]


def set_folders(root: Path, only: list[str] | None) -> list[Path]:
    """The set folders under root (those with a manifest.csv), filtered by name substrings."""
    folders = sorted(p.parent for p in root.glob("*/manifest.csv"))
    return [f for f in folders if not only or any(o in f.name for o in only)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("val", "test"), default="test", help="tune on val, report on test")
    ap.add_argument("--sets", type=Path, default=None, help="default: data/eval-reference (test), -val (val)")
    ap.add_argument("--set", action="append", dest="only", help="only sets whose name contains this (repeatable)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many targets per set")
    ap.add_argument("--model", default="auto", help="shipped name or file; auto: general-int8 tints, manga-int8 paints")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--write", type=Path, help="Markdown file with the REFERENCE-EVAL markers")
    ap.add_argument("--sheet", type=Path, help="JPEG: page | reference | without | with | truth")
    args = ap.parse_args(argv)
    from irodori.colorizer import load_colorizer

    root = args.sets or Path({"test": "data/eval-reference", "val": "data/eval-reference-val"}[args.split])
    folders = set_folders(root, args.only)
    if not folders:
        ap.error(f"no evaluation sets under {root} (scripts/build_reference_evalsets.py --split {args.split})")
    colorizer = load_colorizer(args.model, threads=args.threads)
    report = {"split": args.split, "model": args.model, "sets": {}}
    picked = []
    for folder in folders:
        report["sets"][folder.name], items = score_set(colorizer, folder, limit=args.limit)
        report["sets"][folder.name]["targets_psnr"] = {stem: psnrs for stem, psnrs, _ in items}
        picked += sheet_rows(items)
        print(f"{folder.name}: {report['sets'][folder.name]['n']} targets", file=sys.stderr)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.write:
        splice(args.write, BEGIN, END, table(report))
    if args.sheet and picked:
        write_sheet(picked, args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
