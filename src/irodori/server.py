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
the server was started with, each loaded once, on first use); the form is read field by field
(an unknown, repeated or misplaced field is a 400 naming it); request bodies are capped while
they stream in (room for the image and MAX_REFERENCES references: :func:`body_limit`) and must
arrive within ``upload_timeout`` seconds (408: a stalled client cannot hold a place), each file
is capped in bytes, and images and references are sniffed from their magic bytes and capped in
pixels before they are decoded; at most ``max_concurrent`` images are coloured at once and
``queue`` more requests may be uploading or waiting (beyond: 503 before the body is read); a
request whose client disconnects while it waits is dropped, never coloured; there is no CORS
middleware (the page is same-origin); every error is ``{"error": message}``, one line.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import importlib.util
import io
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect
from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only from Python 3.12

from . import __version__
from .colorizer import TEMPERATURE_RANGE, Colorizer, load_colorizer
from .hints import MAX_HINTS, Hint, HintError, parse_hints
from .imageio import ImageReadError, encode, input_named, input_prefix, quiet, scoped
from .paint import BACKGROUNDS, MODES, TONES, unused_paint_settings
from .reference import MAX_REFERENCES, Reference, ReferenceImageError, load_matcher
from .registry import AUTO_MODEL, DEFAULT_MODEL, DEFAULT_PAINT_MODEL, MODELS, ModelError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD_BYTES = 20 * 2**20
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_QUEUE = 8
FORM_FIELDS_BYTES = 2**20  # room in a body for the form fields beside the files (hints: at most 256)
DEFAULT_UPLOAD_TIMEOUT_S = 60.0  # a whole body, 9 files of 20 MB included, at 3 MB/s
RETRY_AFTER_S = 2
# The form of POST /api/colorize: field -> a file upload? Only `reference` may repeat.
FORM_FIELDS = {"image": True, "reference": True, "hints": False, "model": False, "mode": False, "tone": False,
               "background": False, "temperature": False}
CHOICES = {"mode": ("auto", *MODES), "tone": TONES, "background": ("auto", *BACKGROUNDS)}
REFUSED_HEADER = "X-Irodori-Refused-Reference"  # on an error caused by one reference: its place, from 1
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

    def refusing(self, index: int) -> ApiError:
        """The same error, saying in the REFUSED_HEADER that reference ``index`` (from 1) caused it."""
        return ApiError(self.status, self.message, headers={**(self.headers or {}), REFUSED_HEADER: str(index)})


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters for a message (nothing a client sends is echoed back
    at any length)."""
    return text if len(text) <= limit else text[:limit] + "..."


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


def check_pixels(data: bytes, fmt: str, max_pixels: int, *, what: str = "image", named: str | None = None
                 ) -> tuple[int, int]:
    """Read only the header (decoding nothing) and refuse images over ``max_pixels`` -> (w, h);
    ``what`` names the file in the messages ("image", "reference 'cover.png'"), ``named`` in
    the limit's (the image by its file name too, "image 'page.png'": helper 81)."""
    named = named or what
    try:
        with quiet(Image.DecompressionBombWarning):
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
    except Image.DecompressionBombError as exc:  # Pillow's own guard, far over ours: its count, as ours says it
        found = re.search(r"size \((\d+) pixels\)", str(exc))
        count = f" {int(found.group(1)):,}" if found else " too many"
        raise ApiError(413, f"{named} has{count} pixels; this server's limit is {max_pixels:,} pixels "
                            "(--max-pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        prefix = "" if what == "image" else f"{what}: "
        raise ApiError(400, f"{prefix}corrupt or truncated {fmt} image") from None
    if width * height > max_pixels:
        raise ApiError(413, f"{named} is {width}x{height} = {width * height:,} pixels; "
                            f"this server's limit is {max_pixels:,} pixels (--max-pixels)")
    return width, height


def upload_label(upload: UploadFile, index: int) -> str:
    """How messages name reference number ``index`` (from 1): its file name, quoted and cut to
    80 characters (a name is not echoed back at any length), else its place."""
    name = (upload.filename or "").strip()
    return f"reference {shorten(name)!r}" if name else f"reference {index}"


async def read_upload(upload: UploadFile, *, what: str, max_bytes: int, max_pixels: int) -> bytes:
    """An uploaded file -> its bytes, checked as every image is: at most ``max_bytes`` (413;
    the size is known before it is read), not empty (400), a PNG, JPEG, WebP, BMP, GIF or TIFF
    by its first bytes (415), at most ``max_pixels`` by its header (413)."""
    named = f"image {shorten(upload.filename.strip())!r}" if what == "image" and (upload.filename or "").strip() \
        else what  # the file named, as a reference is (helper 76: "image is ... bytes")
    if upload.size is not None and upload.size > max_bytes:
        raise ApiError(413, f"{named} is {upload.size:,} bytes; this server's limit is {max_bytes:,} bytes "
                            "per file (--max-upload-mb)")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"{named} is over this server's limit of {max_bytes:,} bytes per file (--max-upload-mb)")
    if not data:
        raise ApiError(400, "the uploaded file is empty" if what == "image" else f"{what} is an empty file")
    fmt = sniff_format(data)
    if fmt is None:
        noun = "not a supported image" if what == "image" else f"{what} is not a supported image"
        raise ApiError(415, f"{noun}: send a PNG, JPEG, WebP, BMP, GIF or TIFF")
    check_pixels(data, fmt, max_pixels, what=what, named=named)
    return data


async def read_references(uploads: list[UploadFile], *, max_bytes: int, max_pixels: int) -> list[tuple[str, bytes]]:
    """The ``reference`` files -> [(label, bytes)], each checked as :func:`read_upload` checks
    the image; an error names the reference and carries its place (:meth:`ApiError.refusing`)."""
    checked = []
    for index, upload in enumerate(uploads, start=1):
        label = upload_label(upload, index)
        try:
            checked.append((label, await read_upload(upload, what=label, max_bytes=max_bytes, max_pixels=max_pixels)))
        except ApiError as exc:
            raise exc.refusing(index) from None
    return checked


def analyse_uploads(uploads: list[tuple[str, bytes]], *, max_pixels: int, threads: int | None = None) -> list[Reference]:
    """Checked reference files [(label, bytes)] -> analysed, once per request (on a worker
    thread, with ``threads`` onnxruntime threads, the colouring's); ApiError 400 naming the one
    that cannot be used (grey, too small, unreadable) and carrying its place."""
    if not uploads:
        return []
    try:
        matcher = load_matcher(threads)
    except ModelError as exc:
        raise _feature_network_failed(exc) from None
    references = []
    for index, (label, data) in enumerate(uploads, start=1):
        try:
            references.append(matcher.analyse(data, name=label.removeprefix("reference "), max_pixels=max_pixels))
        except ReferenceImageError as exc:
            raise ApiError(400, str(exc)).refusing(index) from None
        except ModelError as exc:
            raise _feature_network_failed(exc) from None
    return references


def _feature_network_failed(exc: ModelError) -> ApiError:
    log.error("the reference feature network failed: %s", exc)
    return ApiError(500, "references cannot be used: the feature network failed (the server's log says why)")


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


def _either(options: Iterable[str]) -> str:
    *rest, last = options
    return f"{', '.join(rest)} or {last}" if rest else last


def parse_choice(field: str, text: str | None) -> str | None:
    """The ``mode``, ``tone`` or ``background`` field -> its value (None: not given); ApiError
    400 naming the field and the value when it is not one of CHOICES[field]."""
    if text is None or text in CHOICES[field]:
        return text
    raise ApiError(400, f"{field} must be {_either(CHOICES[field])}, not {shorten(text, 40)!r}")


def parse_temperature(text: str | None) -> float | None:
    """The ``temperature`` field -> a number in TEMPERATURE_RANGE (None: the model's own);
    ApiError 400 naming the value when it is not one (nan and inf are not)."""
    if text is None:
        return None
    low, high = TEMPERATURE_RANGE
    # A number as JSON and the schema write it (1e0 too: helper 62), or .5; Python's float() also
    # takes "0.5_0", other scripts' digits, spaces.
    value = float(text) if re.fullmatch(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text) else float("nan")
    if not low <= value <= high:
        raise ApiError(400, f"temperature must be a number from {low} to {high}, not {shorten(text, 40)!r}")
    return value


class _FormParser(MultiPartParser):
    """Starlette's multipart parser, noting whether a part began and whether the body reached
    its closing boundary: cut short, it ends quietly and the part it had not finished is lost."""

    began = ended = False

    def on_part_begin(self) -> None:
        self.began = True
        super().on_part_begin()

    def on_end(self) -> None:
        self.ended = True


def _multipart_problem(exc: MultiPartException) -> str:
    detail = str(exc.__cause__ or exc.message).strip().rstrip(".")
    if "header size" in detail:
        detail += " (a part's header line is at most 4 KB, its file name included)"
    elif "Part exceeded maximum size" in detail:  # helper 62: 200k hints said only this
        detail += " (a field that is not a file, hints among them, is at most 1 MB: 256 hints fill a few KB)"
    return f"cannot read the multipart body: {detail}"


async def read_form(request: Request) -> FormData:
    """The multipart body of ``request`` -> its fields (files spooled to temporary files: close
    them with ``await form.close()``). ApiError 400 when it is not multipart, is malformed, or
    ends before its closing boundary; 499 when the client leaves during the upload."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(400, "send a multipart/form-data body, the image in the field 'image' "
                            "(curl -F image=@page.png)")
    parser = _FormParser(request.headers, request.stream(), max_part_size=FORM_FIELDS_BYTES)
    try:
        form = await parser.parse()
    except ClientDisconnect:
        raise ApiError(499, "the client disconnected during its upload") from None
    except MultiPartException as exc:
        raise ApiError(400, _multipart_problem(exc)) from None
    if parser.began and not parser.ended:
        await form.close()
        raise ApiError(400, "the upload is incomplete: the multipart body ends before its closing boundary")
    return form


def _left_empty(upload: UploadFile) -> bool:
    """A file part without a name or bytes: what a browser sends for a file input left empty."""
    return not upload.filename and not upload.size


def form_fields(form: FormData) -> dict[str, Any]:
    """A form -> {field: value}, ``reference`` a list of files; ApiError 400 naming a field this
    endpoint does not take, one given twice (only ``reference`` repeats), text where a file
    belongs or a file where text does. Text is taken without its surrounding blanks; an empty
    text field counts as not given, and so does a file input left empty (as browsers send them)."""
    fields: dict[str, Any] = {"reference": []}
    for name, value in form.multi_items():
        value = value.strip() if isinstance(value, str) else value  # (" 0.5" was refused where " manga" was taken)
        if name not in FORM_FIELDS:
            raise ApiError(400, f"unknown field {shorten(name, 40)!r}; the fields are {', '.join(FORM_FIELDS)}")
        if value == "" and FORM_FIELDS[name]:  # an empty text field where a file belongs (curl -F reference=):
            continue  # not given, as the docs say of any empty text field (it was "must be a file": helper 76)
        if isinstance(value, UploadFile) != FORM_FIELDS[name]:
            raise ApiError(400, f"{name} must be a file upload" if FORM_FIELDS[name]
                           else f"{name} must be a text field, not a file")
        if name == "reference":
            fields[name] += [] if _left_empty(value) else [value]
        elif name in fields:
            raise ApiError(400, f"field {name!r} given twice (only reference may repeat)")
        else:
            fields[name] = value
    return {name: value for name, value in fields.items()
            if not (value == "" or (name == "image" and _left_empty(value)))}


@dataclass
class Job:
    """One checked POST /api/colorize form: the files (not read yet) and the parsed fields."""

    image: UploadFile
    references: list[UploadFile]
    hints: list[Hint]
    model: str
    mode: str | None
    tone: str | None
    background: str | None
    temperature: float | None


def parse_form(form: FormData, *, offered: Iterable[str], default: str) -> Job:
    """The form -> a :class:`Job`, every field checked (ApiError 400 naming the field): ``model``
    one of ``offered`` (``default`` when not given), at most MAX_REFERENCES references."""
    fields = form_fields(form)
    if "image" not in fields:
        raise ApiError(400, "missing form field 'image'")
    model, offered = fields.get("model", default), list(offered)
    if model not in offered:
        raise ApiError(400, f"unknown model {shorten(model)!r}; this server offers: {', '.join(offered)}")
    references = fields["reference"]
    if len(references) > MAX_REFERENCES:
        raise ApiError(400, f"too many references ({len(references)}; at most {MAX_REFERENCES}: each one "
                            "is matched against the image)")
    return Job(image=fields["image"], references=references, hints=parse_hints_field(fields.get("hints")),
               model=model, temperature=parse_temperature(fields.get("temperature")),
               **{field: parse_choice(field, fields.get(field)) for field in CHOICES})


def model_extras(colorizer: Colorizer, job: Job) -> dict[str, Any]:
    """What ``job`` asks of its model -> :meth:`Colorizer.colorize`'s extra arguments; ApiError
    400 naming the form field when the model cannot do it (paint without a paint model, a
    temperature without the input). The colorizer's own messages name CLI flags."""
    if job.mode == "paint" and colorizer.paint_backend is None:
        raise ApiError(400, f"mode paint needs a paint model; model {job.model!r} only tints (name one that "
                            f"paints in the model field: {AUTO_MODEL} or a manga model)")
    if job.temperature is None:
        return {}
    if colorizer.backend.temperature is None:
        raise ApiError(400, f"model {job.model!r} has no temperature input (a regression head, or exported "
                            "before irodori had it); leave the temperature field out")
    return {"temperature": job.temperature}


# ---- the answers' shapes, for the OpenAPI schema (helper 62: they were untyped objects) ---------
class ModelInfo(TypedDict):
    """One model of GET /api/models."""

    name: str  # what the form's model field takes
    description: str
    default: bool  # the one used when the form names none
    loaded: bool  # in memory already (the others load on first use)
    paints: bool | None  # it can paint (mode paint); null: a model given by path, not loaded yet


class Health(TypedDict):
    """GET /api/health: liveness, the limits, and the work in hand."""

    status: str  # "ok"
    version: str
    models: list[str]
    busy: int  # images being coloured or waiting
    max_upload_bytes: int
    max_body_bytes: int
    max_pixels: int
    max_references: int
    max_concurrent: int
    queue: int
    upload_timeout_s: float


# ---- warnings said to the client: what the CLI prints, the page shows ---------------------------
MAX_WARNINGS = 5  # per answer, each cut to WARNING_CHARS
WARNING_CHARS = 300
_REQUEST_WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("irodori_warnings",
                                                                                     default=None)


class _ClientWarnings(logging.Handler):
    """Keeps irodori's warnings about the image being coloured in this thread (a hint that
    colours nothing, a colour upload whose colours are replaced, the first frame of a GIF) for
    the answer's X-Irodori-Warnings: they were written to the server's log alone."""

    def emit(self, record: logging.LogRecord) -> None:
        kept = _REQUEST_WARNINGS.get()
        if kept is not None and record.levelno >= logging.WARNING and len(kept) < MAX_WARNINGS:
            message, prefix = record.getMessage(), input_prefix()
            kept.append(client_wording(message[len(prefix):] if prefix and message.startswith(prefix) else message))


# The command line's wording of a warning -> the page's and the API's, which have no such flags
# (helper 62: "--mode paint colours paper", and keep-colour advice the page could not follow)
CLIENT_WORDING = (
    (re.compile(r"--(mode|tone|background) (\w+)"), r"\1 \2"),
    (re.compile(r"colorize --keep-colour, or load_colorizer\(keep_colour=True\) in Python, keeps such images as "
                r"they are"), "the command line's --keep-colour keeps such images as they are; here every image "
                              "is coloured"),
)


def client_wording(message: str) -> str:
    """A warning as the command line words it -> as the web page and the API are told it: a
    flag (--mode paint) named as the field or control it is (mode paint)."""
    for pattern, words in CLIENT_WORDING:
        message = pattern.sub(words, message)
    return message


_CLIENT_WARNINGS = _ClientWarnings()


@contextlib.contextmanager
def client_warnings() -> Iterator[list[str]]:
    """The warnings irodori logs in this block, in this thread, gathered for the client."""
    logger = logging.getLogger("irodori")
    if _CLIENT_WARNINGS not in logger.handlers:
        logger.addHandler(_CLIENT_WARNINGS)
    with scoped(_REQUEST_WARNINGS, []) as kept:
        yield kept


HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def header_text(value: str) -> str:
    """A name (a model's folder, say ``runs/漫画``) -> a header value: printable ASCII as it is,
    anything else (and ``%``) percent-encoded as UTF-8, as in a URL; a header's bytes are
    Latin-1, and a folder named in Japanese failed every request with 500."""
    return quote(value, safe=HEADER_SAFE)


def warnings_header(warnings: list[str]) -> str:
    """Warnings -> the X-Irodori-Warnings value: a JSON list of strings, ASCII (a header's bytes
    are Latin-1), each cut to WARNING_CHARS."""
    return json.dumps([w if len(w) <= WARNING_CHARS else w[: WARNING_CHARS - 1] + "…" for w in warnings])


def colour_job(colorizer: Colorizer, job: Job, data: bytes, uploads: list[tuple[str, bytes]], *,
               max_pixels: int) -> tuple[bytes, str, float, int, list[str]]:
    """Colour a checked request, on a worker thread -> (PNG bytes, the mode used, milliseconds
    including the references' analysis, references used, the warnings about it); ApiError for
    what the client can mend (a hint outside the image, a reference without colour) and,
    plainly, for a model's failure."""
    extra = model_extras(colorizer, job)
    start = time.perf_counter()
    references = analyse_uploads(uploads, max_pixels=max_pixels, threads=colorizer.workers) if uploads else []
    if references:
        extra["reference"] = references
    try:
        with input_named(f"upload {(job.image.filename or 'image')[:100]!r}"), client_warnings() as warnings:
            unused = unused_paint_settings(job.tone, job.background, job.mode,
                                           paints=colorizer.paint_backend is not None, model=f"model {job.model!r}")
            if unused:
                log.warning("%s", unused)  # the client's copy reworded: "tone keep", not "--tone keep"
            out = colorizer.colorize(data, hints=job.hints, mode=job.mode, tone=job.tone, background=job.background,
                                     **extra)
    except HintError as exc:
        raise ApiError(400, str(exc)) from None
    except ImageReadError as exc:
        raise ApiError(400, f"cannot read the image: {exc}") from None
    except ModelError as exc:  # the model's fault (NaN colour): the server's error, said plainly
        log.error("model %s failed: %s", job.model, exc)
        raise ApiError(500, f"model {job.model!r} failed: its output is not usable (the server's log "
                            "says why)") from None
    except ValueError as exc:  # what the model cannot do, in the CLI's words: put in the API's
        message = str(exc).replace("--model ", "model=").replace("--temperature", "the temperature field")
        raise ApiError(400, message) from None
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if (references and not out.info.get("irodori.reference_hints") and not out.info.get("irodori.reference_copied")
            and len(warnings) < MAX_WARNINGS):
        warnings.append(("the reference matches nothing" if len(references) == 1 else
                         "none of the references matches anything") + " on this image: it is coloured as without "
                        "references")
    return encode(out, "png"), out.info.get("irodori.mode", "tint"), elapsed_ms, len(references), warnings


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

    async def run(self, func: Callable[[], Any], *, receive: Callable) -> Any:
        """Run ``func`` on a worker thread once one of the ``max_concurrent`` slots is free. While
        it waits, ``receive`` (the request's, its body read) is watched: when the client
        disconnects (a page that moved on to newer settings), ``func`` is never run and ApiError
        499 ends the request at once, so its place goes to the requests still wanted."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_concurrent)
        if not await _acquire_while_connected(self._limiter, receive):
            log.info("a request was dropped before colouring: its client disconnected while it waited")
            raise ApiError(499, "the client disconnected before its image was coloured")
        try:
            return await anyio.to_thread.run_sync(func)
        finally:
            self._limiter.release()


async def _acquire_while_connected(limiter: anyio.CapacityLimiter, receive: Callable) -> bool:
    """Wait for a token of ``limiter`` while watching ``receive`` for the client's disconnect ->
    True holding the token, or False, holding none, once the client has gone."""
    gone = acquired = False

    async def watch(scope: anyio.CancelScope) -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            await anyio.sleep(0.05)  # never spin on a server that answers at once
        gone = True
        scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(watch, group.cancel_scope)
        await limiter.acquire()
        acquired = True
        group.cancel_scope.cancel()
    if gone and acquired:
        limiter.release()
    return acquired and not gone


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
    they are streamed without one, as soon as the bytes received pass the cap; and bodies not
    complete ``timeout_s`` after the request began with 408 (a client that stalls, or trickles,
    would otherwise hold its place in the queue for ever). Nothing more is read; the app's own
    reaction to the aborted body is dropped and replaced by the 413 or 408."""

    def __init__(self, app: Any, *, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        too_large = ApiError(413, f"request body over this server's limit of {self.max_bytes:,} bytes "
                                  f"(room for the image and {MAX_REFERENCES} references of --max-upload-mb each)")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _json_error(too_large.status, too_large.message)(scope, receive, send)
            return
        too_slow = ApiError(408, f"the request body did not arrive within {self.timeout_s:g} s (this server's "
                                 "--upload-timeout); send it again")
        state: dict[str, Any] = {"received": 0, "error": None, "started": False, "done": False}
        deadline = anyio.current_time() + self.timeout_s

        def abort(error: ApiError) -> ApiError:
            state["error"] = error
            return error

        async def limited_receive() -> dict:
            if state["done"]:
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    message = await receive()
            except TimeoutError:
                raise abort(too_slow) from None
            state["done"] = message["type"] != "http.request" or not message.get("more_body", False)
            state["received"] += len(message.get("body", b""))
            if state["received"] > self.max_bytes:
                raise abort(too_large)
            return message

        async def guarded_send(message: dict) -> None:
            if state["error"] is not None:
                return  # the app's answer to the aborted body; ours follows
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if state["error"] is None:
                raise
        if state["error"] is not None and not state["started"]:
            error = state["error"]
            await _json_error(error.status, error.message)(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _json_error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json_error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # No route declares parameters (the form is read by hand): a safety net, in one line.
        problems = [f"field {str(err.get('loc', ('', '?'))[-1])!r}: {err.get('msg', 'invalid')}"
                    for err in exc.errors()]
        return _json_error(400, "; ".join(problems) or "invalid request")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _json_error(500, "internal error")


STEP_FOLDER = re.compile(r"step-\d+")  # a checkpoint folder inside a run (irodori.checkpoint)


def offered_models(models: Iterable[str] = (), *, shipped: bool = True) -> dict[str, str]:
    """Name -> source of the models a server offers: ``models`` first, in order (``auto``, shipped
    names, .onnx files, checkpoint directories; a path is offered under its file or folder name, a
    run's step folder as RUN-step-NNNNNNN, made unique with -2, -3...), then, when ``shipped``,
    ``auto`` (if its two shipped models are there) and every other shipped model. Requests choose
    by name only, so a path never comes from a request."""
    offered: dict[str, str] = {}
    for model in models:
        if model in MODELS or model == AUTO_MODEL:
            offered.setdefault(model, model)
            continue
        path = Path(model).resolve()
        if str(path) in offered.values():
            continue
        base = path.stem if path.suffix.lower() == ".onnx" else path.name
        if STEP_FOLDER.fullmatch(base) and (path.parent / "latest").is_file():  # a run's step: named by its run too
            base = f"{path.parent.name}-{base}"  # (helper 58: two runs' step-0000300 were offered as -2)
        name, n = base, 1
        while name in offered or name in MODELS or name == AUTO_MODEL:
            n += 1
            name = f"{base}-{n}"
        offered[name] = str(path)
    auto = [AUTO_MODEL] if DEFAULT_MODEL in MODELS and DEFAULT_PAINT_MODEL in MODELS else []
    for name in [*auto, *MODELS] if shipped else ():
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

    def paints(self, name: str) -> bool | None:
        """Whether the model can paint (paint mode): known for auto, the shipped models and those
        loaded; None for a model given by path and not loaded yet."""
        source = self.sources[name]
        if name in self._loaded:
            return self._loaded[name].paint_backend is not None
        if source == AUTO_MODEL:
            return True
        return MODELS[source].paints if source in MODELS else None

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


def colorize_request(models: list[str], default: str) -> dict[str, Any]:
    """The OpenAPI request body of POST /api/colorize (the form is read by hand, field by field,
    so FastAPI cannot describe it): every field, the allowed values, the defaults."""
    def text(description: str, **schema: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **schema}

    low, high = TEMPERATURE_RANGE
    files = "PNG, JPEG, WebP, BMP, GIF or TIFF, told by its first bytes"
    fields = {
        "image": {"type": "string", "format": "binary", "description": f"the image to colour ({files})"},
        "reference": {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": MAX_REFERENCES,
                      "description": f"colour images of the same series ({files}; repeat the field, at most "
                                     f"{MAX_REFERENCES}); where the image matches them, their colours guide it"},
        "hints": text('JSON list of {"x": int, "y": int, "color": "#rrggbb"} in the image\'s pixels '
                      f"(at most {MAX_HINTS})"),
        "model": text("one of GET /api/models", enum=models, default=default),
        "mode": text("auto (decided per image), tint (keep the lightness) or paint (keep the ink; needs a "
                     "paint model)", enum=list(CHOICES["mode"]), default="auto"),
        "tone": text("paint mode's screentone: flat colour or keep the dots", enum=list(CHOICES["tone"]),
                     default="flat"),
        "background": text("paint mode's blank sheet: auto, paper (stays white), gutters (a page's gutters and "
                           "margins stay white) or paint", enum=list(CHOICES["background"]), default="auto"),
        "temperature": {"type": "number", "minimum": low, "maximum": high, "description":
                        "the annealed-mean temperature: lower is more vivid; default: the model's own"},
    }
    schema = {"type": "object", "required": ["image"], "properties": fields, "additionalProperties": False}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def colorize_responses() -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of POST /api/colorize, with their headers."""
    def header(description: str, kind: str = "string", **schema: Any) -> dict[str, Any]:
        return {"description": description, "schema": {"type": kind, **schema}}

    refused = {REFUSED_HEADER: header("the reference that caused the error, by its place in the form (from 1)",
                                      "integer")}
    errors = [(400, "a field unknown, repeated, missing or of a bad value; bad hints; a corrupt image; an unusable "
                    "or too many references; an incomplete body", refused),
              (408, "the body did not arrive within the server's --upload-timeout", {}),
              (413, "body, file or pixels over the limit", refused),
              (415, "image or reference not a PNG, JPEG, WebP, BMP, GIF or TIFF", refused),
              (500, "the model (or the reference feature network) failed: its output is not usable; the "
                    "server's log says why", {}),
              (503, "busy", {"Retry-After": header("seconds to wait before asking again", "integer")})]
    answers: dict[int | str, dict[str, Any]] = {
        code: {"description": text, "headers": headers,
               "content": {"application/json": {"example": {"error": "one line saying what went wrong"}}}}
        for code, text, headers in errors}
    answers[200] = {"description": "the coloured image, same size as the input", "content": {"image/png": {}},
                    "headers": {"X-Irodori-Model": header("the model asked for"),
                                "X-Irodori-Mode": header("the contract it was coloured under", enum=list(MODES)),
                                "X-Irodori-References": header("how many references coloured it", "integer"),
                                "X-Irodori-Elapsed-Ms": header("colouring time, queue not counted", "integer"),
                                "X-Irodori-Warnings": header("what the command line would warn about this image, "
                                                             "a JSON list of strings ([] for none)")}}
    return answers


def create_app(*, models: list[str] | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_concurrent: int = DEFAULT_MAX_CONCURRENT,
               queue: int = DEFAULT_QUEUE, threads: int | None = None,
               colorizers: dict[str, Colorizer] | None = None, shipped: bool = True,
               host: str = "127.0.0.1", allowed_hosts: Iterable[str] = (),
               upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT_S) -> FastAPI:
    """The app offering ``colorizers`` ({name: already-loaded Colorizer}), then ``models``
    (shipped names, .onnx files, checkpoint directories; see :func:`offered_models`), then every
    other shipped model (``auto`` included) unless ``shipped=False``; the first is the default
    (without any: ``auto``). Nothing is loaded here: each model loads on first use. Requests must
    name ``host`` (the bound address), a loopback name or one of ``allowed_hosts`` in their Host
    header, and send their body within ``upload_timeout`` seconds."""
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
    app.add_middleware(BodyLimitMiddleware, max_bytes=body_limit(max_upload_bytes), timeout_s=upload_timeout)
    app.add_middleware(AdmissionMiddleware, gate=gate, path="/api/colorize")
    app.add_middleware(HostCheckMiddleware, allowed=[*LOOPBACK_NAMES, host, *allowed_hosts],
                       any_ip=host in WILDCARD_HOSTS)
    _install_error_handlers(app)
    @app.post("/api/colorize", response_class=Response, responses=colorize_responses(),
              openapi_extra=colorize_request(pool.names(), default))
    async def colorize(request: Request) -> Response:
        """Colour one image; answers the PNG (RGBA if the input had alpha); the header
        X-Irodori-Mode says whether it was tinted or painted, X-Irodori-References how many
        references coloured it."""
        form = await read_form(request)
        try:
            job = parse_form(form, offered=pool.names(), default=default)
            data = await read_upload(job.image, what="image", max_bytes=max_upload_bytes, max_pixels=max_pixels)
            uploads = await read_references(job.references, max_bytes=max_upload_bytes, max_pixels=max_pixels)
            # the model loads on first use, on the worker thread
            png, used_mode, elapsed_ms, used_references, warnings = await gate.run(
                lambda: colour_job(pool.get(job.model), job, data, uploads, max_pixels=max_pixels),
                receive=request.receive)
        finally:
            await form.close()
        return Response(png, media_type="image/png", headers={
            "X-Irodori-Model": header_text(job.model), "X-Irodori-Mode": used_mode,
            "X-Irodori-References": str(used_references),
            "X-Irodori-Elapsed-Ms": f"{elapsed_ms:.0f}", "X-Irodori-Warnings": warnings_header(warnings),
            "Cache-Control": "no-store"})

    @app.get("/api/models")
    async def list_models() -> list[ModelInfo]:
        """The models this server offers; ``default`` marks the one used when none is named,
        ``loaded`` those already in memory (the others load on first use), ``paints`` whether it
        can paint (mode paint; null: a model given by path, not loaded yet)."""
        return [{"name": name, "description": pool.describe(name), "default": name == default,
                 "loaded": pool.is_loaded(name), "paints": pool.paints(name)} for name in pool.names()]

    @app.head("/api/health", include_in_schema=False)  # uptime checkers ask so (helper 62); one schema entry
    @app.get("/api/health")
    async def health() -> Health:
        """Liveness, the limits, and how many images are being coloured or waiting."""
        return {"status": "ok", "version": __version__, "models": pool.names(), "busy": gate.admitted,
                "max_upload_bytes": max_upload_bytes, "max_body_bytes": body_limit(max_upload_bytes),
                "max_pixels": max_pixels, "max_references": MAX_REFERENCES,
                "max_concurrent": max_concurrent, "queue": queue, "upload_timeout_s": upload_timeout}

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
    if not 0 < args.upload_timeout < 1e6:
        return f"--upload-timeout must be a number of seconds above 0, got {args.upload_timeout}"
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
    if model in MODELS or model == AUTO_MODEL or (path.is_file() and path.suffix.lower() == ".onnx"):
        return None
    if path.is_dir():
        if not any((path / name).is_file() for name in ("checkpoint.json", "latest")):
            return f"--model {model}: not a checkpoint or run directory (no checkpoint.json)"
        if importlib.util.find_spec("torch") is None:
            return f"--model {model}: a checkpoint needs PyTorch (pip install 'irodori[train]'); or export it to ONNX"
        return None
    return (f"unknown model {model!r}: not {AUTO_MODEL}, a shipped model ({', '.join(MODELS)}; see "
            "`irodori models`), an .onnx file or a checkpoint directory")


def _hanging_up_server() -> type:
    """uvicorn's Server, which shuts down gracefully on SIGINT and SIGTERM, doing so on SIGHUP
    (a closed terminal) too: the CLI's own handler raised in the event loop there, and every
    request being coloured or queued got a plain-text 500 (helper 81). Then, as for the others,
    the signal is raised again once the server has stopped (the CLI says "stopped", exits 129)."""
    import signal

    import uvicorn

    class HangingUp(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():  # (raises the signals it caught on leaving, after ours is put back)
                hup = getattr(signal, "SIGHUP", None)
                if (hup is None or threading.current_thread() is not threading.main_thread()
                        or signal.getsignal(hup) == signal.SIG_IGN):  # nohup: left alone
                    yield
                    return
                before = signal.signal(hup, self.handle_exit)
                try:
                    yield
                finally:
                    signal.signal(hup, before)

    return HangingUp


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
                     host=args.host, allowed_hosts=args.allow_host or (), upload_timeout=args.upload_timeout)
    names = list(offered_models(args.model or [AUTO_MODEL]))
    if not is_loopback(args.host):
        print(f"irodori serve: WARNING: listening on {args.host}, reachable from other machines. This server has "
              "no authentication; put it behind a reverse proxy with auth and TLS before exposing it.", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    try:  # bound here, before "serving" is said (helper 58: it was said, then "address already in use")
        listening = socket.create_server((args.host, args.port), family=socket.AF_INET6 if ":" in args.host
                                         else socket.AF_INET)
    except OSError as exc:
        print(f"irodori serve: cannot listen at http://{host}:{args.port}/ ({exc.strerror or exc}); another server "
              "there? choose another --port", file=sys.stderr)
        return 1
    print(f"irodori: serving {', '.join(names)} (the first is the default; each loads on first use) "
          f"at http://{host}:{args.port}/  (Ctrl+C to stop)", flush=True)
    server = _hanging_up_server()(uvicorn.Config(app, host=args.host, port=args.port, log_level="info"))
    try:
        server.run(sockets=[listening])
    except SystemExit:  # uvicorn exits when it cannot start (it has logged why)
        return 1
    finally:
        listening.close()
    return 0 if server.started else 1
