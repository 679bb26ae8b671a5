"""The local web app and HTTP API behind ``irodori serve`` (needs the ``web`` extra).

One page (``static/``: plain HTML, JS and CSS, no build step, nothing fetched from elsewhere)
and three endpoints: ``POST /api/colorize`` (multipart: ``image``; optional ``hints`` JSON,
``model``, ``mode``, ``tone``, ``background``, ``temperature``, and up to MAX_REFERENCES ``reference`` files)
answering a PNG, ``GET /api/models`` and ``GET /api/health``; FastAPI's OpenAPI schema at
``/openapi.json`` (its ``/docs`` and ``/redoc`` pages load scripts from a CDN, so they are not
served).

The server is meant for one machine (rembg's server is the cautionary tale: URL fetching,
CORS ``*``, request JSON passed into constructors). So: it binds 127.0.0.1 by default and
answers only to the host names it is bound to (DNS rebinding); the only inputs are the uploaded
bytes, the hints and a model name checked against an allow-list (every shipped model and those
the server was started with, each loaded once, on first use); request bodies are capped while
they stream in (room for the image and MAX_REFERENCES references: :func:`body_limit`), each file
is capped in bytes, and images and references are sniffed from their magic bytes and capped in
pixels before they are decoded; at most ``max_concurrent`` images are coloured at once and
``queue`` more requests may be uploading or waiting (beyond: 503 before the body is read);
there is no CORS middleware (the page is same-origin); every error is ``{"error": message}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import ipaddress
import json
import logging
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable

import anyio
import anyio.to_thread
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .colorizer import Colorizer, check_choices, load_colorizer
from .hints import MAX_HINTS, Hint, HintError, parse_hints
from .imageio import ImageReadError, encode, input_named
from .reference import MAX_REFERENCES, Reference, ReferenceError, load_matcher
from .registry import AUTO_MODEL, MODELS, ModelError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD_BYTES = 20 * 2**20
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_QUEUE = 8
FORM_FIELDS_BYTES = 2**20  # room in a body for the form fields beside the files (hints: at most 256)
RETRY_AFTER_S = 2
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # binding one of these listens on every interface
# The page may load only what this server serves (it is meant to work offline).
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

# Magic bytes -> the Pillow format that may decode them. The filename and the Content-Type
# the client sends are never consulted.
SIGNATURES = [(b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
              (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF")]


class ApiError(Exception):
    """An error the client caused (or a busy server): answered as {"error": message}."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def sniff_format(data: bytes) -> str | None:
    """The image format named by the first bytes (PNG, JPEG, WEBP, BMP, GIF, TIFF), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in SIGNATURES if data.startswith(magic)), None)


def body_limit(max_upload_bytes: int) -> int:
    """The largest request body: room for the image and MAX_REFERENCES references of at most
    ``max_upload_bytes`` each, and FORM_FIELDS_BYTES for the other fields. Each file is also
    checked against ``max_upload_bytes`` on its own (:func:`read_upload`)."""
    return max_upload_bytes * (1 + MAX_REFERENCES) + FORM_FIELDS_BYTES


def check_pixels(data: bytes, fmt: str, max_pixels: int, *, what: str = "image") -> tuple[int, int]:
    """Read only the header (decoding nothing) and refuse images over ``max_pixels`` -> (w, h);
    ``what`` names the file in the messages ("image", "reference 'cover.png'")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise ApiError(413, f"{what} has too many pixels (this server's limit is {max_pixels:,})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        prefix = "" if what == "image" else f"{what}: "
        raise ApiError(400, f"{prefix}corrupt or truncated {fmt} image") from None
    if width * height > max_pixels:
        raise ApiError(413, f"{what} is {width}x{height} = {width * height:,} pixels; "
                            f"this server's limit is {max_pixels:,} pixels (--max-pixels)")
    return width, height


def upload_label(upload: UploadFile, index: int) -> str:
    """How messages name reference number ``index`` (from 1): its file name, quoted and cut to
    80 characters (a name is not echoed back at any length), else its place."""
    name = (upload.filename or "").strip()
    if not name:
        return f"reference {index}"
    return f"reference {(name if len(name) <= 80 else name[:80] + '...')!r}"


async def read_upload(upload: UploadFile, *, what: str, max_bytes: int, max_pixels: int) -> bytes:
    """An uploaded file -> its bytes, checked as every image is: at most ``max_bytes`` (413;
    the size is known before it is read), not empty (400), a PNG, JPEG, WebP, BMP, GIF or TIFF
    by its first bytes (415), at most ``max_pixels`` by its header (413)."""
    if upload.size is not None and upload.size > max_bytes:
        raise ApiError(413, f"{what} is {upload.size:,} bytes; this server's limit is {max_bytes:,} bytes "
                            "per file (--max-upload-mb)")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"{what} is over this server's limit of {max_bytes:,} bytes per file (--max-upload-mb)")
    if not data:
        raise ApiError(400, "the uploaded file is empty" if what == "image" else f"{what} is an empty file")
    fmt = sniff_format(data)
    if fmt is None:
        noun = "not a supported image" if what == "image" else f"{what} is not a supported image"
        raise ApiError(415, f"{noun}: send a PNG, JPEG, WebP, BMP, GIF or TIFF")
    check_pixels(data, fmt, max_pixels, what=what)
    return data


def analyse_uploads(uploads: list[tuple[str, bytes]], *, max_pixels: int, threads: int | None = None) -> list[Reference]:
    """Checked reference files [(label, bytes)] -> analysed, once per request (on a worker
    thread, with ``threads`` onnxruntime threads, the colouring's); ApiError 400 naming the one
    that cannot be used (grey, too small, unreadable)."""
    if not uploads:
        return []
    try:
        matcher = load_matcher(threads)
        return [matcher.analyse(data, name=label.removeprefix("reference "), max_pixels=max_pixels)
                for label, data in uploads]
    except ReferenceError as exc:
        raise ApiError(400, str(exc)) from None
    except ModelError as exc:
        log.error("the reference feature network failed: %s", exc)
        raise ApiError(500, "references cannot be used: the feature network failed (the server's log says why)") from None


def parse_hints_field(text: str | None) -> list[Hint]:
    """The ``hints`` form field: a JSON list of {"x", "y", "color"} -> hints (ApiError 400 if not)."""
    if text is None or not text.strip():
        return []
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"hints is not valid JSON: {exc}") from None
    except (RecursionError, ValueError):  # '[[[[...' thousands deep, or a number of 5000 digits
        raise ApiError(400, "hints is nested too deeply or holds too long a number to be a list of hints") from None
    if not isinstance(items, list):
        raise ApiError(400, 'hints must be a JSON list of {"x": int, "y": int, "color": "#rrggbb"}')
    if len(items) > MAX_HINTS:
        raise ApiError(400, f"too many hints ({len(items)}; at most {MAX_HINTS})")
    try:
        return parse_hints(items)
    except HintError as exc:
        raise ApiError(400, str(exc)) from None


class InferenceGate:
    """At most ``max_concurrent`` colourings at once on worker threads (FIFO), and at most
    ``max_concurrent + queue`` colouring requests admitted at all, counted from their first byte
    (:class:`AdmissionMiddleware`): one beyond that is refused with 503 before its body is read,
    instead of piling up in memory."""

    def __init__(self, max_concurrent: int, queue: int) -> None:
        self.max_concurrent, self.capacity = max_concurrent, max_concurrent + queue
        self.admitted = 0  # uploading + waiting + running; touched only on the event loop, so no lock
        self._limiter: anyio.CapacityLimiter | None = None  # made on the server's event loop

    def busy(self) -> ApiError:
        return ApiError(503, f"busy: {self.capacity} images are being uploaded, coloured or waiting; retry shortly",
                        headers={"Retry-After": str(RETRY_AFTER_S)})

    async def run(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` on a worker thread once one of the ``max_concurrent`` slots is free."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_concurrent)
        return await anyio.to_thread.run_sync(func, limiter=self._limiter)


class AdmissionMiddleware:
    """Admit ``POST path`` requests through ``gate`` from their first byte: when the gate is full
    the answer is 503 at once, and the body is never read (uvicorn discards what still arrives)."""

    def __init__(self, app: Any, *, gate: InferenceGate, path: str) -> None:
        self.app, self.gate, self.path = app, gate, path

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.gate.admitted >= self.gate.capacity:
            busy = self.gate.busy()
            await _json_error(busy.status, busy.message, busy.headers)(scope, receive, send)
            return
        self.gate.admitted += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.admitted -= 1


def host_name(header: str) -> str:
    """The host in a Host header, lower-case, without its port, IPv6 brackets or a final dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else ""
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostCheckMiddleware:
    """Answer 400 to a request whose Host header names a host this server was not told about.

    DNS rebinding: a web page on a name its owner then points at 127.0.0.1 is, for the browser,
    same-origin with this server, and could use its API; its requests carry that name as Host.
    Accepted: ``allowed`` (names or IP addresses; ``"*"`` turns the check off), and any IP
    address when ``any_ip`` (a server bound to every interface; an address cannot be rebound)."""

    def __init__(self, app: Any, *, allowed: Iterable[str], any_ip: bool = False) -> None:
        self.app, self.any_ip = app, any_ip
        self.allowed = {host_name(name) for name in allowed}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and "*" not in self.allowed:
            host = host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
            if host not in self.allowed and not (self.any_ip and _is_ip(host)):
                shown = host if len(host) <= 80 else host[:80] + "..."
                names = ", ".join(f"[{n}]" if ":" in n else n for n in sorted(self.allowed))
                await _json_error(400, f"this server answers to {names}, not to the host {shown!r} "
                                       "(start it with --allow-host NAME to add a name)")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyLimitMiddleware:
    """Refuse /api/ request bodies over ``max_bytes`` with 413, by their Content-Length or, when
    they are streamed without one, as soon as the bytes received pass the cap (nothing more is
    read). The app's own reaction to the aborted body is dropped and replaced by the 413."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        too_large = _json_error(413, f"request body over this server's limit of {self.max_bytes:,} bytes "
                                     f"(room for the image and {MAX_REFERENCES} references of --max-upload-mb each)")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await too_large(scope, receive, send)
            return
        state = {"received": 0, "over": False, "started": False}

        async def limited_receive() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_bytes:
                    state["over"] = True
                    raise ApiError(413, "request body too large")
            return message

        async def guarded_send(message: dict) -> None:
            if state["over"]:
                return  # the app's answer to the aborted body; ours follows
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await too_large(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _json_error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json_error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            field = str(err.get("loc", ("", "?"))[-1])
            problems.append(f"missing form field {field!r}" if err.get("type") == "missing"
                            else f"form field {field!r}: {err.get('msg', 'invalid')}")
        return _json_error(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _json_error(500, "internal error")


def offered_models(models: Iterable[str] = (), *, shipped: bool = True) -> dict[str, str]:
    """Name -> source of the models a server offers: ``models`` first, in order (shipped names,
    .onnx files, checkpoint directories; a path is offered under its file or folder name, made
    unique with -2, -3...), then every other shipped model when ``shipped``. Requests choose by
    name only, so a path never comes from a request."""
    offered: dict[str, str] = {}
    for model in models:
        if model in MODELS or model == AUTO_MODEL:
            offered.setdefault(model, model)
            continue
        path = Path(model).resolve()
        if str(path) in offered.values():
            continue
        base = path.stem if path.suffix.lower() == ".onnx" else path.name
        name, n = base, 1
        while name in offered or name in MODELS:
            n += 1
            name = f"{base}-{n}"
        offered[name] = str(path)
    for name in MODELS if shipped else ():
        offered.setdefault(name, name)
    return offered


class ModelPool:
    """The models a server offers ({name: shipped name or path}), each loaded on first use and
    only once: a lock per model, so requests arriving together for a model not yet loaded wait
    for one load. Thread-safe (loads run on the worker threads, never on the event loop)."""

    def __init__(self, sources: dict[str, str], *, threads: int, max_pixels: int,
                 loaded: dict[str, Colorizer] | None = None) -> None:
        self.sources, self.threads, self.max_pixels = sources, threads, max_pixels
        self._loaded: dict[str, Colorizer] = dict(loaded or {})
        self._locks = {name: threading.Lock() for name in sources}

    def __contains__(self, name: object) -> bool:
        return name in self.sources

    def names(self) -> list[str]:
        return list(self.sources)

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def describe(self, name: str) -> str:
        source = self.sources[name]
        if source == AUTO_MODEL:
            return ("automatic: general-int8 tints photos and grey art, manga-int8 paints black-and-white pages "
                    "and line art, decided per image")
        return MODELS[source].description if source in MODELS else (
            f"{Path(source).name}, given to irodori serve --model" if source != name else "")

    def get(self, name: str) -> Colorizer:
        """The loaded model (ApiError 500 if it cannot be loaded; the reason goes to the log)."""
        colorizer = self._loaded.get(name)
        if colorizer is not None:
            return colorizer
        with self._locks[name]:
            if name not in self._loaded:
                start = time.perf_counter()
                try:
                    self._loaded[name] = load_colorizer(self.sources[name], threads=self.threads,
                                                        max_pixels=self.max_pixels)
                except (OSError, ValueError, ImportError) as exc:
                    log.error("cannot load model %s from %s: %s", name, self.sources[name], exc)
                    raise ApiError(500, f"model {name!r} cannot be loaded (the server's log says why)") from None
                log.info("loaded model %s in %.1f s", name, time.perf_counter() - start)
            return self._loaded[name]


def create_app(*, models: list[str] | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_concurrent: int = DEFAULT_MAX_CONCURRENT,
               queue: int = DEFAULT_QUEUE, threads: int | None = None,
               colorizers: dict[str, Colorizer] | None = None, shipped: bool = True,
               host: str = "127.0.0.1", allowed_hosts: Iterable[str] = ()) -> FastAPI:
    """The app offering ``colorizers`` ({name: already-loaded Colorizer}), then ``models``
    (shipped names, .onnx files, checkpoint directories; see :func:`offered_models`), then every
    other shipped model unless ``shipped=False``; the first is the default (without any:
    the default shipped model). Nothing is loaded here: each model loads on first use.
    Requests must name ``host`` (the bound address), a loopback name or one of ``allowed_hosts``
    in their Host header."""
    preloaded = dict(colorizers or {})
    sources = {name: name for name in preloaded}
    given = models or ([] if preloaded else [AUTO_MODEL])
    for name, source in offered_models(given, shipped=shipped).items():
        sources.setdefault(name, source)
    default = next(iter(sources))
    # Each of the max_concurrent images in flight gets its share of the cores, not all of them.
    threads = threads or max(1, (os.cpu_count() or 1) // max_concurrent)
    pool = ModelPool(sources, threads=threads, max_pixels=max_pixels, loaded=preloaded)
    if max_pixels > (Image.MAX_IMAGE_PIXELS or max_pixels):
        Image.MAX_IMAGE_PIXELS = max_pixels  # as imageio.open_image does: our cap is the one that counts
    gate = InferenceGate(max_concurrent, queue)

    app = FastAPI(title="irodori", version=__version__, docs_url=None, redoc_url=None,
                  description="Colour black-and-white images, with optional colour hints. Local use only.")
    app.add_middleware(BodyLimitMiddleware, max_bytes=body_limit(max_upload_bytes))
    app.add_middleware(AdmissionMiddleware, gate=gate, path="/api/colorize")
    app.add_middleware(HostCheckMiddleware, allowed=[*LOOPBACK_NAMES, host, *allowed_hosts],
                       any_ip=host in WILDCARD_HOSTS)
    _install_error_handlers(app)
    error_responses: dict[int | str, dict[str, Any]] = {
        code: {"description": text, "content": {"application/json": {"example": {"error": "message"}}}}
        for code, text in [(400, "bad hints, corrupt image, unusable or too many references, or unknown model"),
                           (413, "body, file or pixels over the limit"),
                           (415, "image or reference not a PNG, JPEG, WebP, BMP, GIF or TIFF"), (422, "missing image field"),
                           (503, "busy; see Retry-After")]
    }

    @app.post("/api/colorize", response_class=Response, responses={
        200: {"content": {"image/png": {}}, "description": "the coloured image, same size as the input"},
        **error_responses})
    async def colorize(
        image: Annotated[UploadFile, File(description="the image (PNG, JPEG, WebP, BMP, GIF or TIFF)")],
        hints: Annotated[str | None, Form(description='JSON list of {"x": int, "y": int, "color": "#rrggbb"} '
                                                      "in input pixels")] = None,
        model: Annotated[str | None, Form(description="one of GET /api/models; default: the first")] = None,
        temperature: Annotated[float | None, Form(description="the annealed-mean temperature, 0.1 to 1.0: lower "
                                                              "is more vivid; default: the model's own")] = None,
        mode: Annotated[str | None, Form(description="auto (default: decided per image), tint (keep the "
                                                      "lightness) or paint (keep the ink; needs a paint model)")] = None,
        tone: Annotated[str | None, Form(description="paint mode's screentone: flat (default) or keep")] = None,
        background: Annotated[str | None, Form(description="paint mode's blank sheet: auto (default), paper "
                                                            "(stays white), gutters (a page's gutters and margins "
                                                            "stay white) or paint")] = None,
        reference: Annotated[list[UploadFile] | None, File(description=(
            f"colour images of the same series (repeat the field, at most {MAX_REFERENCES}); where the "
            "image matches them, their colours guide it"))] = None,
    ) -> Response:
        """Colour one image; answers the PNG (RGBA if the input had alpha); the header
        X-Irodori-Mode says whether it was tinted or painted, X-Irodori-References how many
        references coloured it."""
        name = model or default
        try:
            check_choices("auto" if mode is None else mode, "flat" if tone is None else tone,
                          "auto" if background is None else background)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        if name not in pool:
            shown = name if len(name) <= 80 else name[:80] + "..."  # a name is not echoed back at any length
            raise ApiError(400, f"unknown model {shown!r}; this server offers: {', '.join(pool.names())}")
        hint_list = parse_hints_field(hints)
        if len(reference or []) > MAX_REFERENCES:
            raise ApiError(400, f"too many references ({len(reference)}; at most {MAX_REFERENCES}: each one "
                                "is matched against the image)")
        data = await read_upload(image, what="image", max_bytes=max_upload_bytes, max_pixels=max_pixels)
        uploads = []
        for index, upload in enumerate(reference or [], start=1):
            label = upload_label(upload, index)
            uploads.append((label, await read_upload(upload, what=label, max_bytes=max_upload_bytes,
                                                     max_pixels=max_pixels)))

        def work() -> tuple[bytes, str, float, int]:
            colorizer = pool.get(name)  # loaded on first use, on this worker thread
            extra: dict[str, Any] = {}
            if temperature is not None:
                try:
                    extra["temperature"] = colorizer.check_temperature(temperature)  # in range, and the model takes one
                except ValueError as exc:
                    raise ApiError(400, str(exc)) from None
            start = time.perf_counter()
            references = analyse_uploads(uploads, max_pixels=max_pixels, threads=colorizer.workers) if uploads else []
            if references:
                extra["reference"] = references
            try:
                with input_named(f"upload {(image.filename or 'image')[:100]!r}"):  # in the server's warnings
                    out = colorizer.colorize(data, hints=hint_list, mode=mode, tone=tone, background=background,
                                             **extra)
            except (HintError, ImageReadError, ModelError):
                raise
            except ValueError as exc:  # paint asked of a model that only tints
                raise ApiError(400, str(exc)) from None
            elapsed_ms = (time.perf_counter() - start) * 1000.0
            return encode(out, "png"), out.info.get("irodori.mode", "tint"), elapsed_ms, len(references)

        try:
            png, used_mode, elapsed_ms, used_references = await gate.run(work)
        except HintError as exc:
            raise ApiError(400, str(exc)) from None
        except ImageReadError as exc:
            raise ApiError(400, f"cannot read the image: {exc}") from None
        except ModelError as exc:  # the model's fault (NaN colour): the server's error, said plainly
            log.error("model %s failed: %s", name, exc)
            raise ApiError(500, f"model {name!r} failed: its output is not usable (the server's log says why)") from None
        return Response(png, media_type="image/png", headers={
            "X-Irodori-Model": name, "X-Irodori-Mode": used_mode, "X-Irodori-References": str(used_references),
            "X-Irodori-Elapsed-Ms": f"{elapsed_ms:.0f}", "Cache-Control": "no-store"})

    @app.get("/api/models")
    async def list_models() -> list[dict[str, Any]]:
        """The models this server offers; ``default`` marks the one used when none is named,
        ``loaded`` those already in memory (the others load on first use)."""
        return [{"name": name, "description": pool.describe(name), "default": name == default,
                 "loaded": pool.is_loaded(name)} for name in pool.names()]

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        """Liveness, the limits, and how many images are being coloured or waiting."""
        return {"status": "ok", "version": __version__, "models": pool.names(), "busy": gate.admitted,
                "max_upload_bytes": max_upload_bytes, "max_body_bytes": body_limit(max_upload_bytes),
                "max_pixels": max_pixels, "max_references": MAX_REFERENCES,
                "max_concurrent": max_concurrent, "queue": queue}

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={
            "Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# ----------------------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _usage_problem(args: argparse.Namespace) -> str | None:
    if not 1 <= args.port <= 65535:
        return f"--port must be in 1..65535, got {args.port}"
    if not 0 < args.max_upload_mb < 1e6:  # also refuses nan and inf
        return f"--max-upload-mb must be a size in MB above 0, got {args.max_upload_mb}"
    for flag, value, least in [("--max-pixels", args.max_pixels, 1), ("--max-concurrent", args.max_concurrent, 1),
                               ("--queue", args.queue, 0), ("--threads", args.threads, 1)]:
        if value is not None and value < least:
            return f"{flag} must be at least {least}, got {value}"
    for model in args.model or []:
        problem = _model_problem(model)
        if problem:
            return problem
    return None


def _model_problem(model: str) -> str | None:
    """Why ``--model`` cannot be offered (checked at start; the model itself loads on first use)."""
    path = Path(model)
    if model in MODELS or (path.is_file() and path.suffix.lower() == ".onnx"):
        return None
    if path.is_dir():
        if not any((path / name).is_file() for name in ("checkpoint.json", "latest")):
            return f"--model {model}: not a checkpoint or run directory (no checkpoint.json)"
        if importlib.util.find_spec("torch") is None:
            return f"--model {model}: a checkpoint needs PyTorch (pip install 'irodori[train]'); or export it to ONNX"
        return None
    return (f"unknown model {model!r}: not a shipped model ({', '.join(MODELS)}; see `irodori models`), "
            "an .onnx file or a checkpoint directory")


def run_server(args: argparse.Namespace) -> int:
    """``irodori serve``: check the flags and models (exit 2), serve until Ctrl+C."""
    import uvicorn

    problem = _usage_problem(args)
    if problem:
        print(f"irodori serve: {problem}", file=sys.stderr)
        return 2
    app = create_app(models=args.model or [AUTO_MODEL], max_upload_bytes=int(args.max_upload_mb * 2**20),
                     max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
                     max_concurrent=args.max_concurrent or DEFAULT_MAX_CONCURRENT,
                     queue=DEFAULT_QUEUE if args.queue is None else args.queue, threads=args.threads,
                     host=args.host, allowed_hosts=args.allow_host or ())
    names = list(offered_models(args.model or [AUTO_MODEL]))
    if not is_loopback(args.host):
        print(f"irodori serve: WARNING: listening on {args.host}, reachable from other machines. This server has "
              "no authentication; put it behind a reverse proxy with auth and TLS before exposing it.", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"irodori: serving {', '.join(names)} (the first is the default; each loads on first use) "
          f"at http://{host}:{args.port}/  (Ctrl+C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info"))
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind (it has logged why)
        return 1
    return 0 if server.started else 1
