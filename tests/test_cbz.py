"""Comic book archives: a .cbz in, a .cbz out with every page coloured, in order, nothing lost."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from irodori.cbz import colorize_cbz
from irodori.cli import main
from irodori.color import rgb_to_l
from irodori.colorizer import load_colorizer
from irodori.imageio import ImageReadError

COMIC_INFO = b"<?xml version='1.0'?><ComicInfo><Title>Chapter 1</Title></ComicInfo>"
BROKEN = b"\x89PNG\r\n\x1a\n not really"


def _page(h: int, w: int, fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    grey = (rng.random((h, w)) * 255).astype(np.uint8)
    grey[h // 2, :] = 0  # a line of ink
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.fixture
def chapter(tmp_path):
    """A chapter as scanlators pack it: ComicInfo.xml, a folder entry, pages of two formats and
    sizes, one damaged page, and macOS junk."""
    path = tmp_path / "in" / "ch01.cbz"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ComicInfo.xml", COMIC_INFO)
        archive.writestr("pages/", b"")
        archive.writestr("pages/001.jpg", _page(40, 30, "JPEG", 1))
        archive.writestr("pages/002.png", _page(36, 52, "PNG", 2))
        archive.writestr("pages/003.png", BROKEN)
        archive.writestr("pages/004.png", _page(64, 24, "PNG", 4))
        archive.writestr("__MACOSX/pages/._001.jpg", b"\x00\x05\x16\x07 resource fork")
    return path


def test_every_page_is_coloured_in_order_and_the_rest_is_kept(tiny_onnx, chapter, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "--threads", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert "ch01.cbz: pages/003.png: not an image" in err and "copied uncoloured" in err
    assert "1 coloured, 0 skipped" in err and "1 page of archives copied uncoloured" in err

    with zipfile.ZipFile(chapter) as source, zipfile.ZipFile(out / "ch01.cbz") as result:
        assert result.namelist() == ["ComicInfo.xml", "pages/", "pages/001.png", "pages/002.png", "pages/003.png",
                                     "pages/004.png", "__MACOSX/pages/._001.jpg"]
        assert result.read("ComicInfo.xml") == COMIC_INFO and result.read("pages/003.png") == BROKEN
        assert result.read("__MACOSX/pages/._001.jpg") == source.read("__MACOSX/pages/._001.jpg")
        colorizer = load_colorizer(tiny_onnx, threads=1)
        for name in ("pages/001.jpg", "pages/002.png", "pages/004.png"):
            grey = Image.open(io.BytesIO(source.read(name)))
            coloured = Image.open(io.BytesIO(result.read(name.rsplit(".", 1)[0] + ".png")))
            assert coloured.size == grey.size and coloured.mode == "RGB"
            # each page where it was (pages differ in size), coloured as on its own, lightness kept
            assert np.array_equal(np.asarray(coloured), np.asarray(colorizer.colorize(source.read(name))))
            l_in, l_out = rgb_to_l(np.asarray(grey.convert("RGB"))), rgb_to_l(np.asarray(coloured))
            assert np.abs(l_in - l_out).max() < 1.5

    # The output is complete, so the same command skips it.
    assert main(["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    assert "0 coloured, 1 skipped" in capsys.readouterr().err


def test_a_folder_of_chapters_and_pages_is_walked_and_named_by_kind(tiny_onnx, chapter, tmp_path):
    Image.open(io.BytesIO(_page(20, 20, "PNG", 9))).save(chapter.parent / "cover.png")
    out = tmp_path / "out"
    assert main(["colorize", str(chapter.parent), "-o", str(out), "--model", str(tiny_onnx), "--format", "jpg",
                 "-q"]) == 1  # the damaged page
    assert sorted(p.name for p in out.iterdir()) == ["ch01.cbz", "cover.jpg"]
    with zipfile.ZipFile(out / "ch01.cbz") as result:
        assert "pages/002.jpg" in result.namelist()
        assert result.getinfo("pages/002.jpg").compress_type == zipfile.ZIP_STORED  # JPEG does not deflate


def test_unusable_archives_fail_and_leave_nothing(tiny_onnx, tmp_path):
    colorizer = load_colorizer(tiny_onnx, threads=1)
    (tmp_path / "junk.cbz").write_bytes(b"PK not a zip")
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as archive:
        archive.writestr("readme.txt", "no pages here")
    with zipfile.ZipFile(tmp_path / "locked.cbz", "w") as archive:
        archive.writestr("001.png", _page(20, 20, "PNG", 0))
    data = bytearray((tmp_path / "locked.cbz").read_bytes())  # zipfile cannot encrypt: set the flag by hand
    data[data.index(b"PK\x03\x04") + 6] |= 0x1  # the local header's "encrypted" bit
    data[data.index(b"PK\x01\x02") + 8] |= 0x1  # the central directory's
    (tmp_path / "locked.cbz").write_bytes(bytes(data))
    out = tmp_path / "out"
    for name, reason in [("junk.cbz", "not a readable zip archive"), ("notes.zip", "no page images"),
                         ("locked.cbz", "encrypted"), ("missing.cbz", "file not found")]:
        with pytest.raises(ImageReadError, match=reason):
            colorize_cbz(colorizer, tmp_path / name, out / name, fmt="png")
    assert not out.exists() or not any(out.iterdir())  # no output, no temporary file


def test_a_page_renamed_onto_another_entry_keeps_its_old_extension(tiny_onnx, tmp_path):
    with zipfile.ZipFile(tmp_path / "c.cbz", "w") as archive:
        archive.writestr("1.jpg", _page(20, 24, "JPEG", 0))
        archive.writestr("1.png", _page(20, 24, "PNG", 1))
    problems = colorize_cbz(load_colorizer(tiny_onnx, threads=1), tmp_path / "c.cbz", tmp_path / "o.cbz",
                            fmt="png", threads=3)
    with zipfile.ZipFile(tmp_path / "o.cbz") as result:
        assert problems == [] and result.namelist() == ["1.jpg.png", "1.png"]
