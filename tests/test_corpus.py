"""Fast checks of scripts/build_corpus.py and its package scripts/corpus/ that need no network
and no packages: the fixed split, which copy the near-duplicate filter keeps, the Qt .rcc reader,
the GCompris README parser, normal-map detection and the pack/unpack round trip."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import struct
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
MODULES = ("build_corpus", "corpus.common", "corpus.sources", "corpus.images", "corpus.rcc",
           "corpus.licences", "corpus.build", "corpus.pack")


@pytest.fixture(scope="module")
def bc():
    """The command line scripts/build_corpus.py and the modules of its package scripts/corpus/,
    by short name (``bc.images``, ``bc.build_corpus``). They are scripts, not part of the installed
    package, so scripts/ goes on sys.path for this test module only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(SCRIPTS))
        try:
            yield SimpleNamespace(**{name.rsplit(".", 1)[-1]: importlib.import_module(name)
                                     for name in MODULES})
        finally:
            for name in [n for n in sys.modules
                         if n in ("build_corpus", "corpus") or n.startswith("corpus.")]:
                del sys.modules[name]


def photo_like(seed: int, size: int = 224) -> Image.Image:
    """A colourful, textured RGB image (smooth blobs + noise) that passes the corpus filters."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(6):
        cy, cx, r = rng.uniform(0, 1, 3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.02 + 0.05 * r))
        img += blob[..., None] * rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


# ----------------------------------------------------------------------------- split

def test_split_is_fixed_by_source_and_path(bc):
    split_of = bc.common.split_of
    # Files of the v0.1 corpus (data/corpus/manifest.jsonl): their split must never change.
    assert split_of("endless-sky", "images/land/badlands8.jpg") == "test"
    assert split_of("endless-sky", "images/land/badlands1.jpg") == "val"
    assert split_of("endless-sky", "images/land/badlands0.jpg") == "train"
    assert split_of("openclipart", "animals/birds/cigno_di_notte_nella_pa_01.png") == "test"
    assert split_of("openclipart", "animals/birds/baby_tux_01.png") == "val"
    assert split_of("openclipart", "animals/2_dead_frogs_lumen_desig_01.png") == "train"
    # The rule itself: the first 32 bits of sha256("source/rel") mod 100.
    h = int(hashlib.sha256(b"some-source/a/b.png").hexdigest()[:8], 16) % 100
    expected = "test" if h < 6 else "val" if h < 12 else "train"
    assert split_of("some-source", "a/b.png") == expected


def test_default_sources_are_v01_and_full_adds_the_rest(bc):
    v01, parse_sources = bc.sources.V01_SOURCES, bc.sources.parse_sources
    assert v01 == ["endless-sky", "wesnoth", "openclipart", "skimage"]
    assert parse_sources("v0.1") == v01
    full = parse_sources("full")
    assert full[:4] == v01 and len(full) > 4  # v0.1 first: they win near-duplicates
    assert parse_sources("naev,flare") == ["naev", "flare"]


# ----------------------------------------------------------------------------- near-duplicates

def fake_source(bc, name: str, images: dict[str, Image.Image]):
    """A source whose candidates are in-memory images (CC0 photos)."""
    def fetch(cache):
        return [bc.common.Candidate(name, rel, None, rel, "test-pkg", "1", "CC0-1.0", "photo",
                                    load=(lambda im=im: im.copy())) for rel, im in images.items()]
    return fetch


def test_near_duplicate_across_sources_keeps_the_earlier_source(bc, tmp_path, monkeypatch):
    original = photo_like(1)
    # The later source ships the same picture resized, slightly recoloured and re-encoded.
    copy = original.resize((180, 180), Image.BICUBIC)
    arr = np.asarray(copy, dtype=np.int16) + np.array([12, -8, 5])
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=80)
    copy = Image.open(io.BytesIO(buf.getvalue()))
    sources = {
        "first": bc.sources.SourceSpec(fake_source(bc, "first", {"a.png": original})),
        "second": bc.sources.SourceSpec(fake_source(bc, "second", {"copy.png": copy,
                                                                   "other.png": photo_like(2)})),
    }
    # SOURCES is looked up by the pipeline (corpus.build) and by the command line's name check.
    monkeypatch.setattr(bc.build, "SOURCES", sources)
    monkeypatch.setattr(bc.build_corpus, "SOURCES", sources)
    out = tmp_path / "corpus"
    # Listed in the other order on the command line: the order of SOURCES decides.
    argv = ["--sources", "second,first", "--out", str(out), "--cache", str(tmp_path)]
    assert bc.build_corpus.main(argv) == 0
    kept = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["source"] + "/" + r["original_path"] for r in kept) == [
        "first/a.png", "second/other.png"]
    first_path = next(r["path"] for r in kept if r["source"] == "first")
    skipped = (out / "skipped.tsv").read_text().splitlines()
    assert skipped == [f"second\tcopy.png\tnear-duplicate of {first_path}"]


def test_near_duplicate_index_separates_copies_from_other_pictures(bc):
    index, fingerprint = bc.images.HashIndex(), bc.images.fingerprint
    a = photo_like(3)
    index.add(fingerprint(a), "a")
    buf = io.BytesIO()
    a.resize((200, 200)).save(buf, "JPEG", quality=70)
    assert index.find(fingerprint(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))) == "a"
    assert index.find(fingerprint(photo_like(4))) is None


# ----------------------------------------------------------------------------- .rcc reader

def make_rcc(files: dict[str, tuple[bytes, bool]], version: int = 3) -> bytes:
    """A Qt binary resource file holding ``{"dir/name": (bytes, zlib-compress?)}``, laid out as
    Qt's rcc writes it (breadth-first tree, children of a folder contiguous)."""
    tree: dict = {}
    for path, value in files.items():
        node = tree
        *folders, leaf = path.split("/")
        for part in folders:
            node = node.setdefault(part, {})
        node[leaf] = value
    names, payload, name_offsets = bytearray(), bytearray(), {}

    def name(text: str) -> int:
        if text not in name_offsets:
            name_offsets[text] = len(names)
            names.extend(struct.pack(">HI", len(text), zlib.crc32(text.encode()))  # hash: unread
                         + text.encode("utf-16-be"))
        return name_offsets[text]

    mtime = bytes(8) if version >= 2 else b""
    nodes: dict[int, bytes] = {}
    queue, count = [(0, "", tree)], 1
    while queue:
        index, label, item = queue.pop(0)
        if isinstance(item, dict):
            children = sorted(item.items())
            nodes[index] = struct.pack(">IHII", name(label) if index else 0, 2, len(children),
                                       count) + mtime
            queue += [(count + k, n, v) for k, (n, v) in enumerate(children)]
            count += len(children)
        else:
            blob, compress = item
            body = struct.pack(">I", len(blob)) + zlib.compress(blob) if compress else blob
            nodes[index] = struct.pack(">IHHHI", name(label), int(compress), 0, 0,
                                       len(payload)) + mtime
            payload.extend(struct.pack(">I", len(body)) + body)
    tree_bytes = b"".join(nodes[i] for i in range(count))
    header = 24 if version >= 3 else 20
    offsets = (header, header + len(tree_bytes), header + len(tree_bytes) + len(payload))
    head = b"qres" + struct.pack(">4I", version, *offsets)
    head += struct.pack(">I", 0) if version >= 3 else b""   # format flags (version 3)
    return head + tree_bytes + bytes(payload) + bytes(names)


@pytest.mark.parametrize("version", [1, 3])
def test_rcc_reader_returns_plain_and_zlib_entries(bc, version):
    files = {"gcompris/src/a/README": (b"Copyright: x\nLicense: CC0-1.0\nFiles: b.webp\n", True),
             "gcompris/src/a/b.webp": (b"RIFF-not-really-webp" * 20, False),
             "gcompris/top.txt": ("ünïcode".encode(), True)}
    got = bc.rcc.read_rcc(make_rcc(files, version))
    assert got == {path: blob for path, (blob, _) in files.items()}


def test_rcc_reader_rejects_other_files(bc):
    with pytest.raises(ValueError):
        bc.rcc.read_rcc(b"PK\x03\x04" + bytes(40))


def test_gcompris_readme_licences_per_file(bc):
    text = ("Copyright: Timothee Giet, 2018\nLicense: CC-BY-SA 4.0\nFiles:\nkey.svg\n\n"
            "Copyright: Daniel Schwen\nLicense: Public Domain\n"
            "Source: https://commons.wikimedia.org/wiki/File:X.jpg\nFiles:\nwonders/x.webp\n\n"
            "Copyright: aussiegall\nLicense: CC-BY-2.0\nComments: cropping\nFiles: bee.webp\n")
    got = bc.licences.parse_gcompris_readme(text)
    assert got["key.svg"]["license"] == "CC-BY-SA-4.0"
    assert got["wonders/x.webp"]["license"] == "public-domain"
    assert got["wonders/x.webp"]["source"].endswith("X.jpg")
    assert got["bee.webp"]["license"] == "CC-BY-2.0"


# ----------------------------------------------------------------------------- filters

def test_normal_maps_are_detected_and_skies_are_not(bc):
    yy, xx = np.mgrid[0:128, 0:128] / 128 * 2 * np.pi
    height = np.sin(3 * xx) + np.cos(2 * yy)             # a bumpy surface
    n = np.stack([-np.gradient(height, axis=1) * 4, -np.gradient(height, axis=0) * 4,
                  np.ones_like(height)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    bumpy = Image.fromarray(np.rint(127.5 * (n + 1)).astype(np.uint8), "RGB").convert("RGBA")
    flat = Image.new("RGBA", (64, 64), (128, 128, 255, 255))
    assert bc.images.is_normal_map(bumpy) and bc.images.is_normal_map(flat)
    t = np.linspace(0, 1, 128)[:, None, None]
    sky = np.broadcast_to(t * [70, 50, 25] + [90, 150, 230], (128, 128, 3))
    assert not bc.images.is_normal_map(Image.fromarray(sky.astype(np.uint8), "RGB").convert("RGBA"))
    assert not bc.images.is_normal_map(photo_like(5).convert("RGBA"))
    lavender = Image.new("RGBA", (64, 64), (200, 180, 250, 255))
    assert not bc.images.is_normal_map(lavender)


# ----------------------------------------------------------------------------- pack / unpack

def test_pack_unpack_round_trip_is_byte_identical(bc, tmp_path):
    corpus = tmp_path / "corpus"
    rng = np.random.default_rng(0)
    for i in range(9):
        split = ("train", "val", "test")[i % 3]
        f = corpus / split / "src" / f"img{i}.jpg"
        f.parent.mkdir(parents=True, exist_ok=True)
        noise = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
        Image.fromarray(noise).save(f, "JPEG", quality=90)
    (corpus / "manifest.jsonl").write_text('{"path": "train/src/img0.jpg"}\n')
    (corpus / "manifest.sha256").write_text(
        hashlib.sha256((corpus / "manifest.jsonl").read_bytes()).hexdigest() + "\n")
    packed = tmp_path / "packed"
    index = bc.pack.pack(corpus, packed, shard_bytes=50_000)
    assert len(index["shards"]) > 1
    assert all((packed / s["file"]).stat().st_size <= 50_000 for s in index["shards"])
    restored = tmp_path / "restored"
    assert bc.pack.unpack(packed, restored) == index["files"] == 11
    before = {p.relative_to(corpus): p.read_bytes() for p in corpus.rglob("*") if p.is_file()}
    after = {p.relative_to(restored): p.read_bytes() for p in restored.rglob("*") if p.is_file()}
    assert before == after

    only = bc.pack.pack(corpus, tmp_path / "train-only", splits=["train"])
    paths = [m["path"] for s in only["shards"] for m in s["members"]]
    assert all(p.startswith("train/") or "/" not in p for p in paths) and "manifest.jsonl" in paths

    shard = packed / index["shards"][0]["file"]
    data = bytearray(shard.read_bytes())
    data[600] ^= 0xFF                                     # a damaged copy is refused
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        bc.pack.unpack(packed, tmp_path / "again")
