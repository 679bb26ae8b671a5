"""Checkpoints: self-describing, atomic, strict."""

import json
import re

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
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)  # a checkpoint folder gets a new folder's usual permissions (it was 0700: helper 58)
    assert stat.S_IMODE((tmp_path / "step-0000004").stat().st_mode) == 0o777 & ~umask


def test_strict_load_names_the_keys_that_differ(tmp_path):
    _, path = _save(tmp_path)
    meta = json.loads((path / "checkpoint.json").read_text())
    del meta["sha256"]  # as checkpoints written before the digests: the weights are edited below
    (path / "checkpoint.json").write_text(json.dumps(meta))
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


# ----------------------------------------------------------------------------------------------
# Damaged or hostile checkpoints: one line naming the file and the problem, wherever they are used
# ----------------------------------------------------------------------------------------------
def _edit_json(file, change):
    data = json.loads(file.read_text())
    file.write_text(json.dumps(change(data)))


def _edit_arch(checkpoint, **values):
    _edit_json(checkpoint / "checkpoint.json", lambda m: {**m, "arch": {**m["arch"], **values}})


def _flip_byte(file, offset_from_end=100):
    data = bytearray(file.read_bytes())
    data[-offset_from_end] ^= 0x40
    file.write_bytes(bytes(data))


def _truncate(file):
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def _without_digest(checkpoint):
    _edit_json(checkpoint / "checkpoint.json", lambda m: {k: v for k, v in m.items() if k != "sha256"})
    return checkpoint


DAMAGES = {  # name -> (damage(run_dir, checkpoint_dir), file the message must name, what it must say)
    "weights cut in half": (lambda run, ck: _truncate(ck / "model.safetensors"), "model.safetensors",
                            "does not match the"),
    # Checkpoints from before the digests: the file itself is found damaged.
    "old weights cut in half": (lambda run, ck: _truncate(_without_digest(ck) / "model.safetensors"),
                                "model.safetensors", "not a readable safetensors file"),
    "old weights header not JSON": (lambda run, ck: (_without_digest(ck) / "model.safetensors").write_bytes(
        (ck / "model.safetensors").read_bytes()[:8] + b"\xff\xfe{not json" + b"\0" * 64), "model.safetensors",
        "not a readable safetensors file"),
    "a flipped weight byte": (lambda run, ck: _flip_byte(ck / "model.safetensors"), "model.safetensors",
                              "recorded in checkpoint.json"),
    "checkpoint.json a list": (lambda run, ck: (ck / "checkpoint.json").write_text("[1, 2]"), "checkpoint.json",
                               "holds a JSON list"),
    "checkpoint.json not JSON": (lambda run, ck: (ck / "checkpoint.json").write_bytes(b"\x00\xff{"),
                                 "checkpoint.json", "not valid JSON"),
    "checkpoint.json without arch": (lambda run, ck: _edit_json(ck / "checkpoint.json",
                                     lambda m: {k: v for k, v in m.items() if k != "arch"}), "checkpoint.json",
                                     "no architecture"),
    "unknown architecture keys": (lambda run, ck: _edit_arch(ck, wings=2), "checkpoint.json",
                                  "unknown architecture keys wings"),
    # Values of the wrong type or range got past the keys' check: ZeroDivisionError, TypeError or a
    # 1.6 TiB allocation when the network was built (found by a helper trying variants).
    "arch value not a number": (lambda run, ck: _edit_arch(ck, bin_step="ten"), "checkpoint.json",
                                "model.bin_step must be a number in [2, 50], not 'ten'"),
    "arch value zero": (lambda run, ck: _edit_arch(ck, bin_step=0), "checkpoint.json",
                        "model.bin_step must be a number"),
    "arch count as text": (lambda run, ck: _edit_arch(ck, hint_channels="3"), "checkpoint.json",
                           "model.hint_channels must be an integer in [3, 4], not '3'"),
    "arch widths huge": (lambda run, ck: _edit_arch(ck, channels=[8, 16, 100000]), "checkpoint.json",
                         "model.channels must be an integer in [1, 4096], not 100000"),  # 360 GB asked
    "arch widths as text": (lambda run, ck: _edit_arch(ck, channels=["8", "16", "16"]), "checkpoint.json",
                            "model.channels must be an integer"),
    "a binary latest": (lambda run, ck: (run / "latest").write_bytes(b"\x89\xff\x00step"), "latest",
                        "not the name of a checkpoint"),
    "latest naming a folder outside": (lambda run, ck: (run / "latest").write_text("../elsewhere\n"), "latest",
                                       "not the name of a checkpoint"),
}


@pytest.fixture(scope="module")
def pristine_run(tmp_path_factory):
    from irodori.config import load_config
    from irodori.train import train

    out = tmp_path_factory.mktemp("pristine")
    train(load_config("tiny", {"out_dir": str(out), "steps": 2, "val_every": 0, "checkpoint_every": 2}),
          dry_run=True, progress=False)
    return out


def _damaged_copy(pristine_run, tmp_path, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(pristine_run, run)
    damage(run, run / "step-0000002")
    return run


def _one_line_error(capsys, code, file_name, says):
    err = capsys.readouterr().err
    assert code in (1, 2) and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert file_name in last and says in last, err
    return last


@pytest.mark.parametrize("name", DAMAGES)
def test_a_damaged_checkpoint_is_one_clear_line_in_colorize_export_and_resume(pristine_run, tmp_path, capsys, name):
    from PIL import Image

    from irodori.cli import main

    damage, file_name, says = DAMAGES[name]
    run = _damaged_copy(pristine_run, tmp_path, damage)
    with pytest.raises(CheckpointError, match=re.escape(says)):  # the library's own error, at load time
        load_generator(run)
    Image.new("L", (16, 16), 128).save(tmp_path / "page.png")
    code = main(["colorize", str(tmp_path / "page.png"), "--model", str(run), "-o", str(tmp_path / "out"), "-q"])
    _one_line_error(capsys, code, file_name, says)
    _one_line_error(capsys, main(["export", str(run), "-o", str(tmp_path / "m.onnx")]), file_name, says)
    _one_line_error(capsys, main(["train", "--resume", str(run), "--dry-run", "-q"]), file_name, says)
    assert not (tmp_path / "out" / "page.png").exists() and not (tmp_path / "m.onnx").exists()


def test_a_training_state_without_optimizer_cannot_resume_but_still_colours(pristine_run, tmp_path, capsys):
    from irodori.cli import main

    run = _damaged_copy(pristine_run, tmp_path, lambda run, ck: _edit_json(
        ck / "train_state.json", lambda s: {k: v for k, v in s.items() if k != "optimizer"}))
    load_generator(run)  # the weights are fine
    last = _one_line_error(capsys, main(["train", "--resume", str(run), "--dry-run", "-q"]), "train_state.json",
                           "no optimizer state")
    assert "--init" in last


def test_checkpoints_record_the_digest_of_each_tensor_file_and_old_ones_still_load(tmp_path):
    from irodori.registry import sha256_file

    _, path = _save(tmp_path)
    digests = read_meta(path)["sha256"]
    assert digests == {f.name: sha256_file(f) for f in path.glob("*.safetensors")}
    assert set(digests) == {"model.safetensors", "train_state.safetensors"}
    load_generator(_without_digest(path))  # written before digests: loads, unchecked


def test_non_finite_weights_or_statistics_are_refused_at_load(tmp_path):
    model, path = _save(tmp_path)
    _without_digest(path)
    state = load_file(str(path / "model.safetensors"))
    name = next(k for k in state if k.endswith("running_var"))
    state[name][0] = float("inf")
    save_file(state, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=rf"model.safetensors: 1 tensors hold NaN or inf \(e.g. {name}\)"):
        load_generator(path)


def test_a_save_removes_the_staging_folders_of_a_killed_save(tmp_path):
    import os
    import time

    old = time.time() - 3600
    killed = tmp_path / ".step-0000002.k2x9_q1a"  # what save_checkpoint stages in, left by kill -9
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"half")
    writing = tmp_path / ".step-0000002.abcdefgh"  # another writer's, still being written
    writing.mkdir()
    (writing / "model.safetensors").write_bytes(b"half")
    users = tmp_path / ".step-notes"
    users.mkdir()
    stale_latest = tmp_path / ".irodori-0a1b2c3d.tmp"  # a killed write of `latest`
    stale_latest.write_bytes(b"step-")
    for path in (killed / "model.safetensors", killed, users, stale_latest):
        os.utime(path, (old, old))
    os.utime(writing, (old, old))  # an old folder with a fresh file is still being written
    _save(tmp_path, step=3)
    assert not killed.exists() and not stale_latest.exists()
    assert writing.is_dir() and users.is_dir() and (tmp_path / "step-0000003").is_dir()
