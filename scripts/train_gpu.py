#!/usr/bin/env python3
"""Train the paint model on a lent GPU in one command, inside the device slot's limits (docs/GPU.md).

    python scripts/train_gpu.py --pack                          # here: data/gpu, sized beside the code
    PYTHONPATH=src python3 scripts/train_gpu.py --out "$OUT"    # there (make train-gpu)
    python scripts/train_gpu.py --dry-run --out DIR             # anywhere, seconds: tiny model, synthetic data

The slot: one command of at most 600 s, a working tree (code + carried data) of at most 64 MiB,
at most 8 files of at most 16 MiB each brought back from OUT. So ``--pack`` re-encodes as much
of the art corpus as fits beside the code (WebP, short side 256 px: crops of 128 px and up)
into one tar shard; the run unpacks it, trains the ``paint`` recipe scaled for an H200 from the
shipped ``manga`` model, stops itself by the wall clock, and exports.

How the run spends its budget (default 510 s, all phases together): a probe of the first steps,
all inside the learning-rate warm-up (so they do not depend on the run's length), measures
images/s; the schedule's length (``steps``) is then set from that rate and the time left, and the
run resumes from the probe's checkpoint with a wall-clock budget (``time_budget_s``) and a
checkpoint every minute (``checkpoint_every_s``). A thread mirrors each new checkpoint's weights,
checkpoint.json and log.csv into OUT as it is written, so a killed run still returns its last
minute's weights. Last: the ONNX export into OUT and a summary, printed last and in summary.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TREE_LIMIT = 64 * 2**20          # bytes of working tree (code + carried data) a device call sends
FILE_LIMIT = 16 * 2**20          # bytes per file brought back from OUT
MAX_FILES = 8                    # files brought back from OUT
PACK_MARGIN = 256 * 2**10        # left free under TREE_LIMIT for small commits between pack and run
EXPORT_RESERVE_S = 30.0          # kept for the export, the copies and the summary
PROBE_STEPS = 60                 # the probe, inside the 200-step warm-up
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")

# The `paint` preset (batch 16, lr 5e-4, 3,000 steps) scaled for one H200: 8x the batch with the
# learning rate by the square-root rule for Adam (5e-4 * sqrt(8) = 1.4e-3), a longer warm-up for
# the larger step, bf16 autocast, crops of at least half of the packed images' 256 px short side
# (the preset's scale_min: 128 px and up, enlarged at most 1.25x), and checkpoints by time.
GPU_RECIPE = {
    "batch_size": 128, "optim": {"lr": 1.4e-3, "warmup_steps": 200}, "data": {"scale_min": 0.5},
    "amp": "bf16", "device": "cuda", "checkpoint_every": 1000, "checkpoint_every_s": 60.0,
    "keep_checkpoints": 2, "val_every": 250, "val_batches": 1, "log_every": 25,
}
# --dry-run: the tiny network with a paint head, from scratch, on the CPU, a handful of steps.
DRY_RECIPE = {
    "model": {"paint": True}, "data": {"paint_prob": 0.8, "manga_prob": 1.0, "workers": 0},
    "loss": {"paint_l1": 1.0}, "batch_size": 4, "optim": {"warmup_steps": 2}, "amp": "off", "device": "cpu",
    "checkpoint_every": 1000, "checkpoint_every_s": 60.0, "keep_checkpoints": 2, "val_every": 4,
    "val_batches": 1, "log_every": 1,
}


# ----------------------------------------------------------------------------------------------
# Here: the data that fits
# ----------------------------------------------------------------------------------------------
def tree_bytes(repo: Path) -> int:
    """Bytes a device call sends of ``repo`` before any carried path: tracked files and untracked
    files git does not ignore (as they are on disk). Raises CalledProcessError outside a checkout."""
    listed = set()
    for extra in ([], ["--others", "--exclude-standard"]):
        out = subprocess.run(["git", "ls-files", "-z", *extra], cwd=repo, check=True, capture_output=True).stdout
        listed.update(name for name in out.decode().split("\0") if name)
    return sum((repo / name).lstat().st_size for name in listed if (repo / name).exists())


def _encode(path: Path, *, short_side: int, quality: int) -> bytes:
    """One image -> WebP bytes, reduced (Lanczos) so its short side is at most ``short_side``."""
    import io

    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    scale = short_side / min(rgb.size)
    if scale < 1:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, "WEBP", quality=quality, method=6)
    return buf.getvalue()


def _images(folder: Path, seed: int) -> list[Path]:
    import numpy as np

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    return [files[i] for i in np.random.default_rng(seed).permutation(len(files))]


def _member_bytes(name: str, data: bytes) -> int:
    """What one file adds to a shard and index.json: a tar header (and a pax header for a long or
    non-ASCII name), the data padded to 512-byte blocks, and its index entry."""
    pax = 1024 if len(name.encode()) > 99 or not name.isascii() else 0
    return 512 + pax + -(-len(data) // 512) * 512 + len(name) + 130


def _write_pack(chosen: dict[str, bytes], dest: Path) -> int:
    """Files -> ``dest`` in ``corpus.pack``'s format (one shard + index.json); returns its bytes."""
    from corpus.pack import pack

    staging = dest.with_name(dest.name + "-staging")
    shutil.rmtree(staging, ignore_errors=True)
    for name, data in chosen.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    try:
        pack(staging, dest)  # its 60 MB shard limit: one shard
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sum(p.stat().st_size for p in dest.iterdir())


def pack_for_gpu(corpus: Path, dest: Path, *, budget: int, short_side: int = 256, quality: int = 80,
                 val_images: int = 24, seed: int = 0) -> dict:
    """``corpus/{train,val}/<source>/*`` -> ``dest`` (tar shards + index.json, ``corpus.pack``'s
    format) of at most ``budget`` bytes: ``val_images`` validation images, then training images
    in a seeded random order (each source in proportion, on average) while they fit. Returns
    counts and bytes; ValueError if not even the validation images fit."""
    import tarfile

    room = budget - tarfile.RECORDSIZE - 1024 - 512  # record padding, end-of-archive blocks, index head
    chosen: dict[str, bytes] = {}
    for split, limit in (("val", val_images), ("train", None)):
        for path in _images(corpus / split, seed)[:limit]:
            name = f"{split}/{path.relative_to(corpus / split).with_suffix('.webp').as_posix()}"
            data = _encode(path, short_side=short_side, quality=quality)
            if _member_bytes(name, data) > room:
                if split == "val":
                    raise ValueError(f"{budget} bytes do not hold the {val_images} validation images")
                break
            room -= _member_bytes(name, data)
            chosen[name] = data
    size = _write_pack(chosen, dest)
    while size > budget:  # the estimate fell short: drop 2 % of the training images
        train = [n for n in chosen if n.startswith("train/")]
        for name in train[-max(1, len(train) // 50):]:
            del chosen[name]
        size = _write_pack(chosen, dest)
    return {"train": sum(n.startswith("train/") for n in chosen), "val": sum(n.startswith("val/") for n in chosen),
            "available": len(_images(corpus / "train", seed)), "bytes": size,
            "shards": len(list(dest.glob("shard-*.tar")))}


def cmd_pack(args: argparse.Namespace) -> int:
    budget = args.budget_bytes
    if budget is None:
        tree = tree_bytes(REPO)
        budget = TREE_LIMIT - tree - PACK_MARGIN
        print(f"working tree {tree / 2**20:.2f} MiB of the {TREE_LIMIT / 2**20:.0f} MiB a device call sends; "
              f"{budget / 2**20:.2f} MiB left for data (after a {PACK_MARGIN // 1024} KiB margin)")
        if budget < 256 * 2**10:
            print(f"only {budget} bytes are left for data: too few to train on; the tree must shrink",
                  file=sys.stderr)
            return 1
    info = pack_for_gpu(Path(args.corpus), Path(args.data), budget=budget, short_side=args.short_side,
                        quality=args.quality, val_images=args.val_images, seed=args.seed)
    print(f"packed {info['train']} of {info['available']} training images and {info['val']} validation images "
          f"(WebP q{args.quality}, short side <= {args.short_side} px) into {args.data}: "
          f"{info['bytes'] / 2**20:.2f} MiB in {info['shards']} shard(s)")
    return 0


# ----------------------------------------------------------------------------------------------
# There: the run
# ----------------------------------------------------------------------------------------------
def planned_steps(*, probe_steps: int, probe_wall_s: float, steps_per_s: float, time_left_s: float,
                  max_steps: int | None = None, safety: float = 0.93) -> int:
    """The schedule's length: the probe's steps plus what the measured rate fits in the time
    left, after the set-up the probe paid beyond its steps (counted 1.5 times: the resumed run
    pays it again) and a safety factor. At least one step past the probe; at most ``max_steps``."""
    overhead = max(0.0, probe_wall_s - probe_steps / steps_per_s)
    n = probe_steps + int(max(0.0, time_left_s - 1.5 * overhead) * steps_per_s * safety)
    if max_steps is not None:
        n = min(n, max_steps)
    return max(n, probe_steps + 1)


def read_log(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "log.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def images_per_s(rows: list[dict[str, str]], *, after_step: int = 0) -> float | None:
    """The images/s of the logged windows after ``after_step``, the first window (DataLoader
    start-up) left out when there are others: their harmonic mean, which for windows of as many
    steps is the images over the time. (Their median was biased: 15 workers deliver batches in
    bursts, and a review's simulation put it at 0.72-0.78x the true rate, which would have ended
    the schedule a quarter early.)"""
    rates = [float(r["img_per_s"]) for r in rows if r.get("img_per_s") and int(r["step"]) > after_step]
    if len(rates) > 1:
        rates = rates[1:]
    return statistics.harmonic_mean(rates) if rates and min(rates) > 0 else None


def _copy_into(src: Path, out: Path, name: str) -> None:
    """src -> out/name by a temporary file and a rename: OUT never holds half a file by that name."""
    tmp = out / f".{name}.part"
    shutil.copyfile(src, tmp)
    os.replace(tmp, out / name)


def copy_checkpoint(ckpt: Path, out: Path) -> None:
    """A checkpoint's model.safetensors and checkpoint.json -> OUT. Weights over FILE_LIMIT
    come back as float16 (as ship_model.py ships them), the digest in checkpoint.json updated."""
    weights, meta = ckpt / "model.safetensors", json.loads((ckpt / "checkpoint.json").read_text())
    if weights.stat().st_size <= FILE_LIMIT:
        _copy_into(weights, out, "model.safetensors")
    else:
        from safetensors.torch import load_file, save_file

        from irodori.registry import sha256_file

        half = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(weights)).items()}
        save_file(half, str(out / ".model.safetensors.part"), metadata={"format": "irodori-checkpoint"})
        os.replace(out / ".model.safetensors.part", out / "model.safetensors")
        meta.setdefault("sha256", {})["model.safetensors"] = sha256_file(out / "model.safetensors")
    (out / ".checkpoint.json.part").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(out / ".checkpoint.json.part", out / "checkpoint.json")


class Mirror(threading.Thread):
    """Copies the run's newest checkpoint and log.csv into OUT whenever ``latest`` changes, and
    prints a line for it: what a run killed at any moment still returns."""

    def __init__(self, run_dir: Path, out: Path, t0: float, *, every_s: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.out, self.t0, self.every_s = run_dir, out, t0, every_s
        self.copied: str | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            self.sync()

    def sync(self) -> None:
        latest = self.run_dir / "latest"
        try:
            name = latest.read_text().strip() if latest.is_file() else None
            if name and name != self.copied:
                copy_checkpoint(self.run_dir / name, self.out)
                self.copied = name
                rows = [r for r in read_log(self.run_dir) if r.get("loss")]
                last = rows[-1] if rows else {}
                loss, rate = float(last.get("loss") or "nan"), float(last.get("img_per_s") or "nan")
                print(f"[{time.perf_counter() - self.t0:5.0f} s] {name} -> OUT (loss {loss:.4f}, {rate:.0f} img/s)",
                      flush=True)
            if (self.run_dir / "log.csv").is_file():
                _copy_into(self.run_dir / "log.csv", self.out, "log.csv")
        except OSError as exc:  # a checkpoint pruned while copied: the next poll takes the newer one
            print(f"mirror: {exc}", flush=True)


def _workers(batch_bytes: int) -> int:
    """DataLoader workers: every core but one, fewer if /dev/shm cannot hold their prefetched batches."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    workers = max(1, min(15, cores - 1))
    if os.path.isdir("/dev/shm"):
        free = shutil.disk_usage("/dev/shm").free
        print(f"/dev/shm: {free / 2**30:.1f} GiB free", flush=True)
        fit = int(free // (4 * batch_bytes * 1.5))  # prefetch_factor 4
        if fit < workers:  # 0: not even one worker's batches; the data are then loaded in the training process
            print(f"/dev/shm holds the batches of {fit} workers only: using {fit}", flush=True)
            workers = fit
    return workers


def _recipe(args: argparse.Namespace, run_dir: Path, train_dirs: list[str], val_dirs: list[str]):
    from dataclasses import replace

    from irodori.config import load_config, merge_dicts

    preset, recipe = ("tiny", DRY_RECIPE) if args.dry_run else ("paint", GPU_RECIPE)
    extra = {"out_dir": str(run_dir), "data": {"train_dirs": train_dirs, "val_dirs": val_dirs}, "seed": args.seed}
    cfg = load_config(preset, merge_dicts(recipe, extra))
    if args.dry_run:
        return cfg
    batch_bytes = cfg.batch_size * 8 * cfg.data.crop_size**2 * 4  # l, ab, hints, l_true, l_ink: float32
    return replace(cfg, data=replace(cfg.data, workers=_workers(batch_bytes)))


def _data(args: argparse.Namespace, work: Path) -> tuple[list[str], list[str]]:
    """Unpack ``--data`` into the work folder -> (train folders, val folders); none: synthetic."""
    if args.data is None:
        return [], []
    from corpus.pack import unpack

    corpus = work / "corpus"
    n = unpack(Path(args.data), corpus)
    print(f"unpacked {n} images from {args.data}", flush=True)
    return [str(corpus / "train")], ([str(corpus / "val")] if (corpus / "val").is_dir() else [])


def train_in_budget(args: argparse.Namespace, work: Path, deadline: float, report: dict) -> Path:
    """The probe, the planned schedule, the budgeted rest -> the last checkpoint. ``report`` gets
    the phases' seconds, the probe's and the schedule's steps and why the run ended."""
    from dataclasses import replace

    from irodori.checkpoint import read_meta
    from irodori.config import config_from_dict
    from irodori.train import train

    t = time.perf_counter()
    train_dirs, val_dirs = _data(args, work)
    report["phases_s"]["unpack"] = time.perf_counter() - t
    run_dir, synthetic = work / "run", args.data is None
    cfg = _recipe(args, run_dir, train_dirs, val_dirs)
    probe = report["probe_steps"] = min(args.probe_steps, cfg.optim.warmup_steps)
    t = time.perf_counter()
    # The probe's steps are all in the warm-up: their learning rate does not depend on `steps`.
    probe_cfg = replace(cfg, steps=max(2 * cfg.optim.warmup_steps, probe + 1), log_every=max(1, probe // 6),
                        time_budget_s=max(1.0, deadline - EXPORT_RESERVE_S - t))
    last = train(probe_cfg, init=None if args.dry_run else args.init, dry_run=synthetic, stop_at_step=probe,
                 progress=False)
    report["phases_s"]["probe"] = probe_wall = time.perf_counter() - t
    rate = images_per_s(read_log(run_dir)) or cfg.batch_size * probe / probe_wall
    time_left = deadline - EXPORT_RESERVE_S - time.perf_counter()
    steps = report["planned_steps"] = planned_steps(probe_steps=probe, probe_wall_s=probe_wall,
                                                    steps_per_s=rate / cfg.batch_size, time_left_s=time_left,
                                                    max_steps=args.max_steps)
    print(f"probe: {probe} steps in {probe_wall:.0f} s at {rate:.0f} img/s -> a schedule of {steps} steps "
          f"for the {time_left:.0f} s left", flush=True)
    if time_left < 10:
        report["ended_by"] = "time budget (spent by the probe)"
        return last
    resumed = replace(config_from_dict(read_meta(last)["config"]), steps=steps, log_every=cfg.log_every,
                      time_budget_s=time_left)
    t = time.perf_counter()
    last = train(resumed, resume=run_dir, dry_run=synthetic, progress=False)
    report["phases_s"]["train"] = time.perf_counter() - t
    report["ended_by"] = "schedule" if read_meta(last)["step"] >= steps else "time budget"
    return last


def _latest(run_dir: Path) -> Path | None:
    latest = run_dir / "latest"
    return run_dir / latest.read_text().strip() if latest.is_file() else None


def summarise(out: Path, work: Path, ckpt: Path | None, report: dict, *, t0: float) -> dict:
    """summary.json in OUT and its lines, printed last."""
    import torch

    from irodori.checkpoint import read_meta

    rows = read_log(work / "run")
    losses = next((r for r in reversed(rows) if r.get("loss")), {})
    vals = [r["val_l1"] for r in rows if r.get("val_l1")]
    summary = {
        "steps": read_meta(ckpt)["step"] if ckpt else 0, **report,
        "images_per_s": images_per_s(rows, after_step=report.get("probe_steps", 0)) or images_per_s(rows),
        "final": {k: float(v) for k, v in losses.items() if k.startswith("loss") and v},
        "val_l1": float(vals[-1]) if vals else None, "wall_s": round(time.perf_counter() - t0, 1),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", "torch": torch.__version__,
    }
    summary["phases_s"] = {k: round(v, 1) for k, v in report["phases_s"].items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")}
    over = [n for n, b in files.items() if b > FILE_LIMIT]
    print("\n== train_gpu summary ==")
    print(f"steps      {summary['steps']} of a {report.get('planned_steps', '?')}-step schedule "
          f"(probe {report.get('probe_steps', '?')}); ended by {report['ended_by']}")
    print(f"images/s   {summary['images_per_s'] or 0:.0f}")
    print("losses     " + "  ".join(f"{k} {v:.4f}" for k, v in summary["final"].items())
          + (f"  val_l1 {summary['val_l1']:.4f}" if vals else ""))
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in summary["phases_s"].items())
    print(f"wall       {summary['wall_s']:.0f} s ({phases})")
    print(f"device     {summary['device']}, torch {summary['torch']}")
    print("files      " + ", ".join(f"{n} {b / 2**20:.2f} MiB" for n, b in files.items())
          + (f"; OVER 16 MiB, will not come back: {over}" if over else "")
          + (f"; MORE THAN {MAX_FILES} FILES" if len(files) > MAX_FILES else ""))
    return summary


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # Every core runs a DataLoader worker: numpy's BLAS threads inside them would only contend.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import torch

    from irodori.export import export_onnx
    from irodori.train import TrainingInterrupted

    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA device: this run is sized for a GPU (use --dry-run on a CPU)", file=sys.stderr)
        return 2
    if args.data is not None and not (Path(args.data) / "index.json").is_file():
        print(f"{args.data}/index.json not found: run `make pack-gpu` here and carry {args.data}", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True  # fixed crop size: cuDNN picks its fastest kernels once
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="irodori-gpu-"))
    shutil.rmtree(work / "run", ignore_errors=True)
    report: dict = {"ended_by": "schedule", "phases_s": {}}
    mirror = Mirror(work / "run", out, t0)
    mirror.start()
    try:
        ckpt = train_in_budget(args, work, t0 + args.budget_s, report)
    except TrainingInterrupted as exc:  # SIGTERM (the tool's time limit), SIGHUP or Ctrl-C: saved; export it
        ckpt, report["ended_by"] = _latest(work / "run"), f"signal: exit status {exc.status}"
        report["signal_status"] = exc.status
    except Exception as exc:  # noqa: BLE001 -- one slot: whatever broke, export the last checkpoint written
        traceback.print_exc()
        ckpt, report["ended_by"] = _latest(work / "run"), f"error: {type(exc).__name__}: {exc}"
    finally:
        mirror.halt.set()
        mirror.join()
        mirror.sync()
    if ckpt is not None:
        t = time.perf_counter()
        try:
            export_onnx(ckpt, work / "model.onnx", name=args.name, max_side=512)
            if (work / "model.onnx").stat().st_size > FILE_LIMIT:  # would not come back; the weights do
                report["export_error"] = f"model.onnx is over {FILE_LIMIT >> 20} MiB: export it from the weights"
            else:
                _copy_into(work / "model.onnx", out, "model.onnx")
        except Exception as exc:  # noqa: BLE001 -- the weights in OUT still come back; export them here
            traceback.print_exc()
            report["export_error"] = f"{type(exc).__name__}: {exc}"
        report["phases_s"]["export"] = time.perf_counter() - t
    summarise(out, work, ckpt, report, t0=t0)
    if "signal_status" in report:  # stopped, its weights exported: the status a signal's stop has
        return report["signal_status"]
    return 0 if ckpt is not None and not report["ended_by"].startswith("error") and "export_error" not in report else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", action="store_true", help="here: write --data from --corpus, sized to fit the tree")
    ap.add_argument("--corpus", default=str(REPO / "data" / "corpus-art"), help="for --pack: the art corpus")
    ap.add_argument("--data", default=None, help="the packed data (default data/gpu; none with --dry-run)")
    ap.add_argument("--budget-bytes", type=int, default=None,
                    help="for --pack: bytes the data may take (default: 64 MiB minus the working tree, 256 KiB spare)")
    ap.add_argument("--short-side", type=int, default=256, help="for --pack: images reduced to this short side")
    ap.add_argument("--quality", type=int, default=80, help="for --pack: WebP quality")
    ap.add_argument("--val-images", type=int, default=24, help="for --pack: validation images packed first")
    ap.add_argument("--out", default=os.environ.get("OUT") or "runs/gpu-out",
                    help="where the returned files go (default $OUT)")
    ap.add_argument("--work", default=None, help="unpacked data and the run (default: a new temporary folder)")
    ap.add_argument("--init", default="manga", help="shipped model or checkpoint to start from")
    ap.add_argument("--name", default="manga", help="model name in the ONNX metadata")
    ap.add_argument("--budget-s", type=float, default=510.0, help="wall-clock seconds for everything (default 510)")
    ap.add_argument("--probe-steps", type=int, default=None,
                    help=f"steps timed first (default {PROBE_STEPS}; dry run 2)")
    ap.add_argument("--max-steps", type=int, default=None, help="cap on the planned schedule (dry run: 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dry-run", action="store_true", help="tiny paint model on the CPU, synthetic data unless --data")
    args = ap.parse_args(argv)
    if args.pack:
        args.data = args.data or str(REPO / "data" / "gpu")
        return cmd_pack(args)
    if not args.dry_run and args.data is None:
        args.data = str(REPO / "data" / "gpu")
    if args.dry_run:
        args.probe_steps = args.probe_steps or 2
        args.max_steps = args.max_steps or 4
    args.probe_steps = args.probe_steps or PROBE_STEPS
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
