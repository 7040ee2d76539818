"""Sample photos for the sandbox, drawn in code: a small PNG of a damaged road, no assets."""

from __future__ import annotations

import random
import struct
import zlib

__all__ = ["sample_photo"]

WIDTH, HEIGHT = 320, 240


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def sample_photo(seed: int = 0) -> bytes:
    """A 320×240 PNG: sky, asphalt with a centre line and a pothole placed by ``seed``."""
    rng = random.Random(seed)
    hole_x, hole_y = rng.randint(90, 230), rng.randint(150, 200)
    hole_w, hole_h = rng.randint(35, 60), rng.randint(14, 24)
    sky = (rng.randint(120, 170), rng.randint(170, 210), 235)
    rows = bytearray()
    for y in range(HEIGHT):
        rows.append(0)  # filter: none
        for x in range(WIDTH):
            if y < 80:
                pixel = sky
            elif y < 88:
                pixel = (60, 140, 70)  # verge
            else:
                shade = 95 + ((x * 7 + y * 13) % 17)
                pixel = (shade, shade, shade + 4)
                if abs(x - 160) < 4 and (y // 14) % 2 == 0:
                    pixel = (235, 200, 60)  # centre line
                dx, dy = (x - hole_x) / hole_w, (y - hole_y) / hole_h
                if dx * dx + dy * dy < 1.0:
                    depth = int(40 * (dx * dx + dy * dy))
                    pixel = (35 + depth, 30 + depth, 28 + depth)
            rows.extend(pixel)
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _chunk(b"IEND", b"")
    )
