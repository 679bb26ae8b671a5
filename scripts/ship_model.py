"""Package a trained checkpoint as a shipped model (maintainers; run after training).

    python scripts/ship_model.py runs/general --name general --version v0.1

Writes into src/irodori/models/:
- <name>-<version>/model.safetensors     the weights for `irodori train --init <name>` (fp16 floats)
- <name>-<version>/checkpoint.json       its architecture, config, step and data hash
- <name>-<version>.onnx                  the exported, checked float32 graph, exported from those
                                         fp16 weights and reading them from model.safetensors as
                                         ONNX external data (one copy of the weights, not two:
                                         the repository must fit a GPU slot's 64 MiB, docs/GPU.md)
and rewrites the two sha256 values of that model in src/irodori/registry.py.

    python scripts/ship_model.py --reexport general

exports a shipped model's .onnx again from its shipped weights (the same colours; new hashes).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from irodori.checkpoint import resolve_checkpoint
from irodori.export import export_onnx
from irodori.registry import sha256_file

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "src" / "irodori" / "models"
MAX_BYTES = 25 * 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", help="checkpoint or run directory")
    parser.add_argument("--name")
    parser.add_argument("--version")
    parser.add_argument("--reexport", metavar="NAME", help="export a shipped model's .onnx again from its weights")
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=None,
                        help="annealed-mean temperature to bake in (chosen by scripts/tune_temperature.py)")
    args = parser.parse_args(argv)
    if args.reexport:
        from irodori.registry import get

        info = get(args.reexport)
        weights_dir = MODELS / info.weights_dir
        return _export_and_record(weights_dir, MODELS / info.onnx, name=info.name, max_side=args.max_side)
    if not (args.checkpoint and args.name and args.version):
        parser.error("give CHECKPOINT --name NAME --version VERSION (or --reexport NAME)")

    ckpt = resolve_checkpoint(args.checkpoint)
    stem = f"{args.name}-{args.version}"
    if args.temperature is not None:
        # The temperature is an architecture argument read at every forward: copy the checkpoint
        # with it changed, so the export and the fine-tuning weights both carry the chosen value.
        tuned = REPO / "build" / f"{stem}-ckpt"
        if tuned.exists():
            shutil.rmtree(tuned)
        shutil.copytree(ckpt, tuned)
        meta = json.loads((tuned / "checkpoint.json").read_text())
        meta["arch"]["temperature"] = args.temperature
        (tuned / "checkpoint.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        ckpt = tuned
    weights_dir = MODELS / stem
    if weights_dir.exists():
        shutil.rmtree(weights_dir)
    weights_dir.mkdir(parents=True)
    state = load_file(str(ckpt / "model.safetensors"))
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    save_file(half, str(weights_dir / "model.safetensors"), metadata={"format": "irodori-checkpoint"})
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    meta["shipped_as"] = {"name": args.name, "version": args.version, "weights_dtype": "float16"}
    # The run's digests are of its float32 weights and training state: record the shipped file's.
    meta["sha256"] = {"model.safetensors": sha256_file(weights_dir / "model.safetensors")}
    (weights_dir / "checkpoint.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return _export_and_record(weights_dir, MODELS / f"{stem}.onnx", name=args.name, max_side=args.max_side)


def _export_and_record(weights_dir: Path, onnx_path: Path, *, name: str, max_side: int) -> int:
    """Export the shipped checkpoint ``weights_dir`` to ``onnx_path`` (its weights read from
    the checkpoint's file), check both sizes and write both hashes into the registry."""
    weights = weights_dir / "model.safetensors"
    report = export_onnx(weights_dir, onnx_path, name=name, max_side=max_side, weights=weights)
    for path in (onnx_path, weights):
        if path.stat().st_size > MAX_BYTES:
            print(f"{path.name} is {path.stat().st_size / 1e6:.1f} MB, over the 25 MB limit", file=sys.stderr)
            return 1
    onnx_sha, weights_sha = sha256_file(onnx_path), sha256_file(weights)

    registry = REPO / "src" / "irodori" / "registry.py"
    text = registry.read_text()
    block = re.search(rf'= ShippedModel\(\n    name="{re.escape(name)}",(.*?)\n\)', text, flags=re.S)
    if block is None:
        print(f"add a ShippedModel(name={name!r}, ...) for MODELS to {registry} first", file=sys.stderr)
        return 1
    body = block.group(1)
    body = re.sub(r'onnx="[^"]*"', f'onnx="{onnx_path.name}"', body)
    body = re.sub(r'onnx_sha256="[^"]*"', f'onnx_sha256="{onnx_sha}"', body)
    body = re.sub(r'weights_dir="[^"]*"', f'weights_dir="{weights_dir.name}"', body)
    body = re.sub(r'weights_sha256="[^"]*"', f'weights_sha256="{weights_sha}"', body)
    registry.write_text(text[: block.start(1)] + body + text[block.end(1) :])
    print(f"{onnx_path.relative_to(REPO)}: {onnx_path.stat().st_size / 1e6:.2f} MB, sha256 {onnx_sha}, "
          f"parity {report['max_abs_err']:.1e}, {report['external']} tensors read from {weights.relative_to(REPO)}")
    print(f"{weights.relative_to(REPO)}: sha256 {weights_sha}")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(2)
    sys.exit(main())
