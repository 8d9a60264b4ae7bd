"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) for audit material.

Audit payloads are restricted to values that canonicalise unambiguously: strings, integers
within ±(2**53 − 1), booleans, null, lists and objects with string keys. Floats are refused
(their RFC 8785 form depends on ECMAScript number formatting, and amounts belong in integer
minor units anyway); datetimes are written as RFC 3339 UTC strings. Within that domain the
output is byte-for-byte what RFC 8785 prescribes, which ``tests/audit/test_canonical.py``
proves against the ``rfc8785`` reference package.
"""

import datetime as dt
import json

from audit.exceptions import AuditPayloadError

MAX_SAFE_INTEGER = 2**53 - 1
_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def rfc3339(moment: dt.datetime) -> str:
    """``2026-11-23T13:01:02.123456Z``: UTC, microseconds, ``Z`` suffix."""
    if moment.tzinfo is None:
        raise AuditPayloadError("datetimes in audit entries must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utf16_key(key: str) -> bytes:
    # RFC 8785 §3.2.3: object members are sorted by their names' UTF-16 code units.
    return key.encode("utf-16-be", "surrogatepass")


def _encode(value, path: str, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise AuditPayloadError(f"{path}: integer outside ±(2^53 − 1)")
        out.append(str(int(value)))
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise AuditPayloadError(f"{path}: string contains a lone surrogate") from None
        out.append(_encode_string(value))
    elif isinstance(value, dt.datetime):
        out.append(_encode_string(rfc3339(value)))
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, f"{path}[{position}]", out)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise AuditPayloadError(f"{path}: object keys must be strings")
        out.append("{")
        for position, key in enumerate(sorted(value, key=_utf16_key)):
            if position:
                out.append(",")
            _encode(key, path, out)
            out.append(":")
            _encode(value[key], f"{path}.{key}", out)
        out.append("}")
    elif isinstance(value, float):
        raise AuditPayloadError(f"{path}: floats are not allowed; use integers (minor units)")
    else:
        raise AuditPayloadError(f"{path}: {type(value).__name__} cannot be written to the log")


def canonical_json(value) -> bytes:
    """The RFC 8785 bytes of ``value``; raises ``AuditPayloadError`` outside the domain."""
    out: list[str] = []
    _encode(value, "$", out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:  # a key with a lone surrogate
        raise AuditPayloadError("$: string contains a lone surrogate") from None
