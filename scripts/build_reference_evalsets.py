#!/usr/bin/env python3
"""Build the reference-page evaluation sets (docs/REFERENCE.md, issue "Reference pages" §3): each
target (a colour truth and the model's input) is paired with a **matching** reference (the same
art, character or figure in another image) and an **unrelated** one (another series, or a photo).

Kinds, every target held out of training (the corpus's hash split; the two sources that are not in
the corpus at all are split by name between val and test):

- ``panels``: a held-out image (painted portraits and scenes, clip art) composed into a page of
  2 or 3 panels, each a different zoomed crop of it; the reference is another crop of the same
  image (shifted, rescaled, mirrored half the time). Cheap and plentiful.
- ``characters``: the same character in another image: Wesnoth unit portraits of one unit
  (``mage-silver+female`` / ``mage-silver``, ``swordsman`` / ``swordsman-2``), Wesnoth campaign
  characters (``asheviere`` / ``asheviere-mad``, ``malin_old`` / ``malin_young``), and Sylvie, the
  character sprites of Debian's ``renpy-thequestion`` (Expat; one outfit as the target, the other
  outfit with the same expression as the reference). The reference may come from any split:
  nothing is trained on references (but a development set's, ``--split train``, from train only).
- ``openmoji``: a held-out OpenMoji person emoji with another of its family (the same base emoji:
  person / man / woman doing the same thing, or facing the other way) as the reference; the
  package's own black line art is the paint input.

Sets: ``panels-tint`` and ``characters-tint`` (grey input, the same CIE L), ``panels-paint`` and
``characters-paint`` (a B&W page printed by :func:`irodori.data.bw_page`, seeded by name),
``openmoji-paint``. Each set folder holds ``input/``, ``truth/``, ``match/``, ``unrelated/`` PNGs of
one stem and ``manifest.csv`` (stem, kind, mode, the source of each image, licence); the output
folder a ``manifest.json`` summary. At most ``--max-per-set`` targets per set, picked by name hash;
images at most 512 px on the long side. Needs a corpus with the art sources (data/corpus-art), the
photo sources (data/corpus-photos) and cairosvg::

    python scripts/build_reference_evalsets.py --split val    # data/eval-reference-val (tune here)
    python scripts/build_reference_evalsets.py --split train --kinds characters  # faults to look into
    python scripts/build_reference_evalsets.py                # data/eval-reference (report here)
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus.common import name_hash, split_of  # noqa: E402

SIDE = 512  # longest side of every image written
PANEL_SOURCES = ("wesnoth", "wesnoth-campaigns", "naev", "flare", "openclipart")
UNRELATED_ART = ("wesnoth", "wesnoth-campaigns", "naev", "flare")  # painted art; photos join them
SERIES = {"wesnoth-campaigns": "wesnoth"}  # sources of one series: never each other's unrelated reference
OPENMOJI_SIDE = 384
BUSY_STD = 40.0  # a crop whose RGB values spread less than this (0..255) is mostly one flat colour
RENPY = "renpy-thequestion"
RENPY_LICENCE = "Expat"  # debian/copyright of renpy-thequestion 8.0.3+dfsg-1: "Files: *", no other stanza for game/images
KINDS = ("panels", "characters", "openmoji")
SETS = {"panels-tint": ("panels", "tint"), "panels-paint": ("panels", "paint"),
        "characters-tint": ("characters", "tint"), "characters-paint": ("characters", "paint"),
        "openmoji-paint": ("openmoji", "paint")}


@dataclass
class Item:
    """One target with its two references: RGB uint8 arrays (H, W, 3); ``line`` the real line art
    (H, W) uint8 when the source has one (OpenMoji), else None (paint inputs are printed)."""

    stem: str
    kind: str
    truth: np.ndarray
    match: np.ndarray
    unrelated: np.ndarray
    sources: dict
    licence: str
    line: np.ndarray | None = None


# -- images ------------------------------------------------------------------------------------
def fit(img: Image.Image, side: int = SIDE) -> Image.Image:
    """RGB(A) image -> RGB on white, longest side at most ``side`` (Lanczos)."""
    from irodori.imageio import rgb_over

    img = rgb_over(img)
    scale = side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    return img


def load(path: Path, side: int = SIDE) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(fit(img, side))


def _crop(rgb: np.ndarray, ch: int, cw: int, rng: np.random.Generator, *, tries: int = 8) -> np.ndarray:
    """A ch x cw crop at a random place, the busiest of a few tries: clip art on white would
    otherwise give blank panels (nothing to colour, nothing to match)."""
    best, best_std = rgb[:ch, :cw], -1.0
    for _ in range(tries):
        y = int(rng.integers(0, rgb.shape[0] - ch + 1))
        x = int(rng.integers(0, rgb.shape[1] - cw + 1))
        crop = rgb[y : y + ch, x : x + cw]
        std = float(crop.std())
        if std > BUSY_STD:
            return crop
        if std > best_std:
            best, best_std = crop, std
    return best


def panel_page(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour art (H, W, 3) -> a page (H, W, 3) of 2 or 3 panels along its long side, white gutters
    and 2-px black frames, each panel a crop of the art zoomed 1-1.8x at a random place."""
    h, w = rgb.shape[:2]
    page = np.full_like(rgb, 255)
    n, margin, gutter = int(rng.integers(2, 4)), 6, 8
    long_side = h if h >= w else w
    cuts = np.sort(rng.uniform(0.25, 0.75, n - 1)) if n == 2 else np.sort(rng.uniform(0.2, 0.8, n - 1))
    edges = [margin, *[int(c * long_side) for c in cuts], long_side - margin]
    for a, b in zip(edges[:-1], edges[1:]):
        a, b = a + (gutter // 2 if a != margin else 0), b - (gutter // 2 if b != long_side - margin else 0)
        y0, y1, x0, x1 = (a, b, margin, w - margin) if h >= w else (margin, h - margin, a, b)
        ph, pw = y1 - y0, x1 - x0
        if ph < 8 or pw < 8:
            continue
        scale = min(h / ph, w / pw) / rng.uniform(1.0, 1.8)
        crop = _crop(rgb, max(1, min(h, round(ph * scale))), max(1, min(w, round(pw * scale))), rng)
        page[y0:y1, x0:x1] = np.asarray(Image.fromarray(crop).resize((pw, ph), Image.LANCZOS))
        page[y0 : y0 + 2, x0:x1] = page[y1 - 2 : y1, x0:x1] = 0
        page[y0:y1, x0 : x0 + 2] = page[y0:y1, x1 - 2 : x1] = 0
    return page


def other_crop(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another view of the same art: 55-90 % of each side at a random place, mirrored half the
    time, rescaled 0.6-1x."""
    h, w = rgb.shape[:2]
    crop = _crop(rgb, max(8, round(h * rng.uniform(0.55, 0.9))), max(8, round(w * rng.uniform(0.55, 0.9))), rng)
    img = Image.fromarray(crop)
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    f = rng.uniform(0.6, 1.0)
    return np.asarray(img.resize((max(8, round(img.width * f)), max(8, round(img.height * f))), Image.LANCZOS))


# -- pools and picks -----------------------------------------------------------------------------
def records(corpus: Path) -> list[dict]:
    """The corpus manifest's rows (every split), or [] when the corpus is missing."""
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        return []
    with open(manifest, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def pick(options: list, key: str):
    """One of ``options`` chosen by the hash of ``key`` (seeded by name, stable across runs)."""
    return sorted(options, key=str)[name_hash(key) % len(options)]


def unrelated_pool(art: Path, art_rows: list[dict], photos: Path, photo_rows: list[dict]) -> list[tuple[str, Path, str]]:
    """(series, path, licence) of every image an unrelated reference may be drawn from: photos and
    painted art of every split."""
    pool = [("photos", photos / r["path"], r["license"]) for r in photo_rows]
    pool += [(SERIES.get(r["source"], r["source"]), art / r["path"], r["license"])
             for r in art_rows if r["source"] in UNRELATED_ART]
    return pool


def references_of(rows: list[dict], split: str) -> list[dict]:
    """The rows a target of ``split`` may take a reference from: val and test targets any split's
    (nothing is trained on references); a development target (train) only train's, so that
    nothing held out is looked at while tuning (until 2026-12-03 one took a test portrait)."""
    return rows if split != "train" else [r for r in rows if r.get("split") == "train"]


def unrelated_for(stem: str, series: str, pool: list[tuple[str, Path, str]]) -> tuple[np.ndarray, str]:
    """An image of another series than the target's, chosen by name -> (RGB, its source label)."""
    options = [p for p in pool if p[0] != series]
    if not options:
        raise SystemExit(f"no unrelated reference for {stem}: the pool holds only {series}")
    chosen = pick(options, f"{stem}/unrelated")
    return load(chosen[1]), f"{chosen[0]}:{chosen[1].name}"


def cap(items: list, most: int, key=lambda x: x) -> list:
    """At most ``most`` of ``items``, the first by name hash (a seeded sample, not the first names)."""
    return sorted(items, key=lambda x: name_hash(str(key(x))))[:most]


# -- kinds -----------------------------------------------------------------------------------------
def panels(art: Path, rows: list[dict], split: str, pool, most: int) -> list[Item]:
    """Held-out art as panel pages, referenced by another crop of the same image."""
    chosen = cap([r for r in rows if r["split"] == split and r["source"] in PANEL_SOURCES], most, key=lambda r: r["path"])
    items = []
    for r in chosen:
        stem = Path(r["path"]).stem
        rgb = load(art / r["path"])
        rng = np.random.default_rng(zlib.crc32(f"panels/{stem}".encode()))
        unrelated, label = unrelated_for(stem, SERIES.get(r["source"], r["source"]), pool)
        items.append(Item(stem, "panels", panel_page(rgb, rng), other_crop(rgb, rng), unrelated,
                          {"target": r["path"], "match": r["path"] + " (another crop)", "unrelated": label},
                          r["license"]))
    return items


_CAMPAIGN = re.compile(r"^campaigns__(?P<camp>[^_]+(?:_[^_]+)*?)__images__(?:portraits|story__characters|story__portraits)"
                       r"__(?P<name>[^_].*)$")


def character_key(source: str, stem: str) -> str | None:
    """The character an image shows, or None when it is no character portrait: a Wesnoth unit
    (``portraits__humans__mage-silver+female`` -> ``portraits__humans__mage-silver``) or a campaign
    character (``campaigns__Heir_To_The_Throne__images__portraits__asheviere-mad`` ->
    ``Heir_To_The_Throne/asheviere``)."""
    if source == "wesnoth":
        if not stem.startswith("portraits__"):
            return None
        return re.sub(r"-\d+$", "", stem.replace("+female", ""))
    m = _CAMPAIGN.match(stem) if source == "wesnoth-campaigns" else None
    if m is None or "__" in m["name"]:  # race folders (quenoth__scout): units of a race, not one character
        return None
    name = re.sub(r"^(younger|young|old)_", "", m["name"].lower())
    return f"{m['camp']}/{re.sub(r'[0-9]+$', '', re.split(r'[-_]', name)[0])}"


def wesnoth_characters(art: Path, rows: list[dict], split: str, pool) -> list[Item]:
    """Held-out Wesnoth portraits with another portrait of the same unit or character."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        key = character_key(r["source"], Path(r["path"]).stem)
        if key is not None:
            groups.setdefault(key, []).append(r)
    items = []
    for key, members in sorted(groups.items()):
        for r in (m for m in members if m["split"] == split):
            others = [m for m in references_of(members, split) if m is not r]
            if not others:
                continue
            stem = Path(r["path"]).stem
            ref = pick(others, f"{stem}/match")
            unrelated, label = unrelated_for(stem, "wesnoth", pool)
            items.append(Item(stem, r["source"], load(art / r["path"]), load(art / ref["path"]), unrelated,
                              {"target": r["path"], "match": ref["path"], "unrelated": label}, r["license"]))
    return items


def renpy_split(name: str) -> str:
    """The Ren'Py sprites are in no training corpus: half go to val, half to test, by name."""
    return "val" if name_hash(f"{RENPY}/{name}") % 2 == 0 else "test"


def renpy_characters(cache: Path, split: str, pool) -> list[Item]:
    """Sylvie of renpy-thequestion: a sprite (one outfit, one expression) as the target, the same
    expression in the other outfit as the reference."""
    from corpus.fetch import fetch_deb

    root, version = fetch_deb(RENPY, cache)
    folder = root / "usr/share/games/renpy/the_question/game/images"
    sprites = sorted(p.name for p in folder.glob("sylvie *.png"))
    items = []
    for name in sprites:
        if renpy_split(name) != split:
            continue
        _, outfit, expression = Path(name).stem.split(" ")
        others = [s for s in sprites if s.endswith(f" {expression}.png") and s != name]
        if not others:
            continue
        stem = f"renpy__{Path(name).stem.replace(' ', '_')}"
        unrelated, label = unrelated_for(stem, RENPY, pool)
        items.append(Item(stem, RENPY, load(folder / name), load(folder / others[0]), unrelated,
                          {"target": f"{RENPY} {version}:{name}", "match": f"{RENPY}:{others[0]}",
                           "unrelated": label}, RENPY_LICENCE))
    return items


def openmoji_families(cache: Path, split: str, pool, most: int) -> list[Item]:
    """Held-out OpenMoji person emoji (colour truth, the package's black line art as input) with
    another emoji of the same base code point as the reference."""
    from corpus.fetch import fetch_npm
    from corpus.sources_emoji import render_svg

    base, version = fetch_npm("openmoji", cache)
    with open(base / "data/openmoji.csv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["group"] == "people-body" and not r["skintone"]
                and r["subgroups"] != "family" and (base / "color/svg" / f"{r['hexcode']}.svg").exists()
                and (base / "black/svg" / f"{r['hexcode']}.svg").exists()]
    families: dict[str, list[str]] = {}
    for r in rows:
        families.setdefault(r["hexcode"].split("-")[0], []).append(r["hexcode"])
    targets = [(h, fam) for fam in families.values() if len(fam) > 1 for h in fam
               if split_of("openmoji", f"color/svg/{h}.svg") == split]

    def colour(hexcode: str) -> np.ndarray:
        return np.asarray(fit(render_svg(base / "color/svg" / f"{hexcode}.svg", OPENMOJI_SIDE)))

    items = []
    for hexcode, family in cap(targets, most, key=lambda t: t[0]):
        ref = pick([h for h in family if h != hexcode], f"{hexcode}/match")
        line = np.asarray(fit(render_svg(base / "black/svg" / f"{hexcode}.svg", OPENMOJI_SIDE)).convert("L"))
        unrelated, label = unrelated_for(hexcode, "openmoji", pool)
        items.append(Item(hexcode, "openmoji", colour(hexcode), colour(ref), unrelated,
                          {"target": f"openmoji {version}:{hexcode}", "match": f"openmoji:{ref}", "unrelated": label},
                          "CC-BY-SA-4.0", line=line))
    return items


# -- writing ------------------------------------------------------------------------------------
def model_input(item: Item, mode: str) -> np.ndarray:
    """The model's input (H, W) uint8: the truth's grey (tint), its real line art, or a B&W page
    printed from it, seeded by the stem (paint)."""
    from irodori.color import l_to_gray, rgb_to_lab, rgb_to_uint8
    from irodori.data import bw_page

    l = rgb_to_lab(item.truth)[..., 0]
    if mode == "paint":
        if item.line is not None:
            return item.line
        l = bw_page(l, np.random.default_rng(zlib.crc32(item.stem.encode())))
    return rgb_to_uint8(l_to_gray(l))


def write_set(dest: Path, items: list[Item], *, kind: str, mode: str) -> int:
    """Items -> dest/{input,truth,match,unrelated}/<stem>.png and dest/manifest.csv (a previous
    build of the set is removed first); the count."""
    if (dest / "manifest.csv").is_file():
        shutil.rmtree(dest)
    for sub in ("input", "truth", "match", "unrelated"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    with open(dest / "manifest.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["stem", "kind", "mode", "target", "match", "unrelated", "licence"])
        for it in items:
            Image.fromarray(model_input(it, mode), "L").save(dest / "input" / f"{it.stem}.png", optimize=True)
            for sub in ("truth", "match", "unrelated"):
                Image.fromarray(getattr(it, sub), "RGB").save(dest / sub / f"{it.stem}.png", optimize=True)
            out.writerow([it.stem, it.kind, mode, it.sources["target"], it.sources["match"],
                          it.sources["unrelated"], it.licence])
    return len(items)


def build(args: argparse.Namespace) -> dict:
    """Every kind asked for -> its sets under args.out; the summary written to manifest.json."""
    art_rows, photo_rows = records(args.art), records(args.photos)
    pool = unrelated_pool(args.art, references_of(art_rows, args.split), args.photos,
                          references_of(photo_rows, args.split))
    kinds = set(args.kinds.split(","))
    items: dict[str, list[Item]] = {}
    if "panels" in kinds:
        items["panels"] = panels(args.art, art_rows, args.split, pool, args.max_per_set)
    if "characters" in kinds:
        found = wesnoth_characters(args.art, art_rows, args.split, pool)
        if not args.no_renpy:
            found += renpy_characters(args.cache, args.split, pool)
        items["characters"] = cap(found, args.max_per_set, key=lambda it: it.stem)
    if "openmoji" in kinds:
        items["openmoji"] = openmoji_families(args.cache, args.split, pool, args.max_per_set)
    summary_path = args.out / "manifest.json"
    summary = {"split": args.split, "sets": {}}
    if summary_path.is_file():  # a build of some kinds keeps the other kinds' entries
        previous = json.loads(summary_path.read_text(encoding="utf-8"))
        summary["sets"] = previous["sets"] if previous.get("split") == args.split else {}
    for name, (kind, mode) in SETS.items():
        if items.get(kind):
            n = write_set(args.out / name, items[kind], kind=kind, mode=mode)
            counts: dict[str, int] = {}
            for it in items[kind]:
                counts[it.kind] = counts.get(it.kind, 0) + 1
            summary["sets"][name] = {"kind": kind, "mode": mode, "n": n, "sources": counts}
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("test", "val", "train"), default="test",
                    help="train: training images, a development set to look into faults on (never reported)")
    ap.add_argument("--out", type=Path, default=None, help="default: data/eval-reference (test), data/eval-reference-val")
    ap.add_argument("--art", type=Path, default=Path("data/corpus-art"), help="corpus with the art sources")
    ap.add_argument("--photos", type=Path, default=Path("data/corpus-photos"), help="corpus with the photo sources")
    ap.add_argument("--cache", type=Path, default=Path("data/cache"), help="downloaded packages (Debian, npm)")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    ap.add_argument("--max-per-set", type=int, default=60)
    ap.add_argument("--no-renpy", action="store_true", help="leave out the renpy-thequestion sprites")
    args = ap.parse_args(argv)
    unknown = set(args.kinds.split(",")) - set(KINDS)
    if unknown:
        ap.error(f"--kinds: unknown {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    args.out = args.out or Path({"test": "data/eval-reference", "val": "data/eval-reference-val",
                                 "train": "data/eval-reference-train"}[args.split])
    args.out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(build(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
