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
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "not a checkpoint" in capsys.readouterr().err
