#!/usr/bin/env python3
"""Paint mode against its baselines on the paint evaluation sets (docs/MANGA_MODE.md).

For each set of black-and-white inputs with colour truths (scripts/build_paint_evalsets.py:
``pages``, ``openmoji``, ``cartoons``), every image is scored on full RGB against the truth
(paint changes lightness, so not under the input's lightness) for:

- ``B&W input``: the input as it is (grey);
- ``tint``: today's default, the tint model keeping the input's lightness (``general-int8``);
- ``paint``: the paint model (``--model``, default the shipped ``manga``) in paint mode;
- ``paint + 5 hints``: the same with 5 hints sampled from the truth (seeded per image).

Metrics: PSNR and SSIM (mean over images), colourfulness as a share of the truth's (Hasler and
Susstrunk), hue overlap (how the set's clearly coloured pixels spread over six hue sectors
against the truth's, ``irodori.metrics.hue_overlap``; the JSON keeps the shares) and the
Frechet distance of EfficientNet-Lite0 features (docs/FD.md; needs the eval extra). Writes
JSON (``--json``), the table into a Markdown file between markers (``--write``), and best/worst
sheets (input | truth | tint | paint) per set (``--sheets DIR``)::

    python scripts/evaluate_paint.py --sets data/eval-paint --model manga \\
        --json docs/models/paint-eval.json --write docs/MANGA_MODE.md --sheets docs/images
"""
from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SETS = ("pages", "openmoji", "cartoons")
METHODS = ("B&W input", "tint", "paint", "paint + 5 hints")
BEGIN, END = "<!-- paint-eval:begin -->", "<!-- paint-eval:end -->"


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def score_set(folder: Path, tint, paint, *, limit: int | None, extractor) -> tuple[dict, list]:
    """-> (metrics per method, per-image rows (name, psnr per method, images))."""
    from irodori.hints import sample_hints
    from irodori.metrics import colorfulness, feature_statistics, frechet_distance, hue_counts, hue_overlap, psnr, ssim

    inputs = sorted((folder / "input").glob("*.png"))[:limit]
    per: dict[str, dict[str, list]] = {m: {"psnr": [], "ssim": [], "cf": [], "feat": []} for m in METHODS}
    hues = {m: np.zeros(6, np.int64) for m in (*METHODS, "truth")}
    truth_cf, truth_feat, rows = [], [], []
    for path in inputs:
        truth = _rgb(folder / "truth" / path.name)
        grey = np.repeat(np.asarray(Image.open(path).convert("L"))[..., None], 3, axis=2)
        rng = np.random.default_rng(zlib.crc32(path.name.encode()))
        outs = {
            "B&W input": grey,
            "tint": np.asarray(tint.colorize(path, mode="tint").convert("RGB")),
            "paint": np.asarray(paint.colorize(path, mode="paint").convert("RGB")),
            "paint + 5 hints": np.asarray(paint.colorize(path, mode="paint", hints=sample_hints(truth, 5, rng))
                                          .convert("RGB")),
        }
        truth_cf.append(colorfulness(truth))
        hues["truth"] += hue_counts(truth)
        if extractor is not None:
            truth_feat.append(extractor(truth))
        for method, out in outs.items():
            per[method]["psnr"].append(psnr(out, truth))
            per[method]["ssim"].append(ssim(out, truth))
            per[method]["cf"].append(colorfulness(out))
            hues[method] += hue_counts(out)
            if extractor is not None:
                per[method]["feat"].append(extractor(out))
        rows.append((path.name, {m: per[m]["psnr"][-1] for m in METHODS}, (grey, truth, outs["tint"], outs["paint"])))
    # PSNR is infinite where an output equals its truth (a line-art input that is its own truth):
    # every method's mean is over the same images, those where none is (it was over each method's
    # own finite ones: the B&W input's over 99 OpenMoji images, paint's over 104).
    same = [i for i in range(len(inputs)) if all(np.isfinite(per[m]["psnr"][i]) for m in METHODS)]
    result = {"n": len(inputs), "psnr_images": len(same), "truth_hue_shares": _shares(hues["truth"])}
    cf_truth = float(np.mean(truth_cf)) if truth_cf else float("nan")
    for method in METHODS:
        m = per[method]
        finite = [m["psnr"][i] for i in same]
        entry = {"psnr": float(np.mean(finite)) if finite else None, "ssim": float(np.mean(m["ssim"])),
                 "cf_share": float(np.mean(m["cf"]) / cf_truth) if cf_truth else None, "fd": None,
                 "hue_overlap": hue_overlap(hues[method], hues["truth"]), "hue_shares": _shares(hues[method])}
        if extractor is not None and len(m["feat"]) > 1:
            entry["fd"] = frechet_distance(*feature_statistics(np.stack(m["feat"])),
                                           *feature_statistics(np.stack(truth_feat)))
        result[method] = entry
    return result, rows


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [round(float(c / total), 4) if total else 0.0 for c in counts]


def table(report: dict) -> str:
    lines = ["| set | images | method | PSNR (dB) | SSIM | colourfulness / truth | hue overlap | FD |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, r in report["sets"].items():
        for method in METHODS:
            e = r[method]
            fd = "" if e["fd"] is None else f"{e['fd']:.1f}"
            bold = "**" if method == "paint" else ""
            lines.append(f"| {name} | {r['n']} | {bold}{method}{bold} | {bold}{e['psnr']:.2f}{bold} | {e['ssim']:.3f} | "
                         f"{e['cf_share']:.0%} | {_percent(e.get('hue_overlap'))} | {fd} |")
    left = [f"{name} {r['n'] - r['psnr_images']}" for name, r in report["sets"].items()
            if r.get("psnr_images", r["n"]) < r["n"]]
    if left:
        lines += ["", "PSNR is the mean over the images where no method's output equals the truth (infinite "
                  f"PSNR), the same images for every method; left out: {', '.join(left)}."]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.0%}"


def write_sheets(rows: list, name: str, dest: Path, *, k: int = 4) -> None:
    from irodori.evaluate import sheet_row, stack_rows

    order = sorted(rows, key=lambda r: r[1]["paint"] - r[1]["B&W input"])
    for label, picked in (("worst", order[:k]), ("best", order[::-1][:k])):
        sheet = stack_rows([sheet_row(list(r[2]), height=160) for r in picked])
        Image.fromarray(sheet).save(dest / f"paint-{name}-{label}.jpg", quality=80)  # small: the repo travels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", type=Path, default=Path("data/eval-paint"))
    ap.add_argument("--model", default="manga", help="the paint model (shipped name, .onnx or checkpoint)")
    ap.add_argument("--tint-model", default="general-int8")
    ap.add_argument("--limit", type=int, default=None, help="at most this many images per set")
    ap.add_argument("--no-fd", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--write", type=Path, action="append", default=[],
                    help="a Markdown file whose paint-eval markers get the table (repeatable)")
    ap.add_argument("--sheets", type=Path)
    args = ap.parse_args(argv)
    from irodori.colorizer import load_colorizer

    tint = load_colorizer(args.tint_model, mode="tint")
    paint = load_colorizer(args.model, mode="paint")
    extractor = None
    if not args.no_fd:
        from irodori.features import load_feature_extractor

        features = load_feature_extractor().features
        extractor = lambda rgb: features([rgb])[0]  # noqa: E731
    report = {"model": args.model, "tint_model": args.tint_model, "sets": {}}
    for name in SETS:
        folder = args.sets / name
        if not (folder / "input").is_dir():
            continue
        report["sets"][name], rows = score_set(folder, tint, paint, limit=args.limit, extractor=extractor)
        if args.sheets:
            args.sheets.mkdir(parents=True, exist_ok=True)
            write_sheets(rows, name, args.sheets)
        print(f"{name}: done", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report))
    for path in args.write:
        head, rest = path.read_text(encoding="utf-8").split(BEGIN, 1)
        path.write_text(head + BEGIN + "\n" + table(report) + "\n" + END + rest.split(END, 1)[1], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
