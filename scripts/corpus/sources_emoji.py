"""Colour emoji, added after v0.1: OpenMoji and Fluent UI Emoji (SVGs from npm, rasterised with
cairosvg) and Noto Color Emoji (bitmap glyphs rendered with Pillow from the Debian font), with the
small renderers they need.
"""
from __future__ import annotations

import csv
import functools
import io
import re
import struct
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .common import Candidate, white_or_pastel
from .fetch import fetch_deb, fetch_npm

OPENMOJI_GROUPS = {"smileys-emotion", "people-body", "animals-nature", "food-drink",
                   "travel-places", "activities", "objects", "extras-openmoji"}  # not flags/symbols
OPENMOJI_SKIP_SUBGROUPS = {"brand", "ui-element", "flags", "queer-symbols", "symbol-other",
                           "symbols", "emergency", "interaction"}   # logos, UI, signs (extras)
# Noto: pictographic blocks only (no keycaps, letters, arrows, signs), minus skin-tone modifiers.
NOTO_RANGES = ((0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF),
               (0x1FA70, 0x1FAFF))
NOTO_SKIP = range(0x1F3FB, 0x1F400)
FLUENT_TONES = re.compile(r"-(light|medium-light|medium|medium-dark|dark)$")
FLUENT_SKIP = re.compile(r"button|arrow|square|circle|flag|o-?clock|thirty|keycap|mark|sign|symbol|"
                         r"input|zodiac|ideograph|letter")


def render_svg(svg: Path, size: int) -> Image.Image:
    """Rasterise a (square) SVG to size x size RGBA with cairosvg (PyPI; it uses the system
    libcairo)."""
    try:
        import cairosvg
    except (ImportError, OSError) as exc:
        raise RuntimeError("rasterising SVG needs cairosvg (`pip install cairosvg`) and the system "
                           f"libcairo (Debian: libcairo2): {exc}") from exc
    try:
        png = cairosvg.svg2png(url=str(svg), output_width=size, output_height=size)
    except Exception as exc:   # cairosvg raises assorted parser/renderer errors; one file only
        raise ValueError(f"cannot rasterise {svg.name}: {exc}") from exc
    return Image.open(io.BytesIO(png))


@functools.lru_cache(maxsize=2)
def _emoji_font(path: str) -> ImageFont.FreeTypeFont:
    """Noto Color Emoji at the one size its CBDT bitmaps exist in (109 px -> 136x128 glyphs)."""
    return ImageFont.truetype(path, 109)


def render_glyph(font_path: Path, codepoint: int) -> Image.Image:
    """One colour-emoji glyph as RGBA on a transparent 160x160 canvas (trimmed later)."""
    im = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((80, 80), chr(codepoint), font=_emoji_font(str(font_path)),
                            embedded_color=True, anchor="mm")
    return im


def font_codepoints(font_path: Path) -> list[int]:
    """Code points mapped by a TrueType font's format-12 (full Unicode) ``cmap`` subtable."""
    data = font_path.read_bytes()
    (n_tables,) = struct.unpack(">H", data[4:6])
    tables = {data[12 + 16 * i:16 + 16 * i]: struct.unpack(">II", data[20 + 16 * i:28 + 16 * i])
              for i in range(n_tables)}
    cmap, _ = tables[b"cmap"]
    (n_sub,) = struct.unpack(">H", data[cmap + 2:cmap + 4])
    points = set()
    for i in range(n_sub):
        (sub,) = struct.unpack(">I", data[cmap + 8 + 8 * i:cmap + 12 + 8 * i])
        p = cmap + sub
        if struct.unpack(">H", data[p:p + 2])[0] == 12:
            (groups,) = struct.unpack(">I", data[p + 12:p + 16])
            for g in range(groups):
                start, end, _ = struct.unpack(">III", data[p + 16 + 12 * g:p + 28 + 12 * g])
                points.update(range(start, end + 1))
    return sorted(points)


def src_openmoji(cache: Path) -> list[Candidate]:
    """OpenMoji colour SVGs (npm ``openmoji``, CC-BY-SA-4.0, author per emoji from
    data/openmoji.csv), rasterised at 384 px; flags, symbols and skin-tone variants left out."""
    base, version = fetch_npm("openmoji", cache)
    if "Attribution-ShareAlike 4.0" not in (base / "LICENSE.txt").read_text(encoding="utf-8")[:200]:
        raise RuntimeError("openmoji: LICENSE.txt no longer starts with CC-BY-SA-4.0")
    with open(base / "data/openmoji.csv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["group"] in OPENMOJI_GROUPS and not r["skintone"]
                and r["subgroups"] not in OPENMOJI_SKIP_SUBGROUPS]
    out = []
    for r in sorted(rows, key=lambda r: r["hexcode"]):
        f = base / "color/svg" / f"{r['hexcode']}.svg"
        if f.exists():
            rel = f.relative_to(base).as_posix()
            who = f"OpenMoji (openmoji.org): {r['openmoji_author'].strip()}"
            out.append(Candidate("openmoji", rel, None, f"package/{rel}", "npm:openmoji", version,
                                 "CC-BY-SA-4.0", "flat", who, background=white_or_pastel(rel),
                                 load=functools.partial(render_svg, f, 384)))
    return out


def src_noto_emoji(cache: Path) -> list[Candidate]:
    """Noto Color Emoji glyphs of the pictographic blocks, rendered with Pillow (CBDT bitmaps,
    136x128, so min_side is lowered to 96). Artwork Apache-2.0 (Google); see the card's notes."""
    pkg = "fonts-noto-color-emoji"
    root, version = fetch_deb(pkg, cache)
    font = root / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    points = [cp for cp in font_codepoints(font)
              if any(a <= cp <= b for a, b in NOTO_RANGES) and cp not in NOTO_SKIP]
    return [Candidate("noto-emoji", f"emoji_u{cp:04x}.png", None,
                      f"{font.relative_to(root).as_posix()}#U+{cp:04X}", pkg, version, "Apache-2.0",
                      "flat", "Google Inc. (Noto Emoji)", min_side=96,
                      background=white_or_pastel(f"{cp:x}"),
                      load=functools.partial(render_glyph, font, cp)) for cp in points]


def src_fluent_emoji(cache: Path) -> list[Candidate]:
    """Microsoft Fluent UI Emoji, soft-shaded "modern" SVGs (npm ``fluentui-emoji``, MIT),
    rasterised at 384 px; skin-tone variants (a ``-default`` exists) and symbols left out."""
    base, version = fetch_npm("fluentui-emoji", cache)
    holder = " ".join((base / "LICENSE").read_text(encoding="utf-8").split("\n")[2].split())
    files = sorted((base / "icons/modern").glob("*.svg"))
    names = {f.stem for f in files}
    out = []
    for f in files:
        toned = FLUENT_TONES.search(f.stem) and FLUENT_TONES.sub("", f.stem) + "-default" in names
        if toned or FLUENT_SKIP.search(f.stem):
            continue
        rel = f.relative_to(base).as_posix()
        out.append(Candidate("fluent-emoji", rel, None, f"package/{rel}", "npm:fluentui-emoji",
                             version, "MIT", "flat",
                             f"Microsoft Corporation (Fluent UI Emoji); {holder}",
                             background=white_or_pastel(rel),
                             load=functools.partial(render_svg, f, 384)))
    return out
