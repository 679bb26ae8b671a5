#!/usr/bin/env python3
"""Retrain only a paint model's lightness head on frozen features: the page head (``l_head``)
or the line-art head (``l_head_line_art``, grown as a copy of the page head where the model has
none), one 3x3 convolution each (433 weights). This made `manga` v0.6 from v0.5
(docs/models/manga.md), and probes what the L loss alone changes.

Everything else stays as it is (weights, batch norms in eval mode), so nothing but that layer
moves. The samples are the model's own training data (its checkpoint's ``config.data``, changed
with ``--data``), drawn from step 100,000 of the sampler on, beyond the steps it trained on; the
learning rate follows a cosine from ``--lr`` to 0. ``--loss l2`` fits the mean lightness, which
PSNR rewards (the model's training used an L1, fitted by a median). Writes a checkpoint folder
``--out`` that ``--model`` accepts anywhere. v0.6, from v0.5's weights (in the repository's
history, see the card) in ``V05``::

    python scripts/probe_l_head.py --model V05 --out runs/lprobe-pages --loss l2 --steps 600 --lr 3e-4 \
        --crop 256 --scale-min 1.0 --batch 8 --data paint_prob=1.0 --data lineart_share=0 --data 'pair_dirs=[]'
    python scripts/probe_l_head.py --model runs/lprobe-pages --head line-art --out runs/manga-heads --loss l2 \
        --steps 600 --lr 3e-4 --crop 256 --scale-min 1.0 --batch 8 --data paint_prob=0.8 \
        --data lineart_share=0.3 --data 'pair_dirs=["data/pairs/openmoji"]'
    python scripts/evaluate_paint.py --sets data/eval-paint-val --no-fd --model runs/manga-heads
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from irodori.registry import get  # noqa: E402  (numpy only: the script's help needs no torch)

LOSSES = ("l1", "l2")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "src/irodori/models" / get("manga").weights_dir,
                    help="a paint model's checkpoint or run folder (default: the shipped manga's)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--head", choices=("page", "line-art"), default="page",
                    help="the head trained: the page head (l_head) or the line-art head (l_head_line_art, "
                    "grown as a copy of l_head where the model has none)")
    ap.add_argument("--loss", choices=LOSSES, default="l2")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crop", type=int, help="the crops' side in px (default: the model's data.crop_size)")
    ap.add_argument("--scale-min", type=float, help="the smallest crop as a share of an image's short side "
                    "(default: the model's data.scale_min; 1 = the whole short side)")
    ap.add_argument("--batch", type=int, help="default: the model's batch_size")
    ap.add_argument("--data", action="append", default=[], metavar="KEY=JSON",
                    help="a data setting of the model's config replaced, its value JSON (repeatable): "
                    "--data paint_prob=1.0 --data lineart_share=0 --data 'pair_dirs=[]' trains on pages alone")
    args = ap.parse_args(argv)

    import torch
    from torch.utils.data import DataLoader

    from irodori import train as training
    from irodori.checkpoint import load_generator, resolve_checkpoint, save_checkpoint
    from irodori.config import config_from_dict
    from irodori.data import StepSampler
    from irodori.model import grow_line_art_head

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    meta = json.loads((resolve_checkpoint(args.model) / "checkpoint.json").read_text())  # a run's latest too
    data = meta["config"]["data"]
    data.update({k: v for k, v in (("crop_size", args.crop), ("scale_min", args.scale_min)) if v is not None})
    for item in args.data:
        key, _, value = item.partition("=")
        if key not in data:
            ap.error(f"--data {key}: no such data setting (the model's: {', '.join(sorted(data))})")
        data[key] = json.loads(value)
    if args.batch:
        meta["config"]["batch_size"] = args.batch
    cfg = config_from_dict(meta["config"])
    train_set, _, manifest = training._datasets(cfg, dry_run=False, is_main=True)
    model, _ = load_generator(args.model)
    if not model.config.paint:
        ap.error(f"{args.model} is not a paint model (it has no lightness head)")
    line_art = args.head == "line-art"
    if line_art and not model.config.line_art_head:
        model = grow_line_art_head(model)
        meta["config"]["model"]["line_art_head"] = True
    head = model.l_head_line_art if line_art else model.l_head
    model.eval().requires_grad_(False)
    head.requires_grad_(True)
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
    sampler = StepSampler(len(train_set), batch_size=cfg.batch_size, seed=cfg.seed + 7, start_step=100_000)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=1, prefetch_factor=4)
    start, seen = time.perf_counter(), []
    for step, batch in zip(range(1, args.steps + 1), loader):
        l, hints = (batch[k].contiguous(memory_format=torch.channels_last) for k in ("l", "hints"))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, l_paint = model(l, hints, return_l=True, line_art=line_art)
        error = torch.minimum(l_paint.float(), batch["l_ink"]) - batch["l_true"]
        loss = error.pow(2).mean() if args.loss == "l2" else error.abs().mean()
        for group in optimizer.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / args.steps))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen.append((error.abs().mean().item(), error.pow(2).mean().item()))
        if step % 50 == 0:
            l1, l2 = (sum(s[i] for s in seen) / len(seen) for i in (0, 1))
            print(f"step {step}: L1 {l1:.4f}, squared {l2:.5f} (last 50 batches), {time.perf_counter() - start:.0f} s",
                  flush=True)
            seen.clear()
    save_checkpoint(args.out, model=model, step=int(meta["step"]) + args.steps, config=meta["config"],
                    data_manifest_sha256=manifest, keep=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
