"""Command-line interface: ``irodori colorize | train | export | evaluate | serve | models``.

Imports are lazy (inside each command) so ``--help`` and ``--version`` answer at once and
``colorize`` never imports torch. This is the only module that calls ``sys.exit``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
PNG_COMPRESSION = 1  # imageio.DEFAULT_PNG_COMPRESSION (a test keeps them equal; imageio is not imported for --help)

log = logging.getLogger("irodori")


def _whole_at_least(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {'at least 1' if least == 1 else f'{least} or more'}, not {value}")
    return value


def _positive_int(text: str) -> int:
    return _whole_at_least(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_at_least(text, 0)


def _max_side(text: str) -> int:
    """--max-side of colorize and serve: a whole number; under 1 refused with the real minimum
    (the model's size multiple, checked once the model is loaded)."""
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        if not text.strip().lstrip("-+").isdigit():
            raise
        raise argparse.ArgumentTypeError(f"must be at least the model's size multiple (32 for irodori's models), "
                                         f"not {int(text)}") from None


SHEET_LEAST = 64  # evaluate --sheet-height: under this a page's panels show nothing


def _sheet_height(text: str) -> int | None:
    """evaluate --sheet-height: a whole number of pixels, at least SHEET_LEAST, or "full" (None:
    each image's own height, to see its lines as they are)."""
    return None if text.strip().lower() == "full" else _whole_at_least(text, SHEET_LEAST)


def _temperature(text: str) -> float:
    from .colorizer import TEMPERATURE_RANGE  # numpy and Pillow, no torch; only when the flag is given

    low, high = TEMPERATURE_RANGE
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {text}")
    return value


def _quality(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be 1 to 100, not {value}")
    return value


def _format_name(text: str) -> str:
    """An output format as --format takes it: any case, "jpeg" for "jpg" (helper 56's was refused)."""
    name = text.lower()
    return "jpg" if name == "jpeg" else name


def _png_level(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"must be 0 to 9, not {value}")
    return value


# -v after the command too (`irodori colorize -v ...`), as -q is taken there; SUPPRESS keeps a -v
# given before the command when none comes after it.
_VERBOSE = argparse.ArgumentParser(add_help=False)
_VERBOSE.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                      help="debug logging of irodori's steps")


def _add_colorize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "colorize",
        parents=[_VERBOSE],
        help="colour images, folders or globs",
        description="Colour black-and-white images, each under one of two contracts, chosen per image "
        "(--mode auto) or by --mode: tint keeps the input's own full-resolution lightness and only the colour "
        "comes from the network (photos, grey art); paint keeps the ink exactly as printed and gives paper and "
        "screentone the network's colour, lightness included (B&W pages, line art, 1-bit scans). A colour "
        "input is re-coloured from its lightness.",
    )
    # "*", checked in batch._usage_problem: --reference takes every value after it, an input too
    p.add_argument("inputs", nargs="*", metavar="IN",
                   help="image files, .cbz/.zip comic archives, folders, globs, or - for stdin")
    p.add_argument("-o", "--output", default=None, metavar="OUTDIR",
                   help="output folder (created); for one input, a file name with its format's extension "
                   "(-o page.png, page.jpg, page.webp; ch01.cbz for an archive) is its output file; omit or "
                   "use - with a stdin input to write to stdout")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders (kept in the output)")
    p.add_argument("--format", type=_format_name, choices=["png", "jpg", "webp"], default=None,
                   help="output format (default png, or -o FILE's extension; jpeg is jpg)")
    # None: not given (the defaults, 95 and PNG_COMPRESSION, are set in batch, which warns of one
    # given for a format that has no use for it)
    p.add_argument("--quality", type=_quality, default=None, help="jpg/webp quality, 1-100 (default 95)")
    p.add_argument("--png-compression", type=_png_level, default=None, metavar="0-9",
                   help="png zlib level: 0 fastest and largest, 9 smallest and slowest "
                   f"(default {PNG_COMPRESSION}; measured in docs/BENCHMARKS.md)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    p.add_argument("--model", default="auto", metavar="NAME|PATH",
                   help="shipped model name (see `irodori models`), an .onnx file, or a checkpoint directory "
                   "(default auto: general-int8 tints photos and grey art, manga-int8 paints B&W pages, per image)")
    p.add_argument("--mode", choices=["auto", "tint", "paint"], default="auto",
                   help="tint: keep each input's lightness, colour only (photos, grey art); paint: keep the ink, "
                   "give paper and screentone colour (B&W pages, line art; needs a paint model); auto (default): "
                   "decided per image from its ink, paper and tone, and logged")
    p.add_argument("--tone", choices=["flat", "keep"], default="flat",
                   help="paint mode: flat (default) turns screentone into smooth colour, keep leaves the dots "
                   "as a printed texture over it")
    p.add_argument("--background", choices=["auto", "paper", "gutters", "paint"], default="auto",
                   help="paint mode: paper keeps the blank sheet around line art white (the paper a path can "
                   "reach from the image's edge without crossing a line), gutters keeps it white only where it "
                   "is a page's gutters and margins around panels, paint colours it too (speech balloons stay white "
                   "unless a hint is placed in one); auto (default): paper "
                   "for line art (lines and some solid blacks, at most 35%% ink; no screentone), gutters for pages")
    p.add_argument("--keep-colour", action="store_true",
                   help="write inputs that are already in colour (a chapter's colour cover or insert) as they "
                   "are, instead of re-colouring them from their lightness")
    p.add_argument("--max-side", type=_max_side, default=None,
                   help="longest side the network sees (default: the model's own; at least its size multiple, "
                   "32; a strip longer than 2:1 is seen as its pages: shorter side MAX_SIDE/2); colour is "
                   "upsampled to full size")
    p.add_argument("--upsample", choices=["bilinear", "bicubic", "lanczos"], default="bilinear",
                   help="how ab chroma is upsampled to full resolution (default bilinear)")
    p.add_argument("--temperature", type=_temperature, default=None, metavar="T",
                   help="more or less colour: the annealed-mean temperature, 0.1 to 1.0; lower is more vivid "
                   "(and blotchier), higher calmer and greyer (default: the model's own, 0.45 for the shipped ones)")
    p.add_argument("--max-pixels", type=_positive_int, default=None,
                   help="refuse images with more pixels than this (decompression-bomb guard; default 64000000)")
    p.add_argument("--threads", type=int, default=None,
                   help="images coloured at once in a folder, and threads for one image (default: all cores)")
    p.add_argument("--hint", action="append", default=None, metavar="X,Y,#RRGGBB",
                   help="colour hint: the colour at pixel (X, Y) of the input, filling the region it is in "
                        "(repeatable; tinted, only its chroma is used; painted, its lightness too)")
    p.add_argument("--hints", default=None, metavar="FILE.json",
                   help='hints from a JSON file: a list of {"x", "y", "color"} for every input, '
                   "or an object mapping image file names to such lists")
    p.add_argument("--palette", default=None, metavar="#RRGGBB,...",
                   help="use only these colours (and grey) for the output's chroma; your hints' colours "
                        "join them")
    # one or more values (extend): a shell-expanded glob (--reference refs/*.png) gives them all;
    # with "append" its second file became an input page, coloured and written (a helper's run)
    p.add_argument("--reference", action="extend", nargs="+", default=None, metavar="IMAGE|FOLDER|GLOB",
                   help="colour pages, covers or character sheets of the same series (one or more, up to the "
                   "next option; repeatable; a folder or glob stands for its images; at most 8 images): where a "
                   "page matches them, their colours are used (docs/REFERENCE.md). Give the inputs before it")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar, and no line per image saying whether it was tinted or painted")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        parents=[_VERBOSE],
        help="start the local web app and HTTP API (needs the web extra)",
        description="Serve the web page (drag in an image, place colour hints, download) and the HTTP API "
        "(POST /api/colorize, GET /api/models, the OpenAPI schema at /openapi.json). Every shipped model is "
        "offered, and auto (general-int8 tints photos, manga-int8 paints B&W pages, decided per image); each "
        "loads on first use. Binds 127.0.0.1 unless told otherwise.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--allow-host", action="append", default=None, metavar="NAME",
                   help="also answer requests for this host name (repeatable; * for any). By default only "
                   "localhost, 127.0.0.1, [::1] and --host are, against DNS rebinding")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", action="append", default=None, metavar="NAME|PATH",
                   help="the default model (the first given; default: auto, which tints with general-int8 and "
                   "paints with manga-int8, per image), and more to offer beside auto and the shipped ones: an "
                   ".onnx file or a checkpoint directory, offered under its file or folder name (repeatable)")
    p.add_argument("--max-upload-mb", type=float, default=20.0,
                   help="largest file accepted (the image, each reference), in MB (default 20); a request "
                   "may hold the image and 8 references")
    p.add_argument("--max-pixels", type=int, default=None, help="largest image accepted, in pixels (default 40000000)")
    p.add_argument("--upload-timeout", type=float, default=60.0, metavar="S",
                   help="seconds a request may take to send its whole body (default 60); a slower or stalled "
                   "upload gets 408 and gives up its place")
    p.add_argument("--max-concurrent", type=int, default=None,
                   help="images coloured at once (default: 2); more requests wait in a queue")
    p.add_argument("--queue", type=int, default=None,
                   help="requests allowed to upload or wait beyond --max-concurrent (default 8); beyond that: 503")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per image (default: the cores divided by --max-concurrent)")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        parents=[_VERBOSE],
        help="train a model on folders of colour images",
        description="Train on colour images (self-supervised: they are turned grey and the model learns to "
        "put the colour back). Config: --preset, then dotted overrides such as --data.crop_size=128 "
        "--optim.lr=1e-3 --steps=2000. Runs under torchrun for multi-process DDP.",
    )
    p.add_argument("dirs", nargs="*", help="folders of colour images (override data.train_dirs)")
    p.add_argument("--preset", default=None,
                   help="preset name (see irodori/presets) or a YAML file (default: default; with --resume: the run's own config)")
    p.add_argument("--out", default=None, help="run directory (overrides out_dir)")
    p.add_argument("--val", action="append", default=None, metavar="DIR", help="validation folder (repeatable)")
    p.add_argument("--stop-at-step", type=_positive_int, default=None, metavar="N",
                   help="end this invocation after step N with a checkpoint, keeping the schedule of --steps "
                   "(a later --resume continues the same run)")
    p.add_argument("--pairs", action="append", default=None, metavar="DIR",
                   help="paired folder (input/ black-and-white, truth/ colour, same names): real B&W versions "
                   "such as line art, used as the paint input of their colour images (repeatable)")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue a run from its latest (or a given) checkpoint, with the config it was started "
                   "with (folders and overrides given here change it, e.g. --steps=N to train longer)")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start a new run from a shipped model name or a checkpoint (fine-tuning; its architecture is kept)")
    p.add_argument("--dry-run", action="store_true", help="a few steps on synthetic images, in seconds")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", parents=[_VERBOSE], help="export a checkpoint to ONNX (checked against PyTorch)")
    p.add_argument("checkpoint", help="checkpoint or run directory")
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    p.add_argument("--name", default=None, help="model name stored in the ONNX metadata")
    p.add_argument("--max-side", type=_positive_int, default=512, help="default inference size stored in the metadata")
    p.add_argument("--overwrite", action="store_true", help="replace an output file that exists (default: refuse)")
    p.add_argument("--int8", action="store_true",
                   help="write an int8 copy (2.6-5.4x faster on CPUs, as the shipped -int8 models), calibrated on "
                   "32 images of --calibrate, or of the run's validation folder, else its training folders")
    p.add_argument("--calibrate", metavar="DIR", default=None,
                   help="with --int8: a folder of colour images like those the model will colour")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", parents=[_VERBOSE], help="score a model on a folder of colour images",
                       description="Colour the grey version of each colour image in DIR (the tint contract: the "
                       "truth's lightness kept) and score it against the original beside the grayscale baseline; "
                       "with --mode paint, paint each B&W page of a paired folder (DIR/input, DIR/truth), or each "
                       "colour image printed as a B&W page first (the paint training's renderer, seeded by its name), "
                       "and score it on full RGB beside the B&W page as it is (docs/MANGA_MODE.md).")
    p.add_argument("--mode", choices=("tint", "paint"), default="tint",
                   help="tint (default): colour the truth's lightness; paint: paint a paired folder's B&W inputs, "
                   "or colour images printed as B&W pages")
    p.add_argument("model", help="shipped model name, .onnx file or checkpoint directory")
    p.add_argument("dir", help="folder of colour images (ground truth; searched recursively)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--max-side", type=_max_side, default=None, help="network input size (default: the model's)")
    p.add_argument("--limit", type=_positive_int, default=None, help="evaluate at most N images")
    p.add_argument("--sample-hints", type=_non_negative_int, default=0, metavar="N",
                   help="also colour each image with N hints revealed from its ground truth (same hints every run)")
    p.add_argument("--sheets", default=None, metavar="DIR",
                   help="write a side-by-side sheet per image: input | truth | prediction (| with hints)")
    p.add_argument("--overwrite", action="store_true",
                   help="write sheets into a --sheets folder that already holds files (default: refuse, so that "
                   "one model's sheets are not mixed with or written over by another's)")
    p.add_argument("--sheet-height", type=_sheet_height, default=256, metavar="PX",
                   help=f"the sheets' panels' height in pixels ({SHEET_LEAST} or more; default 256), or 'full' for "
                        "each image's own height (to judge ink lines)")
    p.add_argument("--reference", action="extend", nargs="+", default=None, metavar="IMAGE|FOLDER|GLOB",
                   help="colour every image after these colour references (as colorize --reference; at most 8, "
                   "none from DIR itself: it would give an image its own colours back)")
    p.add_argument("--no-fd", action="store_true",
                   help="skip the Fréchet distance (computed by default when the eval extra is installed)")
    p.add_argument("--threads", type=_positive_int, default=None, help="threads for the network (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _version_text() -> str:
    """The package's version and the shipped models' own (their checkpoint names: general-v0.3)."""
    from .registry import MODELS

    models = ", ".join(dict.fromkeys(info.weights_dir for info in MODELS.values()))
    return f"irodori {__version__} (models: {models})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irodori",
        description="Colour black-and-white manga pages and photographs with a small neural network.",
    )
    parser.add_argument("--version", action="version", version=_version_text())
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging of irodori's steps")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_colorize(sub)
    _add_train(sub)
    _add_export(sub)
    _add_evaluate(sub)
    _add_serve(sub)
    sub.add_parser("models", parents=[_VERBOSE], help="list the shipped models")
    return parser


# ----------------------------------------------------------------------------------------------
def cmd_colorize(args: argparse.Namespace) -> int:
    """Ctrl-C, and SIGTERM or SIGHUP once the batch module is loaded, end it with one line at
    any moment: the colouring loop says what was written; start-up (the model, the folder scan)
    and stdin mode, which have written nothing, say only that."""
    received: list[KeyboardInterrupt] = []
    try:
        from .batch import Terminated, run_colorize

        with _raising_signals(Terminated) as received:
            status = run_colorize(args, received)
        interrupted = getattr(received[-1], "status", EXIT_INTERRUPTED) if received else status
        if interrupted != status:  # its exception raised in a finaliser, which Python ignores (tqdm's __del__
            raise received[-1]  # as the batch ended: exit 0 where 143 was promised, helper 78)
        return status
    except (KeyboardInterrupt, ImportError) as exc:
        if not isinstance(exc, KeyboardInterrupt) and not received:
            raise  # a missing module, not an interrupted import
        interrupt = exc if isinstance(exc, KeyboardInterrupt) else received[-1]
        status = getattr(interrupt, "status", EXIT_INTERRUPTED)  # Terminated's 143
        print("\nterminated" if status != EXIT_INTERRUPTED else "\ninterrupted", file=sys.stderr)
        return status


@contextlib.contextmanager
def _raising_signals(terminated: type[KeyboardInterrupt]) -> Iterator[list[KeyboardInterrupt]]:
    """Within the block SIGTERM (and SIGHUP, unless ignored, as nohup does) raises ``terminated``
    (with the signal's number) in the main thread, and SIGINT
    KeyboardInterrupt as Python's own handler does (where that one is in place: a background job
    of a shell ignores SIGINT, and keeps ignoring it); each is also kept in the list yielded. An
    extension module whose import a signal interrupts (onnxruntime's, as the model loads) raises
    "ImportError: initialization failed" in its place, from nothing: the list tells. The handlers
    before are put back after. Off the main thread, where handlers cannot be set, nothing changes."""
    received: list[KeyboardInterrupt] = []

    def handler(signum: int, frame: object) -> None:
        received.append(KeyboardInterrupt() if signum == signal.SIGINT else terminated(signum))
        raise received[-1]

    wanted = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        wanted.append(signal.SIGINT)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:  # not under nohup
        wanted.append(signal.SIGHUP)
    try:
        previous = {signum: signal.signal(signum, handler) for signum in wanted}
    except ValueError:  # not the main thread
        yield received
        return
    try:
        yield received
    finally:
        for signum, before in previous.items():
            signal.signal(signum, signal.SIG_DFL if before is None else before)  # None: set outside Python


# Presets made to continue a trained model, and what to give as its --init.
PRESETS_FOR_INIT = {"finetune": "manga, or --init general", "paint": "manga",
                    "general-refine": "RUN, a run of the default preset"}


def _resumed_config(resume: str, preset: str | None) -> tuple[dict, str | None, dict]:
    """-> (the config the run was started with, None, that config): --resume alone continues the
    same run, in its own directory. A preset given with --resume replaces the stored config (as
    does a checkpoint without one) but for its architecture, which the checkpoint's weights fix,
    and its folders (train, val, pairs), unless others are given; --out and overrides apply on
    top either way. The third item is the stored config ({} when it has none), to tell the user
    what a preset changes (:func:`_changed_settings`)."""
    from .checkpoint import CheckpointError, read_meta
    from .config import ConfigError, merge_dicts

    try:
        meta = read_meta(resume)
    except CheckpointError as exc:
        raise ConfigError(str(exc)) from None
    path = Path(resume)
    run_dir = {"out_dir": str(path.parent if (path / "checkpoint.json").is_file() else path)}
    stored = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    if preset is not None or not stored:
        kept: dict = dict(run_dir)
        if isinstance(stored.get("model"), dict):
            kept["model"] = stored["model"]
        data = stored.get("data") if isinstance(stored.get("data"), dict) else {}
        folders = {key: data[key] for key in ("train_dirs", "val_dirs", "pair_dirs") if data.get(key)}
        if folders:
            kept["data"] = folders
        return kept, preset or "default", stored
    return merge_dicts(stored, run_dir), None, stored


def _printed_config(cfg, init: str | None) -> dict:
    """The config a run will train with, for --print-config: with --init the architecture is the
    init model's (with a paint head when the config asks for one), as :mod:`irodori.train` makes
    it; an init that cannot be read is left to the run to report."""
    from .checkpoint import CheckpointError, read_meta
    from .config import config_to_dict
    from .registry import ModelNotFoundError, resolve_init_weights

    printed = config_to_dict(cfg)
    if init is None:
        return printed
    try:
        model = (read_meta(resolve_init_weights(init)).get("config") or {}).get("model")
    except (CheckpointError, ModelNotFoundError, OSError, ValueError):
        return printed
    if isinstance(model, dict):
        printed["model"] = {**model, "paint": bool(model.get("paint")) or cfg.model.paint}
        printed["encoder_init"] = "auto"
    return printed


def _changed_settings(before: dict, after: dict, prefix: str = "") -> list[str]:
    """Two configs (nested dicts) -> "key: old -> new" for each setting that differs."""
    changed = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += _changed_settings(old, new, f"{prefix}{key}.")
        elif old != new and key in before:
            changed.append(f"{prefix}{key}: {old} -> {new}")
    return changed


def _warn_about_the_recipe(args: argparse.Namespace, config: dict, stored: dict) -> None:
    """Warn about a recipe the user may not mean: a preset made for --init without one, or a
    preset given with --resume (``stored``: the run's own config), naming what it changes; say
    that the finetune preset renders the images as printed pages (helper 48: a family-photo run
    did so silently)."""
    if args.preset in PRESETS_FOR_INIT and args.init is None and args.resume is None and not args.dry_run:
        log.warning("the %s preset continues a trained model (--init %s); without --init it trains a new "
                    "network from ImageNet features alone, which its steps and data are not enough for",
                    args.preset, PRESETS_FOR_INIT[args.preset])
    if args.preset == "finetune" and args.resume is None and config["data"]["manga_prob"] > 0:
        log.info("the finetune preset shows your images to the network as printed B&W pages (screentone and "
                 "ink, data.manga_prob=%g), to colour such pages; to colour photographs, grey art or grey "
                 "versions of colour pages, add --data.manga_prob=0 (docs/FINETUNE.md)", config["data"]["manga_prob"])
    if args.resume is not None and args.preset is not None and stored:
        changed = _changed_settings(stored, config)
        if changed:
            log.warning("--preset %s replaces the settings the run was started with, in the middle of its "
                        "schedule: %s", args.preset, "; ".join(changed))


def _interrupted_line(exc: Any, out_dir: str) -> str:
    """The line a stopped training run ends with: where it saved and how to go on, or that it had
    saved nothing yet."""
    what = "interrupted" if exc.status == EXIT_INTERRUPTED else "terminated"
    if exc.checkpoint is None and not (Path(out_dir) / "latest").is_file():
        return f"\n{what} before the first checkpoint: nothing was saved; start the run again"
    where = f"; checkpoint saved to {exc.checkpoint}" if exc.checkpoint else ""
    return f"\n{what}{where}. Continue with: irodori train --resume {out_dir}"


def _init_meta(init: str | None) -> dict:
    """checkpoint.json of ``--init`` ({} without one): it must name a shipped model or a
    checkpoint this version reads, else ConfigError (a usage error, exit 2, as ``colorize
    --model`` gives), before any data is read."""
    from .checkpoint import CheckpointError, read_meta
    from .config import ConfigError
    from .registry import ModelError, ModelNotFoundError, resolve_init_weights

    if init is None:
        return {}
    try:
        return read_meta(resolve_init_weights(str(init)))
    except (CheckpointError, ModelNotFoundError, ModelError) as exc:
        raise ConfigError(f"--init {init}: {exc}") from None


PAINT_FINETUNE = {"data": {"paint_prob": 0.8}, "loss": {"paint_l1": 2.0}}  # the paint preset's


def _init_paints(args: argparse.Namespace, init_meta: dict, cli_overrides: dict) -> dict:
    """Settings for a run that starts from a model that paints (``--init manga``, its
    checkpoint.json ``init_meta``): its
    architecture has a paint head, so ``model.paint`` is true whatever the preset (the paint
    settings the user gives are then accepted: "a tint model cannot learn to paint" was said of
    `manga`). The ``finetune`` preset also fine-tunes its painting (PAINT_FINETUNE): trained on
    colours alone, the decoder moved under the paint head, and a helper's fine-tuned `manga`
    painted B&W pages nearly without colour (mean chroma 40 -> 6), with grey blotches on white
    paper. A paint setting given alone decides the other: ``--data.paint_prob=0`` (or
    ``--loss.paint_l1=0``) trains the colours alone, and so does ``--data.manga_prob=0`` given
    alone (the pages seen grey, as they are: FINETUNE.md's choice for grey pages; four samples in
    five were still rendered as B&W pages for the painting, helper 58). {} without an init, or for
    one that does not paint."""
    if not init_meta.get("arch", {}).get("paint"):
        return {}
    settings: dict = {"model": {"paint": True}}
    if args.preset != "finetune":
        return settings
    prob = (cli_overrides.get("data") or {}).get("paint_prob")
    l1 = (cli_overrides.get("loss") or {}).get("paint_l1")
    grey = float((cli_overrides.get("data") or {}).get("manga_prob", 1.0)) == 0.0
    if prob is None and l1 is None and grey:
        log.info("--data.manga_prob=0: the pages are seen grey, as they are, and %s's painting is not trained "
                 "(--data.paint_prob=0.8 --loss.paint_l1=2 trains it too, on pages printed as B&W)", args.init)
        prob, l1 = 0.0, 0.0
    elif prob is None and l1 is None:
        log.info("%s paints: its painting is fine-tuned too (--data.paint_prob=0.8 --loss.paint_l1=2; "
                 "--data.paint_prob=0 trains its colours alone)", args.init)
        prob, l1 = PAINT_FINETUNE["data"]["paint_prob"], PAINT_FINETUNE["loss"]["paint_l1"]
    elif prob is None:
        prob = PAINT_FINETUNE["data"]["paint_prob"] if float(l1) > 0 else 0.0
    elif l1 is None:
        l1 = PAINT_FINETUNE["loss"]["paint_l1"] if float(prob) > 0 else 0.0
    return {**settings, "data": {"paint_prob": prob}, "loss": {"paint_l1": l1}}


def cmd_train(args: argparse.Namespace, overrides: list[str]) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("irodori train needs the training extra: pip install 'irodori[train]'", file=sys.stderr)
        return EXIT_USAGE
    from .config import ConfigError, config_to_dict, load_config, merge_dicts, parse_overrides
    from .checkpoint import read_meta
    from .registry import ModelNotFoundError
    from .train import TrainingError, TrainingInterrupted, TrainingUsageError, out_inside_images, train

    extra: dict = {}
    if args.dirs:
        extra.setdefault("data", {})["train_dirs"] = args.dirs
    if args.val is not None:
        extra.setdefault("data", {})["val_dirs"] = args.val
    if args.pairs is not None:
        extra.setdefault("data", {})["pair_dirs"] = args.pairs
    if args.out:
        extra["out_dir"] = args.out
    if args.dry_run:
        # A few tiny steps through every part of the loop: data, loss, checkpoint, validation.
        extra = merge_dicts({"steps": 4, "batch_size": 4, "checkpoint_every": 2, "val_every": 2,
                             "log_every": 1, "val_batches": 1, "out_dir": args.out or "runs/dry-run",
                             "data": {"crop_size": 64, "workers": 0}}, extra)
    try:
        cli_overrides = parse_overrides(overrides)
        if args.init is not None and args.resume is not None:
            raise ConfigError("--init starts a new run from a model's weights and --resume continues a run; "
                              "give one of them")
        asked_channels = (cli_overrides.get("model") or {}).get("hint_channels")
        if args.init is not None and asked_channels is not None and str(asked_channels) != "4":
            raise ConfigError(f"--model.hint_channels={asked_channels}: with --init only 4 may be asked (it grows a "
                              "lightness hint channel on a model of 3; a model of 4 keeps its 4)")
        grown = {"paint", "hint_channels", "line_art_head"}  # what --init may add to its model
        if args.init is not None and set(cli_overrides.get("model") or {}) - grown:
            names = ", ".join(f"--model.{k}" for k in cli_overrides["model"])
            raise ConfigError(f"{names}: with --init the architecture is the init model's and cannot change "
                              "(except --model.paint=true, which grows a paint head on it, "
                              "--model.line_art_head=true, which grows a line-art lightness head on a paint "
                              "model, and --model.hint_channels=4, which grows a lightness hint channel)")
        init_meta = _init_meta(args.init)
        base, preset, stored = {}, args.preset or "default", {}
        if args.resume is not None:
            base, preset, stored = _resumed_config(args.resume, args.preset)
        extra = merge_dicts(_init_paints(args, init_meta, cli_overrides), extra)
        cfg = load_config(preset, merge_dicts(base, merge_dicts(extra, cli_overrides)))
    except ConfigError as exc:
        print(f"irodori train: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _warn_about_the_recipe(args, config_to_dict(cfg), stored)
    if args.print_config:
        import json

        print(json.dumps(_printed_config(cfg, args.init), indent=2))
        return EXIT_OK
    if not args.dry_run and not cfg.data.train_dirs and not cfg.data.pair_dirs:
        print("irodori train: give at least one folder of colour images", file=sys.stderr)
        return EXIT_USAGE
    missing = [] if args.dry_run else [d for d in (*cfg.data.train_dirs, *cfg.data.pair_dirs) if not Path(d).is_dir()]
    folders = [*cfg.data.train_dirs, *cfg.data.val_dirs, *cfg.data.pair_dirs]
    resumed_relative = (bool(missing) and args.resume is not None and not args.dirs
                        and not Path(missing[0]).is_absolute())
    problem = ((f"{missing[0]} is a file, not a folder: give the folder of images that holds it"
                if Path(missing[0]).exists() else f"image folder not found: {missing[0]}" + (
                    " (the run's folder as it was given, from the folder the run was started in: run from there, "
                    "or give the folders again, irodori train FOLDER... --resume RUN)" if resumed_relative else ""))
               if missing
               else f"--out {cfg.out_dir} is a file, not a folder" if Path(cfg.out_dir).is_file()
               else out_inside_images(Path(cfg.out_dir), folders))
    if problem:  # said before the init model loads, a usage error as colorize's (helpers 58 and 60)
        print(f"irodori train: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from .batch import _is_terminal  # the bar on a terminal only, as colorize's (helper 58: 602 redraws in a log)

        last = train(cfg, resume=args.resume, init=args.init, dry_run=args.dry_run,
                     progress=not args.quiet and _is_terminal(sys.stderr), stop_at_step=args.stop_at_step)
    except TrainingInterrupted as exc:
        print(_interrupted_line(exc, cfg.out_dir), file=sys.stderr)
        return exc.status
    except (ModelNotFoundError, TrainingUsageError) as exc:  # --init names no model, --out holds a run...: the
        print(f"irodori train: {exc}", file=sys.stderr)       # command line's fault, as in colorize
        return EXIT_USAGE
    except (TrainingError, FileNotFoundError, ValueError) as exc:
        print(f"irodori train: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if last is not None:
        step = int(read_meta(last).get("step", cfg.steps))
        if step < cfg.steps:  # --stop-at-step or the time budget ended this invocation
            print(f"stopped at step {step} of {cfg.steps}: {last}. Continue with: irodori train --resume {cfg.out_dir}")
        else:
            print(f"done: {last}")
    return EXIT_OK


def _unwritable(path: str) -> str | None:
    """Why a file cannot be written at ``path`` (a folder is there, a file is where a parent
    folder must be, or its folder cannot be made or written), or None. Missing parent folders
    are made here, before the work, so that its result is not lost after it."""
    target = Path(path)
    if target.is_dir():
        return f"{path} is a folder; give a file name"
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot make the folder {target.parent} ({exc.strerror or exc})"
    if not os.access(target.parent, os.W_OK):
        return f"cannot write into {target.parent} (permission denied)"
    try:  # what access() cannot tell: a read-only file system, /proc, root's writes refused
        with tempfile.TemporaryFile(dir=target.parent):
            pass
    except OSError as exc:
        return f"cannot write into {target.parent} ({exc.strerror or exc})"
    return None


def cmd_export(args: argparse.Namespace) -> int:
    try:
        from .export import ExportError, export_onnx
    except ImportError as exc:
        print(f"irodori export needs the training extra (pip install 'irodori[train]'): {exc}", file=sys.stderr)
        return EXIT_USAGE
    from .checkpoint import CheckpointError

    suffix = Path(args.output).suffix
    problem = ((f"-o {args.output}: an exported model is an ONNX file; name it {Path(args.output).stem}.onnx"
                if suffix.lower() != ".onnx" and not Path(args.output).is_dir() else None)
               or _unwritable(args.output) or (f"{args.output} exists; --overwrite to replace it"
                                               if Path(args.output).exists() and not args.overwrite else None))
    if problem:
        print(f"irodori export: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.calibrate is not None and not args.int8:
        print("irodori export: --calibrate is for --int8", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.int8:
            return _export_int8(args)
        report = export_onnx(args.checkpoint, args.output, name=args.name, max_side=args.max_side)
    except (ExportError, CheckpointError, OSError) as exc:
        print(f"irodori export: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {args.output}: onnx.checker ok; max |onnxruntime - torch| = {report['max_abs_err']:.2e} "
          f"at {report['check_size'][0]}x{report['check_size'][1]}")
    return EXIT_OK


def _export_int8(args: argparse.Namespace) -> int:
    """export --int8: the calibration images (--calibrate, else the run's validation folder, else
    its training folders), then :func:`irodori.quantize.export_int8`."""
    from .checkpoint import read_meta, resolve_checkpoint
    from .data import list_images, usable_images
    from .quantize import export_int8

    if args.calibrate is not None:
        folders, whence = [args.calibrate], "--calibrate"
    else:
        data = read_meta(resolve_checkpoint(args.checkpoint)).get("config", {}).get("data", {})
        folders = [d for d in data.get("val_dirs") or data.get("train_dirs") or [] if Path(d).is_dir()]
        whence = "the run's " + ("validation" if data.get("val_dirs") else "training") + " folder"
        if not folders:
            recorded = ", ".join(data.get("train_dirs") or []) or "none recorded"
            print(f"irodori export: the run's image folders are not here ({recorded}); give --calibrate DIR, a "
                  "folder of images like those you will colour", file=sys.stderr)
            return EXIT_USAGE
    try:
        images = usable_images(list_images(folders), None, [])[0]  # readable, and not irodori's outputs
    except FileNotFoundError as exc:
        print(f"irodori export: --calibrate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not images:
        print(f"irodori export: no images in {', '.join(folders)} ({whence}) to calibrate on", file=sys.stderr)
        return EXIT_USAGE
    report = export_int8(args.checkpoint, args.output, images, name=args.name, max_side=args.max_side)
    print(f"wrote {args.output}: int8, {report['bytes'] / 1e6:.1f} MB, calibrated on {report['calibration_images']} "
          f"images of {', '.join(folders)} ({whence}{'; printed as B&W pages: a paint model' if report['paints'] else ''}"
          f"); mean |int8 - float32| of ab {report['int8_ab_err']:.3f}")
    return EXIT_OK


def _sheets_problem(sheets: str | None, *, overwrite: bool) -> str | None:
    """Why evaluate's --sheets folder will not do (a file; a folder that holds files, without
    --overwrite: an earlier run's sheets, which this run's would be mixed with), or None."""
    if not sheets or not Path(sheets).exists():
        return None
    folder = Path(sheets)
    if not folder.is_dir():
        return f"--sheets {sheets} is a file, not a folder"
    held = sum(1 for p in folder.iterdir() if not p.name.startswith("."))
    if held and not overwrite:
        return (f"--sheets {sheets} already holds {held} file{'s' if held != 1 else ''} (an earlier run's sheets?); "
                "give another folder, or --overwrite to write this run's sheets among them")
    return None


def _references_outside(references: list[str], folder: Path) -> list[Path]:
    """evaluate's references -> their image files; ReferenceImageError for one inside the folder
    scored: its own truth as a reference gives an image its colours back (docs/REFERENCE.md), a
    score no user's page gets."""
    from .reference import ReferenceImageError, reference_files

    files = reference_files(references)
    inside = [path for path in files if folder.resolve() in path.resolve().parents]
    if inside:
        raise ReferenceImageError(f"reference {inside[0]} is in {folder}, the folder scored: an image would get its "
                                  "own colours back; give references from outside it")
    return files


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_folder, format_table, result_json
    from .features import FeaturesUnavailable
    from .registry import ModelNotFoundError

    problem = ((_unwritable(args.json) if args.json else None)
               or _sheets_problem(args.sheets, overwrite=args.overwrite)
               or (None if Path(args.dir).is_dir() else
                   f"{args.dir}: {'not a folder' if Path(args.dir).exists() else 'no such folder'}"))
    if problem:  # found before the work, not after it
        print(f"irodori evaluate: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from .colorizer import load_colorizer
    from .registry import ModelError

    try:  # loaded here: a model that cannot be loaded is the command line's fault, as in colorize
        colorizer = load_colorizer(args.model, max_side=args.max_side, threads=args.threads)
    except (ModelNotFoundError, ModelError) as exc:
        print(f"irodori evaluate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.reference:
        from .reference import ReferenceImageError

        try:
            colorizer = colorizer.with_references(_references_outside(args.reference, Path(args.dir)))
        except ReferenceImageError as exc:
            print(f"irodori evaluate: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.mode == "paint" and colorizer.paint_backend is None:  # it said "try --model manga", no flag here
        print(f"irodori evaluate: --mode paint needs a model that paints; {args.model} only tints (try: irodori "
              f"evaluate manga {args.dir} --mode paint)", file=sys.stderr)
        return EXIT_USAGE
    from .batch import _is_terminal  # the bar on a terminal only, as colorize's (a log file got its redraws)

    try:
        result = evaluate_folder(colorizer, args.dir, limit=args.limit, hints=args.sample_hints, sheets=args.sheets,
                                 sheet_height=args.sheet_height, fd=False if args.no_fd else None,
                                 progress=not args.quiet and _is_terminal(sys.stderr), mode=args.mode)
    except (FileNotFoundError, ValueError, FeaturesUnavailable) as exc:
        print(f"irodori evaluate: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(format_table(result))
    if args.json:
        from .imageio import write_atomic

        try:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(Path(args.json), result_json(result).encode())
        except OSError as exc:  # the disk filled, the folder went away: the table above is the result
            print(f"irodori evaluate: cannot write {args.json} ({exc.strerror or exc})", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .server import run_server
    except ImportError as exc:
        print(f"irodori serve needs the web extra: pip install 'irodori[web]' ({exc})", file=sys.stderr)
        return EXIT_USAGE
    return run_server(args)


def card_location(card: str, *, root: Path | None = None) -> str:
    """Where to read a model card (``docs/models/NAME.md``): the file itself when ``root`` (default:
    this source checkout, for an editable install) has it; else, since a wheel holds no docs, the
    path in irodori's source repository, said as such."""
    path = (root or Path(__file__).resolve().parents[2]) / card
    return str(path) if path.is_file() else f"{card} in irodori's source repository (not installed with the package)"


def cmd_models() -> int:
    from .registry import DEFAULT_MODEL, DEFAULT_PAINT_MODEL, MODELS

    # The default is "auto", per image: these two are what it tints and paints with.
    marks = {DEFAULT_MODEL: " (default: tints under auto)", DEFAULT_PAINT_MODEL: " (default: paints under auto)"}
    for name, info in MODELS.items():
        mark = marks.get(name, "")
        print(f"{name}{mark}\n    {info.description}\n    file: {info.onnx}\n    card: {card_location(info.card)}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run one command; -> its exit status. Output into a closed pipe (`irodori models | head -1`)
    ends quietly with 141, as a program killed by SIGPIPE does."""
    try:
        status = _main(argv)
        sys.stdout.flush()  # here, where a closed pipe can be caught, not at interpreter exit
        return status
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def glued_values(argv: list[str]) -> list[str]:
    """``--hint -5,10,#ff0000`` -> ``--hint=-5,10,#ff0000``: argparse takes a value that starts
    with a dash for an option (only a plain negative number is a value), and said "expected one
    argument" instead of irodori's own "outside the image" for a hint left of the page."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] == "--hint" and token[:1] == "-" and token[1:2] in tuple("0123456789."):
            out[-1] = f"--hint={token}"
        else:
            out.append(token)
    return out


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(glued_values(sys.argv[1:] if argv is None else list(argv)))
    # irodori's own lines at INFO; other libraries' only from WARNING (torch's exit-time cache
    # statistics, a web server's chatter)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    if args.verbose:  # irodori's own steps (model, sizes, timings), not every library's chatter (Pillow's chunks)
        log.setLevel(logging.DEBUG)
    elif getattr(args, "quiet", False) and args.command in ("colorize", "evaluate"):
        log.setLevel(logging.WARNING)  # -q: no progress bar and no line per image (tint or paint); errors still
    if args.command != "train" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "colorize":
        return cmd_colorize(args)
    if args.command == "models":
        return interruptible(cmd_models, lambda status: _stopped_line(args, status))
    commands = {"train": lambda: cmd_train(args, extra), "export": lambda: cmd_export(args),
                "evaluate": lambda: cmd_evaluate(args), "serve": lambda: cmd_serve(args)}
    return _stoppable(commands[args.command], lambda status: _stopped_line(args, status))


def _stoppable(command: Callable[[], int], line: Callable[[int], str]) -> int:
    """:func:`interruptible`, with SIGTERM and SIGHUP turned into the exception Ctrl-C raises, so
    that `timeout`, `kill` or a closed terminal end an evaluation, an export, a server's start-up
    or torch's import with ``line(status)`` and 143 or 129, as Ctrl-C does with 130: they ended
    the process without a word (helper 55). Training's loop and a running server put their own
    handlers in place within this (a checkpoint saved; uvicorn's graceful shutdown)."""
    from .batch import Terminated

    with _raising_signals(Terminated) as received:
        try:
            return interruptible(command, line)
        except ImportError:  # an extension module's import cut by the signal (see _raising_signals)
            if not received:
                raise
            status = getattr(received[-1], "status", EXIT_INTERRUPTED)
            print(f"\n{line(status)}", file=sys.stderr)
            return status


def _stopped_line(args: argparse.Namespace, status: int) -> str:
    """What a stop outside a command's own handler says (:func:`interruptible`), when it comes:
    ``status`` 130 for Ctrl-C, 143 or 129 for SIGTERM or SIGHUP."""
    word = "interrupted" if status == EXIT_INTERRUPTED else "terminated"
    if args.command == "serve":
        return "stopped"
    run = getattr(args, "resume", None) or getattr(args, "out", None)
    if args.command != "train":
        return word
    if not run or not (Path(run) / "latest").is_file():
        return f"{word} before the first checkpoint: nothing was saved; start the run again"
    from .checkpoint import CheckpointError, read_meta

    try:
        meta = read_meta(run)
    except CheckpointError:
        meta = {}
    if int(meta.get("step", -1)) >= int(meta.get("config", {}).get("steps", 1 << 62)):
        return f"{word} after the run's last step: it is complete ({run})"  # a signal after the loop
    return f"{word}. Continue with: irodori train --resume {run}"


def interruptible(command: Callable[[], int], line: Callable[[int], str]) -> int:
    """Run a command; Ctrl-C (or SIGTERM and SIGHUP where the command turned them into an
    exception) where the command has no handler of its own (train's loop and colorize's batch
    have: they say what was saved) ends it with ``line(status)`` and that status (130, 143 or 129),
    not a traceback: while torch or a model loads, during an evaluation, a server's Ctrl-C, a
    signal just after training's last step. An extension module's import cut by the signal
    raises ImportError instead; that one is not told from a missing module here, and propagates."""
    try:
        return command()
    except KeyboardInterrupt as exc:
        status = getattr(exc, "status", None) or (128 + exc.signum if hasattr(exc, "signum") else EXIT_INTERRUPTED)
        print(f"\n{line(status)}", file=sys.stderr)
        return status


def entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
