"""The CLI end to end: real files in, real files out, bad files reported, exit codes."""

import os
import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irodori.cli import main


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "irodori.cli", *args], capture_output=True, timeout=120, **kw)


def test_help_lists_every_command_and_is_fast():
    t0 = time.perf_counter()
    proc = _run("--help", text=True)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0
    for command in ("colorize", "train", "export", "evaluate", "serve", "models"):
        assert command in proc.stdout
    assert elapsed < 5  # generous for CI; the real figure is in docs/BENCHMARKS.md


def test_help_and_version_import_nothing_heavy():
    code = ("import sys\nfrom irodori.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'onnxruntime', 'numpy', 'PIL') if m in sys.modules]\n"
            "print('HEAVY:' + ','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "irodori 0." in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_models_lists_the_shipped_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "general-int8 (default: tints under auto)" in out and out.startswith("general\n")
    assert "manga-int8 (default: paints under auto)" in out  # the default is auto, per image
    from irodori.registry import MODELS

    assert all(f"file: {info.onnx}\n" in out for info in MODELS.values())  # the file names carry the version


def test_every_entry_point_has_the_same_default_model():
    import inspect

    import irodori
    from irodori import cluster, colorizer
    from irodori.cli import build_parser
    from irodori.registry import AUTO_MODEL, DEFAULT_MODEL, DEFAULT_PAINT_MODEL, MODELS

    assert DEFAULT_MODEL in MODELS and DEFAULT_PAINT_MODEL in MODELS and AUTO_MODEL not in MODELS
    colorize_args = build_parser().parse_args(["colorize", "x", "-o", "y"])
    assert colorize_args.model == AUTO_MODEL
    for fn in (irodori.load_colorizer, colorizer.load_colorizer, cluster.colorize_archive):
        assert inspect.signature(fn).parameters["model"].default == AUTO_MODEL, fn


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 60)) * 255).astype(np.uint8)).save(folder / "a.png")
    Image.fromarray((rng.random((50, 30, 3)) * 255).astype(np.uint8)).save(folder / "b.jpg")
    Image.fromarray((rng.random((20, 20)) * 255).astype(np.uint8)).save(folder / "sub" / "c.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.png").write_text("hello")
    return folder


def test_folder_batch_reports_bad_files_and_continues(tiny_onnx, inputs, tmp_path):
    out = tmp_path / "out"
    proc = _run("colorize", str(inputs), "-o", str(out), "--model", str(tiny_onnx), "-q", text=True)
    assert proc.returncode == 1  # something failed
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert "broken.png" in proc.stderr and "notes.png" in proc.stderr
    assert "2 coloured, 0 skipped" in proc.stderr and "2 failed" in proc.stderr
    assert Image.open(out / "a.png").size == (60, 40)


def test_recursive_existing_outputs_and_overwrite(tiny_onnx, inputs, tmp_path):
    out = tmp_path / "out"
    for bad in ("broken.png", "notes.png"):
        (inputs / bad).unlink()
    args = ["colorize", str(inputs), "-r", "-o", str(out), "--model", str(tiny_onnx), "-q"]
    assert _run(*args).returncode == 0
    assert (out / "sub" / "c.png").is_file()
    stamp = (out / "a.png").stat().st_mtime_ns
    again = _run(*args, text=True)
    assert again.returncode == 0 and "0 coloured, 3 skipped" in again.stderr
    assert (out / "a.png").stat().st_mtime_ns == stamp
    assert _run(*args, "--overwrite").returncode == 0
    assert (out / "a.png").stat().st_mtime_ns != stamp
    assert not list(out.rglob("*.tmp"))


def test_globs_formats_and_missing_inputs(tiny_onnx, inputs, tmp_path):
    out = tmp_path / "out"
    proc = _run("colorize", str(inputs / "*.jpg"), str(tmp_path / "missing.png"), "-o", str(out),
                "--format", "webp", "--model", str(tiny_onnx), text=True)
    assert proc.returncode == 1
    assert "missing.png: no such file" in proc.stderr
    assert Image.open(out / "b.webp").format == "WEBP"


def test_jpeg_is_jpg_and_an_encoding_setting_the_format_cannot_use_is_warned_of(tiny_onnx, tmp_path, caplog):
    """Helper 56: --format jpeg was refused, and --quality with png output was taken without a word."""
    Image.new("L", (16, 12), 100).save(tmp_path / "p.png")
    args = ["colorize", str(tmp_path / "p.png"), "--model", str(tiny_onnx), "--overwrite"]
    with caplog.at_level("WARNING", logger="irodori.batch"):
        assert main([*args, "-o", str(tmp_path / "j"), "--format", "JPEG", "--quality", "80"]) == 0
        assert Image.open(tmp_path / "j" / "p.jpg").format == "JPEG"
        assert "unused" not in caplog.text
        assert main([*args, "-o", str(tmp_path / "p"), "--quality", "80"]) == 0
        assert "--quality: unused with png output (png, the default format, is lossless" in caplog.text
        assert main([*args, "-o", str(tmp_path / "j"), "--format", "jpg", "--png-compression", "9"]) == 0
        assert "--png-compression: unused with jpg output" in caplog.text


def test_o_with_an_image_extension_is_the_one_inputs_output_file(tiny_onnx, tmp_path, capsys):
    """`-o page.png` for one page made a folder page.png/ holding page.png/p.png (found trying it
    as a new user): it is now the output file, its format the extension's."""
    import zipfile

    Image.new("L", (16, 12), 100).save(tmp_path / "p.png")
    args = ["colorize", str(tmp_path / "p.png"), "--model", str(tiny_onnx), "-q"]
    assert main([*args, "-o", str(tmp_path / "out" / "coloured.JPEG")]) == 0
    assert Image.open(tmp_path / "out" / "coloured.JPEG").format == "JPEG"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["coloured.JPEG"]
    assert main([*args, "-o", str(tmp_path / "out" / "coloured.JPEG")]) == 0  # there: skipped, as in a folder
    assert "1 skipped" in capsys.readouterr().err
    (tmp_path / "dir.png").mkdir()  # a folder of that name stays a folder
    assert main([*args, "-o", str(tmp_path / "dir.png")]) == 0 and (tmp_path / "dir.png" / "p.png").is_file()
    for output, extra, said in (("c.png", ["--format", "webp"], "is a png file, but --format webp"),
                                ("c.cbz", [], "is an archive, but"),
                                ("p.png", [], "is the input itself")):
        assert main([*args, "-o", str(tmp_path / output), *extra]) == 2
        assert said in capsys.readouterr().err
    assert main(["colorize", str(tmp_path / "p.png"), str(tmp_path / "p.png"), "-o", str(tmp_path / "two.png"),
                 "--model", str(tiny_onnx)]) == 2
    assert "the inputs are several; give an output folder" in capsys.readouterr().err
    assert not (tmp_path / "two.png").exists() and not (tmp_path / "c.png").exists()
    assert main([*args, "-o", str(tmp_path / "p.tif")]) == 2  # read, not written: it made a folder p.tif/ (helper 61)
    assert "names a TIF file, which irodori does not write" in capsys.readouterr().err
    assert not (tmp_path / "p.tif").exists()
    assert main([*args, "-o", str(tmp_path / "scans.tif") + "/"]) == 0  # a trailing slash says folder
    assert (tmp_path / "scans.tif" / "p.png").is_file()
    with zipfile.ZipFile(tmp_path / "ch.cbz", "w") as z:
        z.write(tmp_path / "p.png", "001.png")
    assert main(["colorize", str(tmp_path / "ch.cbz"), "-o", str(tmp_path / "ch-colour.cbz"), "--model",
                 str(tiny_onnx), "-q"]) == 0
    with zipfile.ZipFile(tmp_path / "ch-colour.cbz") as z:
        assert z.namelist() == ["001.png"]


def test_a_glob_mirrors_the_folders_below_its_first_wildcard(tiny_onnx, tmp_path, capsys):
    for volume in ("vol1", "vol2"):
        (tmp_path / volume).mkdir()
        Image.new("L", (8, 6), 100).save(tmp_path / volume / "p001.png")
    pattern = str(tmp_path / "vol*" / "p*.png")
    assert main(["colorize", pattern, "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "-q"]) == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == [
        "vol1/p001.png", "vol2/p001.png"]


def test_decompression_bomb_is_refused_then_allowed(tiny_onnx, tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (3000, 3000), 128).save(big)
    out = tmp_path / "out"
    proc = _run("colorize", str(big), "-o", str(out), "--model", str(tiny_onnx), "--max-pixels", "1000000", text=True)
    assert proc.returncode == 1 and "too many pixels" in proc.stderr and "--max-pixels" in proc.stderr
    proc = _run("colorize", str(big), "-o", str(out), "--model", str(tiny_onnx), "--max-pixels", "10000000")
    assert proc.returncode == 0 and (out / "big.png").is_file()


def test_stdin_to_stdout(tiny_onnx, inputs):
    data = (inputs / "a.png").read_bytes()
    proc = _run("colorize", "-", "--model", str(tiny_onnx), input=data)
    assert proc.returncode == 0
    from io import BytesIO

    assert Image.open(BytesIO(proc.stdout)).size == (60, 40)
    bad = _run("colorize", "-", "--model", str(tiny_onnx), input=b"garbage")
    assert bad.returncode == 1 and b"<stdin>" in bad.stderr


def test_usage_errors(tiny_onnx, inputs, tmp_path):
    assert _run("colorize", str(inputs)).returncode == 2  # no -o
    proc = _run("colorize", str(inputs), "-o", str(tmp_path / "o"), "--model", "no-such-model", text=True)
    assert proc.returncode == 2 and "unknown model" not in proc.stdout and "no such model" in proc.stderr
    proc = _run("colorize", str(inputs), "-o", str(tmp_path / "o"), "--threads", "0", text=True)
    assert proc.returncode == 2 and "--threads must be at least 1" in proc.stderr


def test_checkpoint_directory_as_model(tiny_run, inputs, tmp_path):
    (inputs / "broken.png").unlink()
    (inputs / "notes.png").unlink()
    out = tmp_path / "out"
    proc = _run("colorize", str(inputs / "a.png"), "-o", str(out), "--model", str(tiny_run))
    assert proc.returncode == 0 and (out / "a.png").is_file()


def test_train_bad_override_and_missing_folder(tmp_path):
    proc = _run("train", "--preset", "tiny", "--data.crop_size=33", text=True)
    assert proc.returncode == 2 and "data.crop_size" in proc.stderr
    proc = _run("train", str(tmp_path / "nowhere"), "--preset", "tiny", "--out", str(tmp_path / "r"), "-q", text=True)
    assert proc.returncode == 2 and "not found" in proc.stderr  # a usage error, said first (helper 58)


def test_train_from_a_folder_then_evaluate(colour_folder, tmp_path):
    run = tmp_path / "run"
    proc = _run("train", str(colour_folder), "--val", str(colour_folder), "--preset", "tiny", "--out", str(run),
                "--steps=2", "--val_every=2", "-q", text=True)
    assert proc.returncode == 0, proc.stderr
    strip = np.asarray(Image.open(run / "samples" / "step-0000002.png").convert("L"))[:14]
    assert np.median(strip) == 255 and strip.min() < 100  # a white strip naming the columns (helper 63)
    onnx_path = tmp_path / "m.onnx"
    assert _run("export", str(run), "-o", str(onnx_path)).returncode == 0
    report = tmp_path / "eval.json"
    proc = _run("evaluate", str(onnx_path), str(colour_folder), "--json", str(report), "-q", text=True)
    assert proc.returncode == 0, proc.stderr
    assert "grayscale baseline" in proc.stdout
    import json

    result = json.loads(report.read_text())
    assert result["images"] == 6
    assert result["grayscale"]["colorfulness"] < 1.0  # grey has (almost) no colour
    assert result["truth"]["colorfulness"] > 10


def test_evaluate_no_fd_skips_the_frechet_distance(tiny_onnx, colour_folder, capsys):
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--no-fd", "--limit", "2", "-q"]) == 0
    out = capsys.readouterr().out
    assert "| SSIM | CF | CF / truth | ΔCF | FD |" in out and "FD not computed (switched off)." in out


def test_evaluate_usage_errors_are_exit_2_and_say_the_evaluate_way(tiny_onnx, colour_folder, tmp_path, capsys):
    """Helper 55: a missing folder and --sample-hints -3 exited 1 ("hints must be 0 or more", the
    flag unnamed); --mode paint with a model that only tints advised "--model manga", a flag
    evaluate does not have; --threads did not exist."""
    missing = tmp_path / "nowhere"
    assert main(["evaluate", str(tiny_onnx), str(missing), "--no-fd", "-q"]) == 2
    assert capsys.readouterr().err == f"irodori evaluate: {missing}: no such folder\n"
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", str(tiny_onnx), str(colour_folder), "--sample-hints", "-3"])
    assert exit_.value.code == 2 and "--sample-hints: must be 0 or more, not -3" in capsys.readouterr().err
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--mode", "paint", "--no-fd", "-q"]) == 2
    assert (f"only tints (try: irodori evaluate manga {colour_folder} --mode paint)"
            in capsys.readouterr().err)
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--no-fd", "--limit", "1", "--threads", "1",
                 "-q"]) == 0


def test_evaluate_draws_its_bar_on_a_terminal_only_and_ends_it_full(tiny_onnx, colour_folder, capsys):
    """Helper 56: evaluate drew its bar into a redirected stderr (colorize's is on a terminal only),
    and the bar stopped at 6/7 when an image was skipped."""
    from irodori.evaluate import evaluate_folder

    Image.new("RGB", (64, 64), (128, 128, 128)).save(colour_folder / "grey.png")  # skipped: no colour
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--no-fd"]) == 0
    err = capsys.readouterr().err
    assert "img/s" not in err and "evaluate:" not in err and "1 image skipped" not in err
    result = evaluate_folder(str(tiny_onnx), colour_folder, fd=False, progress=True)
    assert result["images"] == 6 and "7/7" in capsys.readouterr().err
    evaluate_folder(str(tiny_onnx), colour_folder, fd=False, progress=True, limit=7)  # a limit it cannot fill
    assert "6/6" in capsys.readouterr().err


def test_evaluate_sheets_can_be_drawn_at_the_images_own_height(tiny_onnx, colour_folder, tmp_path, capsys):
    """The sheets were 256 px high whatever the image: a page's ink lines could not be judged on
    them. --sheet-height full keeps each image's own height; a number sets it; under 64 is refused."""
    first = min(colour_folder.iterdir())
    height = Image.open(first).height
    args = ["evaluate", str(tiny_onnx), str(colour_folder), "--no-fd", "--limit", "1", "-q",
            "--sheets", str(tmp_path / "sheets")]
    assert main([*args, "--sheet-height", "full"]) == 0
    (sheet,) = (tmp_path / "sheets").iterdir()
    assert Image.open(sheet).height == height + 20  # the labels' strip above the panels
    assert main([*args, "--sheet-height", "300"]) == 2  # a second run's sheets go elsewhere, or with --overwrite
    assert "already holds 1 file (an earlier run's sheets?)" in capsys.readouterr().err
    assert Image.open(sheet).height == height + 20
    assert main([*args, "--sheet-height", "300", "--overwrite"]) == 0 and Image.open(sheet).height == 300 + 20
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--sheet-height", "32"])
    assert exit_.value.code == 2 and "--sheet-height: must be 64 or more, not 32" in capsys.readouterr().err


def test_outputs_get_ordinary_file_permissions(tiny_onnx, inputs, tmp_path):
    import os
    import stat

    out = tmp_path / "out"
    _run("colorize", str(inputs / "a.png"), "-o", str(out), "--model", str(tiny_onnx))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "a.png").stat().st_mode) == 0o666 & ~umask


def test_an_output_folder_inside_the_input_is_not_recoloured(tiny_onnx, inputs):
    for bad in ("broken.png", "notes.png"):
        (inputs / bad).unlink()
    out = inputs / "coloured"
    args = ["colorize", str(inputs), "-r", "-o", str(out), "--model", str(tiny_onnx), "-q"]
    assert _run(*args).returncode == 0
    again = _run(*args, text=True)
    assert again.returncode == 0 and "0 coloured, 3 skipped" in again.stderr
    assert not (out / "coloured").exists()


def test_an_input_is_never_overwritten(tiny_onnx, inputs, tmp_path, capsys):
    page = inputs / "a.png"
    before = page.read_bytes()
    assert main(["colorize", str(page), "-o", str(inputs), "--overwrite", "--model", str(tiny_onnx), "-q"]) == 1
    # said as what it most likely is (found by a helper: a run into the folder it read, run again)
    assert "would replace itself; skipped (choose another -o folder or --format; if it is an earlier run's" in (
        capsys.readouterr().err)
    assert page.read_bytes() == before
    # b.jpg's output would be an input given in the same command: neither is touched
    (inputs / "b.png").write_bytes(before)
    args = [str(inputs / "b.jpg"), str(inputs / "b.png"), "-o", str(inputs), "--overwrite"]
    assert main(["colorize", *args, "--model", str(tiny_onnx), "-q"]) == 1
    assert "b.jpg: its output" in capsys.readouterr().err.replace("\\", "/").split("would replace an input image")[0]
    assert (inputs / "b.png").read_bytes() == before
    import zipfile

    with zipfile.ZipFile(inputs / "ch.cbz", "w") as z:  # an archive's output keeps its name: -o is the way
        z.writestr("001.png", before)
    capsys.readouterr()
    assert main(["colorize", str(inputs / "ch.cbz"), "-o", str(inputs), "--model", str(tiny_onnx), "-q"]) == 1
    assert "would replace an input archive; skipped (choose another -o folder)" in capsys.readouterr().err


def test_long_names_and_the_multi_frame_note(tiny_onnx, tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    name = "頁" * 80 + ".png"  # 240 bytes of UTF-8: a valid name, with no room for a longer temporary one
    Image.new("L", (8, 8), 90).save(folder / name)
    frames = [Image.new("L", (8, 8), v) for v in (30, 200)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    assert main(["colorize", str(folder), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "-q"]) == 0
    assert (tmp_path / "out" / name).is_file()
    assert "anim.gif: only the first of its 2 frames is coloured" in caplog.text


def test_an_output_format_too_small_for_the_image_fails_first(tiny_onnx, tmp_path, capsys):
    Image.new("L", (17000, 2), 128).save(tmp_path / "strip.png")
    code = main(["colorize", str(tmp_path / "strip.png"), "-o", str(tmp_path / "out"), "--format", "webp",
                 "--model", str(tiny_onnx), "-q"])
    assert code == 1 and "strip.png: 17000x2 is too large for webp (at most 16,383 px a side); use --format png" \
        in capsys.readouterr().err  # not "ValueError: 17000x2 ..."
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_stdin_to_a_folder_keeps_an_existing_output(tiny_onnx, inputs, tmp_path):
    """A second stdin run into the same folder skips its existing output, as a batch does (it
    failed with exit 1 while a batch's skipped files are exit 0)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "stdin.png").write_bytes(b"mine")
    data = (inputs / "a.png").read_bytes()
    proc = _run("colorize", "-", "-o", str(out), "--model", str(tiny_onnx), input=data, text=False)
    assert proc.returncode == 0, proc.stderr
    assert b"0 coloured, 1 skipped (" in proc.stderr and b"--overwrite to redo), 0 failed" in proc.stderr
    assert (out / "stdin.png").read_bytes() == b"mine"
    proc = _run("colorize", "-", "-o", str(out), "--hint", "3,3,#ff0000", "--model", str(tiny_onnx), input=data,
                text=False)  # a correction: kept output, said so
    assert b"1 input with hints kept its existing output, perhaps made without them: <stdin>" in proc.stderr
    proc = _run("colorize", "-", "-o", str(out), "--overwrite", "--model", str(tiny_onnx), input=data, text=False)
    assert proc.returncode == 0 and proc.stderr.endswith(b"1 coloured, 0 skipped, 0 failed\n")  # as a batch ends
    assert Image.open(out / "stdin.png").size == (60, 40)


def test_bad_options_and_a_damaged_model_are_usage_errors(inputs, tmp_path, capsys):
    out = str(tmp_path / "out")
    for option, value, message in [("--quality", "101", "must be 1 to 100"), ("--max-pixels", "-1", "at least 1")]:
        with pytest.raises(SystemExit) as exit_:
            main(["colorize", str(inputs), "-o", out, option, value])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"not a model")
    assert main(["colorize", str(inputs), "-o", out, "--model", str(damaged)]) == 2
    assert "not a readable ONNX model" in capsys.readouterr().err


def test_resume_alone_continues_the_run_in_its_own_folder(colour_folder, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(colour_folder), "--preset", "tiny", "--out", str(run), "--steps=2", "--data.crop_size=96", "-q"]
    assert main(args) == 0
    assert main(["train", "--resume", str(run), "--steps=4", "-q"]) == 0
    assert (run / "latest").read_text().strip() == "step-0000004"
    import json

    config = json.loads((run / "step-0000004" / "checkpoint.json").read_text())["config"]
    assert config["data"]["crop_size"] == 96 and config["data"]["train_dirs"] == [str(colour_folder)]
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "not a checkpoint or run directory" in capsys.readouterr().err
    (tmp_path / "model.onnx").write_bytes(b"onnx")  # helper 58: an exported model was called a "directory"
    assert main(["train", str(colour_folder), "--init", str(tmp_path / "model.onnx"),
                 "--out", str(tmp_path / "r2")]) == 2
    assert "model.onnx is a file, not a checkpoint or run folder: an exported model" in capsys.readouterr().err
    assert main(["train", str(colour_folder), "--preset", "tiny", "--foo"]) == 2
    assert "override --foo needs a value (--foo=VALUE; `irodori train --help` lists" in capsys.readouterr().err
    # a missing folder or an --out that is a file: said first, a usage error, before the init model loads (helper 58)
    assert main(["train", str(tmp_path / "nosuch"), "--init", "manga", "--preset", "finetune", "-q"]) == 2
    assert capsys.readouterr().err == f"irodori train: image folder not found: {tmp_path / 'nosuch'}\n"
    (tmp_path / "afile").write_text("x")
    assert main(["train", str(colour_folder), "--preset", "tiny", "--out", str(tmp_path / "afile"), "-q"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    # a run inside its images' folder: its sample sheets were training images the next time (helper 58)
    assert main(["train", str(colour_folder), "--preset", "tiny", "--out", str(colour_folder / "run"), "-q"]) == 2
    assert "is inside the training images' folder" in capsys.readouterr().err
    assert not (colour_folder / "run").exists()
    # --init starts a new run with the init model's architecture: it cannot be combined with
    # --resume, and a --model.* override (which it would ignore) is refused, before any work.
    assert main(["train", "--resume", str(run), "--init", str(run), "-q"]) == 2
    assert "give one of them" in capsys.readouterr().err
    fine = ["train", str(colour_folder), "--init", str(run), "--preset", "tiny", "--out", str(tmp_path / "ft"),
            "--steps=1", "-q"]
    assert main(fine + ["--model.enc_blocks=[2,2,2]"]) == 2
    assert "--model.enc_blocks: with --init the architecture is the init model's" in capsys.readouterr().err
    assert not (tmp_path / "ft").exists()
    assert main(fine + ["--data.crop_size=96"]) == 0


def test_a_runs_relative_folders_missing_on_resume_are_said_to_be_the_runs(colour_folder, tmp_path, capsys,
                                                                           monkeypatch):
    """Helper 74: a run started with ``irodori train train ...`` and resumed from another folder
    said "image folder not found: train", as if the user had given it."""
    import shutil

    shutil.copytree(colour_folder, tmp_path / "start" / "pages")
    monkeypatch.chdir(tmp_path / "start")
    assert main(["train", "pages", "--preset", "tiny", "--out", "run", "--steps=1", "-q"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", "start/run", "--steps=2", "-q"]) == 2
    assert ("image folder not found: pages (the run's folder as it was given, from the folder the run was started "
            "in: run from there, or give the folders again") in capsys.readouterr().err
    assert main(["train", "start/pages", "--resume", "start/run", "--steps=2", "-q"]) == 0  # given again: resumed


def test_a_preset_given_with_resume_keeps_the_runs_architecture(colour_folder, tmp_path):
    """--resume RUN --preset P takes P's settings but the run's architecture (its weights fix
    it): the run was trained with other widths than the preset's, and resumes."""
    run = tmp_path / "run"
    narrow = ["--model.channels=[8,8,8]", "--model.enc_blocks=[1,1,1]", "--model.dec_blocks=[1,1]"]
    assert main(["train", str(colour_folder), "--preset", "tiny", "--out", str(run), "--steps=2", "-q", *narrow]) == 0
    assert main(["train", str(colour_folder), "--resume", str(run), "--preset", "tiny", "--steps=3", "-q"]) == 0
    assert (run / "latest").read_text().strip() == "step-0000003"


def test_a_preset_given_with_resume_keeps_the_runs_folders_and_names_what_it_changes(colour_folder, tmp_path, caplog,
                                                                                     capsys):
    run = tmp_path / "run"
    assert main(["train", str(colour_folder), "--preset", "tiny", "--out", str(run), "--steps=4", "--batch_size=2",
                 "--stop-at-step", "2", "-q"]) == 0
    assert "stopped at step 2 of 4" in capsys.readouterr().out  # not "done"
    assert main(["train", "--resume", str(run), "--preset", "tiny", "--stop-at-step", "3", "-q"]) == 0  # no folder given
    assert re.search(r"--preset tiny replaces the settings .*batch_size: 2 -> \d+", caplog.text)
    assert (run / "latest").read_text().strip() == "step-0000003"


def test_resuming_an_older_checkpoint_warns_that_it_takes_the_run_over(colour_folder, tmp_path, caplog, capsys):
    run = tmp_path / "run"
    assert main(["train", str(colour_folder), "--preset", "tiny", "--out", str(run), "--steps=4",
                 "--checkpoint_every=2", "--log_every=1", "-q"]) == 0
    assert "done:" in capsys.readouterr().out
    assert main(["train", "--resume", str(run / "step-0000002"), "--stop-at-step", "3", "-q"]) == 0
    assert re.search(r"step-0000002 is at step 2, before the run's latest checkpoint \(step-0000004, step 4\)", caplog.text)
    steps = [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3"]  # steps 3 and 4 of the first invocation were dropped, not left after the new 3
    assert main(["train", "--resume", str(run), "--stop-at-step", "2", "-q"]) == 2  # the run is at step 3 now
    assert "--stop-at-step 2 is not after step 3" in capsys.readouterr().err


def test_log_elapsed_goes_on_across_resumes(colour_folder, tmp_path):
    import csv

    run = tmp_path / "run"
    assert main(["train", str(colour_folder), "--preset", "tiny", "--out", str(run), "--steps=4", "--log_every=1",
                 "--stop-at-step", "2", "-q"]) == 0
    assert main(["train", "--resume", str(run), "-q"]) == 0
    with (run / "log.csv").open() as f:
        elapsed = [float(r["elapsed_s"]) for r in csv.DictReader(f) if r["elapsed_s"]]
    assert len(elapsed) == 4 and elapsed == sorted(elapsed) and elapsed[2] >= elapsed[1]


def test_a_preset_made_for_init_warns_without_it_and_print_config_shows_the_init_architecture(colour_folder, tmp_path,
                                                                                             caplog, capsys):
    import json

    assert main(["train", str(colour_folder), "--preset", "finetune", "--print-config"]) == 0
    assert "the finetune preset continues a trained model (--init manga" in caplog.text
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"]["paint"] is False
    assert main(["train", str(colour_folder), "--preset", "finetune", "--init", "manga", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"]["paint"] is True and printed["encoder_init"] == "auto"  # manga v0.5 paints


def test_a_mistyped_model_is_a_usage_error_in_every_command(colour_folder, tmp_path, capsys):
    assert main(["train", str(colour_folder), "--init", "mange", "--out", str(tmp_path / "r"), "-q"]) == 2
    assert "no such model or checkpoint: mange" in capsys.readouterr().err
    assert main(["evaluate", "mnga", str(colour_folder), "--no-fd", "-q"]) == 2
    assert "mnga" in capsys.readouterr().err
    # A folder that is no model is the command line's fault too, as `colorize --model` says (it was 1)
    (tmp_path / "empty").mkdir()
    assert main(["train", str(colour_folder), "--init", str(tmp_path / "empty"), "--out", str(tmp_path / "r"),
                 "-q"]) == 2
    assert "no checkpoint.json" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert main(["evaluate", str(tmp_path / "empty"), str(colour_folder), "--no-fd", "-q"]) == 2
    assert main(["colorize", str(colour_folder), "-o", str(tmp_path / "o"), "--model", str(tmp_path / "empty"),
                 "-q"]) == 2


def test_a_run_stopped_before_its_first_checkpoint_says_so(tmp_path, capsys):
    run = tmp_path / "early"
    run.mkdir()
    (run / "log.csv").write_text("step,loss\n")
    assert main(["train", "--resume", str(run)]) == 2
    assert "holds no checkpoint yet" in capsys.readouterr().err


def test_resuming_a_finished_run_says_how_to_train_it_longer(colour_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(colour_folder), "--preset", "tiny", "--out", str(run), "--steps=2", "-q"]) == 0
    for extra in ([], ["--steps=1"]):
        assert main(["train", "--resume", str(run), "-q", *extra]) == 2  # a usage error, as export's (helper 63)
        assert "is at step 2 of this run's" in capsys.readouterr().err
    assert (run / "latest").read_text().strip() == "step-0000002"


def test_train_skips_unusable_images_and_will_not_mix_two_runs(colour_folder, tmp_path, caplog, capsys):
    import shutil

    folder = tmp_path / "mixed"
    shutil.copytree(colour_folder, folder)
    (folder / "zero.png").write_bytes(b"")
    Image.new("RGB", (1, 500), (200, 30, 30)).save(folder / "thin.png")
    deep = (np.linspace(0, 1, 64 * 64).reshape(64, 64) * 65535).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep.png")  # 16-bit grey: read as mid-grey, not clipped to white
    from irodori.imageio import load_rgb

    assert abs(np.asarray(load_rgb(folder / "deep.png")).mean() - 127.5) < 1
    run = tmp_path / "run"
    args = ["train", str(folder), "--val", str(folder), "--preset", "tiny", "--out", str(run), "--steps=2", "-q"]
    assert main(args) == 0
    assert "2 training images skipped" in caplog.text and "zero.png" in caplog.text and "1x500" in caplog.text
    assert re.search(r"1 of the \d+ training images holds no colour \(\S*deep.png\): it teaches no colour", caplog.text)
    assert re.search(r"1 of the \d+ validation images holds no colour \(\S*deep.png\): the validation loss scores it "
                     "against a grey truth", caplog.text)  # not "it teaches no colour" (helper 48)
    assert main(args) == 2  # the same --out again, without --resume: a usage error, as export's existing file
    assert "already holds a run" in capsys.readouterr().err and (run / "latest").read_text().strip() == "step-0000002"
    dry = ["train", "--dry-run", "--preset", "tiny", "--steps=2", "-q", "--out"]
    assert main([*dry, str(run)]) == 2  # a dry run replaced a real run's checkpoints (helper 78)
    assert "already holds a run" in capsys.readouterr().err and (run / "latest").read_text().strip() == "step-0000002"
    assert main([*dry, str(tmp_path / "dry")]) == 0 and main([*dry, str(tmp_path / "dry")]) == 0  # over a dry run's


def test_train_leaves_out_the_validation_folder_inside_it_and_irodoris_own_outputs(colour_folder, tmp_path, caplog,
                                                                                     capsys):
    import shutil

    from irodori.imageio import encode

    pages = tmp_path / "pages"
    shutil.copytree(colour_folder, pages / "train")
    (pages / "held").mkdir()
    for name in ("img0.png", "img1.png"):
        shutil.move(pages / "train" / name, pages / "held" / name)
    (pages / "coloured").mkdir()
    (pages / "coloured" / "x.png").write_bytes(encode(Image.open(pages / "held" / "img0.png"), "png"))
    run = tmp_path / "run"
    assert main(["train", str(pages), "--val", str(pages / "held"), "--preset", "tiny", "--out", str(run),
                 "--steps=1", "-q"]) == 0
    assert f"the validation folder {pages / 'held'} is inside {pages}: its images are not trained on" in caplog.text
    assert f"1 training image left out ({pages / 'coloured' / 'x.png'}): irodori's own output" in caplog.text
    assert "4 training images" in caplog.text  # train/'s 4, not held/'s 2 nor the output
    assert main(["train", str(pages / "held" / "img0.png"), "--preset", "tiny", "--out", str(tmp_path / "r2")]) == 2
    assert "img0.png is a file, not a folder: give the folder of images that holds it" in capsys.readouterr().err


def test_training_on_grey_images_alone_is_refused_there_being_no_colour_to_learn(tmp_path, capsys):
    folder = tmp_path / "grey"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (96, 96), dtype=np.uint8)).save(folder / f"{i}.png")
    args = ["train", str(folder), "--preset", "tiny", "--out", str(tmp_path / "run"), "--steps=1", "-q"]
    assert main(args) == 1  # it warned, then trained a model that learnt grey (exit 0)
    err = capsys.readouterr().err
    assert "all 3 training images hold no colour" in err and "no colour to learn" in err
    assert not (tmp_path / "run" / "latest").exists()


def test_grey_pixels_saved_as_colour_files_are_said_to_hold_no_colour(tmp_path, caplog):
    # A scanned B&W page is usually an RGB JPEG: its mode says colour, its pixels do not.
    folder = tmp_path / "scans"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        grey = rng.integers(0, 256, (96, 96), dtype=np.uint8)
        Image.fromarray(np.dstack([grey] * 3)).save(folder / f"scan{i}.jpg", quality=90)
    colour = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(colour).save(folder / "colour.png")
    args = ["train", str(folder), "--preset", "tiny", "--out", str(tmp_path / "run"), "--steps=1", "-q"]
    assert main(args) == 0
    assert re.search(r"2 of the 3 training images hold no colour \(\S*scan0.jpg, \S*scan1.jpg\)", caplog.text)
    assert "colour.png" not in caplog.text


def test_export_and_evaluate_check_their_output_paths_first(tiny_run, tiny_onnx, colour_folder, tmp_path, capsys):
    assert main(["export", str(tiny_run), "-o", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--json", str(tmp_path), "--no-fd", "-q"]) == 2
    with pytest.raises(SystemExit):
        main(["evaluate", str(tiny_onnx), str(colour_folder), "--limit", "0"])
    # a folder that cannot be made is said before the work, not found after it (the results lost)
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--json", "/proc/irodori-nope/r.json", "-q"]) == 2
    assert "cannot make the folder /proc/irodori-nope" in capsys.readouterr().err
    # a folder that exists but takes no file (as a read-only disk would not): also said first
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--json", "/proc/r.json", "-q"]) == 2
    assert "cannot write into /proc" in capsys.readouterr().err
    report = tmp_path / "new" / "eval.json"  # a missing folder is created
    (colour_folder / "0-broken.png").write_bytes(b"not an image")  # sorts first; --limit counts what is scored
    assert main(["evaluate", str(tiny_onnx), str(colour_folder), "--json", str(report), "--no-fd", "--limit", "2", "-q"]) == 0
    result = json.loads(report.read_text())
    assert result["images"] == 2 and "0-broken.png" in " ".join(result["notes"])
    assert result["baseline"] == "the input's lightness as grey"


def test_colouring_writes_nothing_under_the_users_cache(inputs, tmp_path):
    """onnxruntime 1.2x keeps a device id and an event database under ~/.cache on import;
    irodori turns its telemetry off first (ORT_DISABLE_TELEMETRY), so a colouring leaves no trace."""
    import os

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    proc = _run("colorize", str(inputs / "a.png"), "-o", str(tmp_path / "out"), "-q", env=env, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "a.png").is_file()
    assert not list(home.rglob("*")), sorted(map(str, home.rglob("*")))


def test_version_names_the_package_and_its_models_and_is_not_behind_them(capsys):
    import re

    import irodori
    from irodori.registry import MODELS

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    out = capsys.readouterr().out.strip()
    assert exit_.value.code == 0 and out.startswith(f"irodori {irodori.__version__} (models: ")
    package = tuple(map(int, irodori.__version__.split(".")[:2]))
    for info in MODELS.values():
        model = tuple(map(int, re.search(r"-v(\d+)\.(\d+)", info.weights_dir).groups()))
        assert info.weights_dir in out and package >= model, (irodori.__version__, info.weights_dir)


# -- binary output, closed pipes, output folders, Ctrl-C ------------------------------------------
def test_image_data_is_not_written_to_a_terminal(inputs):
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "irodori.cli", "colorize", "-"], stdin=open(inputs / "a.png", "rb"),
                              stdout=follower, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2
    assert b"refusing to write PNG data to a terminal" in proc.stderr and b"Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["models"], ["--help"], ["colorize", "-"]])
def test_a_closed_pipe_ends_quietly(tiny_onnx, inputs, command):
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -1` does once it has its line
    args = command + (["--model", str(tiny_onnx)] if command[0] == "colorize" else [])
    try:
        proc = subprocess.run([sys.executable, "-m", "irodori.cli", *args], stdin=open(inputs / "a.png", "rb"),
                              stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert not any(word in proc.stderr for word in (b"Traceback", b"BrokenPipe", b"Exception ignored"))
    assert proc.returncode == (0 if command == ["--help"] else 141)  # 141: as if killed by SIGPIPE, as other tools


def test_an_output_folder_that_cannot_be_written_is_a_usage_error_before_any_work(tiny_onnx, inputs, tmp_path):
    a_file = tmp_path / "taken"  # (an image's name, "taken.png", would be -o naming one output file)
    a_file.write_bytes(b"x")
    for output in (a_file, a_file / "sub"):
        t0 = time.perf_counter()
        proc = _run("colorize", str(inputs), "-o", str(output), "--model", str(tiny_onnx), text=True)
        assert proc.returncode == 2 and f"{a_file} is a file, not a folder" in proc.stderr, proc.stderr
        assert "coloured" not in proc.stderr and time.perf_counter() - t0 < 30
    proc = _run("colorize", "-", "-o", str(a_file), "--model", str(tiny_onnx), input=b"", text=False)
    assert proc.returncode == 2 and b"is a file, not a folder" in proc.stderr
    assert a_file.read_bytes() == b"x"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_a_usage_error(tiny_onnx, inputs, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for output in (locked, locked / "new"):
            proc = _run("colorize", str(inputs), "-o", str(output), "--model", str(tiny_onnx), text=True)
            assert proc.returncode == 2 and f"cannot write into {locked}" in proc.stderr
    finally:
        locked.chmod(0o755)


def _default_sigint() -> None:
    """A shell running the suite in the background leaves SIGINT ignored in its children, and a
    Python started that way keeps ignoring it: give the child the default, as a terminal would."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("threads", ["1", "3"])
def test_ctrl_c_with_quiet_counts_what_was_written(tiny_onnx, tmp_path, threads):
    import signal

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(1)
    for i in range(400):
        Image.fromarray((rng.random((24, 24)) * 255).astype(np.uint8)).save(src / f"p{i:03d}.png")
    proc = subprocess.Popen([sys.executable, "-m", "irodori.cli", "colorize", str(src), "-o", str(out), "-q",
                             "--model", str(tiny_onnx), "--threads", threads], stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*.png"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    written = len(list(out.glob("*.png")))
    assert 5 <= written < 400 and f"interrupted: {written} of 400 outputs written" in err


def test_a_swallowed_ctrl_c_stops_the_batch_at_the_next_image(tiny_onnx, tmp_path, capsys):
    """Ctrl-C that lands while an import's lock callback runs is swallowed there ("Exception
    ignored in ..."), and a helper's batch ran to the end with exit 0: the handler's list of
    signals received is read between images, and one found there stops the batch."""
    from irodori.batch import run_colorize
    from irodori.cli import build_parser

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(6):
        Image.fromarray(np.full((24, 24), 40 * i, np.uint8)).save(src / f"p{i}.png")
    args = build_parser().parse_args(["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx),
                                      "--threads", "1", "-q"])
    assert run_colorize(args, [KeyboardInterrupt()]) == 130  # received earlier, never raised
    written = len(list(out.glob("*.png")))
    assert written == 1 and f"interrupted: {written} of 6 outputs written" in capsys.readouterr().err
    assert run_colorize(args, []) == 0 and len(list(out.glob("*.png"))) == 6  # nothing received: all


def test_png_compression_is_a_flag(tiny_onnx, inputs, tmp_path):
    from irodori.cli import PNG_COMPRESSION
    from irodori.imageio import DEFAULT_PNG_COMPRESSION

    assert PNG_COMPRESSION == DEFAULT_PNG_COMPRESSION  # the CLI's default is the library's
    page = np.full((60, 80), 235, np.uint8)  # paper and ink compress; noise would not
    page[20:24, :] = page[:, 30:33] = 10
    Image.fromarray(page).save(tmp_path / "a.png")
    for level in ("0", "9"):
        assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / level), "--model", str(tiny_onnx),
                     "--png-compression", level, "-q"]) == 0
    fast, small = tmp_path / "0" / "a.png", tmp_path / "9" / "a.png"
    assert fast.stat().st_size > small.stat().st_size
    assert np.array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(small)))
    assert _run("colorize", str(inputs), "-o", str(tmp_path / "x"), "--png-compression", "10").returncode == 2


# -- a new user's walk ---------------------------------------------------------------------------
def test_verbose_logs_the_model_sizes_and_timings_and_quiet_logs_none(tiny_onnx, inputs, tmp_path):
    args = ["colorize", str(inputs / "a.png"), str(inputs / "b.jpg"), "-o", str(tmp_path / "out"),
            "--model", str(tiny_onnx), "-q"]
    verbose = _run("-v", *args, text=True)
    assert verbose.returncode == 0, verbose.stderr
    debug = [line for line in verbose.stderr.splitlines() if line.startswith("DEBUG ")]
    text = "\n".join(debug)
    assert "DEBUG irodori.colorizer: model tiny" in text and "loaded in" in text  # the model
    assert "input 60x40, mode L" in text and "input 30x50, mode RGB" in text  # sizes and modes
    assert "network on 60x40" in text and re.search(r"merged 60x40 .* in \d+ ms", text)  # timings
    assert "DEBUG irodori.batch: 2 inputs: 2 to colour" in text and "a.png -> " in text
    assert all(line.startswith("DEBUG irodori.") for line in debug), debug  # not Pillow's chunk chatter
    plain = _run(*args, "--overwrite", text=True)
    assert plain.returncode == 0 and "DEBUG" not in plain.stderr
    after = _run(*args, "--overwrite", "-v", text=True)  # -v after the command, as -q is taken there
    assert after.returncode == 0 and "DEBUG irodori.colorizer: model tiny" in after.stderr


def test_the_batch_summary_mentions_overwrite_only_when_something_was_skipped(tiny_onnx, inputs, tmp_path, capsys):
    args = ["colorize", str(inputs / "a.png"), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "-q"]
    assert main(args) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == "1 coloured, 0 skipped, 0 failed"
    assert main(args) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "0 coloured, 1 skipped (output exists; --overwrite to redo), 0 failed")


def test_a_missing_file_is_named_by_the_python_api(tmp_path):
    import irodori
    from irodori.cbz import colorize_cbz
    from irodori.colorizer import load_colorizer
    from irodori.imageio import ImageReadError

    for source in ["nosuch.png", tmp_path / "gone" / "page.jpg"]:
        with pytest.raises(ImageReadError, match=re.escape(str(source))):
            irodori.colorize(source)
    with pytest.raises(ImageReadError, match="chapter.cbz"):
        colorize_cbz(load_colorizer(threads=1), tmp_path / "chapter.cbz", tmp_path / "out.cbz", fmt="png")


def test_max_side_zero_or_below_the_size_multiple_is_an_error_not_the_default(inputs, tmp_path, capsys):
    from irodori.colorizer import load_colorizer

    out = str(tmp_path / "out")
    for value in ["0", "-5"]:
        with pytest.raises(SystemExit) as exit_:
            main(["colorize", str(inputs / "a.png"), "-o", out, "--max-side", value])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "--max-side" in err and "size multiple (32" in err  # not "at least 1"
    assert main(["colorize", str(inputs / "a.png"), "-o", out, "--max-side", "8"]) == 2
    assert "max_side must be at least 32" in capsys.readouterr().err
    for value in [0, 16]:
        with pytest.raises(ValueError, match="at least 32"):
            load_colorizer(max_side=value)
    assert load_colorizer(max_side=None).max_side == 512


def test_models_prints_only_card_paths_that_exist(capsys, tmp_path, monkeypatch):
    from irodori.cli import card_location
    from irodori.registry import MODELS

    monkeypatch.chdir(tmp_path)  # a path printed must exist wherever the user stands
    assert main(["models"]) == 0
    cards = re.findall(r"card: (.*)", capsys.readouterr().out)
    assert len(cards) == len(MODELS) and all(Path(card).is_file() for card in cards), cards  # this checkout
    installed = card_location("docs/models/general.md", root=tmp_path)  # after pip install: no docs/
    assert installed == "docs/models/general.md in irodori's source repository (not installed with the package)"


def test_one_training_image_is_not_images(tmp_path, caplog):
    pytest.importorskip("torch")
    folder = tmp_path / "one"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(folder / "only.png")
    with caplog.at_level("INFO", logger="irodori"):
        assert main(["train", str(folder), "--preset", "tiny", "--out", str(tmp_path / "run"), "--steps=1",
                     "--val_every=0", "-q"]) == 0
    assert re.search(r"world size \d+; 1 training image$", caplog.text, re.MULTILINE), caplog.text


def test_a_transparent_input_written_as_jpeg_says_where_its_transparency_went(tiny_onnx, tmp_path):
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., :3], rgba[10:30, 10:50, 3] = 90, 255  # a grey card on a transparent sheet
    Image.fromarray(rgba, "RGBA").save(tmp_path / "card.png")
    Image.fromarray(rgba[..., :3]).save(tmp_path / "opaque.png")
    proc = _run("colorize", str(tmp_path / "card.png"), str(tmp_path / "opaque.png"), "-o", str(tmp_path / "out"),
                "--format", "jpg", "--model", str(tiny_onnx), text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("JPEG has no transparency") == 1 and "card.png: JPEG has no transparency" in proc.stderr
    assert np.asarray(Image.open(tmp_path / "out" / "card.jpg"))[2, 2].min() > 240  # put on white


def test_a_damaged_exif_prints_no_warning_of_pillows_that_names_no_file(tiny_onnx, tmp_path):
    import struct

    plain = io.BytesIO()
    Image.new("L", (64, 48), 128).save(plain, "JPEG")
    data = plain.getvalue()
    for name, exif in {
        "offset.jpg": b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\x00",  # the first directory past the end
        "count.jpg": (b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01" + struct.pack(">HHI", 0x112, 3, 0x7FFFFFFF)
                      + struct.pack(">I", 0x100) + b"\x00" * 4),  # an orientation of 2**31 values
    }.items():
        (tmp_path / name).write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:])
    proc = _run("colorize", str(tmp_path / "offset.jpg"), str(tmp_path / "count.jpg"), "-o", str(tmp_path / "out"),
                "--format", "jpg", "--model", str(tiny_onnx), text=True)
    assert proc.returncode == 0 and "UserWarning" not in proc.stderr, proc.stderr
    assert Image.open(tmp_path / "out" / "count.jpg").size == (64, 48)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_ends_evaluate_export_and_serve_with_a_line(signum, status, capsys):
    """SIGTERM (`timeout`, `kill`) or SIGHUP during an evaluation, an export or a server's start-up
    ended the process at once, without a word (helper 55): a real signal now ends the command
    with its line and 128 + the signal, as Ctrl-C does with 130; the handlers before come back."""
    import argparse

    from irodori.cli import _stoppable, _stopped_line

    if signal.getsignal(signum) != signal.SIG_DFL:
        pytest.skip("the signal is ignored here (nohup), and so left alone")
    before = signal.getsignal(signum)
    reached = []

    def evaluating() -> int:
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises before this returns
        reached.append("the end")
        return 0

    args = argparse.Namespace(command="evaluate")
    assert _stoppable(evaluating, lambda status: _stopped_line(args, status)) == status
    assert reached == [] and capsys.readouterr().err.strip() == "terminated"
    assert signal.getsignal(signum) == before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the ignored exception, as meant
def test_a_sigterm_swallowed_by_a_finaliser_as_a_batch_ends_still_exits_143(monkeypatch, capsys):
    """A SIGTERM that arrived as a batch ended raised its exception inside tqdm's __del__, which
    Python reports and ignores: the run exited 0 where 143 is promised (helper 78)."""
    import argparse

    from irodori import batch
    from irodori.cli import cmd_colorize

    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        pytest.skip("SIGTERM is handled outside Python here")

    class Finalised:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs here, between bytecodes: its exception is ignored
                pass

    def ended(args, received) -> int:
        Finalised()  # collected at once, in its __del__
        assert received, "the signal's handler ran"
        return 0

    monkeypatch.setattr(batch, "run_colorize", ended)
    assert cmd_colorize(argparse.Namespace()) == 143
    assert capsys.readouterr().err.strip().endswith("terminated")


def test_evaluate_scores_a_folder_after_references_but_none_from_the_folder_itself(tiny_onnx, colour_folder,
                                                                                   tmp_path, capsys):
    """evaluate --reference colours every image after the references and says so in its table and
    JSON; a reference from the folder scored would give an image its own colours back: refused."""
    reference = tmp_path / "ref.png"
    Image.open(min(colour_folder.iterdir())).resize((160, 128)).save(reference)
    report = tmp_path / "r.json"
    args = ["evaluate", str(tiny_onnx), str(colour_folder), "--no-fd", "--limit", "2", "-q"]
    assert main([*args, "--json", str(report), "--reference", str(reference)]) == 0
    assert f"after 1 reference ({reference})" in capsys.readouterr().out
    assert json.loads(report.read_text())["references"] == [str(reference)]
    assert main([*args, "--reference", str(colour_folder / "img1.png")]) == 2
    assert "is in" in capsys.readouterr().err
    assert main([*args, "--reference", str(tmp_path / "missing.png")]) == 2
    assert "missing.png does not exist" in capsys.readouterr().err
