"""The markdown data cards: docs/DATA.md for the v0.1 corpus (``write_card``) and
docs/DATA-full.md for any other (``write_full_card``, with the evaluation sets and packing).

The text is generated from the manifest and the pipeline's constants, so the card always states
the thresholds, counts, licences and attribution of the corpus it sits next to.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import PIL

from .common import SPLITS, rel_to_repo
from .images import DHASH_NEAR, MAX_SIDE, MIN_CHROMA, MIN_DETAIL, NEAR_CORR, PHASH_NEAR
from .sources import SOURCES, V01_SOURCES

# "clipart" is the v0.1 name of "flat" (kept in the v0.1 manifest; the full card counts both as
# flat).
KIND_LABELS = {"photo": "photo", "painted": "painted", "clipart": "flat", "flat": "flat",
               "lineart": "line art"}


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
This is the v0.1 corpus (`data/corpus`), which the 0.1 model was trained and evaluated on; its
test split is still scored in every model card ("On the 0.1 test split"). The shipped models are
trained on the complete corpus, built from every usable source, `data/corpus-full`: see
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
  skin-tone variants (see the `src_*` functions and constants in `scripts/corpus/sources_*.py`);
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
  the closest thing to a real black-and-white comic page with a colour original.
- The same two sets made from the **validation** split (`--eval data/eval-val --eval-split val`,
  also run by `make corpus-full`) are for choosing settings: the shipped models' annealed-mean
  temperature and their int8 calibration. They are never used for reported figures."""


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
