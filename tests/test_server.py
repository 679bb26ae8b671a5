"""`irodori serve`: the HTTP API against the shipped default model, its limits and its errors."""

from __future__ import annotations

import io
import json
import struct
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
from irodori.registry import DEFAULT_MODEL  # noqa: E402
from irodori.server import STATIC_DIR, create_app, sniff_format  # noqa: E402

from conftest import REPO  # noqa: E402
from live_server import live_server  # noqa: E402

EXAMPLE = REPO / "examples" / "photo_city.png"


@pytest.fixture(scope="module")
def colorizers():
    return {DEFAULT_MODEL: load_colorizer(DEFAULT_MODEL, threads=1)}


@pytest.fixture(scope="module")
def client(colorizers):
    with TestClient(create_app(colorizers=colorizers, max_upload_bytes=2 * 2**20)) as c:
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
    assert set(body) == {"error"} and body["error"]
    return body["error"]


# -- colouring --------------------------------------------------------------------------------
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
])
def test_bad_hints_are_a_400_that_says_why(client, hints, expected):
    assert expected in _json_error(_post(client, _png(), hints=hints), 400)


# -- limits and malformed input -----------------------------------------------------------------
def test_an_oversize_body_is_refused_by_its_content_length(client):
    response = _post(client, b"\x89PNG\r\n\x1a\n" + bytes(3 * 2**20))
    assert "limit" in _json_error(response, 413)


def test_an_oversize_chunked_body_is_refused_while_it_streams(client):
    body = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
            + bytes(3 * 2**20) + b"\r\n--b--\r\n")
    def chunks():
        for i in range(0, len(body), 1 << 16):
            yield body[i : i + (1 << 16)]

    response = client.post("/api/colorize", content=chunks(),
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert "content-length" not in response.request.headers
    assert "limit" in _json_error(response, 413)


def test_the_pixel_cap_is_a_413_naming_the_limit(colorizers):
    with TestClient(create_app(colorizers=colorizers, max_pixels=1000)) as small:
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


def test_a_missing_image_field_is_a_422_json_error(client):
    assert "image" in _json_error(client.post("/api/colorize", data={"hints": "[]"}), 422)


def test_an_unknown_model_is_a_400(client):
    assert "unknown model" in _json_error(_post(client, _png(), model="../../etc/passwd"), 400)
    assert len(_json_error(_post(client, _png(), model="x" * 100_000), 400)) < 300  # not echoed back whole


def test_an_unexpected_exception_is_a_plain_500():
    class Broken:
        def colorize(self, *args, **kwargs):
            raise RuntimeError("secret detail")

    with TestClient(create_app(colorizers={"broken": Broken()}), raise_server_exceptions=False) as c:
        assert _json_error(_post(c, _png()), 500) == "internal error"


# -- the rest of the surface ------------------------------------------------------------------
def test_models_health_and_openapi(client):
    models = client.get("/api/models").json()
    assert [m["name"] for m in models] == [DEFAULT_MODEL] and models[0]["default"] is True
    assert models[0]["description"]
    assert client.get("/api/health").json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    assert "/api/colorize" in schema["paths"] and "/api/models" in schema["paths"]


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
                 ["--max-concurrent", "0"], ["--max-pixels", "0"], ["--threads", "0"], ["--model", "nope"]]:
        assert main(["serve", *argv]) == 2, argv
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_a_public_host_gets_a_warning(monkeypatch, capsys):
    import uvicorn

    import irodori.server as server

    monkeypatch.setattr(server, "create_app", lambda **kwargs: object())
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: setattr(self, "started", True))
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    out, err = capsys.readouterr()
    assert "http://0.0.0.0:8123/" in out and "no authentication" in err
    assert main(["serve", "--port", "8123"]) == 0
    assert "no authentication" not in capsys.readouterr().err


# -- a live server under load -------------------------------------------------------------------
class SlowColorizer:
    """The real model, made slow enough that 20 requests at once overflow a queue of 4."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def colorize(self, *args, **kwargs):
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
        for _ in range(160):  # 10 MB, never announced
            yield bytes(1 << 16)
        yield b"\r\n--b--\r\n"

    with live_server(create_app(colorizers=colorizers, max_upload_bytes=2**20)) as url:
        response = httpx.post(f"{url}/api/colorize", content=chunks(), timeout=30,
                              headers={"content-type": "multipart/form-data; boundary=b"})
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert "limit" in _json_error(response, 413)
        assert httpx.post(f"{url}/api/colorize", files={"image": ("a.png", _png())}, timeout=30).status_code == 200
