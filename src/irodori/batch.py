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
import signal
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from .cbz import (ARCHIVE_EXTENSIONS, PAGE_EXTENSIONS, colorize_cbz, count_pages, did_you_mean,
                  hinted_pages_fault, is_archive, page_names, uncoloured_pages, unread_archive, written_by_irodori)
from .hints import Hint, HintError, load_hints_file, parse_hints, parse_palette
from .paint import unused_paint_settings
from .registry import ModelError
from .imageio import (DEFAULT_MAX_PIXELS, DEFAULT_PNG_COMPRESSION, IMAGE_EXTENSIONS, MAX_OUTPUT_SIDE, ImageReadError,
                      OutputSizeError, check_output_size, encode, input_named, is_junk, made_by_irodori, output_state,
                      quiet, remove_stale_temporaries, write_atomic)

log = logging.getLogger(__name__)

INPUT_EXTENSIONS = PAGE_EXTENSIONS + ARCHIVE_EXTENSIONS  # images, and comic book archives (irodori.cbz)


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    hints: tuple[Hint, ...] = ()
    shared: bool = False  # its output name was wanted by another input too: remade on every run
    page_hints: tuple[tuple[str, tuple[Hint, ...]], ...] = ()  # an archive's: (page inside it, its hints)


class Failure(str):
    """One failure line, "NAME: reason", that keeps its NAME (an input as given or found), so the
    end of a batch can list what failed. It is a ``str`` everywhere else."""

    name: str

    def __new__(cls, name: str | Path, reason: str) -> "Failure":
        line = super().__new__(cls, f"{name}: {reason}")
        line.name = str(name)
        return line


def collect_inputs(inputs: list[str], *, recursive: bool,
                   exclude: Path | None = None) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files, folders and globs -> [(source, relative output stem)], [problems].

    A folder's images keep their path relative to the folder (so ``-r`` mirrors the tree), a
    glob's matches their path below its first wildcard; a file given directly is named by its
    stem. Folder walks and globs take images and archives by their extension (anything else is
    passed over, .cbr and its kind with a warning) and skip operating-system clutter (``._name``
    resource forks, ``__MACOSX/``, ``Thumbs.db``: :func:`irodori.imageio.is_junk`, as archives
    do); a file named directly is always tried. They skip everything under ``exclude`` (the
    output folder), so `colorize . -r -o out` and `colorize '**/*.png' -r -o out` never colour
    their own outputs: a folder walk when the output folder is the folder or below it, a glob
    when it lies below the glob's first wildcard (`colorize '*.png' -o . --format jpg` is how to
    colour a folder into itself).
    """
    found: list[tuple[Path, Path]] = []
    problems: list[str] = []
    for arg in inputs:
        path = Path(arg)
        matched: list[tuple[Path, Path]] = []
        if path.is_dir():
            matched, problem = _walk(path, recursive=recursive, exclude=exclude)
        elif path.is_file():
            problem = unread_archive(path)
            matched = [] if problem else [(path, Path(path.stem))]
        elif path.exists():
            problem = "not a regular file (use - for stdin)"  # a FIFO, /dev/stdin on a pipe, <(...)
        elif glob.has_magic(arg):
            matched, problem = _globbed(arg, recursive=recursive, exclude=exclude)
        else:
            problem = "no such file or folder"
        if not path.is_file():
            matched = _not_ours(matched, arg)
        found.extend(matched)
        if problem:
            problems.append(Failure(arg, problem))
    return found, problems


def _not_ours(matched: list[tuple[Path, Path]], arg: str) -> list[tuple[Path, Path]]:
    """A walk's or glob's images and archives without irodori's own outputs (their header's
    Software tag, :func:`irodori.imageio.made_by_irodori`; an archive's first coloured page's,
    :func:`irodori.cbz.written_by_irodori`), with a warning naming them: `colorize . -r` after an
    earlier run into ./coloured/ coloured its outputs again (helper 61), and its .cbz too (helper
    65). A file named directly is coloured whatever made it."""
    kept, ours = [], []
    for source, below in matched:
        suffix = source.suffix.lower()
        if (suffix in IMAGE_EXTENSIONS and _made_by_irodori(source)) or (is_archive(source)
                                                                         and written_by_irodori(source)):
            ours.append(source)
        else:
            kept.append((source, below))
    if ours:
        shown = ", ".join(map(str, ours[:3])) + (f" and {len(ours) - 3} more" if len(ours) > 3 else "")
        kind = "image" if all(not is_archive(path) for path in ours) else "file"
        log.warning("%s: %d %s%s not coloured again: irodori's own output%s (%s); name %s directly to colour %s",
                    arg, len(ours), kind, "" if len(ours) == 1 else "s", "" if len(ours) == 1 else "s", shown,
                    "it" if len(ours) == 1 else "one", "it")
    return kept


def _made_by_irodori(path: Path) -> bool:
    """Whether the image file at ``path`` says irodori made it; False when its header is unreadable
    (reading it fails later, with the reason)."""
    try:
        with Image.open(path) as img:
            return made_by_irodori(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # (a huge scan: helper 79)
        return False


def _walk(folder: Path, *, recursive: bool, exclude: Path | None) -> tuple[list[tuple[Path, Path]], str | None]:
    """A folder's images and archives, sorted -> ([(file, its path below the folder, no suffix)],
    why there are none, or None). With ``recursive``, links to folders are not followed (a link
    may lead back up): each is logged."""
    skip = _skipped_folder(exclude, folder, or_equal=True)
    files: list[tuple[Path, Path]] = []
    held: list[Path] = []  # inside the output folder
    for path in sorted(folder.glob("**/*" if recursive else "*")):
        below = path.relative_to(folder)
        if is_junk(below):
            continue
        if not path.is_file():
            if recursive and path.is_symlink() and path.is_dir():
                log.info("%s: a link to a folder, not followed (-r does not follow links)", path)
            continue
        if _taken(path):
            if skip is not None and skip in path.resolve().parents:
                held.append(path)
            else:
                files.append((path, below.with_suffix("")))
    if not recursive:
        _say_unsearched(folder, skip)
    if files:
        _say_held(held, skip, files, exclude)
        return files, None
    if held:
        return [], f"all inputs are inside the output folder -o {exclude}; use a glob or another -o"
    return [], "no images found" + ("" if recursive else " (use -r for sub-folders)")


def _say_held(held: list[Path], skip: Path | None, files: list[tuple[Path, Path]], exclude: Path | None) -> None:
    """Warn of images and archives a walk passed over inside the output folder (``skip``) that
    are no output of this batch's inputs (``files``): pages a user keeps there (``-r -o
    ch/extras`` left ch/extras' own pages uncoloured without a word; helper 54). An output of
    an input (``x.png`` or, renamed beside a twin, ``x.jpg.png``) is not named: a run again
    finds its own outputs there."""
    if skip is None or not held:
        return
    made = {path_key(skip / below) for _, below in files}
    foreign = []
    for path in held:
        stem = path.resolve().with_suffix("")
        if stem.suffix.lower() in INPUT_EXTENSIONS:  # x.jpg.png: an output renamed beside its twin
            stem = stem.with_suffix("")
        if path_key(stem) not in made:
            foreign.append(path)
    if foreign:
        shown = ", ".join(str(p) for p in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        log.warning("%d image%s inside the output folder -o %s not coloured (%s): folder walks skip the output "
                    "folder; choose another -o to colour them", len(foreign), "" if len(foreign) == 1 else "s",
                    exclude, shown)


def _say_unsearched(folder: Path, skip: Path | None) -> None:
    """Warn of ``folder``'s sub-folders that hold images or archives, which a walk without ``-r``
    passes over (a helper's chapter folder lost its "extras/" pages without a word, even with -v).
    Counted as ``-r`` would colour them: inputs inside the output folder (``skip``), clutter and
    links to folders are not (a folder holding only the output, ``-o ch/build/out``, is not
    named); at most UNSEARCHED_LOOK entries are looked at, so a big tree of empty folders costs
    little."""
    budget = [UNSEARCHED_LOOK]
    subs = [sub for sub in sorted(folder.iterdir())
            if not sub.is_symlink() and sub.is_dir() and not is_junk(sub.relative_to(folder) / "page.png")
            and sub.resolve() != skip and _holds_inputs(sub, folder, skip, budget)]
    if subs:
        shown = ", ".join(sub.name for sub in subs[:3]) + (f" and {len(subs) - 3} more" if len(subs) > 3 else "")
        log.warning("%s: %d sub-folder%s with images not searched (%s); -r colours them too", folder,
                    len(subs), "" if len(subs) == 1 else "s", shown)


UNSEARCHED_LOOK = 5000  # files and folders looked at, at most, for _say_unsearched


def _holds_inputs(sub: Path, folder: Path, skip: Path | None, budget: list[int]) -> bool:
    """Whether ``sub`` (below ``folder``) holds an input that ``-r`` would colour, looking at no
    more than ``budget[0]`` entries (spent from it; False when it runs out)."""
    for top, dirs, files in os.walk(sub):  # links to folders are not followed, as -r does not
        budget[0] -= len(dirs) + len(files)
        here = Path(top)
        if any(Path(name).suffix.lower() in INPUT_EXTENSIONS and not is_junk((here / name).relative_to(folder))
               for name in files):
            return True
        if budget[0] <= 0:
            return False
        dirs[:] = [d for d in dirs if not (skip is not None and (here / d).resolve() == skip)
                   and not is_junk((here / d).relative_to(folder) / "page.png")]
    return False


def _globbed(pattern: str, *, recursive: bool, exclude: Path | None) -> tuple[list[tuple[Path, Path]], str | None]:
    """A glob's images and archives, sorted -> ([(file, its path below the glob's first wildcard,
    no suffix)], why there are none, or None)."""
    base = _glob_base(pattern)
    skip = _skipped_folder(exclude, base, or_equal=False)
    files: list[tuple[Path, Path]] = []
    held: list[Path] = []
    others = 0
    for path in sorted(Path(m) for m in glob.glob(pattern, recursive=recursive)):
        if not path.is_file() or is_junk(path.relative_to(base)):
            continue
        if not _taken(path):
            others += 1
        elif skip is not None and skip in path.resolve().parents:
            held.append(path)
        else:
            files.append((path, path.relative_to(base).with_suffix("")))
    if files:
        _say_held(held, skip, files, exclude)
        return files, None
    if held:
        return [], f"all its matches are inside the output folder -o {exclude}; choose another -o"
    if others:
        return [], f"the pattern matches no images or archives ({others} other file{'' if others == 1 else 's'})"
    return [], "the pattern matches no files"


def _skipped_folder(exclude: Path | None, root: Path, *, or_equal: bool) -> Path | None:
    """The output folder, resolved, when what is walked from ``root`` can reach into it (it lies
    below ``root``, or is ``root`` and ``or_equal``); else None."""
    if exclude is None:
        return None
    skip, top = exclude.resolve(), root.resolve()
    return skip if top in skip.parents or (or_equal and skip == top) else None


def _taken(path: Path) -> bool:
    """Whether a folder walk or a glob takes ``path`` as an input: an image or an archive by its
    extension. Anything else is passed over, logged; an archive irodori cannot read with a warning."""
    if path.suffix.lower() in INPUT_EXTENSIONS:
        return True
    reason = unread_archive(path)
    if reason:
        log.warning("%s: skipped: %s", path, reason)
    else:
        log.debug("%s: not an image or an archive by its name; skipped", path)
    return False


def _glob_base(pattern: str) -> Path:
    """The folder a glob starts from (its parts before the first wildcard): outputs mirror the
    matches' paths below it, so "vol*/p001.png" gives out/vol1/p001.png and out/vol2/p001.png."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return Path(*parts[:fixed]) if fixed else Path(".")


MAX_NAME_BYTES = 255  # a file name's limit on ext4, NTFS, APFS and exFAT


def path_key(path: Path) -> str:
    """A path as the file it names, for comparing outputs with inputs and references: resolved,
    in Unicode's composed form (NFC) and case folded (the output folder may be on a drive that
    ignores case, or that stores names decomposed, as macOS does: "ページ.png" typed on one machine
    and unpacked from another's zip are one file there)."""
    return unicodedata.normalize("NFC", str(path.resolve())).casefold()


def plan_jobs(found: list[tuple[Path, Path]], outdir: Path, fmt: str) -> tuple[list[Job], list[str]]:
    """Map sources to outputs (an image to STEM.fmt, an archive to STEM.cbz or STEM.zip). When
    an earlier source took that name (``x.png`` beside ``x.jpg``), the later one keeps its old
    extension too, as an archive's page does (``x.jpg.png``, then ``x.jpg-2.png``), and a source
    whose name already ends so (``x.png``) keeps it: nothing is lost. Such jobs are ``shared``:
    which input made an existing ``x.png`` cannot be told (``x.jpg``, before ``x.png`` was
    added?), so their outputs are remade rather than skipped. An output that is one of the inputs
    is an error (an input is never overwritten); a source given twice is coloured once. An output
    named as a folder that other outputs go in (``x.jpg`` beside ``x.png/001.png`` under ``-r``)
    keeps its old extension too, as archives do, but is not ``shared``: the folder decides. An
    output name longer than a file name may be (255 bytes) is that input's error, before any
    work. Names are compared ignoring case, as archives' are: the output folder may be on a drive that does
    (macOS, Windows, exFAT), where ``X.png`` and ``x.png`` are one file."""
    jobs: dict[int, Job] = {}
    problems: list[str] = []
    seen: dict[str, Path] = {}
    written: dict[str, str] = {}  # the output name each key went to, as written (its case)
    shared: set[Path] = set()

    sources = {path_key(source) for source, _ in found}

    def suffix_of(source: Path) -> str:  # an archive's suffix in lower case, as every version wrote it
        return source.suffix.lower() if is_archive(source) else f".{fmt}"

    # the folders outputs are written in ("a.png/" for "a.png/001.png"): no output may take their names
    folders = {path_key(outdir / parent) for _, stem in found for parent in stem.parents if parent != Path(".")}
    keeps = [source.suffix == suffix_of(source) for source, _ in found]  # "x.png" to "x.png": named first
    for i in sorted(range(len(found)), key=lambda i: not keeps[i]):
        source, stem = found[i]
        suffix = suffix_of(source)
        output = outdir / stem.with_name(stem.name + suffix)
        key = path_key(output)
        if key in sources:
            what, fix = (("an input archive", "another -o folder") if is_archive(source)
                         else ("an input image", "another -o folder or --format"))
            if key == path_key(source) and not is_archive(source):  # found by a helper: a run into the folder
                what = "itself"  # it read, run again, took its earlier outputs for inputs
                fix += "; if it is an earlier run's output, colour the originals into another folder"
            problems.append(Failure(source, f"its output {output} would replace {what}; skipped (choose {fix})"))
            continue
        if key in seen and seen[key].resolve() == source.resolve():
            continue
        if key in seen or key in folders:
            names = itertools.chain([f"{stem.name}{source.suffix}{suffix}"],
                                    (f"{stem.name}{source.suffix}-{n}{suffix}" for n in itertools.count(2)))
            taken = written.get(key, output.name)  # the other's own name: "A.png", not this one's "a.png"
            output = next(candidate for candidate in (outdir / stem.with_name(name) for name in names)
                          if not any(path_key(candidate) in keys for keys in (seen, sources, folders)))
            log.info("%s: written as %s (%s takes %s)", source, output.name,
                     seen.get(key, "a folder of outputs"), taken)
            if key in seen:  # which of the two made an existing output cannot be told: remade
                shared.update((seen[key], source))
            key = path_key(output)
        if len(output.name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:  # found now, not after the colouring
            problems.append(Failure(source, f"its output name {output.name!r} is longer than the {MAX_NAME_BYTES} "
                                            "bytes a file name may have; rename the input"))
            continue
        seen[key], written[key] = source, output.name
        jobs[i] = Job(source, output)
    return [replace(jobs[i], shared=jobs[i].source in shared) for i in sorted(jobs)], problems


def attach_hints(jobs: list[Job], cli_hints: list[Hint], file_hints: list[Hint] | dict[str, list[Hint]], *,
                 roots: list[str]) -> list[Job]:
    """Give each job its hints: ``--hint`` ones apply to every input; a hints file is either a
    list (every input) or {name: [hints]}, a name matching an input's path as given, its path
    relative to the folder it was found in, or its file name; a page inside an archive is named
    by the archive's name, "/" and the page's path inside it ("ch03.cbz/001.png"). A name that
    matches no input is an error (a typo would otherwise silently colour without the hints),
    unless it names an image beside the inputs that this run leaves out (a chapter's hints file
    for some of its pages: said in the log).
    Names are compared in Unicode's composed form (NFC): a name typed on one system and a file
    named on another (macOS writes "ペ" as two code points) match. One HintError says every fault
    of the file's names: names matching nothing, an image named twice, pages an archive lacks."""
    if not cli_hints and not file_hints:
        return jobs
    if not isinstance(file_hints, dict):
        shared = tuple(file_hints) + tuple(cli_hints)
        return [replace(job, hints=shared) for job in jobs]
    file_hints = _composed(file_hints)
    unused = set(file_hints)
    matched: dict[str, list[Path]] = {}
    shadowed: dict[str, str] = {}  # a less specific name of an input that a more specific one took
    out = []
    for job in jobs:
        names = _names_of(job.source, roots)
        mine: list[Hint] = []
        for i, name in enumerate(names):
            if name in file_hints:
                mine.extend(file_hints[name])
                unused.discard(name)
                matched.setdefault(name, []).append(job.source)
                shadowed.update({other: name for other in names[i + 1:] if other in file_hints and other != name})
                break
        pages = _page_hints(job.source, names, file_hints, unused) if is_archive(job.source) else ()
        out.append(replace(job, hints=tuple(mine) + tuple(cli_hints), page_hints=pages))
    faults = []
    for name in sorted(unused & shadowed.keys()):  # found by a helper: said to match no input image, which it does
        faults.append(f"the hints file names one image twice, as {name!r} and {shadowed[name]!r}: the second, "
                      "more specific, would give its hints; remove the other")
    unused -= shadowed.keys()
    elsewhere = {name for name in unused if _names_an_image_not_given(name, roots)}
    if elsewhere:  # a chapter's hints file, for a run on some of its pages (helper 59: it was refused)
        log.info("the hints file's %s: image%s not given to this run; %s hints not used", ", ".join(sorted(elsewhere)),
                 "" if len(elsewhere) == 1 else "s", "its" if len(elsewhere) == 1 else "their")
        unused -= elsewhere
    if unused:
        faults.append(f"the hints file names {', '.join(sorted(unused))}, which "
                      f"{'matches' if len(unused) == 1 else 'match'} no input image{_archive_key(unused, jobs)}")
    faults += _page_hint_faults(out)
    if len(faults) == 1:
        raise HintError(faults[0])
    if faults:  # each said at once: fixing one to be shown the next wastes a run each (helper 55)
        raise HintError(f"the hints file has {len(faults)} faults:\n" + "\n".join(f"  - {f}" for f in faults))
    for name, sources in matched.items():
        if len(sources) > 1:  # a bare name in a -r batch: every folder's file of that name
            shown = ", ".join(str(s) for s in sources[:3])
            shown += f" and {len(sources) - 3} more" if len(sources) > 3 else ""
            log.warning("the hints file's %r matches %d inputs (%s): each gets its hints; name one by its path "
                        "to give it alone", name, len(sources), shown)
    return out


def _names_an_image_not_given(name: str, roots: list[str]) -> bool:
    """Whether a hints file's ``name`` is an image file beside the inputs (in a folder given, or
    the folder of a file or glob given), though not one of them: a page of the
    chapter the file was written for, left out of this run, rather than a typo."""
    places = [(Path(r) if Path(r).is_dir() else Path(r).parent) / name for r in roots]
    return any(p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() for p in places)


def _archive_key(unused: set[str], jobs: list[Job]) -> str:
    """For the error of hints file names that match no input: for each name, the key of an input
    image or archive page of that file name (compared ignoring case and NFC: "Vol 2.cbz/ch1/002.jpg"
    or "chapter/002.jpg" for "002.JPG"); else, when there are archives, how a page's key is made,
    with a real page of one as the example (one made from the wrong name, "Vol 2.cbz/01.png" for a
    typo, read as a suggestion; helper 54); else ""."""
    archives = [job.source for job in jobs if is_archive(job.source)]
    images = [job.source.as_posix() for job in jobs if not is_archive(job.source)]
    candidates = [("", images)] + [(archive.name, page_names(archive) or []) for archive in archives]
    meant = did_you_mean(sorted(unused), candidates)
    if meant or not archives:
        return meant
    example = next((f"{archive}/{pages[0]}" for archive, pages in candidates[1:] if pages), None)
    if example is None:
        return ""
    return ("; a page inside an archive is named with the archive's name and the page's path inside it, as in "
            f"\"{example}\"")


def _composed(file_hints: dict[str, list[Hint]]) -> dict[str, list[Hint]]:
    """A hints file's names in Unicode's composed form (NFC); HintError for two names that are one
    name composed (the same page's hints, split: which would win cannot be told)."""
    out: dict[str, list[Hint]] = {}
    given: dict[str, str] = {}
    for name, hints in file_hints.items():
        key = unicodedata.normalize("NFC", name)
        if key in out:
            raise HintError(f"the hints file names one image twice, as {given[key]!r} and {name!r} (the same name, "
                            "its accents or kana written in two ways); keep one")
        out[key], given[key] = hints, name
    return out


def _page_hints(source: Path, names: list[str], file_hints: dict[str, list[Hint]],
                unused: set[str]) -> tuple[tuple[str, tuple[Hint, ...]], ...]:
    """The hints file's entries for pages inside the archive ``source`` (known by ``names``):
    "NAME/PAGE" -> ((PAGE, hints), ...); the entries found are taken off ``unused``. HintError for
    one page named twice ("vol1/ch.cbz/001.png" and "ch.cbz/001.png": one key's hints were
    dropped without a word; helper 54), as for an image named twice."""
    pages = []
    given: dict[str, str] = {}
    for key, hints in file_hints.items():
        for name in names:
            if key.startswith(name + "/") and len(key) > len(name) + 1:
                page = key[len(name) + 1:]
                if page in given:
                    raise HintError(f"the hints file names one page twice, as {given[page]!r} and {key!r}: which "
                                    "hints it takes cannot be told; keep one")
                given[page] = key
                pages.append((page, tuple(hints)))
                unused.discard(key)
                break
    return tuple(pages)


def _names_of(source: Path, roots: list[str]) -> list[str]:
    """The names a hints file may use for an input: its absolute path, as given, relative to its
    folder, bare name."""
    names = [source.absolute().as_posix(), source.as_posix()]
    for root in roots:
        try:
            names.append(source.relative_to(root).as_posix())
        except ValueError:
            continue
    names.append(source.name)
    return [unicodedata.normalize("NFC", name) for name in names]


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
            with quiet(Warning):  # Pillow's, about a damaged EXIF, name no file
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
    if isinstance(exc, (OSError, ValueError, MemoryError)):  # (a bare MemoryError says nothing more)
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
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
            error = Failure(job.source, reason)
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``) or SIGHUP (the terminal closed), raised where Ctrl-C
    would be by the CLI's handler, so a batch stops as it does on Ctrl-C (the count written,
    temporary files removed), with the exit status 128 + the signal (143, 129) instead of 130."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__()
        self.status = 128 + int(signum)


OUTPUT_FILE_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}  # -o page.png: a file


def output_file(args: argparse.Namespace) -> Path | None:
    """The one output file ``-o`` names, or None when it names a folder: an -o ending in an image
    format's extension (``-o page.png``; an archive's, ``-o ch01.cbz``, for an archive) that is not
    a folder already. A user's first guess for one page, which before made a folder ``page.png/``
    and put ``page.png/INPUT.png`` in it (found trying it as a new user)."""
    if args.output in (None, "-", ""):
        return None
    output = Path(args.output)
    if output.suffix.lower() not in (*OUTPUT_FILE_FORMATS, *ARCHIVE_EXTENSIONS) or output.is_dir():
        return None
    return output


def _names_another_format(output: str | None) -> bool:
    """Whether ``-o`` ends in the extension of an image format irodori reads but does not write
    (``-o photo.tif``: it made a folder ``photo.tif/``, exit 0: helper 61), and is no folder yet."""
    if output in (None, "-", "") or output.endswith(("/", os.sep)):  # -o scans.tif/ is a folder, said so
        return False
    path = Path(output)
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.suffix.lower() not in OUTPUT_FILE_FORMATS \
        and not path.is_dir()


def _output_file_problem(args: argparse.Namespace, output: Path) -> str | None:
    """Why ``-o FILE`` cannot be the one output of these inputs (several, a folder, an archive for
    an image or the other way round, a --format its extension contradicts, the input itself), or
    None; ``args.format`` then follows the extension."""
    given = args.inputs
    source = Path(given[0])
    if given != ["-"] and (len(given) != 1 or not source.is_file()):
        inputs = "the inputs are several" if len(given) > 1 else f"{given[0]} is not a file"
        return f"names one output file, but {inputs}; give an output folder, such as -o out/"
    archive = output.suffix.lower() in ARCHIVE_EXTENSIONS
    if given != ["-"] and archive != is_archive(source):
        kinds = [("an archive" if a else "an image") for a in (archive, is_archive(source))]
        return (f"is {kinds[0]}, but {given[0]} is {kinds[1]}; name the output with its kind's extension, "
                "or give a folder")
    if given == ["-"] and archive:
        return "is an archive, but stdin is one image; name it .png, .jpg or .webp"
    if given != ["-"] and output.resolve() == source.resolve():
        return "is the input itself (an input is never overwritten); choose another name"
    wanted = OUTPUT_FILE_FORMATS.get(output.suffix.lower())
    if wanted is not None and args.format not in (None, wanted):
        return f"is a {wanted} file, but --format {args.format} asks for another; leave --format out or rename it"
    args.format = wanted or args.format
    problem = output_folder_problem(output.parent)
    return f"cannot be written: {problem}" if problem else None


def _usage_problem(args: argparse.Namespace, threads: int) -> str | None:
    """What makes the command line unusable before any work (exit 2), or None; settles
    ``args.format`` (``-o page.jpg``'s, else png)."""
    target = output_file(args)
    if target is not None:
        problem = _output_file_problem(args, target)
        if problem:
            return f"-o {args.output} {problem}"
    elif _names_another_format(args.output):
        return (f"-o {args.output} names a {Path(args.output).suffix.lower()[1:].upper()} file, which irodori does not "
                "write; name a .png, .jpg or .webp file (or a .cbz for an archive), or give an output folder")
    args.format = args.format or "png"
    if not args.inputs:
        return _no_inputs(args.reference)
    stdin_mode = args.inputs == ["-"]
    if threads < 1:
        return "--threads must be at least 1"
    if "-" in args.inputs and not stdin_mode:
        return "- (stdin) cannot be mixed with other inputs"
    if args.output == "":
        return "-o is empty (an unset variable?); give an output folder"
    if not stdin_mode and args.output in (None, "-"):
        return "give an output folder with -o OUTDIR"
    if stdin_mode and args.output in (None, "-") and sys.stdout.isatty():  # as gzip and zstd refuse
        return (f"refusing to write {args.format.upper()} data to a terminal; redirect it "
                "(irodori colorize - < in.png > out.png) or give -o OUTDIR")
    if target is not None:
        return None
    problem = None if args.output in (None, "-") else output_folder_problem(Path(args.output))
    if problem:
        return f"-o {args.output}: {problem}"  # found before any image is coloured
    return None if stdin_mode else _walks_the_output(args.inputs, Path(args.output))


def _no_inputs(references: list[str] | None) -> str:
    """The usage error for a command line with no input: --reference takes every value after it,
    so pages given after it were read as references."""
    if not references:
        return "give the images to colour (files, folders, globs, .cbz archives, or - for stdin)"
    return (f"no input to colour: --reference took every value after it ({', '.join(references)}); "
            "give the inputs before it (irodori colorize chapter/ -o out/ --reference cover.png)")


def _walks_the_output(inputs: list[str], output: Path) -> str | None:
    """A usage error for an input folder that is the output folder itself, whose walk would find
    only outputs (it was each input's failure, exit 1, though refused before any work)."""
    for given in inputs:
        folder = Path(given)
        if folder.is_dir() and output.exists() and folder.resolve() == output.resolve():
            example = (folder / "*.png").as_posix()
            return (f"{given} is the output folder -o {output}: its walk skips the outputs, and that is all of it; "
                    f"name its pages with a glob ('{example}') or choose another -o")
    return None


def _settle_encoding(args: argparse.Namespace) -> None:
    """Give --quality and --png-compression their defaults, and warn of one given for a format that
    has no use for it (``--format png --quality 80`` was taken without a word and made no change)."""
    unused = [flag for flag, value, used in (("--quality", args.quality, args.format != "png"),
                                             ("--png-compression", args.png_compression, args.format == "png"))
              if value is not None and not used]
    if unused:
        log.warning("%s: unused with %s output (%s)", unused[0], args.format,
                    "png, the default format, is lossless; --png-compression sets its size and speed; "
                    "--format jpg or webp takes --quality" if args.format == "png"
                    else "it sets png's zlib level; --quality sets this format's")
    args.quality = 95 if args.quality is None else args.quality
    args.png_compression = DEFAULT_PNG_COMPRESSION if args.png_compression is None else args.png_compression


def _warn_paint_settings(args: argparse.Namespace, colorizer: Any = None) -> None:
    """Warn once of paint settings (--tone, --background) given with --mode tint (before the model
    loads), or for a model that cannot paint (``colorizer``'s, once loaded), which never paint:
    :func:`irodori.paint.unused_paint_settings`."""
    if colorizer is not None and args.mode == "tint":
        return  # said before the model loaded
    message = unused_paint_settings(getattr(args, "tone", None), getattr(args, "background", None), args.mode,
                                    paints=None if colorizer is None else colorizer.paint_backend is not None,
                                    model=colorizer.backend.name if colorizer is not None else "")
    if message:
        log.warning("%s", message)


def split_existing(jobs: list[Job], *, overwrite: bool) -> tuple[list[Job], list[Job], list[str]]:
    """-> (the jobs to do, those whose existing output is kept, failures). An existing output is kept unless
    ``overwrite`` or the job is ``shared``; an empty one (a crash before its data reached the disk)
    and an archive holding pages copied uncoloured are made again, with a warning; a folder or
    other non-file at the output's name is a failure of that input, found before any work."""
    todo: list[Job] = []
    kept: list[Job] = []
    failures: list[str] = []
    for job in jobs:
        state = output_state(job.output)
        if state in ("folder", "other"):
            what = "a folder" if state == "folder" else "not a regular file"
            failures.append(Failure(job.source, f"its output {job.output} is {what}; remove it or choose another -o"))
        elif state == "complete" and not (overwrite or job.shared) and not _left_uncoloured(job):
            kept.append(job)
        else:
            if state == "empty" and not overwrite:
                log.warning("%s: an empty file (0 bytes; a crash?), made again", job.output)
            todo.append(job)
    return todo, kept, failures


def _left_uncoloured(job: Job) -> bool:
    """Whether the archive a job wrote before holds pages copied uncoloured: it is made again
    (they may colour now: a page read before it was whole, more memory), with a warning."""
    pages = uncoloured_pages(job.output) if is_archive(job.output) else 0
    if pages:
        log.warning("%s: %d page%s copied uncoloured last time; made again", job.output, pages,
                    "" if pages == 1 else "s")
    return bool(pages)


MAX_LISTED = 20  # failed inputs named at the end of a batch


def _failed_list(failures: list[str], uncoloured: dict[Path, int]) -> str:
    """The inputs behind exit 1, one a line, at most MAX_LISTED of each kind: by the end of a long
    batch their error lines have scrolled away. Failed inputs (no output) under "failed:",
    archives written with pages copied uncoloured under "incomplete:", as the summary counts them."""
    names = list(dict.fromkeys(getattr(failure, "name", failure) for failure in failures))
    archives = [f"{archive} ({n} page{'' if n == 1 else 's'} copied uncoloured)" for archive, n in uncoloured.items()]
    out = []
    for header, listed in (("failed:", names), ("incomplete:", archives)):
        if listed:
            out += [header, *(f"  {name}" for name in listed[:MAX_LISTED])]
            out += [f"  and {len(listed) - MAX_LISTED} more"] if len(listed) > MAX_LISTED else []
    return "\n".join(out)


def _interrupted(exc: KeyboardInterrupt, *, written: int, total: int, failed: int, overwrite: bool,
                 archive_cut: bool = False) -> str:
    """The line that ends a batch stopped by Ctrl-C, SIGTERM or SIGHUP; ``archive_cut``: an
    archive was being coloured, whose output is written whole at its end, so it starts again
    from its first page."""
    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    failures = f", {failed} failed" if failed else ""
    again = ("running it again without --overwrite continues where it stopped" if overwrite
             else "running the same command again continues where it stopped")
    if archive_cut:
        again += " (an archive cut short is coloured again from its first page)"
    return (f"\n{word}: {written} of {total} output{'' if total == 1 else 's'} written{failures}; outputs are "
            f"complete files, so {again}")


def run_colorize(args: argparse.Namespace, interrupts: list[KeyboardInterrupt] | None = None) -> int:
    """``irodori colorize``: -> the exit status: 0; 1 if anything failed; 2 for a usage error;
    130 (Ctrl-C), 143 or 129 (SIGTERM or SIGHUP: :class:`Terminated`) when the colouring is
    stopped. A KeyboardInterrupt before it (loading the model, scanning folders) or in stdin mode
    is raised, for the CLI. ``interrupts``: the signals the CLI's handler received; one there
    when an image is done was swallowed on its way (by an import's lock callback) and is raised
    then."""
    threads = args.threads if args.threads is not None else (os.cpu_count() or 1)
    problem = _usage_problem(args, threads)
    if problem:
        print(f"irodori colorize: {problem}", file=sys.stderr)
        return 2
    _warn_paint_settings(args)
    _settle_encoding(args)
    try:
        cli_hints = parse_hints(args.hint)
        file_hints = load_hints_file(args.hints) if args.hints else []
        # checked here, once, for a usage error; parsed again per image
        if args.palette is not None and parse_palette(args.palette) is None:
            raise HintError(f"--palette {args.palette!r} names no colour (give #RRGGBB,#RRGGBB,...)")
    except HintError as exc:
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return 2
    if args.inputs == ["-"]:
        if isinstance(file_hints, dict):
            print("irodori colorize: with stdin, --hints must hold a list, not names", file=sys.stderr)
            return 2
        colorizer = _load(args, threads)
        return 2 if colorizer is None else _run_stdin(colorizer, args, hints=file_hints + cli_hints)

    target = output_file(args)
    outdir = Path(args.output) if target is None else target.parent
    found, problems = collect_inputs(args.inputs, recursive=args.recursive, exclude=outdir)
    # -o page.png: the one input's output is that file (checked against it in _usage_problem)
    if target is None:
        jobs, clashes = plan_jobs(found, outdir, args.format)
    else:
        jobs, clashes = [Job(source, target) for source, _ in found], []
    try:
        jobs = attach_hints(jobs, cli_hints, file_hints, roots=args.inputs)
    except HintError as exc:
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return 2
    for folder in {job.output.parent for job in jobs}:
        remove_stale_temporaries(folder)  # what a killed run left; fresh ones may be another run's
    jobs, spared = spare_references(jobs, args.reference or [])
    todo, kept, blocked = split_existing(jobs, overwrite=args.overwrite)
    log.debug("%d inputs: %d to colour, %d skipped", len(jobs), len(todo), len(kept))
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():  # log lines printed above the progress bar, not through it
        return _colorize_batch(args, todo, kept=kept, spared=spared,
                               failures=problems + clashes + blocked, threads=threads, interrupts=interrupts)


def _is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (False for a file, a pipe, or a stream without isatty)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced by a test harness, or closed
        return False


def _page_hint_faults(jobs: list[Job]) -> list[str]:
    """For each archive whose hints name a page it does not hold (``ch1.cbz/009.png``), what is
    wrong (:func:`irodori.cbz.hinted_pages_fault`), checked before any work: it was found only
    when the archive was coloured, so a run that kept the archive's existing output said nothing
    of it. An archive that cannot be read is left to its colouring, which reports why."""
    faults = []
    for job in jobs:
        pages = page_names(job.source) if job.page_hints else None
        if pages is not None:
            fault = hinted_pages_fault(job.source, [name for name, _ in job.page_hints], pages)
            faults += [fault] if fault else []
    return faults


def warn_unused_guidance(kept: list[Job], *, references: list[str] | None = None, hints_file: str | None = None
                         ) -> None:
    """Say when outputs kept as they are (they exist, no --overwrite) had hints or the run's
    references for them: a correction run on a finished folder said "0 coloured, 60 skipped"
    and the hints of its page were silently lost (found by a helper). An output written after the
    reference files and the hints file were last changed was most likely made with them (a run
    stopped by Ctrl-C and run again: helper 59 was told its outputs were "not coloured after the
    references"), and is not named; hints given on the command line leave no such trace: an
    output kept with them is said to be perhaps made without them."""
    if not kept:
        return
    made_since = _newest_mtime([*(references or []), *([hints_file] if hints_file else [])])

    def older(job: Job) -> bool:
        try:
            return made_since is None or job.output.stat().st_mtime < made_since
        except OSError:
            return True

    hinted = [job for job in kept if (job.hints or job.page_hints) and (older(job) or not hints_file)]
    if hinted:
        names = ", ".join(str(job.source) for job in hinted[:3]) + (", ..." if len(hinted) > 3 else "")
        how = "made before the hints file was last changed" if hints_file else "perhaps made without them"
        log.warning("%d input%s with hints kept %s existing output%s, %s: %s; add --overwrite "
                    "(and name only the pages to redo) to colour %s with the hints", len(hinted),
                    *(("", "its", "") if len(hinted) == 1 else ("s", "their", "s")), how, names,
                    "it" if len(hinted) == 1 else "them")
    stale = [job for job in kept if older(job)] if references else []
    if stale:
        log.warning("%d existing output%s kept as %s, made before the references were last changed (not coloured "
                    "after them); --overwrite to redo %s", len(stale),
                    *(("", "it was", "it") if len(stale) == 1 else ("s", "they were", "them")))


def _newest_mtime(sources: list[str]) -> float | None:
    """The latest modification time of these reference sources (files, folders' images, globs)
    and hints file, or None when one cannot be read (then every kept output is named)."""
    from .reference import ReferenceImageError, reference_files

    paths = [Path(s) for s in sources if Path(s).is_file()]
    try:
        folders = [s for s in sources if not Path(s).is_file()]
        paths += reference_files(folders, limit=10**6) if folders else []
        return max((path.stat().st_mtime for path in paths), default=None)
    except (OSError, ReferenceImageError):
        return None


def spare_references(jobs: list[Job], references: list[str]) -> tuple[list[Job], int]:
    """-> (the jobs whose input and output are not one of the run's reference files, how many
    were). A reference is an input of the run, never written over, whatever --overwrite says: in
    "colour one, then the rest" it is page 1 coloured by hand with hints, and the batch that
    follows would have coloured page 1 again without them (found by a helper); nor is it coloured
    as a page when it lies among the pages (``vol/ -r --reference vol/refs/`` coloured the cover
    after itself: helper 72). References that cannot be listed are left for the colorizer to report."""
    from .reference import ReferenceImageError, reference_files

    try:
        files = {path_key(path) for path in reference_files(references, limit=10**6)}
    except ReferenceImageError:
        return jobs, 0
    kept = []
    for job in jobs:
        if path_key(job.source) in files:
            log.info("%s: a reference of this run; not coloured as a page", job.source)
        elif path_key(job.output) not in files:
            kept.append(job)
        elif job.hints or job.page_hints:
            log.warning("%s: its output %s is a reference of this run and is kept as it is: its hints were not "
                        "used (colour it with them into another folder, or without --reference)", job.source,
                        job.output)
        else:
            log.info("%s: its output %s is a reference of this run; kept as it is", job.source, job.output)
    return kept, len(jobs) - len(kept)


def _load(args: argparse.Namespace, threads: int):
    """The run's colorizer (its references analysed once, for every image and page), or None
    after saying why it cannot be loaded."""
    from .colorizer import load_colorizer
    from .registry import ModelIntegrityError, ModelNotFoundError

    try:
        colorizer = load_colorizer(args.model, mode=args.mode, tone=args.tone, background=args.background,
                                   max_side=args.max_side, upsample=args.upsample, threads=threads,
                                   max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, temperature=args.temperature,
                                   keep_colour=args.keep_colour)
        _warn_paint_settings(args, colorizer)
        return colorizer.with_references(args.reference) if args.reference else colorizer
    except (ModelNotFoundError, ModelIntegrityError, ValueError) as exc:  # ReferenceImageError among them
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return None


def _colorize_batch(args: argparse.Namespace, todo: list[Job], *, kept: list[Job], spared: int,
                    failures: list[str], threads: int, interrupts: list[KeyboardInterrupt] | None = None) -> int:
    """Colour the planned jobs (``kept``: those whose existing outputs stay; ``failures``: those
    found before any work) -> the exit status; ``interrupts``: see :func:`run_colorize`."""
    skipped = len(kept)
    images = [job for job in todo if not is_archive(job.source)]
    archives = [job for job in todo if is_archive(job.source)]
    units = len(images) + sum(count_pages(job.source) for job in archives)  # what the progress bar counts
    # Several images: one thread each, that many at once (measured faster than spreading one
    # image over every core: decoding, merging and encoding overlap the network). One image:
    # every thread on it. An archive's pages count as images; archives are done one at a time.
    workers = max(1, min(threads, units))
    log.debug("%d images, %d archives (%d pages and images in all); %d at once", len(images), len(archives),
              units, workers)
    colorizer = _load(args, 1 if workers > 1 else threads)
    if colorizer is None:
        return 2
    # said once the model and the references load: a run refused for a bad reference said first to
    # redo the outputs made before the references changed, "--overwrite" (helper 72)
    warn_unused_guidance(kept, references=args.reference, hints_file=args.hints)
    for message in failures:
        print(f"error: {message}", file=sys.stderr)

    from tqdm import tqdm

    from .colorizer import auto_mode_counts, mixed_modes

    # No bar when stderr is a file or a pipe (a helper's log had each line glued to the bar's
    # carriage returns): each image's log line and the closing counts say how far it got.
    shown = not args.quiet and units >= 2 and _is_terminal(sys.stderr)
    bar = tqdm(total=units, desc="colorize", unit="img", disable=not shown, file=sys.stderr, dynamic_ncols=True)
    failed: list[str] = []
    uncoloured: dict[Path, int] = {}  # archives with pages copied through -> how many

    def report(error: str | None) -> None:
        if error:
            failed.append(error)
            bar.write(f"error: {error}", file=sys.stderr)

    def tick(*_: Any) -> None:
        # A signal that came while an import's lock callback ran was swallowed there ("Exception
        # ignored in ..."; a helper's Ctrl-C at 0.4 s went unheeded and the batch ran on): raised
        # again here, between images, from the list the CLI's handler keeps.
        if interrupts:
            raise interrupts[-1]
        bar.update()

    def on_done(job: Job, error: str | None) -> None:
        report(error)
        tick()

    encoding = {"fmt": args.format, "quality": args.quality, "compression": args.png_compression}
    started = time.time() - 0.05  # file times come from a coarser clock, a few ms behind
    try:
        colorize_jobs(colorizer, images, **encoding, threads=workers, palette=args.palette, on_done=on_done)
        kept = colorizer.kept  # images (not archives' pages) kept in colour: --keep-colour
        note = mixed_modes(colorizer)
        if note:  # a folder may hold photos and pages alike (the README's examples): said, not warned
            log.info("%s", note)
        for job in archives:
            mark = auto_mode_counts(colorizer)
            try:
                pages = colorize_file(colorizer, job.source, job.output, **encoding, hints=job.hints,
                                      palette=args.palette, threads=workers, on_page=tick,
                                      page_hints=job.page_hints)
            except Exception as exc:
                reason = failure_reason(exc)
                if reason is None:
                    raise
                report(Failure(job.source, reason))
                continue
            for page in pages:
                uncoloured[job.source] = uncoloured.get(job.source, 0) + 1
                bar.write(f"error: {job.source}: {page}", file=sys.stderr)
            note = mixed_modes(colorizer, since=mark, within=job.source.name)
            if note:  # an archive is one chapter, or one volume
                log.warning("%s: %s", job.source, note)
    except ModelError as exc:  # the model's fault, the same for every image: one line, then stop
        bar.close()
        print(f"irodori colorize: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM and SIGHUP as Terminated
        bar.close()
        # Ctrl-C can land after an output is moved into place and before it is counted: count
        # what is on disk, written by this run.
        done = [_written_since(job.output, started) for job in todo]
        cut = any(is_archive(job.source) and not wrote for job, wrote in zip(todo, done))
        print(_interrupted(exc, written=sum(done), total=len(todo), failed=len(failures) + len(failed),
                           overwrite=args.overwrite, archive_cut=cut), file=sys.stderr)
        return exc.status if isinstance(exc, Terminated) else 130
    bar.close()
    return _finish(todo, skipped=skipped, spared=spared, before=failures, failed=failed, uncoloured=uncoloured,
                   kept=kept, kept_pages=colorizer.kept - kept)


def _finish(todo: list[Job], *, skipped: int, spared: int = 0, before: list[str], failed: list[str],
            uncoloured: dict[Path, int], kept: int = 0, kept_pages: int = 0) -> int:
    """Print the end of a batch (the failed inputs, then the counts) -> the exit status.
    ``before``: the failures found before any work; ``failed``: those of jobs in ``todo``;
    ``skipped``: outputs that exist; ``spared``: outputs that are the run's references;
    ``kept``: images of ``todo`` written as they were (--keep-colour), not counted as coloured;
    ``kept_pages``: archives' pages kept so (their archive counts as coloured)."""
    exists, reference = "output exists; --overwrite to redo", "a reference of this run, kept"
    if skipped and spared:
        why_skipped = f" ({skipped}: {exists.replace(';', ',')}; {spared}: {reference})"
    else:
        why_skipped = f" ({exists})" if skipped else f" ({reference})" if spared else ""
    written = f"{len(todo) - len(failed) - kept} coloured, " + (f"{kept} kept in colour, " if kept else "")
    summary = (f"{written}{skipped + spared} skipped{why_skipped}, "
               f"{len(before) + len(failed)} failed")
    if kept_pages:
        summary += f"; {kept_pages} page{'' if kept_pages == 1 else 's'} of archives kept in colour"
    if uncoloured:
        n = sum(uncoloured.values())
        summary += f"; {n} page{'' if n == 1 else 's'} of archives copied uncoloured"
    if before or failed or uncoloured:
        order = {str(job.source): i for i, job in enumerate(todo)}  # the inputs' order, not the threads'
        in_order = sorted(failed, key=lambda failure: order.get(getattr(failure, "name", ""), len(order)))
        print(_failed_list(before + in_order, uncoloured), file=sys.stderr)
    print(summary, file=sys.stderr)
    return 1 if before or failed or uncoloured else 0


def _written_since(path: Path, since: float) -> bool:
    """Whether ``path`` exists and was written at or after ``since`` (time.time() seconds)."""
    try:
        return path.stat().st_mtime >= since
    except OSError:
        return False


def _run_stdin(colorizer, args: argparse.Namespace, *, hints: list[Hint]) -> int:
    data = sys.stdin.buffer.read()  # read whole even when skipped: the writer of the pipe must not fail
    target = (None if args.output in (None, "-") else output_file(args) or Path(args.output) / f"stdin.{args.format}")
    state = "missing" if target is None else output_state(target)
    if state in ("folder", "other"):
        print(f"error: <stdin>: its output {target} is {'a folder' if state == 'folder' else 'not a regular file'}",
              file=sys.stderr)
        return 1
    if state == "complete" and not args.overwrite:  # skipped, as in a batch: not a failure
        warn_unused_guidance([Job(Path("<stdin>"), target, hints=tuple(hints))], references=args.reference,
                             hints_file=args.hints)
        print(f"0 coloured, 1 skipped ({target} exists; --overwrite to redo), 0 failed", file=sys.stderr)
        return 0
    if state == "empty" and not args.overwrite:
        log.warning("%s: an empty file (0 bytes; a crash?), made again", target)
    try:
        with input_named("stdin"):
            image = colorizer.colorize(data, hints=hints, palette=args.palette)
        encoded = encode(image, args.format, quality=args.quality, compression=args.png_compression)
    except (ImageReadError, HintError, ValueError) as exc:
        print(f"error: <stdin>: {exc}", file=sys.stderr)
        return 1
    if target is None:
        _write_stdout(encoded)
        return 0
    remove_stale_temporaries(target.parent)
    try:
        write_atomic(target, encoded)
    except OSError as exc:
        print(f"error: <stdin>: cannot write {target} ({exc})", file=sys.stderr)
        return 1
    done = "0 coloured, 1 kept in colour" if image.info.get("irodori.mode") == "kept" else "1 coloured"
    print(f"{done}, 0 skipped, 0 failed", file=sys.stderr)  # as a batch ends (stdout stays a filter's)
    return 0


def _write_stdout(data: bytes) -> None:
    """Write all of ``data`` to stdout. Raises BrokenPipeError (the CLI's exit 141) when the
    reader goes away, even in the middle: a buffered write then returns a short count instead of
    raising, so the bytes go to the descriptor in a loop, each count taken."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a stream with no descriptor (embedded, captured)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
