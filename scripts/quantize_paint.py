"""Make the int8 copy of the paint model (`manga`), calibrated on paint inputs.

`scripts/quantize_model.py` calibrates on the tint evaluation sets of `make corpus-full`; the
paint model sees black-and-white pages, so its copy is calibrated on 32 inputs of the paint
validation sets (`data/eval-paint-val`: 20 pages, 8 OpenMoji line art, 4 cartoons; `make
corpus-art`) with the same quantiser (`irodori.quantize.quantize`: static QDQ, per-channel int8
weights, uint8 activations, the temperature input exposed again). Writes
src/irodori/models/<manga onnx stem>-int8.onnx and its sha256 into irodori/registry.py, and prints
the network's median latency for both at a page's network size. Compare their colours with
`scripts/evaluate_paint.py --sets data/eval-paint-val --model manga` and `--model manga-int8`.

    python scripts/quantize_paint.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from quantize_model import network_inputs, network_ms, record_sha256

from irodori.quantize import quantize
from irodori.registry import models_dir, sha256_file, shipped_onnx_path

REPO = Path(__file__).resolve().parents[1]


def calibration_files(val: Path) -> list[Path]:
    pick = {"pages": (4, 20), "openmoji": (7, 8), "cartoons": (1, 4)}  # set -> (every k-th, at most n)
    files: list[Path] = []
    for name, (step, count) in pick.items():
        files += sorted((val / name / "input").glob("*.png"))[::step][:count]
    return files


def main() -> int:
    files = calibration_files(REPO / "data" / "eval-paint-val")
    if not files:
        print("no paint validation sets in data/eval-paint-val: run `make corpus-art` first", file=sys.stderr)
        return 1
    src = shipped_onnx_path("manga")
    dst = models_dir() / f"{src.stem}-int8.onnx"
    quantize(src, dst, network_inputs(files, "manga"))
    sha = sha256_file(dst)
    if not record_sha256("manga", sha):
        print(f"add _int8_copy(_MANGA, onnx_sha256=...) to the registry, sha256 {sha}", file=sys.stderr)
    print(f"{dst.name}: {dst.stat().st_size / 1e6:.1f} MB, sha256 {sha}, calibrated on {len(files)} inputs")
    for path in (src, dst):
        print(f"{path.name}: network at 352x512 {network_ms(path, 512, 352, threads=2):.1f} ms (2 threads, median of 30)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
