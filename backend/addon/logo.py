"""The add-on's logo: a white double check mark on a blue disc, drawn here as a PNG."""

from __future__ import annotations

import functools
import math
import struct
import zlib

SIZE = 96
SAMPLES = 3  # per axis, for smooth edges
BLUE = (26, 115, 232)
WHITE = (255, 255, 255)
# The two check marks as line segments in a 0..1 square, and their stroke width.
STROKES = (
    ((0.20, 0.52), (0.36, 0.68)),
    ((0.36, 0.68), (0.64, 0.36)),
    ((0.44, 0.64), (0.48, 0.68)),
    ((0.48, 0.68), (0.80, 0.36)),
)
STROKE = 0.075


def _distance(px: float, py: float, a: tuple, b: tuple) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _pixel(x: int, y: int) -> bytes:
    disc = mark = 0
    for sy in range(SAMPLES):
        for sx in range(SAMPLES):
            px = (x + (sx + 0.5) / SAMPLES) / SIZE
            py = (y + (sy + 0.5) / SAMPLES) / SIZE
            if math.hypot(px - 0.5, py - 0.5) <= 0.48:
                disc += 1
                if any(_distance(px, py, a, b) <= STROKE / 2 for a, b in STROKES):
                    mark += 1
    if not disc:
        return b"\0\0\0\0"
    share = mark / disc
    rgb = bytes(round(w * share + c * (1 - share)) for w, c in zip(WHITE, BLUE, strict=True))
    return rgb + bytes([round(255 * disc / SAMPLES**2)])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def png() -> bytes:
    """The logo as PNG bytes (RGBA, SIZE x SIZE); drawn once per process, on first use."""
    rows = b"".join(b"\0" + b"".join(_pixel(x, y) for x in range(SIZE)) for y in range(SIZE))
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )
