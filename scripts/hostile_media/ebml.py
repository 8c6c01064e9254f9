"""A small Matroska (EBML) editor for files that ffmpeg wrote.

`parse` turns the bytes into a tree of `[id, value]` lists, where value is a list of children for
master elements and raw bytes otherwise; `serialize` writes a tree back with every size recomputed
(as 8-byte sizes). SeekHead, Cues, Void and CRC-32 elements are dropped: their offsets and checksums
would be wrong after an edit, and FFmpeg reads the file without them.
"""

from __future__ import annotations

import struct

SEGMENT, INFO, DURATION = 0x18538067, 0x1549A966, 0x4489
TRACKS, TRACK_ENTRY, VIDEO = 0x1654AE6B, 0xAE, 0xE0
DISPLAY_WIDTH, DISPLAY_HEIGHT, DISPLAY_UNIT = 0x54B0, 0x54BA, 0x54B2
CLUSTER, SIMPLE_BLOCK, BLOCK_GROUP, BLOCK, BLOCK_DURATION = 0x1F43B675, 0xA3, 0xA0, 0xA1, 0x9B

# Elements whose value is a list of elements (the ones ffmpeg writes).
MASTERS = {0x1A45DFA3, SEGMENT, INFO, TRACKS, TRACK_ENTRY, VIDEO, 0xE1, CLUSTER, BLOCK_GROUP,
           0x1254C367, 0x7373, 0x63C0, 0x67C8, 0x1941A469, 0x61A7, 0x6D80, 0x6240, 0x5034, 0x5035,
           0x1043A770, 0x45B9, 0xB6, 0x80, 0x75A1, 0xA6, 0x55B0}
DROPPED = {0x114D9B74, 0x1C53BB6B, 0xEC, 0xBF}   # SeekHead, Cues, Void, CRC-32 (stale after an edit)

Tree = list


def _vint(data: bytes, at: int, keep_marker: bool) -> tuple[int | None, int]:
    """An EBML variable-length integer at `at`: (value, offset after it); None for an unknown size."""
    length = 1
    while not data[at] & (0x80 >> (length - 1)):
        length += 1
    value = data[at] if keep_marker else data[at] & (0xFF >> length)
    for byte in data[at + 1:at + length]:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return None, at + length
    return value, at + length


def parse(data: bytes, start: int = 0, end: int | None = None) -> Tree:
    end = len(data) if end is None else end
    tree: Tree = []
    at = start
    while at < end:
        eid, at = _vint(data, at, keep_marker=True)
        size, at = _vint(data, at, keep_marker=False)
        stop = end if size is None else at + size
        if eid not in DROPPED:
            tree.append([eid, parse(data, at, stop) if eid in MASTERS else bytes(data[at:stop])])
        at = stop
    return tree


def serialize(tree: Tree) -> bytes:
    out = bytearray()
    for eid, value in tree:
        body = serialize(value) if isinstance(value, list) else value
        out += eid.to_bytes((eid.bit_length() + 7) // 8, "big") + b"\x01" + len(body).to_bytes(7, "big") + body
    return bytes(out)


def find(tree: Tree, *path: int) -> list:
    """Every element reached by following the ids in `path` from the top of `tree`."""
    found = [e for e in tree if e[0] == path[0]]
    return found if len(path) == 1 else [d for e in found for d in find(e[1], *path[1:])]


def set_child(master: list, eid: int, value: bytes) -> None:
    for child in master[1]:
        if child[0] == eid:
            child[1] = value
            return
    master[1].append([eid, value])


def remove_child(master: list, eid: int) -> None:
    master[1] = [child for child in master[1] if child[0] != eid]


def uint(value: int) -> bytes:
    return value.to_bytes(8, "big")


def double(value: float) -> bytes:
    return struct.pack(">d", value)


def set_duration(tree: Tree, milliseconds: float | None) -> None:
    """Segment Info's Duration (in the default 1 ms timecode scale); None removes it."""
    for info in find(tree, SEGMENT, INFO):
        if milliseconds is None:
            remove_child(info, DURATION)
        else:
            set_child(info, DURATION, double(milliseconds))
