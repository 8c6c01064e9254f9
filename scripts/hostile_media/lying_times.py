"""Real media whose timestamps lie: a short stated duration with pictures or sound stamped hours
later, or no duration at all. Each would make the old Reel trap or write hours of output."""

from __future__ import annotations

import struct
from pathlib import Path

from . import ebml, mp4
from .tools import ffmpeg_bytes

INT64_MAX = (1 << 63) - 1


def slow_declared(scratch: Path, period: int = 50000, shown_at: int = 30000) -> bytes:
    """Two H.264 intra frames, each lasting `period` s (a declared 1/50000 fps), the second shown at
    `shown_at` s by a signed composition offset; the headers say 10 s. An output frame that long is
    more than 2^32 ticks of a 90 kHz timescale."""
    data = ffmpeg_bytes(scratch, "two.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=1:d=2", "-frames:v", "2",
                        "-c:v", "libx264", "-preset", "ultrafast", "-g", "1", "-bf", "0",
                        "-video_track_timescale", "1", "-use_editlist", "0")
    data = mp4.replace_box(data, b"stts", mp4.full_box(b"stts", 0, struct.pack(">IIIII", 2, 1, period, 1, period)))
    data = mp4.insert_after(data, b"stts", mp4.full_box(b"ctts", 1, struct.pack(">IIiIi", 2, 1, 0, 1, shown_at - period)))
    return mp4.set_header_durations(data, 10)


def audio_overflow(scratch: Path) -> bytes:
    """1 s of AAC whose sample durations add up to just under 2^63 ticks, with every sample shown
    2^31-1 ticks late: start time plus duration overflows a 64-bit integer. mvhd/tkhd say 10 s."""
    data = ffmpeg_bytes(scratch, "aud.mp4", "-f", "lavfi", "-i", "sine=d=1:r=48000", "-c:a", "aac",
                        "-use_editlist", "0")
    data = mp4.set_header_durations(data, 10)
    samples = struct.unpack_from(">I", data, mp4.find(data, b"stsz")[0] + 16)[0]
    total = INT64_MAX - 1000
    delta = 4_294_000_000
    count, rest = divmod(total, delta)
    entries = [(count, delta), (1, rest // 2), (1, rest - rest // 2)]
    stts = struct.pack(">I", len(entries)) + b"".join(struct.pack(">II", *e) for e in entries)
    data = mp4.replace_box(data, b"stts", mp4.full_box(b"stts", 0, stts))
    data = mp4.insert_after(data, b"stts", mp4.full_box(b"ctts", 0, struct.pack(">III", 1, samples, (1 << 31) - 1)))
    at = mp4.find(data, b"mdhd")[0]
    timescale, language = struct.unpack_from(">I", data, at + 20)[0], data[at + 28:at + 32]
    # Version 1: 64-bit times, so the track duration can say the same ~2^63.
    mdhd = mp4.full_box(b"mdhd", 1, struct.pack(">QQIQ", 0, 0, timescale, INT64_MAX - 10) + language)
    return mp4.replace_box(data, b"mdhd", mdhd)


def late_audio(scratch: Path, late_seconds: int = 42800) -> bytes:
    """2 s of video at 0 s and 2 s of sound at `late_seconds` (11.9 h); the Duration says 10 s."""
    tree = ebml.parse(ffmpeg_bytes(scratch, "late.mkv", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=2",
                                   "-itsoffset", str(late_seconds), "-f", "lavfi", "-i", "sine=d=2",
                                   "-map", "0", "-map", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"))
    ebml.set_duration(tree, 10_000.0)
    return ebml.serialize(tree)


def long_last_frame(scratch: Path, milliseconds: int = 10**12) -> bytes:
    """2 s of 30 fps H.264 whose last frame, as a BlockGroup, has a BlockDuration of 10^12 ms
    (31 years). A good file with one absurd field: the answer is 2 s of video, not a refusal."""
    tree = ebml.parse(ffmpeg_bytes(scratch, "long.mkv", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=2",
                                   "-c:v", "libx264", "-preset", "ultrafast"))
    last = ebml.find(tree, ebml.SEGMENT, ebml.CLUSTER)[-1][1]
    at = max(i for i, e in enumerate(last) if e[0] == ebml.SIMPLE_BLOCK)
    last[at] = [ebml.BLOCK_GROUP, [[ebml.BLOCK, last[at][1]], [ebml.BLOCK_DURATION, ebml.uint(milliseconds)]]]
    return ebml.serialize(tree)


def without_duration(matroska: bytes) -> bytes:
    """The same Matroska file with its Segment Duration removed: the duration is unknown."""
    tree = ebml.parse(matroska)
    ebml.set_duration(tree, None)
    return ebml.serialize(tree)
