"""ONNX export checks itself, and the CLI says so."""

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import onnxruntime as ort  # noqa: E402

from irodori.cli import main  # noqa: E402


def test_exported_interface_is_fixed_and_dynamic(tiny_onnx):
    model = onnx.load(str(tiny_onnx))
    onnx.checker.check_model(model)
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    assert inputs == {"l": ["n", 1, "h", "w"], "hints": ["n", 3, "h", "w"]}
    assert outputs == {"ab": ["n", 2, "h", "w"]}
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["irodori.size_multiple"] == "8" and meta["irodori.max_side"] == "128"


def test_onnxruntime_matches_torch_at_an_untrained_size(tiny_run, tiny_onnx):
    import torch

    from irodori.checkpoint import load_generator

    model, _ = load_generator(tiny_run)
    model.eval()
    rng = np.random.default_rng(0)
    l = rng.uniform(-1, 1, (2, 1, 40, 72)).astype(np.float32)
    hints = np.zeros((2, 3, 40, 72), np.float32)
    hints[:, :, 10, 10] = (0.2, 0.4, 1.0)
    with torch.no_grad():
        ref = model(torch.from_numpy(l), torch.from_numpy(hints)).numpy()
    got = ort.InferenceSession(str(tiny_onnx)).run(["ab"], {"l": l, "hints": hints})[0]
    assert np.abs(got - ref).max() < 1e-3


def test_cli_export_reports_the_error(tiny_run, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(tiny_run), "-o", str(out)]) == 0
    assert "max |onnxruntime - torch|" in capsys.readouterr().out
    assert out.is_file()
    made = out.stat().st_mtime_ns
    assert main(["export", str(tiny_run), "-o", str(out)]) == 2  # an existing model is not written over unasked
    assert "m.onnx exists; --overwrite to replace it" in capsys.readouterr().err and out.stat().st_mtime_ns == made
    assert main(["export", str(tiny_run), "-o", str(out), "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "not a checkpoint" in capsys.readouterr().err
    assert main(["export", str(tiny_run), "-o", str(tmp_path / "out.txt")]) == 2  # helper 63: it was written
    assert "an exported model is an ONNX file; name it out.onnx" in capsys.readouterr().err
    assert not (tmp_path / "out.txt").exists()


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory):
    from irodori.config import load_config
    from irodori.train import train

    out = tmp_path_factory.mktemp("cls-run")
    train(load_config("tiny", {"out_dir": str(out), "steps": 2, "val_every": 0, "model": {"head": "classification"},
                               "loss": {"classification": 1.0}}), dry_run=True, progress=False)
    return out


def test_the_annealed_mean_temperature_is_an_optional_input(classification_run, tmp_path):
    import torch

    from irodori.checkpoint import load_generator
    from irodori.export import export_onnx

    path = tmp_path / "cls.onnx"
    export_onnx(classification_run, path, max_side=128)
    model, _ = load_generator(classification_run)
    model.eval()
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["l", "hints"]  # old callers feed only these
    assert [(i.name, i.shape) for i in session.get_overridable_initializers()] == [("temperature", [])]
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert float(meta["irodori.temperature"]) == pytest.approx(model.config.temperature)
    rng = np.random.default_rng(1)
    l = rng.uniform(-1, 1, (1, 1, 24, 40)).astype(np.float32)
    hints = np.zeros((1, 3, 24, 40), np.float32)
    for t in (None, 0.1, 0.3, 1.0):
        feed = {"l": l, "hints": hints} if t is None else {"l": l, "hints": hints, "temperature": np.array(t, np.float32)}
        with torch.no_grad():
            ref = model(torch.from_numpy(l), torch.from_numpy(hints), temperature=t).numpy()
        assert np.abs(session.run(["ab"], feed)[0] - ref).max() < 1e-3, t
    low, high = (session.run(["ab"], {"l": l, "hints": hints, "temperature": np.array(t, np.float32)})[0]
                 for t in (0.1, 1.0))
    assert np.abs(low - high).max() > 1e-3  # the input is used


def test_a_regression_head_has_no_temperature_input(tiny_onnx):
    session = ort.InferenceSession(str(tiny_onnx))
    assert session.get_overridable_initializers() == []
    assert "irodori.temperature" not in {p.key for p in onnx.load(str(tiny_onnx)).metadata_props}



def test_a_shipped_export_reads_its_weights_from_the_checkpoint_file(classification_run, tmp_path):
    """export_onnx(weights=...): the .onnx holds the graph alone (the batch norms unfolded, the
    float16 tensors cast back to float32) and colours as the self-contained export does; moved
    away from its weights it does not load."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    from irodori.checkpoint import resolve_checkpoint
    from irodori.colorizer import OnnxBackend
    from irodori.export import export_onnx
    from irodori.registry import ModelError, sha256_file

    run = resolve_checkpoint(classification_run)
    shipped = tmp_path / "m-v1"  # as scripts/ship_model.py writes a shipped model: float16 weights
    shipped.mkdir()
    half = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(run / "model.safetensors")).items()}
    save_file(half, str(shipped / "model.safetensors"))
    meta = json.loads((run / "checkpoint.json").read_text())
    meta["sha256"] = {"model.safetensors": sha256_file(shipped / "model.safetensors")}
    (shipped / "checkpoint.json").write_text(json.dumps(meta))
    weights_before = (shipped / "model.safetensors").read_bytes()

    alone, graph = tmp_path / "alone.onnx", tmp_path / "m-v1.onnx"
    export_onnx(shipped, alone, max_side=128)
    report = export_onnx(shipped, graph, max_side=128, weights=shipped / "model.safetensors")
    assert report["external"] > 10 and graph.stat().st_size < alone.stat().st_size / 3
    assert (shipped / "model.safetensors").read_bytes() == weights_before
    nodes = {n.op_type for n in onnx.load(str(graph), load_external_data=False).graph.node}
    assert {"BatchNormalization", "Cast"} <= nodes
    rng = np.random.default_rng(2)
    l = rng.uniform(-1, 1, (1, 1, 24, 40)).astype(np.float32)
    hints = np.zeros((1, 3, 24, 40), np.float32)
    hints[0, :, 5, 7] = (0.3, -0.1, 1.0)
    np.testing.assert_allclose(OnnxBackend(graph).run(l, hints), OnnxBackend(alone).run(l, hints), atol=1e-5)

    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copy(graph, moved)
    with pytest.raises(ModelError, match=r"elsewhere.*reads its weights from .*m-v1/model.safetensors.*missing"):
        OnnxBackend(moved / graph.name)


def test_export_int8_writes_a_quantised_model_the_colorizer_uses(tiny_run, colour_folder, tmp_path, capsys):
    import onnx

    out = tmp_path / "m-int8.onnx"
    assert main(["export", str(tiny_run), "-o", str(out), "--int8", "--calibrate", str(colour_folder)]) == 0
    said = capsys.readouterr().out
    assert f"wrote {out}: int8" in said and "calibrated on 6 images" in said
    graph = onnx.load(str(out)).graph
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)  # quantised, not the float graph renamed
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["irodori.name"] == "m-int8"  # the file's name, as a float export's (not the temporary file's)
    from irodori.colorizer import load_colorizer

    page = np.asarray(load_colorizer(out, threads=1).colorize(colour_folder / "img0.png"))
    assert page.shape == (64, 96, 3)
    # the run was trained on synthetic images: no folder to calibrate on but --calibrate's
    assert main(["export", str(tiny_run), "-o", str(tmp_path / "x.onnx"), "--int8"]) == 2
    assert "give --calibrate DIR" in capsys.readouterr().err
    assert main(["export", str(tiny_run), "-o", str(tmp_path / "x.onnx"), "--calibrate", str(colour_folder)]) == 2
    assert "--calibrate is for --int8" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
