"""The pipeline: build each selected source in ``SOURCES`` order into the output folder and write
``manifest.jsonl``, ``manifest.sha256`` and ``skipped.tsv``.

``build_source`` runs one source (fetch, process in hash order, drop duplicates and
near-duplicates, write the JPEGs); ``build`` strings the sources together, carrying the images
kept earlier (in this run or a previous one) into the near-duplicate check of later sources.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from .common import SPLITS, _sha256, name_hash, safe_name, split_of
from .images import HashIndex, dhash, file_fingerprint, fingerprint, process
from .sources import SOURCES


def build_source(name: str, cache: Path, out: Path, cap: int, *,
                 earlier: HashIndex | None = None) -> tuple[list[dict], list[tuple]]:
    """Fetch one source, process its candidates in hash order and write the kept JPEGs.

    Returns the manifest records and (source, relative path, reason) for each skipped image.
    Stale JPEGs of this source (from an earlier build) are removed, so the folder holds exactly
    what the manifest lists. Of exact duplicates (same dHash), the first in hash order is kept.
    Sources added after v0.1 also drop near-duplicates (``HashIndex``) of images kept earlier in
    the same source or by a source listed before it (``earlier``).
    """
    spec = SOURCES[name]
    strict = not spec.v01
    if spec.cap is not None and spec.cap < cap:
        cap, over = spec.cap, "over the source cap"
    else:
        over = "over --max-per-source"
    cands = sorted(spec.fetch(cache), key=lambda c: (name_hash(f"{name}/{c.rel}"), c.rel))
    records, skipped, hashes, written, near = [], [], {}, set(), HashIndex()
    for i, c in enumerate(cands, 1):
        rel_out = f"{split_of(name, c.rel)}/{name}/{safe_name(c.rel)}.jpg"
        img, why = (None, over) if len(records) >= cap else process(c, strict=strict)
        if img is not None:
            dh = dhash(img)
            why = f"duplicate of {hashes[dh]}" if dh in hashes else (
                "name collision" if rel_out in written else "")
            hashes.setdefault(dh, c.rel)
            if strict and not why:
                fp = fingerprint(img)
                match = near.find(fp) or (earlier.find(fp) if earlier else None)
                if match:
                    why = f"near-duplicate of {match}"
                else:
                    near.add(fp, c.rel)
        if why:
            skipped.append((name, c.rel, why))
        else:
            dest = out / rel_out
            dest.parent.mkdir(parents=True, exist_ok=True)
            img.save(dest, "JPEG", quality=95, subsampling=0)
            written.add(rel_out)
            records.append({"path": rel_out, "split": split_of(name, c.rel), "source": name,
                            "package": c.package, "package_version": c.version,
                            "original_path": c.original_path, "license": c.license,
                            "kind": c.kind, "width": img.width, "height": img.height,
                            "sha256": hashlib.sha256(dest.read_bytes()).hexdigest(),
                            "attribution": c.attribution})
        if i % 50 == 0 or i == len(cands):
            print(f"\r[{name}] {i}/{len(cands)} seen, {len(records)} kept", end="", file=sys.stderr)
    print(file=sys.stderr)
    for split in SPLITS:
        for f in (out / split / name).glob("*.jpg"):
            if f"{split}/{name}/{f.name}" not in written:
                f.unlink()
    return records, skipped


def load_previous(out: Path, rebuilt: list[str]) -> tuple[list[dict], list[tuple]]:
    """Manifest records (whose files still exist) and skip-log lines of sources NOT rebuilt now."""
    records, skips = [], []
    if (out / "manifest.jsonl").exists():
        for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["source"] not in rebuilt and (out / r["path"]).exists():
                records.append(r)
    if (out / "skipped.tsv").exists():
        for line in (out / "skipped.tsv").read_text(encoding="utf-8").splitlines():
            if line.split("\t")[0] not in rebuilt:
                skips.append(tuple(line.split("\t")))
    return records, skips


def build(args) -> tuple[list[dict], list[tuple]]:
    """Build the selected sources in ``SOURCES`` order into args.out; return (records, skips).

    Images of sources kept in args.out from an earlier run count as "listed earlier" for the
    near-duplicate check of the later sources built now; a source rebuilt now does not re-check
    the later sources loaded from before (build them together, or use --clean, for that).
    """
    if args.clean and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    records, skips = load_previous(args.out, args.sources)
    earlier = HashIndex()
    order = [s for s in SOURCES if s in args.sources or any(r["source"] == s for r in records)]
    for i, name in enumerate(order):
        if name in args.sources:
            recs, skp = build_source(name, args.cache, args.out, args.max_per_source,
                                     earlier=earlier)
            records, skips = records + recs, skips + skp
        else:
            recs = [r for r in records if r["source"] == name]
        if any(not SOURCES[s].v01 for s in order[i + 1:] if s in args.sources):
            for r in recs:            # only needed when a later source will be checked
                earlier.add(file_fingerprint(args.out / r["path"]), r["path"])
    records.sort(key=lambda r: r["path"])
    manifest = args.out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                        encoding="utf-8")
    (args.out / "manifest.sha256").write_text(_sha256(manifest) + "\n")
    (args.out / "skipped.tsv").write_text("".join("\t".join(t) + "\n" for t in sorted(skips)),
                                          encoding="utf-8")
    return records, skips
