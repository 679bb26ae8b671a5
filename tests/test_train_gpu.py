"""scripts/train_gpu.py, the one command of a GPU slot: its CPU dry run end to end (what comes
back, the summary, the exported model colouring), the data packed to a byte budget and trained on
after unpacking, the schedule planned from the probe, the tree size it packs against, and weights
too large for a returned file."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "train_gpu.py"
RETURNED = {"model.safetensors", "checkpoint.json", "model.onnx", "log.csv", "summary.json"}


@pytest.fixture(scope="module")
def tg():
    """The script as a module; scripts/ on sys.path (its corpus package) for this module only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(SCRIPT.parent))
        spec = importlib.util.spec_from_file_location("train_gpu", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        try:
            yield module
        finally:
            for name in [n for n in sys.modules if n == "corpus" or n.startswith("corpus.")]:
                del sys.modules[name]


def _art(seed: int, size: tuple[int, int] = (240, 200)) -> Image.Image:
    """Flat colour regions with dark outlines, as the art corpus has."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = rng.integers(150, 255, 3)
    for _ in range(4):
        cy, cx, r = rng.integers(20, 180), rng.integers(20, 220), rng.integers(15, 60)
        d = np.hypot(yy - cy, xx - cx)
        rgb[d < r] = rng.integers(0, 255, 3)
        rgb[np.abs(d - r) < 1.5] = 20
    return Image.fromarray(rgb)


def test_dry_run_returns_what_the_slot_allows_and_a_model_that_colours(tmp_path):
    from irodori import load_colorizer
    from irodori.checkpoint import load_generator

    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out), "--work", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = {p.name: p.stat().st_size for p in out.iterdir()}
    assert set(files) == RETURNED  # no temporary ".part" file left behind
    assert len(files) <= 8 and max(files.values()) <= 16 * 2**20
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in files)

    summary = json.loads((out / "summary.json").read_text())
    assert (summary["steps"], summary["planned_steps"], summary["probe_steps"]) == (4, 4, 2)
    assert summary["ended_by"] == "schedule" and summary["images_per_s"] > 0
    assert {"loss", "loss_l1", "loss_paint"} <= set(summary["final"]) and summary["val_l1"] is not None
    assert set(summary["phases_s"]) == {"unpack", "probe", "train", "export"}
    lines = proc.stdout.strip().splitlines()
    head = lines.index("== train_gpu summary ==")
    assert [line.split()[0] for line in lines[head + 1:]] == ["steps", "images/s", "losses", "wall", "device", "files"]
    assert "model.onnx" in lines[-1] and "OVER" not in lines[-1]

    model, meta = load_generator(out)  # the returned weights are a checkpoint, digest checked
    assert meta["step"] == 4 and model.config.paint
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss") and rows[-1].startswith("4,")

    colorizer = load_colorizer(out / "model.onnx")
    page = Image.fromarray(np.asarray(_art(1).convert("L")))
    coloured = colorizer.colorize(page)
    assert coloured.mode == "RGB" and coloured.size == page.size


def test_pack_fits_its_budget_and_the_run_trains_on_the_unpacked_images(tg, tmp_path):
    from irodori.checkpoint import read_meta

    corpus = tmp_path / "corpus"
    for split, n in (("train", 12), ("val", 3)):
        for i in range(n):
            folder = corpus / split / ("src-a" if i % 2 else "src-b")
            folder.mkdir(parents=True, exist_ok=True)
            _art(100 * (split == "val") + i).save(folder / f"img{i:02d}.jpg", quality=95)  # 240x200

    full = tg.pack_for_gpu(corpus, tmp_path / "all", budget=10**7, val_images=2, short_side=160)
    assert (full["train"], full["val"], full["available"]) == (12, 2, 12)
    budget = full["bytes"] - 5000  # a few images fewer
    assert tg.main(["--pack", "--corpus", str(corpus), "--data", str(tmp_path / "gpu"), "--budget-bytes",
                    str(budget), "--val-images", "2", "--short-side", "160"]) == 0
    packed = json.loads((tmp_path / "gpu" / "index.json").read_text())
    names = [m["path"] for s in packed["shards"] for m in s["members"]]
    size = sum(p.stat().st_size for p in (tmp_path / "gpu").iterdir())
    assert size <= budget and 2 <= sum(n.startswith("train/") for n in names) < 12
    assert sum(n.startswith("val/") for n in names) == 2 and all(n.endswith(".webp") for n in names)
    work = tmp_path / "w"
    assert tg.main(["--dry-run", "--data", str(tmp_path / "gpu"), "--out", str(tmp_path / "out"),
                    "--work", str(work)]) == 0
    with Image.open(next((work / "corpus" / "train").rglob("*.webp"))) as img:
        assert img.size == (192, 160)  # 240x200 reduced to the 160 px short side
    meta = read_meta(tmp_path / "out")
    assert meta["data_manifest_sha256"] != "synthetic" and meta["step"] == 4
    assert meta["config"]["data"]["train_dirs"] == [str(work / "corpus" / "train")]
    assert meta["config"]["data"]["val_dirs"] == [str(work / "corpus" / "val")]


def test_the_schedule_fills_the_time_left_at_the_probed_rate(tg):
    # 60 steps in 10 s at 10 steps/s: 4 s of set-up, paid again (x1.5) by the resumed run.
    probe = {"probe_steps": 60, "probe_wall_s": 10, "steps_per_s": 10}
    assert tg.planned_steps(**probe, time_left_s=100) == 60 + int((100 - 1.5 * 4) * 10 * 0.93)
    assert tg.planned_steps(**probe, time_left_s=100, max_steps=200) == 200
    assert tg.planned_steps(**probe, time_left_s=3) == 61  # never the probe alone


def test_images_per_s_leaves_out_the_start_up_window(tg):
    rows = [{"step": "10", "img_per_s": "50"}, {"step": "20", "img_per_s": "900"}, {"step": "20", "img_per_s": ""},
            {"step": "30", "img_per_s": "1000"}, {"step": "40", "img_per_s": "1100"}]
    assert tg.images_per_s(rows) == pytest.approx(3 / (1 / 900 + 1 / 1000 + 1 / 1100))  # images over time, not a median
    assert tg.images_per_s(rows, after_step=20) == 1100
    assert tg.images_per_s([]) is None
    # Bursts (15 workers hand in batches together): two windows at 4000 img/s, one at 500, is
    # 3 windows' images in 2/4000 + 1/500 of a window's time each: 1200 img/s, where the median said 4000.
    bursts = [{"step": str(10 * i), "img_per_s": r} for i, r in enumerate(["1", "4000", "4000", "500"], 1)]
    assert tg.images_per_s(bursts) == pytest.approx(1200)


def test_tree_bytes_counts_tracked_and_unignored_files(tg, tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("data/\n")
    (tmp_path / "tracked.bin").write_bytes(b"x" * 1000)
    (tmp_path / "new.txt").write_bytes(b"y" * 300)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "shard.tar").write_bytes(b"z" * 5000)  # carried, not part of the tree
    subprocess.run(["git", "add", "tracked.bin", ".gitignore"], cwd=tmp_path, check=True)
    assert tg.tree_bytes(tmp_path) == 1000 + 300 + len("data/\n")


def test_weights_over_a_returned_file_come_back_as_float16(tg, tiny_run, tmp_path, monkeypatch):
    from irodori.checkpoint import load_generator, resolve_checkpoint

    ckpt = resolve_checkpoint(tiny_run)
    monkeypatch.setattr(tg, "FILE_LIMIT", (ckpt / "model.safetensors").stat().st_size - 1)
    tg.copy_checkpoint(ckpt, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "model.safetensors"]
    assert (tmp_path / "model.safetensors").stat().st_size < 0.6 * (ckpt / "model.safetensors").stat().st_size
    model, _ = load_generator(tmp_path)  # the digest in checkpoint.json is the float16 file's
    reference, _ = load_generator(ckpt)
    for key, value in reference.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(model.state_dict()[key], value, atol=1e-2, rtol=1e-3), key
