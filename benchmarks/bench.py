"""Every figure of docs/BENCHMARKS.md, measured on this machine (run by `make bench`).

Each figure is a median over repeated runs after a warm-up, except where a row says "once".
Sections:

1. Per image: `irodori colorize` as a whole process (wall time and peak RSS, start-up and model
   load included) and in process (decode, colouring, encode + write, and their sum, with the
   process's peak RSS), for a 256x256 image, a 780x1200 manga page, an A4 scan at 300 dpi
   (2480x3508) and a 24-megapixel photo (6000x4000); a 100-megapixel scan once, whole process.
   The I/O floor is decode + encode + write with no colouring at all.
2. Folder throughput on 50 pages: the sequential loop, the threaded folder mode, the I/O floor.
3. Start-up: `irodori --help`, loading the model, the first image of a batch.
4. The network alone, float32 and int8, and the peer networks of Zhang et al. (ECCV16,
   SIGGRAPH17; random weights, speed only) at the same sizes, with ratios.
5. Training throughput (images/s) of the default recipe on the CPU, before and now side by side
   (`--only training` runs this section alone), and on a GPU if one is here.
6. PNG encoding: time and bytes per zlib level (and other encoders when installed), on the
   examples and their colourings; `--only png` runs this section alone.

Inputs are made from examples/ (public domain): the manga page resized to each page size and
saved as 8-bit grey PNG; the hills photo resized to 6000x4000 and saved as grey JPEG (quality 90).
Pages are written as PNG (compress level 6), photos as JPEG (quality 95), as a user would.

    python benchmarks/bench.py --write docs/BENCHMARKS.md      # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from irodori.registry import DEFAULT_MODEL

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_ms  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BENCH:BEGIN (benchmarks/bench.py) -->", "<!-- BENCH:END -->"
PEER_SIZES = [(256, 256), (512, 352)]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# -- inputs -------------------------------------------------------------------------------------
def cpu_flags() -> str:
    """Whether this CPU has VNNI (int8 dot products: the int8 models run faster with it)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "flags unknown"
    vnni = sorted(flag for flag in flags if "vnni" in flag)
    return ("VNNI: " + ", ".join(vnni)) if vnni else "no VNNI: " + ("AVX-512" if "avx512f" in flags else "AVX2")


def make_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (input file, output format)."""
    page = Image.open(REPO / "examples" / "manga_page.png").convert("L")
    photo = Image.open(REPO / "examples" / "photo_hills.png").convert("L")
    made = {}
    for name, (w, h) in {"256x256": (256, 256), "page 780x1200": (780, 1200), "A4 300 dpi 2480x3508": (2480, 3508)}.items():
        path = folder / f"{name.split()[0]}.png"
        ImageOps.fit(page, (w, h), Image.LANCZOS).save(path, compress_level=6)
        made[name] = (path, "png")
    path = folder / "photo24mp.jpg"
    photo.resize((6000, 4000), Image.BICUBIC).save(path, quality=90)
    made["photo 24 MP 6000x4000"] = (path, "jpg")
    return made


def make_pages(folder: Path, source: Path, n: int = 50) -> list[Path]:
    page = Image.open(source)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = ImageOps.mirror(page) if i % 2 else page
        path = folder / f"page_{i:03d}.png"
        (img.rotate(180) if i % 4 >= 2 else img).save(path, compress_level=6)
        paths.append(path)
    return paths


# -- 1. per image -------------------------------------------------------------------------------
def whole_process(path: Path, fmt: str, out: Path, *, runs: int, extra: tuple[str, ...] = ()) -> tuple[float, float]:
    """Median wall ms and max peak RSS (MB) of `irodori colorize` in a new process."""
    cmd = [sys.executable, "-m", "irodori.cli", "colorize", str(path), "-o", str(out), "--overwrite", "-q",
           "--format", fmt, *extra]
    times, peaks = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - t0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
        proc.stderr.close()
        peaks.append(usage.ru_maxrss / 1024)
    return 1000 * statistics.median(times), max(peaks)


def bench_references(colorizer, path: str, count: int, *, kind: str = "same") -> list:
    """``count`` colour references for the page at ``path``, up to 4. ``same``: the page coloured
    by the colorizer, mirrored, and its top and bottom halves (the same art, another layout:
    its colours are copied, aligned, the most work a reference gives); ``other``: the other
    example images coloured (a tiger, a city, hills) and the tiger mirrored (a reference of
    other art: hints where cells match, no copy)."""
    from PIL import ImageOps

    if kind == "other":
        others = [colorizer.colorize(REPO / "examples" / name)
                  for name in ("cartoon_tiger.png", "photo_city.png", "photo_hills.png")]
        return [*others, ImageOps.mirror(others[0])][:count]
    page = colorizer.colorize(path)
    half = page.height // 2
    return [page, ImageOps.mirror(page), page.crop((0, 0, page.width, half)),
            page.crop((0, half, page.width, page.height))][:count]


def in_process_child(path: str, fmt: str, runs: int, threads: int, *, model: str = DEFAULT_MODEL,
                     mode: str = "tint", references: int = 0, reference_kind: str = "same") -> dict:
    """Run in a fresh process (see --child): time the stages, report the process's peak RSS.
    ``references``: colour every run after that many references, analysed once beforehand, and
    in turns with each the same page without them (``paired_added``: the median of the with /
    without ratios of end-to-end time, less 1; steadier than two rows from two processes, as
    this machine's speed drifts by 10-30 % between runs)."""
    from irodori.colorizer import load_colorizer

    out = Path(tempfile.mkdtemp()) / f"out.{fmt}"
    t0 = time.perf_counter()
    plain = colorizer = load_colorizer(model, threads=threads, mode=mode)
    load_ms = 1000 * (time.perf_counter() - t0)
    analyse_ms = 0.0
    if references:
        refs = bench_references(colorizer, path, references, kind=reference_kind)
        t0 = time.perf_counter()
        colorizer = colorizer.with_references(refs)
        analyse_ms = 1000 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    _timed_page(colorizer, path, fmt, out)
    first_ms = 1000 * (time.perf_counter() - t0)
    stages: dict[str, list[float]] = {"decode": [], "colour": [], "encode+write": []}
    ratios = []
    for _ in range(runs):
        without = sum(_timed_page(plain, path, fmt, out)) if references else None
        for key, ms in zip(stages, _timed_page(colorizer, path, fmt, out)):
            stages[key].append(ms)
        if without is not None:
            ratios.append(sum(stages[key][-1] for key in stages) / without)
    totals = [sum(v) for v in zip(*stages.values())]
    shutil.rmtree(out.parent)
    return {
        "load_ms": load_ms, "first_ms": first_ms, "analyse_ms": analyse_ms,
        **{f"{k}_ms": statistics.median(v) for k, v in stages.items()},
        "total_ms": statistics.median(totals),
        **({"paired_added": statistics.median(ratios) - 1.0} if ratios else {}),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _timed_page(colorizer, path: str, fmt: str, out: Path) -> tuple[float, float, float]:
    """Decode, colour, encode and write one page: the three stages' ms."""
    from irodori.imageio import encode, open_image, write_atomic

    t0 = time.perf_counter()
    img = open_image(path)
    t1 = time.perf_counter()
    coloured = colorizer.colorize(img)
    t2 = time.perf_counter()
    write_atomic(out, encode(coloured, fmt))
    t3 = time.perf_counter()
    return 1000 * (t1 - t0), 1000 * (t2 - t1), 1000 * (t3 - t2)


def in_process(path: Path, fmt: str, *, runs: int, threads: int, model: str = DEFAULT_MODEL,
               mode: str = "tint", references: int = 0, reference_kind: str = "same") -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), "--child-format", fmt, "--child-runs", str(runs),
           "--threads", str(threads), "--child-model", model, "--child-mode", mode,
           "--child-references", str(references), "--child-reference-kind", reference_kind]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def per_image(inputs: dict[str, tuple[Path, str]], work: Path, threads: int) -> list[dict]:
    rows = []
    for name, (path, fmt) in inputs.items():
        with Image.open(path) as img:
            small = img.width * img.height < 4_000_000
        runs = 10 if small else 3
        inproc = in_process(path, fmt, runs=runs, threads=threads)
        wall, peak = whole_process(path, fmt, work / "out", runs=5 if small else 3)
        rows.append({"name": name, "format": fmt, "whole_ms": wall, "whole_rss_mb": peak, **inproc})
        print(f"  {name}: {inproc['total_ms']:.0f} ms in process, {wall:.0f} ms whole process", file=sys.stderr)
    return rows


def huge_scan(work: Path) -> dict:
    """A 100-megapixel grey scan, whole process, once, with the pixel limit raised."""
    path = work / "scan100mp.jpg"
    base = Image.open(REPO / "examples" / "manga_page.png").convert("L")
    ImageOps.fit(base, (10000, 10000), Image.BICUBIC).save(path, quality=90)
    wall, peak = whole_process(path, "jpg", work / "out", runs=1, extra=("--max-pixels", "100000000"))
    path.unlink()
    return {"whole_ms": wall, "whole_rss_mb": peak}


# -- 2. folder throughput -----------------------------------------------------------------------
def folder_throughput(pages: list[Path], work: Path, threads: int) -> dict:
    from irodori.batch import Job, colorize_jobs
    from irodori.colorizer import load_colorizer
    from irodori.imageio import encode, open_image, write_atomic

    def jobs(tag: str) -> list[Job]:
        shutil.rmtree(work / tag, ignore_errors=True)
        return [Job(p, work / tag / p.name) for p in pages]

    result = {"pages": len(pages)}
    sequential = load_colorizer(DEFAULT_MODEL, threads=threads)  # every core on one image at a time
    sequential.colorize(pages[0])
    todo = jobs("seq")
    t0 = time.perf_counter()
    colorize_jobs(sequential, todo, fmt="png", threads=1)
    result["sequential"] = len(pages) / (time.perf_counter() - t0)
    threaded = load_colorizer(DEFAULT_MODEL, threads=1)  # what the CLI does for a folder
    threaded.workers = 1
    threaded.colorize(pages[0])
    todo = jobs("thr")
    t0 = time.perf_counter()
    colorize_jobs(threaded, todo, fmt="png", threads=threads)
    result["threaded"] = len(pages) / (time.perf_counter() - t0)
    floor_dir = work / "floor"
    floor_dir.mkdir(exist_ok=True)
    coloured = Image.open(work / "thr" / pages[0].name).convert("RGB")  # an output-like image to encode
    t0 = time.perf_counter()
    for p in pages:
        open_image(p)
        write_atomic(floor_dir / p.name, encode(coloured, "png"))
    result["floor"] = len(pages) / (time.perf_counter() - t0)
    for key, mode in (("cli", "tint"), ("cli_auto", "auto")):  # auto paints these B&W pages
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "irodori.cli", "colorize", str(pages[0].parent), "-o", str(work / key),
                        "--overwrite", "-q", "--threads", str(threads), "--mode", mode], check=True, capture_output=True)
        result[key] = len(pages) / (time.perf_counter() - t0)
    chapter = work / "chapter.cbz"  # the same pages as one comic book archive
    with zipfile.ZipFile(chapter, "w") as archive:
        for p in pages:
            archive.write(p, p.name)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "irodori.cli", "colorize", str(chapter), "-o", str(work / "cbz"),
                    "--overwrite", "-q", "--threads", str(threads), "--mode", "tint"], check=True, capture_output=True)
    result["cbz"] = len(pages) / (time.perf_counter() - t0)
    return result


def report_folder(f: dict, threads: int) -> list[str]:
    lines = ["| mode | pages/s | vs sequential |", "|---|---:|---:|"]
    for key, label in (("sequential", "sequential loop (every thread on one image at a time)"),
                       ("threaded", f"threaded folder mode ({threads} images at once; the CLI's default)"),
                       ("cli", "`irodori colorize DIR -o OUT --mode tint` as a whole process (start-up included)"),
                       ("cbz", "`irodori colorize CHAPTER.cbz -o OUT --mode tint`: the same pages in one archive"),
                       ("cli_auto", "`irodori colorize DIR -o OUT` (auto: these B&W pages are painted, `manga-int8`)"),
                       ("floor", "I/O floor: decode + encode + write, no colouring")):
        if key in f:
            lines.append(f"| {label} | {f[key]:.2f} | {f[key] / f['sequential']:.2f}x |")
    return lines


# -- 3. start-up --------------------------------------------------------------------------------
def help_ms() -> float:
    def run():
        subprocess.run([sys.executable, "-m", "irodori.cli", "--help"], check=True, capture_output=True)

    return median_ms(run, warmup=1, runs=7)


# -- 4. networks and peers ----------------------------------------------------------------------
def network_latencies(threads: int) -> dict:
    from irodori.colorizer import OnnxBackend
    from irodori.registry import shipped_onnx_path

    rng = np.random.default_rng(0)
    result = {}
    for model in ("general", "general-int8"):
        backend = OnnxBackend(shipped_onnx_path(model), threads=threads)
        for h, w in PEER_SIZES:
            l = rng.uniform(-1, 1, (1, 1, h, w)).astype(np.float32)
            hints = np.zeros((1, 3, h, w), np.float32)
            result[f"{model} onnxruntime {h}x{w}"] = median_ms(lambda: backend.run(l, hints), warmup=5, runs=30)
    return result


def torch_latencies(threads: int) -> dict:
    """irodori's network in eager PyTorch (the peers' runtime), and the peers themselves."""
    try:
        import torch

        from bench_peers import peer_latencies, peer_param_counts
    except ImportError as exc:
        print(f"  peers skipped: {exc}", file=sys.stderr)
        return {}
    from irodori.checkpoint import load_generator
    from irodori.registry import resolve_init_weights

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    model, _ = load_generator(resolve_init_weights("general"))
    model.eval()
    result = {}
    for h, w in PEER_SIZES:
        l, hints = torch.zeros(1, 1, h, w), torch.zeros(1, 3, h, w)
        with torch.inference_mode():
            result[f"irodori torch {h}x{w}"] = median_ms(lambda: model(l, hints), warmup=3, runs=15)
    torch.set_num_threads(previous)
    for name, by_size in peer_latencies(PEER_SIZES, threads=threads).items():
        for (h, w), ms in by_size.items():
            result[f"{name} torch {h}x{w}"] = ms
    result["params"] = {**peer_param_counts(), "irodori": sum(p.numel() for p in model.parameters())}
    return result


# -- 5. training --------------------------------------------------------------------------------
# The recipe as trained before issue 18 (every sample decoded from its file, float32 on every CPU,
# the encoder's batch norms trained, torch's thread per core) against today's defaults (images
# decoded once and cached reduced, bf16 autocast on CPUs with bf16 units with depthwise
# convolutions kept float32, the encoder's batch norms frozen and folded into its convolutions);
# both have the cheaper soft-encoding loss and torch's thread per core.
TRAINING_VARIANTS = {"before (data.cache_mb=0, amp=off, encoder_bn=train, a thread per core)":
                     ["--data.cache_mb=0", "--amp=off", "--encoder_bn=train", f"--threads={os.cpu_count()}"],
                     "now (defaults)": []}


def training_throughput(work: Path, *, rounds: int = 2, steps: int = 30) -> dict:
    """Images/s of the default recipe on 64 synthetic colour images (data loading included), from
    each run's log.csv (the first window, with warm-up, dropped): on the CPU each of
    TRAINING_VARIANTS, run alternately ``rounds`` times so a busy machine slows both alike, the
    median of their windows; on a GPU, today's defaults once -> {device or "cpu: VARIANT": img/s}."""
    try:
        import torch
    except ImportError:
        return {}
    import csv

    rng = np.random.default_rng(0)
    folder = work / "train-images"
    folder.mkdir(exist_ok=True)
    for i in range(64):
        yy, xx = np.mgrid[0:256, 0:256]
        rgb = np.stack([(xx * (i + 1) + yy) % 256, (yy * 2 + i * 9) % 256, (xx + yy * 3) % 256], -1)
        rgb = (rgb * rng.uniform(0.5, 1.0, 3)).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"img_{i:02d}.png")
    runs = [(f"cpu: {name}", "cpu", extra) for _ in range(rounds) for name, extra in TRAINING_VARIANTS.items()]
    if torch.cuda.is_available():
        runs.append(("cuda", "cuda", []))
    speeds: dict[str, list[float]] = {}
    for n, (label, device, extra) in enumerate(runs):
        out = work / f"train-{n}"
        cmd = [sys.executable, "-m", "irodori.cli", "train", str(folder), "--preset", "default", "--out", str(out),
               "-q", f"--steps={steps}", "--log_every=10", "--val_every=100000", "--checkpoint_every=100000",
               f"--device={device}", *extra]
        subprocess.run(cmd, check=True, capture_output=True)
        with open(out / "log.csv") as f:
            window = [float(r["img_per_s"]) for r in csv.DictReader(f) if r.get("img_per_s")]
        speeds.setdefault(label, []).extend(window[1:] or window)
    return {label: statistics.median(v) for label, v in speeds.items()}


def report_training(training: dict) -> list[str]:
    lines = ["", "### Training throughput (default recipe: crop 160, batch 16, classification head)", "",
             "Each CPU variant run twice, alternately, in the same bench run (`python benchmarks/bench.py --only "
             "training` measures this section alone).", "", "| device | images/s | vs before |", "|---|---:|---:|"]
    before = next((v for k, v in training.items() if k.startswith("cpu: before")), None)
    for device, speed in training.items():
        ratio = f"{speed / before:.2f}x" if before and device.startswith("cpu") else ""
        lines.append(f"| {device} | {speed:.1f} | {ratio} |")
    if "cuda" not in training:
        lines.append("| GPU | not measured: no GPU on this machine | |")
    return lines


# -- paint mode: a B&W page painted end to end -------------------------------------------------
def paint_rows(work: Path, threads: int) -> list[dict]:
    """The example page at 780x1200 as a B&W page: tinted by the default model and painted by
    the paint model, each in a fresh process, against the I/O floor; and each again after 4
    colour references (docs/REFERENCE.md), analysed once before the timed runs: of its own
    drawing (copied) and of other art (:func:`bench_references`)."""
    from irodori.registry import DEFAULT_PAINT_MODEL

    path, fmt = make_inputs(work)["page 780x1200"]
    rows = []
    for label, model, mode in (("tint", DEFAULT_MODEL, "tint"), ("paint", DEFAULT_PAINT_MODEL, "paint")):
        for refs, kind in ((0, "same"), (4, "same"), (4, "other")):
            name = f"{label} ({model})" + (f", {refs} references" if refs else "")
            name += {"same": " of its drawing", "other": " of other art"}[kind] if refs else ""
            rows.append({"label": name, **in_process(path, fmt, runs=10, threads=threads, model=model, mode=mode,
                                                      references=refs, reference_kind=kind)})
    return rows


def report_paint(rows: list[dict]) -> list[str]:
    lines = ["| 780x1200 page | decode | colouring | encode + write | end to end | I/O floor | end to end / floor "
             "| references: once per run / added per page (against the row without; in turns, one process) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    plain: dict[str, float] = {}
    for r in rows:
        floor = r["decode_ms"] + r["encode+write_ms"]
        base = r["label"].split(",")[0]
        refs = "—"
        if "references" in r["label"]:
            refs = f"{r['analyse_ms']:.0f} ms / +{100 * (r['total_ms'] / plain[base] - 1):.0f} %"
            if "paired_added" in r:
                refs += f"; +{100 * r['paired_added']:.0f} %"
        else:
            plain[base] = r["total_ms"]
        lines.append(f"| {r['label']} | {r['decode_ms']:.0f} ms | {r['colour_ms']:.0f} ms | {r['encode+write_ms']:.0f} ms | "
                     f"{r['total_ms']:.0f} ms | {floor:.0f} ms | {r['total_ms'] / floor:.2f} | {refs} |")
    return lines


# -- PNG encoding (the floor of a folder of pages) -------------------------------------------------
def png_pages() -> list[tuple[str, np.ndarray]]:
    """Real-looking pages as PNG sees them: each example image as it is (grey or colour), and its
    colouring by the default model (RGB, what `irodori colorize` writes)."""
    from irodori.colorizer import load_colorizer

    colorizer = load_colorizer(DEFAULT_MODEL, threads=1)
    pages = []
    for path in sorted((REPO / "examples").glob("*.png")):
        with Image.open(path) as img:
            img.load()
            pages += [(f"{path.stem} (input)", img.copy()), (f"{path.stem} (coloured)", colorizer.colorize(img))]
    return pages


def png_encoding(runs: int = 5) -> dict:
    """Per PNG encoder and level: the summed median encode time (ms) and bytes of the coloured pages
    and of the inputs. irodori's encode (Pillow, zlib levels 0-9) always; imagecodecs (libpng,
    libspng) and fpng only when installed: none is a dependency."""
    from irodori.imageio import encode

    pages = png_pages()
    encoders = {f"Pillow (irodori) level {level}": (lambda img, level=level: encode(img, "png", compression=level))
                for level in range(10)}
    try:
        import imagecodecs

        for level in (1, 6):
            encoders[f"imagecodecs {imagecodecs.__version__} libpng level {level}"] = (
                lambda img, level=level: imagecodecs.png_encode(np.asarray(img), level=level))
            encoders[f"imagecodecs {imagecodecs.__version__} libspng level {level}"] = (
                lambda img, level=level: imagecodecs.spng_encode(np.asarray(img), level=level))
    except ImportError:
        pass
    try:
        import fpng

        encoders[f"fpng {fpng.__version__} (RGB only: grey sent as RGB)"] = (
            lambda img: fpng.from_ndarray(np.asarray(img if img.mode in ("RGB", "RGBA") else img.convert("RGB"))))
    except ImportError:
        pass
    rows = {}
    for name, fn in encoders.items():
        row = {}
        for kind in ("coloured", "input"):
            chosen = [img for title, img in pages if title.endswith(f"({kind})")]
            row[f"{kind}_ms"] = sum(median_ms(lambda img=img: fn(img), warmup=1, runs=runs) for img in chosen)
            row[f"{kind}_bytes"] = sum(len(fn(img)) for img in chosen)
        rows[name] = row
    sizes = ", ".join(f"{title} {img.size[0]}x{img.size[1]} {img.mode}" for title, img in pages)
    return {"pages": sizes, "rows": rows}


def report_png(png: dict) -> list[str]:
    base = png["rows"]["Pillow (irodori) level 6"]
    lines = ["", "### PNG encoding: time and bytes per compress level", "",
             f"Summed over the examples as they are and coloured by the default model ({png['pages']}); "
             "median of 5 encodes each, one thread. Pixels are identical at every level.", "",
             "| encoder | coloured: time | coloured: bytes | vs level 6 | inputs: time | inputs: bytes | vs level 6 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in png["rows"].items():
        lines.append(f"| {name} | {r['coloured_ms']:.0f} ms | {r['coloured_bytes'] / 1e6:.2f} MB | "
                     f"{r['coloured_bytes'] / base['coloured_bytes']:.2f} | {r['input_ms']:.0f} ms | "
                     f"{r['input_bytes'] / 1e6:.2f} MB | {r['input_bytes'] / base['input_bytes']:.2f} |")
    return lines


# -- report -------------------------------------------------------------------------------------
def report(data: dict) -> str:
    import onnxruntime as ort
    import PIL

    from irodori import __version__

    lines = [
        f"Measured {data['date']} on {cpu_name()}, {data['threads']} threads ({os.cpu_count()} cores visible); "
        f"irodori {__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}, Pillow {PIL.__version__}, "
        f"Python {platform.python_version()}{', torch ' + data['torch_version'] if data.get('torch_version') else ''}. "
        f"Medians after warm-up; the default model (`{DEFAULT_MODEL}`) unless a row says otherwise.",
        "",
        "### Per image",
        "",
        "| input | out | whole process | peak RSS | in process | decode | colouring | encode + write | I/O floor | colouring / floor | in-process peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["per_image"]:
        floor = r["decode_ms"] + r["encode+write_ms"]
        lines.append(
            f"| {r['name']} | {r['format']} | {r['whole_ms']:.0f} ms | {r['whole_rss_mb']:.0f} MB | "
            f"**{r['total_ms']:.0f} ms** | {r['decode_ms']:.0f} ms | {r['colour_ms']:.0f} ms | "
            f"{r['encode+write_ms']:.0f} ms | {floor:.0f} ms | {r['colour_ms'] / floor:.2f} | {r['peak_rss_mb']:.0f} MB |"
        )
    huge = data["huge"]
    lines += [
        f"| scan 100 MP 10000x10000 (once, `--max-pixels 100000000`) | jpg | {huge['whole_ms'] / 1000:.1f} s | "
        f"{huge['whole_rss_mb']:.0f} MB | | | | | | | |",
        "",
        "### Folder of 50 manga pages (780x1200 PNG in, PNG out)",
        "",
        *report_folder(data["folder"], data["threads"]),
    ]
    first = data["per_image"][1]
    lines += [
        "",
        "### Start-up",
        "",
        "| what | time |",
        "|---|---:|",
        f"| `irodori --help` (new process) | {data['help_ms']:.0f} ms |",
        f"| loading the model (hash check + onnxruntime session) | {first['load_ms']:.0f} ms |",
        f"| first page of a batch (after loading; later pages: {first['total_ms']:.0f} ms) | {first['first_ms']:.0f} ms |",
        "",
        "### The network alone, and the peers",
        "",
        "| network | runtime | 256x256 | 352x512 (a page's network size) | ECCV16 / this at 256x256 | at 352x512 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    n, t = data["networks"], data["torch"]
    peers = {k: t.get(f"{k} torch 256x256") for k in ("ECCV16", "SIGGRAPH17")}

    def ratio(peer: str, key: str, size: str) -> str:
        value = t.get(f"{peer} torch {size}")
        return f"{value / key:.0f}x" if value else "n/a"

    for model in ("general", "general-int8"):
        a, b = n[f"{model} onnxruntime 256x256"], n[f"{model} onnxruntime 512x352"]
        lines.append(f"| irodori `{model}` | onnxruntime | {a:.1f} ms | {b:.1f} ms | {ratio('ECCV16', a, '256x256')} | "
                     f"{ratio('ECCV16', b, '512x352')} |")
    if t:
        a, b = t["irodori torch 256x256"], t["irodori torch 512x352"]
        lines.append(f"| irodori `general` | PyTorch eager | {a:.1f} ms | {b:.1f} ms | {ratio('ECCV16', a, '256x256')} | "
                     f"{ratio('ECCV16', b, '512x352')} |")
        for peer in ("ECCV16", "SIGGRAPH17"):
            lines.append(f"| {peer} (Zhang et al., random weights) | PyTorch eager | {peers[peer]:.0f} ms | "
                         f"{t[f'{peer} torch 512x352']:.0f} ms | | |")
        p = t["params"]
        lines += ["", f"Parameters: irodori {p['irodori'] / 1e6:.1f} M, ECCV16 {p['ECCV16'] / 1e6:.1f} M, "
                  f"SIGGRAPH17 {p['SIGGRAPH17'] / 1e6:.1f} M."]
    else:
        lines += ["", "Peers not measured: install the `bench` extra (`pip install -e '.[bench]'`)."]
    lines += report_training(data["training"])
    lines += report_png(data["png"])
    if data.get("paint"):
        lines += ["", "### Paint mode: a 780x1200 B&W page painted end to end", "",
                  "In process, each in a fresh process (`python benchmarks/bench.py --only paint` measures this "
                  "section alone); the target is end to end within 2x the I/O floor.", "",
                  *report_paint(data["paint"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--write", default=None, help="splice the tables into this Markdown file")
    parser.add_argument("--json", default=None, help="also write the raw figures as JSON")
    parser.add_argument("--only", choices=["png", "paint", "training", "folder"], default=None,
                        help="measure one section and print its table (png: encode time and bytes per level; "
                        "paint: a 780x1200 B&W page painted, against its I/O floor)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-format", default="png", help=argparse.SUPPRESS)
    parser.add_argument("--child-runs", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--child-model", default=DEFAULT_MODEL, help=argparse.SUPPRESS)
    parser.add_argument("--child-mode", default="tint", help=argparse.SUPPRESS)
    parser.add_argument("--child-references", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-reference-kind", choices=("same", "other"), default="same", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(in_process_child(args.child, args.child_format, args.child_runs, args.threads,
                                          model=args.child_model, mode=args.child_mode,
                                          references=args.child_references,
                                          reference_kind=args.child_reference_kind)))
        return 0

    if args.only == "paint":
        with tempfile.TemporaryDirectory(prefix="irodori-bench-") as tmp:
            rows = paint_rows(Path(tmp), args.threads)
        print(f"Measured {dt.date.today().isoformat()} on {cpu_name()} by `python benchmarks/bench.py --only paint`.\n")
        print("\n".join(report_paint(rows)))
        return 0
    if args.only == "training":
        with tempfile.TemporaryDirectory(prefix="irodori-bench-") as tmp:
            training = training_throughput(Path(tmp))
        print(f"Measured {dt.date.today().isoformat()} on {cpu_name()} by `python benchmarks/bench.py --only training`.")
        print("\n".join(report_training(training)))
        return 0
    if args.only == "folder":
        with tempfile.TemporaryDirectory(prefix="irodori-bench-") as tmp:
            work = Path(tmp)
            pages = make_pages(work / "pages", make_inputs(work)["page 780x1200"][0])
            folder = folder_throughput(pages, work, args.threads)
        print(f"Measured {dt.date.today().isoformat()} on {cpu_name()} ({cpu_flags()}) by "
              "`python benchmarks/bench.py --only folder`: a folder of 50 780x1200 pages, tinted (`general-int8`).")
        print("\n".join(report_folder(folder, args.threads)))
        return 0
    if args.only == "png":
        print(f"Measured {dt.date.today().isoformat()} on {cpu_name()} by `python benchmarks/bench.py --only png`.")
        print("\n".join(report_png(png_encoding())))
        return 0
    data: dict = {"date": dt.date.today().isoformat(), "threads": args.threads}
    try:
        import torch

        data["torch_version"] = torch.__version__
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="irodori-bench-") as tmp:
        work = Path(tmp)
        print("per image...", file=sys.stderr)
        inputs = make_inputs(work)
        data["per_image"] = per_image(inputs, work, args.threads)
        print("100 MP scan...", file=sys.stderr)
        data["huge"] = huge_scan(work)
        print("folder...", file=sys.stderr)
        pages = make_pages(work / "pages", inputs["page 780x1200"][0])
        data["folder"] = folder_throughput(pages, work, args.threads)
        data["help_ms"] = help_ms()
        print("networks and peers...", file=sys.stderr)
        data["networks"] = network_latencies(args.threads)
        data["torch"] = torch_latencies(args.threads)
        print("training...", file=sys.stderr)
        data["training"] = training_throughput(work)
        print("PNG encoding...", file=sys.stderr)
        data["png"] = png_encoding()
        print("paint mode...", file=sys.stderr)
        data["paint"] = paint_rows(work, args.threads)
    table = report(data)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2, default=str) + "\n")
    if args.write:
        path = Path(args.write)
        text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
        if BEGIN not in text:
            text = re.sub(r"<!-- BENCH:BEGIN .*?-->.*?<!-- BENCH:END -->", f"{BEGIN}\n{END}", text, flags=re.S)
        block = f"{BEGIN}\n{table}\n{END}"
        path.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S))
    return 0


if __name__ == "__main__":
    sys.exit(main())
