"""Writing entries into a workspace's audit log in tests, through the one writer."""

from django.db import transaction

from audit.models import AuditEntry
from audit.services import audit_record
from workspaces.actors import SystemActor

ACTOR = SystemActor("tests")


def record_thing(workspace, n: int = 0, **overrides) -> AuditEntry:
    """Append one ``thing.happened`` entry about ``thing_<n>`` in its own transaction, as a
    service would; ``overrides`` replace any of ``audit_record``'s arguments."""
    fields = {
        "workspace": workspace,
        "actor": ACTOR,
        "event_type": "thing.happened",
        "resource_type": "thing",
        "resource_id": f"thing_{n}",
        "payload": {"n": n},
    }
    with transaction.atomic():
        return audit_record(**(fields | overrides))


def append_things(workspace, count: int) -> None:
    """``count`` entries, ``thing_0`` to ``thing_<count - 1>``."""
    for n in range(count):
        record_thing(workspace, n)
