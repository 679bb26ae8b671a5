"""The batch path of `irodori colorize` under the conditions a QA round tried (qa27): globs that reach
into the output folder, odd inputs, signals at any moment, closed pipes, long runs with failures."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irodori.cli import main


def _pages(folder: Path, n: int, *, side: int = 24, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = [folder / f"p{i:03d}.png" for i in range(n)]
    for path in paths:
        Image.fromarray((rng.random((side, side)) * 255).astype(np.uint8)).save(path)
    return paths


def _default_sigint() -> None:
    """A shell running the suite in the background leaves SIGINT ignored in its children (and
    nohup SIGHUP), and a Python started that way keeps ignoring them: give the child the
    defaults, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "irodori.cli", *args], stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, **kw)


# -- what a folder walk or a glob takes ------------------------------------------------------------
def test_a_glob_never_takes_the_output_folders_files_so_a_rerun_resumes(tiny_onnx, tmp_path, monkeypatch, capsys):
    """'**/*.png' -r -o coloured took coloured/*.png as inputs on the second run: six finished
    pages reported as errors, outputs coloured again into coloured/coloured/, exit 1."""
    monkeypatch.chdir(tmp_path)
    _pages(tmp_path, 3)
    args = ["colorize", "**/*.png", "-r", "-o", "coloured", "--model", str(tiny_onnx), "-q"]
    assert main(args) == 0
    assert main(args) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("0 coloured, 3 skipped")
    assert sorted(p.relative_to(tmp_path / "coloured").as_posix() for p in (tmp_path / "coloured").rglob("*")) == [
        "p000.png", "p001.png", "p002.png"]


def test_a_glob_passes_over_files_that_are_not_images_and_a_named_one_still_fails(tiny_onnx, tmp_path, capsys,
                                                                                  caplog):
    folder = tmp_path / "g"
    _pages(folder, 1)
    (folder / "notes.txt").write_text("scanned by ...")
    (folder / "ComicInfo.xml").write_text("<ComicInfo/>")
    out = str(tmp_path / "out")
    with caplog.at_level(logging.DEBUG, logger="irodori.batch"):
        assert main(["colorize", str(folder / "*"), "-o", out, "--model", str(tiny_onnx), "-q"]) == 0
    assert "1 coloured, 0 skipped, 0 failed" in capsys.readouterr().err
    assert "notes.txt: not an image or an archive by its name; skipped" in caplog.text
    assert main(["colorize", str(folder / "*.txt"), "-o", out, "--model", str(tiny_onnx), "-q"]) == 1
    assert "the pattern matches no images or archives (1 other file)" in capsys.readouterr().err
    assert main(["colorize", str(folder / "notes.txt"), "-o", out, "--model", str(tiny_onnx), "-q"]) == 1
    assert "notes.txt: not an image" in capsys.readouterr().err


def test_an_output_folder_that_is_the_input_folder_says_what_to_do(tiny_onnx, tmp_path, monkeypatch, capsys):
    """It said "no images found (use -r for sub-folders)", which is false, and -r did not help."""
    same = tmp_path / "same"
    _pages(same, 2)
    model = ["--model", str(tiny_onnx), "-q"]
    assert main(["colorize", str(same), "-o", str(same), "--format", "jpg", *model]) == 2  # before any work
    assert capsys.readouterr().err == (
        f"irodori colorize: {same} is the output folder -o {same}: its walk skips the outputs, and that is all of "
        f"it; name its pages with a glob ('{(same / '*.png').as_posix()}') or choose another -o\n")
    for _ in range(2):  # the glob it suggests, run twice: the second run skips, it takes no .jpg
        assert main(["colorize", str(same / "*.png"), "-o", str(same), "--format", "jpg", *model]) == 0
    assert sorted(p.name for p in same.iterdir()) == ["p000.jpg", "p000.png", "p001.jpg", "p001.png"]
    monkeypatch.chdir(tmp_path)  # an output folder above the one walked: everything walked is inside it
    assert main(["colorize", "same", "-o", ".", "--format", "webp", *model]) == 0
    assert (tmp_path / "p000.webp").is_file()


def test_an_empty_output_folder_name_is_a_usage_error(tiny_onnx, tmp_path, monkeypatch, capsys):
    """-o "$OUTDIR" with OUTDIR unset wrote the pages into the current folder."""
    monkeypatch.chdir(tmp_path)
    _pages(tmp_path / "in", 1)
    for inputs in (["in/p000.png"], ["-"]):
        assert main(["colorize", *inputs, "-o", "", "--model", str(tiny_onnx)]) == 2
        assert capsys.readouterr().err == "irodori colorize: -o is empty (an unset variable?); give an output folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.parametrize("special", ["fifo", "/dev/stdin"])
def test_a_fifo_or_dev_stdin_is_not_a_regular_file(tiny_onnx, tmp_path, special):
    """Both said "no such file or folder", though they exist."""
    name = str(tmp_path / "fifo.png") if special == "fifo" else special
    if special == "fifo":
        os.mkfifo(name)
    read_end, write_end = os.pipe()  # /dev/stdin on a pipe, as `cat p.png | irodori colorize /dev/stdin`
    try:
        proc = subprocess.run([sys.executable, "-m", "irodori.cli", "colorize", name, "-o", str(tmp_path / "out"),
                               "--model", str(tiny_onnx), "-q"], stdin=read_end, capture_output=True, text=True,
                              timeout=60)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 1 and f"error: {name}: not a regular file (use - for stdin)" in proc.stderr


def test_r_logs_each_linked_folder_it_does_not_follow(tiny_onnx, tmp_path, caplog):
    _pages(tmp_path / "in", 1)
    _pages(tmp_path / "chapter", 2)
    (tmp_path / "in" / "ch1").symlink_to(tmp_path / "chapter")
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        assert main(["colorize", str(tmp_path / "in"), "-r", "-o", str(tmp_path / "out"),
                     "--model", str(tiny_onnx), "-q"]) == 0
    assert f"{tmp_path / 'in' / 'ch1'}: a link to a folder, not followed" in caplog.text


def test_a_walk_without_r_names_the_sub_folders_it_passes_over(tiny_onnx, tmp_path, caplog):
    """A chapter folder's "extras/" pages were left out without a word, even with -v (helper 52);
    the output folder and folders without images are not named."""
    chapter = tmp_path / "chapter"
    _pages(chapter, 1)
    _pages(chapter / "extras", 1)
    (chapter / "notes").mkdir()
    (chapter / "notes" / "credits.txt").write_text("scans by ...")
    out = chapter / "coloured"
    _pages(out, 1)
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        assert main(["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    said = [r.getMessage() for r in caplog.records if "not searched" in r.getMessage()]
    assert said == [f"{chapter}: 1 sub-folder with images not searched (extras); -r colours them too"]
    assert caplog.records[0].levelname == "WARNING"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        assert main(["colorize", str(chapter), "-r", "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    assert "not searched" not in caplog.text


def test_the_sub_folder_warning_counts_what_r_would_colour(tiny_onnx, tmp_path, caplog):
    """Helper 53: -o ch/build/out named "build" (which holds only outputs) and a link to a
    folder was named, though -r follows no link; a hidden folder -r colours is named."""
    chapter = tmp_path / "chapter"
    _pages(chapter, 1)
    out = chapter / "build" / "out"
    _pages(out, 1)
    _pages(tmp_path / "elsewhere", 1)
    (chapter / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    _pages(chapter / ".drafts", 1)
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        assert main(["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "-q", "--overwrite"]) == 0
    said = [r.getMessage() for r in caplog.records if "not searched" in r.getMessage()]
    assert said == [f"{chapter}: 1 sub-folder with images not searched (.drafts); -r colours them too"]


def test_an_archive_whose_pages_auto_coloured_two_ways_is_warned_of(tiny_paint_onnx, tmp_path, caplog):
    """--mode auto painted some of one chapter's pages and tinted others, with a line per page but
    no word for the chapter (helper 52): an archive coloured both ways is warned of, naming the
    fewer pages and the fix; a folder, which may hold photos beside pages, is said so in a line."""
    import zipfile

    from conftest import bw_page_image

    grey = np.tile(np.linspace(40, 230, 160, dtype=np.uint8), (120, 1))  # smooth mid-tones: tinted
    chapter = tmp_path / "chapter"
    chapter.mkdir()
    Image.fromarray(grey).save(chapter / "001 photo.png")
    for i in (2, 3):
        Image.fromarray(bw_page_image()).save(chapter / f"00{i}.png")
    with zipfile.ZipFile(tmp_path / "ch.cbz", "w") as archive:
        for page in sorted(chapter.iterdir()):
            archive.write(page, page.name)
    model = ["--model", str(tiny_paint_onnx), "-q"]
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        assert main(["colorize", str(tmp_path / "ch.cbz"), "-o", str(tmp_path / "out"), *model]) == 0
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "--mode auto" in r.getMessage()]
    assert [r.getMessage() for r in warned] == [
        f"{tmp_path / 'ch.cbz'}: --mode auto painted 2 black-and-white images and tinted 1 (tinted: "
        "001 photo.png); to colour them all one way, give --mode paint (pages) or --mode tint (photographs)"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        assert main(["colorize", str(chapter), "-o", str(tmp_path / "out2"), *model]) == 0
    said = [r for r in caplog.records if "--mode auto" in r.getMessage()]
    assert [r.levelname for r in said] == ["INFO"] and "tinted: " in said[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="irodori.batch"):  # asked: nothing to say
        assert main(["colorize", str(tmp_path / "ch.cbz"), "-o", str(tmp_path / "out3"), *model,
                     "--mode", "paint"]) == 0
    assert "--mode auto" not in caplog.text


def test_paint_settings_given_with_mode_tint_are_said_to_be_unused(tiny_onnx, tmp_path, caplog):
    """`--background gutters --mode tint` was taken without a word (helper 52)."""
    _pages(tmp_path / "in", 1)
    args = ["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "-q",
            "--mode", "tint"]
    with caplog.at_level(logging.WARNING, logger="irodori.batch"):
        assert main([*args, "--background", "gutters", "--tone", "keep"]) == 0
    assert ("--tone keep and --background gutters: paint mode's settings, unused: --mode tint keeps each "
            "image's lightness and paints nothing") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="irodori.batch"):
        assert main([*args, "--overwrite"]) == 0
    assert "unused" not in caplog.text
    # a model that cannot paint, in mode auto: said once too (helper 53: `--model general`)
    with caplog.at_level(logging.WARNING, logger="irodori.batch"):
        assert main([*args[:-2], "--background", "gutters", "--overwrite"]) == 0
    said = [r.getMessage() for r in caplog.records if "unused" in r.getMessage()]
    assert said == [f"--background gutters: paint mode's setting, unused: {tiny_onnx.stem} cannot paint (it keeps "
                    "each image's lightness); the manga model paints"]


def test_log_lines_in_a_file_are_whole_lines_without_a_progress_bar(tiny_onnx, tmp_path):
    """With stderr sent to a file, each log line was glued to the progress bar's carriage returns
    (helper 52): no bar is drawn there, and each image's line stands alone."""
    _pages(tmp_path / "in", 3)
    log_file = tmp_path / "run.log"
    with open(log_file, "w") as err:
        done = subprocess.run([sys.executable, "-m", "irodori.cli", "colorize", str(tmp_path / "in"), "-o",
                               str(tmp_path / "out"), "--model", str(tiny_onnx)], stderr=err, timeout=120)
    assert done.returncode == 0
    text = log_file.read_text()
    assert "\r" not in text and "img/s" not in text
    lines = text.splitlines()
    assert sum(line.startswith("INFO irodori.colorizer: ") for line in lines) == 3  # one per image, each whole
    assert lines[-1].startswith("3 coloured, 0 skipped, 0 failed")


def test_the_end_of_a_batch_lists_the_inputs_that_failed(tiny_onnx, tmp_path, capsys):
    """Each error line scrolled away among the progress lines of a long run; the end gave counts only."""
    folder = tmp_path / "in"
    _pages(folder, 1)
    for i in range(23):
        (folder / f"bad{i:02d}.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    assert main(["colorize", str(folder), str(tmp_path / "missing.png"), "-o", str(tmp_path / "out"),
                 "--model", str(tiny_onnx), "-q", "--threads", "2"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == "1 coloured, 0 skipped, 24 failed"
    listed = lines[lines.index("failed:") + 1:-1]
    assert listed[0] == f"  {tmp_path / 'missing.png'}" and listed[1] == f"  {folder / 'bad00.png'}"
    assert len(listed) == 21 and listed[-1] == "  and 4 more"


# -- signals and pipes -------------------------------------------------------------------------------
@pytest.mark.parametrize("sig, word, status", [(signal.SIGINT, "interrupted", 130),
                                               (signal.SIGTERM, "terminated", 143),
                                               (signal.SIGHUP, "terminated", 129)])
def test_a_signal_during_start_up_is_one_line(tiny_onnx, tmp_path, sig, word, status):
    """Ctrl-C while the model loaded or a large tree was scanned printed a 30-45-line traceback.
    A FIFO as the hints file holds the run in its start-up for as long as the test needs."""
    _pages(tmp_path / "in", 1)
    fifo = tmp_path / "hints.json"
    os.mkfifo(fifo)
    proc = _start("colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--hints", str(fifo),
                  "--model", str(tiny_onnx))
    deadline = time.monotonic() + 60
    writer = None
    while writer is None and time.monotonic() < deadline:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # succeeds once the run has it open
        except OSError:
            time.sleep(0.02)
    try:
        time.sleep(0.2)  # into its read
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1]
    finally:
        if writer is not None:
            os.close(writer)
    assert (proc.returncode, err.strip()) == (status, word)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_in_stdin_mode_is_one_line(tiny_onnx):
    proc = _start("-v", "colorize", "-", "--model", str(tiny_onnx), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    lines = []
    while not any("loaded in" in line for line in lines):  # the model is loaded: it reads stdin next
        lines.append(proc.stderr.readline())
        assert lines[-1], lines
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130 and err.strip() == "interrupted", err


@pytest.mark.parametrize("sig, overwrite", [(signal.SIGTERM, False), (signal.SIGHUP, False), (signal.SIGINT, True)])
def test_sigterm_stops_a_batch_as_ctrl_c_does_and_the_message_fits_overwrite(tiny_onnx, tmp_path, sig, overwrite):
    """SIGTERM (timeout, docker stop) killed the batch silently and left a temporary file; after
    Ctrl-C with --overwrite, running "the same command again" started the batch over."""
    src, out = tmp_path / "in", tmp_path / "out"
    _pages(src, 200, side=16)
    proc = _start("colorize", str(src), "-o", str(out), "-q", "--model", str(tiny_onnx), "--threads", "2",
                  *(["--overwrite"] if overwrite else []))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*.png"))) < 5:
        time.sleep(0.02)
    proc.send_signal(sig)
    err = proc.communicate(timeout=60)[1]
    written = len(list(out.glob("*.png")))
    word, status = ("interrupted", 130) if sig == signal.SIGINT else ("terminated", 128 + sig)
    assert proc.returncode == status and f"{word}: {written} of 200 outputs written" in err, err
    assert ("running it again without --overwrite continues" in err) == overwrite
    assert 5 <= written < 200 and not list(out.glob(".irodori-*"))


def test_a_reader_that_goes_away_in_the_middle_of_the_image_gives_141(tiny_onnx, tmp_path):
    """A short write to the pipe was taken for the whole image: exit 0 after sending 69,632 of
    693,334 bytes."""
    Image.fromarray((np.random.default_rng(3).random((200, 200)) * 255).astype(np.uint8)).save(tmp_path / "p.png")
    read_end, write_end = os.pipe()
    with open(tmp_path / "p.png", "rb") as page:
        proc = subprocess.Popen([sys.executable, "-m", "irodori.cli", "colorize", "-", "--model", str(tiny_onnx),
                                 "--png-compression", "0"],  # 120 kB: more than a pipe holds
                                stdin=page, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    try:
        assert len(os.read(read_end, 10)) > 0  # as `| head -c 10`
    finally:
        os.close(read_end)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 141 and b"Traceback" not in err, err


def test_mode_auto_remembers_a_bounded_number_of_names(tiny_paint_onnx):
    """A server's colorizer lives long: auto's choices were kept as an ever-growing list of names
    (helper 53); now counted, with the last NAMES_KEPT names."""
    from irodori.colorizer import NAMES_KEPT, auto_mode_counts, load_colorizer, mixed_modes

    colorizer = load_colorizer(tiny_paint_onnx)
    for i in range(NAMES_KEPT + 5):
        colorizer.auto_modes["tint"] += 1
        colorizer.auto_names["tint"].append(f"p{i}.png")
    colorizer.auto_modes["paint"] += NAMES_KEPT + 9
    colorizer.auto_names["paint"].extend(f"q{i}.png" for i in range(NAMES_KEPT + 9))
    assert len(colorizer.auto_names["tint"]) == NAMES_KEPT
    assert auto_mode_counts(colorizer) == (NAMES_KEPT + 5, NAMES_KEPT + 9)
    said = mixed_modes(colorizer, since=(NAMES_KEPT + 3, NAMES_KEPT + 7))
    assert said.startswith("--mode auto painted 2 black-and-white images and tinted 2 (tinted: "
                           f"p{NAMES_KEPT + 3}.png, p{NAMES_KEPT + 4}.png)")


def test_pages_kept_inside_the_output_folder_are_named(tiny_onnx, tmp_path, caplog):
    """-r -o ch/extras left ch/extras' own pages uncoloured without a word (helper 54): they
    are named; the batch's own outputs there, on a run again, are not."""
    chapter = tmp_path / "ch"
    _pages(chapter, 1)
    (chapter / "extras").mkdir()
    _pages(chapter, 1)[0].rename(chapter / "extras" / "p009.png")
    _pages(chapter, 1)
    args = ["colorize", str(chapter), "-r", "-o", str(chapter / "extras"), "--model", str(tiny_onnx), "-q"]
    for run in range(2):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="irodori.batch"):
            assert main(args) == 0
        said = [r.getMessage() for r in caplog.records if "inside the output folder" in r.getMessage()]
        assert said == [f"1 image inside the output folder -o {chapter / 'extras'} not coloured "
                        f"({chapter / 'extras' / 'p009.png'}): folder walks skip the output folder; choose another "
                        "-o to colour them"], run
