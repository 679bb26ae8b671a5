"""Shared fixtures: tiny models, tiny images, fixed seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run directory trained for a few steps with the tiny preset on synthetic images."""
    pytest.importorskip("torch")
    from irodori.config import load_config
    from irodori.train import train

    out = tmp_path_factory.mktemp("tiny-run")
    cfg = load_config("tiny", {"out_dir": str(out), "steps": 4, "val_every": 0})
    train(cfg, dry_run=True, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_onnx(tiny_run, tmp_path_factory) -> Path:
    from irodori.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(tiny_run, path, name="tiny", max_side=128)
    return path


@pytest.fixture
def colour_folder(tmp_path) -> Path:
    """A folder of small colour images with real structure (gradients, disks)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "colour"
    folder.mkdir()
    for i in range(6):
        h, w = 64 + 8 * i, 96 - 4 * i
        yy, xx = np.mgrid[0:h, 0:w]
        base = rng.integers(0, 256, (2, 3))
        rgb = (base[0] * (1 - yy[..., None] / h) + base[1] * (yy[..., None] / h)).astype(np.uint8)
        disk = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 4) ** 2
        rgb[disk] = rng.integers(0, 256, 3)
        Image.fromarray(rgb).save(folder / f"img{i}.png")
    return folder
