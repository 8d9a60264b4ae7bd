"""A data subject → the hashes TrackLayer's stores hold for them, the keyed hashes a request
and the suppression list keep, and the SQL that finds their rows in a region.

Pure except for ``subject_key`` (which reads and creates the workspace's sealed key).

- ``user_id``: ingestion stores ``pii.hashed("external_id", userId)`` (Meta's spec) in
  ``user_id_hash`` and under ``identifiers[spec]["external_id"]``; an alias's
  ``previous_id_hash`` is the same hash of the previous id.
- ``anonymous_id``: stored as sent (trimmed); matched through its SHA-256, computed by
  PostgreSQL, so the working data never holds it in clear.
- ``email`` / ``phone``: stored only as ``identifiers[spec]["em" | "ph"]``, one hash per
  platform spec (Google drops Gmail dots, so an e-mail may have two); every spec's hash is
  matched. A phone number without a country code is read with the workspace's default
  region (ingestion settings), as ingestion reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from privacy import pii
from tracklayer import keyring

KINDS = ("user_id", "anonymous_id", "email", "phone")
ID_MAX = 100  # ingestion's limit on userId and anonymousId
# Match kinds held in the region while a request runs (privacy_requestsubject.kind): a subject's
# four kinds, and "previous": the external_id hash of its user and anonymous ids, which an
# alias call stores as ``previous_id_hash``.
PREVIOUS = "previous"


class SubjectError(ValueError):
    """A subject that cannot be matched; ``field`` names it (``subjects[3].email``)."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SubjectHashes:
    """One subject: ``store`` — match kind → the SHA-256 hashes the region's rows hold;
    ``canonical`` — kind → the one hash a suppression is keyed on."""

    store: dict[str, tuple[str, ...]]
    canonical: dict[str, str]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: object, field: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SubjectError(field, "invalid_type", "Give a string.")
    text = str(value).strip()
    if "\x00" in text or not _encodable(text):
        raise SubjectError(field, "invalid", "Must be text without NUL or lone surrogates.")
    return text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def field_name(parent: str, key: object) -> str:
    """``parent.key`` for an unknown key that can be shown safely, else ``parent``."""
    if isinstance(key, str) and len(key) <= 40 and key.isprintable() and _encodable(key):
        return f"{parent}.{key}" if parent else key
    return parent


def subject_hashes(
    subject: object, *, field: str = "subject", default_region: str | None = None
) -> SubjectHashes:
    """The hashes of one subject as sent (``{"user_id"?, "anonymous_id"?, "email"?,
    "phone"?}``), or ``SubjectError`` naming the field. Error messages never hold values."""
    if not isinstance(subject, dict):
        raise SubjectError(field, "invalid_type", "Give an object of identifiers.")
    unknown = sorted((key for key in subject if key not in KINDS), key=repr)
    if unknown:
        raise SubjectError(
            field_name(field, unknown[0]), "unknown_field", "One of: " + ", ".join(KINDS) + "."
        )
    store: dict[str, set[str]] = {}
    canonical: dict[str, str] = {}
    for kind in KINDS:
        text = _text(subject.get(kind), f"{field}.{kind}")
        if not text:
            continue
        if kind in {"user_id", "anonymous_id"}:
            if len(text) > ID_MAX:
                raise SubjectError(f"{field}.{kind}", "too_long", f"At most {ID_MAX} characters.")
            previous = pii.hashed("external_id", text)
            store.setdefault(PREVIOUS, set()).add(previous)
            digest = previous if kind == "user_id" else _sha256(text)
            store[kind] = {digest}
            canonical[kind] = digest
            continue
        pii_field = "em" if kind == "email" else "ph"
        try:
            hashes = pii.hashed_for_specs(pii_field, text, default_region=default_region)
        except pii.PIIValueError as error:
            raise SubjectError(f"{field}.{kind}", f"invalid_{kind}", error.message) from None
        store[kind] = set(hashes.values())
        canonical[kind] = hashes["meta"]
    if not canonical:
        raise SubjectError(
            field, "no_identifier", "Give at least one of: " + ", ".join(KINDS) + "."
        )
    return SubjectHashes({k: tuple(sorted(v)) for k, v in store.items()}, canonical)


# --- Keyed hashes -------------------------------------------------------------------------


def key_context(workspace) -> str:
    return f"privacy-subject-key:{workspace.public_id}"


def key_row_context(row) -> str:
    """The key ring context of a ``SubjectKey`` row (for ``keyring.register_sealed_field``)."""
    return key_context(row.workspace)


def subject_key(workspace) -> bytes:
    """The workspace's HMAC key, created (sealed with the key ring) on first use."""
    from privacy.models import SubjectKey

    row = SubjectKey.objects.filter(workspace=workspace).first()
    if row is None:
        sealed = keyring.encrypt(secrets.token_bytes(32), context=key_context(workspace))
        try:
            with transaction.atomic():
                row = SubjectKey.objects.create(workspace=workspace, key_encrypted=sealed)
        except IntegrityError:  # created at the same moment by another process
            row = SubjectKey.objects.get(workspace=workspace)
    return keyring.decrypt(row.key_encrypted, context=key_context(workspace))


def keyed(key: bytes, kind: str, digest: str) -> str:
    """HMAC-SHA256 of ``kind:digest`` (a store hash) under the workspace's key, hex."""
    return hmac.new(key, f"{kind}:{digest}".encode(), hashlib.sha256).hexdigest()


def event_keyed_hashes(key: bytes, row: dict) -> list[tuple[str, str]]:
    """The (kind, keyed hash) pairs of an event row as ingestion prepares it (envelope's
    ``row``): what a suppression is checked against."""
    pairs = []
    if row.get("user_id_hash"):
        pairs.append(("user_id", keyed(key, "user_id", row["user_id_hash"])))
    if row.get("anonymous_id"):
        pairs.append(("anonymous_id", keyed(key, "anonymous_id", _sha256(row["anonymous_id"]))))
    meta = (row.get("identifiers") or {}).get("meta") or {}
    for kind, pii_field in (("email", "em"), ("phone", "ph")):
        if meta.get(pii_field):
            pairs.append((kind, keyed(key, kind, meta[pii_field])))
    return pairs


# --- SQL: a request's rows in the region ----------------------------------------------------


# The events of the request's subjects in one workspace, as a WHERE clause on
# ``destinations_event e`` (parameters: workspace, request). A constant: no value is ever
# put into the text.
#
# Each way of matching is one indexed lookup (destinations.models.Event's indexes, migration
# destinations 0007), OR-ed into one bitmap scan in an InitPlan that yields the matching ids;
# the outer ``e.id = ANY(...)`` then reads just those rows by primary key, in id order, so a
# caller's ``ORDER BY e.id LIMIT n`` cannot turn it into a walk of the whole table:
#
# - e-mail, phone and user id: ``identifiers @> {spec: {field: hash}}`` for every platform spec
#   (GIN, jsonb_path_ops). ``user_id_hash`` is ingestion's copy of
#   ``identifiers.meta.external_id`` (envelope ``row``), so this finds it too;
# - anonymous id: the SHA-256 of its UTF-8 bytes, the only form a request holds
#   (``tracklayer_sha256_utf8``, an expression index);
# - an alias's previous id: ``previous_id_hash`` (a partial index).
_S = (
    "SELECT s.hash FROM privacy_requestsubject s"
    " WHERE s.workspace_id = %(workspace)s AND s.request_id = %(request)s AND s.kind = "
)
# (request kind, identifiers field) matched inside ``identifiers``; every spec ingestion hashes
# for (privacy.pii.SPECS) is tried.
IDENTIFIER_FIELDS = (("email", "em"), ("phone", "ph"), ("user_id", "external_id"))
_FIELDS = ", ".join(f"('{kind}', '{field}')" for kind, field in IDENTIFIER_FIELDS)
_SPECS = ", ".join(f"'{spec}'" for spec in pii.SPECS)
IDENTIFIER_DOCUMENTS = (
    "SELECT jsonb_build_object(sp.spec, jsonb_build_object(f.field, s.hash))"  # noqa: S608
    " FROM privacy_requestsubject s"
    f" JOIN (VALUES {_FIELDS}) AS f(kind, field) ON f.kind = s.kind"
    f" CROSS JOIN unnest(ARRAY[{_SPECS}]) AS sp(spec)"
    " WHERE s.workspace_id = %(workspace)s AND s.request_id = %(request)s"
)
MATCHED_IDS = "".join(
    [
        "SELECT m.id FROM destinations_event m WHERE m.workspace_id = %(workspace)s AND (",
        f" m.identifiers @> ANY(ARRAY({IDENTIFIER_DOCUMENTS}))",
        " OR (m.anonymous_id <> ''",
        "     AND tracklayer_sha256_utf8(m.anonymous_id)",
        "     = ANY(ARRAY(SELECT decode(h.hash, 'hex') FROM (",
        f"{_S}'anonymous_id') h)))",
        " OR (m.previous_id_hash <> ''",
        f"     AND m.previous_id_hash = ANY(ARRAY({_S}'{PREVIOUS}')))",
        ")",
    ]
)
EVENTS_WHERE = f"e.workspace_id = %(workspace)s AND e.id = ANY(ARRAY({MATCHED_IDS}))"
