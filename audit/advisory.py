"""The advisory lock: carrying its key through one operation, and what may wait for it.

Edges that accept the key (the ``X-Advisory-Key`` header, the unlock form and command) run
their work inside ``advisory_key(key)``; ``audit_record`` reads it from here. Nothing else can
supply it. While a log is locked and the key is absent, ``audit_record`` queues the entries
of the changes listed in ``QUEUED_WHILE_LOCKED`` (they happen, and their entries wait, stored,
until the lock lifts) and refuses every other change (docs/adr/0009).
"""

import hashlib
import hmac
from contextlib import contextmanager
from contextvars import ContextVar

_presented: ContextVar[str | None] = ContextVar("tracklayer_advisory_key", default=None)

# The changes a lock must never stop, by the event type of their entry. The lock exists so
# that a suspected compromise cannot write the log or change the workspace; it must not lock
# people out or make the workspace break a legal obligation. So only access and obligations
# go on (queued); everything that grants, widens or reconfigures stays refused. A service
# whose work is a legal obligation (a data-subject request, say) adds its event types here.
QUEUED_WHILE_LOCKED: frozenset[str] = frozenset(
    {
        # Access: members sign in (and failed attempts stay on record) — the admin who holds
        # the key must be able to reach "Lift the lock".
        "auth.sign_in_succeeded",
        "auth.sign_in_failed",
        # SSO: a refused SAML sign-in is a failed attempt; the break-glass admin's password
        # sign-in (audited as such) is how an admin reaches "Lift the lock" under enforcement.
        "auth.sso_refused",
        "auth.break_glass_used",
        # Turning a second factor on only strengthens access, and staff need one to reach the
        # Django admin in production. Turning it off is still refused.
        "auth.mfa_enabled",
        # Retention: operational personal data (IP, user agent) is deleted on time.
        "events.operational_data_purged",
        # The scheduled off-site copy of the log itself, and its failures.
        "audit.exported",
        "audit.export_failed",
        # A region move already under way (its start is refused under a lock): it must be
        # able to finish or fail, or ingestion would answer 503 until the lock lifts.
        "workspace.region_moved",
        "workspace.region_move_completed",
        "workspace.region_move_failed",
        # An identity provider's leaver only narrows access: the person must lose it even
        # while the log is locked (a change of role or attributes is still refused).
        "scim.user_deactivated",
        "scim.user_deleted",
        # Data-subject requests are legal obligations (privacy.requests): made and carried
        # out under the lock, their entries queued (a receipt is "pending" until they land).
        "privacy.request_created",
        "privacy.request_completed",
        # A completed delete's forwarding sent again (a receiver or GA4 failed the first time).
        "privacy.request_forwarded",
        # Incidents (monitoring.incidents): a suspected compromise is when they are needed.
        # Recording one (opened, a source linked, a note) and the containment actions that
        # only narrow — pausing a destination (by hand or the engine's automatic pause),
        # revoking a key — go on; moving phases, the post-mortem and resuming stay refused.
        "incident.opened",
        "incident.source_linked",
        "incident.note_added",
        "incident.containment_action",
        "destination.paused",
        "api_key.revoked",
        # Anomalies (monitoring.anomalies): detection goes on —
        # a suspected compromise is when it matters — and acknowledging or resolving only
        # records that a person looked. Changing the alert settings stays refused.
        "anomaly.opened",
        "anomaly.acknowledged",
        "anomaly.resolved",
        "schema.drift",
        # The auditor package (compliance.package): building one changes nothing; like the
        # export it is evidence, wanted most during a suspected compromise. Its entry waits.
        "evidence.package_built",
    }
)

# The payload key under which an appended entry says it was queued: ``{"seq", "queued_at"}``.
# No payload may carry it itself (``audit_record`` refuses one that does).
QUEUED_MARK = "queued_under_advisory_lock"


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
