#!/usr/bin/env python3
"""Does today's faster CPU training recipe learn as well as the one before it? (issue 18, §1)

Trains the default preset for ``--steps`` (1,000) from each of two seeds, once as before issue 18
(every sample decoded from its file, float32, the encoder's batch norms trained:
``--data.cache_mb=0 --amp=off --encoder_bn=train``) and once with today's defaults (decoded
images cached, bf16 autocast where the CPU has bf16 units, the encoder's batch norms frozen), alternating
so a busy machine slows both alike, and reads each run's validation L1 at the last step (the
training loop's own fixed validation batches) and its images/s from ``log.csv``. Writes a
Markdown table between markers (``--write``) and the figures as JSON (``--json``)::

    python scripts/training_parity.py --train data/corpus-art/train --val data/corpus-art/val \\
        --write docs/BENCHMARKS.md --json docs/training-parity.json

Runs go to ``--out`` (default ``runs/parity``; each about 15 minutes on 2 cores). A run that
has finished is read, not trained again, so an interrupted script continues where it stopped.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from docsplice import splice  # noqa: E402

BEGIN, END = "<!-- TRAINING-PARITY:BEGIN (scripts/training_parity.py) -->", "<!-- TRAINING-PARITY:END -->"
VARIANTS = {"before (data.cache_mb=0, amp=off, encoder_bn=train)": ["--data.cache_mb=0", "--amp=off",
                                                                    "--encoder_bn=train"],
            "now (defaults)": []}


def run_dir(out: Path, variant: str, seed: int) -> Path:
    return out / f"{'before' if variant.startswith('before') else 'now'}-seed{seed}"


def read_log(path: Path) -> dict:
    """A run's log.csv -> {"val_l1": the last validation L1, "img_per_s": the median of its
    speed windows after the first, "steps": the last step logged}."""
    with open(path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    val = [float(r["val_l1"]) for r in rows if r.get("val_l1")]
    speed = [float(r["img_per_s"]) for r in rows if r.get("img_per_s")]
    return {"val_l1": val[-1] if val else None, "img_per_s": statistics.median(speed[1:] or speed) if speed else None,
            "steps": max(int(r["step"]) for r in rows) if rows else 0}


def train(out: Path, variant: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one run (unless it finished before) -> its figures."""
    run = run_dir(out, variant, seed)
    done = read_log(run) if (run / "log.csv").exists() else None
    if done is None or done["steps"] < args.steps or done["val_l1"] is None:
        cmd = [sys.executable, "-m", "irodori.cli", "train", *map(str, args.train), "--val", str(args.val),
               "--preset", "default", "--out", str(run), "-q", f"--steps={args.steps}", f"--seed={seed}",
               f"--val_every={args.steps}", f"--checkpoint_every={args.steps}", "--log_every=50", *VARIANTS[variant]]
        if run.exists() and any(run.glob("step-*")):
            cmd = [sys.executable, "-m", "irodori.cli", "train", "--resume", str(run), "-q"]
        print(" ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
    return read_log(run)


def table(results: dict, steps: int) -> str:
    lines = [f"| recipe | seed | validation L1 at step {steps:,} | images/s |", "|---|---:|---:|---:|"]
    for variant, seeds in results.items():
        for seed, r in seeds.items():
            lines.append(f"| {variant} | {seed} | {r['val_l1']:.4f} | {r['img_per_s']:.1f} |")
        vals = [r["val_l1"] for r in seeds.values()]
        lines.append(f"| {variant}: mean | | **{statistics.mean(vals):.4f}** | "
                     f"**{statistics.mean(r['img_per_s'] for r in seeds.values()):.1f}** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, nargs="+", default=[ROOT / "data" / "corpus-art" / "train"])
    ap.add_argument("--val", type=Path, default=ROOT / "data" / "corpus-art" / "val")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "parity")
    ap.add_argument("--write", type=Path, help="Markdown file with the TRAINING-PARITY markers")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    results: dict = {v: {} for v in VARIANTS}
    for seed in args.seeds:
        for variant in VARIANTS:  # alternating: a busy spell slows both recipes alike
            results[variant][seed] = train(args.out, variant, seed, args)
    text = table(results, args.steps)
    print(text)
    if args.write:
        splice(args.write, BEGIN, END, text)
    if args.json:
        folders = [str(p.resolve().relative_to(ROOT)) if p.resolve().is_relative_to(ROOT) else p.name for p in args.train]
        args.json.write_text(json.dumps({"steps": args.steps, "train": folders,
                                         "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
