"""The shipped model: hash-checked loading, a golden image, fine-tuning from it.

Regenerate the golden output after shipping a new model (and look at it):
    IRODORI_UPDATE_GOLDEN=1 pytest tests/test_shipped_model.py
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irodori.colorizer import OnnxBackend, load_colorizer
from irodori.metrics import colorfulness
from irodori.registry import MODELS, ModelIntegrityError, models_dir, shipped_onnx_path, verify

REPO = Path(__file__).resolve().parents[1]

GOLDEN_IN = REPO / "tests" / "data" / "golden_input.png"
GOLDEN_OUT = REPO / "tests" / "data" / "golden_general.png"


def test_every_registered_model_is_shipped_and_hash_checked():
    for name, info in MODELS.items():
        path = shipped_onnx_path(name)
        assert path.stat().st_size < 25 * 1024 * 1024
        assert verify(models_dir() / info.weights_dir / "model.safetensors", info.weights_sha256)
        assert (REPO / info.card).is_file()
        assert OnnxBackend(path).name == name


def test_int8_default_stays_close_to_the_float_model():
    from irodori.color import rgb_to_l

    grey = np.asarray(Image.open(GOLDEN_IN).convert("L"))
    f32 = np.asarray(load_colorizer("general").colorize(GOLDEN_IN)).astype(np.int16)
    int8 = np.asarray(load_colorizer("general-int8").colorize(GOLDEN_IN)).astype(np.int16)
    assert np.abs(rgb_to_l(int8.astype(np.uint8)) - rgb_to_l(np.stack([grey] * 3, -1))).max() < 0.6
    diff = np.abs(f32 - int8)
    assert diff.mean() < 1.5 and np.percentile(diff, 99) < 15  # quantisation noise, not other colours
    assert np.abs(int8 - int8.mean(axis=-1, keepdims=True)).mean() > 2  # and it does colour


@pytest.mark.parametrize("name", [n for n in MODELS if n.endswith("-int8")])
def test_int8_weights_fit_every_cpus_integer_sums(name):
    """x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) add pairs of uint8 x int8 products in
    16 bits (vpmaddubsw): full-range int8 weights overflow that sum, and the default model's
    colours went grey on such a CPU. Weights within +-64 keep 255 * 64 * 2 under 32,767, so every
    CPU computes what a VNNI one does (quantize_model.quantize: reduce_range)."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    weights = [numpy_helper.to_array(t) for t in onnx.load(str(shipped_onnx_path(name))).graph.initializer
               if t.data_type == onnx.TensorProto.INT8]
    assert len(weights) > 50  # the network's quantised convolutions are there
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= 64


def test_a_damaged_model_file_is_refused(tmp_path):
    info = MODELS["general"]
    copy = tmp_path / info.onnx
    shutil.copy(models_dir() / info.onnx, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match"):
        verify(copy, info.onnx_sha256)


def test_a_float_model_whose_weights_file_is_damaged_is_refused(tmp_path, monkeypatch):
    """The float models' .onnx files read their weights from the shipped model.safetensors
    (ONNX external data): both files are hash-checked before loading."""
    from irodori import registry

    info = MODELS["manga"]
    assert info.onnx_reads_weights and not MODELS["manga-int8"].onnx_reads_weights
    shutil.copy(models_dir() / info.onnx, tmp_path / info.onnx)
    shutil.copytree(models_dir() / info.weights_dir, tmp_path / info.weights_dir)
    monkeypatch.setattr(registry, "models_dir", lambda: tmp_path)
    assert OnnxBackend(shipped_onnx_path("manga")).paints  # the copy loads, beside its weights
    weights = tmp_path / info.weights_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="model.safetensors: sha256 .* does not match"):
        shipped_onnx_path("manga")


def test_golden_image(tmp_path):
    out = np.asarray(load_colorizer("general").colorize(GOLDEN_IN)).astype(np.int16)
    if os.environ.get("IRODORI_UPDATE_GOLDEN"):
        Image.fromarray(out.astype(np.uint8)).save(GOLDEN_OUT)
        pytest.skip("golden image rewritten")
    ref = np.asarray(Image.open(GOLDEN_OUT)).astype(np.int16)
    diff = np.abs(out - ref)
    # onnxruntime may differ by a rounding step across CPUs; a changed model differs by far more.
    if diff.max() > 6 or diff.mean() > 0.25:
        Image.fromarray(out.astype(np.uint8)).save(tmp_path / "actual.png")
        Image.fromarray(np.clip(diff * 20, 0, 255).astype(np.uint8)).save(tmp_path / "diff_x20.png")
        pytest.fail(f"output differs from the golden image (max {diff.max()}, mean {diff.mean():.3f}); "
                    f"see {tmp_path}/actual.png and diff_x20.png")
    assert colorfulness(out.astype(np.uint8)) > 5  # the shipped model colours, it does not return grey


@pytest.mark.parametrize("name, preset", [("general", "default"), ("manga", "paint")])
def test_fine_tune_from_the_shipped_model(tmp_path, colour_folder, name, preset):
    pytest.importorskip("torch")
    from irodori.cli import main

    code = main(["train", str(colour_folder), "--init", name, "--preset", preset, "--out", str(tmp_path),
                 "--steps=1", "--val_every=0", "--data.crop_size=64", "--data.workers=0", "--batch_size=2",
                 "--data.val_dirs=", "-q"])
    assert code == 0
    from irodori.checkpoint import read_meta

    from irodori.model import GeneratorConfig

    shipped = GeneratorConfig(**read_meta(models_dir() / MODELS[name].weights_dir)["arch"])
    assert read_meta(tmp_path)["arch"] == shipped.to_dict()  # fields added since it shipped take their defaults


def test_the_manga_model_colours_with_its_own_weights():
    from irodori.color import rgb_to_l

    grey = np.stack([np.asarray(Image.open(GOLDEN_IN).convert("L"))] * 3, -1)
    general = np.asarray(load_colorizer("general").colorize(GOLDEN_IN)).astype(np.int16)
    manga = np.asarray(load_colorizer("manga", mode="tint").colorize(GOLDEN_IN))
    assert np.abs(rgb_to_l(manga) - rgb_to_l(grey)).max() < 0.6  # the input's lightness, kept
    assert colorfulness(manga) > 5
    assert np.abs(manga.astype(np.int16) - general).mean() > 1  # not the general model under another name


def test_the_default_paints_1_bit_line_art_and_keeps_its_ink():
    """Line art on white, 1-bit: automatic mode paints it with the shipped paint model (white paper
    takes colour), and the ink stays ink; a red hint on paper turns its region red."""
    from irodori.color import rgb_to_lab

    art = np.full((240, 320), 255, np.uint8)
    art[40:44, 30:290] = art[196:200, 30:290] = 0  # a closed box...
    art[40:200, 30:34] = art[40:200, 286:290] = 0
    art[40:200, 158:162] = 0  # ...split in two rooms
    art = np.asarray(Image.fromarray(art).convert("1").convert("L"))
    colorizer = load_colorizer()
    out = colorizer.colorize(art)
    assert out.info["irodori.mode"] == "paint"
    lab = rgb_to_lab(np.asarray(out))
    ink = art == 0
    assert np.abs(lab[..., 0][ink] - 0.0).max() <= 3.0  # ink kept
    hinted = rgb_to_lab(np.asarray(colorizer.colorize(art, hints=[(90, 120, "#d02020")])))
    red = rgb_to_lab(np.array([[[208, 32, 32]]], np.uint8))[0, 0]
    assert np.linalg.norm(hinted[110:130, 80:100].reshape(-1, 3).mean(0) - red) < 10.0
    assert np.linalg.norm(hinted[110:130, 220:240].reshape(-1, 3).mean(0) - red) > 20.0  # the other room
