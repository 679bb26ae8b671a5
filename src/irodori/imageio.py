"""Reading and writing images: every Pillow mode in, full-resolution lightness out.

Inputs of any common mode are accepted: 1-bit, 8-bit grey, 16-bit grey, float grey, palette,
grey+alpha, RGB(A), CMYK, YCbCr; transparency as alpha or as a colour key. EXIF orientation is
applied, alpha is split off and kept, and the lightness is CIE L computed from the pixels at full
resolution and full bit depth. Outputs are written atomically (temporary file + rename) so an
interrupted batch never leaves a truncated image that a resumed batch would then skip.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import logging
import os
import re
import shutil
import stat
import struct
import tempfile
import threading
import time
import warnings
from pathlib import Path, PurePath
from typing import BinaryIO, Iterator, TypeVar, Union

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError, features

from .color import gray8_to_l, gray_to_l, l_to_gray, rgb_to_l

log = logging.getLogger(__name__)

_INPUT_NAME: contextvars.ContextVar[str] = contextvars.ContextVar("irodori_input_name", default="")
T = TypeVar("T")

# One PNG text, XMP or profile chunk may inflate to 16 MB (Pillow refuses the whole file past
# 1 MB: a Photoshop XMP listing thousands of document ancestors inflated to 2.3 MB, and an
# undamaged page was "corrupt", helper 79); a zip bomb in one is still refused, and all of a
# file's text together still stops at Pillow's MAX_TEXT_MEMORY (64 MB). Set for the process.
TEXT_CHUNK_BYTES = 16 << 20
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, TEXT_CHUNK_BYTES)


@contextlib.contextmanager
def scoped(var: contextvars.ContextVar[T], value: T) -> Iterator[T]:
    """``var`` set to ``value`` within the block, in this thread (and context), and put back
    after; yields ``value`` (a list the block's callees append to, say)."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


@contextlib.contextmanager
def input_named(name: str | Path | None) -> Iterator[None]:
    """Name the input being read and coloured in this thread, for the warnings about it
    (:func:`input_prefix`): a path names itself; an archive's page, stdin or an upload is named
    by its caller ("ch01.cbz: 003.jpg"). ``None`` keeps the name already set."""
    if name is None or name == "":
        yield
        return
    with scoped(_INPUT_NAME, str(name)):
        yield


_QUIET_LOCK = threading.Lock()
_QUIET: dict[type, list] = {}  # category -> [blocks inside, the filter entry they share]


@contextlib.contextmanager
def quiet(category: type[Warning] = UserWarning) -> Iterator[None]:
    """Ignore warnings of ``category`` while the block runs, safely across threads.

    ``warnings.catch_warnings`` is not thread-safe: a page decoded in one thread of a batch
    restored the filters on leaving while another was still decoding, and Pillow's warning about
    that one's damaged EXIF escaped (one run in three). Here the blocks of all threads share one
    filter, added when the first enters and removed when the last leaves. As with catch_warnings,
    warnings of the category from elsewhere in the process are ignored meanwhile."""
    with _QUIET_LOCK:
        held = _QUIET.get(category)
        if held is None:
            held = _QUIET[category] = [0, ("ignore", None, category, None, 0)]
            warnings.filters.insert(0, held[1])  # "ignore" decisions are never cached: no reset needed
        held[0] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            held[0] -= 1
            if held[0] == 0:
                del _QUIET[category]
                for i, entry in enumerate(warnings.filters):
                    if entry is held[1]:  # ours, not an equal one of the caller's
                        del warnings.filters[i]
                        break


def input_name() -> str:
    """The name :func:`input_named` gave the input being read in this thread, or ""."""
    return _INPUT_NAME.get()


def input_prefix() -> str:
    """"NAME: " for messages about the input named by :func:`input_named`, or "" if none is."""
    name = _INPUT_NAME.get()
    return f"{name}: " if name else ""


DEFAULT_MAX_PIXELS = 64_000_000  # a 24 MP photo passes; a decompression bomb does not

ImageSource = Union[str, Path, bytes, BinaryIO, Image.Image, np.ndarray]

# Files read as images in folders and archives (and for training and evaluation): every still
# format Pillow reads that scans and pages come in, PGM/PPM/PBM included (named on the command line
# any file Pillow opens is read). AVIF only where this Pillow reads it (its AVIF plugin, built with
# libavif): elsewhere every .avif page would be listed only to fail.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp", ".tif", ".tiff", ".gif",
                    ".pgm", ".ppm", ".pbm", ".pnm") + ((".avif",) if features.check("avif") else ())
FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
MAX_OUTPUT_SIDE = {"jpg": 65_535, "webp": 16_383}  # the formats' own limits
DEFAULT_PNG_COMPRESSION = 1  # zlib level: about half the time of 6 for 4 % more bytes (docs/BENCHMARKS.md)

_UMASK = os.umask(0)  # read the process umask once (os.umask can only read it by setting it)
os.umask(_UMASK)


# Operating-system clutter that sits beside pages: never an image, never reported as one.
JUNK_FILES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", ".directory"})
JUNK_FOLDERS = frozenset({"__macosx", ".appledouble", ".spotlight-v100", ".trashes", ".fseventsd",
                          ".temporaryitems", "@eadir", "$recycle.bin"})


def is_junk(path: str | PurePath) -> bool:
    """Whether a file is clutter that operating systems leave beside pages, never a page: macOS
    resource forks (``._page01.png``, written on FAT drives, network shares and in zips) and
    metadata (``.DS_Store``, ``__MACOSX/``, ``.Spotlight-V100/``, ...), Windows' ``Thumbs.db``
    and ``desktop.ini``, a NAS's ``@eaDir/``. The one rule for folder walks, globs and archives.
    ``path``: relative to what is walked (a folder, a glob's base) or an archive entry's name;
    case is ignored."""
    parts = [part.lower() for part in PurePath(path).parts]
    if not parts:
        return False
    return parts[-1].startswith("._") or parts[-1] in JUNK_FILES or any(part in JUNK_FOLDERS for part in parts[:-1])


class OutputSizeError(ValueError):
    """An image too large for the output format asked (JPEG and WebP have a largest side)."""


class ImageReadError(ValueError):
    """An input that cannot be coloured: the message says why (corrupt, not an image, too big)."""


def open_image(source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image fully, EXIF orientation applied.

    Raises ImageReadError with a reason for anything that cannot be decoded, whatever Pillow
    raised (see _read_errors), so one bad file never stops a batch. A damaged EXIF costs only the
    orientation (with a warning); a JPEG whose scan is complete but whose end-of-image marker is
    missing is read whole (with a warning).
    """
    if isinstance(source, os.PathLike) and not isinstance(source, Path):  # os.DirEntry, a path-like of a library
        source = Path(os.fsdecode(os.fspath(source)))
    # Pillow's UserWarnings ("Corrupt EXIF data", ...) say less than the warnings given here
    with input_named(source if isinstance(source, (str, Path)) else None), quiet(UserWarning):
        return _open_image(source, max_pixels, input_prefix())


_CALLERS_IMAGE = threading.Lock()  # a PIL image of the caller's is decoded by one thread at a time


def _caller_image(source: Image.Image, max_pixels: int | None, name: str) -> Image.Image:
    """A PIL image the caller gave, decoded (it may have been opened lazily) and upright. Pillow's
    lazy decoding is not thread-safe: two threads colouring one opened image garbled it, and every
    later colouring of it came out mostly black (found by a helper), so :func:`_open_image` holds
    a lock around this."""
    try:
        with _read_errors():
            _load_turned(source)  # a lazily opened image decodes here
    except ImageReadError:
        # Opened lazily from a file or a stream: read that as a path or bytes are read, which
        # completes what Pillow's lazy decoder could not (a JPEG missing only its end marker).
        again = _opened_from(source)
        if again is None:
            raise
        img = open_image(again, max_pixels=max_pixels)
        if sorted(img.size) != sorted(source.size):  # a stream that did not start at the image
            raise
        return img
    with _read_errors():
        upright = _upright(source, name)
    _keep_declared_white(source, upright)
    return upright


def _open_image(source: ImageSource, max_pixels: int | None, name: str) -> Image.Image:
    if isinstance(source, Image.Image):
        _check_pixels(source.size, max_pixels)
        with _CALLERS_IMAGE:
            return _caller_image(source, max_pixels, name)
    if isinstance(source, np.ndarray):
        return _array_image(source, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp: BinaryIO | str | Path = io.BytesIO(bytes(source))
    elif isinstance(source, io.TextIOBase):
        raise TypeError("the file was opened as text: open it in binary mode, open(path, 'rb')")
    elif isinstance(source, (str, Path)):
        fp = source
    elif hasattr(source, "read"):
        if not all(hasattr(source, name) for name in ("seekable", "tell", "seek")):
            raise TypeError(f"cannot read an image from {type(source).__name__}: a file object needs read, seek, "
                            "tell and seekable (a binary file, io.BytesIO); or give its bytes")
        fp = source
    else:
        raise TypeError(f"cannot read an image from {type(source).__name__}: give a path, bytes, a binary "
                        "file, a PIL image or a numpy array")
    # A path is opened here, not by Pillow: Pillow closes a file it opened once the pixels are
    # loaded, and a TIFF's orientation tag, read after that, was then lost (the same TIFF came
    # out turned from bytes and unturned from its path).
    with (_read_errors(max_pixels), contextlib.ExitStack() as stack, quiet(Image.DecompressionBombWarning),
          _pillow_limit(max_pixels)):
        if isinstance(fp, (str, Path)):
            fp = stack.enter_context(_open_path(fp))
        if fp.seekable() and fp.read(1) == b"":
            at_end = fp.tell() > 0  # a stream the caller had read to its end, not an empty file
            raise ImageReadError("nothing left to read: the stream is at its end (seek(0) first?)" if at_end
                                 else "an empty file (0 bytes)")
        if fp.seekable():
            fp.seek(-1, io.SEEK_CUR)
        img = _decode(fp, max_pixels, name)
        upright = _upright(img, name)
        _keep_declared_white(img, upright)
        frames = getattr(img, "n_frames", 1) - _hidden_default(img)
    if frames > 1:  # an animated GIF, a multi-page TIFF
        log.warning("%sonly the first of its %d frames is coloured", name, frames)
    return upright


LIMIT_ADVICE = "--max-pixels; max_pixels= in Python"
_LIMITS_LOCK = threading.Lock()
_LIMITS: list[int | None] = []  # the max_pixels of the calls decoding now
_PILLOWS_LIMIT: list[int | None] = []  # Pillow's own MAX_IMAGE_PIXELS, while any call is decoding


@contextlib.contextmanager
def _pillow_limit(max_pixels: int | None) -> Iterator[None]:
    """Lift Pillow's own bomb guard (process-wide: MAX_IMAGE_PIXELS) as far as the calls decoding
    now ask, ``None`` lifting it off, and put it back when the last one is done: ours
    (``max_pixels``, per call, :func:`_check_pixels`) is the limit that counts. Raised for good,
    as it was, one call with a larger limit changed the caller's whole program; and None kept
    Pillow's guard, which refused images over 179 megapixels."""
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer))):
        raise TypeError(f"max_pixels must be a whole number or None, not {max_pixels!r}")  # before the shared state
    with _LIMITS_LOCK:
        if not _LIMITS:
            _PILLOWS_LIMIT[:] = [Image.MAX_IMAGE_PIXELS]
        _LIMITS.append(max_pixels)
        _apply_limits()
    try:
        yield
    finally:
        with _LIMITS_LOCK:
            _LIMITS.remove(max_pixels)
            _apply_limits()


def _apply_limits() -> None:
    original = _PILLOWS_LIMIT[0]
    if not _LIMITS:
        Image.MAX_IMAGE_PIXELS = original
    elif original is None or any(limit is None for limit in _LIMITS):
        Image.MAX_IMAGE_PIXELS = None
    else:
        Image.MAX_IMAGE_PIXELS = max(original, *_LIMITS)


@contextlib.contextmanager
def _read_errors(max_pixels: int | None = None) -> Iterator[None]:
    """Turn whatever decoding raises into ImageReadError with a reason. Pillow's decoders and
    parsers raise many types on damaged data (OSError and SyntaxError, but also struct.error,
    IndexError, TypeError, KeyError, ...): each means this file cannot be read, never that the
    program is broken. MemoryError passes (it is about the machine, not the file). Pillow's own
    bomb guard (past twice its MAX_IMAGE_PIXELS, before our check sees the size) is reported as
    ours is, against ``max_pixels``."""
    try:
        yield
    except (ImageReadError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        if found and max_pixels is not None:
            raise ImageReadError(f"too many pixels ({int(found.group(1)):,} > limit {max_pixels:,}); "
                                 f"raise the limit ({LIMIT_ADVICE}) if this image is trusted") from None
        raise ImageReadError(f"too many pixels ({exc}); raise the limit ({LIMIT_ADVICE})") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image, or a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"corrupt or truncated image ({exc})") from None
    except Exception as exc:
        raise ImageReadError(f"corrupt or truncated image ({_describe(exc)})") from None


def _describe(exc: BaseException) -> str:
    """'struct.error: unpack requires ...': the exception's type, named where it is not a builtin."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"{name}: {exc}"


def _open_path(path: str | Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ImageReadError(f"file not found: {path}") from None
    except OSError as exc:  # a folder, no permission
        raise ImageReadError(f"cannot open {path} ({exc.strerror or exc})") from None


def _hidden_default(img: Image.Image) -> bool:
    """Whether ``img`` is an APNG whose default image is not a frame of its animation."""
    return img.format == "PNG" and bool(img.info.get("default_image")) and getattr(img, "n_frames", 1) > 1


def _decode(fp: BinaryIO, max_pixels: int | None, name: str) -> Image.Image:
    """Open and decode; a JPEG missing only its end marker is decoded again (_complete_jpeg), and
    one whose EXIF stops Pillow from opening it at all is opened without it (_without_exif)."""
    start = fp.tell() if fp.seekable() else None
    try:
        img = Image.open(fp)
    except Exception:  # Pillow's JPEG reader reads the resolution from EXIF while opening: IndexError, ...
        if start is None:
            raise
        fp.seek(start)
        found = _without_exif(fp.read())
        if found is None:
            raise
        stripped, exif = found
        img = Image.open(io.BytesIO(stripped))
        _check_pixels(img.size, max_pixels)
        try:
            orientation = Image.Exif()
            orientation.load(exif)
            turn = _ORIENTATIONS.get(orientation.get(0x0112))
        except Exception:
            turn = None
        log.warning("%sdamaged EXIF, which Pillow cannot open the JPEG with: %s", name,
                    "dropped but its orientation" if turn is not None else "dropped, with its orientation")
        if turn is not None:  # turned here, as _upright cannot see the EXIF any more
            return _with_dpi(img.transpose(turn), print_resolution(img), turn)
    _check_pixels(img.size, max_pixels)
    if _hidden_default(img):  # an APNG whose default image is no frame of its animation (a placeholder for
        img.seek(1)  # viewers without APNG): its animation's first frame is the picture (helper 79)
    try:
        _load_turned(img)
    except OSError:
        if img.format != "JPEG" or start is None:
            raise
        fp.seek(start)
        complete = _complete_jpeg(fp.read())
        if complete is None:
            raise
        log.warning("%sthe JPEG lacks its end-of-image marker, but its scan is complete: read whole", name)
        return complete
    return img


def _opened_from(img: Image.Image) -> Path | bytes | None:
    """What a lazily opened image was opened from, to be read again: its file, or the bytes of
    the seekable stream it holds (a JPEG's, from the stream's start); None if neither."""
    filename = getattr(img, "filename", "")
    if filename and Path(filename).is_file():
        return Path(filename)
    fp = getattr(img, "fp", None)
    if img.format != "JPEG" or fp is None or getattr(fp, "closed", True) or not fp.seekable():
        return None
    fp.seek(0)
    data = fp.read()
    return data if data.startswith(b"\xff\xd8") else None


def _load_turned(img: Image.Image) -> None:
    """img.load(), the resolution turned too where Pillow turns the pixels while loading (a
    TIFF's orientation: :func:`_tiff_turn`)."""
    turn = _tiff_turn(img)
    img.load()
    if turn in _SWAPS_AXES and _tiff_turn(img) is None and "dpi" in img.info:  # Pillow turned it
        img.info["dpi"] = tuple(img.info["dpi"])[::-1]


def _tiff_turn(img: Image.Image) -> Image.Transpose | None:
    """A TIFF's EXIF orientation as the turn it asks for, or None. Pillow applies a TIFF's
    orientation itself while loading it (and deletes the tag), without turning its resolution:
    read before loading, so that the x and y resolutions are swapped with the pixels."""
    if img.format != "TIFF":
        return None
    try:
        orientation = img.getexif().get(0x0112)
    except Exception:
        return None
    return _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None


JPEG_EOI = b"\xff\xd9"
# Bit patterns unlike each other (no 0xFF, so no marker): opposite bits, and two fixed
# pseudo-random runs, so that no cut scan decodes them all alike.
_FILLERS = (b"\x55" * 64, b"\xaa" * 64) + tuple(np.random.default_rng(1).integers(0, 255, (2, 64), dtype=np.uint8))


def _complete_jpeg(data: bytes) -> Image.Image | None:
    """A JPEG that ends after its last complete scan, missing only its end-of-image marker -> the
    image; None when scan data is missing (a real truncation).

    Its scans must code every coefficient of every component to full precision (one scan for a
    plain JPEG; a progressive one's scan script must have run to its end), with every restart
    marker of the last scan present. That the last scan itself is complete is asked of the
    decoder: libjpeg cannot tell the end of the data from a pause in it, so the marker is added,
    after filler bits of unlike patterns. A complete scan ignores the filler (it comes after its
    last block) and gives the same pixels each time; a cut scan decodes it as its missing blocks,
    and its pixels differ. (Pillow's LOAD_TRUNCATED_IMAGES is process-wide, and accepts real
    truncation too.)"""
    data = data.rstrip(b"\xff")  # a marker cut after its first byte
    structure = _jpeg_structure(data)
    if structure is None or not _scans_complete(*structure):
        return None
    try:
        decoded = [Image.open(io.BytesIO(data + bytes(filler) + JPEG_EOI)) for filler in _FILLERS]
        for img in decoded:
            img.load()
    except (OSError, SyntaxError, ValueError):
        return None
    pixels = decoded[0].tobytes()
    return decoded[0] if all(img.tobytes() == pixels for img in decoded[1:]) else None


def _without_exif(data: bytes) -> tuple[bytes, bytes] | None:
    """A JPEG's bytes -> (the same without its EXIF segment (APP1 "Exif"), that EXIF); None when
    it is no JPEG, holds no EXIF, or its segments before the scan cannot be walked."""
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, kept, exif = 2, [data[:2]], None
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos:pos + 2 + length]
        if data[pos + 1] == 0xE1 and segment[4:10] == b"Exif\x00\x00":
            exif = segment[4:]
        else:
            kept.append(segment)
        pos += 2 + length
    return (b"".join(kept) + data[pos:], exif) if exif is not None and pos + 4 <= len(data) else None


_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # not a stuffed 0xFF, a restart marker or fill


def _jpeg_structure(data: bytes) -> tuple[tuple, list[tuple]] | None:
    """A Huffman-coded JPEG (sequential or progressive) -> (frame, scans); None for any other
    or a header that cannot be walked. frame: (height, width, {component: (h, v) sampling});
    a scan: (components, Ss, Se, Al, restart interval, its entropy-coded bytes)."""
    pos, interval, frame, scans = 2, 0, None, []
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        if data[pos] != 0xFF or marker == 0xD9:
            return None
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        body = data[pos + 4:pos + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2) and len(body) >= 6:
            height, width, count = struct.unpack(">HHB", body[1:6])
            frame = (height, width, {body[i]: (body[i + 1] >> 4, body[i + 1] & 15) for i in range(6, 6 + 3 * count, 3)})
        elif 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # lossless, hierarchical or arithmetic-coded
        elif marker == 0xDD and len(body) >= 2:
            (interval,) = struct.unpack(">H", body[:2])
        elif marker == 0xDA and body:
            count = body[0]
            if frame is None or len(body) < 4 + 2 * count:
                return None
            found = _NEXT_MARKER.search(data, pos + 2 + length)
            end = found.start() if found else len(data)
            ss, se, approx = body[1 + 2 * count:4 + 2 * count]
            scans.append((tuple(body[1:1 + 2 * count:2]), ss, se, approx & 15, interval, data[pos + 2 + length:end]))
            pos = end
            continue
        pos += 2 + length
    return (frame, scans) if frame is not None and scans else None


def _scans_complete(frame: tuple, scans: list[tuple]) -> bool:
    """Whether the scans code all 64 coefficients of every component to full precision
    (successive approximation down to Al = 0), and the last scan holds all its restart markers."""
    height, width, sampling = frame
    precision = {component: np.full(64, 99) for component in sampling}
    for components, ss, se, al, _, _ in scans:
        for component in components:
            if component not in precision:
                return False
            band = precision[component][ss:se + 1]
            np.minimum(band, al, out=band)
    if any(p.any() for p in precision.values()):
        return False
    components, _, _, _, interval, entropy = scans[-1]
    mcus = _mcu_count(height, width, sampling, components)
    return not interval or len(re.findall(rb"\xff[\xd0-\xd7]", entropy)) >= -(-mcus // interval) - 1


def _mcu_count(height: int, width: int, sampling: dict[int, tuple[int, int]], components: tuple) -> int:
    """The MCUs of a scan (JPEG T.81 A.2): a scan of one component codes its blocks one by one."""
    def ceil(a: int, b: int) -> int:
        return -(-a // b)

    h_max, v_max = max(h for h, _ in sampling.values()), max(v for _, v in sampling.values())
    if len(components) == 1:
        h, v = sampling[components[0]]
        return ceil(ceil(width * h, h_max), 8) * ceil(ceil(height * v, v_max), 8)
    return ceil(width, 8 * h_max) * ceil(height, 8 * v_max)


_ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                 4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}  # EXIF Orientation -> turn


def _upright(img: Image.Image, name: str) -> Image.Image:
    """A decoded image turned by its EXIF orientation. Pillow rewrites the EXIF without the
    orientation tag, which fails on a damaged EXIF (a tag of the wrong type, a directory cut
    short): the page then costs only its EXIF, which is dropped with a warning, and its
    orientation is still applied when that tag itself can be read. The print resolution is read
    from the file (:func:`print_resolution`) and turned with the pixels (300 x 600 dpi on its side
    is 600 x 300 upright)."""
    dpi = print_resolution(img)
    try:
        with warnings.catch_warnings():  # Pillow's, about a tag it skips, name no file
            warnings.simplefilter("ignore")
            orientation = img.getexif().get(0x0112)  # before: exif_transpose removes a TIFF's tag
            upright = ImageOps.exif_transpose(img)
    except Exception as exc:  # struct.error, TypeError, ... from Pillow's EXIF reader and writer
        reason = _describe(exc)
    else:
        return _with_dpi(upright, dpi, _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None)
    try:
        orientation = img.getexif().get(0x0112)
    except Exception:
        orientation = None
    turn = _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    upright = img.transpose(turn) if turn is not None else img.copy()
    upright.info.pop("exif", None)  # damaged, and an orientation applied must not be applied again
    log.warning("%sdamaged EXIF (%s): %s", name, reason,
                f"its orientation ({orientation}) is applied, the rest dropped" if turn is not None
                else "dropped, with its orientation")
    return _with_dpi(upright, dpi, turn)


_SWAPS_AXES = {Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE, Image.Transpose.ROTATE_90,
               Image.Transpose.ROTATE_270}


def _with_dpi(upright: Image.Image, dpi: tuple[float, float] | None, turn: Image.Transpose | None) -> Image.Image:
    """``upright`` with info["dpi"] the file's resolution, x and y swapped when ``turn`` swaps
    the axes; without one when the file declares none (nor Pillow's guess for it). A turn made
    is noted in info["irodori.turned"] (a hint's error then says its sizes are upright ones)."""
    upright.info.pop("dpi", None)
    if turn is not None:
        upright.info["irodori.turned"] = True
    if dpi is not None:
        upright.info["dpi"] = dpi[::-1] if turn in _SWAPS_AXES else dpi
    return upright


def _array_image(array: np.ndarray, max_pixels: int | None) -> Image.Image:
    """A uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array, or a uint16 (H, W) one, as an image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype.kind == "u" and not array.dtype.isnative:  # big-endian data (np.frombuffer of a PGM or TIFF)
        array = array.astype(array.dtype.newbyteorder("="))
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if not shape_ok or array.dtype not in (np.uint8, np.uint16) or (array.dtype == np.uint16 and array.ndim != 2):
        raise ImageReadError(f"cannot colour a {array.dtype} array of shape {array.shape}: arrays must be uint8 "
                             "(H, W), (H, W, 1), (H, W, 3) or (H, W, 4), or uint16 (H, W)")
    _check_pixels((array.shape[1], array.shape[0]), max_pixels)
    # uint16 becomes mode I;16, read as 0..65535 whatever its values (never guessed from them)
    return Image.fromarray(np.ascontiguousarray(array))


def _check_pixels(size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise ImageReadError(f"empty image ({w}x{h})")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageReadError(
            f"too many pixels ({w}x{h} = {w * h:,} > limit {max_pixels:,}); "
            f"raise the limit ({LIMIT_ADVICE}) if this image is trusted"
        )


# A strip longer than this many times its width (a webtoon's, a panorama) is read as a run of
# pages of this shape: every "longest side" of the pipeline (the network's size, the grids of the
# blank sheet, the hints' spread, the reference features) is measured on such a page, not on the
# whole strip, whose network input was once 34 px wide and came back grey.
STRIP_ASPECT = 2.0
STRIP_PAGES = 4  # ... in all at most this many pages' pixels (side x side), then coarser


def is_strip(height: int, width: int) -> bool:
    """Whether an image (H, W) is longer than STRIP_ASPECT: a strip, measured as its pages."""
    return max(height, width) > STRIP_ASPECT * min(height, width)


def page_side(height: int, width: int) -> int:
    """The longest side of a page-shaped piece of an image (H, W) in pixels: the image's longest
    side, but at most STRIP_ASPECT x its shortest, so that a strip is measured as its pages."""
    return int(min(max(height, width), STRIP_ASPECT * min(height, width)))


def page_scale(height: int, width: int, side: float) -> float:
    """The scale that gives an image (H, W) a page-shaped piece whose longest side is ``side``
    (:func:`page_side`), at most STRIP_PAGES x side x side pixels in all: for a page or anything
    up to STRIP_ASPECT long, side / its longest side; a 800x12000 strip with side 512 becomes
    256x3840, not 34x512. Not capped at 1."""
    return min(side / page_side(height, width), (STRIP_PAGES * side * side / (height * width)) ** 0.5)


def within_pages(height: int, width: int, side: int, multiple: int) -> tuple[int, int]:
    """(h, w) a network sees -> the same with its longer side cut, if need be, so that with its
    shorter side padded to ``multiple`` it holds at most STRIP_PAGES x side x side pixels (a thin
    strip's padding once multiplied its pixels: a 600000x1 line padded to 32 wide took 4 GB); the
    cut side stays a multiple of ``multiple``."""
    thin = -(-min(height, width) // multiple) * multiple
    most = max(multiple, int(STRIP_PAGES * side * side) // thin // multiple * multiple)
    return (min(height, most), width) if height >= width else (height, min(width, most))


class Lightness:
    """The full-resolution CIE L of an image, computed on demand for a band of rows.

    Pixels stay in a compact form (8-bit grey or RGB as decoded, 16-bit grey as sRGB-encoded
    uint16); L is made per strip by the colouring pipeline, so a 100-megapixel scan never exists
    as one float32 array. ``from_l`` holds L itself (float32, for callers that have it).
    """

    def __init__(self, pixels: np.ndarray, kind: str) -> None:
        if kind not in ("gray8", "rgb8", "gray16", "l"):
            raise ValueError(f"unknown lightness kind {kind!r}")
        self.pixels = pixels
        self.kind = kind
        self.height, self.width = pixels.shape[:2]

    @classmethod
    def from_l(cls, l: np.ndarray) -> "Lightness":
        """From CIE L values (H, W) in [0, 100]."""
        return cls(np.asarray(l, dtype=np.float32), "l")

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def rows(self, y0: int, y1: int) -> np.ndarray:
        """CIE L of rows y0..y1, float32 (y1 - y0, W)."""
        band = self.pixels[y0:y1]
        if self.kind == "gray8":
            return gray8_to_l(band)
        if self.kind == "gray16":
            return _gray16_l()[band]
        if self.kind == "rgb8":
            return rgb_to_l(band)
        return band

    def full(self) -> np.ndarray:
        return self.rows(0, self.height)

    def at(self, y: int, x: int) -> float:
        """CIE L of the pixel at row y, column x."""
        return float(self.rows(y, y + 1)[0, x])

    def reduced(self, height: int, width: int) -> np.ndarray:
        """CIE L at (height, width), antialiased; 8- and 16-bit images are resized as sRGB (as
        the training crops are) and then converted."""
        if (height, width) == self.shape:
            return self.full()
        size = (width, height)
        if self.kind == "l":
            img = Image.fromarray(np.ascontiguousarray(self.pixels, dtype=np.float32), "F")
            return np.asarray(img.resize(size, Image.BILINEAR, reducing_gap=3.0))
        gap = None if self.kind == "gray16" else 3.0  # Pillow cannot reduce() 16-bit images
        small = np.asarray(Image.fromarray(self.pixels).resize(size, Image.BILINEAR, reducing_gap=gap))
        return Lightness(small, self.kind).full()

    def darkest(self, factor: int, *, band: int = 64) -> np.ndarray:
        """The darkest CIE L of each factor x factor block -> float32 (ceil(H / factor),
        ceil(W / factor)): a reduction that keeps every line, however thin (an average would fade
        a one-pixel line to a light grey). Read ``band`` blocks' rows at a time; kept per factor
        (read-only), since the contract's balloons and the blank sheet read the same grid."""
        return self._blocks(factor, band, "min")

    def lightest(self, factor: int, *, band: int = 64) -> np.ndarray:
        """The lightest CIE L of each factor x factor block, as :meth:`darkest` (a block of
        solid ink has none above ink's L)."""
        return self._blocks(factor, band, "max")

    def _blocks(self, factor: int, band: int, reduce: str) -> np.ndarray:
        """Both reductions at once (the page's L is read once for the two), kept per factor."""
        f = max(1, int(factor))
        kept = self.__dict__.setdefault("_blocks_kept", {})
        if (f, reduce) not in kept:
            height, width = self.shape
            out = {name: np.empty((-(-height // f), -(-width // f)), dtype=np.float32) for name in ("min", "max")}
            for i, y0 in enumerate(range(0, height, f * band)):
                rows = self.rows(y0, min(height, y0 + f * band))
                pad = ((0, -rows.shape[0] % f), (0, -width % f))
                rows = np.pad(rows, pad, mode="edge") if any(p for _, p in pad) else rows
                n = rows.shape[0] // f
                for name, plane in out.items():  # the f rows of each block at once, then its f columns
                    ufunc = np.minimum if name == "min" else np.maximum
                    across = ufunc.reduce([rows[k::f] for k in range(f)]) if f > 1 else rows
                    plane[i * band:i * band + n] = ufunc.reduce(across.reshape(n, -1, f), axis=2)
            for name, plane in out.items():
                plane.setflags(write=False)
                kept[f, name] = plane
        return kept[f, reduce]

    def darkest_at(self, size: tuple[int, int]) -> np.ndarray:
        """The darkest CIE L over an (h, w) = ``size`` grid laid on the image -> float32 (h, w):
        :meth:`darkest` by ceil(longest side / grid's longest side), then nearest up to
        ``size``, so a line thinner than a grid cell is still as dark as it is."""
        factor = -(-max(self.shape) // max(size))
        blocks = self.darkest(factor)
        if blocks.shape == tuple(size):
            return blocks
        return np.asarray(Image.fromarray(blocks, "F").resize(size[::-1], Image.NEAREST))


@functools.lru_cache(maxsize=1)
def _gray16_l() -> np.ndarray:
    """CIE L (float32) of each of the 65536 sRGB-encoded 16-bit grey levels."""
    return gray_to_l(np.arange(65536) / 65535.0)


def lightness_of(img: Image.Image) -> tuple[Lightness, np.ndarray | None]:
    """-> (its Lightness, alpha (H, W) uint8 or None), for every Pillow mode.

    Every depth takes the same path: the colour profile is applied (8-bit: to_srgb; 16-bit and
    float grey: grey16_table), the value of white is the depth the file declares (grey_white),
    and the pixels are kept compact, with L made per strip. Raises ImageReadError for pixels
    that are not numbers."""
    mode = img.mode
    alpha = None
    key = img.info.get("transparency")  # a colour key (PNG tRNS, GIF): pixels of this value are transparent
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey16, alpha = _deep_grey(img, key)
        return Lightness(grey16, "gray16"), alpha
    if mode == "P":
        img = img.convert("RGBA" if key is not None else "RGB")
    elif mode in ("1", "L", "RGB") and key is not None:
        img = img.convert("RGBA" if mode == "RGB" else "LA")
    elif mode in ("La", "RGBa"):  # premultiplied alpha
        img = img.convert("LA" if mode == "La" else "RGBA")
    mode = img.mode
    if mode in ("LA", "PA", "RGBA"):
        alpha = np.asarray(img.getchannel("A"), dtype=np.uint8).copy()
        img = img.convert("L" if mode == "LA" else "RGB")
        mode = img.mode
    if mode in ("L", "RGB", "CMYK") and img.info.get("icc_profile"):
        img = to_srgb(img)
        mode = img.mode
    if mode == "1":
        return Lightness(np.asarray(img.convert("L")), "gray8"), alpha
    if mode == "L":
        return Lightness(np.asarray(img), "gray8"), alpha
    if mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV: Pillow's conversions
    return Lightness(np.asarray(img), "rgb8"), alpha


STRIP_PIXELS = 1 << 16  # pixels converted at a time: memory grows with the width, not the area

WHITE_KEY = "irodori.white"  # img.info: the value of white that a deep grey file declares (open_image)
INVERTED_KEY = "irodori.min_is_white"  # img.info: a deep grey TIFF whose 0 is white (PhotometricInterpretation 0)


def _deep_grey(img: Image.Image, key: object) -> tuple[np.ndarray, np.ndarray | None]:
    """A 16-bit, 32-bit integer or float grey image -> (sRGB-encoded grey uint16 (H, W), alpha
    from a colour key (H, W) uint8 or None), a strip of rows at a time (no whole-image float
    copy): values scaled by the file's white (grey_white), then through its colour profile."""
    width, height = img.size
    white = grey_white(img)
    inverted = bool(img.info.get(INVERTED_KEY)) or _min_is_white(img)
    table = grey16_table(img.info["icc_profile"]) if img.info.get("icc_profile") else None
    grey16 = np.empty((height, width), np.uint16)
    alpha = np.empty((height, width), np.uint8) if isinstance(key, (int, float)) and img.mode != "F" else None
    not_numbers = 0
    step = max(1, STRIP_PIXELS // width)
    for y0 in range(0, height, step):
        y1 = min(height, y0 + step)
        values = np.asarray(img.crop((0, y0, width, y1)))
        if values.dtype == np.int32 and white > 2**31 - 1:  # unsigned 32-bit, which Pillow holds as signed
            values = values.view(np.uint32)
        if alpha is not None:
            alpha[y0:y1] = np.where(values == key, 0, 255)  # the file's own values
        if inverted:
            values = np.float32(white) - values.astype(np.float32)
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            not_numbers += int(values.size - np.count_nonzero(finite))
            values = np.where(finite, values, 0.0)
        if white != 65535.0 or values.dtype != np.uint16:
            values = np.clip(np.rint(values.astype(np.float32) * np.float32(65535.0 / white)), 0, 65535)
        grey16[y0:y1] = values if table is None else table[values.astype(np.uint16)]
    if not_numbers:
        raise ImageReadError(f"{not_numbers:,} pixels are not numbers (NaN or infinite)")
    return grey16, alpha


def grey_white(img: Image.Image) -> float:
    """The value of white of a deep grey image (I;16, I, F): the depth its file declares (a
    TIFF's BitsPerSample; 16-bit PNG and PGM, which Pillow scales from any maxval to 16 bits;
    kept by open_image as info["irodori.white"]), never guessed from the pixels when declared.
    Otherwise (floats, and an I image made in memory): 65535 for I;16; 1.0 for floats within
    0..1, else 255 or 65535, by the largest value. A float image whose values are all but
    FLOAT_OVERSHOOT of them at most FLOAT_OVER_WHITE is taken as 0..1: a float scan's values
    over 1.0 are over-range white, clipped (one pixel at 1.02 once made a whole 0..1 scan nearly
    black, as 0.2 % of them did next)."""
    declared = img.info.get(WHITE_KEY) or _declared_white(img)
    if declared:
        return float(declared)
    if img.mode.startswith("I;16"):
        return 65535.0
    low, top = img.getextrema()
    if img.mode == "F" and (top <= 1.0
                            or _sampled_percentile(img, 100.0 * (1.0 - FLOAT_OVERSHOOT)) <= FLOAT_OVER_WHITE):
        return 1.0
    return 255.0 if top <= 255 else 65535.0


FLOAT_OVERSHOOT = 0.1  # grey_white: the share of a float image's pixels that may lie above 1.0 ...
FLOAT_OVER_WHITE = 1.5  # ... up to this, in a 0..1 scan


def _sampled_percentile(img: Image.Image, q: float, *, rows: int = 256) -> float:
    """The q-th percentile of a one-band image's values, from up to ``rows`` whole rows spread
    over it (no whole-image copy)."""
    width, height = img.size
    ys = np.unique(np.linspace(0, height - 1, min(rows, height)).astype(int))
    values = np.concatenate([np.asarray(img.crop((0, y, width, y + 1)), dtype=np.float64).ravel() for y in ys])
    values = values[np.isfinite(values)]
    return float(np.percentile(values, q)) if values.size else 0.0


def _keep_declared_white(opened: Image.Image, upright: Image.Image) -> None:
    """Note the white an opened file declares on its turned copy, which has lost the format and
    the tags it was read from."""
    white = _declared_white(opened)
    if white is not None:
        upright.info[WHITE_KEY] = white
    if _min_is_white(opened):
        upright.info[INVERTED_KEY] = True


def _min_is_white(img: Image.Image) -> bool:
    """A deep grey TIFF (16- or 32-bit integer, float) whose PhotometricInterpretation is 0, 0 for
    white: Pillow inverts 1-bit and 8-bit ones as it reads them, and not these."""
    if img.format != "TIFF" or img.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK"):
        return False
    photometric = getattr(img, "tag_v2", {}).get(262)
    return (photometric[0] if isinstance(photometric, tuple) and photometric else photometric) == 0


def _declared_white(img: Image.Image) -> float | None:
    """The value of white an opened file declares for its deep grey pixels, or None."""
    if img.format == "TIFF" and img.mode != "F":
        tags = getattr(img, "tag_v2", {})
        bits, signed = tags.get(258), tags.get(339)  # BitsPerSample, SampleFormat (2: signed)
        bits = bits[0] if isinstance(bits, tuple) and bits else bits
        signed = (signed[0] if isinstance(signed, tuple) and signed else signed) == 2
        if isinstance(bits, int) and 1 <= bits <= 32:  # 32-bit integer grey too (mode I)
            return float(2 ** (bits - signed) - 1)
    if img.format in ("PNG", "PPM") and img.mode in ("I", "I;16"):
        return 65535.0
    return None


def grey16_table(icc: bytes) -> np.ndarray | None:
    """A grey colour profile -> the table (65536,) uint16 from a 16-bit value to the sRGB-encoded
    16-bit grey of the same CIE L, as to_srgb does for 8 bits; None for an sRGB profile, or (with
    a warning for every file that holds it) one that cannot be used."""
    table, problem = _grey16_table(icc)
    if problem is not None:
        log.warning("%signoring an unusable colour profile (%s); the pixels are taken as sRGB", input_prefix(), problem)
    return table


@functools.lru_cache(maxsize=8)
def _grey16_table(icc: bytes) -> tuple[np.ndarray | None, str | None]:
    """-> (grey16_table's table, why the profile cannot be used or None).

    LittleCMS (through Pillow) turns 16-bit grey into 8-bit sRGB only, a staircase. The table is
    made smooth again from where each step is crossed: between the last input of one 8-bit level
    and the first of the next, the exact value is half-way between the two levels."""
    from PIL import ImageCms

    ramp = Image.frombytes("I;16", (256, 256), np.arange(65536, dtype="<u2").tobytes())
    try:
        if acts_as_srgb(icc):
            return None, None
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        rgb8 = np.asarray(ImageCms.profileToProfile(ramp, profile, _srgb_profile(), outputMode="RGB"))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        return None, str(exc)
    rgb = np.stack([_unstep(channel) for channel in rgb8.reshape(-1, 3).T], axis=-1) / 255.0
    return np.rint(l_to_gray(rgb_to_l(rgb)) * 65535.0).astype(np.uint16), None


def _unstep(levels: np.ndarray) -> np.ndarray:
    """A staircase of 8-bit levels over inputs 0..n-1 -> the smooth curve (float64) through the
    middle of each riser (and the end levels)."""
    risers = np.flatnonzero(np.diff(levels.astype(np.int32)))
    x = np.concatenate([[0.0], risers + 0.5, [len(levels) - 1.0]])
    y = np.concatenate([[levels[0]], (levels[risers].astype(np.float64) + levels[risers + 1]) / 2, [levels[-1]]])
    return np.interp(np.arange(len(levels)), x, y)


def to_srgb(img: Image.Image) -> Image.Image:
    """An 8-bit image (L, RGB, CMYK, their alpha kinds LA and RGBA, or a palette) with an embedded
    colour profile -> its colours in sRGB (mode RGB, or RGBA keeping its alpha), so its lightness
    is what a colour-managed viewer shows (a scan tagged "Dot Gain 20%", an Adobe RGB or Display P3
    photo, a linear-light render). A profile that acts as sRGB (:func:`acts_as_srgb`) leaves the
    image as it is; one that cannot be used is ignored with a warning (the pixels are then taken
    as sRGB)."""
    from PIL import ImageCms

    icc = img.info["icc_profile"]
    try:
        if acts_as_srgb(icc):
            return img
        if img.mode in ("P", "PA"):  # a palette's colours are RGB (a transparent entry: alpha)
            img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")
        alpha = img.getchannel("A") if img.mode in ("LA", "RGBA") else None  # lcms's RGB output drops it
        if alpha is not None:
            img = img.convert("L" if img.mode == "LA" else "RGB")
        out = ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _srgb_profile(),
                                        outputMode="RGB")
        if alpha is not None:
            out.putalpha(alpha)
        return out
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        log.warning("%signoring an unusable colour profile (%s); the pixels are taken as sRGB", input_prefix(), exc)
        return img


SRGB_LEVELS = 2  # acts_as_srgb: the most an 8-bit level may move (vendors' sRGB profiles differ by a level or so)


@functools.lru_cache(maxsize=16)
def acts_as_srgb(icc: bytes) -> bool:
    """Whether the ICC profile ``icc`` maps 8-bit grey levels (a grey profile) or a 9 x 9 x 9
    grid of RGB colours to sRGB within SRGB_LEVELS: then its pixels are sRGB already. Judged
    by what the profile does, not by its name: "GIMP built-in Linear sRGB" and "sRGB-elle-V2-g10"
    are linear-light profiles with sRGB's primaries, whose pixels read as sRGB came out about
    26 L too dark (helper 79). Raises ImageCms.PyCMSError (or OSError) for a profile that cannot
    be read; CMYK and other spaces are never sRGB."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    space = profile.profile.xcolor_space.strip()
    if space == "GRAY":
        want = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
        probe = Image.fromarray(want[..., 0], "L")
    elif space == "RGB":
        levels = np.linspace(0, 255, 9).round().astype(np.uint8)
        want = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)
        probe = Image.fromarray(want, "RGB")
    else:
        return False
    got = np.asarray(ImageCms.profileToProfile(probe, profile, _srgb_profile(), outputMode="RGB"))
    return int(np.abs(got.astype(np.int16) - want).max()) <= SRGB_LEVELS


@functools.lru_cache(maxsize=1)
def _srgb_profile():
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


def split_lightness(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """-> (l_full (H, W) float32 CIE L in [0, 100], alpha (H, W) uint8 or None)."""
    lightness, alpha = lightness_of(img)
    return lightness.full(), alpha


def load_rgb(path: Path | str, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Open an image as RGB: EXIF orientation applied, alpha composited onto ``background``
    (a transparent cut-out must not teach "transparent = black"). ImageReadError for an empty file."""
    if os.path.getsize(path) == 0:
        raise ImageReadError("an empty file (0 bytes)")
    with Image.open(path) as opened:
        im = ImageOps.exif_transpose(opened)
        if im.mode.startswith("I;16") or im.mode in ("I", "F"):  # Pillow's convert("RGB") would clip
            _keep_declared_white(opened, im)
            grey16, _ = _deep_grey(im, None)  # its declared depth and colour profile, as colouring reads it
            return Image.fromarray(((grey16.astype(np.uint32) + 128) // 257).astype(np.uint8), "L").convert("RGB")
        return rgb_over(im, background)


def rgb_over(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any 8-bit PIL image -> mode RGB, its transparency (alpha, or a palette's transparent
    index) composited onto ``background``."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, background + (255,)), rgba).convert("RGB")
    return img.convert("RGB")


def check_output_size(size: tuple[int, int], fmt: str) -> None:
    """ValueError if an image of ``size`` (w, h) cannot be stored as ``fmt`` (JPEG and WebP have
    a largest side; PNG has none)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    limit = MAX_OUTPUT_SIDE.get(fmt)
    if limit is not None and max(size) > limit:
        raise OutputSizeError(f"{size[0]}x{size[1]} is too large for {fmt} (at most {limit:,} px a side); "
                         "use --format png")


def print_resolution(img: Image.Image) -> tuple[float, float] | None:
    """An image's print resolution, (x, y) dots per inch, as its file declares it: JPEG (JFIF or
    EXIF), PNG (pHYs), TIFF and BMP as Pillow reads them (dots per centimetre converted), else the
    EXIF resolution tags (WebP). None when none is declared (a TIFF without its resolution tags,
    which Pillow reads as 1 dpi), or only an aspect ratio (no unit).
    A JPEG whose JFIF header gives no unit is read from its EXIF here, not as Pillow reads it:
    Pillow puts 72 dpi where that EXIF is damaged, a resolution the file never declared."""
    dpi = img.info.get("dpi")
    if img.format == "JPEG" and img.info.get("jfif_unit") not in (1, 2):
        dpi = None
    tags = getattr(img, "tag_v2", None)
    if img.format == "TIFF" and tags is not None and (0x011A not in tags or 0x011B not in tags):
        return None  # Pillow's (1, 1) for a TIFF without resolution tags: nothing declared
    if dpi is None:
        try:
            with warnings.catch_warnings():  # Pillow's, about a damaged EXIF, name no file
                warnings.simplefilter("ignore")
                exif = img.getexif()
            x, y, unit = exif.get(0x011A), exif.get(0x011B), exif.get(0x0128, 2)
            dpi = None if x is None or unit not in (2, 3) else (
                float(x) * (2.54 if unit == 3 else 1.0), float(y if y is not None else x) * (2.54 if unit == 3 else 1.0))
        except Exception:  # a damaged EXIF costs its resolution only; Pillow's EXIF reader raises many kinds
            return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (x, y) if all(0 < v < 1e6 for v in (x, y)) else None


def check_encoding(fmt: str, quality: int, compression: int | None) -> None:
    """ValueError unless ``fmt`` is one of FORMATS, ``quality`` a whole number from 1 to 100 and
    ``compression`` None or a whole number from 0 to 9 (:func:`encode`'s arguments): checked before
    any work is done, not once per page."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be a whole number from 1 to 100, not {quality!r}")
    if compression is not None and (isinstance(compression, bool) or not isinstance(compression, (int, np.integer))
                                    or not 0 <= compression <= 9):
        raise ValueError(f"PNG compression must be a whole number from 0 to 9, not {compression!r}")


HINTS_TEXT = "irodori:hints"  # a PNG output's text: the user's hints, JSON [[x, y, "#rrggbb"], ...] (irodori.reference)
SOFTWARE = "irodori"  # an output's maker: PNG's "Software" text, JPEG's comment, WebP's EXIF Software (0x0131)
EXIF_SOFTWARE = 0x0131


def _software() -> str:
    from . import __version__

    return f"{SOFTWARE} {__version__}"


def made_by_irodori(img: Image.Image) -> bool:
    """Whether an opened image (header read, pixels not needed) is an output of irodori's: its
    PNG "Software" text, JPEG comment or EXIF Software tag names irodori (:func:`encode` writes them). Training
    leaves such images out: a model that learns its own colours learns its own mistakes."""
    software = img.info.get("Software", img.info.get("comment"))
    if isinstance(software, bytes):  # a JPEG's comment
        software = software.decode("latin-1")
    if not isinstance(software, str):
        try:
            software = img.getexif().get(EXIF_SOFTWARE)
        except Exception:  # noqa: BLE001  (a damaged EXIF block: not ours)
            return False
    return isinstance(software, str) and software.split(" ", 1)[0] == SOFTWARE


def encode(img: Image.Image, fmt: str, *, quality: int = 95, compression: int | None = None) -> bytes:
    """Encode to bytes in ``png``, ``jpg`` or ``webp`` (JPEG has no alpha: composited on white).

    ``quality`` (1-100) is JPEG's and WebP's; ``compression`` is PNG's zlib level, 0 (none,
    fastest) to 9 (smallest, slowest), default :data:`DEFAULT_PNG_COMPRESSION`. The output is
    tagged as sRGB (PNG's sRGB chunk, JPEG's and WebP's sRGB profile) and keeps the print
    resolution in ``img.info["dpi"]`` (which :meth:`Colorizer.colorize` copies from its input):
    PNG pHYs, JPEG JFIF, WebP EXIF. A PNG also keeps the hints the image was coloured with
    (``img.info[HINTS_TEXT]``, JSON, set by :meth:`Colorizer.colorize`) as a text of that name,
    so that the output given back as a reference gives the hints' colours alone
    (:func:`irodori.reference.hint_areas`), and every output names its maker (PNG's "Software"
    text, JPEG's comment, WebP's EXIF Software tag: "irodori 0.6.0"), so that training can leave
    irodori's outputs out (:func:`made_by_irodori`). Nothing else of the input's metadata is
    written.
    Raises ValueError for an unknown format, a size the format cannot hold, or a bad quality or
    level (:func:`check_encoding`)."""
    check_encoding(fmt, quality, compression)
    check_output_size(img.size, fmt)
    level = DEFAULT_PNG_COMPRESSION if compression is None else compression
    if fmt == "jpg" and img.mode == "RGBA":
        if img.getchannel("A").getextrema()[0] < 255:
            log.warning("%sJPEG has no transparency: the transparent parts are put on white "
                        "(--format png or webp keeps them)", input_prefix())
        canvas = Image.new("RGB", img.size, (255, 255, 255))
        canvas.paste(img, mask=img.getchannel("A"))
        canvas.info = dict(img.info)  # its dpi
        img = canvas
    dpi = print_resolution(img)
    if fmt == "png":
        srgb = PngImagePlugin.PngInfo()
        srgb.add(b"sRGB", b"\x00")  # rendering intent: perceptual
        srgb.add_text("Software", _software())
        if isinstance(img.info.get(HINTS_TEXT), str):
            srgb.add_text(HINTS_TEXT, img.info[HINTS_TEXT])
        options: dict = {"compress_level": level, "pnginfo": srgb, "icc_profile": None}  # not img.info's
    else:
        options = {"quality": quality, "icc_profile": _srgb_icc()}
    if fmt == "jpg":  # a comment, not EXIF: an EXIF block without a resolution reads as 72 dpi
        options["comment"] = _software()
    elif fmt == "webp":
        exif = Image.Exif()
        exif[EXIF_SOFTWARE] = _software()
        if dpi is not None:  # WebP has no resolution field of its own
            exif[0x011A], exif[0x011B], exif[0x0128] = dpi[0], dpi[1], 2  # X/YResolution, inches
        options["exif"] = exif.tobytes()
    if dpi is not None and fmt != "webp" and (fmt == "png" or max(dpi) < 65_536):  # JFIF's density is 16-bit
        options["dpi"] = dpi
    buf = io.BytesIO()
    img.save(buf, format=FORMATS[fmt], **options)
    return buf.getvalue()


@functools.lru_cache(maxsize=1)
def _srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(_srgb_profile()).tobytes()


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only when the block ends without an error: a temporary
    file (``.irodori-XXXXXXXX.tmp``) in the same folder, its data flushed to the disk (fsync), then
    a rename. On an error nothing is left behind: neither the temporary file nor the folders made
    for it. The fsync is what keeps a machine that crashes or loses power from leaving an empty
    file under the real name (ext4 and others may commit the rename before the data), which a
    resumed batch would take for a finished output."""
    created = _make_folders(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".irodori-", suffix=".tmp", dir=path.parent)  # short: any valid name stays valid
    except FileNotFoundError:  # another thread's failure removed the folder it had just made
        _make_folders(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".irodori-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions of a new file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        remove_empty_folders(created)
        raise


def output_state(path: Path) -> str:
    """What stands at an output's name, for a batch deciding whether to skip it: "missing";
    "complete", a regular file with data (atomic_file writes whole files: a batch skips it);
    "empty", a 0-byte regular file (a crash before its data reached the disk, or another program:
    it is made again); "folder" or "other" (a FIFO, a device), which no output may replace. A link
    is judged by what it points at; an unreadable path counts as missing (the write says why)."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        return "missing"
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if not stat.S_ISREG(info.st_mode):
        return "other"
    return "complete" if info.st_size > 0 else "empty"


def _make_folders(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; -> the folders made, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove these folders (outermost first, as :func:`_make_folders` lists them), innermost
    first, while they are empty: a failed write leaves no empty folder it made."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # not empty (another output is in it), or gone
            return


TEMPORARY_NAME = re.compile(r"\.irodori-[a-z0-9_]{8}\.tmp")  # what atomic_file's mkstemp makes
STALE_AFTER_S = 3600.0  # a temporary file untouched this long belongs to a run that was killed


def remove_stale_temporaries(folder: Path, *, pattern: re.Pattern = TEMPORARY_NAME, folders: bool = False,
                             older_than: float = STALE_AFTER_S) -> list[Path]:
    """Delete what killed runs left in ``folder``: files (or, with ``folders``, folders) whose
    whole name matches ``pattern`` (by default atomic_file's temporary files) and that nothing has
    written to for ``older_than`` seconds (a file being written, by this or another run, is newer;
    a folder counts its newest file). Only ``folder`` itself is looked at, links are left alone;
    -> the paths removed. Errors are logged, not raised."""
    removed: list[Path] = []
    try:
        with os.scandir(folder) as listing:
            entries = [e for e in listing if pattern.fullmatch(e.name)]
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        try:
            kind_ok = entry.is_dir(follow_symlinks=False) if folders else entry.is_file(follow_symlinks=False)
            if not kind_ok or now - _newest_mtime(entry) < older_than:
                continue
            if folders:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError as exc:
            log.warning("could not remove the stale temporary %s (%s)", entry.path, exc)
            continue
        log.info("removed %s, left by an interrupted run", entry.path)
        removed.append(Path(entry.path))
    return removed


def _newest_mtime(entry: os.DirEntry) -> float:
    times = [entry.stat(follow_symlinks=False).st_mtime]
    if entry.is_dir(follow_symlinks=False):
        with os.scandir(entry.path) as listing:
            times += [e.stat(follow_symlinks=False).st_mtime for e in listing]
    return max(times)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` via a temporary file in the same folder and a rename."""
    with atomic_file(path) as f:
        f.write(data)
