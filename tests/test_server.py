"""`irodori serve`: the HTTP API against the shipped default model, its limits and its errors."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'irodori[web]'")
pytest.importorskip("multipart", reason="the web extra is not installed: pip install 'irodori[web]'")

from fastapi.testclient import TestClient  # noqa: E402

from irodori.cli import main  # noqa: E402
from irodori.color import rgb_to_l  # noqa: E402
from irodori.colorizer import load_colorizer  # noqa: E402
from irodori.imageio import open_image, split_lightness  # noqa: E402
from irodori.registry import AUTO_MODEL, DEFAULT_MODEL, MODELS  # noqa: E402
from irodori.reference import MAX_REFERENCES  # noqa: E402
from irodori.server import REFUSED_HEADER, STATIC_DIR, body_limit, create_app, sniff_format  # noqa: E402

from conftest import REPO  # noqa: E402
from live_server import free_port, live_server  # noqa: E402
from test_reference import cartoon  # noqa: E402

EXAMPLE = REPO / "examples" / "photo_city.png"
LOCAL = "http://127.0.0.1:8000"  # TestClient's own "testserver" is not a name the server answers to


@pytest.fixture(scope="module")
def colorizers():
    return {DEFAULT_MODEL: load_colorizer(DEFAULT_MODEL, threads=1)}


@pytest.fixture(scope="module")
def client(colorizers):
    with TestClient(create_app(colorizers=colorizers, max_upload_bytes=2 * 2**20), base_url=LOCAL) as c:
        yield c


def _png(size=(48, 32), mode="L", seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(buf, format="PNG")
    return buf.getvalue()


def _post(client, data: bytes, *, name="page.png", content_type="image/png", **fields):
    return client.post("/api/colorize", files={"image": (name, data, content_type)}, data=fields)


def _json_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"]  # one line
    return body["error"]


def _multipart(parts: list[tuple[str, str | None, bytes]], *, end: bytes = b"--b--\r\n") -> bytes:
    """A multipart body, boundary ``b``, of (field, file name or None for a text field, bytes);
    ``end`` is its closing boundary (cut it to send an incomplete body)."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
        body += f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + end


def _post_raw(client, body: bytes):
    return client.post("/api/colorize", content=body, headers={"content-type": "multipart/form-data; boundary=b"})


# -- colouring --------------------------------------------------------------------------------
def test_what_the_command_line_would_warn_about_reaches_the_client(client):
    """A colour upload (its own colours are replaced) and a hint that colours nothing were said in
    the server's log alone; the page showed "done"."""
    plain = _post(client, EXAMPLE.read_bytes())
    assert json.loads(plain.headers["x-irodori-warnings"]) == []
    colour = _post(client, _png((64, 48), "RGB"))
    warnings = json.loads(colour.headers["x-irodori-warnings"])
    assert colour.status_code == 200 and len(warnings) == 1 and "a colour image" in warnings[0]
    assert "here every image is coloured" in warnings[0] and "load_colorizer" not in warnings[0]  # (helper 62)
    assert not warnings[0].startswith("upload")  # the file is the client's own: not named again
    white = Image.new("L", (64, 48), 255)
    buf = io.BytesIO()
    white.save(buf, "PNG")
    hinted = _post(client, buf.getvalue(), mode="tint", hints=json.dumps([{"x": 5, "y": 5, "color": "#ff0000"}]))
    said = json.loads(hinted.headers["x-irodori-warnings"])
    assert any("on white paper" in w and "mode paint colours paper" in w and "--mode" not in w for w in said)
    unused = _post(client, buf.getvalue(), mode="tint", tone="keep", background="paper")  # taken without a word
    assert ("tone keep and background paper: paint mode's settings, unused: mode tint keeps each image's "
            "lightness and paints nothing") in json.loads(unused.headers["x-irodori-warnings"])


def test_round_trip_keeps_size_and_lightness_and_adds_colour(client):
    response = _post(client, EXAMPLE.read_bytes())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-irodori-model"] == DEFAULT_MODEL
    assert int(response.headers["x-irodori-elapsed-ms"]) >= 0
    out = Image.open(io.BytesIO(response.content))
    assert out.format == "PNG" and out.mode == "RGB" and out.size == Image.open(EXAMPLE).size
    rgb = np.asarray(out)
    l_in, _ = split_lightness(open_image(EXAMPLE))
    assert np.abs(rgb_to_l(rgb) - l_in).max() < 0.6  # 8-bit rounding only
    assert np.abs(rgb.astype(np.int16) - rgb.mean(axis=-1, keepdims=True)).mean() > 2  # it has colour


def test_alpha_comes_back(client):
    out = Image.open(io.BytesIO(_post(client, _png(mode="RGBA")).content))
    assert out.mode == "RGBA" and out.size == (48, 32)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_every_sniffed_format_is_coloured_whatever_its_name_and_type(client, fmt):
    buf = io.BytesIO()
    Image.open(io.BytesIO(_png())).save(buf, format=fmt)
    assert sniff_format(buf.getvalue()) == fmt
    response = _post(client, buf.getvalue(), name="misleading.txt", content_type="text/plain")
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).size == (48, 32)


# -- hints ------------------------------------------------------------------------------------
def test_hints_are_accepted(client):
    hints = [{"x": 10, "y": 20, "color": "#ff8800"}, {"x": 47, "y": 31, "color": "#3366cc"}]
    response = _post(client, _png(), hints=json.dumps(hints))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("hints,expected", [
    ('[{"x": 48, "y": 0, "color": "#ff0000"}]', "outside"),
    ('[{"x": 5, "y": -1, "color": "#ff0000"}]', "outside"),
    ('[{"x": 5, "y": 5, "color": "#ff00"}]', "#rrggbb"),
    ('[{"x": 5, "y": 5, "color": "red"}]', "#rrggbb"),
    ('[{"x": 5.5, "y": 5, "color": "#ff0000"}]', "integers"),
    ('[{"x": 5, "y": 5, "colour": "#ff0000"}]', "keys"),
    ('[{"x": 5, "y": 5', "not valid JSON"),
    ('{"x": 5, "y": 5, "color": "#ff0000"}', "JSON list"),
    # These two were 500s: Python's recursion limit, and its limit on an int's digits (3.10.7+;
    # older Pythons read the number and find it outside the image).
    ("[" * 100_000, "nested too deeply"),
    ('[{"x": %s, "y": 5, "color": "#ff0000"}]' % ("9" * 5000), "hint"),
    # over the multipart parser's 1 MB for a field: said with the limit (helper 62)
    ("[" + ", ".join(['{"x": 5, "y": 5, "color": "#ff0000"}'] * 40_000) + "]", "is at most 1 MB"),
])
def test_bad_hints_are_a_400_that_says_why(client, hints, expected):
    assert expected in _json_error(_post(client, _png(), hints=hints), 400)


# -- limits and malformed input -----------------------------------------------------------------
def test_an_oversize_body_is_refused_by_its_content_length(client):
    response = _post(client, b"\x89PNG\r\n\x1a\n" + bytes(body_limit(2 * 2**20)))
    assert "limit" in _json_error(response, 413)


def test_an_oversize_file_in_a_body_under_the_cap_is_refused_naming_the_limit(client):
    """The body has room for the image and MAX_REFERENCES references; each file alone is capped."""
    assert body_limit(2 * 2**20) >= 2 * 2**20 * (1 + MAX_REFERENCES)
    error = _json_error(_post(client, b"\x89PNG\r\n\x1a\n" + bytes(3 * 2**20)), 413)
    assert "image 'page.png' is" in error and "2,097,152 bytes per file" in error  # named, as a reference is


def test_an_oversize_chunked_body_is_refused_while_it_streams(client):
    body = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
            + bytes(body_limit(2 * 2**20)) + b"\r\n--b--\r\n")
    def chunks():
        for i in range(0, len(body), 1 << 16):
            yield body[i : i + (1 << 16)]

    response = client.post("/api/colorize", content=chunks(),
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert "content-length" not in response.request.headers
    assert "limit" in _json_error(response, 413)


def test_the_pixel_cap_is_a_413_naming_the_limit(colorizers):
    with TestClient(create_app(colorizers=colorizers, max_pixels=1000), base_url=LOCAL) as small:
        assert "1,000" in _json_error(_post(small, _png((48, 32))), 413)
        assert _post(small, _png((40, 25))).status_code == 200


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data,status", [
    (b"this is just text, named .png", 415),
    (b"GIF", 415),
    (bytes(range(256)) * 4, 415),
    (b"", 400),
    (_png()[:60], 400),  # truncated PNG
    (_png_header_only(100_000, 100_000), 413),  # a decompression bomb's header
    (_png_header_only(6000, 7000), 413),  # over the default 40 MP
    (b"\x89PNG\r\n\x1a\n" + bytes(100), 400),
])
def test_malformed_uploads_get_a_json_error_and_the_server_carries_on(client, data, status):
    _json_error(_post(client, data), status)
    assert _post(client, _png()).status_code == 200


def test_a_decompression_bombs_413_says_its_size_and_the_flag(client):
    """Helper 55: Pillow's own guard answered "has too many pixels", without the count or
    --max-pixels, which the 413 of an image just over the limit gives."""
    said = _json_error(_post(client, _png_header_only(100_000, 100_000)), 413)
    assert "10,000,000,000 pixels; this server's limit is " in said and said.endswith("(--max-pixels)")
    over = _json_error(_post(client, _png_header_only(6000, 7000), name="big.png"), 413)  # named, as WEB.md says
    assert over.startswith("image 'big.png' is 6000x7000 = 42,000,000 pixels")  # (helper 81)
    assert _json_error(_post(client, _png_header_only(100_000, 100_000), name="b.png"), 413).startswith("image 'b.png'")


def test_a_missing_image_field_is_a_400_json_error(client):
    assert _json_error(_post_raw(client, _multipart([("hints", None, b"[]")])), 400) == "missing form field 'image'"
    # an empty text field is not given, where a file belongs too (helper 76: "image must be a file upload")
    assert _json_error(_post_raw(client, _multipart([("image", None, b"")])), 400) == "missing form field 'image'"
    assert _post_raw(client, _multipart([("image", "a.png", _png()), ("reference", None, b"")])).status_code == 200
    assert "multipart/form-data" in _json_error(client.post("/api/colorize", data={"hints": "[]"}), 400)


# -- the form: every field checked, each problem a 400 naming the field ---------------------------
@pytest.mark.parametrize("parts,expected", [
    ([("image", "a.png", _png()), ("image", "b.png", _png())], "field 'image' given twice"),
    ([("image", "a.png", _png()), ("hints", None, b"[]"), ("hints", None, b"[]")], "field 'hints' given twice"),
    ([("image", "a.png", _png()), ("model", None, b"bogus"), ("model", None, DEFAULT_MODEL.encode())],
     "field 'model' given twice"),
    ([("image", "a.png", _png()), ("temprature", None, b"0.1")], "unknown field 'temprature'; the fields are image,"),
    ([("image", "a.png", _png()), ("refrence", "r.png", _png())], "unknown field 'refrence'"),
    ([("image", "a.png", _png()), ("hint", None, b"[]")], "unknown field 'hint'"),
    ([("image", "a.png", _png()), ("reference", None, b"abc")], "reference must be a file upload"),
    ([("image", None, b"abc")], "image must be a file upload"),
    ([("image", "a.png", _png()), ("hints", "h.json", b"[]")], "hints must be a text field, not a file"),
    ([("image", "a.png", _png()), ("tone", None, b"dots")], "tone must be flat or keep, not 'dots'"),
    ([("image", "a.png", _png()), ("background", None, b"sky")],
     "background must be auto, paint, paper or gutters, not 'sky'"),
    ([("image", "a.png", _png()), ("mode", None, b"sepia")], "mode must be auto, tint or paint, not 'sepia'"),
    ([("image", "a.png", _png()), ("temperature", None, b"abc")],
     "temperature must be a number from 0.1 to 1.0, not 'abc'"),
], ids=["image-twice", "hints-twice", "model-twice", "temprature", "refrence", "hint", "reference-text",
        "image-text", "hints-file", "tone", "background", "mode", "temperature-text"])
def test_unknown_repeated_and_misplaced_fields_and_bad_values_are_a_400_naming_them(client, parts, expected):
    """They were accepted silently (the last repeat won, a misspelt field was ignored), or named
    neither field nor value, or answered 422 naming "form field '0'"."""
    assert _json_error(_post_raw(client, _multipart(parts)), 400).startswith(expected)


def test_empty_fields_count_as_not_given_as_browsers_send_them(client):
    parts = [("image", "a.png", _png()), ("model", None, b""), ("reference", "", b""), ("temperature", None, b"")]
    assert _post_raw(client, _multipart(parts)).status_code == 200
    blanks = [("image", "a.png", _png()), ("mode", None, b" tint\n"), ("temperature", None, b" 0.5 ")]
    assert _post_raw(client, _multipart(blanks)).status_code == 200  # blanks around text are ignored


def test_an_incomplete_or_unreadable_multipart_body_says_so_in_one_line(client):
    cut = _post_raw(client, _multipart([("image", "a.png", _png())], end=b""))  # the final boundary cut off
    assert _json_error(cut, 400).startswith("the upload is incomplete")
    long_name = _post_raw(client, _multipart([("image", "a" * 8000 + ".png", _png())]))
    assert "file name" in _json_error(long_name, 400)
    assert _post_raw(client, _multipart([("image", "a" * 4000 + ".png", _png())])).status_code == 200


def test_an_unknown_model_is_a_400(client):
    assert "unknown model" in _json_error(_post(client, _png(), model="../../etc/passwd"), 400)
    assert len(_json_error(_post(client, _png(), model="x" * 100_000), 400)) < 300  # not echoed back whole


def test_an_unexpected_exception_is_a_plain_500():
    class Broken:
        def colorize(self, *args, **kwargs):
            raise RuntimeError("secret detail")

    with TestClient(create_app(colorizers={"broken": Broken()}), base_url=LOCAL, raise_server_exceptions=False) as c:
        assert _json_error(_post(c, _png()), 500) == "internal error"


# -- the rest of the surface ------------------------------------------------------------------
def test_models_health_and_openapi(client):
    models = client.get("/api/models").json()
    assert [m["name"] for m in models] == [DEFAULT_MODEL, AUTO_MODEL,
                                           *(name for name in MODELS if name != DEFAULT_MODEL)]
    assert [m["default"] for m in models] == [True] + [False] * len(MODELS)
    assert all(m["description"] for m in models)
    paints = {m["name"]: m["paints"] for m in models}  # the page offers Paint by it (helper 62)
    assert paints[AUTO_MODEL] and paints["manga"] and paints["manga-int8"]
    assert paints["general"] is False and paints[DEFAULT_MODEL] is False
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.head("/api/health").status_code == 200  # an uptime checker's HEAD was a 405 (helper 62)
    schema = client.get("/openapi.json").json()
    assert "/api/colorize" in schema["paths"] and "/api/models" in schema["paths"]
    assert set(schema["paths"]["/api/health"]) == {"get"}  # HEAD kept out: one operation id, no FastAPI warning
    # the answers' shapes are typed (helper 62: "array of objects" and "object", nothing more)
    typed = {name: set(schema["components"]["schemas"][name]["properties"]) for name in ("ModelInfo", "Health")}
    assert typed["ModelInfo"] == set(models[0]) and typed["Health"] == set(client.get("/api/health").json())


def test_no_docs_page_that_loads_from_a_cdn(client):
    for path in ["/docs", "/redoc", "/docs/oauth2-redirect"]:
        _json_error(client.get(path), 404)
    assert client.get("/").text.count("/openapi.json") == 1  # the page links the schema instead


# -- DNS rebinding: the Host header -------------------------------------------------------------
@pytest.mark.parametrize("kwargs,base_url,status", [
    ({}, "http://127.0.0.1:8000", 200),
    ({}, "http://localhost:8000", 200),
    ({}, "http://LocalHost.", 200),
    ({}, "http://[::1]:8000", 200),
    ({}, "http://evil.example:8000", 400),  # a name its owner pointed at 127.0.0.1
    ({}, "http://127.0.0.1.evil.example", 400),
    ({}, "http://localhost.evil.example:8000", 400),
    ({}, "http://192.168.1.5:8000", 400),
    ({"host": "192.168.1.5"}, "http://192.168.1.5:8000", 200),  # the --host value
    ({"host": "::"}, "http://[fe80::1]:8000", 200),  # bound everywhere: any address, no rebindable name
    ({"host": "0.0.0.0"}, "http://10.1.2.3:8000", 200),
    ({"host": "0.0.0.0"}, "http://evil.example:8000", 400),
    ({"allowed_hosts": ["studio.lan"]}, "http://studio.lan:8000", 200),
    ({"allowed_hosts": ["studio.lan"]}, "http://studio.lan.evil.example", 400),
    ({"allowed_hosts": ["*"]}, "http://anything.example", 200),
])
def test_only_the_bound_host_names_are_answered(colorizers, kwargs, base_url, status):
    with TestClient(create_app(colorizers=colorizers, **kwargs), base_url=base_url) as c:
        for response in [c.get("/"), c.get("/api/models"), c.get("/static/app.js"), _post(c, _png())]:
            assert response.status_code == status, (response.request.url, response.text)
            if status == 400:
                assert "--allow-host" in _json_error(response, 400)


def test_unknown_paths_are_json_errors(client):
    assert _json_error(client.get("/api/nope"), 404)


def test_no_cors_wildcard(client):
    origin = {"Origin": "https://evil.example"}
    responses = [
        client.get("/api/models", headers=origin),
        client.post("/api/colorize", headers=origin, files={"image": ("a.png", _png())}),
        client.options("/api/colorize", headers={**origin, "Access-Control-Request-Method": "POST"}),
    ]
    assert responses[1].status_code == 200
    for response in responses:
        assert "access-control-allow-origin" not in response.headers


def test_the_page_is_served_and_loads_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    head = client.head("/")  # `curl -I`, link checkers and uptime monitors ask with HEAD
    assert head.status_code == 200 and head.headers["content-type"] == page.headers["content-type"]
    for name in ["app.js", "style.css"]:
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name


def test_serve_flags_are_checked_before_anything_loads(capsys):
    for argv in [["--port", "0"], ["--port", "70000"], ["--max-upload-mb", "0"], ["--max-upload-mb", "inf"], ["--queue", "-1"],
                 ["--max-concurrent", "0"], ["--max-pixels", "0"], ["--threads", "0"], ["--model", "nope"],
                 ["--upload-timeout", "0"], ["--upload-timeout", "nan"]]:
        assert main(["serve", *argv]) == 2, argv
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_a_public_host_gets_a_warning(monkeypatch, capsys):
    import uvicorn

    import irodori.server as server

    monkeypatch.setattr(server, "create_app", lambda **kwargs: object())
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: setattr(self, "started", True))
    import socket

    with socket.create_server(("0.0.0.0", 0)) as probe:  # a free port (serve binds it before saying so)
        port = probe.getsockname()[1]
    assert main(["serve", "--host", "0.0.0.0", "--port", str(port)]) == 0
    out, err = capsys.readouterr()
    assert f"http://0.0.0.0:{port}/" in out and "no authentication" in err
    assert main(["serve", "--port", str(port)]) == 0
    assert "no authentication" not in capsys.readouterr().err


# -- a live server under load -------------------------------------------------------------------
class SlowColorizer:
    """The real model, made slow enough that 20 requests at once overflow a queue of 4; counts
    the images it colours."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay, self.calls = inner, delay, 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def colorize(self, *args, **kwargs):
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.colorize(*args, **kwargs)


def test_parallel_requests_get_200_or_503_and_the_server_survives(colorizers):
    httpx = pytest.importorskip("httpx")
    slow = {DEFAULT_MODEL: SlowColorizer(colorizers[DEFAULT_MODEL], 0.3)}
    app = create_app(colorizers=slow, max_concurrent=2, queue=4)
    image = _png((64, 48))
    with live_server(app) as url:
        def post(i: int) -> httpx.Response:
            return httpx.post(f"{url}/api/colorize", files={"image": (f"{i}.png", image)}, timeout=30)

        with ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(post, range(20)))
        codes = [r.status_code for r in responses]
        assert set(codes) <= {200, 503}, codes
        assert codes.count(200) >= 6, codes  # the two running and the four queued at least
        assert codes.count(503) >= 1, codes  # twenty at once cannot all fit
        for r in responses:
            if r.status_code == 503:
                assert r.json()["error"].startswith("busy") and int(r.headers["retry-after"]) > 0
            else:
                assert Image.open(io.BytesIO(r.content)).size == (64, 48)
        assert httpx.get(f"{url}/api/health").json()["busy"] == 0
        assert httpx.post(f"{url}/api/colorize", files={"image": ("a.png", image)}, timeout=30).status_code == 200


def test_a_live_server_refuses_a_huge_chunked_upload(colorizers):
    httpx = pytest.importorskip("httpx")
    head = b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'

    def chunks():
        yield head
        for _ in range(body_limit(2**20) // (1 << 16) + 1):  # over the cap, never announced
            yield bytes(1 << 16)
        yield b"\r\n--b--\r\n"

    with live_server(create_app(colorizers=colorizers, max_upload_bytes=2**20)) as url:
        response = httpx.post(f"{url}/api/colorize", content=chunks(), timeout=30,
                              headers={"content-type": "multipart/form-data; boundary=b"})
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert "limit" in _json_error(response, 413)
        assert httpx.post(f"{url}/api/colorize", files={"image": ("a.png", _png())}, timeout=30).status_code == 200


def _partial_upload(url: str, image: bytes, *, sent: int) -> tuple:
    """A raw POST /api/colorize announcing the whole multipart body and sending only its first
    ``sent`` bytes (an upload still in progress) -> (socket, the rest of the body)."""
    import socket

    body = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + image + b"\r\n--b--\r\n")
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /api/colorize HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                 b"Content-Length: %d\r\n\r\n" % (url.removeprefix("http://").encode(), len(body)) + body[:sent])
    return sock, body[sent:]


def _read_response(sock) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"!"  # "!": closed; the split below then fails loudly
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(rest) < int(headers.get("content-length", 0)):
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest


def test_a_full_queue_refuses_an_upload_before_reading_its_body(colorizers):
    """--queue bounds uploads too: with one slot and a queue of one, two uploads in progress fill
    the server, and a third gets its 503 while most of its body is still unsent."""
    httpx = pytest.importorskip("httpx")
    image = _png((64, 48))
    with live_server(create_app(colorizers=colorizers, max_concurrent=1, queue=1)) as url:
        uploading = [_partial_upload(url, image, sent=200) for _ in range(2)]
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/api/health").json()["busy"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert httpx.get(f"{url}/api/health").json()["busy"] == 2

        sock, _ = _partial_upload(url, image, sent=200)
        start = time.monotonic()
        status, headers, body = _read_response(sock)  # old code: waited for the body that never came
        assert status == 503 and time.monotonic() - start < 2
        assert json.loads(body)["error"].startswith("busy") and int(headers["retry-after"]) > 0
        sock.close()

        for sock, rest in uploading:  # the admitted uploads finish and are coloured
            sock.sendall(rest)
        for sock, _ in uploading:
            status, headers, body = _read_response(sock)
            assert status == 200 and Image.open(io.BytesIO(body)).size == (64, 48)
            sock.close()
        assert httpx.get(f"{url}/api/health").json()["busy"] == 0
        assert httpx.post(f"{url}/api/colorize", files={"image": ("a.png", image)}, timeout=30).status_code == 200


def _wait_until_busy(url: str, count: int, *, within: float) -> bool:
    """Whether /api/health says ``count`` requests are admitted, within ``within`` seconds."""
    import httpx

    deadline = time.monotonic() + within
    while httpx.get(f"{url}/api/health").json()["busy"] != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_requests_abandoned_while_queued_are_never_coloured(colorizers):
    """The page aborts its request when the settings change again. The server used to colour
    every abandoned request anyway, and they filled the queue: the one still wanted got 503."""
    httpx = pytest.importorskip("httpx")
    slow = SlowColorizer(colorizers[DEFAULT_MODEL], 2.5)
    image = _png((64, 48))
    with live_server(create_app(colorizers={DEFAULT_MODEL: slow}, max_concurrent=1, queue=2)) as url:
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(httpx.post, f"{url}/api/colorize", files={"image": ("a.png", image)}, timeout=30)
            assert _wait_until_busy(url, 1, within=5)
            abandoned = [_partial_upload(url, image, sent=10**9)[0] for _ in range(2)]  # sent whole...
            assert _wait_until_busy(url, 3, within=5)
            time.sleep(0.3)  # ...read by the server, waiting for the slot...
            for sock in abandoned:  # ...and given up on
                sock.close()
            assert _wait_until_busy(url, 1, within=1.5)  # old code: 3 until each had been coloured
            fresh = httpx.post(f"{url}/api/colorize", files={"image": ("b.png", image)}, timeout=30)
            assert fresh.status_code == 200, fresh.text
            assert running.result().status_code == 200
    assert slow.calls == 2  # the two wanted; neither abandoned one


def test_a_stalled_upload_gets_a_408_and_gives_up_its_place(colorizers):
    """A client that sent its headers and 200 bytes, then stopped, held its place for as long
    as it kept the connection open; with a queue of 0, nobody else was served meanwhile."""
    httpx = pytest.importorskip("httpx")
    image = _png((64, 48))
    with live_server(create_app(colorizers=colorizers, max_concurrent=1, queue=0, upload_timeout=1.0)) as url:
        sock, _ = _partial_upload(url, image, sent=200)
        start = time.monotonic()
        status, headers, body = _read_response(sock)
        assert status == 408 and 0.8 < time.monotonic() - start < 5
        error = json.loads(body)["error"]
        assert "did not arrive within 1 s" in error and "--upload-timeout" in error and "\n" not in error
        sock.close()
        assert _wait_until_busy(url, 0, within=2)
        assert httpx.post(f"{url}/api/colorize", files={"image": ("a.png", image)}, timeout=30).status_code == 200
        assert httpx.get(f"{url}/api/health").json()["upload_timeout_s"] == 1.0


def test_serve_offers_auto_whatever_models_it_is_given(capsys):
    """`serve --model NAME` dropped auto from the models offered, `serve --model auto` was
    refused (exit 2), and --help said the default was general-int8. Ctrl-C stops it with one
    line, not a traceback (found by a helper)."""
    import signal

    httpx = pytest.importorskip("httpx")
    for model in ["manga-int8", AUTO_MODEL]:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "irodori", "serve", "--port", str(port), "--model", model],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            models = None
            deadline = time.monotonic() + 60
            while models is None and server.poll() is None and time.monotonic() < deadline:
                try:
                    models = httpx.get(f"http://127.0.0.1:{port}/api/models").json()
                except httpx.TransportError:
                    time.sleep(0.2)
            assert models is not None, (model, server.poll(), server.stderr.read1().decode() if server.poll() else "")
            assert models[0]["name"] == model and models[0]["default"]
            assert {m["name"] for m in models} == {AUTO_MODEL, *MODELS}
            server.send_signal(signal.SIGINT)
            assert server.wait(15) == 130
            err = server.stderr.read().decode()
            assert err.rstrip().endswith("stopped") and "Traceback" not in err, err
        finally:
            if server.poll() is None:
                server.terminate()
                server.wait(15)
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "default: auto" in " ".join(capsys.readouterr().out.split())


def test_a_closed_terminal_stops_the_server_as_sigterm_does(tiny_onnx):
    """SIGHUP raised the CLI's exception inside the event loop: a traceback in the log, and every
    request being coloured a plain-text 500 (helper 81). It now shuts the server down gracefully,
    as uvicorn does on SIGTERM: "stopped", 129, no traceback."""
    import signal

    httpx = pytest.importorskip("httpx")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "irodori", "serve", "--port", str(port), "--model",
                               str(tiny_onnx), "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        deadline, up = time.monotonic() + 60, False
        while not up and server.poll() is None and time.monotonic() < deadline:
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert up
        server.send_signal(signal.SIGHUP)
        assert server.wait(15) == 129
        err = server.stderr.read().decode()
        assert err.rstrip().endswith("stopped") and "Traceback" not in err and "Shutting down" in err, err
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(15)


# -- the models offered: every shipped one, and the user's own, each loaded on first use ---------
def test_every_shipped_model_is_offered_and_each_loads_on_first_use():
    with TestClient(create_app(threads=1), base_url=LOCAL) as c:
        models = c.get("/api/models").json()
        # The automatic choice first (tint or paint per image), then every shipped model.
        assert {m["name"] for m in models} == {AUTO_MODEL, *MODELS} and models[0]["name"] == AUTO_MODEL
        assert not any(m["loaded"] for m in models)  # nothing loaded at start-up
        response = _post(c, _png(), model="manga-int8")
        assert response.status_code == 200 and response.headers["x-irodori-model"] == "manga-int8"
        assert [m["name"] for m in c.get("/api/models").json() if m["loaded"]] == ["manga-int8"]
        assert _post(c, _png()).headers["x-irodori-model"] == AUTO_MODEL


def test_the_mode_field_paints_or_tints_and_is_checked(tiny_paint_onnx, tiny_onnx):
    from conftest import bw_page_image

    page = io.BytesIO()
    Image.fromarray(bw_page_image()).save(page, "PNG")
    app = create_app(models=[str(tiny_paint_onnx), str(tiny_onnx)], shipped=False, threads=1)
    with TestClient(app, base_url=LOCAL) as c:
        auto = _post(c, page.getvalue())
        assert auto.status_code == 200 and auto.headers["x-irodori-mode"] == "paint"
        assert _post(c, page.getvalue(), mode="tint", tone="keep").headers["x-irodori-mode"] == "tint"
        assert _post(c, page.getvalue(), mode="sepia").status_code == 400
        assert _post(c, page.getvalue(), background="sky").status_code == 400
        refused = _json_error(_post(c, page.getvalue(), mode="paint", model="tiny"), 400)
        assert "paint model" in refused and "model 'tiny' only tints" in refused
        assert "in the model field" in refused and "--model" not in refused  # not the CLI's flag


def test_the_background_field_keeps_line_arts_sheet_white_or_paints_it(tiny_paint_onnx):
    from conftest import line_art_image

    art = io.BytesIO()
    Image.fromarray(line_art_image()).save(art, "PNG")
    app = create_app(models=[str(tiny_paint_onnx)], shipped=False, threads=1)
    with TestClient(app, base_url=LOCAL) as c:
        corners = {}
        for background in ("auto", "paper", "paint"):
            response = _post(c, art.getvalue(), background=background)
            assert response.status_code == 200 and response.headers["x-irodori-mode"] == "paint"
            corners[background] = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))[:8, :8]
    assert (corners["auto"] == 255).all() and (corners["paper"] == 255).all()
    assert not (corners["paint"] == 255).all()


def test_concurrent_first_requests_load_a_model_once():
    from irodori.server import ModelPool

    pool = ModelPool({"manga-int8": "manga-int8"}, threads=1, max_pixels=10**6)
    with ThreadPoolExecutor(8) as threads:
        loaded = list(threads.map(lambda _: pool.get("manga-int8"), range(8)))
    assert len({id(colorizer) for colorizer in loaded}) == 1


def test_a_fine_tuned_model_is_offered_by_name_never_by_path(tiny_run, tiny_onnx, tmp_path):
    twin = tmp_path / "tiny.onnx"  # a second file of the same name gets a name of its own
    twin.write_bytes(tiny_onnx.read_bytes())
    app = create_app(models=[str(tiny_onnx), str(tiny_run), str(twin)], threads=1)
    with TestClient(app, base_url=LOCAL) as c:
        models = c.get("/api/models").json()
        names = [m["name"] for m in models]
        assert names[:3] == ["tiny", tiny_run.name, "tiny-2"] and set(names[3:]) == {AUTO_MODEL, *MODELS}
        assert models[0]["default"] and models[0]["description"] == "tiny.onnx, given to irodori serve --model"
        assert str(tmp_path) not in json.dumps(models)  # no path of the server's disk is shown
        for name in ["tiny", tiny_run.name, "tiny-2"]:
            response = _post(c, _png(), **({} if name == "tiny" else {"model": name}))
            assert response.status_code == 200 and response.headers["x-irodori-model"] == name
            assert Image.open(io.BytesIO(response.content)).size == (48, 32)
        for path in [str(tiny_onnx), str(tiny_run), "general-int8.onnx"]:  # a path is never opened from a request
            assert "unknown model" in _json_error(_post(c, _png(), model=path), 400)
    from irodori.server import offered_models

    step = (tiny_run / "latest").read_text().strip()  # two runs' step folders were step-0000300, -2 (helper 58)
    assert list(offered_models([str(tiny_run / step)], shipped=False)) == [f"{tiny_run.name}-{step}"]


def test_serve_checks_model_paths_before_it_starts(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    for model, message in [(tmp_path / "nowhere.onnx", "unknown model"), (tmp_path / "empty", "no checkpoint.json"),
                           (tmp_path / "notes.txt", "unknown model")]:
        assert main(["serve", "--model", str(model)]) == 2
        assert message in capsys.readouterr().err, model


def test_a_port_in_use_is_said_before_serving_is(capsys):
    """Helper 58: with the port taken, serve said "serving ... at http://..." and "Application
    startup complete", then "address already in use"."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--model", "general-int8"]) == 1
    out, err = capsys.readouterr()
    assert "serving" not in out and f"cannot listen at http://127.0.0.1:{port}/" in err and "another --port" in err


def test_a_model_that_cannot_be_loaded_is_a_500_naming_it_and_the_rest_work(tmp_path):
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"not a model")
    with TestClient(create_app(models=[DEFAULT_MODEL, str(damaged)], threads=1), base_url=LOCAL) as c:
        assert "'damaged' cannot be loaded" in _json_error(_post(c, _png(), model="damaged"), 500)
        assert _post(c, _png()).status_code == 200


def test_a_temperature_asks_for_more_or_less_colour(client, tiny_onnx):
    from irodori.color import rgb_to_lab

    def chroma(response):
        assert response.status_code == 200, response.text
        lab = rgb_to_lab(np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), np.float64) / 255.0)
        return float(np.hypot(lab[..., 1], lab[..., 2]).mean())

    page = _png((64, 48), seed=3)
    calm, default, vivid = (chroma(_post(client, page, **fields)) for fields in
                            ({"temperature": "1.0"}, {}, {"temperature": "0.2"}))
    assert calm < default < vivid
    assert chroma(_post(client, page, temperature="1e0")) == calm  # a number as JSON writes it (helper 62)
    assert chroma(_post(client, page, temperature="2E-1")) == vivid
    assert chroma(_post(client, page, temperature=" 0.2\n")) == vivid  # a text field's blanks are ignored
    for bad in ("5", "0", "nan", "inf", "warm", "0.5_0", "\u0660.\u0665", "0. 5"):  # "warm" was a 422; float() takes the rest
        error = _json_error(_post(client, page, temperature=bad), 400)
        assert error == f"temperature must be a number from 0.1 to 1.0, not {bad!r}"
    mine = {"mine": load_colorizer(tiny_onnx, threads=1)}  # a regression head: no temperature input
    with TestClient(create_app(colorizers=mine, shipped=False), base_url=LOCAL) as other:
        error = _json_error(_post(other, page, temperature="0.5"), 400)
        assert error.startswith("model 'mine' has no temperature input")  # the name it is served under
        assert error.endswith("leave the temperature field out") and "--" not in error
        assert _post(other, page).status_code == 200


# -- reference pages: repeated `reference` file fields ---------------------------------------------
def _encoded(rgb: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


@pytest.fixture(scope="module")
def reference_server(colorizers):
    """A live uvicorn server (2 MB per file) and the page it colours: a colour cartoon and its grey."""
    pytest.importorskip("httpx")
    truth = cartoon(1)
    with live_server(create_app(colorizers=colorizers, max_upload_bytes=2 * 2**20)) as url:
        yield url, truth, _encoded(np.asarray(Image.fromarray(truth).convert("L")))


def _post_references(url: str, page: bytes, references: list[tuple[str, bytes]], **fields):
    import httpx

    files = [("image", ("page.png", page, "image/png"))] + [("reference", (name, data, "image/png"))
                                                            for name, data in references]
    return httpx.post(f"{url}/api/colorize", files=files, data=fields, timeout=120)


def test_a_matching_reference_colours_the_page_after_it(reference_server):
    url, truth, page = reference_server
    without = _post_references(url, page, [])
    assert without.status_code == 200 and without.headers["x-irodori-references"] == "0"
    used = _post_references(url, page, [("cover.png", _encoded(truth))])
    assert used.status_code == 200, used.text
    assert used.headers["x-irodori-references"] == "1" and used.headers["x-irodori-mode"] == "tint"
    rgb_without, rgb_with = (np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")) for r in (without, used))
    assert rgb_with.shape == truth.shape
    assert _psnr(rgb_with, truth) > _psnr(rgb_without, truth) + 3.0  # measured: 13.4 -> 18.4 dB
    l_page = rgb_to_l(np.repeat(np.asarray(Image.open(io.BytesIO(page)))[..., None], 3, axis=2))
    assert np.abs(rgb_to_l(rgb_with) - l_page).max() < 0.6  # references change colour, not lightness
    assert "matches nothing" not in used.headers["x-irodori-warnings"]
    # A reference that matches nothing was counted as used, without a word (found by a helper)
    noise = np.random.default_rng(3).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    unrelated = _post_references(url, page, [("photo.png", _encoded(np.asarray(
        Image.fromarray(noise).resize((384, 288), Image.NEAREST))))])
    assert unrelated.status_code == 200 and unrelated.headers["x-irodori-references"] == "1"
    assert json.loads(unrelated.headers["x-irodori-warnings"]) == [
        "the reference matches nothing on this image: it is coloured as without references"]
    two = _post_references(url, page, [("a.png", _encoded(np.asarray(Image.fromarray(noise).resize((384, 288))))),
                                       ("b.png", _encoded(np.asarray(Image.fromarray(noise[::-1]).resize((384, 288)))))])
    assert json.loads(two.headers["x-irodori-warnings"]) == [  # not "none ... match nothing"
        "none of the references matches anything on this image: it is coloured as without references"]


def test_several_references_with_hints_and_mode(reference_server):
    url, truth, page = reference_server
    references = [("cover.jpg", _encoded(truth, "JPEG")), ("other.png", _encoded(cartoon(7))),
                  ("mirrored.webp", _encoded(truth[:, ::-1].copy(), "WEBP"))]
    hints = json.dumps([{"x": 5, "y": 5, "color": "#3366cc"}])
    response = _post_references(url, page, references, hints=hints, mode="tint", tone="flat")
    assert response.status_code == 200, response.text
    assert response.headers["x-irodori-references"] == "3"
    out = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    without = np.asarray(Image.open(io.BytesIO(_post_references(url, page, [], hints=hints).content)).convert("RGB"))
    assert _psnr(out, truth) > _psnr(without, truth) + 2.0
    full = _post_references(url, page, [(f"{i}.png", _encoded(cartoon(i))) for i in range(MAX_REFERENCES)])
    assert full.status_code == 200 and full.headers["x-irodori-references"] == str(MAX_REFERENCES)


@pytest.mark.parametrize("name,data,status,expected", [
    ("notes.png", b"just some notes", 415, "reference 'notes.png' is not a supported image"),
    ("grey.png", _encoded(np.asarray(Image.fromarray(cartoon(1)).convert("L"))), 400,
     "reference 'grey.png' has no colour"),
    ("tiny.png", _encoded(cartoon(1)[:20, :20].copy()), 400, "reference 'tiny.png' is 20x20: too small"),
    ("cut.png", _encoded(cartoon(1))[:60], 400, "reference 'cut.png': corrupt or truncated"),
    ("empty.png", b"", 400, "reference 'empty.png' is an empty file"),
    # Pillow's bomb check or ours, whichever sees it first (another test may have moved Pillow's limit)
    ("bomb.png", _png_header_only(100_000, 100_000), 413, "reference 'bomb.png'"),
    ("huge.png", _png_header_only(6000, 7000), 413, "reference 'huge.png' is 6000x7000"),
    ("big.png", b"\x89PNG\r\n\x1a\n" + bytes(3 * 2**20), 413, "reference 'big.png' is 3,145,736 bytes"),
    ("x" * 500 + ".png", b"notes", 415, "reference 'xxx"),
], ids=lambda value: value[:12] if isinstance(value, str) else None)
def test_a_bad_reference_is_refused_naming_it_and_the_server_carries_on(reference_server, name, data, status, expected):
    url, truth, page = reference_server
    response = _post_references(url, page, [("good.png", _encoded(truth)), (name, data)])
    error = _json_error(response, status)
    assert error.startswith(expected), error
    assert response.headers[REFUSED_HEADER] == "2"  # the page drops that one from its list
    assert status != 413 or "pixels" in error or "bytes" in error, error  # says which limit
    assert len(error) < 300  # a long file name is not echoed back whole
    assert _post_references(url, page, [("good.png", _encoded(truth))]).status_code == 200


def test_too_many_references_are_a_400_before_any_is_analysed(reference_server):
    url, truth, page = reference_server
    references = [(f"{i}.png", b"not even an image") for i in range(MAX_REFERENCES + 1)]
    error = _json_error(_post_references(url, page, references), 400)
    assert f"too many references ({MAX_REFERENCES + 1}; at most {MAX_REFERENCES}" in error


def test_the_body_cap_has_room_for_every_reference_and_health_says_so(client):
    health = client.get("/api/health").json()
    assert health["max_references"] == MAX_REFERENCES
    assert health["max_body_bytes"] == body_limit(health["max_upload_bytes"]) > 9 * health["max_upload_bytes"]
    schema = client.get("/openapi.json").json()["paths"]["/api/colorize"]["post"]
    fields = schema["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert fields["reference"]["maxItems"] == MAX_REFERENCES and fields["image"]["format"] == "binary"


def test_the_openapi_schema_lists_the_allowed_values_and_the_headers(client):
    schema = client.get("/openapi.json").json()["paths"]["/api/colorize"]["post"]
    fields = schema["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert set(fields) == {"image", "reference", "hints", "model", "mode", "tone", "background", "temperature"}
    assert fields["mode"]["enum"] == ["auto", "tint", "paint"] and fields["tone"]["enum"] == ["flat", "keep"]
    assert fields["background"]["enum"] == ["auto", "paint", "paper", "gutters"]
    assert fields["model"]["enum"] == [m["name"] for m in client.get("/api/models").json()]
    assert (fields["temperature"]["minimum"], fields["temperature"]["maximum"]) == (0.1, 1.0)
    assert set(schema["responses"]["200"]["headers"]) == {"X-Irodori-Model", "X-Irodori-Mode", "X-Irodori-References",
                                                          "X-Irodori-Elapsed-Ms", "X-Irodori-Warnings"}
    assert REFUSED_HEADER in schema["responses"]["400"]["headers"]
    assert "Retry-After" in schema["responses"]["503"]["headers"] and "500" in schema["responses"]  # documented in WEB.md too
