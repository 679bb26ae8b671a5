"""Moving a corpus: ``pack`` writes deterministic tar shards plus ``index.json``; ``unpack``
restores them with the standard library alone, checking every shard's and file's sha256.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from .common import _sha256, rel_to_repo

SHARD_BYTES = 60_000_000           # --pack shard size limit (bytes, tar overhead included)


def pack(root: Path, dest: Path, *, splits: list[str] | None = None,
         shard_bytes: int = SHARD_BYTES) -> dict:
    """Write the files under ``root`` as tar shards of at most ``shard_bytes`` each plus
    ``index.json``, for moving the corpus to a machine without registry access.

    With ``splits`` only those top-level folders (and the top-level files: manifest, hash, skip
    log) are packed. Shards are plain deterministic tars (sorted members, mtime 0, no owners) of
    the files as they are, so unpacking is byte-identical and ``tar -xf`` also works.
    """
    files = sorted(p for p in root.rglob("*") if p.is_file() and (
        splits is None or p.parent == root or p.relative_to(root).parts[0] in splits))
    if not files:
        raise ValueError(f"nothing to pack under {root}")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    budget = shard_bytes - 2 * tarfile.RECORDSIZE       # end-of-archive blocks + record padding
    groups, size = [[]], 0
    for p in files:
        need = 3 * 512 + -(-p.stat().st_size // 512) * 512   # header (+ a pax header) + data
        if need > budget:
            raise ValueError(f"{p} ({p.stat().st_size} bytes) does not fit in a shard")
        if size + need > budget:
            groups.append([])
            size = 0
        groups[-1].append(p)
        size += need
    shards = []
    for i, group in enumerate(groups):
        shard = dest / f"shard-{i:05d}.tar"
        members = []
        with tarfile.open(shard, "w", format=tarfile.PAX_FORMAT) as tf:
            for p in group:
                data = p.read_bytes()
                info = tarfile.TarInfo(p.relative_to(root).as_posix())
                info.size, info.mtime, info.mode = len(data), 0, 0o644   # no owners, no dates
                info.uname = info.gname = ""
                tf.addfile(info, io.BytesIO(data))
                members.append({"path": info.name, "bytes": len(data),
                                "sha256": hashlib.sha256(data).hexdigest()})
        if shard.stat().st_size > shard_bytes:
            raise RuntimeError(f"{shard} is {shard.stat().st_size} bytes, over {shard_bytes}")
        shards.append({"file": shard.name, "bytes": shard.stat().st_size, "sha256": _sha256(shard),
                       "members": members})
    index = {"format": "irodori-pack/1", "packed_from": rel_to_repo(root), "splits": splits,
             "shard_bytes_max": shard_bytes, "files": len(files),
             "bytes": sum(m["bytes"] for s in shards for m in s["members"]), "shards": shards}
    (dest / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def unpack(src: Path, dest: Path) -> int:
    """Restore a ``pack`` folder into ``dest`` (standard library only), checking every shard's
    and every file's sha256 against ``index.json`` and refusing paths that leave ``dest``.
    Returns the number of files written."""
    index = json.loads((src / "index.json").read_text(encoding="utf-8"))
    n = 0
    for shard in index["shards"]:
        path = src / shard["file"]
        if _sha256(path) != shard["sha256"]:
            raise ValueError(f"{path}: sha256 differs from index.json (damaged copy?)")
        expected = {m["path"]: m for m in shard["members"]}
        with tarfile.open(path) as tf:
            for info in tf:
                parts = PurePosixPath(info.name).parts
                if not info.isfile() or info.name.startswith("/") or ".." in parts:
                    raise ValueError(f"{path}: refusing member {info.name!r}")
                data = tf.extractfile(info).read()
                meta = expected.pop(info.name, None)
                if meta is None or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                    raise ValueError(f"{path}: {info.name} is not the file index.json lists")
                out = dest.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
                n += 1
        if expected:
            raise ValueError(f"{path}: missing members {sorted(expected)[:3]}")
    manifest, digest = dest / "manifest.jsonl", dest / "manifest.sha256"
    if manifest.exists() and digest.exists() and \
            _sha256(manifest) != digest.read_text().strip():
        raise ValueError("manifest.jsonl does not match manifest.sha256")
    return n
