"""A small MP4 box editor for files that ffmpeg wrote with the `moov` box after `mdat`, so that
growing a box inside `moov` moves no sample data and no chunk offset needs fixing."""

from __future__ import annotations

import struct
from collections.abc import Iterator

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta"}


def boxes(data: bytes, start: int = 0, end: int | None = None,
          parents: tuple[int, ...] = ()) -> Iterator[tuple[bytes, int, int, tuple[int, ...]]]:
    """Every box, depth first: (type, offset, size, offsets of the containers holding it)."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = end - at
        yield kind, at, size, parents
        if kind in CONTAINERS:
            yield from boxes(data, at + header, at + size, parents + (at,))
        at += size


def find(data: bytes, kind: bytes) -> list[int]:
    """Offsets of every box of type `kind`."""
    return [at for k, at, _, _ in boxes(data) if k == kind]


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24) + payload)


def _splice(data: bytes, kind: bytes, new: bytes, replace: bool) -> bytes:
    """Replaces the first `kind` box with `new` (or inserts `new` after it), growing its containers."""
    assert data.find(b"mdat") < data.find(b"moov"), "moov must come after mdat"
    out = bytearray(data)
    for k, at, size, parents in boxes(data):
        if k != kind:
            continue
        start = at if replace else at + size
        out[start:at + size] = new
        grown = len(new) - (at + size - start)
        for parent in parents:   # all 32-bit sizes in what ffmpeg writes for small files
            struct.pack_into(">I", out, parent, struct.unpack_from(">I", out, parent)[0] + grown)
        return bytes(out)
    raise KeyError(kind)


def replace_box(data: bytes, kind: bytes, new: bytes) -> bytes:
    return _splice(data, kind, new, replace=True)


def insert_after(data: bytes, kind: bytes, new: bytes) -> bytes:
    return _splice(data, kind, new, replace=False)


def set_header_durations(data: bytes, seconds: int) -> bytes:
    """Sets the duration of every version-0 mvhd/tkhd/mdhd to `seconds`, each in its own timescale
    (tkhd counts in the movie's, mvhd's, timescale)."""
    out = bytearray(data)
    movie_scale = struct.unpack_from(">I", out, find(out, b"mvhd")[0] + 20)[0]
    for kind, duration_at in ((b"mvhd", 24), (b"mdhd", 24), (b"tkhd", 28)):
        for at in find(out, kind):
            assert out[at + 8] == 0, f"{kind!r} is version 1"
            scale = movie_scale if kind == b"tkhd" else struct.unpack_from(">I", out, at + 20)[0]
            struct.pack_into(">I", out, at + duration_at, seconds * scale)
    return bytes(out)
