"""Self-describing checkpoints: safetensors weights + JSON, written atomically, loaded strictly.

A checkpoint is a directory::

    step-000500/
        model.safetensors        generator weights (float32)
        ema.safetensors          moving average of the generator weights (when ema_decay > 0):
                                 what export, evaluation and --init use when it is there
        discriminator.safetensors  the PatchGAN (when loss.gan > 0; training only)
        checkpoint.json          format, architecture arguments, training config, step,
                                 data manifest hash, metrics, irodori version, and the sha256
                                 of every .safetensors file beside it (checked on loading)
        train_state.safetensors  optimiser tensors and the torch RNG state (for --resume)
        train_state.json         optimiser hyper-parameters and per-parameter scalars

A run directory holds several ``step-*`` checkpoints and a ``latest`` file naming the newest.
Checkpoints are written into a temporary directory and renamed into place, so a crash never
leaves a half-written checkpoint behind. No pickle anywhere: a checkpoint from a stranger can be
loaded without running their code. Loading checks what it reads (JSON shapes, architecture keys,
sha256 digests where recorded, finite values) and raises :class:`CheckpointError` naming the
file and the problem, never a traceback from deeper down. Checkpoints written before the
digests existed load without that check.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from . import __version__
from .imageio import _UMASK, remove_stale_temporaries, write_atomic
from .model import Generator, GeneratorConfig
from .registry import ModelError, sha256_file

FORMAT = "irodori-checkpoint"
FORMAT_VERSION = 1
STAGING_NAME = re.compile(r"\.step-\d+\.[a-z0-9_]{8}")  # save_checkpoint's mkdtemp, before its rename
STAGING_STALE_S = 600.0  # a checkpoint being written touches its folder far more often than this



class CheckpointError(ModelError):
    """A checkpoint is missing, malformed, damaged, or does not match the model."""


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory, or a run directory (-> its latest checkpoint). CheckpointError if
    neither, or if ``latest`` is not the name of a checkpoint folder beside it."""
    path = Path(path)
    if (path / "checkpoint.json").is_file():
        return path
    latest = path / "latest"
    if latest.is_file():
        try:
            name = latest.read_bytes()[:256].decode("utf-8").strip()
        except UnicodeDecodeError:
            name = ""
        if not name or name in (".", "..") or "/" in name or "\\" in name or not name.isprintable():
            raise CheckpointError(f"{latest}: not the name of a checkpoint folder (damaged pointer file)")
        target = path / name
        if (target / "checkpoint.json").is_file():
            return target
        raise CheckpointError(f"{latest} names {name}, which is not a checkpoint in {path}")
    if (path / "log.csv").is_file():  # a run stopped before it wrote its first checkpoint
        raise CheckpointError(f"{path} is a run that holds no checkpoint yet (it stopped before its first): "
                              "start it again")
    if path.is_file():  # helper 58 gave an exported .onnx and was told of a "directory"
        onnx = (": an exported model colours and is scored, but holds no training state; give the run folder "
                "it was exported from") if path.suffix.lower() == ".onnx" else ""
        raise CheckpointError(f"{path} is a file, not a checkpoint or run folder{onnx}")
    raise CheckpointError(f"{path} is not a checkpoint or run directory (no checkpoint.json)")


def _read_json_object(file: Path) -> dict:
    """A JSON file holding an object -> dict; CheckpointError naming the file otherwise."""
    try:
        data = json.loads(file.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{file} is missing") from None
    except (OSError, ValueError, RecursionError) as exc:  # unreadable, not UTF-8, not JSON
        raise CheckpointError(f"{file}: not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{file}: holds a JSON {type(data).__name__}, not an object")
    return data


def read_meta(path: str | Path) -> dict:
    """checkpoint.json of a checkpoint (or of a run's latest), checked: an irodori checkpoint of a
    format this version reads, with an architecture that builds. CheckpointError otherwise."""
    ckpt = resolve_checkpoint(path)
    file = ckpt / "checkpoint.json"
    meta = _read_json_object(file)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not an irodori checkpoint (format={meta.get('format')!r})")
    version = meta.get("format_version", 0)
    if not isinstance(version, int):
        raise CheckpointError(f"{file}: format_version {version!r} is not a whole number")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: checkpoint format {version} is newer than this irodori ({__version__}) understands; "
            "upgrade irodori"
        )
    for key in ("config", "sha256", "metrics"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise CheckpointError(f"{file}: {key!r} is a {type(meta[key]).__name__}, not an object")
    generator_config(meta, file)  # refused here, before any weights are read
    return meta


def generator_config(meta: dict, file: Path) -> GeneratorConfig:
    """The architecture stored in checkpoint.json -> GeneratorConfig; CheckpointError if it is
    missing, has keys this irodori does not know, or values the config refuses."""
    arch = meta.get("arch")
    if not isinstance(arch, dict):
        raise CheckpointError(f"{file}: no architecture ('arch' is {type(arch).__name__}, not an object)")
    unknown = sorted(set(arch) - {f.name for f in dataclasses.fields(GeneratorConfig)})
    if unknown:
        raise CheckpointError(f"{file}: unknown architecture keys {', '.join(map(str, unknown))} "
                              "(written by a newer irodori, or edited)")
    try:
        return GeneratorConfig(**arch)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{file}: invalid architecture: {exc}") from None


def non_finite_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding NaN or inf (weights, batch-norm statistics)."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def _check_digest(file: Path) -> None:
    """Compare ``file`` with the sha256 its checkpoint.json recorded (if it recorded one)."""
    meta_file = file.parent / "checkpoint.json"
    if not meta_file.is_file():
        return
    expected = _read_json_object(meta_file).get("sha256") or {}
    if not isinstance(expected, dict) or file.name not in expected:
        return  # written before digests were recorded
    actual = sha256_file(file)
    if actual != expected[file.name]:
        raise CheckpointError(f"{file}: sha256 {actual[:16]}... does not match the {str(expected[file.name])[:16]}... "
                              "recorded in checkpoint.json; the file is damaged or was replaced")


def _load_tensors(file: Path, *, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors file -> its tensors, digest-checked; CheckpointError if missing or damaged."""
    if not file.is_file():
        raise CheckpointError(f"{file} is missing")
    _check_digest(file)
    try:
        return load_file(str(file), device=str(device))
    except Exception as exc:  # safetensors raises its own SafetensorError (truncated, bad header), OSError
        raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from None


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """load_state_dict(strict=True), with one message naming every key that differs."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        f"{k} (file {tuple(state[k].shape)} vs model {tuple(own[k].shape)})"
        for k in set(own) & set(state)
        if own[k].shape != state[k].shape
    )
    if missing or unexpected or mismatched:
        parts = []
        for title, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if keys:
                shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
                parts.append(f"{title}: {shown}")
        raise CheckpointError(f"{source} does not match the model; " + "; ".join(parts))
    model.load_state_dict(state, strict=True)


def load_generator(path: str | Path, *, device: str | torch.device = "cpu",
                   weights: str = "best") -> tuple[Generator, dict]:
    """Rebuild the generator from a checkpoint's own architecture arguments and load it strictly.

    ``weights``: "best" = the moving average when the run kept one, else the trained weights;
    "train" = the trained weights (what --resume continues from).
    """
    ckpt = resolve_checkpoint(path)
    meta = read_meta(ckpt)
    model = Generator(generator_config(meta, ckpt / "checkpoint.json"))
    file = ckpt / "ema.safetensors"
    if weights != "best" or not file.is_file():
        file = ckpt / "model.safetensors"
    load_module(model, file, device=device)
    return model.to(device), meta


def load_module(module: torch.nn.Module, file: Path, *, device: str | torch.device = "cpu") -> None:
    """Load a safetensors file into ``module``, strictly. CheckpointError if the file is missing,
    damaged (unreadable, or not the sha256 its checkpoint.json recorded), holds NaN or inf, or
    does not match the module."""
    state = _load_tensors(file, device=device)
    bad = non_finite_keys(state)
    if bad:
        raise CheckpointError(f"{file}: {len(bad)} tensors hold NaN or inf (e.g. {', '.join(bad[:3])}); "
                              "the run had diverged when it was saved")
    load_state_strict(module, state, source=str(file))


# ----------------------------------------------------------------------------------------------
# Optimiser state <-> flat tensors + JSON (safetensors holds tensors only)
# ----------------------------------------------------------------------------------------------
def _flatten_optimizer(state_dict: dict, prefix: str = "optim") -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict, prefix: str = "optim") -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    run_dir: str | Path,
    *,
    model: torch.nn.Module,
    step: int,
    config: dict,
    optimizer: torch.optim.Optimizer | None = None,
    data_manifest_sha256: str | None = None,
    metrics: dict | None = None,
    keep: int = 3,
    world_size: int = 1,
    ema: torch.nn.Module | None = None,
    discriminator: torch.nn.Module | None = None,
    optimizer_d: torch.optim.Optimizer | None = None,
) -> Path:
    """Write ``run_dir/step-NNNNNN`` atomically, point ``run_dir/latest`` at it, prune old ones."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=run_dir))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; a checkpoint folder is an ordinary folder (helper 58)
        for file_stem, module in (("model", model), ("ema", ema), ("discriminator", discriminator)):
            if module is not None:
                weights = {k: v.detach().cpu().float().contiguous() for k, v in module.state_dict().items()}
                save_file(weights, str(tmp / f"{file_stem}.safetensors"), metadata={"format": FORMAT})
        if optimizer is not None:
            tensors, optim_meta = _flatten_optimizer(optimizer.state_dict())
            state = {"optimizer": optim_meta, "step": step}
            if optimizer_d is not None:
                tensors_d, state["optimizer_d"] = _flatten_optimizer(optimizer_d.state_dict(), "optim_d")
                tensors.update(tensors_d)
            tensors["rng.torch"] = torch.get_rng_state()
            save_file(tensors, str(tmp / "train_state.safetensors"))
            _write_json(tmp / "train_state.json", state)
        arch = model.config.to_dict()
        # Written last: the digest of every tensor file, so a damaged byte is caught on loading.
        digests = {f.name: sha256_file(f) for f in sorted(tmp.glob("*.safetensors"))}
        _write_json(
            tmp / "checkpoint.json",
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "irodori_version": __version__,
                "arch": arch,
                "config": config,
                "step": step,
                "data_manifest_sha256": data_manifest_sha256,
                "metrics": metrics or {},
                "world_size": world_size,
                "sha256": digests,
            },
        )
        final = run_dir / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_atomic(run_dir / "latest", (name + "\n").encode())
    checkpoints = sorted(p for p in run_dir.glob("step-*") if p.is_dir())
    for old in checkpoints[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    remove_stale_temporaries(run_dir, pattern=STAGING_NAME, folders=True, older_than=STAGING_STALE_S)
    remove_stale_temporaries(run_dir)  # and a killed write of `latest`
    return final


def load_train_state(path: str | Path, optimizer: torch.optim.Optimizer, *,
                     optimizer_d: torch.optim.Optimizer | None = None) -> int:
    """Restore optimiser state(s) and torch RNG from a checkpoint; returns its step."""
    ckpt = resolve_checkpoint(path)
    if not (ckpt / "train_state.safetensors").is_file():
        raise CheckpointError(f"{ckpt} has no training state; it can initialise (--init) but not resume")
    tensors = _load_tensors(ckpt / "train_state.safetensors")
    file = ckpt / "train_state.json"
    meta = _read_json_object(file)
    if not isinstance(meta.get("optimizer"), dict) or not isinstance(meta.get("step"), int):
        raise CheckpointError(f"{file}: no optimizer state or step; this checkpoint can initialise a run "
                              "(--init) but not resume one")
    if optimizer_d is not None and "optimizer_d" not in meta:
        raise CheckpointError(f"{ckpt} was trained without a discriminator (loss.gan = 0); it cannot resume "
                              "with one: start a new run with --init instead")
    try:
        optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
        if optimizer_d is not None:
            optimizer_d.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer_d"], "optim_d"))
        torch.set_rng_state(tensors["rng.torch"])
    except (KeyError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        raise CheckpointError(f"{file}: the training state does not fit this run's optimiser "
                              f"({type(exc).__name__}: {exc})") from None
    return meta["step"]
