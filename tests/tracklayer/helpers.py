"""Helpers of the tracklayer tests."""

import base64
import os


def ring(*ids: str) -> str:
    """A ``TRACKLAYER_KEYRING`` value: a fresh random 32-byte key under each id, in order."""
    return ",".join(f"{i}:{base64.b64encode(os.urandom(32)).decode()}" for i in ids)
