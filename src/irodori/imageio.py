"""Reading and writing images: every Pillow mode in, full-resolution lightness out.

Inputs of any common mode are accepted: 1-bit, 8-bit grey, 16-bit grey, float grey, palette,
grey+alpha, RGB(A), CMYK, YCbCr; transparency as alpha or as a colour key. EXIF orientation is
applied, alpha is split off and kept, and the lightness is CIE L computed from the pixels at full
resolution and full bit depth. Outputs are written atomically (temporary file + rename) so an
interrupted batch never leaves a truncated image that a resumed batch would then skip.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import BinaryIO, Iterator, Union

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .color import gray8_to_l, gray_to_l, rgb_to_l

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 64_000_000  # a 24 MP photo passes; a decompression bomb does not

ImageSource = Union[str, Path, bytes, BinaryIO, Image.Image, np.ndarray]

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
MAX_OUTPUT_SIDE = {"jpg": 65_535, "webp": 16_383}  # the formats' own limits
DEFAULT_PNG_COMPRESSION = 6  # zlib level; chosen by measurement, see docs/BENCHMARKS.md

_UMASK = os.umask(0)  # read the process umask once (os.umask can only read it by setting it)
os.umask(_UMASK)


class ImageReadError(ValueError):
    """An input that cannot be coloured: the message says why (corrupt, not an image, too big)."""


def open_image(source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image fully, EXIF orientation applied. Raises ImageReadError with a reason."""
    if isinstance(source, Image.Image):
        img = source
        _check_pixels(img.size, max_pixels)
        return ImageOps.exif_transpose(img)
    if isinstance(source, np.ndarray):
        return _array_image(source, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp: BinaryIO | str | Path = io.BytesIO(bytes(source))
    elif isinstance(source, (str, Path)) or hasattr(source, "read"):
        fp = source
    else:
        raise TypeError(f"cannot read an image from {type(source).__name__}: give a path, bytes, a binary "
                        "file, a PIL image or a numpy array")
    # Pillow's own bomb guard is process-wide; ours is explicit and per call. Lift Pillow's
    # only as far as the caller asked, and turn its warning off (we check the size ourselves).
    if max_pixels is not None and Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        # A path is opened here, not by Pillow: Pillow closes a file it opened once the pixels are
        # loaded, and a TIFF's orientation tag, read after that, was then lost (the same TIFF came
        # out turned from bytes and unturned from its path).
        with contextlib.ExitStack() as stack, warnings.catch_warnings():
            if isinstance(fp, (str, Path)):
                fp = stack.enter_context(open(fp, "rb"))
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp)
            _check_pixels(img.size, max_pixels)
            img.load()
            frames = getattr(img, "n_frames", 1)
            upright = ImageOps.exif_transpose(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"too many pixels ({exc}); raise the limit with --max-pixels") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image, or a format Pillow cannot read") from None
    except FileNotFoundError:
        raise ImageReadError("file not found") from None
    except (OSError, SyntaxError, ValueError, TypeError) as exc:  # TypeError: a damaged TIFF directory
        raise ImageReadError(f"corrupt or truncated image ({exc})") from None
    if frames > 1:  # an animated GIF, a multi-page TIFF
        where = f"{source}: " if isinstance(source, (str, Path)) else ""
        log.warning("%sonly the first of its %d frames is coloured", where, frames)
    return upright


def _array_image(array: np.ndarray, max_pixels: int | None) -> Image.Image:
    """A uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array, or a uint16 (H, W) one, as an image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
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
            "raise the limit with --max-pixels if this image is trusted"
        )


class Lightness:
    """The full-resolution CIE L of an image, computed on demand for a band of rows.

    Pixels stay in their compact form (8-bit grey or RGB, as decoded); L is made per strip by
    the colouring pipeline, so a 100-megapixel scan never exists as one float32 array. Other
    modes (16-bit, float) hold L itself.
    """

    def __init__(self, pixels: np.ndarray, kind: str) -> None:
        if kind not in ("gray8", "rgb8", "l"):
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
        if self.kind == "rgb8":
            return rgb_to_l(band)
        return band

    def full(self) -> np.ndarray:
        return self.rows(0, self.height)

    def reduced(self, height: int, width: int) -> np.ndarray:
        """CIE L at (height, width), antialiased; 8-bit images are resized as sRGB (as the
        training crops are) and then converted."""
        if (height, width) == self.shape:
            return self.full()
        size = (width, height)
        if self.kind == "l":
            img = Image.fromarray(np.ascontiguousarray(self.pixels, dtype=np.float32), "F")
            return np.asarray(img.resize(size, Image.BILINEAR, reducing_gap=3.0))
        small = Image.fromarray(self.pixels).resize(size, Image.BILINEAR, reducing_gap=3.0)
        return gray8_to_l(np.asarray(small)) if self.kind == "gray8" else rgb_to_l(np.asarray(small))


def lightness_of(img: Image.Image) -> tuple[Lightness, np.ndarray | None]:
    """-> (its Lightness, alpha (H, W) uint8 or None), for every Pillow mode."""
    mode = img.mode
    alpha = None
    key = img.info.get("transparency")  # a colour key (PNG tRNS, GIF): pixels of this value are transparent
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
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.all():
            raise ImageReadError(f"{int((~finite).sum()):,} pixels are not numbers (NaN or infinite)")
        if isinstance(key, (int, float)) and mode != "F":
            alpha = np.where(values == key, 0, 255).astype(np.uint8)
        return Lightness.from_l(gray_to_l(np.clip(values / _grey_range(mode, values), 0.0, 1.0))), alpha
    if mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV: Pillow's conversions
    return Lightness(np.asarray(img), "rgb8"), alpha


def _grey_range(mode: str, values: np.ndarray) -> float:
    """The value of white for a deep grey mode (I;16, I, F)."""
    top = values.max()
    if mode.startswith("I;16"):
        return 65535.0
    if mode == "F" and top <= 1.0:
        return 1.0  # float images in 0..1
    return 255.0 if top <= 255 else 65535.0  # mode I or F holding 8- or 16-bit values


def to_srgb(img: Image.Image) -> Image.Image:
    """An L, RGB or CMYK image with an embedded colour profile -> its colours in sRGB (mode RGB),
    so its lightness is what a colour-managed viewer shows (a scan tagged "Dot Gain 20%", an
    Adobe RGB or Display P3 photo). sRGB-tagged images are returned as they are; a profile that
    cannot be used is ignored with a warning (the pixels are then taken as sRGB)."""
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return img
        return ImageCms.profileToProfile(img, profile, _srgb_profile(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        log.warning("ignoring an unusable colour profile (%s); the pixels are taken as sRGB", exc)
        return img


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
    (a transparent cut-out must not teach "transparent = black")."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode.startswith("I;16") or im.mode in ("I", "F"):  # Pillow's convert("RGB") would clip
            values = np.nan_to_num(np.asarray(im, dtype=np.float64))
            grey = np.clip(values / _grey_range(im.mode, values), 0.0, 1.0) * 255.0
            return Image.fromarray(np.round(grey).astype(np.uint8), "L").convert("RGB")
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            canvas = Image.new("RGBA", im.size, background + (255,))
            return Image.alpha_composite(canvas, im).convert("RGB")
        return im.convert("RGB")


def check_output_size(size: tuple[int, int], fmt: str) -> None:
    """ValueError if an image of ``size`` (w, h) cannot be stored as ``fmt`` (JPEG and WebP have
    a largest side; PNG has none)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    limit = MAX_OUTPUT_SIDE.get(fmt)
    if limit is not None and max(size) > limit:
        raise ValueError(f"{size[0]}x{size[1]} is too large for {fmt} (at most {limit:,} px a side); "
                         "use --format png")


def print_resolution(img: Image.Image) -> tuple[float, float] | None:
    """An image's print resolution, (x, y) dots per inch, as its file declares it: JPEG (JFIF or
    EXIF), PNG (pHYs), TIFF and BMP as Pillow reads them (dots per centimetre converted), else the
    EXIF resolution tags (WebP). None when none is declared, or only an aspect ratio (no unit)."""
    dpi = img.info.get("dpi")
    if dpi is None:
        try:
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


def encode(img: Image.Image, fmt: str, *, quality: int = 95, compression: int | None = None) -> bytes:
    """Encode to bytes in ``png``, ``jpg`` or ``webp`` (JPEG has no alpha: composited on white).

    ``quality`` (1-100) is JPEG's and WebP's; ``compression`` is PNG's zlib level, 0 (none,
    fastest) to 9 (smallest, slowest), default :data:`DEFAULT_PNG_COMPRESSION`. The output is
    tagged as sRGB (PNG's sRGB chunk, JPEG's and WebP's sRGB profile) and keeps the print
    resolution in ``img.info["dpi"]`` (which :meth:`Colorizer.colorize` copies from its input):
    PNG pHYs, JPEG JFIF, WebP EXIF. Nothing else of the input's metadata is written.
    Raises ValueError for an unknown format, a size the format cannot hold, or a bad level."""
    check_output_size(img.size, fmt)
    level = DEFAULT_PNG_COMPRESSION if compression is None else compression
    if not (isinstance(level, int) and 0 <= level <= 9):
        raise ValueError(f"PNG compression must be a whole number from 0 to 9, not {level!r}")
    if fmt == "jpg" and img.mode == "RGBA":
        canvas = Image.new("RGB", img.size, (255, 255, 255))
        canvas.paste(img, mask=img.getchannel("A"))
        canvas.info = dict(img.info)  # its dpi
        img = canvas
    dpi = print_resolution(img)
    if fmt == "png":
        srgb = PngImagePlugin.PngInfo()
        srgb.add(b"sRGB", b"\x00")  # rendering intent: perceptual
        options: dict = {"compress_level": level, "pnginfo": srgb, "icc_profile": None}  # not img.info's
    else:
        options = {"quality": quality, "icc_profile": _srgb_icc()}
    if dpi is not None and fmt == "webp":  # WebP has no resolution field of its own
        exif = Image.Exif()
        exif[0x011A], exif[0x011B], exif[0x0128] = dpi[0], dpi[1], 2  # X/YResolution, inches
        options["exif"] = exif.tobytes()
    elif dpi is not None:
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
    file (``.irodori-XXXXXXXX.tmp``) in the same folder, then a rename. On an error nothing is
    left behind: neither the temporary file nor the folders made for it."""
    created = _make_folders(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".irodori-", suffix=".tmp", dir=path.parent)  # short: any valid name stays valid
    except FileNotFoundError:  # another thread's failure removed the folder it had just made
        _make_folders(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".irodori-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions of a new file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        remove_empty_folders(created)
        raise


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
