"""Comic book archives: a .cbz in, a .cbz out with every page coloured, in order, nothing lost."""

import gc
import io
import logging
import shutil
import stat
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from irodori import cbz
from irodori.cbz import colorize_cbz
from irodori.cli import main
from irodori.color import rgb_to_l
from irodori.colorizer import load_colorizer
from irodori.imageio import ImageReadError

COMIC_INFO = b"<?xml version='1.0'?><ComicInfo><Title>Chapter 1</Title></ComicInfo>"
BROKEN = b"\x89PNG\r\n\x1a\n not really"
FIELD_CASES = Path(__file__).resolve().parents[2] / "shared" / "field-cases"


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


def test_an_archive_with_pages_copied_uncoloured_is_made_again_on_a_rerun(tiny_onnx, chapter, tmp_path, capsys,
                                                                          caplog):
    """Run again, a batch skips what it finished, but not an archive it left partly black and
    white: its bad page may be whole now. One it finished is skipped."""
    out = tmp_path / "out"
    args = ["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "-q"]
    assert main(args) == 1
    with zipfile.ZipFile(out / "ch01.cbz") as result:
        assert [i.filename for i in result.infolist() if i.comment.endswith(b"copied uncoloured]")] == ["pages/003.png"]
    capsys.readouterr()
    fixed = tmp_path / "fixed.cbz"  # the page, downloaded again, is whole now
    with zipfile.ZipFile(chapter) as source, zipfile.ZipFile(fixed, "w") as rebuilt:
        for info in source.infolist():
            rebuilt.writestr(info, _page(30, 30, "PNG", 3) if info.filename == "pages/003.png" else source.read(info))
    fixed.replace(chapter)
    with caplog.at_level("WARNING", logger="irodori.batch"):
        assert main(args) == 0
    assert "ch01.cbz: 1 page copied uncoloured last time; made again" in caplog.text
    assert "1 coloured, 0 skipped" in capsys.readouterr().err
    with zipfile.ZipFile(out / "ch01.cbz") as result:
        assert not any(i.comment for i in result.infolist())
    assert main(args) == 0
    assert "0 coloured, 1 skipped" in capsys.readouterr().err


def test_a_folder_walk_passes_over_an_archive_irodori_wrote(tiny_onnx, chapter, tmp_path, capsys, caplog):
    """Helper 65: `colorize out_cbz/ -o again/` coloured the pages of irodori's own .cbz again
    (loose output images were already passed over). Its first coloured page says irodori made it."""
    from irodori.cbz import written_by_irodori

    out = tmp_path / "out"
    assert main(["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1  # (a bad page)
    assert written_by_irodori(out / "ch01.cbz") and not written_by_irodori(chapter)
    assert not written_by_irodori(tmp_path / "missing.cbz")
    huge = tmp_path / "huge.cbz"  # a first page past Pillow's own limit: not ours, and no traceback (helper 79)
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    with zipfile.ZipFile(huge, "w") as archive:
        archive.writestr("001.png", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
                         + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
    assert not written_by_irodori(huge)
    shutil.copy(chapter, out / "theirs.cbz")  # a chapter of the user's beside it is coloured
    with caplog.at_level("WARNING", logger="irodori.batch"):
        assert main(["colorize", str(out), "-o", str(tmp_path / "again"), "--model", str(tiny_onnx), "-q"]) == 1
    assert f"1 file not coloured again: irodori's own output ({out / 'ch01.cbz'})" in caplog.text
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["theirs.cbz"]
    named = ["colorize", str(out / "ch01.cbz"), "-o", str(tmp_path / "direct"), "--model", str(tiny_onnx), "-q"]
    assert main(named) in (0, 1) and (tmp_path / "direct" / "ch01.cbz").is_file()  # named: coloured


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

    # It holds a page copied uncoloured, so the same command makes it again (and fails that page again).
    assert main(["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    assert "1 coloured, 0 skipped" in capsys.readouterr().err


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


# -- names, flags and modes kept; new names unique; unsafe names refused ------------------------
def _central(data: bytes) -> list[tuple[bytes, int, int, bytes]]:
    """(name bytes, UTF-8 flag, unix mode, local header's name bytes) of every central directory
    record, parsed from the raw archive."""
    end = data.rindex(b"PK\x05\x06")
    count, _, at = struct.unpack_from("<HII", data, end + 10)
    records = []
    for _ in range(count):
        assert data[at:at + 4] == b"PK\x01\x02"
        flags = struct.unpack_from("<H", data, at + 8)[0]
        n, m, k = struct.unpack_from("<HHH", data, at + 28)
        attr, local = struct.unpack_from("<II", data, at + 38)
        local_n = struct.unpack_from("<H", data, local + 26)[0]
        records.append((data[at + 46:at + 46 + n], flags & 0x800, attr >> 16, data[local + 30:local + 30 + local_n]))
        at += 46 + n + m + k
    return records


def _with_raw_names(path, entries: list[tuple[bytes | str, bytes]]) -> None:
    """A zip whose bytes names are written as they are without the UTF-8 flag (as Windows zip
    tools write Shift-JIS names: under ASCII stand-ins of the same length, then patched), and whose
    str names are written by zipfile (as UTF-8, flagged, when they are not ASCII)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, (raw, data) in enumerate(entries):
            archive.writestr(raw if isinstance(raw, str) else f"~{i:03d}".ljust(len(raw), "~"), data)
    blob = path.read_bytes()
    for i, (raw, _) in enumerate(entries):
        if isinstance(raw, str):
            continue
        stand_in = f"~{i:03d}".ljust(len(raw), "~").encode()
        assert blob.count(stand_in) == 2  # local header and central directory
        blob = blob.replace(stand_in, raw)
    path.write_bytes(blob)


def test_entry_names_are_kept_byte_for_byte_with_their_flags(tiny_onnx, tmp_path):
    hyoshi = "表紙/表.jpg".encode("shift_jis")  # 表 is 0x95 0x5C: a backslash as its second byte
    assert b"\\" in hyoshi
    memo = "メモ.txt".encode("shift_jis")
    source = tmp_path / "sjis.cbz"
    _with_raw_names(source, [(hyoshi, _page(24, 20, "JPEG", 1)), (memo, b"notes"),
                             ("ページ2.png".encode("shift_jis"), _page(20, 28, "PNG", 2)),
                             ("ページ3.png", _page(20, 20, "PNG", 3))])  # and a UTF-8 name, flagged
    out = tmp_path / "o.cbz"
    assert colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, out, fmt="png", threads=2) == []
    got = _central(out.read_bytes())
    want = [(name[:-4] + b".png" if name.endswith(b".jpg") else name, flag, mode, name[:-4] + b".png"
             if name.endswith(b".jpg") else name) for name, flag, mode, _ in _central(source.read_bytes())]
    assert got == want
    assert [flag for _, flag, _, _ in got] == [0, 0, 0, 0x800]
    with zipfile.ZipFile(out) as result:
        assert result.read(result.infolist()[1]) == b"notes"


def test_the_field_case_sjis_archive_keeps_its_names(tiny_onnx, tmp_path):
    source = FIELD_CASES / "sjis_names.cbz"
    if not source.exists():
        pytest.skip("field cases not present")
    out = tmp_path / "o.cbz"
    assert colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, out, fmt="webp") == []
    assert [r[0] for r in _central(out.read_bytes())] == [r[0][:-4] + b".webp" for r in _central(source.read_bytes())]


@pytest.mark.parametrize("names", [["x.jpg", "x.jpeg", "x.jpeg.png"],
                                   ["x.jpg", "x.jpeg", "x.jpeg.png", "x.jpeg-2.png", "x.jpg.png"],
                                   ["X.PNG", "x.jpg", "X.JPG.png"],  # unpacked ignoring case on Windows, macOS
                                   ["x.jpg", "x.png/001.png"], ["x.jpg", "X.PNG\\001.png"]])  # a folder's name
def test_renamed_pages_never_collide(tiny_onnx, tmp_path, names):
    source = tmp_path / "c.cbz"
    with zipfile.ZipFile(source, "w") as archive:
        for i, name in enumerate(names):
            archive.writestr(name, _page(16 + 2 * i, 20, "JPEG" if "jp" in name.lower()[-5:] else "PNG", i))
    out = tmp_path / "o.cbz"
    assert colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, out, fmt="png") == []
    with zipfile.ZipFile(out) as result:
        new = result.namelist()
        assert len({n.casefold() for n in new}) == len(names) and all(n.lower().endswith(".png") for n in new)
        folders = {f.casefold() for n in new for f in (n.replace("\\", "/").rsplit("/", 1)[0],) if f != n}
        assert not folders & {n.casefold() for n in new}  # unzip: "x.png exists but is not directory"
        heights = sorted(Image.open(io.BytesIO(result.read(n))).size[1] for n in new)
    assert heights == [16 + 2 * i for i in range(len(names))]  # every page is there, once


def test_the_field_case_collision_archive_keeps_every_page(tiny_onnx, tmp_path):
    source = FIELD_CASES / "cbz_rename_collision.cbz"
    if not source.exists():
        pytest.skip("field cases not present")
    out = tmp_path / "o.cbz"
    colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, out, fmt="png")
    with zipfile.ZipFile(out) as result:
        assert len(set(result.namelist())) == 3


@pytest.mark.parametrize("name", ["../../x.png", "/abs/x.png", "pages/../../x.png", "C:/x.png", "..\\x.png",
                                  "pages/..", "\\\\server\\x.png"])
def test_an_archive_with_a_name_that_unpacks_outside_is_refused(tiny_onnx, tmp_path, capsys, name):
    source = tmp_path / "in" / "evil.cbz"
    source.parent.mkdir()
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("001.png", _page(20, 20, "PNG", 0))
        archive.writestr(zipfile.ZipInfo(name), _page(20, 20, "PNG", 1))
    out = tmp_path / "out"
    assert main(["colorize", str(source), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    assert "outside the archive's folder" in capsys.readouterr().err
    assert not out.exists()  # nothing written, not even an empty folder


def test_links_are_copied_as_links_and_coloured_pages_are_regular_files(tiny_onnx, tmp_path):
    source = tmp_path / "c.cbz"
    with zipfile.ZipFile(source, "w") as archive:
        page = zipfile.ZipInfo("001.jpg")
        page.external_attr = (stat.S_IFREG | 0o640) << 16
        archive.writestr(page, _page(20, 20, "JPEG", 0))
        link = zipfile.ZipInfo("cover.jpg")  # a symbolic link: its data is the target's path
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, b"001.jpg")
        odd = zipfile.ZipInfo("002.jpg")  # a page that claims to be a device file
        odd.external_attr = (stat.S_IFCHR | 0o600) << 16
        archive.writestr(odd, _page(20, 20, "JPEG", 2))
    out = tmp_path / "o.cbz"
    assert colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, out, fmt="png") == []
    with zipfile.ZipFile(out) as result:
        modes = {i.filename: i.external_attr >> 16 for i in result.infolist()}
        assert result.read("cover.jpg") == b"001.png"  # the page it points at is renamed: so is its target
    assert modes == {"001.png": stat.S_IFREG | 0o640, "cover.jpg": stat.S_IFLNK | 0o777,
                     "002.png": stat.S_IFREG | 0o600}


@pytest.mark.parametrize("target", ["../../../../etc", "/etc", "sub/../../../etc", "C:\\Windows", "..\\.."])
def test_an_archive_with_a_link_pointing_outside_is_refused(tiny_onnx, tmp_path, capsys, target):
    source = tmp_path / "in" / "evil.cbz"
    source.parent.mkdir()
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("001.png", _page(20, 20, "PNG", 0))
        link = zipfile.ZipInfo("pages/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, target.encode())
        archive.writestr("pages/link/passwd.png", _page(20, 20, "PNG", 1))  # unpacked through the link
    out = tmp_path / "out"
    assert main(["colorize", str(source), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    assert "'pages/link' is a link pointing outside the archive's folder" in capsys.readouterr().err
    assert not out.exists()


def _with_links(path, links, pages=("p.png",)):
    with zipfile.ZipFile(path, "w") as archive:
        for i, name in enumerate(pages):
            archive.writestr(name, _page(20, 20, "PNG", i))
        for name, target in links:
            link = zipfile.ZipInfo(name)
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(link, target.encode())


def test_links_in_a_chain_are_followed_as_unpacking_would(tiny_onnx, tmp_path, capsys):
    """Each link alone stays inside; "a/b/up" leads to the top, so "a/b/up/esc" lies at the top
    and its "../.." climbs out: both were accepted, each checked alone."""
    source = tmp_path / "in" / "chain.cbz"
    source.parent.mkdir()
    _with_links(source, [("a/b/up", "./../.."), ("a/b/up/esc", "./../../x")])
    assert main(["colorize", str(source), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "-q"]) == 1
    assert "'a/b/up/esc' is a link pointing outside" in capsys.readouterr().err
    _with_links(source, [("a/up", ".."), ("a/up/b/p2.png", "../p.png")], pages=("p.png", "a/up/b/q.png"))
    assert main(["colorize", str(source), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "-q"]) == 0
    _with_links(source, [("a/up", ".."), ("a/up/p2.png", "../p.png")])  # from the top, ".." is outside
    assert main(["colorize", str(source), "-o", str(tmp_path / "out2"), "--model", str(tiny_onnx), "-q"]) == 1


@pytest.mark.parametrize("name, target", [("ch2/cover.png", "../p.png"), ("sub/l", ".."), ("a/b/l", "../../sub"),
                                          ("l", "./p.png")])
def test_links_that_stay_inside_are_kept(tiny_onnx, tmp_path, name, target):
    """A target starting with ".." was refused whole, though it climbs no higher than the top."""
    source = tmp_path / "c.cbz"
    _with_links(source, [(name, target)])
    out = tmp_path / "o.cbz"
    assert colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, out, fmt="png") == []
    with zipfile.ZipFile(out) as result:
        assert result.read(name) == target.encode()


def test_pages_of_every_format_pillow_reads_are_coloured_in_folders_and_archives(tiny_onnx, tmp_path, capsys):
    """PGM/PPM scans and .jfif pages were skipped in folders (a folder of them: "no images found")
    and copied uncoloured, unreported, from archives, though named alone they were coloured."""
    folder = tmp_path / "scans"
    folder.mkdir()
    formats = {"a.pgm": "PPM", "b.ppm": "PPM", "c.jfif": "JPEG", "d.PNM": "PPM", "e.pbm": "PPM"}
    with zipfile.ZipFile(folder / "ch.cbz", "w") as archive:
        for i, (name, fmt) in enumerate(formats.items()):
            page = Image.open(io.BytesIO(_page(20 + i, 24, "PNG", i)))
            page = page.convert("1") if name.endswith(".pbm") else page
            page.save(folder / name, fmt)
            archive.write(folder / name, name)
    out = tmp_path / "out"
    assert main(["colorize", str(folder), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    assert "6 coloured" in capsys.readouterr().err  # five pages and the archive
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png", "ch.cbz", "d.png", "e.png"]
    with zipfile.ZipFile(out / "ch.cbz") as result:
        assert result.namelist() == ["a.png", "b.png", "c.png", "d.png", "e.png"]
        assert [Image.open(io.BytesIO(result.read(n))).size[1] for n in result.namelist()] == [20, 21, 22, 23, 24]


def test_the_archives_comment_is_kept_and_an_empty_archive_is_named_so(tiny_onnx, tmp_path):
    """The comment is where ComicBookInfo / ComicTagger keep a chapter's metadata: it was dropped."""
    source = tmp_path / "c.cbz"
    comment = b'{"ComicBookInfo/1.0": {"series": "Test", "issue": 1}}'
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("001.png", _page(20, 20, "PNG", 0))
        archive.comment = comment
    colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, tmp_path / "o.cbz", fmt="png")
    with zipfile.ZipFile(tmp_path / "o.cbz") as result:
        assert result.comment == comment
    from irodori.hints import Hint, HintError

    with pytest.raises(HintError, match="^page_hints names c.cbz/002.png, which is no page image of c.cbz"):
        colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, tmp_path / "h.cbz", fmt="png",
                     page_hints={"002.png": (Hint(1, 1, (255, 0, 0)),)})  # (a "hints file" to a Python caller)
    (tmp_path / "empty.cbz").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"an empty file \(0 bytes\)"):
        colorize_cbz(load_colorizer(tiny_onnx, threads=1), tmp_path / "empty.cbz", tmp_path / "e.cbz", fmt="png")


def test_a_pages_warnings_name_the_archive_and_the_page(tiny_onnx, tmp_path, caplog):
    source = tmp_path / "ch01.cbz"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("001.jpg", _page(20, 20, "JPEG", 0)[:-2])  # its end-of-image marker missing
        archive.writestr("002.png", _page(20, 20, "PNG", 1))
    with caplog.at_level(logging.WARNING):
        assert colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, tmp_path / "o.cbz", fmt="png",
                            threads=2) == []
    assert "ch01.cbz: 001.jpg: the JPEG lacks its end-of-image marker" in caplog.text


def test_resource_forks_named_with_backslashes_are_junk_not_failed_pages(tiny_onnx, tmp_path, capsys):
    source = tmp_path / "in" / "c.cbz"
    source.parent.mkdir()
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("001.png", _page(20, 20, "PNG", 0))
        archive.writestr("__MACOSX\\._001.png", b"\x00\x05\x16\x07 resource fork")
        archive.writestr("sub\\._002.png", b"\x00\x05\x16\x07 resource fork")
    assert main(["colorize", str(source), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "-q"]) == 0
    assert "copied uncoloured" not in capsys.readouterr().err


# -- what is inflated is bounded, whatever the headers claim ------------------------------------
def _lying(path, method: int, inflated: bytes, claimed: int) -> None:
    """A zip with one page whose headers claim ``claimed`` bytes while it inflates to ``inflated``."""
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("001.png", inflated)
    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, claimed)
    struct.pack_into("<I", data, central + 24, claimed)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_page_whose_header_understates_its_size_inflates_no_further(tiny_onnx, tmp_path, method):
    bomb = tmp_path / "bomb.cbz"
    _lying(bomb, method, b"\x89PNG\r\n\x1a\n" + bytes(48 << 20), claimed=100)
    assert bomb.stat().st_size < 200_000
    colorizer = load_colorizer(tiny_onnx, threads=1)
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError, match="inflates past its declared size of 100 bytes"):
            colorize_cbz(colorizer, bomb, tmp_path / "o.cbz", fmt="png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # one chunk (1 MiB) and change, not the 48 MiB it inflates to
    assert not (tmp_path / "o.cbz").exists()


def test_the_page_cap_counts_what_is_inflated(tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.setattr(cbz, "MAX_PAGE_BYTES", 3000)
    source = tmp_path / "c.cbz"
    big = _page(64, 64, "PNG", 0)
    assert len(big) > 3000
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("001.png", big)
        archive.writestr("002.png", _page(8, 8, "PNG", 1))
    problems = colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, tmp_path / "o.cbz", fmt="png")
    assert problems == [f"001.png: {len(big)} bytes, over the 0 MB a page may have; copied uncoloured"]
    _lying(source, zipfile.ZIP_DEFLATED, big, claimed=2000)  # under the cap by its header only
    with pytest.raises(ImageReadError, match="inflates past its declared size"):
        colorize_cbz(load_colorizer(tiny_onnx, threads=1), source, tmp_path / "o.cbz", fmt="png")


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_pages_of_every_zip_method_are_read(tiny_onnx, tmp_path, method):
    source = tmp_path / "c.cbz"
    page = _page(30, 20, "PNG", 5)
    with zipfile.ZipFile(source, "w", method) as archive:
        archive.writestr("001.png", page)
        archive.writestr("ComicInfo.xml", COMIC_INFO)
    colorizer = load_colorizer(tiny_onnx, threads=1)
    assert colorize_cbz(colorizer, source, tmp_path / "o.cbz", fmt="png") == []
    with zipfile.ZipFile(tmp_path / "o.cbz") as result:
        assert result.read("ComicInfo.xml") == COMIC_INFO
        assert result.getinfo("ComicInfo.xml").compress_type == method
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(result.read("001.png")))),
                              np.asarray(colorizer.colorize(page)))


def test_failed_pages_are_freed_without_the_cycle_collector(tiny_onnx, tmp_path):
    source = tmp_path / "c.cbz"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(source, "w") as archive:  # stored: 8 damaged pages of 2 MB
        for i in range(8):
            archive.writestr(f"{i:03d}.png", b"\x89PNG\r\n\x1a\n" + rng.bytes(2 << 20))
        archive.writestr("999.png", _page(20, 20, "PNG", 0))
    colorizer = load_colorizer(tiny_onnx, threads=1)
    gc.collect()
    gc.disable()  # what only the cycle collector could free stays allocated
    tracemalloc.start()
    try:
        problems = colorize_cbz(colorizer, source, tmp_path / "o.cbz", fmt="png", threads=2)
        left = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        gc.enable()
    assert len(problems) == 8
    assert left < 2 << 20  # not one 2 MB page is still held


def test_a_hints_file_can_name_a_page_inside_an_archive(tiny_onnx, tmp_path, capsys):
    """{"ch.cbz/pages/002.png": [...]}: that page takes the hint, its twin beside it does not; a
    page the archive does not hold is refused by name, and nothing is written."""
    import json

    page = _page(48, 64, "PNG", 7)
    path = tmp_path / "ch.cbz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pages/001.png", page)
        archive.writestr("pages/002.png", page)
    red = [{"x": 10, "y": 10, "color": "#e02020"}]
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"ch.cbz/pages/002.png": red}))
    args = ["colorize", str(path), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx), "--hints", str(hints), "-q"]
    assert main(args) == 0
    with zipfile.ZipFile(tmp_path / "out" / "ch.cbz") as out:
        first, second = (np.asarray(Image.open(io.BytesIO(out.read(n))).convert("RGB")).astype(int)
                         for n in ("pages/001.png", "pages/002.png"))
    assert second[10, 10, 0] - second[10, 10, 2] > first[10, 10, 0] - first[10, 10, 2] + 20  # redder where hinted
    hints.write_text(json.dumps({"ch.cbz/pages/009.png": red}))
    assert main([*args[:3], str(tmp_path / "out2"), *args[4:]]) == 2  # a usage error, found before any work
    assert "the hints file names ch.cbz/pages/009.png, which is no page image of ch.cbz" in capsys.readouterr().err
    assert not (tmp_path / "out2" / "ch.cbz").exists()
    assert main(args) == 2  # also when the archive's output exists and would be kept (it said nothing)
    assert "which is no page image of ch.cbz" in capsys.readouterr().err
    # a page's own name, or the archive's and the page's without its folder: the key it needs is
    # given (it suggested "ch.cbz/002.png", itself refused: helper 52)
    for key in ("002.png", "ch.cbz/002.png"):
        hints.write_text(json.dumps({key: red}))
        assert main([*args[:3], str(tmp_path / "out2"), *args[4:]]) == 2
        assert "did you mean 'ch.cbz/pages/002.png'?" in capsys.readouterr().err
    # no such page: how pages are named, with a real page (one made from the key read as a
    # suggestion, helper 54, and from another archive's key, "ch.cbz/other.cbz/009.png", helper 53)
    for key in ("009.png", "other.cbz/009.png"):
        hints.write_text(json.dumps({key: red}))
        assert main([*args[:3], str(tmp_path / "out2"), *args[4:]]) == 2
        assert 'the page\'s path inside it, as in "ch.cbz/pages/001.png"' in capsys.readouterr().err
    hints.write_text(json.dumps({"ch.cbz/001.png": red, "ch.cbz/002.png": red}))
    assert main([*args[:3], str(tmp_path / "out2"), *args[4:]]) == 2
    assert ("which are no page images of ch.cbz; did you mean 'ch.cbz/pages/001.png' for 'ch.cbz/001.png', "
            "'ch.cbz/pages/002.png' for 'ch.cbz/002.png'?") in capsys.readouterr().err


def test_every_fault_of_a_hints_files_names_is_said_at_once(tiny_onnx, tmp_path, capsys):
    """A name matching no input, and pages two archives lack: one error says all three (each was
    said alone, so a user fixed one to be shown the next; helper 55), and nothing is written."""
    import json

    for name in ("a.cbz", "b.cbz"):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            archive.writestr("001.png", _page(32, 32, "PNG", 3))
    red = [{"x": 4, "y": 4, "color": "#e02020"}]
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"a.cbz/009.png": red, "b.cbz/007.png": red, "c.png": red, "a.cbz/001.png": red}))
    args = ["colorize", str(tmp_path / "a.cbz"), str(tmp_path / "b.cbz"), "-o", str(tmp_path / "out"),
            "--model", str(tiny_onnx), "--hints", str(hints), "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the hints file has 3 faults:" in err
    assert "the hints file names c.png, which matches no input image" in err
    assert "the hints file names a.cbz/009.png, which is no page image of a.cbz" in err
    assert "the hints file names b.cbz/007.png, which is no page image of b.cbz" in err
    assert not (tmp_path / "out").exists()


def test_hints_file_names_match_pages_whatever_their_unicode_form(tiny_onnx, tmp_path):
    """A zip made on macOS stores "ページ" decomposed (NFD); a hints file typed elsewhere holds it
    composed (NFC): the names were said to match no page (helper 52). Both forms now match, and
    two pages whose names differ only so are written under two names."""
    import json
    import unicodedata

    composed = "第1話/ページ2.png"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    page = _page(48, 64, "PNG", 7)
    path = tmp_path / "ch.cbz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("第1話/001.png", page)
        archive.writestr(decomposed, page)
        archive.writestr(unicodedata.normalize("NFD", "第1話/ページ3.jpg"), _page(48, 64, "JPEG", 7))
        archive.writestr("第1話/ページ3.png", page)  # the .jpg's output name, composed
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({f"ch.cbz/{composed}": [{"x": 10, "y": 10, "color": "#e02020"}]}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["colorize", str(path), "-o", str(out), "--model", str(tiny_onnx), "--hints", str(hints), "-q"]) == 0
    with zipfile.ZipFile(out / "ch.cbz") as result:
        names = result.namelist()
        first, hinted = (np.asarray(Image.open(io.BytesIO(result.read(n))).convert("RGB")).astype(int)
                         for n in ("第1話/001.png", decomposed))
    assert hinted[10, 10, 0] - hinted[10, 10, 2] > first[10, 10, 0] - first[10, 10, 2] + 20  # the hint was used
    folded = [unicodedata.normalize("NFC", name).casefold() for name in names]
    assert len(set(folded)) == len(folded) == 4  # the .jpg's output does not take the .png's name


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow does not read AVIF")
def test_avif_pages_are_coloured_in_archives_and_folders(tiny_onnx, tmp_path, capsys):
    """AVIF pages were copied uncoloured from archives, unreported, and passed over in folders
    (exit 0), though Pillow reads them and named alone they were coloured. A damaged one is
    still copied uncoloured, counted and reported."""
    folder = tmp_path / "av"
    folder.mkdir()
    for i, name in enumerate(["000.avif", "001.avif", "002.png"]):
        page = Image.open(io.BytesIO(_page(20 + i, 24, "PNG", i)))
        page.save(folder / name, "AVIF" if name.endswith(".avif") else "PNG", **({"quality": 90} if i < 2 else {}))
    with zipfile.ZipFile(folder / "av_ch.cbz", "w") as archive:
        for name in ["000.avif", "001.avif", "002.png"]:
            archive.write(folder / name, name)
        archive.writestr("003.avif", b"\x00\x00\x00\x1cftypavif not really")
    out = tmp_path / "out"
    assert main(["colorize", str(folder), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    err = capsys.readouterr().err
    assert "4 coloured, 0 skipped, 0 failed; 1 page of archives copied uncoloured" in err, err
    assert f"{folder / 'av_ch.cbz'}: 003.avif:" in err and "av_ch.cbz (1 page copied uncoloured)" in err
    # listed as it is counted: written, not failed (the list said "failed:" over a count of 0 failed)
    assert "incomplete:\n  " in err and "failed:\n" not in err
    assert sorted(p.name for p in out.iterdir()) == ["000.png", "001.png", "002.png", "av_ch.cbz"]
    with zipfile.ZipFile(out / "av_ch.cbz") as result:
        assert result.namelist() == ["000.png", "001.png", "002.png", "003.avif"]
        assert [Image.open(io.BytesIO(result.read(n))).size[1] for n in result.namelist()[:3]] == [20, 21, 22]


def test_rar_archives_are_named_as_unsupported(tiny_onnx, tmp_path, capsys, caplog):
    """A .cbr named alone said "not an image, or a format Pillow cannot read"; in a folder it
    was passed over without a word."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ch.cbr").write_bytes(b"Rar!\x1a\x07\x00 a RAR archive")
    (folder / "p.png").write_bytes(_page(20, 24, "PNG", 1))
    out = tmp_path / "out"
    assert main(["colorize", str(folder / "ch.cbr"), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    assert "ch.cbr: RAR archives (.cbr) are not supported; unpack it" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING, logger="irodori.batch"):
        assert main(["colorize", str(folder), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    assert "1 coloured, 0 skipped, 0 failed" in capsys.readouterr().err
    assert any("ch.cbr: skipped: RAR archives (.cbr) are not supported" in r.getMessage() for r in caplog.records)


def test_one_archive_page_named_twice_in_a_hints_file_is_a_usage_error(tiny_onnx, tmp_path, capsys):
    """"vol1/ch.cbz/001.png" and "ch.cbz/001.png" name one page: one key's hints were dropped
    without a word (helper 54); as for an image named twice, it is refused before any work."""
    import json

    (tmp_path / "vol1").mkdir()
    with zipfile.ZipFile(tmp_path / "vol1" / "ch.cbz", "w") as archive:
        archive.writestr("001.png", _page(48, 64, "PNG", 7))
    hints = tmp_path / "hints.json"
    red, blue = [{"x": 10, "y": 10, "color": "#e02020"}], [{"x": 20, "y": 20, "color": "#2020e0"}]
    hints.write_text(json.dumps({"vol1/ch.cbz/001.png": red, "ch.cbz/001.png": blue}))
    assert main(["colorize", str(tmp_path), "-r", "-o", str(tmp_path / "out"), "--model", str(tiny_onnx),
                 "--hints", str(hints), "-q"]) == 2
    assert ("the hints file names one page twice, as 'vol1/ch.cbz/001.png' and 'ch.cbz/001.png'"
            in capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
