"""Colour an archive too big for one machine on a Dask cluster (the optional ``cluster`` extra).

Design
------
Scheduling, retries, worker start-up and failure detection are Dask distributed's job; this
module only cuts the work into tasks and does the colouring inside them:

* **Planning happens on the client**, with the same code as ``irodori colorize``:
  :func:`irodori.batch.collect_inputs` expands files, folders and globs (skipping the output
  folder), :func:`irodori.batch.plan_jobs` maps each source to its output and reports clashes.
  Outputs that already exist are skipped unless ``overwrite`` (:func:`irodori.batch.split_existing`,
  as the CLI: an empty one is made again, a folder at an output's name is that input's failure);
  since every output is written atomically (temporary file, fsync, rename), an existing output is
  a complete one, so an interrupted run resumes by being started again.
* **One task per chunk** of ``chunk_size`` images, and one per comic archive (the largest first:
  four archives on two workers once ran as one task on one of them), submitted with
  ``client.map(..., pure=False)``; the progress bar counts images and archive pages, as the CLI's.
  A task carries only file paths (never pixels): each worker reads its inputs and writes its
  outputs itself. **Inputs, outputs and a model given as a file path must therefore be on a
  filesystem that every worker sees at the same path** (NFS, a cluster filesystem, or one machine
  with :class:`distributed.LocalCluster`). Paths are made absolute on the client before they
  are sent, so workers with another working directory still find them.
* **One model per worker process.** The first task in a process loads the model with
  ``load_colorizer(model, threads=1, max_pixels=..., mode=..., tone=..., background=...)`` and
  analyses the references, if any, into a module-level cache keyed by all of them; later tasks in
  that process reuse it. ONNX Runtime gets one thread
  because the parallelism is Dask's (worker processes x threads per worker): a session that
  also spread over every core would oversubscribe the CPUs. The :class:`Colorizer` is
  thread-safe, so a worker with several threads shares its one model between them.
* **A batch never stops for one bad file.** Each image's failure (unreadable, corrupt, too many
  pixels, out of memory, a write error) is caught in the task and returned as a
  ``"path: reason"`` line. Should a whole task fail (the model cannot be loaded, a worker dies
  more often than the scheduler's ``allowed-failures``), every file of that chunk is reported
  failed with the reason, and the other chunks go on.

``dask[distributed]`` is imported lazily, so ``import irodori.cluster`` works without it; calling
:func:`colorize_archive` without it raises an ImportError that says what to install
(``pip install 'irodori[cluster]'``). Workers need irodori installed (the same version) too.

Example::

    from distributed import Client, LocalCluster
    from irodori.cluster import colorize_archive

    with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, Client(cluster) as client:
        result = colorize_archive(["scans/"], "coloured/", client=client)
    print(result.done, result.skipped, result.failed)
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .batch import (collect_inputs, colorize_file, failure_reason, output_folder_problem, plan_jobs,
                    spare_references, split_existing)
from .cbz import count_pages, is_archive
from .imageio import DEFAULT_MAX_PIXELS, FORMATS
from .registry import AUTO_MODEL

INSTALL_HINT = "colouring on a Dask cluster needs the cluster extra: pip install 'irodori[cluster]'"


@dataclass
class ArchiveResult:
    """What :func:`colorize_archive` did.

    ``failed`` holds one ``"path: reason"`` line per input that was not coloured (including
    inputs that could not be found and output-name clashes). ``processes`` names the worker
    processes (``"host:pid"``) that coloured images, and ``model_loads`` counts how many times a
    worker process loaded the model during this call (at most one per process; 0 when every
    process already had it from an earlier call).
    """

    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    processes: set[str] = field(default_factory=set)
    model_loads: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def _require_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from exc
    return distributed


# ----------------------------------------------------------------------------------------------
# Worker side
# ----------------------------------------------------------------------------------------------
_COLORIZERS: dict[tuple, Any] = {}
_COLORIZERS_LOCK = threading.Lock()


def _split_options(options: Iterable[tuple[str, Any]]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The colorizer's options as (name, value) pairs -> (load_colorizer's keywords, the reference files)."""
    settings = dict(options)
    return settings, tuple(settings.pop("reference", ()))


def _worker_colorizer(model: str, max_pixels: int | None, options: tuple[tuple[str, Any], ...] = ()
                      ) -> tuple[Any, bool]:
    """This process's colorizer for (model, max_pixels, options: the colorizer's mode, tone,
    background and references), loaded on first use -> (colorizer, loaded now)."""
    key = (model, max_pixels, options)
    with _COLORIZERS_LOCK:  # a worker with several threads loads the model once, not once per thread
        colorizer = _COLORIZERS.get(key)
        if colorizer is not None:
            return colorizer, False
        from .colorizer import load_colorizer

        settings, references = _split_options(options)
        colorizer = load_colorizer(model, threads=1, max_pixels=max_pixels, **settings)
        if references:
            colorizer = colorizer.with_references(list(references))
        _COLORIZERS[key] = colorizer
        return colorizer, True


def _colorize_chunk(chunk: list[tuple[str, str, str]], *, model: str, fmt: str, quality: int,
                    max_pixels: int | None, options: tuple[tuple[str, Any], ...] = ()) -> dict[str, Any]:
    """Run in a worker: colour each (shown name, source, output) of a chunk; never raises for one file."""
    colorizer, loaded = _worker_colorizer(model, max_pixels, options)
    done = 0
    failed: list[str] = []
    for shown, source, output in chunk:
        try:
            pages = colorize_file(colorizer, Path(source), Path(output), fmt=fmt, quality=quality)
            failed.extend(f"{shown}: {page}" for page in pages)  # an archive's pages copied uncoloured
            done += 1
        except Exception as exc:
            reason = failure_reason(exc)
            if reason is None:
                raise  # not about this file: the task fails and its chunk is reported failed
            failed.append(f"{shown}: {reason}")
    return {"done": done, "failed": failed, "process": f"{socket.gethostname()}:{os.getpid()}", "loaded": loaded}


# ----------------------------------------------------------------------------------------------
# Client side
# ----------------------------------------------------------------------------------------------
def _check_settings(model: str, max_pixels: int, options: tuple[tuple[str, Any], ...]) -> None:
    """What the CLI refuses with exit 2 is raised here, before any task, not failed in each:
    a mode the model cannot do (ValueError: paint with a tint model) and references that cannot
    be used (ReferenceImageError: grey, unreadable). A model the client cannot load is left to the
    workers, which report it per file (they may see another filesystem)."""
    from .colorizer import load_colorizer
    from .reference import analyse_references, load_matcher
    from .registry import ModelIntegrityError, ModelNotFoundError

    settings, references = _split_options(options)
    try:
        load_colorizer(model, threads=1, max_pixels=max_pixels, **settings)
    except (ModelNotFoundError, ModelIntegrityError):
        pass
    if references:
        analyse_references([Path(r) for r in references], matcher=load_matcher(1), max_pixels=max_pixels)


def _tasks(items: list[tuple[str, str, str]], size: int) -> list[tuple[list, int]]:
    """(shown, source, output) items -> [(chunk, the images and pages it holds)]: each archive a
    task of its own, the largest first, then the images in chunks of ``size``."""
    archives = sorted(((item, count_pages(Path(item[1]))) for item in items if is_archive(Path(item[1]))),
                      key=lambda pair: -pair[1])
    images = [item for item in items if not is_archive(Path(item[1]))]
    return ([([item], max(1, pages)) for item, pages in archives]
            + [(images[i:i + size], len(images[i:i + size])) for i in range(0, len(images), size)])


def colorize_archive(
    inputs: Iterable[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    client,
    model: str | os.PathLike = AUTO_MODEL,
    fmt: str = "png",
    overwrite: bool = False,
    recursive: bool = True,
    quality: int = 95,
    max_pixels: int | None = None,
    chunk_size: int = 8,
    progress: bool = True,
    mode: str = "auto",
    tone: str = "flat",
    background: str = "auto",
    reference: Iterable[str | os.PathLike] = (),
) -> ArchiveResult:
    """Colour files, folders and globs into ``outdir`` on the Dask cluster behind ``client``.

    Works like ``irodori colorize -o OUTDIR`` (same output names, ``-r`` on by default, existing
    outputs skipped unless ``overwrite``; ``mode``, ``tone``, ``background`` and ``reference``
    files or folders as its options, a reference never written over), with the colouring spread
    over the cluster's workers in tasks of ``chunk_size`` images, each comic archive a task of its
    own. ``max_pixels=None`` means the usual decompression-bomb limit (64 MP). All paths must be
    visible to every worker at the same path. Returns an :class:`ArchiveResult`; it raises only for
    bad arguments (ValueError, an ``outdir`` that is a file or cannot be written into among them;
    ReferenceImageError, one, for a reference that cannot be used) or a missing ``distributed``.
    Hints are the CLI's and the API's (a hints file is not read here).
    """
    distributed = _require_distributed()
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    from .colorizer import check_choices
    from .reference import reference_files
    from .registry import MODELS

    check_choices(mode, tone, background)  # ValueError names a bad one, here and not in every task
    references = tuple(str(path.absolute()) for path in reference_files(
        [reference] if isinstance(reference, (str, os.PathLike)) else list(reference)))
    options = tuple((name, value) for name, value in (("mode", mode), ("tone", tone), ("background", background),
                                                       ("reference", references)) if value)
    model_arg = str(model)
    if model_arg not in MODELS and Path(model_arg).exists():
        model_arg = str(Path(model_arg).absolute())  # workers may run in another directory
    limit = max_pixels or DEFAULT_MAX_PIXELS
    _check_settings(model_arg, limit, options)

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]  # one folder/file/glob, not an iterable of characters
    out = Path(outdir)
    problem = output_folder_problem(out)  # as the CLI: said once, not as every image's failure
    if problem:
        raise ValueError(f"outdir {out}: {problem}")
    found, problems = collect_inputs([os.fspath(i) for i in inputs], recursive=recursive, exclude=out)
    jobs, clashes = plan_jobs(found, out, fmt)
    jobs, spared = spare_references(jobs, list(references))  # as the CLI: a reference is never written over
    todo, kept, existing = split_existing(jobs, overwrite=overwrite)  # as the CLI: an empty output is redone
    result = ArchiveResult(failed=problems + clashes + existing, skipped=len(kept) + spared)
    if not todo:
        return result

    items = [(str(job.source), str(job.source.absolute()), str(job.output.absolute())) for job in todo]
    tasks = _tasks(items, chunk_size)
    futures = client.map(_colorize_chunk, [chunk for chunk, _ in tasks], pure=False, model=model_arg, fmt=fmt,
                         quality=quality, max_pixels=limit, options=options)
    task_of = dict(zip((f.key for f in futures), tasks))

    from tqdm import tqdm

    bar = tqdm(total=sum(units for _, units in tasks), desc="colorize", unit="img", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    finished = False
    try:
        for future in distributed.as_completed(futures):
            chunk, units = task_of.pop(future.key)
            try:
                report = future.result()
            except Exception as exc:  # the whole task failed: every file of the chunk is reported
                reason = f"task failed: {type(exc).__name__}: {exc}"
                report = {"done": 0, "failed": [f"{shown}: {reason}" for shown, _, _ in chunk],
                          "process": None, "loaded": False}
            result.done += report["done"]
            result.failed.extend(report["failed"])
            result.model_loads += int(report["loaded"])
            if report["process"] is not None:
                result.processes.add(report["process"])
            if progress:
                for message in report["failed"]:
                    bar.write(f"error: {message}", file=sys.stderr)
            bar.update(units)
        finished = True
    finally:
        bar.close()
        if not finished:  # Ctrl-C or an error here: stop the rest; a new run resumes (skip-existing)
            client.cancel(futures)
    return result


__all__ = ["ArchiveResult", "colorize_archive", "INSTALL_HINT"]
