"""Training ablations at equal budget: each upgrade of issue "vivid colours" against the 0.1 recipe.

Every recipe is the `default` preset (the shipped 0.1 recipe) plus a few overrides, trained for the
same number of steps on the same data with the same seed, then scored by `irodori evaluate` on
the same held-out folder (PSNR, SSIM, colourfulness, and FD when the feature packages are
installed). Results go to OUT/results.json as each recipe finishes (and, with --write, the table
into that Markdown file between the ABLATIONS markers), so the script can be run
again to continue (a GPU lease cuts commands at 10 minutes): finished recipes are skipped,
unfinished ones resume from their last checkpoint.

    python scripts/ablate.py --train data/corpus/train --val data/corpus/val --steps 3000 \\
        --out runs/ablate --write docs/ABLATIONS.md
    python scripts/ablate.py ... --recipes base gan      # only some
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from docsplice import splice

BEGIN, END = "<!-- ABLATIONS:BEGIN (scripts/ablate.py) -->", "<!-- ABLATIONS:END -->"
# name -> (what it tests, overrides on the default preset)
RECIPES: dict[str, tuple[str, dict]] = {
    "base": ("the 0.1 recipe: residual U-Net, class-rebalanced classification", {}),
    "lite0-imagenet": ("EfficientNet-Lite0 encoder from ImageNet weights",
                       {"model": {"encoder": "efficientnet-lite0"}, "encoder_init": "imagenet"}),
    "lite1-imagenet": ("EfficientNet-Lite1 encoder (Lite0's widths, deeper stages) from ImageNet weights",
                       {"model": {"encoder": "efficientnet-lite1"}, "encoder_init": "imagenet"}),
    "lite0-scratch": ("the same encoder from scratch (isolates the pretraining)",
                      {"model": {"encoder": "efficientnet-lite0"}, "encoder_init": "scratch"}),
    "gan": ("+ PatchGAN on (L, ab), weight 0.05", {"loss": {"gan": 0.05}}),
    "ema": ("+ EMA of the generator, decay 0.999", {"ema_decay": 0.999}),
    "no-rebalance": ("classification without class rebalancing (mix 1 = uniform weights)",
                     {"loss": {"rebalance_mix": 1.0}}),
    "regression-cf": ("L1 regression + colourfulness term (the DDColor-style anti-desaturation)",
                      {"model": {"head": "regression"}, "loss": {"l1": 1.0, "classification": 0.0,
                                                                  "colorfulness": 0.5}}),
}


def run_recipe(name: str, args: argparse.Namespace) -> dict:
    from irodori.checkpoint import read_meta
    from irodori.config import load_config, merge_dicts
    from irodori.evaluate import evaluate_folder
    from irodori.train import train

    _, overrides = RECIPES[name]
    run_dir = Path(args.out) / name
    base = {"out_dir": str(run_dir), "steps": args.steps, "seed": args.seed,
            "data": {"train_dirs": args.train, "val_dirs": [args.val], "workers": args.workers},
            "checkpoint_every": max(1, args.steps // 4)}
    if args.batch_size:
        base["batch_size"] = args.batch_size
    if args.time_budget_s:
        base.update(time_budget_s=args.time_budget_s, threads=args.threads)
    cfg = load_config(args.preset, merge_dicts(base, overrides))
    resume = run_dir if (run_dir / "latest").is_file() else None
    t0 = time.perf_counter()
    last = train(cfg, resume=resume, progress=not args.quiet)
    wall = time.perf_counter() - t0
    result = evaluate_folder(str(last), args.val, limit=args.limit, progress=not args.quiet)
    result.pop("per_image", None)
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores"
    return {"recipe": name, "what": RECIPES[name][0], "overrides": overrides, "steps": read_meta(last)["step"],
            "schedule_steps": args.steps, "time_budget_s": args.time_budget_s,
            "train_img_per_s": train_rate(run_dir / "log.csv"),
            "train_wall_s_this_call": round(wall, 1), "device": device, "eval": result}


def train_rate(log_csv: Path) -> float | None:
    """Training images per second over the run: the mean of log.csv's img_per_s column."""
    import csv

    if not log_csv.is_file():
        return None
    rates = [float(row["img_per_s"]) for row in csv.DictReader(log_csv.open()) if row.get("img_per_s")]
    return round(sum(rates) / len(rates), 2) if rates else None


def save_result(results_file: Path, name: str, result: dict) -> dict:
    """Add one recipe's result to results_file, re-read first: several ablate.py processes can
    share one --out (each running its own --recipes, e.g. side by side at an equal time budget)."""
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    results[name] = result
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    return results


def format_table(results: dict) -> str:
    timed = any(r.get("time_budget_s") for r in results.values())
    lines = ["| recipe | what | PSNR | SSIM | CF / truth | ΔCF | FD | train wall (s) |"
             + (" steps reached / schedule | img/s |" if timed else ""), "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if timed else "")]
    for name, r in results.items():
        p = r["eval"]["prediction"]

        def cell(key: str, fmt: str) -> str:
            value = p.get(key)
            return format(value, fmt) if isinstance(value, (int, float)) else "–"

        lines.append(f"| `{name}` | {r['what']} | {cell('psnr', '.2f')} | {cell('ssim', '.3f')} | "
                     f"{cell('colorfulness_ratio', '.0%')} | {cell('delta_cf', '.1f')} | {cell('fd', '.1f')} | "
                     f"{r['train_wall_s_this_call']:.0f} |"
                     + (f" {r['steps']} / {r.get('schedule_steps', '–')} | {r.get('train_img_per_s') or '–'} |"
                        if timed else ""))
    g = next(iter(results.values()))["eval"]["grayscale"] if results else {}
    if g:
        lines.append(f"| grayscale baseline | doing nothing | {g.get('psnr', float('nan')):.2f} | "
                     f"{g.get('ssim', float('nan')):.3f} | 0% | {g.get('delta_cf', float('nan')):.1f} | "
                     f"{g.get('fd', float('nan')):.1f} | |" + (" | |" if timed else ""))
    return "\n".join(lines)


def write_samples_figure(results: dict, out: Path, steps: int, path: Path, *, rows: int = 6) -> None:
    """The validation crops every run drew at its last step (train.py's sample sheets: input |
    truth | prediction, 160 px rows), side by side: input, truth, then each recipe's prediction."""
    import numpy as np
    from PIL import Image

    sheets = {name: np.asarray(Image.open(out / name / "samples" / f"step-{steps:07d}.png").convert("RGB"))
              for name in results if (out / name / "samples" / f"step-{steps:07d}.png").is_file()}
    if not sheets:
        return
    first = next(iter(sheets.values()))
    side = first.shape[1] // 3  # square crops: a row is three of them
    gutter = np.full((rows * side, 4, 3), 255, np.uint8)
    columns = [first[: rows * side, :side], first[: rows * side, side : 2 * side]]
    columns += [sheet[: rows * side, 2 * side :] for sheet in sheets.values()]
    figure = np.hstack([part for column in columns for part in (column, gutter)][:-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(figure).save(path, quality=85)
    print(f"samples figure: {path} (columns: input, truth, {', '.join(sheets)})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", required=True, help="training folders")
    parser.add_argument("--val", required=True, help="held-out folder the recipes are scored on")
    parser.add_argument("--steps", type=int, default=3000, help="the equal budget, in steps")
    parser.add_argument("--time-budget-s", type=float, default=0.0,
                        help="equal wall time instead: each recipe stops after this many seconds (set-up "
                             "included; --steps is then the schedule's length, set it a little beyond reach)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of a --time-budget-s run")
    parser.add_argument("--section", default=None,
                        help="with --write: the table goes between ABLATIONS-SECTION markers, the JSON "
                             "into FILE-SECTION.json (other tables of FILE.md are kept)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--out", default="runs/ablate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="score at most N images")
    parser.add_argument("--write", default=None, metavar="FILE.md", help="write the table (and the JSON beside it)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for name in args.recipes:
        done = name in results and (results[name]["steps"] >= args.steps or (
            args.time_budget_s and results[name].get("time_budget_s") == args.time_budget_s))
        if done:
            print(f"{name}: done already", file=sys.stderr)
            continue
        results = save_result(results_file, name, run_recipe(name, args))
        print(f"{name}: {results[name]['eval']['prediction']}", file=sys.stderr)
    table = format_table({name: results[name] for name in RECIPES if name in results})
    print(table)
    if args.write:
        write_doc(Path(args.write), results, args)
    return 0


def write_doc(doc: Path, results: dict, args: argparse.Namespace) -> None:
    """The table into doc between its markers (per --section), the results into the JSON beside it."""
    begin, end = BEGIN, END
    if args.section:
        begin = BEGIN.replace("ABLATIONS:", f"ABLATIONS-{args.section}:")
        end = END.replace("ABLATIONS:", f"ABLATIONS-{args.section}:")
    device = next((r["device"] for r in results.values() if "device" in r), "see the JSON")
    if not doc.is_file():
        doc.write_text(f"# Training ablations\n\n{begin}\n{end}\n")
    budget = (f"until its schedule ended or {args.time_budget_s:g} s of wall time had passed (set-up included; "
              f"{args.threads} torch thread; steps and wall time in the table)" if args.time_budget_s
              else f"{args.steps} steps")
    ordered = {name: results[name] for name in RECIPES if name in results}
    splice(doc, begin, end, f"Each recipe trained {budget} from seed {args.seed} on `{' '.join(args.train)}` "
           f"({device}), scored on `{args.val}` by `irodori evaluate`.\n\n{format_table(ordered)}")
    stem = f"{doc.stem}-{args.section}" if args.section else doc.stem
    doc.with_name(stem + ".json").write_text(json.dumps(results, indent=2) + "\n")
    if not args.time_budget_s:  # runs cut by time stop at different steps: no common sample sheet
        write_samples_figure(ordered, Path(args.out), args.steps, doc.parent / "images" / "ablation-samples.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
