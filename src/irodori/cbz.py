"""Comic book archives: colour every page of a ``.cbz`` (or ``.zip``) into a new archive.

A chapter often comes as a .cbz: a zip of page images, perhaps with a ComicInfo.xml. The new
archive has the same entries in the same order: each page coloured and encoded in the output
format (``012.jpg`` becomes ``012.png`` with ``fmt="png"``; readers order pages by name, which is
kept), every other entry copied byte for byte. A page that cannot be coloured (corrupt, too many
pixels, a hint outside it) is copied through unchanged and reported, so the chapter stays whole;
an archive that cannot be read, is encrypted, or holds no page fails with no output.

Pages are coloured ``threads`` at a time (at most twice that many read ahead, so memory does not
grow with the chapter), and written in their order. The archive is written atomically: an
existing output is always a complete one, which is what lets a batch skip it.
"""

from __future__ import annotations

import shutil
import zipfile
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from .hints import Hint, HintError
from .imageio import ImageReadError, atomic_file, encode
from .registry import ModelError

ARCHIVE_EXTENSIONS = (".cbz", ".zip")
PAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)  # bad CRC or data, an unknown method
MAX_PAGE_BYTES = 256 << 20  # a bigger entry is not read into memory as a page (a zip bomb); it is copied


def is_archive(path: Path) -> bool:
    return path.suffix.lower() in ARCHIVE_EXTENSIONS


def _is_page(info: zipfile.ZipInfo) -> bool:
    name = PurePosixPath(info.filename)
    return (not info.is_dir() and name.suffix.lower() in PAGE_EXTENSIONS
            and "__MACOSX" not in name.parts and not name.name.startswith("._"))  # macOS resource forks


def _open(source: Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(source)
    except FileNotFoundError:
        raise ImageReadError("file not found") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImageReadError(f"not a readable zip archive ({exc})") from None
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        archive.close()
        raise ImageReadError("the archive is encrypted")
    return archive


def count_pages(source: Path) -> int:
    """The number of pages (image entries) in an archive; 0 when it cannot be read."""
    try:
        with zipfile.ZipFile(source) as archive:
            return sum(_is_page(info) for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0


def _output_names(infos: list[zipfile.ZipInfo], fmt: str) -> dict[str, str]:
    """Page entry name -> its name in the new archive: the format's extension ("012.jpg" ->
    "012.png"), unless that is another entry's name ("1.jpg" beside "1.png": "1.jpg.png")."""
    def renamed(name: str) -> str:
        path = PurePosixPath(name)
        return name if path.suffix.lower() == f".{fmt}" else str(path.with_suffix(f".{fmt}"))

    pages = [info.filename for info in infos if _is_page(info)]
    taken = {info.filename for info in infos if not _is_page(info)} | {n for n in pages if renamed(n) == n}
    names = {}
    for name in pages:
        new = renamed(name)
        if new != name:
            new = new if new not in taken else f"{name}.{fmt}"
            taken.add(new)
        names[name] = new
    return names


def colorize_cbz(colorizer, source: str | Path, output: str | Path, *, fmt: str, quality: int = 95,
                 hints: tuple[Hint, ...] = (), palette: Any = None, threads: int = 1,
                 on_page: Callable[[], None] | None = None) -> list[str]:
    """Colour every page of ``source`` into the archive ``output``; returns one "page: reason"
    line per page copied through uncoloured. ``hints`` and ``palette`` apply to every page;
    ``on_page()`` is called after each page. Raises ImageReadError for an unusable archive."""
    source, output = Path(source), Path(output)
    with _open(source) as archive:
        infos = archive.infolist()
        names = _output_names(infos, fmt)
        if not names:
            raise ImageReadError("no page images inside the archive")
        problems: list[str] = []

        def colour(data: bytes) -> bytes:
            return encode(colorizer.colorize(data, hints=hints, palette=palette), fmt, quality=quality)

        with atomic_file(output) as raw, zipfile.ZipFile(raw, "w") as out, \
                ThreadPoolExecutor(max(1, threads), thread_name_prefix="irodori-page") as pool:
            pending: deque[tuple[zipfile.ZipInfo, bytes, Future]] = deque()

            def write_pages(keep: int) -> None:  # the oldest pages, in order, until `keep` are left
                while len(pending) > keep:
                    info, data, future = pending.popleft()
                    try:
                        coloured = future.result()
                    except ModelError:  # a broken model stops the archive
                        raise
                    except (ImageReadError, HintError, ValueError, OSError, MemoryError) as exc:
                        problems.append(f"{info.filename}: {exc}; copied uncoloured")
                        _write(out, info, info.filename, data, info.compress_type)
                    else:
                        _write(out, info, names[info.filename], coloured, zipfile.ZIP_STORED)
                    if on_page is not None:
                        on_page()

            try:
                for info in infos:
                    if info.filename in names and info.file_size <= MAX_PAGE_BYTES:
                        data = _read(archive, info)
                        pending.append((info, data, pool.submit(colour, data)))
                        write_pages(2 * max(1, threads) - 1)
                        continue
                    write_pages(0)  # entries keep their order
                    if info.filename in names:
                        problems.append(f"{info.filename}: {info.file_size} bytes, over the "
                                        f"{MAX_PAGE_BYTES >> 20} MB a page may have; copied uncoloured")
                        if on_page is not None:
                            on_page()
                    _copy(archive, info, out)
                write_pages(0)
            except BaseException:
                for _, _, future in pending:
                    future.cancel()  # an interrupt waits for the pages in the network, not the rest
                raise
    return problems


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        return archive.read(info)
    except DAMAGED as exc:
        raise ImageReadError(f"{info.filename} is damaged ({exc})") from None


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: zipfile.ZipFile) -> None:
    """Copy an entry as it is, streamed (it may be large)."""
    try:
        with archive.open(info) as src, out.open(_entry(info, info.filename, info.compress_type), "w",
                                                 force_zip64=info.file_size > 2**31) as dst:
            shutil.copyfileobj(src, dst)
    except DAMAGED as exc:
        raise ImageReadError(f"{info.filename} is damaged ({exc})") from None


def _entry(info: zipfile.ZipInfo, name: str, compress_type: int) -> zipfile.ZipInfo:
    """A new entry for ``name`` with the old one's date, permissions and comment."""
    entry = zipfile.ZipInfo(name, date_time=info.date_time)
    entry.compress_type = compress_type
    entry.external_attr = info.external_attr
    entry.comment = info.comment
    return entry


def _write(out: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, data: bytes, compress_type: int) -> None:
    out.writestr(_entry(info, name, compress_type), data)
