"""``irodori colorize``: inputs (files, folders, globs, stdin) -> outputs, one failure at a time.

A batch never stops for one bad file: each failure is reported with the file's name and the
reason, the rest go on, and the exit code is non-zero if anything failed. Outputs that already
exist are skipped (so an interrupted batch resumes where it stopped) unless ``--overwrite``;
outputs are written atomically so a skipped output is always a complete one.
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from .imageio import DEFAULT_MAX_PIXELS, ImageReadError, encode, write_atomic

log = logging.getLogger(__name__)

INPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


def collect_inputs(inputs: list[str], *, recursive: bool,
                   exclude: Path | None = None) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders and globs -> [(source, relative output stem)], [problems].

    A folder's images keep their path relative to the folder (so ``-r`` mirrors the tree);
    a file given directly is named by its stem. Folder walks skip everything under ``exclude``
    (the output folder), so `colorize . -r -o out` never colours its own outputs.
    """
    found: list[tuple[Path, Path]] = []
    problems: list[str] = []
    skip = exclude.resolve() if exclude is not None else None
    for arg in inputs:
        path = Path(arg)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(
                p for p in path.glob(pattern)
                if p.is_file() and p.suffix.lower() in INPUT_EXTENSIONS
                and not (skip is not None and skip in p.resolve().parents)
            )
            if not files:
                problems.append(f"{arg}: no images found" + ("" if recursive else " (use -r for sub-folders)"))
            found.extend((f, f.relative_to(path).with_suffix("")) for f in files)
        elif path.is_file():
            found.append((path, Path(path.stem)))
        elif glob.has_magic(arg):
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=recursive) if Path(m).is_file())
            if not matches:
                problems.append(f"{arg}: the pattern matches no files")
            found.extend((m, Path(m.stem)) for m in matches)
        else:
            problems.append(f"{arg}: no such file or folder")
    return found, problems


def plan_jobs(found: list[tuple[Path, Path]], outdir: Path, fmt: str) -> tuple[list[Job], list[str]]:
    """Map sources to outputs; two sources wanting the same output is an error for the second."""
    jobs: list[Job] = []
    problems: list[str] = []
    seen: dict[Path, Path] = {}
    for source, stem in found:
        output = outdir / stem.with_name(f"{stem.name}.{fmt}")
        key = output.resolve()
        if key in seen:
            if seen[key].resolve() != source.resolve():
                problems.append(f"{source}: its output {output} would overwrite the output of {seen[key]}; skipped")
            continue
        seen[key] = source
        jobs.append(Job(source, output))
    return jobs, problems


def run_colorize(args: argparse.Namespace) -> int:
    from .colorizer import load_colorizer
    from .registry import ModelIntegrityError, ModelNotFoundError

    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    stdin_mode = args.inputs == ["-"]
    if "-" in args.inputs and not stdin_mode:
        print("irodori colorize: - (stdin) cannot be mixed with other inputs", file=sys.stderr)
        return 2
    if not stdin_mode and args.output in (None, "-"):
        print("irodori colorize: give an output folder with -o OUTDIR", file=sys.stderr)
        return 2
    try:
        colorizer = load_colorizer(args.model, max_side=args.max_side, upsample=args.upsample,
                                   threads=args.threads, max_pixels=max_pixels)
    except (ModelNotFoundError, ModelIntegrityError, ValueError) as exc:
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return 2

    if stdin_mode:
        return _run_stdin(colorizer, args)

    found, problems = collect_inputs(args.inputs, recursive=args.recursive, exclude=Path(args.output))
    jobs, clashes = plan_jobs(found, Path(args.output), args.format)
    failures = problems + clashes
    for message in failures:
        print(f"error: {message}", file=sys.stderr)
    todo = [job for job in jobs if args.overwrite or not job.output.exists()]
    skipped = len(jobs) - len(todo)

    from tqdm import tqdm

    bar = tqdm(todo, desc="colorize", unit="img", disable=args.quiet or len(todo) < 2, file=sys.stderr,
               dynamic_ncols=True)
    done = 0
    for job in bar:
        try:
            image = colorizer.colorize(job.source)
            write_atomic(job.output, encode(image, args.format, quality=args.quality))
            done += 1
        except ImageReadError as exc:
            failures.append(f"{job.source}: {exc}")
            bar.write(f"error: {job.source}: {exc}", file=sys.stderr)
        except (OSError, ValueError, MemoryError) as exc:
            failures.append(f"{job.source}: {type(exc).__name__}: {exc}")
            bar.write(f"error: {job.source}: {type(exc).__name__}: {exc}", file=sys.stderr)
    bar.close()
    summary = f"{done} coloured, {skipped} skipped (output exists; --overwrite to redo), {len(failures)} failed"
    print(summary, file=sys.stderr)
    return 1 if failures else 0


def _run_stdin(colorizer, args: argparse.Namespace) -> int:
    data = sys.stdin.buffer.read()
    try:
        image = colorizer.colorize(data)
    except ImageReadError as exc:
        print(f"error: <stdin>: {exc}", file=sys.stderr)
        return 1
    encoded = encode(image, args.format, quality=args.quality)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(encoded)
        sys.stdout.buffer.flush()
    else:
        write_atomic(Path(args.output) / f"stdin.{args.format}", encoded)
    return 0
