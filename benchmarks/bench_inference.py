"""CPU inference figures for docs/BENCHMARKS.md (run by `make bench`).

Measures, each as a median over repeated runs after warm-up, on this machine's CPU:
- the network alone in onnxruntime at 256x256 (the default architecture's speed target: <= 30 ms
  on 2 cores), and at the size a 780x1200 manga page is run at;
- the whole in-process pipeline on a 780x1200 page (lightness, resize, network, upsample, merge),
  without and with PNG encoding;
- `irodori --help` as a separate process (start-up cost).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import PIL
from PIL import Image

from irodori import __version__
from irodori.colorizer import OnnxBackend, load_colorizer
from irodori.registry import DEFAULT_MODEL, shipped_onnx_path

BEGIN, END = "<!-- BENCH:BEGIN (benchmarks/bench_inference.py) -->", "<!-- BENCH:END -->"


def median_ms(fn, *, warmup: int, runs: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(threads: int) -> list[tuple[str, str]]:
    path = shipped_onnx_path(DEFAULT_MODEL)
    backend = OnnxBackend(path, threads=threads)
    rows = []
    rng = np.random.default_rng(0)
    for h, w, label in ((256, 256, "network alone, 256x256"), (512, 352, "network alone, 512x352 (a 780x1200 page at max side 512, padded)")):
        l = rng.uniform(-1, 1, (1, 1, h, w)).astype(np.float32)
        hints = np.zeros((1, 3, h, w), np.float32)
        rows.append((label, f"{median_ms(lambda: backend.run(l, hints), warmup=5, runs=40):.1f} ms"))
    colorizer = load_colorizer(DEFAULT_MODEL, threads=threads)
    page = Image.fromarray(rng.integers(0, 256, (1200, 780), dtype=np.uint8), "L")
    rows.append(("pipeline in process, 780x1200 page (no I/O)", f"{median_ms(lambda: colorizer.colorize(page), warmup=2, runs=10):.0f} ms"))

    def with_png():
        buf = io.BytesIO()
        colorizer.colorize(page).save(buf, format="PNG", compress_level=6)

    rows.append(("pipeline + PNG encode, 780x1200 page", f"{median_ms(with_png, warmup=1, runs=5):.0f} ms"))

    def help_cmd():
        subprocess.run([sys.executable, "-m", "irodori.cli", "--help"], check=True, capture_output=True)

    rows.append(("`irodori --help` (new process)", f"{median_ms(help_cmd, warmup=1, runs=5):.0f} ms"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--write", default=None, help="splice the table into this Markdown file")
    args = parser.parse_args(argv)
    rows = run(args.threads)
    header = (
        f"Measured {dt.date.today().isoformat()} on {cpu_name()}, {args.threads} threads "
        f"({os.cpu_count()} cores visible); irodori {__version__}, onnxruntime {ort.__version__}, "
        f"numpy {np.__version__}, Pillow {PIL.__version__}, Python {platform.python_version()}. "
        "Medians after warm-up."
    )
    table = "\n".join([header, "", "| what | median |", "|---|---:|"] + [f"| {a} | {b} |" for a, b in rows])
    print(table)
    if args.write:
        path = Path(args.write)
        text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
        block = f"{BEGIN}\n{table}\n{END}"
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
