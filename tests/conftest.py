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


@pytest.fixture(scope="session")
def tiny_paint_onnx(tmp_path_factory) -> Path:
    """A tiny paint model (model.paint: it also predicts l_paint), a few steps on synthetic
    images rendered as B&W pages, exported to ONNX."""
    pytest.importorskip("torch")
    from irodori.config import load_config
    from irodori.export import export_onnx
    from irodori.train import train

    out = tmp_path_factory.mktemp("tiny-paint-run")
    cfg = load_config("tiny", {"out_dir": str(out), "steps": 4, "val_every": 0, "model": {"paint": True},
                               "data": {"paint_prob": 0.8}, "loss": {"paint_l1": 1.0}})
    train(cfg, dry_run=True, progress=False)
    path = tmp_path_factory.mktemp("onnx") / "tiny-paint.onnx"
    export_onnx(out, path, name="tiny-paint", max_side=128)
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


def bw_page_image(h: int = 120, w: int = 160, *, pitch: int = 5) -> np.ndarray:
    """A synthetic black-and-white page (uint8 grey): white paper, a closed ink box, a band of
    round screentone dots (about 20 % ink) and a solid black corner."""
    page = np.full((h, w), 255, np.uint8)
    page[10:12, 10:80] = page[60:62, 10:80] = 0  # a box of ink lines
    page[10:62, 10:12] = page[10:62, 78:80] = 0
    yy, xx = np.mgrid[0:h, 0:w]
    dots = (np.cos(xx * 2 * np.pi / pitch) * np.cos(yy * 2 * np.pi / pitch) + 1) / 2 > 0.8
    band = (yy >= 75) & (yy < 110) & (xx >= 10) & (xx < 150)
    page[band & dots] = 0
    page[h - 12:, w - 20:] = 0
    return page


def lettering_page(h: int = 320, w: int = 400) -> np.ndarray:
    """A page (uint8 grey) with a dot screen turned 29 degrees on its left (x < 180, about 18 %
    ink, 5 px pitch) and lines of small lettering (Pillow's default font at 9 and 10 px, words of
    curved letters: every stroke shorter than the tone filter's 5 px) on paper on its right."""
    from PIL import ImageDraw, ImageFont

    page = np.full((h, w), 255, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx * np.cos(0.5) + yy * np.sin(0.5), -xx * np.sin(0.5) + yy * np.cos(0.5)
    page[(xx < 180) & ((np.cos(u * 2 * np.pi / 5) * np.cos(v * 2 * np.pi / 5) + 1) / 2 > 0.75)] = 0
    img = Image.fromarray(page)
    draw = ImageDraw.Draw(img)
    for size, top in ((9, 20), (10, 170)):
        font = ImageFont.load_default(size=size)
        for i in range(8):
            draw.text((200, top + i * int(size * 1.4)), "seasons saucers census" if i % 2 else "access scenes oceans",
                      fill=0, font=font)
    return np.asarray(img)


def line_art_image(h: int = 120, w: int = 160) -> np.ndarray:
    """Line art (uint8 grey): a ring drawn 2 px wide on white paper, anti-aliased as a drawing
    program would (a few grey pixels at its edges); its blank sheet is outside the ring."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - h / 2, xx - w / 2)
    return (255 * np.clip(np.abs(r - 40) - 0.5, 0.0, 1.0)).astype(np.uint8)
