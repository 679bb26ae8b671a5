"""Self-supervised training: colour images -> (L, ab) pairs -> the generator.

One entry point for a laptop CPU, one GPU, or many processes under ``torchrun`` (DDP: gloo on
CPU, nccl on GPU; rank 0 alone writes checkpoints, logs and sample sheets). The loop is plain:
sample a batch, predict ab, weighted losses, step. Everything a resumed run needs (weights,
optimiser, step, RNG) is in the checkpoint; the data stream and the learning-rate schedule are
pure functions of the step, so stop-and-resume reaches the same weights as one straight run.

Switches, each off by default except mixed precision on CUDA: ``loss.gan`` adds a PatchGAN
(pix2pix's step order: the discriminator learns from the detached prediction, then the
generator takes its step against the frozen discriminator); ``ema_decay`` keeps a moving
average of the generator's weights, which validation, checkpoints' ``ema.safetensors`` and
export use; ``amp`` runs the forward passes in bfloat16 autocast.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import json
import logging
import math
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader

from .checkpoint import (
    CheckpointError,
    load_generator,
    load_module,
    load_train_state,
    non_finite_keys,
    read_meta,
    resolve_checkpoint,
    save_checkpoint,
)
from .color import denormalize_ab, denormalize_l, l_to_gray_rgb, lab_to_rgb, rgb_to_uint8
from .config import ConfigError, TrainConfig, config_to_dict
from .data import (ColorImageDataset, StepSampler, SyntheticDataset, cache_short_side, colourless, list_images,
                   list_pairs, usable_images, usable_pairs)
from .imageio import encode, write_atomic
from .losses import class_rebalance_weights, compute_losses
from .paint import composite
from .model import (HINT_CHANNELS_WITH_L, Generator, PatchDiscriminator, count_parameters, freeze_batch_norm,
                    grow_hint_lightness, grow_line_art_head, grow_paint_head)

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, bad data); the message says what to do."""


class TrainingUsageError(TrainingError):
    """What the command line asks cannot be done (a run folder already used, a step already
    passed, settings a checkpoint cannot resume with): ``irodori train`` exits 2, as for its
    other usage errors, before any step."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP during training; ``checkpoint`` is where the state was saved
    (rank 0; None when no checkpoint was written), ``status`` the exit status a command stopped by
    that signal has: 130, 143 or 129."""

    def __init__(self, checkpoint: Path | None, status: int = 130) -> None:
        super().__init__()
        self.checkpoint, self.status = checkpoint, status


class _Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C's KeyboardInterrupt would be."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum


# ----------------------------------------------------------------------------------------------
# Pieces
# ----------------------------------------------------------------------------------------------
MAX_WARMUP_FRACTION = 0.5  # of the run: a preset's warm-up is shortened to fit a short fine-tune


def warmup_steps_for(cfg: TrainConfig) -> int:
    """The warm-up actually used: ``optim.warmup_steps``, but at most half of ``cfg.steps``, so a
    fine-tune shorter than its preset's warm-up still reaches ``optim.lr`` (and spends steps there)."""
    return min(cfg.optim.warmup_steps, int(cfg.steps * MAX_WARMUP_FRACTION))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for a step: linear warm-up (:func:`warmup_steps_for`), then cosine (or
    constant). Pure in ``step``."""
    o = cfg.optim
    warmup = warmup_steps_for(cfg)
    if warmup and step < warmup:
        return o.lr * (step + 1) / warmup
    if o.schedule == "constant":
        return o.lr
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * cosine)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16, read from /proc/cpuinfo;
    False where that is unreadable): there bf16 autocast trains faster, elsewhere slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def data_fingerprint(files: list[Path], roots: list[str]) -> str:
    """sha256 over the training file list (path relative to its root, size): the data manifest
    hash recorded in checkpoints, so a model says exactly which data it saw."""
    h = hashlib.sha256()
    resolved = [Path(r).resolve() for r in roots]
    for f in files:
        fr = f.resolve()
        rel = next((fr.relative_to(r) for r in resolved if fr.is_relative_to(r)), Path(f.name))
        h.update(f"{rel.as_posix()}\t{f.stat().st_size}\n".encode())
    return h.hexdigest()


def resolve_device(name: str, local_rank: int) -> torch.device:
    """The config's device name -> a torch.device; "auto" and "cuda" name the process's own GPU
    (``cuda:LOCAL_RANK``): torch.cuda.set_device refuses a device without an index."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    return torch.device(name)


def _sample_sheet(batch: dict[str, torch.Tensor], ab_pred: torch.Tensor, path: Path, max_rows: int = 8, *,
                  l_paint: torch.Tensor | None = None) -> None:
    """Rows of (input | ground truth | prediction) under a strip naming the columns, written to
    PNG; a paint model's prediction is its composite min(l_paint, l_ink) with the predicted chroma."""
    rows = []
    n = min(max_rows, ab_pred.shape[0])
    for i in range(n):
        l_in = denormalize_l(batch["l"][i, 0].cpu().numpy())
        l_true = denormalize_l(batch["l_true"][i, 0].cpu().numpy())
        ab_true = denormalize_ab(batch["ab"][i].cpu().numpy()).transpose(1, 2, 0)
        ab_hat = denormalize_ab(ab_pred[i].detach().float().cpu().numpy()).transpose(1, 2, 0)
        grey = l_to_gray_rgb(l_in)
        truth = rgb_to_uint8(lab_to_rgb(np.dstack([l_true, ab_true])))
        l_out = l_in
        if l_paint is not None:
            l_ink = denormalize_l(batch["l_ink"][i, 0].cpu().numpy())
            l_out, a, b = composite(denormalize_l(l_paint[i, 0].float().cpu().numpy()), ab_hat[..., 0], ab_hat[..., 1], l_ink)
            ab_hat = np.dstack([a, b])
        pred = rgb_to_uint8(lab_to_rgb(np.dstack([l_out, ab_hat])))
        rows.append(np.hstack([grey, truth, pred]))
    labels = ("input", "truth", "painted" if l_paint is not None else "predicted")
    sheet = np.vstack([_column_labels(labels, rows[0].shape[1] // 3), *rows])
    write_atomic(path, encode(Image.fromarray(sheet), "png"))


def _column_labels(labels: Sequence[str], width: int) -> np.ndarray:
    """A white strip (14, len(labels) * width, 3) uint8 with each label over its column (Pillow's
    default font, cut to fit: :func:`irodori.evaluate.fit_label`)."""
    from PIL import ImageDraw

    from .evaluate import fit_label

    strip = Image.new("RGB", (width * len(labels), 14), "white")
    draw = ImageDraw.Draw(strip)
    for i, label in enumerate(labels):
        draw.text((i * width + 2, 1), fit_label(draw, label, width - 4), fill=(0, 0, 0))
    return np.asarray(strip)


class WallClock:
    """The wall-clock limits of one invocation (``cfg.time_budget_s``, ``cfg.checkpoint_every_s``;
    0 = off). Under DDP rank 0's clock decides for every rank (a broadcast), so all ranks stop
    and save at the same step."""

    def __init__(self, cfg: TrainConfig, *, distributed: bool, device: torch.device) -> None:
        self.budget_s, self.every_s = cfg.time_budget_s, cfg.checkpoint_every_s
        self.distributed, self.device = distributed, device
        self.t_start = self.t_saved = time.perf_counter()

    def poll(self) -> tuple[bool, bool]:
        """-> (the budget is spent: stop now, a checkpoint is due by time)."""
        if not (self.budget_s or self.every_s):
            return False, False
        now = time.perf_counter()
        flags = torch.tensor([bool(self.budget_s) and now - self.t_start >= self.budget_s,
                              bool(self.every_s) and now - self.t_saved >= self.every_s], dtype=torch.float32)
        if self.distributed:
            flags = flags.to(self.device)
            dist.broadcast(flags, 0)
        return bool(flags[0]), bool(flags[1])

    def saved(self) -> None:
        self.t_saved = time.perf_counter()


class CsvLog:
    FIELDS = ["step", "loss", "loss_l1", "loss_cf", "loss_cls", "loss_paint", "loss_g_gan", "loss_d", "lr", "img_per_s",
              "val_l1", "elapsed_s"]

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            with path.open("w", newline="") as f:
                csv.writer(f).writerow(self.FIELDS)

    def elapsed_at(self, step: int) -> float:
        """The run's elapsed_s logged at or before ``step`` (0 for a new run): a resumed run's
        elapsed_s goes on from the invocations before it."""
        try:
            with self.path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("elapsed_s") and r.get("step")]
            return max((float(r["elapsed_s"]) for r in rows if int(r["step"]) <= step), default=0.0)
        except (OSError, ValueError):
            return 0.0

    def cut_after(self, step: int) -> None:
        """Drop the rows of steps after ``step``: a run resumed from an older checkpoint trains
        those steps again, and their old rows would stand beside the new ones, out of order
        (helper 63). The rows dropped are said in the log."""
        try:
            with self.path.open(newline="") as f:
                rows = list(csv.reader(f))
        except OSError:
            return
        header, body = rows[:1], rows[1:]
        kept = [r for r in body if not (r and r[0].isdigit() and int(r[0]) > step)]
        if len(kept) < len(body):
            log.info("log.csv: %d row%s after step %d dropped (the steps trained again from it)",
                     len(body) - len(kept), "" if len(body) - len(kept) == 1 else "s", step)
            buf = io.StringIO()
            csv.writer(buf).writerows(header + kept)
            write_atomic(self.path, buf.getvalue().encode())

    def write(self, **row: float) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in self.FIELDS])


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------
def _usable(files: list[Path], what: str, is_main: bool, *, refuse_grey: bool = False) -> list[Path]:
    """The ``files`` training can read (:func:`irodori.data.usable_images`), with a warning (rank
    0) naming those skipped, and those that hold no colour to learn: grey files, and grey pixels
    saved in a colour file (:func:`irodori.data.colourless`, on a sample of a large folder).
    ``refuse_grey``: TrainingError when every one was looked at and none holds colour (a run on
    them learns nothing, and its minutes are lost: a helper's run on a folder of B&W scans)."""
    grey: list[Path] = []
    ours: list[Path] = []
    kept, problems = usable_images(files, grey, ours)
    if not is_main:
        return kept
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        log.warning("%s skipped: %s", _counted(problems, what), shown)
    if ours:
        log.warning("%s left out (%s): irodori's own output%s (%s tag); a model that learns its own colours learns "
                    "its mistakes", _counted(ours, what), _named(ours), "" if len(ours) == 1 else "s",
                    "its Software" if len(ours) == 1 else "their Software")
    grey_set = set(grey)
    pale, looked = colourless([p for p in kept if p not in grey_set])
    looked += len(grey)
    grey += pale
    if grey:
        shown = _named(grey)
        sampled = "" if looked == len(kept) else f" looked at (of {len(kept)})"
        validation = what == "validation"
        if len(grey) == looked:
            counted = f"all {looked} {what} images{sampled} hold" if looked > 1 else f"the one {what} image holds"
            if refuse_grey and not sampled:
                raise TrainingError(f"{counted} no colour ({shown}): there is no colour to learn; train on colour "
                                    "images (the pages you will colour, as their colour originals: docs/FINETUNE.md)")
            log.warning("%s no colour (%s): %s", counted, shown,
                        "the validation loss scores against grey truths; give colour images" if validation else
                        "there is no colour to learn; train on colour images")
        else:
            log.warning("%d of the %d %s images%s hold%s no colour (%s): %s", len(grey), looked, what, sampled,
                        "s" if len(grey) == 1 else "", shown,
                        ("the validation loss scores it against a grey truth" if len(grey) == 1 else
                         "the validation loss scores them against a grey truth") if validation else
                        "it teaches no colour" if len(grey) == 1 else "they teach no colour")
    return kept


def _named(files: list[Path], most: int = 5) -> str:
    """The first ``most`` of ``files``, and how many more."""
    return ", ".join(map(str, files[:most])) + (f" and {len(files) - most} more" if len(files) > most else "")


def _counted(files: list[Path], what: str) -> str:
    """ "1 training image" / "3 training images"."""
    return f"{len(files)} {what} image{'' if len(files) == 1 else 's'}"


def _pairs(dirs: list[str], is_main: bool) -> dict[Path, Path]:
    """The paired folders' usable pairs (:func:`irodori.data.list_pairs`, :func:`usable_pairs`),
    with a warning naming what was left out. TrainingError when folders were given and no pair
    is left: a run that silently trained on none of them would look like one that had."""
    if not dirs:
        return {}
    unmatched: list[str] = []
    pairs, problems = usable_pairs(list_pairs(dirs, unmatched))
    if not pairs:
        shown = "; ".join((unmatched + problems)[:3])
        more = len(unmatched) + len(problems) - 3
        raise TrainingError(f"no usable pair in {', '.join(map(str, dirs))}: "
                            f"{shown or 'input/ and truth/ hold no images'}{f'; and {more} more' if more > 0 else ''}")
    partner = " no partner (input/NAME.* beside truth/NAME.*)"
    for items, one, many in ((unmatched, "paired file has" + partner, "paired files have" + partner),
                             (problems, "pair left out", "pairs left out")):
        if items and is_main:
            shown = "; ".join(items[:5]) + (f"; and {len(items) - 5} more" if len(items) > 5 else "")
            log.warning("%d %s: %s", len(items), one if len(items) == 1 else many, shown)
    return pairs


def _say_nested(train_dirs: list[str], val_dirs: list[str], pair_dirs: list[str]) -> None:
    """Say which folders one walk leaves out because they were given for another use: a
    validation or paired folder inside a training folder is not trained on as colour images, a
    training folder inside a validation folder is not validated on (a helper's --val inside the
    training folder was trained on without a word). A validation folder that is a training
    folder is warned of: its loss scores images the run learns."""
    def inside(inner: str, outer: str) -> bool:
        return Path(outer).resolve() in Path(inner).resolve().parents

    for outer, inner, role, use in ((train_dirs, val_dirs, "validation", "trained on"),
                                    (train_dirs, pair_dirs, "paired", "trained on as colour images"),
                                    (val_dirs, train_dirs, "training", "validated on")):
        for o in outer:
            for i in inner:
                if inside(i, o):
                    log.info("the %s folder %s is inside %s: its images are not %s", role, i, o, use)
    same = [v for v in val_dirs for t in train_dirs if Path(v).resolve() == Path(t).resolve()]
    if same:
        log.warning("the validation folder %s is a training folder: the validation loss scores images the run "
                    "learns; hold some images out in a folder of their own", same[0])


# Fewer training images than this draw a warning: a run learns them by heart.
FEW_IMAGES = 5
DRY_RUN_DATA = "synthetic"  # a dry run's checkpoints' data_manifest_sha256


def _datasets(cfg: TrainConfig, *, dry_run: bool, is_main: bool) -> tuple[Any, Any, str]:
    """-> (training set, validation set or None, the data manifest hash for checkpoints):
    synthetic images for a dry run, else the configured folders (colour images, and paired
    folders whose B&W inputs are real, :func:`irodori.data.list_pairs`)."""
    hc = cfg.model.hint_channels
    if dry_run:
        return (SyntheticDataset(cfg.data, seed=cfg.seed, hint_channels=hc),
                SyntheticDataset(cfg.data, seed=cfg.seed + 1, n=16, hint_channels=hc), DRY_RUN_DATA)
    train_dirs, val_dirs = cfg.data.train_dirs, cfg.data.val_dirs
    held_out = [*val_dirs, *cfg.data.pair_dirs]  # folders given for another use, inside a training folder
    if is_main:
        _say_nested(train_dirs, val_dirs, cfg.data.pair_dirs)
    files = (_usable(list_images(train_dirs, leave_out=held_out), "training", is_main,
                     refuse_grey=not cfg.data.pair_dirs) if train_dirs else [])
    pairs = _pairs(cfg.data.pair_dirs, is_main)
    files = sorted(set(files) | set(_usable(list(pairs), "paired", is_main)))
    if not files:
        where = " and ".join(f"{what} {', '.join(map(str, dirs))}" for what, dirs in
                             (("the folders", cfg.data.train_dirs), ("the paired folders", cfg.data.pair_dirs)) if dirs)
        raise TrainingError(f"no usable images found in {where or 'no folder'}")
    train_set = ColorImageDataset(files, cfg.data, seed=cfg.seed, pairs=pairs, hint_channels=hc)
    if is_main and cfg.data.cache_mb:
        log.info("data cache: each image decoded once and kept reduced to a short side of %d px, up to %d MiB "
                 "per data process (data.cache_mb=0 turns it off)", cache_short_side(cfg.data), cfg.data.cache_mb)
    val_files = (_usable(list_images(val_dirs, leave_out=[*train_dirs, *cfg.data.pair_dirs]), "validation", is_main)
                 if val_dirs else [])
    if cfg.data.val_dirs and not val_files:
        raise TrainingError(f"no usable images found in the validation folders {cfg.data.val_dirs}")
    val_set = ColorImageDataset(val_files, cfg.data, seed=cfg.seed + 1, hint_channels=hc) if val_files else None
    return train_set, val_set, data_fingerprint(files, cfg.data.train_dirs)


def _generator(cfg: TrainConfig, *, init: str | Path | None, resume: str | Path | None,
               is_main: bool) -> tuple[Generator, TrainConfig]:
    """The generator to train and the config it implies: the ``init`` model's weights and
    architecture (growing a paint head when ``model.paint`` asks for one), else a new network,
    its EfficientNet-Lite encoder from ImageNet unless resuming (the checkpoint brings the weights)."""
    torch.manual_seed(cfg.seed)
    if init is not None:
        from .registry import resolve_init_weights

        init_path = resolve_init_weights(str(init))
        model, init_meta = load_generator(init_path)
        if cfg.model.paint and not model.config.paint:
            model = grow_paint_head(model)
            if is_main:
                log.info("grew a paint head (l_paint) on %s", init_path)
        if cfg.model.line_art_head and not model.config.line_art_head:
            model = grow_line_art_head(model)
            if is_main:
                log.info("grew a line-art lightness head (l_paint_line_art) on %s", init_path)
        if cfg.model.hint_channels == HINT_CHANNELS_WITH_L and model.config.hint_channels == 3:
            model = grow_hint_lightness(model)
            if is_main:
                log.info("grew a lightness hint channel on %s", init_path)
        try:
            # The architecture is the init model's (its weights need it); where an encoder starts
            # is moot. replace() re-runs the config's own validation (the loss must fit the head).
            cfg = replace(cfg, model=model.config, encoder_init="auto")
        except ConfigError as exc:
            raise TrainingError(f"{init_path} has encoder {model.config.encoder} and a {model.config.head} "
                                f"head, which this preset's settings do not fit ({exc}): choose a preset made "
                                "for it (finetune, manga, paint or default)") from None
        if is_main:
            log.info("initialised from %s (step %s)", init_path, init_meta.get("step"))
            if (model.config.paint and (cfg.data.paint_prob == 0 or cfg.loss.paint_l1 == 0)
                    and cfg.data.manga_prob != 0):  # pages seen grey (FINETUNE.md's choice for grey pages: cli says so)
                log.warning(
                    "%s paints, but this run does not train its paint head (data.paint_prob=%g, loss.paint_l1=%g): "
                    "it keeps the lightness it gives paper and tone as it is. To train it too: --data.paint_prob=0.8 "
                    "--loss.paint_l1=2 (docs/FINETUNE.md)", init_path, cfg.data.paint_prob, cfg.loss.paint_l1)
    else:
        model = Generator(cfg.model)
        # A resumed run's weights come from its checkpoint: no ImageNet weights (nor their package) needed.
        if cfg.model.encoder != "unet" and cfg.encoder_init != "scratch" and resume is None:
            from .features import imagenet_lite_state
            from .model import lite_state_from_imagenet

            imagenet = imagenet_lite_state(cfg.model.encoder)
            model.encoder.load_state_dict(lite_state_from_imagenet(imagenet, cfg.model.hint_channels))  # strict
            if is_main:
                log.info("encoder initialised from ImageNet %s", cfg.model.encoder)
    return model, cfg


def _val_batches(val_set: Any, cfg: TrainConfig) -> list[dict[str, torch.Tensor]]:
    """The fixed validation batches (sample numbers far beyond any training step's)."""
    n_val = min(len(val_set), cfg.val_batches * cfg.batch_size)
    keys = [(10**9 + i, i % len(val_set)) for i in range(n_val)]
    batches = []
    for i in range(0, n_val, cfg.batch_size):
        items = [val_set[k] for k in keys[i : i + cfg.batch_size]]
        batches.append({name: torch.stack([it[name] for it in items]) for name in items[0]})
    return batches


def _forward_losses(model: torch.nn.Module, batch: dict[str, torch.Tensor], cfg: TrainConfig, *,
                    device: torch.device, autocast: Any, bins: torch.Tensor | None,
                    class_weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """One batch through the generator -> (l, ab_true, ab_pred, the weighted losses); a paint
    model's loss scores its composite with the batch's ink layer."""
    l = batch["l"].to(device, non_blocking=True)
    hints = batch["hints"].to(device, non_blocking=True)
    ab_true = batch["ab"].to(device, non_blocking=True)
    if device.type == "cpu":
        l, hints = (t.contiguous(memory_format=torch.channels_last) for t in (l, hints))
    line_art = batch["line_art"].to(device).reshape(-1) > 0.5 if "line_art" in batch else False
    with autocast():  # line_art: the samples whose lightness a line-art head predicts, if the model has one
        ab_pred, logits, l_paint = model(l, hints, return_logits=True, return_l=True, line_art=line_art)
    paint = None
    if l_paint is not None:
        paint = (l_paint, batch["l_ink"].to(device, non_blocking=True), batch["l_true"].to(device, non_blocking=True))
    losses = compute_losses(ab_pred.float(), ab_true, cfg, logits=logits, bins=bins, class_weights=class_weights,
                            paint=paint)
    return l, ab_true, ab_pred, losses


def _gan_step(disc: torch.nn.Module, ddp_disc: torch.nn.Module, optimizer_d: torch.optim.Optimizer,
              l: torch.Tensor, ab_true: torch.Tensor, ab_pred: torch.Tensor, losses: dict, cfg: TrainConfig, *,
              autocast: Any) -> None:
    """pix2pix's order: the discriminator learns from the detached prediction first (one forward
    over real and fake together: one DDP gradient sync; instance norm keeps the two halves'
    statistics apart); then, frozen, it scores the prediction for the generator's step (the bare
    module: no DDP sync is wanted for parameters that get no gradient). Adds the terms to ``losses``."""
    disc.requires_grad_(True)
    with autocast():
        d_out = ddp_disc(torch.cat([l, l]), torch.cat([ab_true, ab_pred.detach()])).float()
    d_real, d_fake = d_out.chunk(2)
    loss_d = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                    + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    optimizer_d.step()
    disc.requires_grad_(False)
    with autocast():
        d_pred = disc(l, ab_pred).float()
    losses["loss_g_gan"] = F.binary_cross_entropy_with_logits(d_pred, torch.ones_like(d_pred))
    losses["loss_d"] = loss_d.detach()
    losses["loss"] = losses["loss"] + cfg.loss.gan * losses["loss_g_gan"]


class _Process:
    """Where this process trains: its rank in a ``torchrun`` world (one process without it) and
    its device. Creating it joins the process group (gloo on CPU, nccl on GPU) and sets torch's
    threads (``cfg.threads``; 0: torch's own choice, OMP_NUM_THREADS or a thread per core. One
    thread beside the data worker trained faster on cores busy with other work, but 35 % slower
    on an idle 2-core machine, 13.7 against 20.9 img/s, which is what a user has)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.distributed = self.world > 1
        self.is_main = self.rank == 0

    def join(self, cfg: TrainConfig) -> None:
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)

    def wrap(self, module: torch.nn.Module | None) -> torch.nn.Module | None:
        """``module`` under DistributedDataParallel when there are several processes."""
        if module is None or not self.distributed:
            return module
        return torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=getattr(module, "has_unused_parameters", False))

    def autocast(self, cfg: TrainConfig) -> Any:
        """-> a function returning the forward passes' autocast context: bfloat16 with ``amp``
        bf16, or auto on CUDA or a CPU that computes bf16 natively; else a null context."""
        use_bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and (self.device.type == "cuda" or cpu_has_bf16()))
        if not use_bf16:
            return contextlib.nullcontext
        return lambda: torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)


def out_inside_images(run_dir: Path, image_dirs: Sequence[str]) -> str | None:
    """Why ``run_dir`` cannot hold a run on these image folders (it is one of them, or inside one:
    its checkpoints and sample sheets would be read as training images next time), or None."""
    out = Path(run_dir).resolve()
    for folder in image_dirs:
        inside = Path(folder).resolve()
        if out == inside or inside in out.parents:
            return (f"--out {run_dir} is inside the training images' folder {folder}: its checkpoints and sample "
                    "sheets would be read as training images next time; choose another --out")
    return None


def _check_out_dir(run_dir: Path, *, resume: str | Path | None, init: str | Path | None, dry_run: bool,
                   image_dirs: list[str] = ()) -> None:
    """TrainingError for a run that would mix two things: resume and init, an --out that is a
    file or inside a folder of training images (``image_dirs``: its sample sheets would be read as
    training images by the next run, helper 58), or a new run written over one already there."""
    if resume is not None and init is not None:
        raise TrainingUsageError("give resume (continue a run) or init (start a new run from weights), not both")
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainingUsageError(f"--out {run_dir} is a file, not a folder")
    problem = out_inside_images(run_dir, image_dirs)
    if problem:
        raise TrainingUsageError(problem)
    if resume is None and (run_dir / "latest").is_file() and not (dry_run and _holds_a_dry_run(run_dir)):
        latest = (run_dir / "latest").read_text().strip()
        raise TrainingUsageError(f"{run_dir} already holds a run (latest: {latest}); continue it with --resume "
                                 f"{run_dir}, or choose another --out")


def _holds_a_dry_run(run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` is a dry run's (its latest checkpoint trained on synthetic
    images), which another dry run may replace: a dry run into a real run had replaced its
    checkpoints with the default network's and moved its ``latest`` (helper 78)."""
    try:
        latest = (run_dir / "latest").read_text().strip()
        meta = json.loads((run_dir / latest / "checkpoint.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("data_manifest_sha256") == DRY_RUN_DATA


class _Nets:
    """What a step trains and a checkpoint holds: the generator and its AdamW, the moving average
    of its weights (``cfg.ema_decay``), the PatchGAN discriminator and its Adam (``loss.gan``)."""

    def __init__(self, cfg: TrainConfig, model: Generator, device: torch.device, *, is_main: bool) -> None:
        model = model.to(device)
        if cfg.encoder_bn == "frozen":
            if cfg.model.encoder == "unet":
                raise TrainingUsageError("encoder_bn=frozen needs an EfficientNet-Lite encoder that starts trained "
                                         "(model.encoder efficientnet-lite0 or -lite1, or --init such a model); "
                                         "this one is unet")
            frozen = freeze_batch_norm(model.encoder)
            if is_main:
                log.info("encoder batch norms frozen (%d, running statistics folded into their convolutions)", frozen)
        if device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)  # faster convolutions on CPU
        self.model = model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        # The moving average starts as a copy of the (initial or resumed) weights.
        self.ema = copy.deepcopy(model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
        self.disc = self.optimizer_d = None
        if cfg.loss.gan > 0:
            self.disc = PatchDiscriminator(cfg.gan.discriminator()).to(device)
            self.optimizer_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.gan.lr, betas=(cfg.gan.beta1, 0.999))

    def resume(self, resume: str | Path, cfg: TrainConfig, device: torch.device, *, is_main: bool) -> int:
        """Load a run's checkpoint (weights, moving average, discriminator, optimisers) -> its step.
        TrainingError when it lacks what this run's switches need, or has no steps left to train."""
        ckpt = resolve_checkpoint(resume)
        for wanted, file, switch in ((self.ema, "ema.safetensors", "ema_decay"),
                                     (self.disc, "discriminator.safetensors", "loss.gan")):
            if wanted is not None and not (ckpt / file).is_file():
                raise TrainingUsageError(f"{ckpt} was trained without {switch}; it cannot resume with it on. "
                                         f"Start a new run from it with --init {ckpt}")
        load_module(self.model, ckpt / "model.safetensors", device=device)
        if self.ema is not None:
            load_module(self.ema, ckpt / "ema.safetensors", device=device)
        if self.disc is not None:
            load_module(self.disc, ckpt / "discriminator.safetensors", device=device)
        start_step = load_train_state(ckpt, self.optimizer, optimizer_d=self.optimizer_d)
        if start_step >= cfg.steps:
            raise TrainingUsageError(f"{ckpt} is at step {start_step} of this run's {cfg.steps}: nothing to train; "
                                     f"give --steps with more than {start_step} to train it longer")
        if is_main:
            log.info("resumed from %s at step %d", ckpt, start_step)
            _warn_if_branching(ckpt, start_step)
        return start_step

    def non_finite(self, step: int, last_ckpt: Path | None) -> None:
        """TrainingError if the weights or their moving average hold NaN or inf. A finite loss is
        not enough: batch-norm statistics can already hold inf (an extreme learning rate), and
        such a checkpoint colours nothing. Every rank holds the same weights, so every rank takes
        the same decision."""
        for what, module in (("weights", self.model), ("moving average", self.ema)):
            bad = non_finite_keys(module.state_dict()) if module is not None else []
            if bad:
                where = f"; the last good checkpoint is {last_ckpt}" if last_ckpt else ""
                raise TrainingError(
                    f"the {what} hold NaN or inf at step {step} ({len(bad)} tensors, e.g. {bad[0]}): training "
                    f"stopped without saving them{where}. Try a lower --optim.lr or check the data for broken images."
                )


def _warn_if_data_changed(ckpt: Path, manifest_sha: str) -> None:
    """Warn when the training images are not those ``ckpt`` was trained on (its data manifest
    hash differs: images added, removed or changed in size): the run goes on with today's."""
    before = read_meta(ckpt).get("data_manifest_sha256")
    if before and before != manifest_sha:
        log.warning("the training images differ from those %s was trained on (the data manifest changed: images "
                    "added, removed or changed); the run goes on with today's, and its checkpoints record them",
                    ckpt)


def _warn_if_branching(ckpt: Path, step: int) -> None:
    """Warn when ``ckpt`` (at ``step``) is older than its run's latest checkpoint: the steps
    trained from it take the run's ``latest`` and write over the later checkpoints of the same
    steps, so the run's finished model is no longer the one ``--model RUN`` uses."""
    try:
        latest = resolve_checkpoint(ckpt.parent)
        latest_step = int(read_meta(latest)["step"])
    except (CheckpointError, KeyError, TypeError, ValueError):  # not in a run, or no step to read
        return
    if latest_step > step:
        log.warning("%s is at step %d, before the run's latest checkpoint (%s, step %d): this run's new "
                    "checkpoints become its latest and write over the later ones of the same steps. To keep "
                    "them, start a new run from it instead: --init %s --out NEW", ckpt, step, latest.name,
                    latest_step, ckpt)


def _class_weights(cfg: TrainConfig, model: Generator, train_set: Any, device: torch.device
                   ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """-> (the classification head's ab bins, their rebalancing weights), or (None, None) for a
    regression head."""
    if cfg.model.head != "classification":
        return None, None
    bins = model.ab_bins
    weights = estimate_class_weights(train_set, bins.cpu().numpy(), mix=cfg.loss.rebalance_mix, seed=cfg.seed)
    return bins, torch.from_numpy(weights).to(device)


def _loader(train_set: Any, cfg: TrainConfig, proc: _Process, start_step: int) -> DataLoader:
    """The training batches from ``start_step`` on: the sampler makes them a pure function of the
    step (and the rank), so a resumed run sees what a straight one would."""
    sampler = StepSampler(len(train_set), batch_size=cfg.batch_size, seed=cfg.seed, rank=proc.rank,
                          world_size=proc.world, start_step=start_step)
    return DataLoader(
        train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.data.workers,
        pin_memory=proc.device.type == "cuda", persistent_workers=False,
        prefetch_factor=4 if cfg.data.workers else None, worker_init_fn=_worker_signals,
    )


class _Loop:
    """One invocation's steps: each trains on a batch (:meth:`step`), is logged and validated on
    rank 0 (:meth:`record`), and is checkpointed when due (:meth:`checkpoint`)."""

    def __init__(self, cfg: TrainConfig, proc: _Process, nets: _Nets, train_set: Any, *, run_dir: Path,
                 manifest_sha: str) -> None:
        self.cfg, self.proc, self.nets, self.run_dir, self.manifest_sha = cfg, proc, nets, run_dir, manifest_sha
        self.ddp_model, self.ddp_disc = proc.wrap(nets.model), proc.wrap(nets.disc)
        self.autocast = proc.autocast(cfg)
        self.config_dict = config_to_dict(cfg)
        self.bins, self.class_weights = _class_weights(cfg, nets.model, train_set, proc.device)
        self.last_ckpt: Path | None = None
        self.metrics: dict[str, float] = {}
        self.csv_log: CsvLog | None = None
        self.bar = None
        self.val_batches: list[dict[str, torch.Tensor]] = []
        self.t_start = self.t_window = time.perf_counter()
        self.n_window = 0
        self.elapsed_before = 0.0  # seconds of training the run's earlier invocations logged

    def open_records(self, train_set: Any, val_set: Any, start_step: int, *, progress: bool) -> None:
        """Rank 0: the run folder, log.csv, the validation batches, the run's summary in the log and
        the progress bar. Every rank: the clock of log.csv's images/s and elapsed_s starts."""
        cfg, nets = self.cfg, self.nets
        if self.proc.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if warmup_steps_for(cfg) < cfg.optim.warmup_steps:
                warm = warmup_steps_for(cfg)
                log.warning("optim.warmup_steps=%d is more than half of this %d-step run: warming up over %d step%s "
                            "instead, so the run reaches its learning rate", cfg.optim.warmup_steps, cfg.steps,
                            warm, "" if warm == 1 else "s")
            self.csv_log = CsvLog(self.run_dir / "log.csv")
            self.csv_log.cut_after(start_step)
            self.elapsed_before = self.csv_log.elapsed_at(start_step)
            if val_set is not None and cfg.val_every:
                self.val_batches = _val_batches(val_set, cfg)
            log.info("model: %d parameters; device %s; world size %d; %d training image%s",
                     count_parameters(nets.model), self.proc.device, self.proc.world, len(train_set),
                     "" if len(train_set) == 1 else "s")
            if len(train_set) < FEW_IMAGES:
                log.warning("only %d training image%s: the model will learn %s by heart, and colour other pages "
                            "less well; give at least %d of the style you mean (docs/FINETUNE.md uses 9 pages)",
                            len(train_set), "" if len(train_set) == 1 else "s",
                            "it" if len(train_set) == 1 else "them", FEW_IMAGES)
            if nets.disc is not None:
                log.info("PatchGAN discriminator: %d parameters, loss.gan = %g", count_parameters(nets.disc),
                         cfg.loss.gan)
            if progress:
                from tqdm import tqdm

                self.bar = tqdm(total=cfg.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
        self.t_start = self.t_window = time.perf_counter()

    def step(self, batch: dict[str, torch.Tensor], step: int) -> tuple[dict, float]:
        """Train on one batch at ``step`` -> (its losses, the learning rate it used).
        TrainingError when the loss is not finite (on any rank: all then stop)."""
        cfg, nets = self.cfg, self.nets
        lr = lr_at(step, cfg)
        for group in nets.optimizer.param_groups:
            group["lr"] = lr
        l, ab_true, ab_pred, losses = _forward_losses(self.ddp_model, batch, cfg, device=self.proc.device,
                                                      autocast=self.autocast, bins=self.bins,
                                                      class_weights=self.class_weights)
        if self.ddp_disc is not None:
            _gan_step(nets.disc, self.ddp_disc, nets.optimizer_d, l, ab_true, ab_pred, losses, cfg,
                      autocast=self.autocast)
        loss_value = losses["loss"].detach()
        if self.proc.distributed:
            dist.all_reduce(loss_value)  # every rank takes the same decision below
        if not torch.isfinite(loss_value):
            where = f"; the last good checkpoint is {self.last_ckpt}" if self.last_ckpt else ""
            raise TrainingError(f"loss became {loss_value.item()} at step {step}: training stopped{where}. "
                                "Try a lower --optim.lr or check the data for broken images.")
        nets.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(nets.model.parameters(), cfg.optim.grad_clip)
        nets.optimizer.step()
        if nets.ema is not None:
            update_ema(nets.ema, nets.model, ema_decay_at(step, cfg.ema_decay))
        self.n_window += l.shape[0] * self.proc.world
        return losses, lr

    def record(self, step: int, end_step: int, losses: dict, lr: float) -> None:
        """Rank 0, after ``step`` steps: the progress bar, a log.csv row every ``log_every`` steps,
        and validation (loss and sample sheet) every ``val_every``."""
        if not self.proc.is_main:
            return
        cfg = self.cfg
        row = {k: float(v.detach()) for k, v in losses.items()}
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{lr:.2e}")
        if step % cfg.log_every == 0 or step == end_step:
            now = time.perf_counter()
            self.csv_log.write(step=step, lr=lr, img_per_s=round(self.n_window / max(now - self.t_window, 1e-9), 2),
                               elapsed_s=round(self.elapsed_before + now - self.t_start, 1), **row)
            self.t_window, self.n_window = time.perf_counter(), 0
        if self.val_batches and (step % cfg.val_every == 0 or step == cfg.steps):
            model = self.nets.ema if self.nets.ema is not None else self.nets.model
            self.metrics = {"val_l1": _validate(model, self.val_batches, self.proc.device,
                                                self.run_dir / "samples" / f"step-{step:07d}.png")}
            self.csv_log.write(step=step, **self.metrics)
            self.nets.model.train()

    def save(self, step: int) -> Path | None:
        """Check the weights are finite (every rank), then write a checkpoint (rank 0) -> its path,
        or None on other ranks."""
        self.nets.non_finite(step, self.last_ckpt)
        if not self.proc.is_main:
            return None
        nets = self.nets
        self.last_ckpt = save_checkpoint(
            self.run_dir, model=nets.model, step=step, config=self.config_dict, optimizer=nets.optimizer,
            data_manifest_sha256=self.manifest_sha, metrics=self.metrics, keep=self.cfg.keep_checkpoints,
            world_size=self.proc.world, ema=nets.ema, discriminator=nets.disc, optimizer_d=nets.optimizer_d,
        )
        return self.last_ckpt

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train(
    cfg: TrainConfig,
    *,
    resume: str | Path | None = None,
    init: str | Path | None = None,
    dry_run: bool = False,
    stop_at_step: int | None = None,
    progress: bool = True,
) -> Path | None:
    """Train; returns the last checkpoint written (None on ranks other than 0).

    ``stop_at_step`` ends this invocation early (with a checkpoint) without changing the
    schedule, which is fixed by ``cfg.steps``; a later ``resume`` continues the same run.
    ``cfg.time_budget_s`` does the same once this invocation has run that long (set-up included),
    and ``cfg.checkpoint_every_s`` adds checkpoints by time (:class:`WallClock`).
    TrainingError when it cannot start or go on (the message says what to do);
    TrainingInterrupted on Ctrl-C, SIGTERM or SIGHUP, after saving a checkpoint (when a step was made).
    """
    proc = _Process(cfg)
    clock = WallClock(cfg, distributed=proc.distributed, device=proc.device)
    proc.join(cfg)
    run_dir = Path(cfg.out_dir)
    _check_out_dir(run_dir, resume=resume, init=init, dry_run=dry_run,
                   image_dirs=[*cfg.data.train_dirs, *cfg.data.val_dirs, *cfg.data.pair_dirs])
    model, cfg = _generator(cfg, init=init, resume=resume, is_main=proc.is_main)
    train_set, val_set, manifest_sha = _datasets(cfg, dry_run=dry_run, is_main=proc.is_main)
    nets = _Nets(cfg, model, proc.device, is_main=proc.is_main)
    start_step = nets.resume(resume, cfg, proc.device, is_main=proc.is_main) if resume is not None else 0
    if resume is not None and proc.is_main:
        _warn_if_data_changed(resolve_checkpoint(resume), manifest_sha)
    if stop_at_step is not None and stop_at_step <= start_step:
        raise TrainingUsageError(f"--stop-at-step {stop_at_step} is not after step {start_step}, where the run is: "
                                 "nothing to train")
    loop = _Loop(cfg, proc, nets, train_set, run_dir=run_dir, manifest_sha=manifest_sha)
    loader = _loader(train_set, cfg, proc, start_step)
    end_step = cfg.steps if stop_at_step is None else min(cfg.steps, stop_at_step)
    loop.open_records(train_set, val_set, start_step, progress=progress)

    # SIGTERM (a scheduler pre-empting the job, `timeout`, `kill`) and SIGHUP (the terminal closed;
    # not under nohup, which ignores it) are treated like Ctrl-C: save, then stop. The CLI's own
    # handler may be in place (it says a line for a stop during start-up): this one replaces it.
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in _STOP_SIGNALS:
            if signum != getattr(signal, "SIGHUP", None) or signal.getsignal(signum) != signal.SIG_IGN:
                previous[signum] = signal.signal(signum, _raise_interrupt)
    step, batches = start_step, None
    guard = _StepGuard(main_thread=threading.current_thread() is threading.main_thread())
    try:
        nets.model.train()
        batches = iter(loader)
        while step < end_step:
            with guard:  # a stop waits for the step under way: its checkpoint holds whole steps only
                losses, lr = loop.step(next(batches), step)
                step += 1
            out_of_time, checkpoint_due = clock.poll()
            if out_of_time:
                end_step = step  # log, checkpoint and end at this step, as stop_at_step would
                if proc.is_main:
                    log.info("time budget of %g s spent at step %d of %d: stopping", cfg.time_budget_s, step, cfg.steps)
            loop.record(step, end_step, losses, lr)
            if step % cfg.checkpoint_every == 0 or step == end_step or checkpoint_due:
                loop.save(step)
                clock.saved()
                if proc.distributed:
                    dist.barrier()
    except KeyboardInterrupt as exc:
        status = 128 + exc.signum if isinstance(exc, _Signalled) else getattr(exc, "status", 130)
        raise TrainingInterrupted(loop.save(step) if step > start_step else loop.last_ckpt, status) from None
    finally:
        # The workers ignore SIGTERM (_worker_signals): let them go now, through the loader's own
        # shutdown, not at interpreter exit, where multiprocessing's SIGTERM and join wait for them for
        # ever (a script that let TrainingInterrupted end the process hung: the traceback keeps the
        # iterator alive until then).
        if batches is not None and hasattr(batches, "_shutdown_workers"):  # (its __del__ does the same, later)
            batches._shutdown_workers()
        for signum, before in previous.items():
            signal.signal(signum, signal.SIG_DFL if before is None else before)  # None: set outside Python
        loop.close()
        if proc.distributed and dist.is_initialized():
            dist.destroy_process_group()
    return loop.last_ckpt


def ema_decay_at(step: int, decay: float) -> float:
    """The averaging weight after ``step`` updates: ``decay``, warmed up as (1 + step) / (10 + step)
    so early averages are not dominated by the initial weights (with 0.999 and no warm-up, a
    1,000-step run would still be 37 % its random start)."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for parameters; buffers (BatchNorm running
    statistics) are copied, as they are averages already."""
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _raise_interrupt(signum: int, _frame) -> None:
    raise _Signalled(signum)


class _StepGuard:
    """Ctrl-C, SIGTERM and SIGHUP wait for the training step under way to end, then stop as before
    (raised as the block is left); a second one stops at once (a step that hangs). Raised in the
    middle of a step, a stop saved the batch norms' running statistics of a forward pass whose
    step was not counted, and could land between two parameter updates of the optimiser: the
    resumed run differed from a straight one (helper 58: 30 statistics, by up to 1e-5). Signal
    handlers can only be set in the main thread: elsewhere (``main_thread`` False) it does nothing."""

    def __init__(self, *, main_thread: bool) -> None:
        self.signums = (signal.SIGINT, *_STOP_SIGNALS) if main_thread else ()
        self.pending: int | None = None
        self.before: dict[int, Any] = {}

    @staticmethod
    def stop(signum: int) -> KeyboardInterrupt:
        return KeyboardInterrupt() if signum == signal.SIGINT else _Signalled(signum)

    def _hold(self, signum: int, _frame) -> None:
        if self.pending is not None:
            raise self.stop(signum)
        self.pending = signum

    def __enter__(self) -> "_StepGuard":
        self.pending = None
        for signum in self.signums:
            handler = signal.getsignal(signum)
            if handler not in (signal.SIG_IGN, None):  # nohup's SIGHUP stays ignored
                self.before[signum] = signal.signal(signum, self._hold)
        return self

    def __exit__(self, kind: Any, *_rest: Any) -> None:
        for signum, handler in self.before.items():
            signal.signal(signum, handler)
        self.before.clear()
        if self.pending is not None and kind is None:
            raise self.stop(self.pending)


def _worker_signals(_worker_id: int) -> None:
    """Ctrl-C reaches the whole process group, and so do `timeout`'s SIGTERM and a closed
    terminal's SIGHUP; workers leave them to the main process, which saves a checkpoint and shuts
    them down (a worker killed by SIGTERM took the run down with "DataLoader worker is killed by
    signal", unsaved). Workers also hand batches over through shared-memory files rather than
    passed file descriptors: a worker shut down in the middle of an fd hand-over prints a
    "connection reset" traceback from its resource-sharer thread."""
    for signum in (signal.SIGINT, *_STOP_SIGNALS):
        signal.signal(signum, signal.SIG_IGN)
    torch.multiprocessing.set_sharing_strategy("file_system")


def estimate_class_weights(dataset, bins: np.ndarray, *, mix: float, seed: int, n: int = 256) -> np.ndarray:
    """Class-rebalancing weights from the ab histogram of ``n`` training samples (deterministic
    in the seed, so a resumed run recomputes the same weights)."""
    rng = np.random.default_rng([seed, 104729])
    pixels = []
    for i in range(min(n, 4 * len(dataset))):
        sample = dataset[(2 * 10**9 + i, int(rng.integers(len(dataset))))]
        ab = sample["ab"][:, ::4, ::4].reshape(2, -1).T.numpy()
        pixels.append(ab)
    return class_rebalance_weights(np.concatenate(pixels), bins, mix=mix)


@torch.no_grad()
def _validate(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]], device: torch.device, sheet: Path) -> float:
    model.eval()
    total, count = 0.0, 0
    for i, batch in enumerate(batches):
        ab_pred, l_paint = model(batch["l"].to(device), batch["hints"].to(device), return_l=True)
        total += F.l1_loss(ab_pred, batch["ab"].to(device), reduction="sum").item()
        count += batch["ab"].numel()
        if i == 0:
            _sample_sheet(batch, ab_pred, sheet, l_paint=l_paint)
    return total / count
