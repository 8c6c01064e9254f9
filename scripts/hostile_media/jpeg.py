"""A uniform mid-gray baseline JPEG of any size, written directly (no picture in memory).

With one-symbol Huffman tables every 8x8 block is two bits, both 0 (DC difference 0, then end of
block), so the scan is just zero bytes: 12 bits per 16x16 macroblock in 4:2:0, 1.5 MB for 16000x16000.
"""

from __future__ import annotations

import struct


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def gray_jpeg(width: int, height: int) -> bytes:
    assert width % 16 == 0 and height % 16 == 0, "whole 4:2:0 macroblocks keep the scan exact"
    quant = _segment(0xDB, b"\x00" + bytes([1]) * 64)
    frame = _segment(0xC0, struct.pack(">BHHB", 8, height, width, 3)
                     + bytes([1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0]))   # Y 2x2, Cb and Cr 1x1, quant table 0
    one_code = bytes([1] + [0] * 15)                                # one code, of length 1 ("0")
    dc = _segment(0xC4, b"\x00" + one_code + b"\x00")               # DC table 0: difference category 0
    ac = _segment(0xC4, b"\x10" + one_code + b"\x00")               # AC table 0: end of block
    scan = _segment(0xDA, bytes([3, 1, 0, 2, 0, 3, 0, 0, 63, 0]))
    bits = (width // 16) * (height // 16) * 6 * 2
    return b"\xFF\xD8" + quant + frame + dc + ac + scan + bytes((bits + 7) // 8) + b"\xFF\xD9"
