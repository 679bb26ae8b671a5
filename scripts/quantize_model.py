"""Make the int8 variant of a shipped model and measure what it costs and gains.

Static int8 quantisation with onnxruntime (QDQ format, per-channel int8 weights, uint8
activations), calibrated on the inputs of the validation evaluation sets (data/eval-val: grey
photos and manga pages, `scripts/build_corpus.py --eval-split val`) run at the sizes the
pipeline runs them at: `general` on both kinds, `manga` on manga pages. Then, on the model's
held-out evaluation set(s), the `irodori evaluate` figures for both models, and the network's
median latency for both at 256x256 and at a manga page's network size (352x512). Writes:

- src/irodori/models/<onnx stem>-int8.onnx, and its sha256 into irodori/registry.py
- docs/models/<name>-int8-quant.json, and the table between the QUANT markers of
  docs/models/<name>-int8.md

    python scripts/quantize_model.py --model general   # needs the train extra (onnx) and data/eval*
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from docsplice import splice

from irodori.colorizer import load_colorizer
from irodori.evaluate import evaluate_folder
from irodori.imageio import lightness_of, open_image
from irodori.quantize import quantize
from irodori.registry import get, models_dir, sha256_file, shipped_onnx_path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- QUANT:BEGIN (scripts/quantize_model.py) -->", "<!-- QUANT:END -->"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
# Per model: the evaluation sets its int8 copy is calibrated on (from data/eval-val) and scored on
# (from data/eval).
SETS = {"general": ("photos", "manga"), "manga": ("manga",)}


def network_inputs(files: list[Path], model: str) -> list[dict[str, np.ndarray]]:
    """The (l, hints) the pipeline would feed the network for each file (hints empty)."""
    colorizer = load_colorizer(model)
    feeds = []
    for path in files:
        l_in, hints, _ = colorizer.network_inputs(lightness_of(open_image(path))[0])
        feeds.append({"l": l_in, "hints": hints})
    return feeds


def model_bytes(path: Path) -> int:
    """An ONNX model's bytes on disk: its file and the files its external data is read from (a
    shipped float model reads its weights from its model.safetensors)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    files = {entry.value for t in graph.initializer for entry in t.external_data if entry.key == "location"}
    return path.stat().st_size + sum((path.parent / f).stat().st_size for f in files)


def network_ms(path: Path, height: int, width: int, *, threads: int, runs: int = 30) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    channels = session.get_inputs()[1].shape[1]  # 3, or 4 for a model that takes hints' lightness
    feed = {"l": np.random.default_rng(0).uniform(-1, 1, (1, 1, height, width)).astype(np.float32),
            "hints": np.zeros((1, channels if isinstance(channels, int) else 3, height, width), np.float32)}
    for _ in range(5):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def quant_table(results: dict, model: str) -> str:
    """The card's table from the results JSON (docs/models/<model>-int8-quant.json)."""
    f32, i8 = results["float32"], results["int8"]
    lines = [f"Network latency: median of 30 runs on {results['threads']} threads; quality on the held-out "
             "evaluation set(s) (`data/eval`).", "",
             "| | size | network 256x256 | network 352x512 |", "|---|---:|---:|---:|",
             f"| float32 (`{model}`) | {f32['size_mb']:.1f} MB | {f32['ms_256']:.1f} ms | {f32['ms_page']:.1f} ms |",
             f"| int8 (`{model}-int8`) | {i8['size_mb']:.1f} MB | {i8['ms_256']:.1f} ms | {i8['ms_page']:.1f} ms |",
             f"| change | | {f32['ms_256'] / i8['ms_256']:.1f}x faster | {f32['ms_page'] / i8['ms_page']:.1f}x faster |",
             "", "| set | images | PSNR float32 | PSNR int8 | CF float32 | CF int8 |", "|---|---:|---:|---:|---:|---:|"]
    for set_name, r in results["sets"].items():
        lines.append(f"| {set_name} | {r['images']} | {r['float32']['psnr']:.2f} | {r['int8']['psnr']:.2f} "
                     f"| {r['float32']['colorfulness']:.1f} | {r['int8']['colorfulness']:.1f} |")
    return "\n".join(lines)


def record_sha256(model: str, sha: str) -> bool:
    """Write the int8 copy's sha256 into irodori/registry.py (``_int8_copy(_<MODEL>, onnx_sha256=...)``);
    False when the registry has no int8 copy of ``model``."""
    registry = REPO / "src" / "irodori" / "registry.py"
    pattern = rf'(_int8_copy\(\s*_{re.escape(model.upper())},\s*onnx_sha256=")[0-9a-f]*(")'
    text, count = re.subn(pattern, rf"\g<1>{sha}\g<2>", registry.read_text())
    if count != 1:
        return False
    registry.write_text(text)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general")
    parser.add_argument("--eval-dir", default=str(REPO / "data" / "eval"))
    parser.add_argument("--val-dir", default=str(REPO / "data" / "eval-val"))
    parser.add_argument("--calibration-images", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)

    info = get(args.model)
    src = shipped_onnx_path(args.model)
    dst = models_dir() / f"{Path(info.onnx).stem}-int8.onnx"
    sets = SETS.get(args.model, ("photos", "manga"))
    eval_dir, val_dir = Path(args.eval_dir), Path(args.val_dir)
    if not all((eval_dir / s).is_dir() and (val_dir / s).is_dir() for s in sets):
        print(f"no evaluation sets in {eval_dir} and {val_dir}: run `make corpus-full` and "
              "`scripts/build_corpus.py --eval-split val` first", file=sys.stderr)
        return 1
    per_set = args.calibration_images // len(sets)
    calibration_files = []
    for set_name in sets:
        files = sorted((val_dir / set_name / "input").iterdir())
        calibration_files += files[:: max(1, len(files) // per_set)][:per_set]
    calibration = network_inputs(calibration_files, args.model)
    quantize(src, dst, calibration)
    sha = sha256_file(dst)
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB, sha256 {sha})")
    if not record_sha256(args.model, sha):
        print(f"no _int8_copy of {args.model!r} in irodori/registry.py: add one with this sha256", file=sys.stderr)

    results = {"threads": args.threads, "calibration_images": len(calibration), "sets": {}}
    for label, model, path in (("float32", args.model, src), ("int8", str(dst), dst)):
        results[label] = {"file": path.name, "size_mb": round(model_bytes(path) / 1e6, 2),
                          "ms_256": network_ms(path, 256, 256, threads=args.threads),
                          "ms_page": network_ms(path, 512, 352, threads=args.threads)}
        for set_name in sets:
            scores = evaluate_folder(model, eval_dir / set_name, fd=False, progress=False)
            results["sets"].setdefault(set_name, {"images": scores["images"]})[label] = {
                "psnr": scores["prediction"]["psnr"], "colorfulness": scores["prediction"]["colorfulness"],
                "cf_truth": scores["truth"]["colorfulness"]}
    (REPO / "docs" / "models" / f"{args.model}-int8-quant.json").write_text(json.dumps(results, indent=2) + "\n")

    table = quant_table(results, args.model)
    print(table)
    card = REPO / "docs" / "models" / f"{args.model}-int8.md"
    if card.exists():
        splice(card, BEGIN, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
