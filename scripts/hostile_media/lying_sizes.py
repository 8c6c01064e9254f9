"""Real media whose pictures, sample rates or stream counts are bigger than their headers or their
byte counts suggest: each would make the old Reel allocate gigabytes or trap on a size."""

from __future__ import annotations

import struct
from pathlib import Path

from . import ebml
from .jpeg import gray_jpeg
from .tools import ffmpeg, ffmpeg_bytes


def sar_huge(scratch: Path) -> bytes:
    """320x240 H.264 whose DisplayWidth is 2^40 (DisplayHeight 1): a display 1.4e12 pixels wide."""
    tree = ebml.parse(ffmpeg_bytes(scratch, "sar.mkv", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=10:d=2",
                                   "-c:v", "libx264", "-preset", "ultrafast"))
    for video in ebml.find(tree, ebml.SEGMENT, ebml.TRACKS, ebml.TRACK_ENTRY, ebml.VIDEO):
        ebml.set_child(video, ebml.DISPLAY_WIDTH, ebml.uint(1 << 40))
        ebml.set_child(video, ebml.DISPLAY_HEIGHT, ebml.uint(1))
        ebml.set_child(video, ebml.DISPLAY_UNIT, ebml.uint(0))
    return ebml.serialize(tree)


def huge_frames(scratch: Path, side: int = 16000) -> bytes:
    """Motion JPEG whose track and first two frames are 320x240; the third is a side x side JPEG
    (256 Mpx, ~384 MB decoded). One such frame is enough and keeps the file small (~1.6 MB)."""
    big = gray_jpeg(side, side)
    tree = ebml.parse(ffmpeg_bytes(scratch, "small.mkv", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=5:d=2",
                                   "-c:v", "mjpeg"))
    blocks = [e for cluster in ebml.find(tree, ebml.SEGMENT, ebml.CLUSTER) for e in cluster[1]
              if e[0] == ebml.SIMPLE_BLOCK]
    # A SimpleBlock: track number (1 byte for track 1), 16-bit timecode, flags, then the frame.
    blocks[2][1] = blocks[2][1][:4] + big
    return ebml.serialize(tree)


def many_streams(scratch: Path, count: int, size: str) -> bytes:
    """`count` video tracks, each the same single size-sized H.264 picture (a few KB at qp 51).
    Finding stream info would open a decoder per track and keep each one's decoded picture."""
    one = scratch / f"one-{size}.mkv"
    if not one.exists():
        ffmpeg("-f", "lavfi", "-i", f"color=c=gray:s={size}:r=1:d=1", "-frames:v", "1", "-c:v", "libx264",
               "-preset", "veryslow", "-qp", "51", "-pix_fmt", "yuv420p", str(one))
    maps = [arg for _ in range(count) for arg in ("-map", "0:v")]
    return ffmpeg_bytes(scratch, "many.mkv", "-i", str(one), *maps, "-c", "copy")


def wav_1hz(samples: int = 40000) -> bytes:
    """8-bit mono PCM at 1 Hz (40000 samples = 11 h) with an unknown data size and a huge byte rate,
    so FFmpeg estimates a tiny duration from the bit rate; resampled to 48 kHz each 4 KB packet
    becomes 196 M samples."""
    fmt = struct.pack("<HHIIHH", 1, 1, 1, 0x7FFFFFFF, 1, 8)   # PCM, mono, 1 Hz, byte rate, align, bits
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF)
    body += bytes([128]) * samples
    return b"RIFF" + struct.pack("<I", len(body)) + body
