"""Forwarding a deletion downstream: the contract between a data-subject request's work and
whoever can pass the deletion on to the platforms it sent the subject's data to.

Privacy sits below destinations in the import layers, so this module never imports them:
destinations registers its forwarder (``register``) when its app is ready, and the work calls
whatever is registered (dependency inversion; docs/privacy-requests.md, "Forwarding").

Guarantees:

- A notice carries hashes only: per subject, the SHA-256 hashes of its e-mail and phone (every
  platform spec's), of its user id (the ``external_id`` hash the events carry) and of its
  anonymous id — never a value in clear, never the workspace's keyed hash.
- Results are per destination public id, one ``Result`` each; a final one (``sent``,
  ``not_supported``, ``not_configured``, ``skipped``) is never sent again, a ``failed`` one is
  retried by the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SENT = "sent"
FAILED = "failed"
PENDING = "pending"
NOT_SUPPORTED = "not_supported"
NOT_CONFIGURED = "not_configured"
SKIPPED = "skipped"
FINAL = frozenset({SENT, NOT_SUPPORTED, NOT_CONFIGURED, SKIPPED})
# Runs of a request's forwarding before a failed result is given up (its working data then
# forgotten); the task retries after each of these delays (seconds). Each stays under an
# hour: a Redis broker redelivers an unacknowledged (late-ack) task after its visibility
# timeout, one hour by default, so a longer countdown would run twice.
RETRY_DELAYS = (60, 300, 1200, 3000)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


@dataclass(frozen=True)
class NoticeSubject:
    """One subject of a request as a downstream can match it (hashes only)."""

    email_sha256: tuple[str, ...] = ()
    phone_sha256: tuple[str, ...] = ()
    user_id_sha256: str | None = None
    anonymous_id_sha256: str | None = None

    def as_dict(self) -> dict:
        data: dict = {}
        if self.email_sha256:
            data["email_sha256"] = list(self.email_sha256)
        if self.phone_sha256:
            data["phone_sha256"] = list(self.phone_sha256)
        if self.user_id_sha256:
            data["user_id_sha256"] = self.user_id_sha256
        if self.anonymous_id_sha256:
            data["anonymous_id_sha256"] = self.anonymous_id_sha256
        return data


@dataclass(frozen=True)
class ForwardingNotice:
    """What a forwarder is told: the request, its workspace (the object, for reading its
    destinations) and its subjects' hashes."""

    request_id: str
    request_type: str
    workspace: object
    subjects: tuple[NoticeSubject, ...]


class Forwarder(Protocol):
    def prepare(self, notice: ForwardingNotice, results: dict[str, dict]) -> dict[str, dict]:
        """Before the subject's rows are deleted: read what forwarding will need later (it may
        keep it in the region's working data) and return a result for every destination not
        yet in ``results`` (``pending`` or already final)."""

    def forward(self, notice: ForwardingNotice, results: dict[str, dict]) -> dict[str, dict]:
        """Send what is ``pending`` or ``failed``; return the results it changed."""


_forwarders: list[Forwarder] = []


def register(forwarder: Forwarder) -> None:
    """Add ``forwarder`` (once: registering the same object again changes nothing)."""
    if forwarder not in _forwarders:
        _forwarders.append(forwarder)


def prepare(notice: ForwardingNotice, results: dict[str, dict]) -> dict[str, dict]:
    merged = dict(results)
    for forwarder in _forwarders:
        merged.update(forwarder.prepare(notice, merged))
    return merged


def forward(notice: ForwardingNotice, results: dict[str, dict]) -> dict[str, dict]:
    merged = dict(results)
    for forwarder in _forwarders:
        merged.update(forwarder.forward(notice, merged))
    return merged


def unfinished(results: dict[str, dict]) -> dict[str, dict]:
    """The results still to be sent (``pending``) or sent again (``failed``)."""
    return {
        key: result
        for key, result in results.items()
        if isinstance(result, dict) and result.get("status") not in FINAL
    }
