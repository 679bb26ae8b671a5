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

import bz2
import itertools
import lzma
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Sequence

from .hints import Hint, HintError
from .imageio import (IMAGE_EXTENSIONS, ImageReadError, atomic_file, check_encoding, encode, input_named, is_junk,
                      made_by_irodori)
from .registry import ModelError

ARCHIVE_EXTENSIONS = (".cbz", ".zip")
# Comic book archives of other kinds, named so that a user hears why they are not coloured
UNREAD_ARCHIVES = {".cbr": "RAR", ".rar": "RAR", ".cb7": "7-Zip", ".cbt": "tar"}
PAGE_EXTENSIONS = IMAGE_EXTENSIONS
# bad CRC, size or data, an unknown method, a short read
DAMAGED = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, struct.error, OSError)
MAX_PAGE_BYTES = 256 << 20  # a bigger entry is not read into memory as a page (a zip bomb); it is copied
CHUNK = 1 << 20  # entries are inflated this much at a time, whatever their header claims
_UTF8 = 0x800  # general purpose flag 11: the name is UTF-8 (else CP437, or in practice any legacy code page)
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, 22 bytes, name length, extra field length
_UNSAFE_NAME = re.compile(r"^([/\\]|[A-Za-z]:)|(^|[/\\])\.\.([/\\]|$)")  # absolute, a drive, or a ".." part


def is_archive(path: Path) -> bool:
    return path.suffix.lower() in ARCHIVE_EXTENSIONS


UNCOLOURED_MARK = b" [irodori: copied uncoloured]"  # after the comment of a page that could not be coloured


def uncoloured_pages(path: Path) -> int:
    """How many pages an archive irodori wrote holds uncoloured (marked UNCOLOURED_MARK), so that a
    resumed batch makes it again rather than skip it; 0 for an archive it cannot read."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.comment.endswith(UNCOLOURED_MARK) for info in archive.infolist())
    except (OSError, zipfile.BadZipFile):
        return 0


OURS_PAGES = 3  # written_by_irodori reads the headers of at most this many of an archive's first pages


def written_by_irodori(path: Path) -> bool:
    """Whether the archive at ``path`` is one irodori coloured: the first of its first OURS_PAGES
    pages that was coloured (not copied uncoloured) says irodori made it in its header
    (:func:`irodori.imageio.made_by_irodori`); False for an archive it cannot read (colouring it
    says why). A folder walk recoloured a chapter's .cbz written by an earlier run (helper 65)."""
    from PIL import Image

    try:
        with zipfile.ZipFile(path) as archive:
            for info in [info for info in archive.infolist() if _is_page(info)][:OURS_PAGES]:
                if info.comment.endswith(UNCOLOURED_MARK):
                    continue
                with archive.open(info) as fp, Image.open(fp) as img:
                    return made_by_irodori(img)
    except (OSError, ValueError, SyntaxError, zipfile.BadZipFile, RuntimeError, NotImplementedError,
            Image.DecompressionBombError):  # (RuntimeError: encrypted; NotImplementedError: a compression
        return False  # zipfile lacks; a bomb: a page too large, which colouring the archive says)
    return False


def unread_archive(path: Path) -> str | None:
    """Why ``path``, a comic book archive of a kind irodori does not read (.cbr, .cb7, .cbt), is
    not coloured; None for any other file."""
    kind = UNREAD_ARCHIVES.get(path.suffix.lower())
    if kind is None:
        return None
    return (f"{kind} archives ({path.suffix}) are not supported; unpack it and colour the folder, or repack "
            "it as .cbz")


def _parts(name: str) -> list[str]:
    """An entry's name split at "/" and at "\\" (Windows zip tools write either; unzip tools
    differ in which they follow)."""
    return [part for part in re.split(r"[/\\]", name) if part]


def _is_page(info: zipfile.ZipInfo) -> bool:
    # The suffix of the whole name: in a Shift-JIS name read as CP437, "\\" is half a character.
    return (not info.is_dir() and PurePosixPath(info.filename).suffix.lower() in PAGE_EXTENSIONS
            and not _is_link(info) and not is_junk(PurePosixPath(*_parts(info.filename) or ["_"])))
    # resource forks, __MACOSX/ (either separator): copied as they are


def _is_link(info: zipfile.ZipInfo) -> bool:
    """A symbolic link (its data is the target's path, not an image): copied as it is."""
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _open(source: Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(source)
    except FileNotFoundError:
        raise ImageReadError(f"file not found: {source}") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        empty = source.is_file() and source.stat().st_size == 0
        raise ImageReadError("an empty file (0 bytes)" if empty else f"not a readable zip archive ({exc})") from None
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        archive.close()
        raise ImageReadError("the archive is encrypted")
    return archive


def count_pages(source: Path) -> int:
    """The number of pages (image entries) in an archive; 0 when it cannot be read."""
    return len(page_names(source) or ())


def page_names(source: Path) -> list[str] | None:
    """The names of an archive's pages (image entries, in order, as a hints file names them);
    None when it cannot be read (its colouring reports why)."""
    try:
        with zipfile.ZipFile(source) as archive:
            return [info.filename for info in archive.infolist() if _is_page(info)]
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def check_hinted_pages(source: Path, hinted: Iterable[str], pages: Iterable[str]) -> None:
    """HintError for names ``page_hints`` gives pages of the archive ``source`` that are none of
    its ``pages`` (:func:`hinted_pages_fault`'s message; the CLI has checked its hints file's
    names before, so this speaks to a Python caller: helper 76 was told of a "hints file")."""
    fault = hinted_pages_fault(source, hinted, pages, by="page_hints")
    if fault:
        raise HintError(fault)


def hinted_pages_fault(source: Path, hinted: Iterable[str], pages: Iterable[str], *, by: str = "the hints file"
                       ) -> str | None:
    """What is wrong with the names a hints file (or what ``by`` names) gives pages of the archive
    ``source``: those that are none of its ``pages``, with the pages meant where a file name tells
    ("the hints file names ch.cbz/009.png, which is no page image of ch.cbz; did you mean ...");
    None when every name is a page. Names are compared in Unicode's composed form (NFC)."""
    pages = sorted(set(map(_composed, pages)))
    strangers = sorted(set(map(_composed, hinted)) - set(pages))
    if not strangers:
        return None
    many = len(strangers) > 1
    return (f"{by} names {', '.join(f'{source.name}/{n}' for n in strangers)}, "
            f"which {'are no page images' if many else 'is no page image'} of {source.name}"
            f"{did_you_mean(strangers, [(source.name, pages)], prefix=f'{source.name}/')}")


def did_you_mean(names: Sequence[str], archives: Iterable[tuple[str, list[str]]], *, prefix: str = "") -> str:
    """For an error naming a hints file's keys that match no page: the keys it meant, from each
    of ``names`` whose file name is a page's in one of ``archives`` ((archive's file name, its
    page paths); "" for input images' paths, which are whole keys): "; did you mean 'Vol
    2.cbz/ch1/002.jpg'?" for one name, "; did you mean 'A' for '002.jpg', 'B' for '003.jpg'?" for
    several (at most 3 said), or "". ``prefix`` goes before a name as the hints file wrote it (an
    archive's "Vol 2.cbz/")."""
    archives = list(archives)
    said = []
    for name in names:
        meant = [f"{archive}/{page}" if archive else page for archive, pages in archives
                 for page in pages_named(name, pages)]
        if meant:
            said.append((f"{prefix}{name}", " or ".join(repr(key) for key in meant[:3])))
    if not said:
        return ""
    if len(names) == 1:
        return f"; did you mean {said[0][1]}?"
    return "; did you mean " + ", ".join(f"{keys} for {name!r}" for name, keys in said[:3]) + "?"


def pages_named(name: str, pages: Iterable[str]) -> list[str]:
    """The ``pages`` (an archive's page paths) whose file name is ``name``'s (compared composed
    and ignoring case): what a hints file meant by "002.jpg" in an archive that holds
    "第1話/002.jpg"."""
    wanted = _folded(PurePosixPath(name).name)
    return [page for page in pages if _folded(PurePosixPath(page).name) == wanted]


def _composed(name: str) -> str:
    """A page name in Unicode's composed form (NFC), as hints files are matched: a zip made on
    macOS stores "ページ" decomposed, a hints file typed elsewhere composed."""
    return unicodedata.normalize("NFC", name)


def _folded(name: str) -> str:
    """A name as a drive that ignores case (Windows, macOS) and composes Unicode (macOS) sees it."""
    return _composed(name).casefold()


def _output_names(infos: list[zipfile.ZipInfo], fmt: str) -> dict[int, str]:
    """Position of each page entry -> its name in the new archive: only the extension changes, to
    the format's ("012.jpg" -> "012.png"). When that is taken by another entry (compared ignoring
    case, as Windows and macOS unpack, and Unicode composition, as macOS does), "012.jpg.png", then "012.jpg-2.png", and so on: the new
    names never collide. Names are the archive's own strings (see :class:`_Entry`)."""
    def renamed(name: str) -> str:
        suffix = PurePosixPath(name).suffix
        return name if suffix.lower() == f".{fmt}" else f"{name[:-len(suffix)]}.{fmt}"

    pages = [i for i, info in enumerate(infos) if _is_page(info)]
    names = {i: infos[i].orig_filename for i in pages if renamed(infos[i].orig_filename) == infos[i].orig_filename}
    taken = {_folded(info.orig_filename) for i, info in enumerate(infos) if i not in pages or i in names}
    for info in infos:  # folders too: "x.png" beside "x.png/001.png" cannot be unpacked
        parts = _parts(_folded(info.orig_filename))
        taken.update("/".join(parts[:k]) for k in range(1, len(parts)))
    for i in pages:
        if i in names:
            continue
        name = infos[i].orig_filename
        candidates = itertools.chain((renamed(name), f"{name}.{fmt}"), (f"{name}-{n}.{fmt}" for n in itertools.count(2)))
        names[i] = next(new for new in candidates if _folded(new) not in taken)
        taken.add(_folded(names[i]))
    return names


def _check_names(archive: zipfile.ZipFile) -> None:
    """ImageReadError if an entry would unpack outside the folder it is unpacked in (an absolute
    name, a drive, a ".." part; "/" and "\\" both count as separators, as unzip tools differ), or
    leads outside it through the archive's symbolic links, as unpacking them in order would make
    them (a link whose target climbs above the archive's top, or an entry written through links
    that lead outside, in any chain: :func:`_resolve`): such an archive is refused, since the new
    one would carry the same names and links to whoever unpacks it."""
    infos = archive.infolist()
    for info in infos:
        if _UNSAFE_NAME.search(info.orig_filename):
            raise ImageReadError(f"entry {info.orig_filename[:200]!r} would unpack outside the archive's folder "
                                 "(an absolute path or ..); refusing the archive")
    if not any(_is_link(info) for info in infos):
        return
    links: dict[tuple[str, ...], str] = {}  # where each link lies, once unpacked -> its target
    for info in infos:
        parts = _parts(info.orig_filename)
        folder = _resolve(parts[:-1], links)
        target = _read_link(archive, info) if _is_link(info) and parts else None
        if folder is None or (target is not None and (_ABSOLUTE.match(target)
                                                      or _resolve(_parts(target), links, start=folder) is None)):
            what = "is a link pointing" if folder is not None else "would be written through links"
            raise ImageReadError(f"entry {info.orig_filename[:200]!r} {what} outside the archive's folder; "
                                 "refusing the archive")
        if target is not None:
            links[tuple(p.casefold() for p in folder + [parts[-1]])] = target


MAX_LINK_BYTES = 4096  # a link's target path (PATH_MAX); a longer one is no link a system makes


def _read_link(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """A link entry's target path (its data), decoded as its name is; "/" if unreadable or longer
    than MAX_LINK_BYTES, which :func:`_check_names` refuses."""
    try:
        with archive.open(info) as entry:
            data = entry.read(MAX_LINK_BYTES + 1)
    except DAMAGED:
        return "/"
    return "/" if len(data) > MAX_LINK_BYTES else data.decode("utf-8", "replace")


_ABSOLUTE = re.compile(r"^([/\\]|[A-Za-z]:)")
MAX_LINK_STEPS = 40  # links followed in one path at most, as Linux's own limit: a loop is refused


def _resolve(parts: list[str], links: dict[tuple[str, ...], str], *, start: list[str] | None = None
             ) -> list[str] | None:
    """The path ``parts`` (from the folder ``start``, default the archive's top) as the file
    system resolves it once unpacked, following the links unpacked so far (``links``: where each
    lies, casefolded parts -> its target) at every step and in chains: a ".." after a link climbs
    from where the link points, not from where it lies. -> the resolved parts, or None when the
    path leads outside the top (an absolute target, or more than MAX_LINK_STEPS links: a loop)."""
    path = list(start or [])
    todo = list(parts)
    steps = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if not path:
                return None
            path.pop()
            continue
        if part == ".":
            continue
        path.append(part)
        target = links.get(tuple(p.casefold() for p in path))
        if target is not None:
            steps += 1
            if steps > MAX_LINK_STEPS or _ABSOLUTE.match(target):
                return None
            path.pop()  # the target is read from the link's folder
            todo = _parts(target) + todo
    return path


def colorize_cbz(colorizer, source: str | Path, output: str | Path, *, fmt: str, quality: int = 95,
                 compression: int | None = None, hints: tuple[Hint, ...] = (), palette: Any = None,
                 threads: int = 1, on_page: Callable[[], None] | None = None,
                 page_hints: dict[str, tuple[Hint, ...]] | None = None) -> list[str]:
    """Colour every page of ``source`` into the archive ``output``; returns one "page: reason"
    line per page copied through uncoloured. ``hints`` and ``palette`` apply to every page,
    ``page_hints`` {page path inside the archive: hints} to the pages it names (HintError,
    before anything is written, for a name that is no page of it);
    ``quality``/``compression`` are :func:`irodori.imageio.encode`'s; ``on_page()`` is called
    after each page. Raises ImageReadError for an unusable archive (unreadable, encrypted, no page,
    a name that unpacks outside its folder, damaged data), and nothing is written then;
    ValueError, before any page is read, for a bad ``fmt``, ``quality`` or ``compression``
    (:func:`irodori.imageio.check_encoding`) or an ``output`` that is ``source`` itself."""
    source, output = Path(source), Path(output)
    check_encoding(fmt, quality, compression)
    if output.exists() and source.exists() and output.resolve() == source.resolve():
        raise ValueError(f"the output {output} is the archive being coloured: choose another output")
    with _open(source) as archive, open(source, "rb") as fp:
        infos = archive.infolist()
        _check_names(archive)
        names = _output_names(infos, fmt)
        if not names:
            raise ImageReadError("no page images inside the archive")
        renamed = {tuple(_parts(infos[i].orig_filename)): new for i, new in names.items()
                   if new != infos[i].orig_filename}
        problems: list[str] = []
        page_hints = {_composed(name): hints for name, hints in (page_hints or {}).items()}
        check_hinted_pages(source, page_hints, (infos[i].filename for i in names))

        def colour(data: bytes, name: str) -> bytes:
            with input_named(f"{source.name}: {name}"):  # in its warnings
                mine = page_hints.get(_composed(name), ())
                image = colorizer.colorize(data, hints=tuple(hints) + mine, palette=palette)
            return encode(image, fmt, quality=quality, compression=compression)

        with atomic_file(output) as raw, _writer(raw, archive.comment) as out, \
                ThreadPoolExecutor(max(1, threads), thread_name_prefix="irodori-page") as pool:
            pending: deque[tuple[zipfile.ZipInfo, bytes, str, Future]] = deque()

            def write_pages(keep: int) -> None:  # the oldest pages, in order, until `keep` are left
                while len(pending) > keep:
                    info, data, name, future = pending.popleft()
                    # exception(), not result(): a raised one would tie this frame (and the page)
                    # to its traceback in a cycle, kept in memory until the cycle collector runs
                    error = future.exception()
                    if error is None:
                        _write(out, info, name, future.result(), coloured=True)
                    elif (isinstance(error, (ImageReadError, HintError, ValueError, OSError, MemoryError))
                          and not isinstance(error, ModelError)):  # a broken model stops the archive
                        problems.append(f"{info.filename}: {error or type(error).__name__}; copied uncoloured")
                        _write(out, info, info.orig_filename, data, info.compress_type, uncoloured=True)
                    else:
                        raise error
                    del info, data, future, error
                    if on_page is not None:
                        on_page()

            try:
                for index, info in enumerate(infos):
                    if index in names and info.file_size <= MAX_PAGE_BYTES:
                        data = _read(fp, info)
                        pending.append((info, data, names[index], pool.submit(colour, data, info.filename)))
                        del data
                        write_pages(2 * max(1, threads) - 1)
                        continue
                    write_pages(0)  # entries keep their order
                    if index in names:
                        problems.append(f"{info.filename}: {info.file_size} bytes, over the "
                                        f"{MAX_PAGE_BYTES >> 20} MB a page may have; copied uncoloured")
                        if on_page is not None:
                            on_page()
                    target = _retarget(archive, info, renamed) if _is_link(info) and renamed else None
                    if target is not None:
                        _write(out, info, info.orig_filename, target.encode(), info.compress_type)
                    else:
                        _copy(fp, info, out, uncoloured=index in names)  # a page here is one too large
                write_pages(0)
            except BaseException:
                for *_, future in pending:
                    future.cancel()  # an interrupt waits for the pages in the network, not the rest
                raise
    return problems


def _retarget(archive: zipfile.ZipFile, link: zipfile.ZipInfo, renamed: dict[tuple[str, ...], str]) -> str | None:
    """A link entry pointing at a page whose name the new archive changes ("cover.jpg" ->
    "001.jpg", which becomes "001.png") -> its target with that page's new name, or None to copy
    it as it is. (A page that then fails is copied under its old name, and the link to it dangles.)"""
    target = _read_link(archive, link)
    path = None if _ABSOLUTE.match(target) else _resolve(_parts(target), {}, start=_parts(link.orig_filename)[:-1])
    new = renamed.get(tuple(path)) if path else None
    if new is None:
        return None
    old_last, new_last = path[-1], _parts(new)[-1]
    return target[:len(target) - len(old_last)] + new_last if target.endswith(old_last) else None


def _writer(raw: BinaryIO, comment: bytes) -> zipfile.ZipFile:
    """The new archive, with the archive's own comment (where ComicBookInfo and ComicTagger keep
    a chapter's metadata)."""
    out = zipfile.ZipFile(raw, "w")
    out.comment = comment
    return out


def _read(fp: BinaryIO, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes; ImageReadError if it is damaged (or inflates past its declared size)."""
    try:
        return b"".join(_inflate(fp, info))
    except DAMAGED as exc:
        raise ImageReadError(f"{info.filename} is damaged ({exc})") from None


def _copy(fp: BinaryIO, info: zipfile.ZipInfo, out: zipfile.ZipFile, *, uncoloured: bool = False) -> None:
    """Copy an entry as it is, streamed (it may be large); ``uncoloured``: a page, marked so."""
    try:
        with out.open(_entry(info, info.orig_filename, info.compress_type, uncoloured=uncoloured), "w",
                      force_zip64=info.file_size > 2**31) as dst:
            for chunk in _inflate(fp, info):
                dst.write(chunk)
    except DAMAGED as exc:
        raise ImageReadError(f"{info.filename} is damaged ({exc})") from None


def _inflate(fp: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """An entry's bytes, in chunks of at most CHUNK, from the archive file ``fp``. What is inflated
    is counted as it comes: an entry that inflates past the size its header declares (a zip bomb
    claiming 100 bytes) stops within one chunk of it. zipfile's own reader inflates one read
    (up to 1 GiB for deflate, unbounded for bzip2 and LZMA) before it compares sizes.
    Raises zipfile.BadZipFile (wrong size or CRC), NotImplementedError (an unknown method), or
    the decompressor's error."""
    inflater = _inflater(info.compress_type, info.file_size)
    size = crc = 0
    for piece in _raw(fp, info):
        while True:
            out = piece if inflater is None else inflater.decompress(piece, CHUNK)
            piece = b""
            size += len(out)
            if size > info.file_size:
                raise zipfile.BadZipFile(f"inflates past its declared size of {info.file_size:,} bytes")
            crc = zlib.crc32(out, crc)
            if out:
                yield out
            if inflater is None or inflater.eof or inflater.needs_input:
                break
    if size != info.file_size or crc != info.CRC:
        raise zipfile.BadZipFile(f"its data does not match its header ({size:,} bytes, CRC {crc:08x})")


def _raw(fp: BinaryIO, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The entry's stored (compressed) bytes, in chunks of at most CHUNK."""
    fp.seek(info.header_offset)
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(fp.read(_LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise zipfile.BadZipFile("no local header where the central directory points")
    fp.seek(name_length + extra_length, 1)
    left = info.compress_size
    while left > 0:
        piece = fp.read(min(CHUNK, left))
        if not piece:
            raise zipfile.BadZipFile("the data is cut short")
        left -= len(piece)
        yield piece


class _Deflate:
    """zlib's raw inflater with bz2's and lzma's interface (``decompress(data, max_length)``,
    ``needs_input``, ``eof``)."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(-15)
        self.needs_input, self.eof = True, False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._zlib.decompress(self._zlib.unconsumed_tail + data, max_length)
        self.needs_input, self.eof = not self._zlib.unconsumed_tail, self._zlib.eof
        return out


class _Lzma:
    """LZMA as zip stores it: a 4-byte header (version, properties size), 5 bytes of properties
    (lc/lp/pb, dictionary size), then a raw LZMA1 stream. The dictionary is allocated at once and
    need not be larger than the entry (the header may say 4 GiB): at most ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self._size = max(4096, size)
        self._head = b""
        self._lzma: lzma.LZMADecompressor | None = None
        self.needs_input, self.eof = True, False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._lzma is None:
            self._head += data
            if len(self._head) < 9:
                return b""
            size = int.from_bytes(self._head[2:4], "little")
            props, data = self._head[4:4 + size], self._head[4 + size:]
            lc_lp_pb, dict_size = props[0], min(self._size, int.from_bytes(props[1:5], "little"))
            self._lzma = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{
                "id": lzma.FILTER_LZMA1, "dict_size": dict_size,
                "lc": lc_lp_pb % 9, "lp": lc_lp_pb // 9 % 5, "pb": lc_lp_pb // 45}])
        out = self._lzma.decompress(data, max_length)
        self.needs_input, self.eof = self._lzma.needs_input, self._lzma.eof
        return out


def _inflater(method: int, size: int):
    if method == zipfile.ZIP_STORED:
        return None
    if method == zipfile.ZIP_DEFLATED:
        return _Deflate()
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor()
    if method == zipfile.ZIP_LZMA:
        return _Lzma(size)
    raise NotImplementedError(f"compression method {method} is not supported")


class _Entry(zipfile.ZipInfo):
    """A ZipInfo written with the name bytes and UTF-8 flag of the entry it comes from. zipfile
    reads a name without the UTF-8 flag as CP437 and would write it back as UTF-8 with the flag
    set, garbling the Shift-JIS (or other code page) names that zip tools on Windows write."""

    __slots__ = ("raw_name", "utf8")

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # zipfile's hook for the name in both headers
        return self.raw_name, (self.flag_bits & ~_UTF8) | (_UTF8 if self.utf8 else 0)


def _entry(info: zipfile.ZipInfo, name: str, compress_type: int, *, coloured: bool = False,
           uncoloured: bool = False) -> zipfile.ZipInfo:
    """A new entry for ``name`` (the old name, or the old name with a new extension) with the old
    one's name encoding and flag, date, permissions, comment and extra fields. A coloured page is
    a regular file whatever its entry was; a renamed one drops the old name's Unicode path field;
    a page copied ``uncoloured`` has UNCOLOURED_MARK after its comment, so a later run knows."""
    utf8 = bool(info.flag_bits & _UTF8)
    entry = _Entry(name, date_time=info.date_time)
    entry.raw_name, entry.utf8 = name.encode("utf-8" if utf8 else "cp437"), utf8
    entry.compress_type = compress_type
    entry.create_system, entry.external_attr = info.create_system, info.external_attr
    entry.comment = info.comment + (UNCOLOURED_MARK if uncoloured else b"")
    renamed = name != info.orig_filename
    entry.extra = _extra_fields(info.extra, drop={0x0001, 0x7075} if renamed else {0x0001})  # zip64: zipfile's own
    if coloured:
        mode = info.external_attr >> 16
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            entry.external_attr = (stat.S_IFREG | stat.S_IMODE(mode)) << 16 | (info.external_attr & 0xFFFF)
    else:
        entry.internal_attr = info.internal_attr
    return entry


def _extra_fields(extra: bytes, *, drop: set[int]) -> bytes:
    """The extra field without the records whose id is in ``drop`` (a malformed tail is dropped)."""
    kept, at = [], 0
    while at + 4 <= len(extra):
        record_id, size = struct.unpack_from("<HH", extra, at)
        if at + 4 + size > len(extra):
            break
        if record_id not in drop:
            kept.append(extra[at:at + 4 + size])
        at += 4 + size
    return b"".join(kept)


def _write(out: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, data: bytes,
           compress_type: int = zipfile.ZIP_STORED, *, coloured: bool = False, uncoloured: bool = False) -> None:
    out.writestr(_entry(info, name, compress_type, coloured=coloured, uncoloured=uncoloured), data)
