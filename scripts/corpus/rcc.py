"""A reader for Qt binary resource files (.rcc): GCompris ships its images inside them.

Standard library only; the format is documented in ``read_rcc``'s docstring, and
tests/test_corpus.py builds .rcc files the way Qt's rcc lays them out to check it.
"""
from __future__ import annotations

import struct
import zlib


def read_rcc(data: bytes) -> dict[str, bytes]:
    """Files of a Qt binary resource file (.rcc) as {path: bytes}, zlib entries decompressed.

    Layout (Qt's rcc.cpp, RCCResourceLibrary::writeHeader/writeDataStructure), all big-endian: the
    magic ``qres``, uint32 version, tree offset, data offset, names offset (and from version 3 a
    uint32 of format flags). The tree is an array of nodes, 14 bytes each (22 from version 2, which
    appends a uint64 modification time): uint32 name offset, uint16 flags (1 = zlib, 2 = directory,
    4 = zstd), then for a directory uint32 child count + uint32 index of its first child, for a
    file uint16 territory + uint16 language + uint32 data offset. Node 0 is the root. A name is
    uint16 length, uint32 hash, then UTF-16BE code units; data is uint32 size then the bytes, and a
    zlib entry's bytes are qCompress output (uint32 uncompressed size, then the zlib stream).
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource file (no 'qres' magic)")
    version, tree, payload, names = struct.unpack(">4I", data[4:20])
    node_size = 22 if version >= 2 else 14

    def name_at(offset: int) -> str:
        (n,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * n].decode("utf-16-be")

    files, stack = {}, [(0, "")]
    while stack:
        index, prefix = stack.pop()
        p = tree + index * node_size
        name_off, flags = struct.unpack(">IH", data[p:p + 6])
        path = f"{prefix}/{name_at(name_off)}" if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", data[p + 6:p + 14])
            stack.extend((first + k, path) for k in range(count))
            continue
        (offset,) = struct.unpack(">I", data[p + 10:p + 14])
        (size,) = struct.unpack(">I", data[payload + offset:payload + offset + 4])
        blob = data[payload + offset + 4:payload + offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed resources are not supported")
        files[path.lstrip("/")] = zlib.decompress(blob[4:]) if flags & 1 else blob
    return files
