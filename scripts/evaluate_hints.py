"""How well colour hints are followed: the figures and the sheet of docs/HINTS.md.

On the corpus test split, as photos/art and rendered as printed manga (the manga input mode of
training, seeded per image), each image is coloured with 0, 1, 3 and 10 hints revealed from its
ground truth (irodori.hints.sample_hints, seeded by the image's name): once with the hints given
to the network only, once through the whole pipeline (network + geodesic propagation). PSNR is
against the truth's colours under the input's lightness (for the photos that is the truth
itself; for the manga pages, whose lightness is screentone and ink, it is what a perfect
colorizer could output). Writes
docs/hints-eval.json, splices the table into docs/HINTS.md between the HINTS markers, and writes
docs/images/hints-sheet.jpg (grey input | no hints | 10 hints, marked | ground truth) for the
images with the largest, the median and the smallest gain.

    python scripts/evaluate_hints.py            # about a minute on 2 cores; `make eval` runs it
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np
from docsplice import splice
from tqdm import tqdm

from irodori.color import l_to_gray_rgb, rgb_to_l
from irodori.colorizer import load_colorizer
from irodori.data import manga_effect
from irodori.evaluate import EVAL_EXTENSIONS, mark_hints, sheet_row, stack_rows, under_lightness
from irodori.hints import sample_hints
from irodori.imageio import Lightness, load_rgb
from irodori.metrics import psnr

REPO = Path(__file__).resolve().parents[1]
COUNTS = (1, 3, 10)
SETS = ("photos and art", "rendered as manga")
BEGIN, END = "<!-- HINTS:BEGIN (scripts/evaluate_hints.py) -->", "<!-- HINTS:END -->"


def colour(colorizer, l_full: np.ndarray, hints, *, propagate: bool) -> np.ndarray:
    lightness = Lightness.from_l(l_full)
    ab = colorizer.predict_ab(lightness, hints=hints, propagate=propagate)
    return np.asarray(colorizer.merge_image(lightness, ab))


def hint_case(path: Path, root: Path, set_name: str, count: int) -> tuple[str, np.ndarray, list, np.ndarray]:
    """One test image of one set -> (name, the lightness to colour, ``count`` hints revealed from
    the truth, the reference: the truth's colours under that lightness). Seeded by the name, so
    every script and every run sees the same page rendering and the same hints."""
    name = path.relative_to(root).as_posix()
    truth = np.asarray(load_rgb(path))
    l_full = rgb_to_l(truth)
    if set_name == "rendered as manga":
        l_full = manga_effect(l_full, np.random.default_rng(zlib.crc32(name.encode())))
    given = sample_hints(truth, count, np.random.default_rng(zlib.crc32(name.encode())))
    return name, l_full, given, under_lightness(truth, l_full)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general-int8")
    parser.add_argument("--test-dir", default=str(REPO / "data" / "corpus" / "test"))
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    test_dir = Path(args.test_dir)
    if not test_dir.is_dir():
        print(f"{test_dir} missing: run `python scripts/build_corpus.py` first", file=sys.stderr)
        return 1
    files = sorted(p for p in test_dir.rglob("*") if p.suffix.lower() in EVAL_EXTENSIONS)[: args.limit]
    colorizer = load_colorizer(args.model)
    results: dict = {"model": colorizer.name, "folder": "data/corpus/test", "images": len(files), "sets": {}}
    sheet_rows = []
    for set_name in SETS:
        per_image = []
        for path in tqdm(files, desc=set_name, unit="img"):
            name, l_full, given, truth = hint_case(path, test_dir, set_name, max(COUNTS))
            base = colour(colorizer, l_full, [], propagate=True)
            row = {"image": name, "psnr_gray": psnr(l_to_gray_rgb(l_full), truth), "psnr": psnr(base, truth)}
            for n in COUNTS:
                row[f"network_{n}"] = psnr(colour(colorizer, l_full, given[:n], propagate=False), truth)
                full = colour(colorizer, l_full, given[:n], propagate=True)
                row[f"pipeline_{n}"] = psnr(full, truth)
            per_image.append(row)
            if set_name == "photos and art":
                sheet_rows.append((row["pipeline_10"] - row["psnr"], l_full, base, full, truth, given))
        means = {key: float(np.mean([r[key] for r in per_image])) for key in per_image[0] if key != "image"}
        results["sets"][set_name] = {"means": means, "per_image": per_image}

    table = format_table(results)
    print(table)
    (REPO / "docs" / "hints-eval.json").write_text(json.dumps(results, indent=1) + "\n")
    splice(REPO / "docs" / "HINTS.md", BEGIN, END, table)
    write_sheet(sheet_rows, REPO / "docs" / "images" / "hints-sheet.jpg")
    return 0


def format_table(results: dict) -> str:
    lines = [f"model `{results['model']}`, {results['images']} test images; PSNR in dB "
             "(grayscale baseline and no hints in the first columns)", "",
             "| set | grayscale | no hints | " + " | ".join(f"{n} hint{'s' * (n > 1)}: network only / full pipeline"
                                                        for n in COUNTS) + " | gain, 10 hints |",
             "|---|---:|---:|" + "---:|" * len(COUNTS) + "---:|"]
    for set_name, entry in results["sets"].items():
        m = entry["means"]
        cells = " | ".join(f"{m[f'network_{n}']:.2f} / **{m[f'pipeline_{n}']:.2f}**" for n in COUNTS)
        lines.append(f"| {set_name} | {m['psnr_gray']:.2f} | {m['psnr']:.2f} | {cells} | "
                     f"**{m['pipeline_10'] - m['psnr']:+.2f}** |")
    return "\n".join(lines)


def write_sheet(rows: list, out: Path, *, height: int = 200) -> None:
    """Largest, two median and smallest gains: grey | no hints | 10 hints (marked) | truth."""
    from PIL import Image

    rows = sorted(rows, key=lambda r: r[0], reverse=True)
    mid = len(rows) // 2
    picks = [rows[0], rows[1], rows[mid], rows[mid + 1], rows[-1]]
    strips = [sheet_row([l_to_gray_rgb(l_full), base, mark_hints(full, given), truth], height=height)
              for _gain, l_full, base, full, truth, given in picks]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(stack_rows(strips)).save(out, quality=85)


if __name__ == "__main__":
    sys.exit(main())
