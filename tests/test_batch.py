"""The threaded folder mode: the same outputs as the sequential loop, failures still per file."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irodori.batch import Job, colorize_jobs
from irodori.colorizer import load_colorizer


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(7)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(9):
        h, w = 30 + 7 * i, 50 - 3 * i
        Image.fromarray((rng.random((h, w)) * 255).astype(np.uint8)).save(src / f"p{i}.png")
    (src / "p3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # a bad file in the middle
    (src / "p7.png").write_text("not an image")
    return src


def _jobs(src: Path, out: Path) -> list[Job]:
    return [Job(p, out / p.name) for p in sorted(src.glob("*.png"))]


@pytest.mark.parametrize("threads", [2, 4])
def test_threaded_folder_matches_sequential_and_reports_each_failure(tiny_onnx, folder, tmp_path, threads):
    sequential = load_colorizer(tiny_onnx, threads=1)
    seq_fail = colorize_jobs(sequential, _jobs(folder, tmp_path / "seq"), fmt="png", threads=1)
    seen = []
    threaded = load_colorizer(tiny_onnx, threads=1)
    par_fail = colorize_jobs(threaded, _jobs(folder, tmp_path / "par"), fmt="png", threads=threads,
                             on_done=lambda job, error: seen.append((job.source.name, error)))
    assert sorted(seq_fail) == sorted(par_fail)
    assert len(par_fail) == 2 and any("p3.png" in f for f in par_fail) and any("p7.png" in f for f in par_fail)
    assert sorted(name for name, _ in seen) == sorted(f"p{i}.png" for i in range(9))  # every job reported once
    names = sorted(p.name for p in (tmp_path / "seq").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "par").iterdir()) and len(names) == 7
    for name in names:
        a = np.asarray(Image.open(tmp_path / "seq" / name), dtype=int)
        b = np.asarray(Image.open(tmp_path / "par" / name), dtype=int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_unexpected_errors_are_not_swallowed(tiny_onnx, folder, tmp_path):
    colorizer = load_colorizer(tiny_onnx, threads=1)

    def boom(job, error):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        colorize_jobs(colorizer, _jobs(folder, tmp_path / "o"), fmt="png", threads=2, on_done=boom)
