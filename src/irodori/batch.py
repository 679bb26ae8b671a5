"""``irodori colorize``: inputs (files, folders, globs, stdin) -> outputs, one failure at a time.

A batch never stops for one bad file: each failure is reported with the file's name and the
reason, the rest go on, and the exit code is non-zero if anything failed. Outputs that already
exist are skipped (so an interrupted batch resumes where it stopped) unless ``--overwrite``;
outputs are written atomically so a skipped output is always a complete one.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import itertools
import logging
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from .cbz import ARCHIVE_EXTENSIONS, PAGE_EXTENSIONS, colorize_cbz, count_pages, is_archive
from .hints import Hint, HintError, load_hints_file, parse_hints, parse_palette
from .registry import ModelError
from .imageio import (DEFAULT_MAX_PIXELS, MAX_OUTPUT_SIDE, ImageReadError, OutputSizeError, check_output_size, encode,
                      input_named, is_junk, remove_stale_temporaries, write_atomic)

log = logging.getLogger(__name__)

INPUT_EXTENSIONS = PAGE_EXTENSIONS + ARCHIVE_EXTENSIONS  # images, and comic book archives (irodori.cbz)


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    hints: tuple[Hint, ...] = ()
    shared: bool = False  # its output name was wanted by another input too: remade on every run
    page_hints: tuple[tuple[str, tuple[Hint, ...]], ...] = ()  # an archive's: (page inside it, its hints)


def collect_inputs(inputs: list[str], *, recursive: bool,
                   exclude: Path | None = None) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders and globs -> [(source, relative output stem)], [problems].

    A folder's images keep their path relative to the folder (so ``-r`` mirrors the tree), a
    glob's matches their path below its first wildcard; a file given directly is named by its
    stem. Folder walks and globs skip operating-system clutter (``._name`` resource forks,
    ``__MACOSX/``, ``Thumbs.db``: :func:`irodori.imageio.is_junk`, as archives do); a file named
    directly is always tried. Folder walks skip everything under ``exclude`` (the output folder), so
    `colorize . -r -o out` never colours its own outputs.
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
                if p.is_file() and p.suffix.lower() in INPUT_EXTENSIONS and not is_junk(p.relative_to(path))
                and not (skip is not None and skip in p.resolve().parents)
            )
            if not files:
                problems.append(f"{arg}: no images found" + ("" if recursive else " (use -r for sub-folders)"))
            found.extend((f, f.relative_to(path).with_suffix("")) for f in files)
        elif path.is_file():
            found.append((path, Path(path.stem)))
        elif glob.has_magic(arg):
            base = _glob_base(arg)
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=recursive)
                             if Path(m).is_file() and not is_junk(Path(m).relative_to(base)))
            if not matches:
                problems.append(f"{arg}: the pattern matches no files")
            found.extend((m, m.relative_to(base).with_suffix("")) for m in matches)
        else:
            problems.append(f"{arg}: no such file or folder")
    return found, problems


def _glob_base(pattern: str) -> Path:
    """The folder a glob starts from (its parts before the first wildcard): outputs mirror the
    matches' paths below it, so "vol*/p001.png" gives out/vol1/p001.png and out/vol2/p001.png."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return Path(*parts[:fixed]) if fixed else Path(".")


def plan_jobs(found: list[tuple[Path, Path]], outdir: Path, fmt: str) -> tuple[list[Job], list[str]]:
    """Map sources to outputs (an image to STEM.fmt, an archive to STEM.cbz or STEM.zip). When
    an earlier source took that name (``x.png`` beside ``x.jpg``), the later one keeps its old
    extension too, as an archive's page does (``x.jpg.png``, then ``x.jpg-2.png``), and a source
    whose name already ends so (``x.png``) keeps it: nothing is lost. Such jobs are ``shared``:
    which input made an existing ``x.png`` cannot be told (``x.jpg``, before ``x.png`` was
    added?), so their outputs are remade rather than skipped. An output that is one of the inputs
    is an error (an input is never overwritten); a source given twice is coloured once. Names are
    compared ignoring case, as archives' are: the output folder may be on a drive that does
    (macOS, Windows, exFAT), where ``X.png`` and ``x.png`` are one file."""
    jobs: dict[int, Job] = {}
    problems: list[str] = []
    seen: dict[str, Path] = {}
    shared: set[Path] = set()

    def key_of(path: Path) -> str:
        return str(path.resolve()).casefold()

    sources = {key_of(source) for source, _ in found}

    def suffix_of(source: Path) -> str:
        return source.suffix.lower() if is_archive(source) else f".{fmt}"

    keeps = [source.suffix == suffix_of(source) for source, _ in found]  # "x.png" to "x.png": named first
    for i in sorted(range(len(found)), key=lambda i: not keeps[i]):
        source, stem = found[i]
        suffix = suffix_of(source)
        output = outdir / stem.with_name(stem.name + suffix)
        key = key_of(output)
        if key in sources:
            what, fix = (("an input archive", "another -o folder") if is_archive(source)
                         else ("an input image", "another -o folder or --format"))
            problems.append(f"{source}: its output {output} would replace {what}; skipped (choose {fix})")
            continue
        if key in seen and seen[key].resolve() == source.resolve():
            continue
        if key in seen:
            names = itertools.chain([f"{stem.name}{source.suffix}{suffix}"],
                                    (f"{stem.name}{source.suffix}-{n}{suffix}" for n in itertools.count(2)))
            taken = output.name
            output = next(candidate for candidate in (outdir / stem.with_name(name) for name in names)
                          if key_of(candidate) not in seen and key_of(candidate) not in sources)
            log.info("%s: written as %s (%s takes %s)", source, output.name, seen[key], taken)
            shared.add(seen[key])
            shared.add(source)
            key = key_of(output)
        seen[key] = source
        jobs[i] = Job(source, output)
    return [replace(jobs[i], shared=jobs[i].source in shared) for i in sorted(jobs)], problems


def attach_hints(jobs: list[Job], cli_hints: list[Hint], file_hints: list[Hint] | dict[str, list[Hint]], *,
                 roots: list[str]) -> list[Job]:
    """Give each job its hints: ``--hint`` ones apply to every input; a hints file is either a
    list (every input) or {name: [hints]}, a name matching an input's path as given, its path
    relative to the folder it was found in, or its file name; a page inside an archive is named
    by the archive's name, "/" and the page's path inside it ("ch03.cbz/001.png"). A name that
    matches no input is an error (a typo would otherwise silently colour without the hints)."""
    if not cli_hints and not file_hints:
        return jobs
    if not isinstance(file_hints, dict):
        shared = tuple(file_hints) + tuple(cli_hints)
        return [replace(job, hints=shared) for job in jobs]
    unused = set(file_hints)
    matched: dict[str, list[Path]] = {}
    out = []
    for job in jobs:
        names = _names_of(job.source, roots)
        mine: list[Hint] = []
        for name in names:
            if name in file_hints:
                mine.extend(file_hints[name])
                unused.discard(name)
                matched.setdefault(name, []).append(job.source)
                break
        pages = _page_hints(job.source, names, file_hints, unused) if is_archive(job.source) else ()
        out.append(replace(job, hints=tuple(mine) + tuple(cli_hints), page_hints=pages))
    if unused:
        raise HintError(f"the hints file names {', '.join(sorted(unused))}, which matches no input image")
    for name, sources in matched.items():
        if len(sources) > 1:  # a bare name in a -r batch: every folder's file of that name
            shown = ", ".join(str(s) for s in sources[:3])
            shown += f" and {len(sources) - 3} more" if len(sources) > 3 else ""
            log.warning("the hints file's %r matches %d inputs (%s): each gets its hints; name one by its path "
                        "to give it alone", name, len(sources), shown)
    return out


def _page_hints(source: Path, names: list[str], file_hints: dict[str, list[Hint]],
                unused: set[str]) -> tuple[tuple[str, tuple[Hint, ...]], ...]:
    """The hints file's entries for pages inside the archive ``source`` (known by ``names``):
    "NAME/PAGE" -> ((PAGE, hints), ...); the entries found are taken off ``unused``."""
    pages = []
    for key, hints in file_hints.items():
        for name in names:
            if key.startswith(name + "/") and len(key) > len(name) + 1:
                pages.append((key[len(name) + 1:], tuple(hints)))
                unused.discard(key)
                break
    return tuple(pages)


def _names_of(source: Path, roots: list[str]) -> list[str]:
    """The names a hints file may use for an input: as given, relative to its folder, bare name."""
    names = [source.as_posix()]
    for root in roots:
        try:
            names.append(source.relative_to(root).as_posix())
        except ValueError:
            continue
    names.append(source.name)
    return names


def colorize_file(colorizer, source: Path, output: Path, *, fmt: str, quality: int = 95,
                  compression: int | None = None, hints: tuple[Hint, ...] = (), palette: Any = None,
                  threads: int = 1, on_page: Callable[[], None] | None = None,
                  page_hints: tuple[tuple[str, tuple[Hint, ...]], ...] = ()) -> list[str]:
    """Colour one file (with its hints and the palette, if any) and write it atomically
    (``quality``, ``compression``: :func:`irodori.imageio.encode`'s). An archive is coloured page
    by page, ``threads`` pages at a time (:mod:`irodori.cbz`), ``page_hints`` added to the named
    pages'; the returned list names its pages copied uncoloured (always empty for an image)."""
    if is_archive(source):
        return colorize_cbz(colorizer, source, output, fmt=fmt, quality=quality, compression=compression,
                            hints=hints, palette=palette, threads=threads, on_page=on_page,
                            page_hints=dict(page_hints))
    if fmt in MAX_OUTPUT_SIDE:  # a size the format cannot hold fails before the work, not after
        try:
            with warnings.catch_warnings():  # Pillow's, about a damaged EXIF, name no file
                warnings.simplefilter("ignore")
                with Image.open(source) as header:  # the header alone
                    size = header.size
        except Exception:  # Pillow raises many types on a damaged header (struct.error, ...)
            size = None  # unreadable: colorize() says why
        if size is not None:
            check_output_size(size, fmt)  # its largest side, which EXIF rotation does not change
    image = colorizer.colorize(source, hints=hints, palette=palette)
    with input_named(source):  # in the encoder's warnings
        write_atomic(output, encode(image, fmt, quality=quality, compression=compression))
    return []


def output_folder_problem(folder: Path) -> str | None:
    """Why outputs cannot be written into ``folder`` (a file is there, or where a parent folder
    must be; the folder, or the nearest existing parent it would be made in, refuses a new file),
    or None. Nothing is left behind: the probe is a temporary file, removed at once."""
    for place in (folder, *folder.parents):
        if not place.exists():
            continue
        if not place.is_dir():
            return f"{place} is a file, not a folder"
        try:
            fd, probe = tempfile.mkstemp(prefix=".irodori-", suffix=".tmp", dir=place)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"cannot write into {place} ({exc.strerror or exc})"
        return None
    return None


def failure_reason(exc: BaseException) -> str | None:
    """Why a file could not be coloured (a bad or unwritable file, a hint outside it), or None for
    an error that is not about the file and must not be swallowed (a broken model among them)."""
    if isinstance(exc, ModelError):
        return None
    if isinstance(exc, (ImageReadError, HintError, OutputSizeError)):
        return str(exc)
    if isinstance(exc, (OSError, ValueError, MemoryError)):
        return f"{type(exc).__name__}: {exc}"
    return None


def colorize_jobs(colorizer, jobs: list[Job], *, fmt: str, quality: int = 95, compression: int | None = None,
                  threads: int = 1, palette: Any = None,
                  on_done: Callable[[Job, str | None], None] | None = None) -> list[str]:
    """Colour and write every job; returns the failures as "path: reason" lines.

    With ``threads`` > 1 that many images are in flight at once, each on its own thread: while
    one image is in the network, others are being decoded, merged, encoded or written (Pillow,
    numpy and onnxruntime release the GIL), which keeps every core busy. At most ``2 * threads``
    images are submitted ahead, so memory stays bounded on any folder size. ``on_done(job,
    error)`` is called from the calling thread after each image, in completion order.
    """
    failures: list[str] = []

    def one(job: Job) -> None:
        start = time.perf_counter()
        colorize_file(colorizer, job.source, job.output, fmt=fmt, quality=quality, compression=compression,
                      hints=job.hints, palette=palette)
        log.debug("%s -> %s in %.0f ms", job.source, job.output, (time.perf_counter() - start) * 1000)

    def finish(job: Job, exc: BaseException | None) -> None:
        error = None
        if exc is not None:
            reason = failure_reason(exc)
            if reason is None:
                raise exc
            error = f"{job.source}: {reason}"
            failures.append(error)
        if on_done is not None:
            on_done(job, error)

    if threads <= 1:
        for job in jobs:
            try:
                one(job)
            except Exception as exc:  # sorted by finish(): expected ones are reported, others raised
                finish(job, exc)
            else:
                finish(job, None)
        return failures

    todo = iter(jobs)
    pending: dict[Future, Job] = {}
    with ThreadPoolExecutor(threads, thread_name_prefix="irodori") as pool:
        try:
            while True:
                while len(pending) < 2 * threads:
                    job = next(todo, None)
                    if job is None:
                        break
                    pending[pool.submit(one, job)] = job
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finish(pending.pop(future), future.exception())
        except BaseException:
            for future in pending:
                future.cancel()
            for future, job in pending.items():  # the images already in the network finish: report them
                if not future.cancelled():
                    with contextlib.suppress(BaseException):
                        finish(job, future.exception())
            raise
    return failures


def run_colorize(args: argparse.Namespace) -> int:
    from .colorizer import load_colorizer
    from .registry import ModelIntegrityError, ModelNotFoundError

    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    threads = args.threads if args.threads is not None else (os.cpu_count() or 1)
    if threads < 1:
        print("irodori colorize: --threads must be at least 1", file=sys.stderr)
        return 2
    stdin_mode = args.inputs == ["-"]
    if "-" in args.inputs and not stdin_mode:
        print("irodori colorize: - (stdin) cannot be mixed with other inputs", file=sys.stderr)
        return 2
    if not stdin_mode and args.output in (None, "-"):
        print("irodori colorize: give an output folder with -o OUTDIR", file=sys.stderr)
        return 2
    if stdin_mode and args.output in (None, "-") and sys.stdout.isatty():  # as gzip and zstd refuse
        print(f"irodori colorize: refusing to write {args.format.upper()} data to a terminal; redirect it "
              "(irodori colorize - < in.png > out.png) or give -o OUTDIR", file=sys.stderr)
        return 2
    problem = None if args.output in (None, "-") else output_folder_problem(Path(args.output))
    if problem:  # found before any image is coloured, not after every one
        print(f"irodori colorize: -o {args.output}: {problem}", file=sys.stderr)
        return 2
    try:
        cli_hints = parse_hints(args.hint)
        file_hints = load_hints_file(args.hints) if args.hints else []
        parse_palette(args.palette)  # checked here, once, for a usage error; parsed again per image
        palette = args.palette
    except HintError as exc:
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return 2

    def load(threads_per_image: int):
        try:
            colorizer = load_colorizer(args.model, mode=args.mode, tone=args.tone, background=args.background,
                                       max_side=args.max_side, upsample=args.upsample, threads=threads_per_image,
                                       max_pixels=max_pixels, temperature=args.temperature)
            # The references are analysed once, here, for every image and page of the run.
            return colorizer.with_references(args.reference) if args.reference else colorizer
        except (ModelNotFoundError, ModelIntegrityError, ValueError) as exc:  # ReferenceError among them
            print(f"irodori colorize: {exc}", file=sys.stderr)
            return None

    if stdin_mode:
        if isinstance(file_hints, dict):
            print("irodori colorize: with stdin, --hints must hold a list, not names", file=sys.stderr)
            return 2
        colorizer = load(threads)
        return 2 if colorizer is None else _run_stdin(colorizer, args, hints=file_hints + cli_hints, palette=palette)

    found, problems = collect_inputs(args.inputs, recursive=args.recursive, exclude=Path(args.output))
    jobs, clashes = plan_jobs(found, Path(args.output), args.format)
    try:
        jobs = attach_hints(jobs, cli_hints, file_hints, roots=args.inputs)
    except HintError as exc:
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return 2
    for folder in {job.output.parent for job in jobs}:
        remove_stale_temporaries(folder)  # what a killed run left; fresh ones may be another run's
    todo = [job for job in jobs if args.overwrite or job.shared or not job.output.exists()]
    skipped = len(jobs) - len(todo)
    images = [job for job in todo if not is_archive(job.source)]
    archives = [job for job in todo if is_archive(job.source)]
    units = len(images) + sum(count_pages(job.source) for job in archives)  # what the progress bar counts
    # Several images: one thread each, that many at once (measured faster than spreading one
    # image over every core: decoding, merging and encoding overlap the network). One image:
    # every thread on it. An archive's pages count as images; archives are done one at a time.
    workers = max(1, min(threads, units))
    log.debug("%d inputs: %d to colour (%d images, %d archives, %d pages and images in all), %d skipped; "
              "%d at once", len(jobs), len(todo), len(images), len(archives), units, skipped, workers)
    colorizer = load(1 if workers > 1 else threads)
    if colorizer is None:
        return 2
    failures = problems + clashes
    for message in failures:
        print(f"error: {message}", file=sys.stderr)

    from tqdm import tqdm

    bar = tqdm(total=units, desc="colorize", unit="img", disable=args.quiet or units < 2,
               file=sys.stderr, dynamic_ncols=True)

    written = 0  # counted here: a disabled bar (-q) counts nothing

    def on_done(job: Job, error: str | None) -> None:
        nonlocal written
        if error:
            bar.write(f"error: {error}", file=sys.stderr)
        else:
            written += 1
        bar.update()

    failed_jobs: list[str] = []
    uncoloured: list[str] = []  # pages of archives copied through
    encoding = {"fmt": args.format, "quality": args.quality, "compression": args.png_compression}
    started = time.time() - 0.05  # file times come from a coarser clock, a few ms behind
    try:
        failed_jobs += colorize_jobs(colorizer, images, **encoding, threads=workers, palette=palette,
                                     on_done=on_done)
        for job in archives:
            try:
                pages = colorize_file(colorizer, job.source, job.output, **encoding, hints=job.hints,
                                      palette=palette, threads=workers, on_page=bar.update,
                                      page_hints=job.page_hints)
            except Exception as exc:
                reason = failure_reason(exc)
                if reason is None:
                    raise
                failed_jobs.append(f"{job.source}: {reason}")
                bar.write(f"error: {failed_jobs[-1]}", file=sys.stderr)
                continue
            written += 1
            for page in pages:
                uncoloured.append(f"{job.source}: {page}")
                bar.write(f"error: {uncoloured[-1]}", file=sys.stderr)
    except ModelError as exc:  # the model's fault, the same for every image: one line, then stop
        bar.close()
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        # Ctrl-C can land after an output is moved into place and before it is counted: count
        # what is on disk, written by this run.
        written = sum(_written_since(job.output, started) for job in todo)
        print(f"\ninterrupted: {written} of {len(todo)} output{'' if len(todo) == 1 else 's'} written; outputs "
              "are complete files, so running the same command again continues where it stopped", file=sys.stderr)
        return 130
    bar.close()
    failures += failed_jobs
    why_skipped = " (output exists; --overwrite to redo)" if skipped else ""
    summary = f"{len(todo) - len(failed_jobs)} coloured, {skipped} skipped{why_skipped}, {len(failures)} failed"
    if uncoloured:
        summary += f"; {len(uncoloured)} page{'' if len(uncoloured) == 1 else 's'} of archives copied uncoloured"
    print(summary, file=sys.stderr)
    return 1 if failures or uncoloured else 0


def _written_since(path: Path, since: float) -> bool:
    """Whether ``path`` exists and was written at or after ``since`` (time.time() seconds)."""
    try:
        return path.stat().st_mtime >= since
    except OSError:
        return False


def _run_stdin(colorizer, args: argparse.Namespace, *, hints: list[Hint], palette: Any) -> int:
    data = sys.stdin.buffer.read()  # read whole even when skipped: the writer of the pipe must not fail
    target = None if args.output in (None, "-") else Path(args.output) / f"stdin.{args.format}"
    if target is not None and target.exists() and not args.overwrite:  # skipped, as in a batch: not a failure
        print(f"0 coloured, 1 skipped ({target} exists; --overwrite to redo), 0 failed", file=sys.stderr)
        return 0
    try:
        with input_named("stdin"):
            image = colorizer.colorize(data, hints=hints, palette=palette)
        encoded = encode(image, args.format, quality=args.quality, compression=args.png_compression)
    except (ImageReadError, HintError, ValueError) as exc:
        print(f"error: <stdin>: {exc}", file=sys.stderr)
        return 1
    if args.output in (None, "-"):
        sys.stdout.buffer.write(encoded)
        sys.stdout.buffer.flush()
    else:
        target = Path(args.output) / f"stdin.{args.format}"
        remove_stale_temporaries(target.parent)
        try:
            write_atomic(target, encoded)
        except OSError as exc:
            print(f"error: <stdin>: cannot write {target} ({exc})", file=sys.stderr)
            return 1
        print("1 coloured, 0 skipped, 0 failed", file=sys.stderr)  # as a batch ends (stdout stays a filter's)
    return 0
