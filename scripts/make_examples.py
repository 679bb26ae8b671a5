"""Rebuild examples/: black-and-white demo inputs that the project may ship.

Every input is public domain and comes from the *test* split of the local corpus (see
scripts/build_corpus.py), so the model never trained on it; full-resolution originals are read
from the unpacked Debian packages. Outputs are deterministic (fixed seeds).

    python scripts/make_examples.py [--corpus data/corpus] [--unpacked data/cache/unpacked]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from irodori.color import rgb_to_l
from irodori.data import manga_effect

ROOT = Path(__file__).resolve().parent.parent
OC = "usr/share/openclipart/png/"
ES = "usr/share/games/endless-sky/images/land/"

PAGE_SIZE = (780, 1100)
BORDER = 3  # panel border width, px
# Panels: (x0, y0, x1, y1) outer box on the page, original drawing, fit mode, space left
# free above the drawing for a balloon, screentone seed.
PANELS = [
    ((32, 32, 748, 362), OC + "unsorted/landscape_near_the_river_01.png", "cover", 0, 18),
    ((32, 376, 392, 736), OC + "unsorted/ragazza_rossa.png", "contain", 70, 12),
    ((406, 376, 748, 736), OC + "people/woman_01.png", "contain", 90, 13),
    ((32, 750, 432, 1068), OC + "recreation/toys/rubber_duck1_ganson.png", "contain", 0, 14),
    ((446, 750, 748, 1068), OC + "animals/mammals/horses/cavallo_architetto_franc_04.png",
     "contain", 0, 15),
]
# Speech balloons: (ellipse box on the page, tail tip on the page, text).
BALLOONS = [
    ((46, 392, 238, 462), (178, 482), "What a day!"),
    ((520, 390, 736, 460), (580, 476), "Wait for me!"),
]
PHOTOS = {"hills": ES + "hills2.jpg", "city": ES + "city0.jpg"}
CARTOON = ("tiger", OC + "animals/mammals/big_cats/tiger_graig_ryan_smith_-_01.png", 700)


def load_manifest(corpus: Path) -> dict[str, dict]:
    """Corpus manifest records keyed by their path inside the original package."""
    with open(corpus / "manifest.jsonl", encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["original_path"]: r for r in records}


def record_for(manifest: dict[str, dict], original_path: str) -> dict:
    """The manifest record of an original, refusing anything not public domain or not test."""
    r = manifest.get(original_path)
    if r is None:
        raise SystemExit(f"{original_path}: not in the corpus manifest")
    if r["license"] != "public-domain" or r["split"] != "test":
        raise SystemExit(f"{original_path}: licence {r['license']}, split {r['split']}; "
                         "only public-domain test images may be shipped")
    return r


def load_on_white(path: Path) -> Image.Image:
    """An original as RGB: transparency composited on white, cropped to the opaque part."""
    im = Image.open(path)
    if im.mode not in ("RGBA", "LA", "P") and "transparency" not in im.info:
        return im.convert("RGB")
    im = im.convert("RGBA")
    bbox = im.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if bbox:
        im = im.crop(bbox)
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, im).convert("RGB")


def fit(im: Image.Image, w: int, h: int, mode: str, top: int = 0, pad: int = 10) -> Image.Image:
    """Scale ``im`` onto a white (w, h) canvas: "cover" fills it, keeping the top of the image;
    "contain" fits inside with ``pad`` px of margin (``top`` px more above), centred
    horizontally and standing on the bottom."""
    if mode == "cover":
        s = max(w / im.width, h / im.height)
        big = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
        x = (big.width - w) // 2
        return big.crop((x, 0, x + w, h))
    s = min((w - 2 * pad) / im.width, (h - 2 * pad - top) / im.height)
    small = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
    canvas = Image.new("RGB", (w, h), "white")
    canvas.paste(small, ((w - small.width) // 2, h - pad - small.height))
    return canvas


def screentone(rgb: Image.Image, seed: int) -> Image.Image:
    """Render an RGB image as printed manga (ink lines, screentone, flat greys) at its own size."""
    l_in = rgb_to_l(np.asarray(rgb, dtype=np.uint8))
    l_out = manga_effect(l_in, np.random.default_rng(seed))
    # Stretch so the paper is white and its noise gone, as on a cleaned scan, so that the
    # panels match the page.
    bright = l_out[l_out > 80.0]
    paper = float(np.median(bright)) if bright.size else 100.0
    l_out = np.clip(l_out * (100.0 / paper), 0.0, 100.0)
    l_out[l_out > 95.0] = 100.0
    return Image.fromarray(np.round(l_out * 2.55).astype(np.uint8), "L")


def get_font(size: int) -> ImageFont.ImageFont:
    """Pillow's bundled default font at ``size`` px (the bitmap default on old Pillow)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, AttributeError):  # Pillow < 10.1, or no FreeType
        return ImageFont.load_default()


def draw_balloon(draw: ImageDraw.ImageDraw, box: tuple, tip: tuple, text: str) -> None:
    """A white speech balloon with a black outline, a tail pointing at ``tip`` and ``text``."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    base = [(cx - 14, cy + 10), (cx + 14, cy + 10)]
    draw.polygon(base + [tip], fill=0)  # the tail's outline, under the balloon
    draw.ellipse(box, fill=255, outline=0, width=3)
    inner = [(cx - 10, cy + 8), (cx + 10, cy + 8)]
    tx, ty = tip
    draw.polygon(inner + [(tx + (cx - tx) * 0.12, ty + (cy - ty) * 0.12)], fill=255)
    draw.text((cx, cy), text, fill=0, font=get_font(22), anchor="mm")


def make_page(manifest: dict, unpacked: Path) -> tuple[Image.Image, list[dict]]:
    """Compose the screentoned manga page; return it and the records of the drawings used."""
    page = Image.new("L", PAGE_SIZE, 255)
    draw = ImageDraw.Draw(page)
    used = []
    for (x0, y0, x1, y1), orig, mode, top, seed in PANELS:
        r = record_for(manifest, orig)
        used.append(r)
        art = load_on_white(unpacked / r["package"] / orig)
        w, h = x1 - x0 - 2 * BORDER, y1 - y0 - 2 * BORDER
        page.paste(screentone(fit(art, w, h, mode, top), seed), (x0 + BORDER, y0 + BORDER))
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=0, width=BORDER)
    for box, tip, text in BALLOONS:
        draw_balloon(draw, box, tip, text)
    return page, used


def make_photo(manifest: dict, unpacked: Path, orig: str) -> tuple[Image.Image, dict]:
    """A full-resolution public-domain photo converted to greyscale."""
    r = record_for(manifest, orig)
    return Image.open(unpacked / r["package"] / orig).convert("L"), r


def make_cartoon(manifest: dict, unpacked: Path, orig: str, long_side: int):
    """A public-domain drawing on white, greyscale, scaled to ``long_side`` px."""
    r = record_for(manifest, orig)
    art = load_on_white(unpacked / r["package"] / orig)
    s = long_side / max(art.size)
    art = art.resize((round(art.width * s), round(art.height * s)), Image.LANCZOS)
    return art.convert("L"), r


def source_line(label: str, r: dict) -> str:
    """One markdown bullet describing where an original comes from."""
    return (f"- {label}Debian package `{r['package']}` {r.get('package_version', '')}, "
            f"`/{r['original_path']}`; copyright: {r['attribution']}; licence: public domain "
            f"(see `/usr/share/doc/{r['package']}/copyright` in the package)")


def write_sources(path: Path, entries: list[tuple[str, str, list[dict]]]) -> None:
    """Write SOURCES.md: for each file what was done to it and the originals it comes from."""
    lines = ["# Sources of the example images", "",
             "Every original below is in the public domain according to its Debian package's",
             "`copyright` file, and belongs to the held-out *test* split of the training corpus",
             "(the model never trained on it). Rebuild this folder with:", "",
             "    python scripts/make_examples.py", "",
             "(options `--corpus` and `--unpacked` point at the corpus built by",
             "`scripts/build_corpus.py` and at its unpacked packages).", ""]
    for name, what, records in entries:
        lines += [f"## {name}", "", what, "", "Originals:"]
        labels = [f"panel {i + 1}: " for i in range(len(records))] if len(records) > 1 else [""]
        lines += [source_line(lab, r) for lab, r in zip(labels, records)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def save(im: Image.Image, path: Path) -> None:
    """Save a PNG with optimisation and report its size."""
    im.save(path, optimize=True)
    print(f"{path.name}: {im.width}x{im.height} {im.mode}, {path.stat().st_size // 1024} KB")


def main(argv: list[str] | None = None) -> int:
    """Build every example into --out (default examples/)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "data/corpus")
    ap.add_argument("--unpacked", type=Path, default=ROOT / "data/cache/unpacked")
    ap.add_argument("--out", type=Path, default=ROOT / "examples")
    args = ap.parse_args(argv)
    for folder, hint in ((args.corpus, "--corpus"), (args.unpacked, "--unpacked")):
        if not folder.is_dir():
            raise SystemExit(f"{folder}: not found (build it with scripts/build_corpus.py "
                             f"or pass {hint})")
    manifest = load_manifest(args.corpus)
    args.out.mkdir(parents=True, exist_ok=True)
    entries = []

    page, used = make_page(manifest, args.unpacked)
    save(page, args.out / "manga_page.png")
    entries.append(("manga_page.png", (
        "Composed by the irodori developers from the public-domain openclipart drawings below "
        "(panels numbered top to bottom, left to right): each drawing composited on white, "
        "scaled into its panel (panel 1 also cropped), converted to CIE L and rendered as "
        "printed manga (ink lines, screentone, flat greys) by `irodori.data.manga_effect` "
        "with a fixed seed; panel borders, speech balloons and their text drawn by us with "
        "Pillow (default font). The page is released under the project licence."), used))

    for name, orig in PHOTOS.items():
        photo, r = make_photo(manifest, args.unpacked, orig)
        save(photo, args.out / f"photo_{name}.png")
        entries.append((f"photo_{name}.png", "Full-resolution original, converted to "
                        "greyscale (Pillow `convert(\"L\")`).", [r]))

    name, orig, long_side = CARTOON
    cartoon, r = make_cartoon(manifest, args.unpacked, orig, long_side)
    save(cartoon, args.out / f"cartoon_{name}.png")
    entries.append((f"cartoon_{name}.png", "Transparency composited on white, cropped to the "
                    f"drawing, scaled to {long_side} px on the long side, converted to "
                    "greyscale.", [r]))

    write_sources(args.out / "SOURCES.md", entries)
    print(f"wrote {args.out / 'SOURCES.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
