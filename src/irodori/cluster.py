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
* **One task per chunk** of ``chunk_size`` images, submitted with ``client.map(..., pure=False)``.
  A task carries only file paths (never pixels): each worker reads its inputs and writes its
  outputs itself. **Inputs, outputs and a model given as a file path must therefore be on a
  filesystem that every worker sees at the same path** (NFS, a cluster filesystem, or one machine
  with :class:`distributed.LocalCluster`). Paths are made absolute on the client before they
  are sent, so workers with another working directory still find them.
* **One model per worker process.** The first task in a process loads the model with
  ``load_colorizer(model, threads=1, max_pixels=...)`` into a module-level cache keyed by
  ``(model, max_pixels)``; later tasks in that process reuse it. ONNX Runtime gets one thread
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

from .batch import collect_inputs, colorize_file, failure_reason, plan_jobs, split_existing
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
_COLORIZERS: dict[tuple[str, int | None], Any] = {}
_COLORIZERS_LOCK = threading.Lock()


def _worker_colorizer(model: str, max_pixels: int | None) -> tuple[Any, bool]:
    """This process's colorizer for (model, max_pixels), loaded on first use -> (colorizer, loaded now)."""
    key = (model, max_pixels)
    with _COLORIZERS_LOCK:  # a worker with several threads loads the model once, not once per thread
        colorizer = _COLORIZERS.get(key)
        if colorizer is not None:
            return colorizer, False
        from .colorizer import load_colorizer

        colorizer = load_colorizer(model, threads=1, max_pixels=max_pixels)
        _COLORIZERS[key] = colorizer
        return colorizer, True


def _colorize_chunk(chunk: list[tuple[str, str, str]], *, model: str, fmt: str, quality: int,
                    max_pixels: int | None) -> dict[str, Any]:
    """Run in a worker: colour each (shown name, source, output) of a chunk; never raises for one file."""
    colorizer, loaded = _worker_colorizer(model, max_pixels)
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
def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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
) -> ArchiveResult:
    """Colour files, folders and globs into ``outdir`` on the Dask cluster behind ``client``.

    Works like ``irodori colorize -o OUTDIR`` (same output names, ``-r`` on by default, existing
    outputs skipped unless ``overwrite``), with the colouring spread over the cluster's workers
    in tasks of ``chunk_size`` images. ``max_pixels=None`` means the usual decompression-bomb
    limit (64 MP). All paths must be visible to every worker at the same path. Returns an
    :class:`ArchiveResult`; it raises only for bad arguments or a missing ``distributed``.
    """
    distributed = _require_distributed()
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    from .registry import MODELS

    model_arg = str(model)
    if model_arg not in MODELS and Path(model_arg).exists():
        model_arg = str(Path(model_arg).absolute())  # workers may run in another directory
    limit = max_pixels or DEFAULT_MAX_PIXELS

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]  # one folder/file/glob, not an iterable of characters
    out = Path(outdir)
    found, problems = collect_inputs([os.fspath(i) for i in inputs], recursive=recursive, exclude=out)
    jobs, clashes = plan_jobs(found, out, fmt)
    todo, skipped, existing = split_existing(jobs, overwrite=overwrite)  # as the CLI: an empty output is redone
    result = ArchiveResult(failed=problems + clashes + existing, skipped=skipped)
    if not todo:
        return result

    items = [(str(job.source), str(job.source.absolute()), str(job.output.absolute())) for job in todo]
    chunks = list(_chunks(items, chunk_size))
    futures = client.map(_colorize_chunk, chunks, pure=False, model=model_arg, fmt=fmt, quality=quality,
                         max_pixels=limit)
    chunk_of = dict(zip((f.key for f in futures), chunks))

    from tqdm import tqdm

    bar = tqdm(total=len(items), desc="colorize", unit="img", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    finished = False
    try:
        for future in distributed.as_completed(futures):
            chunk = chunk_of.pop(future.key)
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
            bar.update(len(chunk))
        finished = True
    finally:
        bar.close()
        if not finished:  # Ctrl-C or an error here: stop the rest; a new run resumes (skip-existing)
            client.cancel(futures)
    return result


__all__ = ["ArchiveResult", "colorize_archive", "INSTALL_HINT"]
