#!/usr/bin/env python3
"""How long the network's training step takes alone, for decoder variants (docs/BENCHMARKS.md).

The default preset's network (EfficientNet-Lite0 encoder with frozen batch norms, classification
head), a batch of 16 crops of 160 px, channels-last, bfloat16 autocast as training uses it on a
CPU that has it; forward, backward and an AdamW step on random inputs, no data loading. Each
variant changes the decoder (``model.channels``: the width each encoder level is projected to;
``model.dec_blocks``: residual blocks per decoder level). Variants run in turns, so a busy
moment of the machine falls on all of them; the median step of each is printed with its
parameter count::

    python benchmarks/network_step.py --threads 2
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

VARIANTS = {
    "default": {},
    "no decoder residual blocks": {"dec_blocks": (0, 0, 0, 0)},
    "decoder 2/3 as wide": {"channels": (16, 32, 64, 128, 128)},
    "both": {"channels": (16, 32, 64, 128, 128), "dec_blocks": (0, 0, 0, 0)},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per variant and round (after 2 warm-up steps)")
    args = ap.parse_args()
    import torch

    from irodori.model import Generator, GeneratorConfig, freeze_batch_norm
    from irodori.train import cpu_has_bf16

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    bf16 = cpu_has_bf16()  # as training's amp "auto" decides on a CPU
    l = torch.randn(16, 1, 160, 160).contiguous(memory_format=torch.channels_last)
    hints = torch.zeros(16, 3, 160, 160).contiguous(memory_format=torch.channels_last)
    nets, optims = {}, {}
    for name, change in VARIANTS.items():
        net = Generator(GeneratorConfig(encoder="efficientnet-lite0", head="classification", **change)).train()
        freeze_batch_norm(net.encoder)
        nets[name] = net.to(memory_format=torch.channels_last)
        optims[name] = torch.optim.AdamW(net.parameters(), 1e-3)

    def step(name: str) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            ab, logits = nets[name](l, hints, return_logits=True)
            loss = logits.float().logsumexp(1).mean() + ab.float().mean()
        loss.backward()
        optims[name].step()
        optims[name].zero_grad(set_to_none=True)

    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name in VARIANTS:
            for _ in range(2):
                step(name)
            for _ in range(args.steps):
                t0 = time.perf_counter()
                step(name)
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["default"])
    print(f"| decoder ({args.threads} threads, {'bfloat16' if bf16 else 'float32'}) | parameters | step of 16 at 160 px "
          "| vs default |")
    print("|---|---:|---:|---:|")
    for name in VARIANTS:
        ms = statistics.median(times[name])
        params = sum(p.numel() for p in nets[name].parameters())
        print(f"| {name} | {params:,} | {1000 * ms:.0f} ms | {base / ms:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
