"""Peak memory of colouring a large 16-bit grey scan against its 8-bit twin, whole process.

    python scripts/grey16_memory.py --megapixels 36

Writes the same grey picture as an uncompressed 16-bit TIFF and an 8-bit one (a scan workflow's
usual form), runs ``irodori colorize`` on each in a new process (default model, JPEG out), and
prints each run's wall time and peak resident memory as a Markdown table. Memory beyond the
interpreter and onnxruntime should grow with the decoded input and the output, the same for both
depths (the 16-bit input itself is twice the 8-bit one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def scan(megapixels: float) -> np.ndarray:
    """A smooth grey page with some ink, uint16 (H, W) at 4:3."""
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(megapixels * 1e6 / width))
    x = np.linspace(0.2, 0.9, width, dtype=np.float32)
    page = np.empty((height, width), np.uint16)
    for y0 in range(0, height, 256):  # rows at a time: the script itself stays small
        rows = np.arange(y0, min(height, y0 + 256), dtype=np.float32)[:, None]
        band = x[None, :] * (0.6 + 0.4 * np.cos(rows / 300.0))
        band[:, ::997] = 0.02
        page[y0:y0 + len(rows)] = (band * 65535).astype(np.uint16)
    return page


def run(path: Path, out: Path) -> tuple[float, float]:
    """(wall s, peak RSS MB) of `irodori colorize PATH` in a new process."""
    cmd = [sys.executable, "-m", "irodori.cli", "colorize", str(path), "-o", str(out), "--overwrite", "-q",
           "--format", "jpg", "--max-pixels", str(200_000_000)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=36.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        page = scan(args.megapixels)
        height, width = page.shape
        Image.fromarray(page).save(folder / "scan16.tif")
        Image.fromarray((page >> 8).astype(np.uint8)).save(folder / "scan8.tif")
        del page
        print(f"| input ({width}x{height}, uncompressed TIFF) | wall | peak RSS |\n|---|---:|---:|")
        for name in ("scan8.tif", "scan16.tif"):
            wall, peak = run(folder / name, folder / "out")
            print(f"| {name[4:-4]}-bit grey | {wall:.1f} s | {peak:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
