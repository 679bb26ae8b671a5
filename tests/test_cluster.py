"""irodori.cluster on a real Dask LocalCluster: two worker processes, real images, a corrupt one."""

from __future__ import annotations

import io
import os
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

distributed = pytest.importorskip("distributed")

from irodori.cluster import INSTALL_HINT, colorize_archive  # noqa: E402
from irodori.colorizer import load_colorizer  # noqa: E402
from irodori.registry import AUTO_MODEL  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        client.close()
        cluster.close()


def _archive(root):
    """Five small grey images (one in a sub-folder) and a corrupt bad.png."""
    yy, xx = np.mgrid[0:56, 0:40]
    images = {
        "a.png": (xx * 6).astype(np.uint8),
        "b.png": (yy * 4).astype(np.uint8),
        "c.png": np.where((xx - 20) ** 2 + (yy - 28) ** 2 < 144, 40, 220).astype(np.uint8),
        "d.png": ((xx + yy) * 3 % 256).astype(np.uint8),
        "sub/e.png": np.where((xx // 8 + yy // 8) % 2 == 0, 30, 200).astype(np.uint8),
    }
    for name, pixels in images.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "L").save(path)
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    return [root / name for name in images]


def test_colorize_archive_on_two_worker_processes(tmp_path, client):
    src, out = tmp_path / "scans", tmp_path / "out"
    sources = _archive(src)
    with zipfile.ZipFile(src / "ch.cbz", "w") as chapter:  # a comic book archive goes through as one file
        chapter.write(sources[0], "p1.png")
        chapter.write(sources[1], "p2.png")

    result = colorize_archive([str(src)], out, client=client, chunk_size=1, progress=False)

    assert result.done == 6 and result.skipped == 0
    assert len(result.failed) == 1 and result.failed[0].startswith(str(src / "bad.png") + ": ")
    # Really distributed: more than one worker process, none of them this one, one model load each.
    worker_pids = set(client.run(os.getpid).values())
    pids = {int(p.rsplit(":", 1)[1]) for p in result.processes}
    assert len(pids) == 2 and pids <= worker_pids and os.getpid() not in pids
    assert result.model_loads == len(pids)

    local = load_colorizer(AUTO_MODEL, threads=1)  # what colorize_archive uses by default
    for source in sources:
        output = out / source.relative_to(src).with_suffix(".png")
        with Image.open(output) as got:
            assert got.size == (40, 56)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(local.colorize(source)))
    with zipfile.ZipFile(out / "ch.cbz") as chapter:
        assert chapter.namelist() == ["p1.png", "p2.png"]
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(chapter.read("p2.png")))),
                                      np.asarray(local.colorize(sources[1])))

    emptied = out / sources[0].relative_to(src).with_suffix(".png")
    emptied.write_bytes(b"")  # as a crash before the data reached the disk would leave it: made again
    again = colorize_archive(src, out, client=client, progress=False)  # one path, not a list: also fine
    assert (again.done, again.skipped, again.model_loads) == (1, 5, 0)
    with Image.open(emptied) as remade:
        assert remade.size == (40, 56)
    assert [m.split(": ")[0] for m in again.failed] == [str(src / "bad.png")]


def test_archives_are_tasks_of_their_own_and_the_cli_options_reach_the_workers(tmp_path, client):
    """Four archives on two workers once ran as one task (chunks counted archives as one image
    each) in one process; mode, tone, background and references were not options at all."""
    from irodori.reference import ReferenceImageError

    src, out = tmp_path / "library", tmp_path / "out"
    pages = _archive(tmp_path / "pages")
    src.mkdir()
    for name in ("ch1.cbz", "ch2.cbz"):
        with zipfile.ZipFile(src / name, "w") as chapter:
            for i, page in enumerate(pages[:3]):
                chapter.write(page, f"p{i}.png")
    yy, xx = np.mgrid[0:56, 0:40]
    cover = np.stack([(xx * 6).astype(np.uint8), np.full_like(xx, 40, np.uint8), (yy * 4).astype(np.uint8)], -1)
    Image.fromarray(cover).save(tmp_path / "cover.png")

    result = colorize_archive(src, out, client=client, mode="tint", reference=[tmp_path / "cover.png"],
                              progress=False)
    assert (result.done, result.failed) == (2, [])
    assert len(result.processes) == 2  # one archive in each worker process
    local = load_colorizer(AUTO_MODEL, mode="tint", threads=1).with_references([tmp_path / "cover.png"])
    with zipfile.ZipFile(out / "ch2.cbz") as chapter:
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(chapter.read("p2.png")))),
                                      np.asarray(local.colorize(pages[2])))
    with pytest.raises(ValueError, match="'sepia'"):
        colorize_archive(src, out, client=client, mode="sepia", progress=False)
    with pytest.raises(ReferenceImageError, match="does not exist"):
        colorize_archive(src, out, client=client, reference=tmp_path / "nope.png", progress=False)
    # What the CLI refuses with exit 2 failed in every task instead (every file listed as failed).
    Image.fromarray(cover).convert("L").save(tmp_path / "grey.png")
    with pytest.raises(ReferenceImageError, match="colour"):
        colorize_archive(src, out, client=client, reference=tmp_path / "grey.png", overwrite=True, progress=False)
    with pytest.raises(ValueError, match="paint"):
        colorize_archive(src, out, client=client, model="general", mode="paint", overwrite=True, progress=False)
    # an output "folder" that is a file: one error up front, as the CLI's (it was every page's own
    # FileExistsError, helper 52)
    (tmp_path / "taken").write_text("notes")
    with pytest.raises(ValueError, match="taken is a file, not a folder"):
        colorize_archive(src, tmp_path / "taken" / "out", client=client, progress=False)


def test_a_missing_input_and_a_missing_model_are_reported_not_raised(tmp_path, client):
    src, out = tmp_path / "scans", tmp_path / "out"
    _archive(src)
    result = colorize_archive([str(src / "a.png"), str(tmp_path / "nope")], out, client=client,
                              model=str(tmp_path / "missing.onnx"), progress=False)
    assert result.done == 0
    assert any(m.startswith(str(tmp_path / "nope")) and "no such file" in m for m in result.failed)
    assert any(m.startswith(str(src / "a.png")) and "task failed" in m for m in result.failed)


def test_without_distributed_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'irodori\[cluster\]'"):
        colorize_archive([str(tmp_path)], tmp_path / "out", client=None)
    assert "irodori[cluster]" in INSTALL_HINT
