"""Reading a workspace's audit log in tests: its rows, what each row's hash covers, counts."""

import json

from audit.models import AuditEntry


def audit_rows(workspace, *, event_type: str | None = None, since: int = 0) -> list[AuditEntry]:
    """The workspace's entries in log order, from index ``since``, of one type if given."""
    rows = AuditEntry.objects.filter(workspace=workspace, idx__gte=since)
    if event_type is not None:
        rows = rows.filter(event_type=event_type)
    return list(rows.order_by("idx"))


def material(entry: AuditEntry) -> dict:
    """The entry's hashed content (event type, actor, resource, payload …) as a dict."""
    return json.loads(bytes(entry.material))


def audit_entries(workspace, event_type: str | None = None) -> list[dict]:
    """The hashed content of the workspace's entries, in log order."""
    return [material(row) for row in audit_rows(workspace, event_type=event_type)]


def last_row(workspace) -> AuditEntry:
    return AuditEntry.objects.filter(workspace=workspace).latest("idx")


def last_entry(workspace) -> dict:
    """The hashed content of the workspace's latest entry."""
    return material(last_row(workspace))


def audit_count(workspace) -> int:
    return AuditEntry.objects.filter(workspace=workspace).count()
