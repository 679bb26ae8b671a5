"""Fuzz the image reader: list every exception other than ImageReadError that escapes it.

    python scripts/fuzz_reader.py --cases 10000 --seed 0

Small PNG, JPEG, TIFF, WebP, GIF, BMP and PGM files (drawn with Pillow, some with EXIF, colour
profiles, alpha, several frames or 16 bits) are mutated with a fixed seed: bytes and bits flipped,
truncated, format structure damaged (a PNG chunk, a JPEG segment, a TIFF directory entry, a RIFF
chunk, a BMP header field: its length, type or value), ranges dropped, repeated or inserted, and
EXIF rewritten with wrong-typed tags or cut short. Each case goes through what colouring reads an
input with (``open_image`` then ``lightness_of`` and its L): it must decode or raise
ImageReadError. Anything else is listed with the case number, so ``--only N`` replays it with the
traceback. Prints a Markdown summary; exit 1 if anything escaped.
"""

from __future__ import annotations

import argparse
import io
import logging
import struct
import sys
import time
import traceback
import warnings
from collections import Counter
from typing import Callable

import numpy as np
from PIL import Image, ImageCms

from irodori.imageio import ImageReadError, lightness_of, open_image

MAX_PIXELS = 1 << 20  # mutated sizes must not make the run about memory


def _page(rng: np.random.Generator, h: int = 24, w: int = 32) -> np.ndarray:
    grey = np.add.outer(np.arange(h) * 5, np.arange(w) * 3).astype(np.uint8)
    return grey ^ rng.integers(0, 32, (h, w), dtype=np.uint8)


def _save(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def raw_exif(entries: list[tuple[int, int, bytes]], *, order: str = ">") -> bytes:
    """EXIF bytes holding one directory of (tag, TIFF type, value bytes) entries, written as
    given: a tag may have a type its specification does not allow (Pillow writes only valid ones).
    Types: 2 ASCII (count = bytes), 3 SHORT, 4 LONG, 5 RATIONAL (count = values)."""
    size = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}
    head = (b"MM" if order == ">" else b"II") + struct.pack(order + "HI", 42, 8)
    table, extra = b"", b""
    data_at = 8 + 2 + 12 * len(entries) + 4
    for tag, typ, value in entries:
        count = len(value) // size[typ]
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = struct.pack(order + "I", data_at + len(extra))
            extra += value + b"\x00" * (len(value) & 1)
        table += struct.pack(order + "HHI", tag, typ, count) + field
    return b"Exif\x00\x00" + head + struct.pack(order + "H", len(entries)) + table + b"\x00" * 4 + extra


def _exif(orientation: int = 6) -> bytes:
    return raw_exif([(0x0112, 3, struct.pack(">H", orientation))])


def seed_files() -> dict[str, bytes]:
    """Small valid files of every format and the modes that take different paths."""
    rng = np.random.default_rng(0)
    grey = Image.fromarray(_page(rng), "L")
    rgb = Image.merge("RGB", [grey, grey.transpose(Image.FLIP_LEFT_RIGHT), grey.transpose(Image.FLIP_TOP_BOTTOM)])
    rgba = rgb.copy()
    rgba.putalpha(grey)
    grey16 = Image.fromarray(_page(rng).astype(np.uint16) * 257)
    srgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    frames = [grey, grey.rotate(90), grey.point(lambda v: 255 - v)]
    return {
        "png-L": _save(grey, "PNG"),
        "png-RGBA-icc": _save(rgba, "PNG", icc_profile=srgb_icc),
        "png-I16": _save(grey16, "PNG"),
        "png-P-tRNS": _save(rgb.convert("P"), "PNG", transparency=3),
        "jpeg-L-exif": _save(grey, "JPEG", exif=_exif(6), quality=90),
        "jpeg-RGB-progressive": _save(rgb, "JPEG", progressive=True, quality=80),
        "jpeg-CMYK-icc": _save(rgb.convert("CMYK"), "JPEG", quality=90),
        "tiff-L-lzw-exif": _save(grey, "TIFF", compression="tiff_lzw", exif=_exif(8)),
        "tiff-I16": _save(grey16, "TIFF"),
        "tiff-F": _save(grey.convert("F"), "TIFF"),
        "tiff-pages": _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "webp-lossy-exif": _save(rgb, "WEBP", exif=_exif(3), quality=80),
        "webp-lossless-RGBA": _save(rgba, "WEBP", lossless=True),
        "gif-animated": _save(frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=0),
        "bmp-RGB": _save(rgb, "BMP"),
        "bmp-P": _save(rgb.convert("P"), "BMP"),
        "bmp-1bit": _save(grey.convert("1"), "BMP"),
        "pgm-16bit": _save(grey16, "PPM"),
    }


# -- mutations: each takes (data, rng) and returns the damaged bytes ------------------------------
def flip_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(0, len(out), rng.integers(1, 9)):
        out[pos] = int(rng.integers(0, 256))
    return bytes(out)


def flip_bits(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(0, len(out) * 8, rng.integers(1, 5)):
        out[pos // 8] ^= 1 << (pos % 8)
    return bytes(out)


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(1, len(data)))]


def splice(data: bytes, rng: np.random.Generator) -> bytes:
    """Drop, repeat or insert a range of bytes."""
    a = int(rng.integers(0, len(data)))
    b = min(len(data), a + int(rng.integers(1, 64)))
    kind = rng.integers(3)
    if kind == 0:
        return data[:a] + data[b:]
    if kind == 1:
        return data[:b] + data[a:b] + data[b:]
    return data[:a] + rng.integers(0, 256, b - a, dtype=np.uint8).tobytes() + data[a:]


def _structures(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the format's own length-prefixed parts: PNG chunks, JPEG segments,
    RIFF chunks, TIFF directory entries (12 bytes each), the BMP headers' fields."""
    if data.startswith(b"\x89PNG"):
        parts, pos = [], 8
        while pos + 8 <= len(data):
            (length,) = struct.unpack(">I", data[pos:pos + 4])
            parts.append((pos, 8))  # length + type
            pos += 12 + length
        return parts
    if data.startswith(b"\xff\xd8"):
        parts, pos = [], 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
            (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
            parts.append((pos, min(length + 2, 24)))
            pos += 2 + length
        return parts + [(pos, 16)]  # the start of scan header
    if data.startswith(b"RIFF"):
        parts, pos = [(4, 4)], 12
        while pos + 8 <= len(data):
            (length,) = struct.unpack("<I", data[pos + 4:pos + 8])
            parts.append((pos, 16))
            pos += 8 + length + (length & 1)
        return parts
    if data[:2] in (b"II", b"MM"):
        order = "<" if data[:2] == b"II" else ">"
        (ifd,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[ifd:ifd + 2])
        return [(ifd, 2)] + [(ifd + 2 + 12 * i, 12) for i in range(count)]
    if data.startswith(b"BM"):
        return [(2, 4), (10, 4), (14, 4), (18, 4), (22, 4), (28, 2), (30, 4), (46, 4)]
    return [(0, min(len(data), 16))]


def damage_structure(data: bytes, rng: np.random.Generator) -> bytes:
    """Overwrite one field of one structure (a length, a type, a count, an offset) with a random,
    extreme or zero value."""
    parts = _structures(data)
    start, size = parts[int(rng.integers(len(parts)))]
    at = start + int(rng.integers(0, max(1, size - 1)))
    width = int(rng.choice([1, 2, 4]))
    value = rng.choice([b"\x00" * width, b"\xff" * width, rng.integers(0, 256, width, dtype=np.uint8).tobytes()])
    out = bytearray(data)
    out[at:at + width] = value[: max(0, len(out) - at)]
    return bytes(out[: len(data)])


def damage_exif(data: bytes, rng: np.random.Generator) -> bytes:
    """Re-save the picture with an EXIF whose tags have the wrong type, or that is cut short."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:  # a seed format whose EXIF we do not rewrite
        return flip_bytes(data, rng)
    orientation = (0x0112, 3, struct.pack(">H", int(rng.integers(0, 10))))
    wrong = [(0x0128, 2, b"inch"), (0x011A, 2, b"72\x00"), (0x0100, 2, b"wide"), (0x0131, 4, b"\x00\x00\x00\x07"),
             (0x0112, 2, b"6\x00"), (0x0213, 5, b"\x00" * 8), (0x8769, 4, b"\x00\x00\xff\xff"),
             (0x0128, 3, b"\xff\xff"), (0x011A, 5, b"\x00\x00\x00\x48\x00\x00\x00\x00")]
    exif = raw_exif([orientation, wrong[int(rng.integers(len(wrong)))]])
    if rng.random() < 0.4:
        exif = exif[: int(rng.integers(6, len(exif)))]
    fmt = img.format if img.format in ("JPEG", "WEBP", "TIFF", "PNG") else "JPEG"
    if img.mode not in ("L", "RGB", "RGBA") or (fmt == "JPEG" and img.mode == "RGBA"):
        img = img.convert("RGB")
    try:
        return _save(img, fmt, exif=exif)
    except Exception:  # Pillow refuses to write it: damage the bytes instead
        return flip_bytes(data, rng)


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "flip-bytes": flip_bytes, "flip-bits": flip_bits, "truncate": truncate, "splice": splice,
    "structure": damage_structure, "exif": damage_exif,
}


def read(data: bytes) -> str:
    """What colouring reads: decode, orient, lightness. 'read', 'refused', or raises."""
    try:
        lightness, _ = lightness_of(open_image(data, max_pixels=MAX_PIXELS))
        lightness.full()
        lightness.reduced(max(1, lightness.height // 2), max(1, lightness.width // 2))
    except ImageReadError:
        return "refused"
    return "read"


def case(seeds: dict[str, bytes], seed: int, k: int) -> tuple[str, str, bytes]:
    """Case k: (seed file name, mutation name, mutated bytes), a pure function of (seed, k)."""
    rng = np.random.default_rng([seed, k])
    names = sorted(seeds)
    name = names[k % len(names)]
    mutation = sorted(MUTATIONS)[int(rng.integers(len(MUTATIONS)))]
    return name, mutation, MUTATIONS[mutation](seeds[name], rng)


def run(cases: int, seed: int, only: int | None = None) -> tuple[Counter, list[str], float]:
    """-> (outcomes by (seed, outcome), escaped lines, slowest case in seconds)."""
    seeds = seed_files()
    outcomes: Counter = Counter()
    escaped: list[str] = []
    slowest = 0.0
    for k in ([only] if only is not None else range(cases)):
        name, mutation, data = case(seeds, seed, k)
        start = time.perf_counter()
        try:
            outcome = read(data)
        except Exception as exc:
            outcome = "escaped"
            where = traceback.extract_tb(exc.__traceback__)[-1]
            escaped.append(f"case {k} ({name}, {mutation}): {type(exc).__module__}.{type(exc).__qualname__}: "
                           f"{str(exc)[:100]} [{where.filename.rsplit('/', 1)[-1]}:{where.lineno}]")
            if only is not None:
                traceback.print_exc()
        slowest = max(slowest, time.perf_counter() - start)
        outcomes[name, outcome] += 1
    return outcomes, escaped, slowest


def summary(outcomes: Counter, escaped: list[str], *, cases: int, seed: int, seconds: float, slowest: float) -> str:
    lines = [f"{cases} cases, seed {seed}, {seconds:.0f} s (slowest case {slowest * 1000:.0f} ms):", "",
             "| seed file | read | refused (ImageReadError) | escaped |", "|---|---:|---:|---:|"]
    for name in sorted({name for name, _ in outcomes}):
        row = [outcomes[name, outcome] for outcome in ("read", "refused", "escaped")]
        lines.append(f"| {name} | " + " | ".join(str(n) for n in row) + " |")
    totals = [sum(n for (_, o), n in outcomes.items() if o == outcome) for outcome in ("read", "refused", "escaped")]
    lines.append("| **all** | " + " | ".join(f"**{n}**" for n in totals) + " |")
    if not escaped:
        return "\n".join(lines + ["", "Nothing escaped."])
    # one line per kind: exception type and where it was raised, with a count and a first case
    kinds: dict[str, list[str]] = {}
    for line in escaped:
        head, _, detail = line.partition("): ")
        kind = detail.split(": ", 1)[0] + " " + detail.rsplit(" ", 1)[-1]
        kinds.setdefault(kind, []).append(head + ")")
    lines += ["", f"Escaped ({len(escaped)}), by kind:"]
    lines += [f"- {kind} ×{len(cases_)}, first {cases_[0]}" for kind, cases_ in
              sorted(kinds.items(), key=lambda item: -len(item[1]))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=int, default=None, help="replay one case, with its traceback")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # Pillow warns about the damage it was built to survive
    logging.disable(logging.WARNING)  # and so does the reader (frames, damaged EXIF, a missing end marker)
    start = time.perf_counter()
    outcomes, escaped, slowest = run(args.cases, args.seed, args.only)
    print(summary(outcomes, escaped, cases=1 if args.only is not None else args.cases, seed=args.seed,
                  seconds=time.perf_counter() - start, slowest=slowest))
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
