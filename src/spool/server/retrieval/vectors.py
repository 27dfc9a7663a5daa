"""Chunk vectors as stored: unit-length float32 (`array("f")`), as SQLite BLOBs
(little-endian float32) and as pgvector's text form (`[x,y,…]`, cast `::vector`)."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Sequence


def normalise(row: Sequence[float]) -> array:
    """A vector as unit-length float32."""
    vector = array("f", row)
    norm = math.sqrt(sum(x * x for x in vector))
    if norm > 0:
        vector = array("f", (x / norm for x in vector))
    return vector


def to_blob(vector: array) -> bytes:
    """float32 little-endian bytes (SQLite's BLOB column)."""
    if sys.byteorder != "little":  # pragma: no cover - every machine spool runs on
        vector = array("f", vector)
        vector.byteswap()
    return vector.tobytes()


def from_blob(blob: bytes) -> array:
    vector = array("f")
    vector.frombytes(blob)
    if sys.byteorder != "little":  # pragma: no cover
        vector.byteswap()
    return vector


def to_pgvector(vector: Sequence[float]) -> str:
    """pgvector's text form, `[x,y,…]` (sent as text and cast `::vector`)."""
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def from_pgvector(text: str) -> array:
    return array("f", (float(x) for x in text.strip("[]").split(",") if x))
