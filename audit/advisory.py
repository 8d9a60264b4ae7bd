"""Carrying the advisory lock key through one operation.

Edges that accept the key (the ``X-Advisory-Key`` header, the unlock form and command) run
their work inside ``advisory_key(key)``; ``audit_record`` reads it from here. Nothing else
can supply it, so while a log is locked every other audited change fails closed.
"""

import hashlib
import hmac
from contextlib import contextmanager
from contextvars import ContextVar

_presented: ContextVar[str | None] = ContextVar("tracklayer_advisory_key", default=None)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@contextmanager
def advisory_key(key: str | None):
    token = _presented.set(key or None)
    try:
        yield
    finally:
        _presented.reset(token)


def presented_key_matches(expected_hash: str) -> bool:
    key = _presented.get()
    return key is not None and hmac.compare_digest(key_hash(key), expected_hash)
