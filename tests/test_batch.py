"""The threaded folder mode: the same outputs as the sequential loop, failures still per file."""

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irodori.batch import Job, colorize_jobs, failure_reason, plan_jobs
from irodori.colorizer import load_colorizer
from irodori import imageio
from irodori.imageio import atomic_file, encode


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


def test_inputs_that_would_share_an_output_name_are_all_coloured(tiny_onnx, tmp_path):
    """x.jpg beside x.png was skipped ("would overwrite the output of"), exit 1: a page lost."""
    from irodori.cli import main

    src = tmp_path / "in"
    src.mkdir()
    names = ["x.jpeg", "x.jpg", "x.jpg.png", "x.png"]
    for i, name in enumerate(names):
        _scan(src / name) if i == 0 else Image.new("L", (20 + i, 10), 90).save(src / name)
    out = tmp_path / "out"
    assert main(["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    sizes = {p.name: Image.open(p).size for p in out.iterdir()}
    assert sizes == {"x.jpeg.png": (32, 24), "x.jpg-2.png": (21, 10), "x.jpg.png": (22, 10), "x.png": (23, 10)}
    assert main(["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    assert len(list(out.iterdir())) == 4


def test_output_names_that_differ_only_in_case_are_kept_apart(tiny_onnx, tmp_path, caplog):
    """X.PNG and x.png made X.png and x.png: one file on a drive that ignores case. The log names
    the other's output as written (it said "x.png takes X.png"; helper 54)."""
    import logging

    from irodori.batch import plan_jobs

    src = tmp_path / "in"
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        jobs, problems = plan_jobs([(src / "X.PNG", Path("X")), (src / "x.png", Path("x"))], tmp_path / "out", "png")
    assert not problems and sorted(job.output.name for job in jobs) == ["X.PNG.png", "x.png"]
    assert f"{src / 'X.PNG'}: written as X.PNG.png ({src / 'x.png'} takes x.png)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="irodori.batch"):
        plan_jobs([(src / "A.png", Path("A")), (src / "a.jpg", Path("a"))], tmp_path / "out", "png")
    assert f"{src / 'a.jpg'}: written as a.jpg.png ({src / 'A.png'} takes A.png)" in caplog.text


def test_an_output_name_too_long_for_the_file_system_is_refused_before_any_colouring(tiny_onnx, tmp_path, capsys):
    """x...x.jpg beside x...x.png (250 characters) would be written as x...x.jpg.png: 258 bytes,
    over the 255 a file name may have. Said with the input's name, before the colouring."""
    from irodori.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    stem = "x" * 250
    for ext in ("png", "jpg"):
        Image.new("L", (30, 20), 90).save(src / f"{stem}.{ext}")
    assert main(["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{stem}.jpg: its output name" in err and "longer than the 255 bytes" in err and ".tmp" not in err
    assert [p.name for p in out.iterdir()] == [f"{stem}.png"]


def test_an_input_added_beside_one_of_the_same_name_gets_its_own_colours_on_a_rerun(tiny_onnx, tmp_path, capsys):
    """x.jpg alone makes out/x.png; x.png added later was skipped (its output "existed"), and
    x.jpg made again as x.jpg.png: x.png never coloured, the run reported success."""
    from irodori.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.new("L", (30, 20), 90).save(src / "x.jpg")
    assert main(["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    Image.new("L", (24, 12), 200).save(src / "x.png")
    assert main(["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 0
    assert Image.open(out / "x.png").size == (24, 12) and Image.open(out / "x.jpg.png").size == (30, 20)
    assert "2 coloured, 0 skipped" in capsys.readouterr().err


def test_a_file_named_as_a_folder_of_outputs_gets_another_name(tiny_onnx, tmp_path, capsys):
    """a.jpg beside the folder a.png/ under -r: both wanted out/a.png, and one failed on every run
    ("FileExistsError: ... 'out/a.png'"), which one depending on the threads' order."""
    from irodori.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    (src / "a.png").mkdir(parents=True)
    Image.new("L", (30, 20), 90).save(src / "a.jpg")
    Image.new("L", (24, 12), 200).save(src / "a.png" / "001.png")
    for _ in range(2):
        assert main(["colorize", str(src), "-r", "-o", str(out), "--model", str(tiny_onnx), "-q",
                     "--threads", "1"]) == 0
    assert Image.open(out / "a.jpg.png").size == (30, 20) and Image.open(out / "a.png" / "001.png").size == (24, 12)
    assert "0 coloured, 2 skipped" in capsys.readouterr().err  # the folder decides the name: nothing shared


def test_an_empty_output_is_made_again_and_a_folder_in_its_place_is_an_error(tiny_onnx, tmp_path, capsys, caplog):
    """A 0-byte output (a power cut before its data reached the disk) and a folder at an output's
    name were both "skipped (output exists)", exit 0, for good."""
    from irodori.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("p0", "p1", "p2"):
        _scan(src / f"{name}.png")
    (out / "p1.png").mkdir(parents=True)
    (out / "p0.png").write_bytes(b"")
    args = ["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx), "-q"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"error: {src / 'p1.png'}: its output {out / 'p1.png'} is a folder; remove it or choose another -o" in err
    assert err.strip().splitlines()[-1] == "2 coloured, 0 skipped, 1 failed"
    assert f"{out / 'p0.png'}: an empty file (0 bytes; a crash?), made again" in caplog.text
    assert Image.open(out / "p0.png").size == (32, 24)
    assert main([*args, "--overwrite"]) == 1 and "p1.png is a folder" in capsys.readouterr().err  # before any work
    (out / "stdin.png").write_bytes(b"")  # and stdin's output, the same way
    proc = subprocess.run([sys.executable, "-m", "irodori.cli", "colorize", "-", "-o", str(out), "--model",
                           str(tiny_onnx), "-q"], stdin=open(src / "p2.png", "rb"), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "an empty file" in proc.stderr and Image.open(out / "stdin.png").size == (32, 24)


# -- what the written files keep: print resolution, sRGB -------------------------------------------
def _scan(path: Path, **save) -> None:
    grey = (np.random.default_rng(3).random((24, 32)) * 255).astype(np.uint8)
    Image.fromarray(grey).save(path, **save)


def _jfif_in_centimetres(path: Path) -> None:
    """A JPEG whose JFIF density is 118 dots per centimetre (299.72 dpi), as some scanners write."""
    _scan(path, dpi=(300, 300))
    data = bytearray(path.read_bytes())
    at = data.index(b"JFIF\x00") + 7
    data[at:at + 5] = b"\x02" + (118).to_bytes(2, "big") * 2
    path.write_bytes(bytes(data))


def _exif_resolution(dpi: float, unit: int) -> bytes:
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = dpi, dpi, unit
    return exif.tobytes()


SCANS = {  # name -> (how it is written, the dpi it declares)
    "inch.tif": (lambda p: _scan(p, dpi=(600, 600)), 600.0),
    "cm.tif": (lambda p: _scan(p, resolution_unit=3, x_resolution=80, y_resolution=40), (203.2, 101.6)),
    "jfif-cm.jpg": (_jfif_in_centimetres, 299.72),
    "exif-only.jpg": (lambda p: _scan(p, exif=_exif_resolution(350.0, 2)), 350.0),  # JFIF gives no unit
    "phys.png": (lambda p: _scan(p, dpi=(1200, 1200)), 1200.0),
    "exif.webp": (lambda p: _scan(p, exif=_exif_resolution(100.0, 3), lossless=True), 254.0),
    "bmp.bmp": (lambda p: _scan(p, dpi=(72, 72)), 72.0),
    # on its side (EXIF Orientation 6): the pixels are turned upright, and x and y with them
    "turned.jpg": (lambda p: _scan(p, dpi=(300, 600), exif=_orientation(6)), (600.0, 300.0)),
    "turned.tif": (lambda p: _scan(p, dpi=(300, 600), exif=_orientation(8)), (600.0, 300.0)),  # Pillow turns it
}


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def _damaged_exif_resolution(path: Path) -> None:
    """EXIF resolution as text, no JFIF unit: Pillow reads 72 dpi, which the file never declared."""
    exif = _exif_resolution(300.0, 2)
    for tag in (b"\x01\x1a", b"\x01\x1b"):  # X/YResolution (big-endian): RATIONAL -> ASCII "abc"
        at = exif.index(tag + b"\x00\x05")
        exif = exif[:at] + tag + b"\x00\x02\x00\x00\x00\x04abc\x00" + exif[at + 12:]
    _scan(path, exif=exif)


def _dpi_of(path: Path) -> tuple[float, float] | None:
    with Image.open(path) as img:
        if "dpi" in img.info:
            return tuple(float(v) for v in img.info["dpi"])
        exif = img.getexif()
        return (float(exif[0x011A]), float(exif[0x011B])) if 0x011A in exif and exif.get(0x0128) == 2 else None


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_the_print_resolution_is_kept(tiny_onnx, tmp_path, fmt):
    from irodori.cli import main

    src = tmp_path / "scans"
    src.mkdir()
    for name, (write, _) in SCANS.items():
        write(src / name)
    _scan(src / "none.png")  # declares nothing: gets nothing
    _scan(src / "aspect.jpg")  # JFIF with unit 0 (an aspect ratio only): gets nothing
    _damaged_exif_resolution(src / "damaged.jpg")  # gets nothing, not Pillow's 72
    Image.new("L", (40, 30), 120).save(src / "untagged.tif")  # no resolution tags: not Pillow's 1 dpi
    turned = Image.new("L", (40, 30), 120)
    exif = turned.getexif()
    exif[0x0112] = 6
    turned.save(src / "untagged-turned.tif", exif=exif)
    out = tmp_path / "out"
    assert main(["colorize", str(src), "-o", str(out), "--model", str(tiny_onnx), "--format", fmt, "-q"]) == 0
    for name, (_, dpi) in SCANS.items():
        want = dpi if isinstance(dpi, tuple) else (dpi, dpi)
        got = _dpi_of(out / f"{Path(name).stem}.{fmt}")
        assert got is not None, name
        tolerance = 0.51 if fmt == "jpg" else 0.01  # JFIF holds whole dots per inch; pHYs dots per metre
        assert np.allclose(got, want, atol=tolerance), (name, got, want)
    assert _dpi_of(out / f"none.{fmt}") is None and _dpi_of(out / f"aspect.{fmt}") is None
    assert _dpi_of(out / f"damaged.{fmt}") is None
    assert _dpi_of(out / f"untagged.{fmt}") is None and _dpi_of(out / f"untagged-turned.{fmt}") is None


def test_a_resolution_jpeg_cannot_hold_is_left_out_not_wrapped(tiny_onnx):
    image = load_colorizer(tiny_onnx, threads=1).colorize(Image.new("L", (16, 16), 128))
    image.info["dpi"] = (100_000.0, 100_000.0)  # JFIF's density is 16-bit: it wrapped to 34464
    with Image.open(io.BytesIO(encode(image, "jpg"))) as jpg:
        assert jpg.info.get("dpi") in (None, (1, 1))  # no unit: an aspect ratio
    with Image.open(io.BytesIO(encode(image, "png"))) as png:
        assert np.allclose(png.info["dpi"], 100_000.0, rtol=1e-4)


def test_the_field_case_600dpi_scan_keeps_600dpi(tiny_onnx, tmp_path):
    scan = Path(__file__).resolve().parents[2] / "shared" / "field-cases" / "scan600dpi.tif"
    if not scan.exists():
        pytest.skip("field cases not present")
    image = load_colorizer(tiny_onnx, threads=1).colorize(scan)
    assert image.info["dpi"] == (600.0, 600.0)
    with Image.open(io.BytesIO(encode(image, "jpg"))) as jpg:
        assert jpg.info["dpi"] == (600, 600)


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_outputs_say_they_are_srgb(fmt):
    from PIL import ImageCms

    img = Image.new("RGB", (8, 8), (200, 30, 40))
    img.info["icc_profile"] = b"an input's profile must not be carried over"
    with Image.open(io.BytesIO(encode(img, fmt))) as out:
        if fmt == "png":
            assert out.info.get("srgb") == 0 and "icc_profile" not in out.info
        else:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(out.info["icc_profile"]))
            assert "srgb" in ImageCms.getProfileDescription(profile).lower()


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp"])
def test_outputs_name_irodori_as_their_maker_and_a_walk_does_not_colour_them_again(fmt, tiny_onnx, tmp_path, caplog):
    from irodori import __version__
    from irodori.cli import main
    from irodori.imageio import made_by_irodori

    with Image.open(io.BytesIO(encode(Image.new("RGB", (8, 8), (200, 30, 40)), fmt))) as out:
        assert made_by_irodori(out)
        said = out.info.get("Software") or out.info.get("comment", b"").decode() or out.getexif()[0x0131]
        assert said == f"irodori {__version__}"
    assert not made_by_irodori(Image.new("RGB", (8, 8)))
    pages = tmp_path / "pages"
    (pages / "coloured").mkdir(parents=True)
    Image.new("L", (40, 40), 200).save(pages / "p1.png")
    assert main(["colorize", str(pages / "p1.png"), "-o", str(pages / "coloured"), "--format", fmt,
                 "--model", str(tiny_onnx), "-q"]) == 0
    caplog.clear()
    assert main(["colorize", str(pages), "-r", "-o", str(tmp_path / "again"), "--model", str(tiny_onnx), "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "again").rglob("*.png")) == ["p1.png"]  # not coloured/p1 again
    assert f"1 image not coloured again: irodori's own output ({pages / 'coloured' / f'p1.{fmt}'})" in caplog.text
    named = pages / "coloured" / f"p1.{fmt}"  # named directly: coloured, whatever made it
    assert main(["colorize", str(named), "-o", str(tmp_path / "direct"), "--model", str(tiny_onnx), "-q"]) == 0
    assert (tmp_path / "direct" / "p1.png").is_file()


def _header_only_png(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height grey pixels and holds none (a bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))


def test_an_image_past_pillows_own_limit_in_a_folder_fails_alone(tiny_onnx, tmp_path, capsys):
    """Pillow refuses to open an image of more than twice its MAX_IMAGE_PIXELS (about 179 MP) at
    all; the walk's look at each file's header must not stop the batch there (helper 79)."""
    from irodori.cli import main

    src = tmp_path / "in"
    src.mkdir()
    _header_only_png(src / "big.png", 100_000, 100_000)
    Image.new("L", (40, 30), 200).save(src / "page.png")
    assert main(["colorize", str(src), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx)]) == 1
    assert (tmp_path / "out" / "page.png").is_file() and not (tmp_path / "out" / "big.png").exists()
    err = capsys.readouterr().err
    assert "big.png" in err and "pixels" in err and "Traceback" not in err


def test_png_compression_levels_change_size_and_time_not_pixels():
    rng = np.random.default_rng(0)
    img = Image.fromarray(np.repeat((rng.random((64, 64, 3)) * 8).astype(np.uint8) * 30, 4, axis=1))
    sizes = {level: encode(img, "png", compression=level) for level in (0, 1, 9)}
    assert len(sizes[0]) > len(sizes[1]) >= len(sizes[9])
    for data in sizes.values():
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(img))
    assert encode(img, "png") == encode(img, "png", compression=imageio.DEFAULT_PNG_COMPRESSION)
    for bad in (-1, 10, 2.5):
        with pytest.raises(ValueError, match="0 to 9"):
            encode(img, "png", compression=bad)


# -- leftovers of killed runs, and failures that leave nothing -------------------------------------
def test_stale_temporaries_of_a_killed_batch_are_removed_on_the_next_run(tiny_onnx, folder, tmp_path):
    from irodori.cli import main

    out = tmp_path / "out"
    (out / "deep").mkdir(parents=True)
    old = time.time() - 2 * 3600
    stale = [out / ".irodori-k2x9_q1a.tmp", out / "deep" / ".irodori-00000000.tmp"]
    fresh = out / ".irodori-abcdefgh.tmp"  # another run may be writing it right now
    others = [out / ".irodori-toolong12.tmp", out / "irodori-abcdefgh.tmp", out / "mine.tmp"]
    folder_named_like_one = out / ".irodori-dir00000.tmp"
    folder_named_like_one.mkdir()
    for path in stale + [fresh] + others:
        path.write_bytes(b"half a page")
    for path in stale + others + [folder_named_like_one]:
        os.utime(path, (old, old))
    (folder / "deep").mkdir()
    Image.open(folder / "p0.png").save(folder / "deep" / "q.png")
    main(["colorize", str(folder), "-r", "-o", str(out), "--model", str(tiny_onnx), "-q"])
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and all(p.exists() for p in others) and folder_named_like_one.is_dir()


def test_a_failed_write_leaves_no_folder_it_made(tmp_path):
    target = tmp_path / "out" / "vol1" / "p.png"
    (tmp_path / "out").mkdir()
    with pytest.raises(RuntimeError):
        with atomic_file(target) as f:
            f.write(b"part")
            raise RuntimeError("encoder failed")
    assert list((tmp_path / "out").iterdir()) == []  # vol1 made for it, and removed


def test_a_failed_archive_leaves_no_output_folder(tiny_onnx, folder, tmp_path, capsys):
    from irodori.cli import main

    import zipfile

    (tmp_path / "chapters" / "vol1").mkdir(parents=True)
    (tmp_path / "chapters" / "vol1" / "junk.cbz").write_bytes(b"PK not a zip")  # fails on opening
    damaged = tmp_path / "chapters" / "vol1" / "ch.cbz"  # fails half-way: its second entry is damaged
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.write(folder / "p0.png", "001.png")
        archive.writestr("002.png", b"\x89PNG\r\n\x1a\n" + bytes(200))
    data = damaged.read_bytes()
    damaged.write_bytes(data.replace(bytes(200), b"\xff" * 200))  # no longer what its CRC says
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "chapters"), "-r", "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    err = capsys.readouterr().err
    assert "not a readable zip archive" in err and "002.png is damaged" in err
    assert not out.exists()


def test_an_archive_keeps_its_name_with_its_suffix_in_lower_case(tmp_path):
    """``ch04.CBZ`` is written as ``ch04.cbz``, as every version wrote it: kept as ``.CBZ`` for a
    while, an output folder of an earlier version was not seen as done on a case-sensitive disk
    and got a second archive beside the first (found by a helper)."""
    jobs, problems = plan_jobs([(tmp_path / "in" / "ch04 (v2).CBZ", Path("ch04 (v2)")),
                                (tmp_path / "in" / "p1.PNG", Path("p1"))], tmp_path / "out", "png")
    assert not problems
    assert [job.output.name for job in jobs] == ["ch04 (v2).cbz", "p1.png"]


def test_a_failure_is_named_even_when_its_error_says_nothing():
    """A bare MemoryError (no message) was reported as "p01.png: MemoryError: " in a folder and
    "p01.png: ; copied uncoloured" in an archive (helper 71): the error's type stands in."""
    assert failure_reason(MemoryError()) == "MemoryError"
    assert failure_reason(OSError("disk full")) == "OSError: disk full"
    assert failure_reason(RuntimeError("a bug")) is None  # not about the file: raised, not swallowed
