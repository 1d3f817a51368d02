#!/usr/bin/env python3
"""Draws the Teams app icons with the standard library only (no image packages):
color.png (192x192, full colour) and outline.png (32x32, white on transparent), as the Teams
app package requires. Run it again after changing the drawing; the PNGs are committed."""

import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def png(path, size, pixel):
    """Writes an 8-bit RGBA PNG whose pixel (x, y) is pixel(x, y) -> (r, g, b, a)."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            rows.extend(pixel(x, y))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")
    path.write_bytes(data)


def lift_gate(u, v):
    """The mark in unit coordinates (0..1): an upward arrow over a gate bar."""
    arrow_head = 0.18 <= v <= 0.48 and abs(u - 0.5) <= (v - 0.18) * 0.95
    arrow_shaft = 0.47 <= v <= 0.70 and abs(u - 0.5) <= 0.09
    gate_bar = 0.76 <= v <= 0.84 and 0.18 <= u <= 0.82
    return arrow_head or arrow_shaft or gate_bar


def color(x, y):
    size = 192
    u, v = (x + 0.5) / size, (y + 0.5) / size
    if lift_gate(u, v):
        return (255, 255, 255, 255)
    return (0x23, 0x2F, 0x3E, 255)  # dark slate background, full colour and opaque


def outline(x, y):
    size = 32
    u, v = (x + 0.5) / size, (y + 0.5) / size
    if lift_gate(u, v):
        return (255, 255, 255, 255)
    return (0, 0, 0, 0)  # transparent


if __name__ == "__main__":
    png(HERE / "color.png", 192, color)
    png(HERE / "outline.png", 32, outline)
    print("wrote color.png and outline.png")
