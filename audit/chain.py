"""The hash chain as pure functions, usable without Django (offline verification)."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


def entry_hash(prev_hash: bytes | None, material: bytes) -> bytes:
    """``SHA-256(prev_hash || material)``; the genesis entry has no ``prev_hash``."""
    return hashlib.sha256((prev_hash or b"") + material).digest()


@dataclass(frozen=True)
class ChainBreak:
    idx: int
    reason: str  # "gap" | "prev_hash_mismatch" | "hash_mismatch"


def chain_breaks(
    entries: Iterable[tuple[int, bytes | None, bytes, bytes]],
) -> list[ChainBreak]:
    """Check ``(idx, prev_hash, hash, material)`` rows in idx order; return every break found."""
    breaks: list[ChainBreak] = []
    expected_idx = 0
    previous: bytes | None = None
    for idx, prev_hash, digest, material in entries:
        prev_hash = None if prev_hash is None else bytes(prev_hash)
        digest, material = bytes(digest), bytes(material)
        if idx != expected_idx:
            breaks.append(ChainBreak(idx, "gap"))
        if prev_hash != previous:
            breaks.append(ChainBreak(idx, "prev_hash_mismatch"))
        if entry_hash(prev_hash, material) != digest:
            breaks.append(ChainBreak(idx, "hash_mismatch"))
        expected_idx = idx + 1
        previous = digest
    return breaks
