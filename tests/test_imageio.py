"""Reading images as users' files come: damaged EXIF, odd decoder failures, JPEGs without their end
marker, 16-bit grey (profile, declared depth), and the clutter operating systems leave beside pages."""

from __future__ import annotations

import io
import logging
import re
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from irodori.cli import main
from irodori.color import gray_to_l, rgb_to_l
from irodori.colorizer import load_colorizer
from irodori.imageio import ImageReadError, is_junk, lightness_of, open_image


@pytest.fixture(scope="module")
def colorizer(tiny_onnx):
    return load_colorizer(tiny_onnx, max_side=64, threads=1)


def _grey(h: int = 30, w: int = 44, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(np.add.outer(np.arange(h) * 4, np.arange(w) * 3).astype(np.uint8)
                           ^ rng.integers(0, 16, (h, w), dtype=np.uint8), "L")


def _save(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def _exif(*entries: tuple[int, int, bytes]) -> bytes:
    """Big-endian EXIF of one directory, written as given (Pillow writes only valid types):
    (tag, TIFF type, value bytes); type 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL."""
    size = {2: 1, 3: 2, 4: 4, 5: 8}
    table, extra = b"", b""
    data_at = 8 + 2 + 12 * len(entries) + 4
    for tag, typ, value in entries:
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field, extra = struct.pack(">I", data_at + len(extra)), extra + value
        table += struct.pack(">HHI", tag, typ, len(value) // size[typ]) + field
    return b"Exif\x00\x00MM\x00*" + struct.pack(">IH", 8, len(entries)) + table + b"\x00" * 4 + extra


ORIENT_6 = (0x0112, 3, b"\x00\x06\x00\x00")  # turn 90 degrees clockwise
WRONG_TYPED = {  # a tag written with a type its specification does not allow
    "resolution unit as text": (0x0128, 2, b"inc\x00"),
    "x resolution as text": (0x011A, 2, b"72 dpi\x00\x00"),
    "software as a number": (0x0131, 4, b"\x00\x00\x00\x07"),
    "exif pointer as text": (0x8769, 2, b"far\x00"),
}


def _broken_gif() -> bytes:
    """An animated GIF cut where Pillow's frame count raises IndexError (not an OSError)."""
    frames = [_grey(seed=i) for i in range(3)]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:])
    for cut in range(len(data) - 1, 0, -1):
        try:
            with Image.open(io.BytesIO(data[:cut])) as img:
                img.load()
                img.n_frames
        except IndexError:
            return data[:cut]
        except Exception:
            continue
    raise AssertionError("no cut of the GIF makes Pillow raise IndexError")


# -- 1. whatever the decoder raises is the file's read error; a damaged EXIF costs only itself ----
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
@pytest.mark.parametrize("damage", sorted(WRONG_TYPED))
def test_a_damaged_exif_costs_only_the_exif_and_the_page_is_read_turned(fmt, damage, caplog):
    data = _save(_grey(30, 44), fmt, exif=_exif(ORIENT_6, WRONG_TYPED[damage]))
    with caplog.at_level(logging.WARNING, logger="irodori.imageio"):
        img = open_image(data)
    assert img.size == (30, 44)  # its orientation still applied
    if "exif" in img.info:  # kept only where Pillow could rewrite it, without the orientation applied
        exif = Image.Exif()
        exif.load(img.info["exif"])
        assert 0x0112 not in exif
    if any("damaged EXIF" in r.getMessage() for r in caplog.records):
        assert "orientation (6) is applied" in caplog.text


def test_a_jpeg_whose_exif_pillow_cannot_open_it_with_is_read_without_it(caplog):
    """An empty text resolution with a unit: Pillow's JPEG reader raises IndexError while
    opening (reading the resolution), so the page was "not an image"."""
    exif = _exif(ORIENT_6, (0x011A, 2, b"\x00"), (0x0128, 3, b"\x00\x02"))
    data = _save(_grey(30, 44), "JPEG", exif=exif)
    with pytest.raises(Exception):
        Image.open(io.BytesIO(data))
    with caplog.at_level(logging.WARNING, logger="irodori.imageio"):
        img = open_image(data)
    plain = Image.open(io.BytesIO(_save(_grey(30, 44), "JPEG"))).transpose(Image.Transpose.ROTATE_270)
    assert img.size == (30, 44) and img.tobytes() == plain.tobytes()  # its orientation still applied
    assert "dropped but its orientation" in caplog.text


def test_an_empty_file_is_named_as_such(tmp_path):
    (tmp_path / "page.png").write_bytes(b"")
    for source in (tmp_path / "page.png", b"", io.BytesIO()):
        with pytest.raises(ImageReadError, match=r"an empty file \(0 bytes\)"):
            open_image(source)


def test_an_exif_cut_short_costs_at_most_the_orientation():
    exif = _exif(ORIENT_6, WRONG_TYPED["x resolution as text"])
    for cut in range(12, len(exif)):
        img = open_image(_save(_grey(30, 44), "JPEG", exif=exif[:cut]))
        assert img.size in ((30, 44), (44, 30))


def test_anything_the_decoder_raises_is_a_read_error_naming_the_reason(colorizer):
    data = _broken_gif()
    with pytest.raises(ImageReadError, match="corrupt or truncated image"):
        open_image(data)
    with pytest.raises(ImageReadError):
        colorizer.colorize(data)  # the Python API


def test_a_batch_goes_on_past_a_damaged_exif_and_a_decoder_failure(tiny_onnx, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    bad_exif = _exif(ORIENT_6, WRONG_TYPED["resolution unit as text"])
    (folder / "a_exif.jpg").write_bytes(_save(_grey(30, 44), "JPEG", exif=bad_exif))
    (folder / "b_broken.gif").write_bytes(_broken_gif())
    _grey(seed=3).save(folder / "c_fine.png")
    out = tmp_path / "out"
    assert main(["colorize", str(folder), "-o", str(out), "--model", str(tiny_onnx), "--threads", "1", "-q"]) == 1
    err = capsys.readouterr().err
    assert "b_broken.gif: corrupt or truncated image" in err and "Traceback" not in err
    assert Image.open(out / "a_exif.png").size == (30, 44) and (out / "c_fine.png").exists()


def test_an_archive_holding_such_pages_is_written_with_the_broken_one_copied(tiny_onnx, tmp_path, capsys):
    chapter = tmp_path / "ch.cbz"
    broken = _broken_gif()
    with zipfile.ZipFile(chapter, "w") as archive:
        bad_exif = _exif(ORIENT_6, WRONG_TYPED["resolution unit as text"])
        archive.writestr("01.jpg", _save(_grey(30, 44), "JPEG", exif=bad_exif))
        archive.writestr("02.gif", broken)
    out = tmp_path / "out"
    assert main(["colorize", str(chapter), "-o", str(out), "--model", str(tiny_onnx), "-q"]) == 1
    assert "02.gif: corrupt or truncated image" in capsys.readouterr().err
    with zipfile.ZipFile(out / "ch.cbz") as result:
        assert result.namelist() == ["01.png", "02.gif"]
        assert Image.open(io.BytesIO(result.read("01.png"))).size == (30, 44) and result.read("02.gif") == broken


def test_the_web_api_answers_400_for_a_decoder_failure_and_colours_a_damaged_exif(colorizer):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from fastapi.testclient import TestClient

    from irodori.server import create_app

    with TestClient(create_app(colorizers={"tiny": colorizer}), base_url="http://127.0.0.1:8000") as client:
        def post(data: bytes, name: str):
            return client.post("/api/colorize", files={"image": (name, data, "application/octet-stream")})

        bad_exif = _save(_grey(30, 44), "WEBP", exif=_exif(ORIENT_6, WRONG_TYPED["resolution unit as text"]))
        response = post(bad_exif, "page.webp")
        assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).size == (30, 44)
        response = post(_broken_gif(), "page.gif")
        assert response.status_code == 400 and "corrupt or truncated" in response.json()["error"]


def test_the_fuzz_script_finds_nothing_escaping_the_reader():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "fuzz_reader.py"), "--cases", "400"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout
    assert "Nothing escaped." in result.stdout


# -- 2. a JPEG missing only its end marker is read whole; real truncation is refused ---------------
def _jpegs() -> dict[str, bytes]:
    rng = np.random.default_rng(4)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    return {
        "grey": _save(_grey(33, 47), "JPEG", quality=90),
        "4:2:0": _save(rgb, "JPEG", subsampling=2, quality=75),
        "restart markers": _save(rgb, "JPEG", restart_marker_blocks=2, quality=75),
        "progressive": _save(rgb, "JPEG", progressive=True, quality=80),
    }


@pytest.mark.parametrize("kind", sorted(_jpegs()))
def test_a_jpeg_missing_only_its_end_marker_is_read_whole(kind, caplog):
    data = _jpegs()[kind]
    assert data.endswith(b"\xff\xd9")
    whole = Image.open(io.BytesIO(data)).tobytes()
    for missing in (2, 1):  # the marker, or its second byte
        with caplog.at_level(logging.WARNING, logger="irodori.imageio"):
            assert open_image(data[:-missing]).tobytes() == whole
        assert "lacks its end-of-image marker" in caplog.text


def test_a_lazily_opened_jpeg_missing_its_end_marker_is_read_whole_too(tmp_path):
    """``Image.open(path)`` given to the API failed where the path itself was read whole."""
    data = _jpegs()["4:2:0"]
    path = tmp_path / "page.jpg"
    path.write_bytes(data[:-2])
    assert open_image(Image.open(path)).tobytes() == Image.open(io.BytesIO(data)).tobytes()
    assert open_image(Image.open(io.BytesIO(data[:-2]))).tobytes() == Image.open(io.BytesIO(data)).tobytes()


@pytest.mark.parametrize("kind", sorted(_jpegs()))
def test_a_jpeg_cut_inside_its_scan_data_is_still_refused(kind):
    data = _jpegs()[kind]
    first_scan = data.index(b"\xff\xda")
    cuts = set(np.linspace(first_scan + 20, len(data) - 5, 24).astype(int))
    cuts |= {m.start() for m in re.finditer(rb"\xff[\xd0-\xd7\xda]", data)}  # just before a restart marker, a scan
    for cut in sorted(cuts):
        with pytest.raises(ImageReadError, match="corrupt or truncated"):
            open_image(data[:cut])


def test_the_cli_colours_a_jpeg_without_its_end_marker(tiny_onnx, tmp_path):
    (tmp_path / "page.jpg").write_bytes(_jpegs()["grey"][:-2])
    assert main(["colorize", str(tmp_path / "page.jpg"), "-o", str(tmp_path / "out"), "--model", str(tiny_onnx),
                 "-q"]) == 0
    assert Image.open(tmp_path / "out" / "page.png").size == (47, 33)


# -- 3. 16-bit grey: colour profile, declared depth, strip-wise ----------------------------------
def test_16_bit_grey_gets_its_colour_profile_like_8_bit():
    icc = (REPO / "tests" / "data" / "gray_gamma18.icc").read_bytes()  # "Gray Gamma 1.8", as scanners tag
    ramp8 = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    l8 = lightness_of(open_image(_save(Image.fromarray(ramp8), "PNG", icc_profile=icc)))[0].full()
    l16 = lightness_of(open_image(_save(Image.fromarray(ramp8.astype(np.uint16) * 257), "PNG", icc_profile=icc)))[0]
    assert l16.kind == "gray16"  # kept compact
    assert np.abs(l16.full() - l8).max() < 0.5
    assert np.abs(l16.full() - gray_to_l(ramp8)).max() > 3  # the profile did change it (gamma 1.8 is not sRGB)


@pytest.mark.parametrize("source", ["pgm 65535", "pgm 4095", "png 16-bit", "tiff 16-bit"])
def test_a_nearly_black_deep_grey_file_stays_nearly_black(source):
    value = np.full((6, 9), 200, np.uint16)  # of 65535: nearly black (and below 256)
    if source == "pgm 65535":
        data = b"P5 9 6 65535\n" + value.astype(">u2").tobytes()
    elif source == "pgm 4095":
        data = b"P5 9 6 4095\n" + (value // 16).astype(">u2").tobytes()  # the same grey at 12 bits
    else:
        data = _save(Image.fromarray(value), "PNG" if source == "png 16-bit" else "TIFF")
    l_full = lightness_of(open_image(data))[0].full()
    assert np.allclose(l_full, gray_to_l(np.array(200 / 65535)), atol=0.05)  # about 0.2 L, not mid-grey


def test_every_file_with_an_unusable_profile_is_named_in_its_own_warning(colorizer, tmp_path, caplog):
    """The warning named no file, and a 16-bit file's came once per profile (a cached table)."""
    garbage = b"\x00\x01garbage" * 20
    ramp = np.tile(np.linspace(0, 65535, 40), (30, 1)).astype(np.uint16)
    names = ["a16.png", "b16.png"]
    for name in names:
        Image.fromarray(ramp).save(tmp_path / name, icc_profile=garbage)
    Image.fromarray((ramp >> 8).astype(np.uint8)).save(tmp_path / "c8.png", icc_profile=garbage)
    with caplog.at_level(logging.WARNING, logger="irodori.imageio"):
        for name in names + ["c8.png"]:
            colorizer.colorize(tmp_path / name)
    for name in names + ["c8.png"]:
        assert f"{tmp_path / name}: ignoring an unusable colour profile" in caplog.text


def test_a_32_bit_integer_tiff_is_read_at_its_declared_depth_whatever_its_values():
    """Two 32-bit TIFFs a pixel apart (largest value 255 and 256) came out mid-grey and black:
    their depth was guessed from the pixels."""
    lightness = []
    for top in (255, 256):
        value = np.full((6, 9), 100, np.int32)
        value[0, 0] = top
        data = _save(Image.fromarray(value, "I"), "TIFF")
        with Image.open(io.BytesIO(data)) as img:
            assert img.mode == "I" and img.tag_v2[258] in (32, (32,))
        lightness.append(lightness_of(open_image(data))[0].full())
    assert np.array_equal(lightness[0][1:], lightness[1][1:])


def test_a_deep_min_is_white_tiff_is_not_a_negative():
    """PhotometricInterpretation 0 (0 is white): Pillow inverts 1- and 8-bit files as it reads
    them, not 16-bit ones, which came out as negatives."""
    value = np.tile(np.linspace(6553, 58982, 64).astype(np.uint16), (8, 1))
    data = _save(Image.fromarray(value), "TIFF", tiffinfo={262: 0})
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "I;16" and img.tag_v2[262] == 0
    l_full = lightness_of(open_image(data))[0].full()
    assert np.allclose(l_full, gray_to_l((65535 - value) / 65535.0), atol=0.05)


def test_a_float_scan_with_a_few_values_over_white_keeps_its_lightness():
    """One pixel at 1.02 in a 0..1 float scan made its white 255: the whole page nearly black."""
    value = np.tile(np.linspace(0.1, 0.9, 64, dtype=np.float32), (16, 1))
    over = value.copy()
    over[3, 5] = 1.02
    clean, bright = (lightness_of(open_image(_save(Image.fromarray(v, "F"), "TIFF")))[0].full() for v in (value, over))
    assert np.abs(clean - bright)[np.arange(16) != 3].max() < 1e-3 and bright[3, 5] == pytest.approx(100.0, abs=0.01)
    over[:, :3] = 1.3  # 5 % of the pixels, well over: still a 0..1 scan
    many = lightness_of(open_image(_save(Image.fromarray(over, "F"), "TIFF")))[0].full()
    assert np.abs(clean - many)[:, 3:][np.arange(16) != 3].max() < 1e-3
    in_255 = lightness_of(open_image(_save(Image.fromarray(value * 255, "F"), "TIFF")))[0].full()  # 0..255
    assert np.abs(clean - in_255).max() < 0.05


def test_16_bit_grey_takes_the_strip_wise_path(colorizer):
    ramp = np.linspace(0, 65535, 60 * 80, dtype=np.uint16).reshape(60, 80)
    lightness, _ = lightness_of(open_image(_save(Image.fromarray(ramp), "PNG")))
    assert lightness.kind == "gray16" and lightness.pixels.dtype == np.uint16  # not a float copy
    assert np.allclose(lightness.rows(10, 20), gray_to_l(ramp[10:20] / 65535.0), atol=1e-4)
    out = np.asarray(colorizer.colorize(Image.fromarray(ramp)))
    assert np.abs(rgb_to_l(out) - gray_to_l(ramp / 65535.0)).max() < 0.6  # L kept, up to 8-bit output


# -- 4. one rule for operating-system clutter -------------------------------------------------------
@pytest.mark.parametrize("name,junk", [
    ("._page01.png", True), ("sub/._p.jpg", True), ("__MACOSX/pages/p.png", True), (".DS_Store", True),
    ("Thumbs.db", True), ("@eaDir/p.png/SYNOFILE_THUMB_M.jpg", True), ("page01.png", False),
    ("_page.png", False), (".hidden/p.png", False), ("macosx/p.png", False)])
def test_the_junk_rule(name, junk):
    assert is_junk(name) is junk


def test_folders_and_globs_skip_resource_forks_as_archives_do(tiny_onnx, tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "__MACOSX").mkdir(parents=True)
    _grey().save(folder / "page01.png")
    fork = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 40
    for junk in ("._page01.png", "__MACOSX/._page01.png", "Thumbs.db"):
        (folder / junk).write_bytes(fork)
    for args in ([str(folder), "-r"], [str(folder / "*")], [str(folder / "**" / "*.png"), "-r"]):
        out = tmp_path / "out"
        assert main(["colorize", *args, "-o", str(out), "--model", str(tiny_onnx), "--overwrite", "-q"]) == 0, args
        assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["page01.png"]
        assert re.search(r"^1 coloured, 0 skipped.*, 0 failed$", capsys.readouterr().err, re.M)


def test_a_header_past_pillows_own_bomb_limit_names_our_limit():
    """A PNG header of 14000x14000 (past twice Pillow's MAX_IMAGE_PIXELS, where Pillow refuses
    before our check sees the size) is refused as a 10000x10000 one is: against --max-pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def header_only(w: int, h: int) -> bytes:  # a few bytes that claim w x h pixels
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))

    for side in (10000, 14000):
        with pytest.raises(ImageReadError, match=rf"too many pixels \(.*{side * side:,} > limit 64,000,000\)"):
            open_image(header_only(side, side), max_pixels=64_000_000)


def test_an_apng_whose_default_image_is_no_frame_gives_its_first_frame(caplog):
    """An APNG may carry a default image for viewers without APNG that is no frame of its
    animation; it was coloured (a black placeholder) while the warning spoke of the frames (helper 79)."""
    frame = Image.fromarray(np.tile(np.arange(0, 200, 2, dtype=np.uint8), (40, 1)), "L").convert("RGB")
    data = _save(Image.new("RGB", (100, 40), 0), "PNG", save_all=True, append_images=[frame, frame],
                 default_image=True)
    with caplog.at_level("WARNING", logger="irodori.imageio"):
        img = open_image(data)
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), np.asarray(frame))
    assert "only the first of its 2 frames is coloured" in caplog.text


def test_a_png_with_large_metadata_is_read_and_a_text_bomb_is_bounded():
    """A compressed XMP that inflates to 1.4 MB is metadata, not damage (Pillow refused a PNG past
    1 MB of one chunk as corrupt: helper 79's inflated to 2.3 MB); one that inflates to 19 MB is
    held to TEXT_CHUNK_BYTES, as Pillow bounds it (or refused)."""
    from PIL import PngImagePlugin

    from irodori.imageio import TEXT_CHUNK_BYTES

    page = Image.new("L", (30, 20), 200)
    for size in (40_000, TEXT_CHUNK_BYTES // 30):  # 35 characters each: 1.4 MB, 19 MB
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", "<x>" + "<rdf:li>xmp.did:%032x</rdf:li>" * size + "</x>", zip=True)
        try:
            img = open_image(_save(page, "PNG", pnginfo=info))
        except ImageReadError:
            assert size > 40_000
            continue
        assert img.size == (30, 20) and len(img.info.get("XML:com.adobe.xmp", "")) <= TEXT_CHUNK_BYTES


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_an_output_is_flushed_to_the_disk_before_it_takes_its_name(tmp_path):
    """Without an fsync, ext4 may commit the rename before the data: after a power cut the output
    is an empty file under its real name, which a resumed batch skipped as finished."""
    target = tmp_path / "p.png"
    code = ("from pathlib import Path\nfrom irodori.imageio import write_atomic\n"
            f"write_atomic(Path({str(target)!r}), b'page')")
    proc = subprocess.run(["strace", "-f", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", sys.executable,
                           "-c", code], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip("strace may not trace here")
    calls = [line for line in proc.stderr.splitlines() if "sync(" in line or "rename" in line]
    renamed = next(i for i, line in enumerate(calls) if str(target) in line)
    assert any("sync(" in line for line in calls[:renamed]), calls
    assert target.read_bytes() == b"page"


def test_quiet_holds_while_any_thread_is_inside_and_leaves_the_filters_as_they_were():
    # warnings.catch_warnings restored the filters when the first of two decoding threads left,
    # and a damaged EXIF's warning from the other escaped (a flaky folder batch).
    import threading
    import warnings

    from irodori.imageio import quiet

    before = list(warnings.filters)
    first_inside, second_inside, first_left = threading.Event(), threading.Event(), threading.Event()
    caught: list[tuple] = []

    def first() -> None:
        with quiet(UserWarning):
            first_inside.set()
            second_inside.wait(5)
        first_left.set()

    def second() -> None:
        first_inside.wait(5)
        with quiet(UserWarning):
            second_inside.set()
            first_left.wait(5)
            shown = warnings.showwarning
            warnings.showwarning = lambda *a, **k: caught.append(a)  # noqa: ARG005 (what would be printed)
            try:
                warnings.warn("Corrupt EXIF data", UserWarning)
            finally:
                warnings.showwarning = shown

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert first_left.is_set() and caught == []
    assert warnings.filters == before
    with pytest.warns(UserWarning, match="after"):
        warnings.warn("after", UserWarning)


def test_pillows_own_pixel_guard_is_lifted_per_call_and_put_back(monkeypatch):
    """max_pixels=None read no image over twice Pillow's MAX_IMAGE_PIXELS (179 megapixels), and a
    larger max_pixels raised Pillow's limit for the caller's whole program. Here Pillow's limit
    is made small to show both on a small image."""
    from irodori.imageio import open_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    buf = io.BytesIO()
    Image.new("L", (80, 50), 128).save(buf, "PNG")  # 4,000 pixels: past twice Pillow's 1,000
    assert open_image(buf.getvalue(), max_pixels=None).size == (80, 50)
    assert Image.MAX_IMAGE_PIXELS == 1000
    assert open_image(buf.getvalue(), max_pixels=5000).size == (80, 50)
    assert Image.MAX_IMAGE_PIXELS == 1000
    with pytest.raises(ImageReadError, match=r"max_pixels= in Python"):
        open_image(buf.getvalue(), max_pixels=3000)
