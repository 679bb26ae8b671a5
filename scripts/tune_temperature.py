"""Choose the annealed-mean temperature of a classification-head checkpoint on the val split.

    python scripts/tune_temperature.py runs/general --val data/eval-val/photos --out docs/models/general-temperature.md

The temperature T of softmax(logits / T) trades vivid colour (low T) against safe, averaged colour
(T = 1 is the plain mean). It changes no weights, so it is picked after training, on held-out
validation images (never the test split), and then baked into the exported model.

The rule (fixed before looking at any test figure): the T with the highest PSNR among those whose
colourfulness is within 5 of the truth's (ΔCF ≤ 5, the release target); if none is, the T with
the smallest ΔCF.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from irodori.colorizer import Colorizer, TorchBackend
from irodori.evaluate import evaluate_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--val", default="data/eval-val/photos")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.38, 0.45, 0.5, 0.6, 0.7, 0.85, 1.0])
    parser.add_argument("--out", default=None, help="also write the table as Markdown")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    backend = TorchBackend(Path(args.checkpoint))
    if backend.model.config.head != "classification":
        print("only classification-head checkpoints have a temperature", file=sys.stderr)
        return 1
    lines = [f"Annealed-mean temperature on `{args.val}` (checkpoint `{backend.name}`; "
             f"`python scripts/tune_temperature.py`):", "",
             "| T | PSNR (dB) | grayscale PSNR | CF | CF / truth | ΔCF |", "|---:|---:|---:|---:|---:|---:|"]
    scores = {}
    for t in args.temperatures:
        backend.model.config.temperature = t  # read at every forward; no weights change
        result = evaluate_folder(Colorizer(backend), args.val, fd=False, progress=False)
        p, g = result["prediction"], result["grayscale"]
        scores[t] = p
        lines.append(f"| {t:.2f} | {p['psnr']:.2f} | {g['psnr']:.2f} | {p['colorfulness']:.1f} "
                     f"| {p['colorfulness_ratio']:.0%} | {p['delta_cf']:.1f} |")
        print(lines[-1], flush=True)
    within = [t for t in scores if scores[t]["delta_cf"] <= 5]
    if within:
        pick, why = max(within, key=lambda t: scores[t]["psnr"]), "the best PSNR with ΔCF ≤ 5"
    else:
        pick, why = min(scores, key=lambda t: scores[t]["delta_cf"]), "no T has ΔCF ≤ 5: the smallest ΔCF"
    lines += ["", f"Chosen: T = {pick:.2f} ({why})."]
    print(lines[-1])
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
