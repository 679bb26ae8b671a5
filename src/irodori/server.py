"""The local web app and HTTP API behind ``irodori serve`` (needs the ``web`` extra).

One page (``static/``: plain HTML, JS and CSS, no build step, nothing fetched from elsewhere)
and three endpoints: ``POST /api/colorize`` (multipart: ``image``, optional ``hints`` JSON,
optional ``model``) answering a PNG, ``GET /api/models`` and ``GET /api/health``; FastAPI's
OpenAPI schema at ``/openapi.json`` and its docs at ``/docs``.

The server is meant for one machine (rembg's server is the cautionary tale: URL fetching,
CORS ``*``, request JSON passed into constructors). So: it binds 127.0.0.1 by default; the only
inputs are the uploaded bytes, the hints and a model name checked against an allow-list;
models are loaded once at start-up; request bodies are capped while they stream in, images
are sniffed from their magic bytes and capped in pixels before they are decoded; at most
``max_concurrent`` images are coloured at once and ``queue`` more may wait (beyond: 503);
there is no CORS middleware (the page is same-origin); every error is ``{"error": message}``.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable

import anyio
import anyio.to_thread
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .colorizer import Colorizer, load_colorizer
from .hints import MAX_HINTS, Hint, HintError, parse_hints
from .imageio import ImageReadError, encode
from .registry import DEFAULT_MODEL, MODELS

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD_BYTES = 20 * 2**20
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_QUEUE = 8
RETRY_AFTER_S = 2
# The page may load only what this server serves (it is meant to work offline); /docs is left
# alone, since FastAPI's Swagger UI comes from a CDN.
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


def check_pixels(data: bytes, fmt: str, max_pixels: int) -> tuple[int, int]:
    """Read only the header (decoding nothing) and refuse images over ``max_pixels`` -> (w, h)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise ApiError(413, f"image has too many pixels (this server's limit is {max_pixels:,})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise ApiError(400, f"corrupt or truncated {fmt} image") from None
    if width * height > max_pixels:
        raise ApiError(413, f"image is {width}x{height} = {width * height:,} pixels; "
                            f"this server's limit is {max_pixels:,} pixels (--max-pixels)")
    return width, height


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
    """At most ``max_concurrent`` colourings at once on worker threads, at most ``queue`` more
    waiting (FIFO); a request beyond that is refused at once with 503 instead of piling up."""

    def __init__(self, max_concurrent: int, queue: int) -> None:
        self.max_concurrent, self.capacity = max_concurrent, max_concurrent + queue
        self.admitted = 0  # running + waiting; touched only on the event loop, so no lock
        self._limiter: anyio.CapacityLimiter | None = None  # made on the server's event loop

    async def run(self, func: Callable[[], Any]) -> Any:
        if self.admitted >= self.capacity:
            raise ApiError(503, f"busy: {self.capacity} images are being coloured or waiting; retry shortly",
                           headers={"Retry-After": str(RETRY_AFTER_S)})
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_concurrent)
        self.admitted += 1
        try:
            return await anyio.to_thread.run_sync(func, limiter=self._limiter)
        finally:
            self.admitted -= 1


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
                                     "(--max-upload-mb)")
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


def create_app(*, models: list[str] | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_concurrent: int = DEFAULT_MAX_CONCURRENT,
               queue: int = DEFAULT_QUEUE, threads: int | None = None,
               colorizers: dict[str, Colorizer] | None = None) -> FastAPI:
    """The app serving ``models`` (shipped names; the first is the default). Each model is
    loaded here, once; ``colorizers`` ({name: Colorizer}) supplies already-loaded ones."""
    names = list(dict.fromkeys(models or (list(colorizers) if colorizers else [DEFAULT_MODEL])))
    # Each of the max_concurrent images in flight gets its share of the cores, not all of them.
    threads = threads or max(1, (os.cpu_count() or 1) // max_concurrent)
    loaded: dict[str, Colorizer] = {}
    for name in names:
        if colorizers and name in colorizers:
            loaded[name] = colorizers[name]
        elif name in MODELS:
            loaded[name] = load_colorizer(name, threads=threads, max_pixels=max_pixels)
        else:
            raise ValueError(f"unknown model {name!r}; shipped models: {', '.join(MODELS)}")
    default = names[0]
    if max_pixels > (Image.MAX_IMAGE_PIXELS or max_pixels):
        Image.MAX_IMAGE_PIXELS = max_pixels  # as imageio.open_image does: our cap is the one that counts
    gate = InferenceGate(max_concurrent, queue)

    app = FastAPI(title="irodori", version=__version__,
                  description="Colour black-and-white images, with optional colour hints. Local use only.")
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_upload_bytes)
    _install_error_handlers(app)
    error_responses: dict[int | str, dict[str, Any]] = {
        code: {"description": text, "content": {"application/json": {"example": {"error": "message"}}}}
        for code, text in [(400, "bad hints, corrupt image or unknown model"), (413, "body or pixels over the limit"),
                           (415, "not a PNG, JPEG, WebP, BMP, GIF or TIFF"), (422, "missing image field"),
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
    ) -> Response:
        """Colour one image; answers the PNG (RGBA if the input had alpha)."""
        name = model or default
        if name not in loaded:
            shown = name if len(name) <= 80 else name[:80] + "..."  # a name is not echoed back at any length
            raise ApiError(400, f"unknown model {shown!r}; this server offers: {', '.join(loaded)}")
        hint_list = parse_hints_field(hints)
        data = await image.read()
        if not data:
            raise ApiError(400, "the uploaded file is empty")
        fmt = sniff_format(data)
        if fmt is None:
            raise ApiError(415, "not a supported image: send a PNG, JPEG, WebP, BMP, GIF or TIFF")
        check_pixels(data, fmt, max_pixels)

        def work() -> tuple[bytes, float]:
            start = time.perf_counter()
            png = encode(loaded[name].colorize(data, hints=hint_list), "png")
            return png, (time.perf_counter() - start) * 1000.0

        try:
            png, elapsed_ms = await gate.run(work)
        except HintError as exc:
            raise ApiError(400, str(exc)) from None
        except ImageReadError as exc:
            raise ApiError(400, f"cannot read the image: {exc}") from None
        return Response(png, media_type="image/png", headers={
            "X-Irodori-Model": name, "X-Irodori-Elapsed-Ms": f"{elapsed_ms:.0f}", "Cache-Control": "no-store"})

    @app.get("/api/models")
    async def list_models() -> list[dict[str, Any]]:
        """The models this server offers; ``default`` marks the one used when none is named."""
        return [{"name": name, "description": MODELS[name].description if name in MODELS else "",
                 "default": name == default} for name in loaded]

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        """Liveness, the limits, and how many images are being coloured or waiting."""
        return {"status": "ok", "version": __version__, "models": list(loaded), "busy": gate.admitted,
                "max_upload_bytes": max_upload_bytes, "max_pixels": max_pixels,
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
    unknown = [name for name in args.model or [] if name not in MODELS]
    if unknown:
        return f"unknown model {unknown[0]!r}; shipped models: {', '.join(MODELS)} (see `irodori models`)"
    return None


def run_server(args: argparse.Namespace) -> int:
    """``irodori serve``: check the flags (exit 2), load the models, serve until Ctrl+C."""
    import uvicorn

    problem = _usage_problem(args)
    if problem:
        print(f"irodori serve: {problem}", file=sys.stderr)
        return 2
    names = args.model or [DEFAULT_MODEL]
    try:
        app = create_app(models=names, max_upload_bytes=int(args.max_upload_mb * 2**20),
                         max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
                         max_concurrent=args.max_concurrent or DEFAULT_MAX_CONCURRENT,
                         queue=DEFAULT_QUEUE if args.queue is None else args.queue, threads=args.threads)
    except (OSError, ValueError) as exc:  # a missing or damaged model file
        print(f"irodori serve: cannot load the models: {exc}", file=sys.stderr)
        return 1
    if not is_loopback(args.host):
        print(f"irodori serve: WARNING: listening on {args.host}, reachable from other machines. This server has "
              "no authentication; put it behind a reverse proxy with auth and TLS before exposing it.", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"irodori: serving {', '.join(dict.fromkeys(names))} at http://{host}:{args.port}/  (Ctrl+C to stop)",
          flush=True)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info"))
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind (it has logged why)
        return 1
    return 0 if server.started else 1
