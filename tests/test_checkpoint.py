"""Checkpoints: self-describing, atomic, strict."""

import json

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file, save_file  # noqa: E402

from irodori.checkpoint import CheckpointError, load_generator, read_meta, resolve_checkpoint, save_checkpoint  # noqa: E402
from irodori.model import Generator, GeneratorConfig  # noqa: E402

TINY = GeneratorConfig(channels=(8, 16, 16), enc_blocks=(1, 1, 1), dec_blocks=(1, 1))


def _save(tmp_path, step=3, **kw):
    torch.manual_seed(0)
    model = Generator(TINY)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.rand(2, 1, 32, 32), torch.zeros(2, 3, 32, 32)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path, model=model, step=step, config={"k": 1}, optimizer=opt,
                           data_manifest_sha256="abc", metrics={"val_l1": 0.1}, **kw)
    return model, path


def test_round_trip_is_exact_and_self_describing(tmp_path):
    model, path = _save(tmp_path)
    loaded, meta = load_generator(tmp_path)  # a run directory resolves to its latest checkpoint
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert meta["arch"]["channels"] == [8, 16, 16]
    assert meta["step"] == 3 and meta["data_manifest_sha256"] == "abc" and meta["metrics"] == {"val_l1": 0.1}
    assert meta["config"] == {"k": 1}
    assert resolve_checkpoint(tmp_path) == path


def test_only_the_newest_are_kept_and_no_temporaries_remain(tmp_path):
    for step in (1, 2, 3, 4):
        _save(tmp_path, step=step, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["latest", "step-0000003", "step-0000004"]
    assert (tmp_path / "latest").read_text().strip() == "step-0000004"


def test_strict_load_names_the_keys_that_differ(tmp_path):
    _, path = _save(tmp_path)
    state = load_file(str(path / "model.safetensors"))
    state.pop("head.bias")
    state["extra.weight"] = torch.zeros(1)
    state["stem.0.weight"] = torch.zeros(1, 2, 3, 3)
    save_file(state, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    message = str(err.value)
    assert "missing: head.bias" in message
    assert "unexpected: extra.weight" in message
    assert "shape mismatch: stem.0.weight" in message


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_generator(tmp_path)
    _, path = _save(tmp_path)
    meta = json.loads((path / "checkpoint.json").read_text())
    meta["format"] = "something-else"
    (path / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not an irodori checkpoint"):
        read_meta(path)
