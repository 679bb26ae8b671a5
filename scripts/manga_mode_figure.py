"""Draw docs/images/manga-mode.jpg: colour training crops beside their manga-mode renderings.

    python scripts/manga_mode_figure.py [--corpus data/corpus]

Uses held-out (val split) images of each kind from the corpus built by scripts/build_corpus.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from irodori.color import rgb_to_l
from irodori.data import manga_effect, random_crop
from irodori.imageio import load_rgb

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(REPO / "data" / "corpus"))
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "manga-mode.jpg"))
    args = parser.parse_args()
    corpus = Path(args.corpus)
    records = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    picks = []
    for kind in ("painted", "clipart", "photo", "clipart"):
        candidates = [r for r in records if r["split"] == "val" and r["kind"] == kind and r["path"] not in picks]
        picks.append(candidates[len(picks) * 7 % len(candidates)]["path"])
    rows = []
    for i, rel in enumerate(picks):
        rng = np.random.default_rng(i)
        crop = np.asarray(random_crop(load_rgb(corpus / rel), rng, size=256, scale_min=1.0))
        manga = manga_effect(rgb_to_l(crop), rng)
        grey = np.clip(manga * 2.55, 0, 255).astype(np.uint8)
        rows.append(np.hstack([crop, np.dstack([grey] * 3)]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(args.out, quality=90)
    print(f"wrote {args.out} from {', '.join(picks)}")


if __name__ == "__main__":
    main()
