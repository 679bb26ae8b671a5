#!/usr/bin/env python3
"""Post-hoc logit adjustment of a classification-head checkpoint (a trial; docs/models/manga.md,
"Tried and not kept").

Long-tail learning by logit adjustment (Menon et al. 2021, "Long-tail learning via logit
adjustment"): subtract tau * log(prior) from each colour bin's logit, so that common colours
(grey, beige, yellow) need more evidence than rare ones. Here the prior is the smoothed ab-bin
histogram of training images, mixed with uniform as the training loss mixes it (share ``--mix``),
and the shift is folded into the head's bias, so the adjusted checkpoint runs and exports like
any other::

    python scripts/logit_adjust.py --model src/irodori/models/manga-v0.6 --images data/corpus-art/train \\
        --tau 0.3 --out runs/manga-la0.3
    python scripts/evaluate_paint.py --sets data/eval-paint-val --model runs/manga-la0.3 --limit 40 --no-fd

Val only: never choose ``--tau`` on the test sets.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from irodori.checkpoint import load_generator, resolve_checkpoint  # noqa: E402
from irodori.color import normalize_ab, rgb_to_lab  # noqa: E402
from irodori.data import list_images  # noqa: E402
from irodori.losses import SOFT_SIGMA  # noqa: E402


def bin_prior(images: list[Path], bins: np.ndarray, *, count: int, seed: int = 0) -> np.ndarray:
    """The ab-bin histogram of ``count`` of the ``images`` (each reduced to 96 px), nearest bin,
    smoothed with the soft encoding's Gaussian, as the training loss's prior is -> (K,) float64."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ab = []
    for i in rng.choice(len(images), size=min(count, len(images)), replace=False):
        with Image.open(images[i]) as im:
            im = im.convert("RGB")
            im.thumbnail((96, 96))
            ab.append(normalize_ab(rgb_to_lab(np.asarray(im)).reshape(-1, 3)[:, 1:]))
    ab = np.concatenate(ab)
    nearest = ((ab[:, None, :] - bins[None]) ** 2).sum(-1).argmin(1)
    p = np.bincount(nearest, minlength=len(bins)).astype(np.float64)
    kernel = np.exp(-((bins[:, None, :] - bins[None]) ** 2).sum(-1) / (2 * SOFT_SIGMA**2))
    p = kernel @ (p / p.sum())
    return p / p.sum()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="a checkpoint directory (classification head)")
    ap.add_argument("--images", type=Path, required=True, help="folder of colour training images (the prior)")
    ap.add_argument("--tau", type=float, required=True, help="strength: 0 changes nothing")
    ap.add_argument("--mix", type=float, default=0.1, help="uniform share mixed into the prior")
    ap.add_argument("--count", type=int, default=300, help="images sampled for the prior")
    ap.add_argument("--out", type=Path, required=True, help="the adjusted checkpoint directory (replaced)")
    args = ap.parse_args(argv)
    import torch
    from safetensors.torch import load_file, save_file

    source = resolve_checkpoint(args.model)
    model, _ = load_generator(source)
    if model.config.head != "classification":
        raise SystemExit(f"{args.model}: a regression head has no colour bins to adjust")
    bins = model.ab_bins.numpy()
    p = bin_prior(list_images([args.images]), bins, count=args.count)
    shift = -args.tau * np.log((1.0 - args.mix) * p + args.mix / len(bins))
    shift -= shift.mean()
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(source, args.out)
    for name in ("ema.safetensors", "model.safetensors"):  # whichever load_generator takes
        file = args.out / name
        if file.is_file():
            state = load_file(str(file))
            state["head.bias"] = state["head.bias"] + torch.from_numpy(shift).float()
            save_file(state, str(file))
    meta = json.loads((args.out / "checkpoint.json").read_text())
    meta.pop("sha256", None)  # the weights changed: their recorded digests no longer hold
    (args.out / "checkpoint.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{args.out}: head bias shifted by tau {args.tau} x -log(prior); largest prior bin {p.max():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
