"""The evaluation sets (``--eval``): grey photos and manga pages made from the corpus's TEST split,
minus near-duplicates of anything in train or val; the same from the VAL split (``--eval-split
val``) for choosing settings such as the annealed-mean temperature without touching the test.

irodori itself (and so torch) is imported only when the sets are built.
"""
from __future__ import annotations

import json
import shutil
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from .images import HashIndex, file_fingerprint
from .sources import SOURCES


def manga_page(l_full: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """A colour image's lightness rendered as a printed manga page, seeded by its name
    (``zlib.crc32``) so the page is the same on every build -> (page lightness, seed)."""
    from irodori.data import manga_effect  # imports torch

    seed = zlib.crc32(name.encode())
    return manga_effect(l_full, np.random.default_rng(seed)), seed


def write_pair(dest: Path, stem: str, l_in: np.ndarray, truth_src: Path) -> None:
    """One pair of a paired set: ``input/STEM.png`` (8-bit grey of ``l_in``) and
    ``truth/STEM.jpg`` (a byte copy of the corpus JPEG)."""
    from irodori.color import l_to_gray, rgb_to_uint8

    grey = Image.fromarray(rgb_to_uint8(l_to_gray(l_in)), "L")
    grey.save(dest / "input" / f"{stem}.png", optimize=True)
    shutil.copyfile(truth_src, dest / "truth" / f"{stem}.jpg")


def build_eval(corpus: Path, dest: Path, split: str = "test") -> dict[str, Counter]:
    """Write the evaluation sets from the TEST (or another) split of ``corpus`` into ``dest``.

    - ``photos/``: test photos of the photo sources; ``input/NAME.png`` is the grey version (8-bit,
      same CIE L), ``truth/NAME.jpg`` the corpus JPEG (byte copy).
    - ``manga/``: test colour art of the art sources rendered as a printed manga page by irodori's
      own manga input mode (``irodori.data.manga_effect`` on the CIE L, seeded with
      ``zlib.crc32(NAME)`` as scripts/evaluate_hints.py does), as ``input/NAME.png`` +
      ``truth/NAME.jpg``; the inked GCompris cartoons of the test split also as plain grey
      (``NAME__grey``).

    Images that are near-duplicates of an image of another split (``HashIndex``) are left out,
    so nothing here was seen in training. Each set gets ``manifest.jsonl``; ``excluded.tsv`` lists
    what was left out. Returns the counts per set and mode.
    """
    from irodori.color import rgb_to_l

    lines = (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(x) for x in lines]
    seen = HashIndex()
    for r in records:
        if r["split"] != split:
            seen.add(file_fingerprint(corpus / r["path"]), r["path"])
    for sub in ("photos", "manga"):
        shutil.rmtree(dest / sub, ignore_errors=True)
        for part in ("input", "truth"):
            (dest / sub / part).mkdir(parents=True)
    manifests, skipped, counts = defaultdict(list), [], defaultdict(Counter)
    for r in sorted((r for r in records if r["split"] == split), key=lambda r: r["path"]):
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
            l_page, seed = manga_page(l_full, name)
            jobs = [("manga", name, "manga", l_page, seed)]
            if role == "cartoons":
                jobs.append(("manga", f"{name}__grey", "grey", l_full, None))
        for sub, stem, mode, l_in, seed in jobs:
            write_pair(dest / sub, stem, l_in, src)
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
