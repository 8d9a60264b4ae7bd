"""The destination inventory: one row per destination of a workspace — what leaves, to whom,
on what basis, and who set it up and last changed it (from the audit log).

``inventory_rows`` is a public contract (the controls page and the auditor package read it);
its keys are listed in ``COLUMNS`` and documented in docs/evidence-center.md. A soft-deleted
destination is not in it: nothing is sent to it any more, and its history stays in the audit
log.

Queries: the destinations (with their owners), the workspace's consent settings, one query of
the audit log for every destination's first and last change, and one for the members those
entries name — four, however many destinations there are.
"""

from django.db import connection

from audit.models import AuditEntry
from audit.selectors import audit_actor_names
from compliance.inventory.platforms import data_categories_of, identifiers_of
from destinations.delivery.engine import destination_policy
from destinations.models import Destination
from privacy.consent import ConsentPolicy
from privacy.selectors import consent_config_get
from workspaces.models import Membership

COLUMNS = (
    "destination_id",
    "name",
    "platform",
    "platform_label",
    "owner_id",
    "owner_name",
    "owner_email",
    "owner_is_member",
    "purpose",
    "event_types_sent",
    "data_categories",
    "identifiers",
    "consent_sensitive",
    "consent_requirements",
    "region",
    "status",
    "created_at",
    "created_by",
    "created_by_ref",
    "last_changed_at",
    "last_changed_by",
    "last_changed_by_ref",
    "last_change",
)
ALL_EVENTS = "all"

# The first ``destination.created`` entry and the latest ``destination.*`` entry of each
# destination, in one statement (the (workspace, event_type, idx) index serves the first).
_HISTORY_SQL = """
(SELECT DISTINCT ON (resource_id) 'created', resource_id, actor, timestamp, event_type
   FROM {table}
  WHERE workspace_id = %s AND resource_type = 'destination' AND resource_id = ANY(%s)
    AND event_type = 'destination.created'
  ORDER BY resource_id, idx)
UNION ALL
(SELECT DISTINCT ON (resource_id) 'changed', resource_id, actor, timestamp, event_type
   FROM {table}
  WHERE workspace_id = %s AND resource_type = 'destination' AND resource_id = ANY(%s)
    AND event_type LIKE 'destination.%%'
  ORDER BY resource_id, idx DESC)
"""


def _history(workspace, public_ids: list[str]) -> dict[tuple[str, str], tuple]:
    """``(kind, destination public id) → (actor ref, time, event type)``."""
    if not public_ids:
        return {}
    sql = _HISTORY_SQL.format(table=AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk, public_ids, workspace.pk, public_ids])
        return {(kind, rid): (actor, at, event) for kind, rid, actor, at, event in cursor}


def consent_requirements(policy: ConsentPolicy) -> list[str]:
    """What delivery waits for, in words: each consent purpose or signal the policy needs."""
    needs = [f"TCF purpose {number}" for number in sorted(policy.tcf_purposes)]
    if policy.tcf_vendor_id:
        needs.append(f"TCF vendor {policy.tcf_vendor_id}")
    needs += [f"Consent Mode {signal}" for signal in sorted(policy.consent_mode)]
    needs += [
        f"Consent Mode {signal} (else without identifiers)"
        for signal in sorted(policy.consent_mode_identifiers)
    ]
    needs += [f"category {name}" for name in sorted(policy.categories)]
    if policy.sells_or_shares:
        needs.append("no opt-out of sale or sharing (GPC, US state laws)")
    return needs


def inventory_rows(*, workspace) -> list[dict]:
    """One dict per live destination of ``workspace`` (paused ones included), by name; keys
    as ``COLUMNS``. ``event_types_sent`` is ``"all"`` when the destination has no event
    filter, else the filter's event names; ``created_by``/``last_changed_by`` are a member's
    name (or the audit log's actor reference for anyone else), None when the log has no such
    entry."""
    destinations = list(
        Destination.objects.filter(workspace=workspace, deleted_at__isnull=True)
        .select_related("owner")
        .order_by("name", "pk")
    )
    if not destinations:
        return []
    policies = consent_config_get(workspace=workspace).policies
    history = _history(workspace, [d.public_id for d in destinations])
    owner_ids = {d.owner_id for d in destinations if d.owner_id}
    members = set(
        Membership.objects.filter(workspace=workspace, user_id__in=owner_ids).values_list(
            "user_id", flat=True
        )
    )
    # Members by name; other actors (keys, SCIM, system) keep their ids, as exported.
    actors = {entry[0] for entry in history.values() if entry[0] and entry[0].startswith("user:")}
    names = audit_actor_names(workspace=workspace, actors=actors)
    rows = []
    for destination in destinations:
        owner = destination.owner
        policy = destination_policy(destination, policies)
        needs = consent_requirements(policy)
        created = history.get(("created", destination.public_id))
        changed = history.get(("changed", destination.public_id))
        rows.append(
            {
                "destination_id": destination.public_id,
                "name": destination.name,
                "platform": destination.type,
                "platform_label": destination.get_type_display(),
                "owner_id": owner.public_id if owner else None,
                "owner_name": owner.display_name if owner else None,
                "owner_email": owner.email if owner else None,
                "owner_is_member": bool(owner) and owner.pk in members,
                "purpose": destination.purpose,
                "event_types_sent": list(destination.event_filter) or ALL_EVENTS,
                "data_categories": data_categories_of(destination.type),
                "identifiers": identifiers_of(destination.type),
                "consent_sensitive": bool(needs),
                "consent_requirements": needs,
                "region": workspace.region,
                "status": destination.state,
                "created_at": destination.created_at,
                "created_by": names.get(created[0], created[0]) if created else None,
                "created_by_ref": created[0] if created else None,
                "last_changed_at": changed[1] if changed else destination.created_at,
                "last_changed_by": names.get(changed[0], changed[0]) if changed else None,
                "last_changed_by_ref": changed[0] if changed else None,
                "last_change": changed[2] if changed else None,
            }
        )
    return rows
