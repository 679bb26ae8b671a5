"""scripts/build_reference_evalsets.py and scripts/evaluate_reference.py end to end on a tiny
synthetic corpus (real files, the shipped models through onnxruntime): the sets, their manifests,
the report, the spliced table and the sheet."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")  # bw_page (irodori.data) prints the paint inputs

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _art(path: Path, seed: int, size: tuple[int, int] = (96, 128)) -> None:
    """A small colour picture: a gradient sky, a red disc and a green band (seeded)."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([60 + 100 * y / h, 120 + 0 * x, 200 - 80 * y / h], axis=-1)
    cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
    rgb[(y - cy) ** 2 + (x - cx) ** 2 < (h // 5) ** 2] = (210, 40, 30)
    rgb[(y > 3 * h // 4)] = (40, 150, 60)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb.astype(np.uint8)).save(path)


def _corpus(root: Path, files: dict[str, str]) -> None:
    """files: relative path -> split; images drawn, manifest.jsonl written."""
    with open(root / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for i, (rel, split) in enumerate(files.items()):
            _art(root / rel, i)
            fh.write(json.dumps({"path": rel, "split": split, "source": rel.split("/")[1], "license": "GPL-2+"}) + "\n")


def test_build_and_evaluate_end_to_end(tmp_path):
    art, photos, out = tmp_path / "art", tmp_path / "photos", tmp_path / "eval"
    art.mkdir(), photos.mkdir()
    _corpus(art, {"val/wesnoth/portraits__humans__mage.jpg": "val",
                  "train/wesnoth/portraits__humans__mage+female.jpg": "train",
                  "val/naev/dat__gfx__portraits__ship.jpg": "val",
                  "test/naev/dat__gfx__portraits__other.jpg": "test"})
    _corpus(photos, {"train/skimage/astronaut.png": "train"})
    build = [sys.executable, str(SCRIPTS / "build_reference_evalsets.py"), "--split", "val", "--out", str(out),
             "--art", str(art), "--photos", str(photos), "--kinds", "panels,characters", "--no-renpy"]
    summary = json.loads(subprocess.run(build, check=True, capture_output=True, text=True).stdout)
    assert summary["sets"]["panels-tint"]["n"] == 2  # the two val images; test and train stay out
    assert summary["sets"]["characters-paint"]["n"] == 1  # mage, referenced by mage+female
    with open(out / "characters-paint" / "manifest.csv", encoding="utf-8", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["match"] == "train/wesnoth/portraits__humans__mage+female.jpg" and row["mode"] == "paint"
    assert row["unrelated"].startswith(("photos:", "naev:"))
    for sub in ("input", "truth", "match", "unrelated"):
        assert (out / "panels-tint" / sub / "dat__gfx__portraits__ship.png").is_file()

    doc, report, sheet = tmp_path / "REFERENCE.md", tmp_path / "eval.json", tmp_path / "sheet.jpg"
    doc.write_text("# t\n<!-- REFERENCE-EVAL:BEGIN (scripts/evaluate_reference.py) -->\nold\n"
                   "<!-- REFERENCE-EVAL:END -->\nprose\n", encoding="utf-8")
    evaluate = [sys.executable, str(SCRIPTS / "evaluate_reference.py"), "--sets", str(out), "--split", "val",
                "--set", "panels-tint", "--set", "characters", "--limit", "1", "--threads", "1",
                "--json", str(report), "--write", str(doc), "--sheet", str(sheet)]
    subprocess.run(evaluate, check=True, capture_output=True, text=True)
    result = json.loads(report.read_text(encoding="utf-8"))
    assert set(result["sets"]) == {"panels-tint", "characters-tint", "characters-paint"}
    for entry in result["sets"].values():
        assert entry["n"] == 1
        for condition in ("without", "matching", "unrelated"):
            assert math.isfinite(entry[condition]["psnr"]) and math.isfinite(entry[condition]["delta_cf"])
    text = doc.read_text(encoding="utf-8")
    assert "| panels-tint | tint | 1 |" in text and "old" not in text and text.endswith("prose\n")
    assert Image.open(sheet).format == "JPEG"
