"""The colouring pipeline's contracts: L preserved, sizes, alpha, orientation, modes."""

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from irodori.color import rgb_to_l
from irodori.colorizer import Colorizer, Hint, load_colorizer
from irodori.imageio import ImageReadError, open_image, split_lightness

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def colorizer(tiny_onnx):
    return load_colorizer(tiny_onnx, max_side=64)


def _page(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w)) * 255).astype(np.uint8)
    img[h // 3, :] = 0  # a line of ink
    return Image.fromarray(img, "L")


@pytest.mark.parametrize("h,w", [(1, 1), (2, 1), (1, 3), (3, 3), (7, 300), (333, 17), (130, 97), (64, 64)])
def test_output_keeps_size_and_the_inputs_lightness(colorizer, h, w):
    page = _page(h, w)
    out = colorizer.colorize(page)
    assert out.size == page.size and out.mode == "RGB"
    l_in, _ = split_lightness(page)
    l_out = rgb_to_l(np.asarray(out))
    assert np.abs(l_out - l_in).max() < 0.6  # 8-bit rounding only


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("level", [0, 40, 255])
def test_a_page_of_one_level_is_coloured_without_a_warning(colorizer, level):
    """A page all of one level is all frame to the frame search, which left no rows between its
    frames and warned numpy's "Mean of empty slice" to the user."""
    page = Image.fromarray(np.full((8, 8), level, np.uint8), "L")
    l_out = rgb_to_l(np.asarray(colorizer.colorize(page)))
    assert np.abs(l_out - split_lightness(page)[0]).max() < 0.6


def test_network_never_squashes_the_aspect_ratio(colorizer):
    assert colorizer.network_size(1200, 780) == (64, 42)
    assert colorizer.network_size(30, 20) == (30, 20)  # never upscaled
    # A strip longer than 2:1 is seen as its pages would be (shorter side max_side / 2) ...
    assert colorizer.network_size(12000, 800) == (480, 32)
    # ... up to 4 x max_side x max_side pixels, padded to the size multiple (a 600000x1 line was
    # padded to 32 px wide: 4 GB)
    m = colorizer.backend.size_multiple
    assert colorizer.network_size(10, 4000) == (6, 4 * 64 * 64 // m)  # (6, 2560) before the padding counted
    for size in ((1, 600000), (600000, 1), (10, 4000), (12000, 800)):
        h, w = colorizer.network_size(*size)
        assert -(-h // m) * m * (-(-w // m) * m) <= 4 * colorizer.max_side ** 2


def test_a_webtoon_strip_is_coloured_as_its_pages_are():
    """An 800x12000 webtoon strip was seen by the network at 34x512 and came back nearly grey."""
    from irodori.color import rgb_to_lab

    page = np.asarray(Image.open(EXAMPLES / "cartoon_tiger.png").convert("L").resize((256, 256)))
    strip = np.concatenate([page] * 8)  # 2048 x 256
    colorizer = load_colorizer("general-int8", mode="tint", threads=1)
    alone = rgb_to_lab(np.asarray(colorizer.colorize(page)))[..., 1:]
    coloured = rgb_to_lab(np.asarray(colorizer.colorize(strip)))[..., 1:]
    for k in range(8):
        ab = coloured[256 * k:256 * (k + 1)]
        assert np.abs(ab - alone).mean() < 2.0  # was 10 ab units apart
        assert np.hypot(*np.moveaxis(ab, -1, 0)).mean() > 0.9 * np.hypot(*np.moveaxis(alone, -1, 0)).mean()
    # A hint's reach is a page's, not the strip's: one hint on a 12000-row strip turned pages magenta
    # from row 4000 to row 10500.
    hinted = rgb_to_lab(np.asarray(colorizer.colorize(strip, hints=[(128, 4 * 256 + 128, "#ff00ff")])))[..., 1:]
    change = np.abs(hinted - coloured).mean(axis=(1, 2))  # per row
    assert change[4 * 256:5 * 256].max() > 10  # its own page takes it
    assert change[:2 * 256].max() < 1 and change[7 * 256:].max() < 1  # pages two and more away: untouched


def test_colour_input_is_recoloured_from_its_lightness(colorizer):
    rgb = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    grey = Image.fromarray(rgb).convert("L")
    out_rgb = np.asarray(colorizer.colorize(Image.fromarray(rgb)))
    assert np.abs(rgb_to_l(out_rgb) - rgb_to_l(rgb)).max() < 0.6
    assert out_rgb.shape == rgb.shape
    assert grey.size == (50, 40)


def test_a_blank_grey_image_is_left_grey_but_for_its_hints(caplog):
    # found by a helper: tinted, a uniform grey came back orange at chroma 70 (the shipped models)
    from irodori.color import rgb_to_lab

    tinter = load_colorizer("general-int8", mode="tint", threads=1)
    blank = np.full((120, 160), 128, np.uint8)
    with caplog.at_level("WARNING", logger="irodori.colorizer"):
        out = rgb_to_lab(np.asarray(tinter.colorize(blank).convert("RGB")))
    assert np.hypot(out[..., 1], out[..., 2]).max() < 1.0 and "no detail to colour" in caplog.text
    hinted = rgb_to_lab(np.asarray(tinter.colorize(blank, hints=[(20, 20, "#2060c0")]).convert("RGB")))
    assert hinted[60, 80, 2] < -20  # the hint's blue reaches across
    photo = np.asarray(Image.open(Path(__file__).parents[1] / "examples" / "photo_hills.png").convert("L").resize((160, 120)))
    coloured = rgb_to_lab(np.asarray(tinter.colorize(photo).convert("RGB")))
    assert np.hypot(coloured[..., 1], coloured[..., 2]).mean() > 5.0


def test_alpha_is_kept(colorizer):
    la = Image.merge("LA", [_page(30, 40), Image.new("L", (40, 30), 77)])
    out = colorizer.colorize(la)
    assert out.mode == "RGBA"
    assert np.all(np.asarray(out.getchannel("A")) == 77)
    rgba = Image.new("RGBA", (20, 10), (10, 200, 30, 128))
    assert colorizer.colorize(rgba).getchannel("A").getextrema() == (128, 128)


def test_exif_orientation_is_applied(colorizer):
    page = _page(20, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    page.save(buf, format="JPEG", exif=exif.tobytes(), quality=100)
    out = colorizer.colorize(buf.getvalue())
    assert out.size == (20, 60)


def test_a_tiffs_orientation_is_applied_alike_from_its_path_and_its_bytes(colorizer, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    _page(40, 60).save(tmp_path / "turned.tif", exif=exif)  # 60 wide, 40 high; shown 40 x 60
    assert colorizer.colorize(tmp_path / "turned.tif").size == (40, 60)
    assert colorizer.colorize((tmp_path / "turned.tif").read_bytes()).size == (40, 60)


@pytest.mark.filterwarnings("ignore:.*(Tag data|EXIF):UserWarning")  # Pillow's, on the damaged directory
def test_a_damaged_tiff_directory_is_a_read_error(colorizer, tmp_path):
    import struct

    from irodori.imageio import ImageReadError

    buf = io.BytesIO()
    Image.new("L", (32, 24), 128).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    entries = struct.unpack("<H", data[8:10])[0]
    data[10 + 12 * entries:14 + 12 * entries] = struct.pack("<I", 10)  # "next page" points into the header
    (tmp_path / "bad.tif").write_bytes(bytes(data))
    for source in (tmp_path / "bad.tif", bytes(data)):
        with pytest.raises(ImageReadError, match="corrupt"):
            colorizer.colorize(source)


@pytest.mark.parametrize("mode", ["1", "P", "CMYK", "I;16", "LA", "PA", "RGB", "L"])
def test_every_common_mode_is_handled(colorizer, mode):
    base = Image.fromarray(np.random.default_rng(2).integers(0, 256, (24, 36, 3), dtype=np.uint8))
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
        assert img.mode.startswith("I;16")
    elif mode == "PA":
        img = base.convert("P").convert("PA")
    else:
        img = base.convert(mode)
    out = colorizer.colorize(img)
    assert out.size == (36, 24)


def test_16_bit_png_keeps_its_precision(colorizer, tmp_path):
    ramp = np.linspace(0, 65535, 256 * 4, dtype=np.uint16).reshape(4, 256)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    l_full, _ = split_lightness(open_image(path))
    assert len(np.unique(l_full)) > 256  # more levels than 8 bits could hold


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="not an image"):
        open_image(b"this is not an image")
    png = io.BytesIO()
    _page(64, 64).save(png, format="PNG")
    with pytest.raises(ImageReadError, match="corrupt or truncated"):
        open_image(png.getvalue()[:200])
    with pytest.raises(ImageReadError, match="too many pixels"):
        open_image(png.getvalue(), max_pixels=100)
    with pytest.raises(ImageReadError, match="file not found"):
        open_image(tmp_path / "missing.png")


def test_colour_key_and_premultiplied_transparency_are_kept(colorizer, tmp_path):
    grey = np.asarray(_page(12, 16))
    grey = np.where(grey == 0, 1, grey).astype(np.uint8)  # 0 only where we put it
    grey[:, :4] = 0
    path = tmp_path / "keyed.png"
    Image.fromarray(grey).save(path, transparency=0)  # a PNG tRNS colour key, no alpha channel
    out = colorizer.colorize(path)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out.getchannel("A")) == 0, grey == 0)
    deep = np.full((6, 8), 5000, np.uint16)
    deep[0, 0] = 7
    Image.fromarray(deep).save(tmp_path / "deep.png", transparency=7)
    assert np.asarray(colorizer.colorize(tmp_path / "deep.png").getchannel("A"))[0, :2].tolist() == [0, 255]
    la = Image.merge("LA", [_page(10, 10), Image.new("L", (10, 10), 200)]).convert("La")
    assert colorizer.colorize(la).getchannel("A").getextrema() == (200, 200)


def test_arrays_and_deep_pixels_keep_their_lightness(colorizer):
    dark = np.full((8, 8), 200, np.uint16)  # 200 / 65535: nearly black, whatever its largest value
    l_out = rgb_to_l(np.asarray(colorizer.colorize(dark)))
    assert np.abs(l_out - rgb_to_l(np.zeros((1, 1, 3), np.uint8))).max() < 0.6
    column = np.asarray(_page(9, 7))[:, :, None]  # (H, W, 1)
    l_col = rgb_to_l(np.asarray(colorizer.colorize(column)))
    assert np.abs(l_col - split_lightness(_page(9, 7))[0]).max() < 0.6
    png = io.BytesIO()
    _page(5, 6).save(png, format="PNG")
    assert colorizer.colorize(bytearray(png.getvalue())).size == (6, 5)
    assert colorizer.colorize(memoryview(png.getvalue())).size == (6, 5)
    with pytest.raises(TypeError, match="cannot read an image from NoneType"):
        colorizer.colorize(None)
    with pytest.raises(ImageReadError, match=r"shape \(3, 5, 6\)"):
        colorizer.colorize(np.zeros((3, 5, 6), np.uint8))
    wide = np.full((4, 4), 65535.0, np.float32)  # a float image holding 16-bit values: white
    assert rgb_to_l(np.asarray(colorizer.colorize(Image.fromarray(wide, "F")))).min() > 99.0


def test_not_a_number_pixels_are_a_clear_error(colorizer, tmp_path):
    values = np.full((5, 5), 0.5, np.float32)
    values[2, 2] = np.nan
    Image.fromarray(values, "F").save(tmp_path / "nan.tif")
    with pytest.raises(ImageReadError, match="1 pixels are not numbers"):
        colorizer.colorize(tmp_path / "nan.tif")


def _gray_profile(gamma: float, name: str = "linear grey", *, rgb: bool = False) -> bytes:
    """A minimal ICC v2 monitor profile: greyscale (or, ``rgb``, sRGB's primaries adapted to D50)
    with a pure gamma tone curve, D50 white."""
    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    text = name.encode("ascii") + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249))]
    if rgb:
        tags += [(b"rXYZ", xyz(0.4361, 0.2225, 0.0139)), (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
                 (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    else:
        tags.append((b"kTRC", curve))
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntr"
              + (b"RGB " if rgb else b"GRAY") + b"XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249)
              + b"\0" * 48)
    assert len(header) == 128, len(header)
    return header + table + data


def test_an_embedded_colour_profile_defines_the_lightness(colorizer, tmp_path, caplog):
    from PIL import ImageCms

    linear = tmp_path / "linear.png"  # grey 128 in a linear-light profile is L 76, not sRGB's 53.6
    Image.new("L", (6, 4), 128).save(linear, icc_profile=_gray_profile(1.0))
    out = np.asarray(colorizer.colorize(linear))
    assert np.abs(rgb_to_l(out) - 76.1).max() < 0.7
    rgb = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(rgb).save(tmp_path / "srgb.png", icc_profile=srgb)  # sRGB-tagged: taken as it is
    l_tagged, _ = split_lightness(Image.open(tmp_path / "srgb.png"))
    np.testing.assert_array_equal(l_tagged, split_lightness(Image.fromarray(rgb))[0])
    Image.fromarray(rgb).save(tmp_path / "junk.png", icc_profile=b"not a profile")
    l_junk, _ = split_lightness(Image.open(tmp_path / "junk.png"))
    np.testing.assert_array_equal(l_junk, l_tagged)
    assert "ignoring an unusable colour profile" in caplog.text


@pytest.mark.parametrize("name", ["GIMP built-in Linear sRGB", "Linear Rec709 primaries"])
def test_a_linear_profile_is_applied_whatever_its_name_says(colorizer, tmp_path, name):
    """A profile is judged by what it does: linear-light profiles named after sRGB were skipped as
    sRGB, and their pixels came out about 26 L too dark (helper 79)."""
    from irodori.imageio import acts_as_srgb

    for path, img, icc in ((tmp_path / "rgb.png", Image.new("RGB", (6, 4), (128,) * 3), _gray_profile(1.0, name, rgb=True)),
                           (tmp_path / "g8.png", Image.new("L", (6, 4), 128), _gray_profile(1.0, name)),
                           (tmp_path / "g16.png", Image.new("I;16", (6, 4), 128 * 257), _gray_profile(1.0, name))):
        img.save(path, icc_profile=icc)
        assert not acts_as_srgb(icc)
        l_out, _ = split_lightness(Image.open(path))
        assert np.abs(l_out - 76.1).max() < 0.7, (path.name, l_out.mean())
    assert acts_as_srgb(_gray_profile(2.2, "Gray Gamma 2.2")) is False  # near sRGB's curve, but not it
    from PIL import ImageCms
    assert acts_as_srgb(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def test_a_kept_colour_image_with_a_profile_keeps_its_alpha_and_a_palette_is_converted(tmp_path):
    """--keep-colour on an RGBA image in another colour space: converted to sRGB, alpha kept (lcms's
    RGB output dropped it, and the hidden pixels showed); a palette image with a profile was
    "unusable" and kept unconverted (helper 79)."""
    from irodori.colorizer import kept_as_it_is

    icc = _gray_profile(1.0, "linear", rgb=True)
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 128, 255
    rgba[:, :3, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png", icc_profile=icc)
    out = kept_as_it_is(Image.open(tmp_path / "a.png"), None)
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], rgba[..., 3])
    assert abs(int(np.asarray(out)[0, 5, 0]) - 188) <= 2  # linear 0.5 is sRGB 188
    Image.fromarray(rgba[..., :3], "RGB").convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png", icc_profile=icc)
    out = kept_as_it_is(Image.open(tmp_path / "p.png"), None)
    assert out.mode == "RGB" and abs(int(np.asarray(out)[0, 5, 0]) - 188) <= 2


def test_a_hint_keeps_its_own_colour_under_a_palette(colorizer):
    """README: "Hints keep their own colours, in the palette or not" (the palette was applied after
    the hints were spread, and an orange hint under a blue palette came out blue: helper 78)."""
    from irodori.color import rgb_to_lab

    page = Image.new("L", (60, 40), 150)
    hint = (30, 20, "#e07020")
    for palette in ("#3060c0", "#3060c0,#e07020", None):
        out = np.asarray(colorizer.colorize(page, hints=[hint], palette=palette).convert("RGB"))
        a, b = rgb_to_lab(out[20, 30][None])[0, 1:]
        assert a > 10 and b > 20, (palette, a, b)  # orange, not the palette's blue
    far = np.asarray(colorizer.colorize(_page(40, 60), palette="#3060c0").convert("RGB"))
    assert rgb_to_lab(far.reshape(-1, 3))[:, 2].max() < 5  # without hints: the palette's blue or grey only


def test_hints_outside_the_image_are_an_error(colorizer):
    with pytest.raises(ValueError, match="outside"):
        colorizer.colorize(_page(20, 30), hints=[(30, 5, "#ff0000")])
    colorizer.colorize(_page(20, 30), hints=[(29, 19, "#ff0000"), {"x": 0, "y": 0, "color": "#00ff00"}])
    assert Hint.parse((1, 2, "#0a0b0c")).rgb == (10, 11, 12)


def test_a_tinted_hint_on_white_paper_is_named_in_the_log(colorizer, caplog):
    page = np.full((40, 60), 255, np.uint8)
    page[10:30, 10:30] = 120
    with caplog.at_level("WARNING", logger="irodori"):
        colorizer.colorize(page, hints=[(20, 20, "#ff0000")], mode="tint")  # on the grey square
    assert "white paper" not in caplog.text
    with caplog.at_level("WARNING", logger="irodori"):
        colorizer.colorize(page, hints=[(50, 5, "#ff0000"), (55, 35, "#00ff00")], mode="tint")
    assert "2 hints on white paper, which tinting keeps white" in caplog.text and "--mode paint" in caplog.text


@pytest.mark.parametrize("workers", [1, 2])
def test_strip_merge_matches_the_whole_image_path(colorizer, monkeypatch, workers):
    import irodori.colorizer as mod

    page = _page(701, 90)  # strips of 8 rows leave a ragged last strip
    l_full, _ = split_lightness(page)
    ab_small = colorizer.predict_ab(l_full)
    merger = Colorizer(colorizer.backend, max_side=64, workers=workers)
    monkeypatch.setattr(mod, "STRIP_PIXELS", 10**9)
    whole = merger.merge(l_full, ab_small)
    monkeypatch.setattr(mod, "STRIP_PIXELS", 8 * 90)
    strips = merger.merge(l_full, ab_small)
    assert np.abs(whole.astype(int) - strips.astype(int)).max() <= 1


def test_merge_takes_ab_of_any_float_dtype(colorizer):
    # Pillow's "F" mode reads raw float32: a float64 ab must be converted, not reinterpreted
    page = _page(40, 60)
    l_full, _ = split_lightness(page)
    ab_small = colorizer.predict_ab(l_full) * 0.5  # float32 stays float32
    as32 = colorizer.merge(l_full, ab_small)
    as64 = colorizer.merge(l_full, ab_small.astype(np.float64) * np.float64(1.0))
    np.testing.assert_array_equal(as32, as64)


def test_8_bit_and_float_lightness_give_the_same_colours(colorizer):
    from irodori.imageio import Lightness, lightness_of

    page = _page(300, 200)
    eight, _ = lightness_of(page)
    assert eight.kind == "gray8"  # kept as 8-bit pixels, L made per strip
    as_float = Lightness.from_l(eight.full())
    np.testing.assert_array_equal(eight.rows(10, 20), as_float.rows(10, 20))
    rgb, _ = lightness_of(page.convert("RGB"))
    assert rgb.kind == "rgb8"
    np.testing.assert_allclose(rgb.rows(0, 300), eight.full(), atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Broken models: refused at load where possible, naming the file; otherwise the model's error
# (ModelError), never each image's
# ----------------------------------------------------------------------------------------------
def _onnx_model(path, ab_nodes, *, metadata=None, channels=2, hint_channels=3):
    """An ONNX model with irodori's inputs (l, hints) whose output ``ab`` is made by ``ab_nodes``
    (a list of (op, inputs, outputs, attrs), ending in "ab"), written to ``path``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    def value(name, c):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", c, "h", "w"])

    nodes = [helper.make_node(op, inputs, outputs, **attrs) for op, inputs, outputs, attrs in ab_nodes]
    graph = helper.make_graph(nodes, "broken", [value("l", 1), value("hints", hint_channels)],
                              [value("ab", channels)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for key, text in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, text
    onnx.save(model, str(path))
    return path


def _const(name, value):
    from onnx import numpy_helper

    return ("Constant", [], [name], {"value": numpy_helper.from_array(np.array(value, np.float32), name)})


GREY = [("Concat", ["l", "l"], ["ab"], {"axis": 1})]  # a valid model: ab = (l, l)
NAN = [_const("nan", float("nan")), ("Concat", ["l", "l"], ["two"], {"axis": 1}), ("Mul", ["two", "nan"], ["ab"], {})]
INF = [_const("zero", 0.0), ("Concat", ["l", "l"], ["two"], {"axis": 1}), ("Div", ["two", "zero"], ["ab"], {})]
ONE_CHANNEL = [("Identity", ["l"], ["ab"], {})]
# Finite for dark pages (and the blank probe), NaN where L > 55: found only while colouring.
NAN_WHEN_BRIGHT = [_const("c", 0.1), ("Sub", ["c", "l"], ["d"], {}), ("Concat", ["d", "d"], ["two"], {"axis": 1}),
                   ("Sqrt", ["two"], ["ab"], {})]


@pytest.mark.parametrize("nodes, metadata, channels, says", [
    (GREY, {"irodori.size_multiple": "0"}, 2, "metadata irodori.size_multiple is '0', not a whole number"),
    (GREY, {"irodori.size_multiple": "-32"}, 2, "irodori.size_multiple is '-32'"),
    (GREY, {"irodori.size_multiple": "thirty-two"}, 2, "irodori.size_multiple is 'thirty-two'"),
    (GREY, {"irodori.size_multiple": "4096"}, 2, "from 1 to 1024"),
    (GREY, {"irodori.max_side": "0.5"}, 2, "irodori.max_side is '0.5'"),
    (GREY, {"irodori.max_side": "1"}, 2, r"irodori.max_side \(1\) is smaller than its irodori.size_multiple \(32\)"),
    (GREY, {"irodori.size_multiple": "1024"}, 2, r"max_side \(512\) is smaller than its irodori.size_multiple"),
    (ONE_CHANNEL, {}, 1, r"output has shape \(1, 1, 32, 32\) where \(1, 2, 32, 32\) was expected"),
    (NAN, {}, 2, "output holds NaN or inf"),
    (INF, {}, 2, "output holds NaN or inf"),
    (GREY, {}, (2, 5), r"hints input has shape \['n', 5, 'h', 'w'\], not \(N, 3 or 4, H, W\)"),
])
def test_a_broken_onnx_model_is_refused_at_load_naming_the_file(tmp_path, nodes, metadata, channels, says):
    from irodori.registry import ModelError

    channels, hint_channels = channels if isinstance(channels, tuple) else (channels, 3)
    path = _onnx_model(tmp_path / "broken.onnx", nodes, metadata=metadata, channels=channels,
                       hint_channels=hint_channels)
    with pytest.raises(ModelError, match=says) as err:
        load_colorizer(path)
    assert str(path) in str(err.value)


def test_a_valid_model_of_the_same_making_loads(tmp_path):
    colorizer = load_colorizer(_onnx_model(tmp_path / "grey.onnx", GREY, metadata={"irodori.size_multiple": "8"}))
    assert colorizer.backend.size_multiple == 8 and colorizer.colorize(_page(16, 24)).size == (24, 16)


def test_non_finite_colour_while_colouring_is_the_models_error_not_the_images(tmp_path, capsys):
    from irodori.cli import main
    from irodori.registry import ModelError

    path = _onnx_model(tmp_path / "nan_when_bright.onnx", NAN_WHEN_BRIGHT)
    colorizer = load_colorizer(path)  # the blank probe is finite
    colorizer.colorize(Image.new("L", (40, 30), 20))  # so is a dark page
    with pytest.raises(ModelError, match=f"model {path}: its output holds NaN or inf"):
        colorizer.colorize(Image.new("L", (40, 30), 230))
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(3):
        Image.new("L", (40, 30), 230).save(pages / f"p{i}.png")
    assert main(["colorize", str(pages), "-o", str(tmp_path / "out"), "--model", str(path), "-q"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: " not in err  # not blamed on each image
    assert err.strip().splitlines() == [f"irodori colorize: model {path}: its output holds NaN or inf; the model is "
                                        "broken (a diverged training run or a damaged export)"]
    truth = tmp_path / "truth"
    truth.mkdir()
    Image.new("RGB", (40, 40), (200, 230, 240)).save(truth / "sky.png")
    assert main(["evaluate", str(path), str(truth), "--no-fd", "-q"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(f"irodori evaluate: model {path}: its output")


# ----------------------------------------------------------------------------------------------
# More or less colour: the annealed-mean temperature
# ----------------------------------------------------------------------------------------------
def _chroma(rgb):
    from irodori.color import rgb_to_lab

    lab = rgb_to_lab(np.asarray(rgb, np.float64) / 255.0)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def test_the_shipped_models_take_a_temperature(tmp_path, capsys):
    from irodori.cli import main
    from irodori.colorizer import colorize

    from pathlib import Path

    page = Image.open(Path(__file__).resolve().parents[1] / "examples" / "photo_hills.png").convert("L").resize((160, 120))
    for name in ("general-int8", "manga"):  # the default (an int8 copy, exposed after quantising) and a float one
        colorizer = load_colorizer(name, threads=1)
        t0 = colorizer.backend.temperature
        assert t0 == pytest.approx(0.45)
        default = np.asarray(colorizer.colorize(page))
        assert np.array_equal(np.asarray(colorizer.colorize(page, temperature=t0)), default)
        calm, vivid = (_chroma(colorizer.colorize(page, temperature=t)) for t in (1.0, 0.2))
        assert calm < _chroma(default) < vivid, name  # T = 1: the plain mean, greyer; low T: more colour
    assert np.array_equal(np.asarray(colorize(page, temperature=1.0)),
                          np.asarray(load_colorizer(threads=1).colorize(page, temperature=1.0)))
    page.save(tmp_path / "hills.png")
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "hills.png"), "-o", str(out), "--temperature", "1.0", "-q"]) == 0
    assert _chroma(Image.open(out / "hills.png")) == pytest.approx(_chroma(colorize(page, temperature=1.0)), abs=0.01)


def test_a_temperature_outside_the_range_or_for_a_model_without_one_is_refused(colorizer, tiny_onnx, tmp_path, capsys):
    from irodori.cli import main

    with pytest.raises(ValueError, match="has no temperature input"):  # a regression head (as old exports)
        colorizer.colorize(_page(16, 16), temperature=0.5)
    with pytest.raises(ValueError, match="has no temperature input"):
        load_colorizer(tiny_onnx, temperature=0.5)
    shipped = load_colorizer("general-int8", threads=1)
    for bad in (0.05, 1.5, float("nan")):
        with pytest.raises(ValueError, match="temperature must be from 0.1 to 1.0"):
            shipped.colorize(_page(16, 16), temperature=bad)
    for bad in ("0.3", True, [0.3]):  # not numbers (True was taken as 1.0; "0.3" was a TypeError)
        with pytest.raises(ValueError, match="temperature must be a number from 0.1 to 1.0, not"):
            shipped.colorize(_page(16, 16), temperature=bad)
    from irodori.evaluate import evaluate_folder

    for bad in (0, -1, 2.5, True):  # 0 scored every image, -1 dropped the last
        with pytest.raises(ValueError, match="limit must be a whole number of images"):
            evaluate_folder(shipped, tmp_path, limit=bad, fd=False, progress=False)
    _page(16, 16).save(tmp_path / "p.png")
    base = ["colorize", str(tmp_path / "p.png"), "-o", str(tmp_path / "out"), "-q", "--temperature"]
    for value in ("2", "warm"):
        with pytest.raises(SystemExit) as exit_:
            main(base + [value])
        assert exit_.value.code == 2 and "argument --temperature: " in capsys.readouterr().err
    assert main(base + ["0.5", "--model", str(tiny_onnx)]) == 2
    err = capsys.readouterr().err
    assert "has no temperature input" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "p.png").exists()


def test_a_hint_on_a_faded_print_spreads_as_far_as_on_the_print_itself():
    """Helper 66: one red hint on a faded print's jacket reddened its flag, face and sky; the
    same hint on the print itself kept to the jacket. The hints spread over the levels the
    network sees (restored), whose edges are as strong as the print's, not over the faded ones."""
    from irodori.color import rgb_to_lab
    from irodori.colorizer import load_colorizer

    colorizer = load_colorizer("general-int8", threads=1)
    grey = np.asarray(Image.open(EXAMPLES / "photo_hills.png").convert("L"), dtype=np.float32)
    spread = []
    for page in (grey.astype(np.uint8), (50 + grey * 0.45).astype(np.uint8)):  # the print; faded, L 25-75
        plain = rgb_to_lab(np.asarray(colorizer.colorize(page)))
        hinted = rgb_to_lab(np.asarray(colorizer.colorize(page, hints=[(40, 20, "#d02020")])))
        spread.append(float((hinted[..., 1] - plain[..., 1] > 15).mean()))
    assert spread[0] > 0.01 and spread[1] < spread[0] * 1.5 + 0.02, spread


def test_a_faded_print_is_read_at_restored_levels_and_keeps_its_colours():
    """A faded print (blacks lifted, whites dulled) came out one cold blue: the network takes low
    contrast for haze and sky. It now sees the print's levels stretched, and keeps its lightness."""
    from irodori.color import rgb_to_lab
    from irodori.colorizer import load_colorizer, restore_faded_levels

    l_in = np.linspace(-0.4, 0.5, 64 * 64, dtype=np.float32).reshape(1, 1, 64, 64)  # L 30..75
    restored = (restore_faded_levels(l_in, (64, 64)) + 1) * 50
    assert restored.min() < 6 and restored.max() > 94
    full = np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(1, 1, 64, 64)
    assert restore_faded_levels(full, (64, 64)) is full  # a print with its blacks and whites: as it is
    colorizer = load_colorizer("general-int8", threads=1)
    grey = np.asarray(Image.open(EXAMPLES / "photo_hills.png").convert("L"), dtype=np.float32)
    faded = (50 + grey * 0.45).astype(np.uint8)  # L from about 25 to 75
    out = colorizer.colorize(faded)
    lab, lab_plain = rgb_to_lab(np.asarray(out)), rgb_to_lab(np.asarray(colorizer.colorize(grey.astype(np.uint8))))
    assert abs(lab[..., 2].mean() - lab_plain[..., 2].mean()) < 6  # not a blue cast (b fell by 20 before)
    assert np.abs(lab[..., 0] - rgb_to_lab(np.repeat(faded[..., None], 3, axis=2))[..., 0]).max() < 1.5
    # The same print scanned on a black lid, with a white border, and with both: the frame is not
    # the print (helper 48: on black it was not seen as faded, and came out blue with orange
    # blotches). The network sees the print alone (helper 54: on the lid it still came out warmer):
    # mean |a, b| from the unframed print's 2.3, 2.8 and 5.5, where it was 5.8, 2.0 and 14.4.
    for framed, inside, most in ((np.pad(faded, 40, constant_values=8), 40, 4.0),
                                 (np.pad(faded, 40, constant_values=255), 40, 4.0),
                                 (np.pad(np.pad(faded, 20, constant_values=245), 60, constant_values=8), 80, 8.0)):
        lab_framed = rgb_to_lab(np.asarray(colorizer.colorize(framed)))[inside:-inside, inside:-inside]
        assert np.abs(lab_framed[..., 1:] - lab[..., 1:]).mean() < most
        rim = rgb_to_lab(np.asarray(colorizer.colorize(framed)))[:inside // 2]
        assert np.hypot(rim[..., 1], rim[..., 2]).max() < 3  # the frame stays grey
    l_framed = np.pad(l_in, ((0, 0), (0, 0), (20, 20), (20, 20)), constant_values=-0.9)
    assert ((restore_faded_levels(l_framed, (104, 104)) + 1) * 50)[0, 0, 20:-20, 20:-20].min() < 6
    # a white border on a black lid, with a blended row between them (helper 54: only the lid was
    # taken off, the border's white read as the print's, and its blacks alone were stretched)
    bordered = np.pad(l_in, ((0, 0), (0, 0), (12, 12), (12, 12)), constant_values=0.9)
    bordered[..., 11, 11:-11] = bordered[..., -12, 11:-11] = bordered[..., 11:-11, 11] = bordered[..., 11:-11, -12] = 0.2
    on_lid = np.pad(bordered, ((0, 0), (0, 0), (20, 20), (20, 20)), constant_values=-0.9)
    restored = ((restore_faded_levels(on_lid, (128, 128)) + 1) * 50)[0, 0, 32:-32, 32:-32]
    assert restored.min() < 6 and restored.max() > 94
    # a clear sky, one grey along each row and a gradient down, is no frame inside a frame: only
    # its first band (within FRAME_STD of the top row) may go, as with one frame
    from irodori.colorizer import picture_in_frame

    sky = np.linspace(95, 60, 200, dtype=np.float32)[:, None] * np.ones((1, 300), np.float32)
    ground = np.random.default_rng(0).random((100, 300)).astype(np.float32) * 40 + 20
    assert picture_in_frame(np.vstack([sky, ground])).shape[0] >= 280
    # a grey cover whose own plain ground surrounds its title and a disc is no print in a frame
    # (helper 57: its colour stopped at a straight seam around them); the print on a lid is
    from irodori.colorizer import frame_box

    cover = Image.new("L", (200, 280), 90)
    ImageDraw.Draw(cover).ellipse((50, 90, 150, 190), fill=195)
    ImageDraw.Draw(cover).text((60, 30), "VOLUME 1", fill=240)
    cover_l = np.asarray(cover, dtype=np.float32) * 100 / 255
    assert frame_box(cover_l)[1] == 0 and picture_in_frame(cover_l).shape != cover_l.shape
    assert frame_box(np.pad(faded, 40, constant_values=8).astype(np.float32) * 100 / 255)[1] >= 2
    # a small print in the corner of an A4 bed: two thirds of the page is lid (helper 61: more than
    # a quarter of a side was not taken as frame, and the lid came out navy)
    corner = np.pad(faded, ((5, 2 * faded.shape[0]), (5, faded.shape[1])), constant_values=8)
    box, sides = frame_box(corner.astype(np.float32) * 100 / 255)
    assert sides >= 2 and (box[1], box[3]) == (5 + faded.shape[0], 5 + faded.shape[1])  # (its sky's top band goes too)
    lid = rgb_to_lab(np.asarray(colorizer.colorize(corner)))[-faded.shape[0]:]
    assert np.hypot(lid[..., 1], lid[..., 2]).max() < 3  # the lid stays grey


def test_a_prints_white_border_stays_grey_written_on_or_not():
    """A print's white border (not faded: the network sees it with the print) came out with yellow
    and blue stains, and handwriting on it took a yellow band around it (helper 61)."""
    from irodori.color import rgb_to_lab

    colorizer = load_colorizer("general-int8", threads=1)

    grey = np.asarray(Image.open(EXAMPLES / "photo_hills.png").convert("L"))
    h, w = grey.shape
    border = np.pad(grey, ((24, 90), (24, 24)), constant_values=248)
    written = Image.fromarray(border.copy())
    draw = ImageDraw.Draw(written)
    for k in range(12):  # strokes of a hand along the bottom border, a third of its width
        x = 30 + 22 * k
        draw.line((x, h + 50, x + 9, h + 70), fill=30, width=3)
    for page in (border, np.asarray(written)):
        lab = rgb_to_lab(np.asarray(colorizer.colorize(page)))
        paper = page > 240
        paper[24 - 8:24 + h + 8, 24 - 8:24 + w + 8] = False  # the print's colour blurs into it a few pixels
        chroma = np.hypot(lab[..., 1], lab[..., 2])[paper]
        assert (chroma > 3).mean() < 0.01  # the border's paper stays paper
        land = lab[24 + h // 2:24 + h, 24:24 + w]  # (its white sky, at the border's level, may stay grey)
        assert np.hypot(land[..., 1], land[..., 2]).mean() > 5  # the print itself is coloured


def test_a_print_in_a_white_border_on_a_black_lid_keeps_its_own_colours():
    """Helper 66: a print that is not faded, in its white border on a scanner's black lid, came
    out with orange and blue blotches that moved with the lid's width; alone it was plain. The
    network now sees such a print alone, as it sees a faded one."""
    from irodori.color import rgb_to_lab

    colorizer = load_colorizer("general-int8", threads=1)
    grey = np.asarray(Image.open(EXAMPLES / "photo_hills.png").convert("L"))
    alone = rgb_to_lab(np.asarray(colorizer.colorize(grey)))
    for lid in (40, 90):
        scan = np.pad(np.pad(grey, 16, constant_values=245), lid, constant_values=6)
        inside = rgb_to_lab(np.asarray(colorizer.colorize(scan)))[lid + 16:-lid - 16, lid + 16:-lid - 16]
        assert np.abs(inside[..., 1:] - alone[..., 1:]).mean() < 3.0, lid


def test_one_opened_image_coloured_from_two_threads_stays_intact(colorizer):
    """Pillow's lazy decoding is not thread-safe: two threads colouring one Image.open() image
    garbled it, and every later colouring of it came out mostly black, with no error."""
    import threading

    page = EXAMPLES / "manga_page.png"
    expected = np.asarray(colorizer.colorize(page))
    for _ in range(3):
        opened = Image.open(page)
        results: list[np.ndarray] = []
        threads = [threading.Thread(target=lambda: results.append(np.asarray(colorizer.colorize(opened))))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 2 and all(np.array_equal(r, expected) for r in results)
        assert np.array_equal(np.asarray(colorizer.colorize(opened)), expected)
        assert np.array_equal(np.asarray(opened), np.asarray(Image.open(page)))


def test_hints_given_as_objects_arrays_or_alone_are_checked_as_hints(colorizer):
    from irodori.hints import HintError

    page = _page(48, 64)
    for bad, said in (([Hint(10, 10, (300, -5, 0))], "in 0..255"), ([Hint(10.5, 10, (1, 2, 3))], "integers"),
                      (5, "a list of hints")):
        with pytest.raises(HintError, match=said):
            colorizer.colorize(page, hints=bad)
    one = np.asarray(colorizer.colorize(page, hints=["10,10,#ff0000"]))
    for alone in ("10,10,#ff0000", {"x": 10, "y": 10, "color": "#ff0000"}, Hint(10, 10, "#ff0000")):
        assert np.array_equal(np.asarray(colorizer.colorize(page, hints=alone)), one)


def test_an_image_of_one_grey_too_dark_for_paper_is_left_as_it_is(caplog):
    """Grey 128 or 180 (any size) was painted as paper and written pure white, without a word
    (helper 54): one grey darker than paper (L 80) is tinted, left grey with a warning; a light
    one is a blank page, painted white as the pages' paper is."""
    import logging

    from irodori.colorizer import load_colorizer

    colorizer = load_colorizer("auto", threads=1)
    for value, painted in ((0, False), (40, False), (128, False), (180, False), (235, True)):
        grey = np.full((60, 80), value, np.uint8)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="irodori.colorizer"):
            out = colorizer.colorize(grey)
        assert out.info["irodori.mode"] == ("paint" if painted else "tint"), value
        rgb = np.asarray(out.convert("RGB")).astype(int)
        if painted:
            assert rgb.min() >= 250
        else:
            assert np.abs(rgb - value).max() <= 1 and "left grey" in caplog.text
    # not counted among a chapter's photographs (a black page was tinted for "no paper" and counted: helper 78)
    assert colorizer.auto_modes["tint"] == 0 and colorizer.auto_modes["paint"] == 1
