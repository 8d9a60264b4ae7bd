"""Tracking plans' audited changes (Settings → Tracking plan, the import) and the counting of
violations inside ingestion's write transaction.

Every change locks the plan, is checked (Draft 2020-12 meta-schema, self-contained ``$ref``s,
sizes), saved with the next version and recorded in the audit log in the same transaction;
then the workspace's ingestion snapshot in this process is dropped, so the next event is
checked against the new plan (other processes: within ``destinations.ingestion.runtime.TTL``).
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connections, transaction
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from audit.services import audit_record
from destinations.ingestion.runtime import runtime_forget
from destinations.models import TrackingPlan, TrackingPlanMode, TrackingPlanViolation
from destinations.tracking_plans.formats import FORMAT_CHECKER
from destinations.tracking_plans.messages import PlanViolation
from destinations.tracking_plans.schema import IDENTIFY
from tracklayer.exceptions import ConflictError, DomainError
from workspaces import policy as access
from workspaces.models import User
from workspaces.regions import workspace_db

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MODES = tuple(TrackingPlanMode.values)
MAX_EVENTS = 500
MAX_PLAN_BYTES = 512 * 1024  # the canonical JSON of all schemas together
MAX_NAME_LENGTH = 200
_RECORD_CHUNK = 1000


def _canonical(value) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _sha256(schemas: dict | None) -> str | None:
    return None if schemas is None else hashlib.sha256(_canonical(schemas)).hexdigest()


def _check_choice(name: str, value) -> None:
    if value not in MODES:
        raise DomainError(f"{name.capitalize()} must be one of: {', '.join(MODES)}.", field=name)


def _check_name(name) -> None:
    if not isinstance(name, str) or not name.strip():
        raise DomainError("An event name cannot be empty.", field="event_name")
    if name != name.strip() or any(ord(char) < 32 for char in name):
        raise DomainError(
            f"The event name {name[:60]!r} has spaces at its ends or control characters.",
            field="event_name",
        )
    if len(name) > MAX_NAME_LENGTH:
        raise DomainError(
            f"Event names are at most {MAX_NAME_LENGTH} characters.", field="event_name"
        )
    if name.startswith("$") and name != IDENTIFY:
        raise DomainError(
            f"Names starting with $ are reserved; {IDENTIFY} is the schema for identify traits.",
            field="event_name",
        )


def _refs(schema) -> Iterable[tuple[str, str]]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("enum", "const", "default", "examples"):
                    continue
                if key in ("$ref", "$id") and isinstance(value, str):
                    yield key, value
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def _check_schema(name: str, schema, *, field: str) -> None:
    """Draft 2020-12, valid against its meta-schema, and self-contained (references stay
    inside the schema, so the hot path never looks anything up)."""
    if not isinstance(schema, dict):
        raise DomainError(f"“{name}”: a schema must be a JSON object.", field=field)
    declared = schema.get("$schema", DRAFT_2020_12)
    if declared != DRAFT_2020_12:
        raise DomainError(
            f"“{name}”: plans use JSON Schema Draft 2020-12; $schema must be {DRAFT_2020_12} "
            "or left out.",
            field=field,
        )
    try:
        Draft202012Validator.check_schema(schema, format_checker=FORMAT_CHECKER)
    except SchemaError as error:
        raise DomainError(
            f"“{name}”: not a valid JSON Schema — {error.message[:300]} (at {error.json_path}).",
            field=field,
        ) from error
    resolver = None
    for keyword, value in _refs(schema):
        if keyword == "$id":
            raise DomainError(
                f"“{name}”: $id is not supported; put shared parts under $defs and refer to "
                "them as #/$defs/….",
                field=field,
            )
        if not value.startswith("#"):
            raise DomainError(
                f"“{name}”: $ref {value[:80]!r} points outside the schema; only #… references "
                "are allowed.",
                field=field,
            )
        if resolver is None:
            resource = DRAFT202012.create_resource(schema)
            resolver = Registry().with_resource("urn:plan", resource).resolver("urn:plan")
        try:
            resolver.lookup(value)
        except Unresolvable as error:
            raise DomainError(
                f"“{name}”: $ref {value[:80]!r} points to nothing in this schema.", field=field
            ) from error


@dataclass(frozen=True)
class _State:
    mode: str | None
    unplanned: str | None
    schemas: dict | None  # None: no plan

    @classmethod
    def of(cls, plan: TrackingPlan | None) -> "_State":
        if plan is None:
            return cls(None, None, None)
        return cls(plan.mode, plan.unplanned, dict(plan.schemas))


def _validate(before: _State, after: _State, *, schema_field: str) -> None:
    _check_choice("mode", after.mode)
    _check_choice("unplanned", after.unplanned)
    schemas = after.schemas
    if not isinstance(schemas, dict):
        raise DomainError(
            "A plan's events are an object: event name → JSON Schema.", field="events"
        )
    if len(schemas) > MAX_EVENTS:
        raise DomainError(f"A plan holds at most {MAX_EVENTS} events.", field="events")
    for name in schemas:
        _check_name(name)
    try:
        size = len(_canonical(schemas))
    except (ValueError, TypeError) as error:  # NaN, infinity, a key that is not a string
        raise DomainError(f"The plan is not plain JSON: {error}.", field="events") from error
    if size > MAX_PLAN_BYTES:
        raise DomainError(
            f"The plan is {size // 1024} KiB; at most {MAX_PLAN_BYTES // 1024} KiB is allowed.",
            field="events",
        )
    previous = before.schemas or {}
    for name, schema in schemas.items():
        # Unchanged schemas were checked when they were saved.
        if name not in previous or _canonical(previous[name]) != _canonical(schema):
            _check_schema(name, schema, field=schema_field)


@transaction.atomic
def _plan_change(
    *,
    workspace,
    actor,
    expected_version: int | None,
    source: str,
    change: Callable[[_State], _State],
    schema_field: str = "schemas",
) -> TrackingPlan:
    """Lock the plan, apply ``change`` to its state, validate, save with the next version
    and record ``tracking_plan.updated``. No change: nothing saved, nothing recorded."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    plan = TrackingPlan.objects.select_for_update().filter(workspace=workspace).first()
    version = plan.version if plan is not None else 0
    if expected_version is not None and expected_version != version:
        raise ConflictError(
            f"The tracking plan changed since you opened it (it is now version {version}). "
            "Reload the page to see the change, then make yours again."
        )
    before = _State.of(plan)
    after = change(before)
    _validate(before, after, schema_field=schema_field)

    previous = before.schemas or {}
    added = sorted(set(after.schemas) - set(previous))
    removed = sorted(set(previous) - set(after.schemas))
    changed = sorted(
        name
        for name in set(previous) & set(after.schemas)
        if _canonical(previous[name]) != _canonical(after.schemas[name])
    )
    unchanged = (before.mode, before.unplanned) == (after.mode, after.unplanned)
    if plan is not None and unchanged and not (added or removed or changed):
        return plan

    if plan is None:
        plan = TrackingPlan(workspace=workspace, version=1)
    else:
        plan.version += 1
    plan.mode, plan.unplanned, plan.schemas = after.mode, after.unplanned, after.schemas
    plan.updated_by = actor if isinstance(actor, User) else None
    plan.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="tracking_plan.updated",
        resource_type="tracking_plan",
        resource_id=workspace.public_id,
        payload={
            "source": source,
            "version": {"before": version or None, "after": plan.version},
            "mode": {"before": before.mode, "after": after.mode},
            "unplanned": {"before": before.unplanned, "after": after.unplanned},
            "events": {"added": added, "removed": removed, "changed": changed},
            "schemas_sha256": {
                "before": _sha256(before.schemas),
                "after": _sha256(after.schemas),
            },
        },
    )
    _forget_now_and_at_commit(workspace.pk)
    return plan


def _forget_now_and_at_commit(workspace_pk: int) -> None:
    # Now: this process's next check sees the change. At commit: a concurrent request of this
    # process that re-read the old version in between does not keep it for a whole TTL.
    runtime_forget(workspace_pk)
    transaction.on_commit(lambda: runtime_forget(workspace_pk))


def tracking_plan_update(
    *,
    workspace,
    actor,
    mode: str,
    unplanned: str,
    schemas: dict,
    expected_version: int | None = None,
) -> TrackingPlan:
    """Replace the workspace's plan (creating it if needed). Every schema is checked against
    the Draft 2020-12 meta-schema; a bad one raises ``DomainError`` naming the event. With
    ``expected_version``, a plan changed by someone else meanwhile raises ``ConflictError``.
    Audited as ``tracking_plan.updated`` (names added/removed/changed and SHA-256 of the
    canonical schemas before and after — not the schemas themselves)."""
    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="edit",
        change=lambda before: _State(mode, unplanned, schemas),
    )


def tracking_plan_mode_set(
    *, workspace, actor, mode: str, unplanned: str, expected_version: int | None = None
) -> TrackingPlan:
    """Change what the plan does with violating and with unplanned events; the schemas stay
    as they are under the plan's lock (creating an empty plan if there is none). Audited like
    every other change of the plan."""
    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="edit",
        change=lambda before: _State(mode, unplanned, dict(before.schemas or {})),
    )


def tracking_plan_event_save(
    *,
    workspace,
    actor,
    event_name: str,
    schema: dict,
    previous_name: str | None = None,
    expected_version: int | None = None,
) -> TrackingPlan:
    """Add an event's schema, or replace one (``previous_name``: the event it was, to
    rename). A new plan starts in mode allow, unplanned allow."""

    def change(before: _State) -> _State:
        schemas = dict(before.schemas or {})
        if previous_name is not None and previous_name not in schemas:
            raise DomainError(f"“{previous_name}” is no longer in the plan.", field="event_name")
        if event_name in schemas and event_name != previous_name:
            raise DomainError(f"“{event_name}” is already in the plan.", field="event_name")
        if previous_name is not None:
            del schemas[previous_name]
        schemas[event_name] = schema
        return _State(
            before.mode or TrackingPlanMode.ALLOW.value,
            before.unplanned or TrackingPlanMode.ALLOW.value,
            schemas,
        )

    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="edit",
        change=change,
        schema_field="schema",
    )


def tracking_plan_event_remove(
    *, workspace, actor, event_name: str, expected_version: int | None = None
) -> TrackingPlan:
    """Take an event out of the plan (the plan stays, possibly with no events)."""

    def change(before: _State) -> _State:
        schemas = dict(before.schemas or {})
        if event_name not in schemas:
            raise DomainError(f"“{event_name}” is not in the plan.", field="event_name")
        del schemas[event_name]
        return _State(before.mode, before.unplanned, schemas)

    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="edit",
        change=change,
    )


@transaction.atomic
def tracking_plan_delete(*, workspace, actor, expected_version: int | None = None) -> None:
    """Remove the plan: events are no longer checked. Recorded violations stay (they are
    history). Audited as ``tracking_plan.deleted``; without a plan, nothing happens."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    plan = TrackingPlan.objects.select_for_update().filter(workspace=workspace).first()
    if plan is None:
        return
    if expected_version is not None and expected_version != plan.version:
        raise ConflictError(
            f"The tracking plan changed since you opened it (it is now version {plan.version}). "
            "Reload the page before deleting it."
        )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="tracking_plan.deleted",
        resource_type="tracking_plan",
        resource_id=workspace.public_id,
        payload={
            "version": plan.version,
            "mode": plan.mode,
            "unplanned": plan.unplanned,
            "events": sorted(plan.schemas),
            "schemas_sha256": _sha256(plan.schemas),
        },
    )
    plan.delete()
    _forget_now_and_at_commit(workspace.pk)


IMPORT_KEYS = ("mode", "unplanned", "events")


def tracking_plan_import(
    *, workspace, actor, document: dict, expected_version: int | None = None
) -> TrackingPlan:
    """Replace the plan with ``document`` (the format ``tracking_plan_export`` writes).
    ``events`` is required and replaces every schema; ``mode`` and ``unplanned`` keep their
    current values when left out. Audited like an update, with source "import"."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if not isinstance(document, dict):
        raise DomainError(
            "A tracking plan file is a JSON object with “events” (and optionally “mode” and "
            "“unplanned”).",
            field="document",
        )
    unknown = sorted(set(document) - set(IMPORT_KEYS))
    if unknown:
        raise DomainError(
            f"Unknown key {unknown[0][:60]!r}: a plan file has only {', '.join(IMPORT_KEYS)}.",
            field="document",
        )
    if not isinstance(document.get("events"), dict):
        raise DomainError(
            "The plan file needs “events”: an object of event name → JSON Schema.",
            field="document",
        )

    def change(before: _State) -> _State:
        return _State(
            document.get("mode", before.mode or TrackingPlanMode.ALLOW.value),
            document.get("unplanned", before.unplanned or TrackingPlanMode.ALLOW.value),
            dict(document["events"]),
        )

    return _plan_change(
        workspace=workspace,
        actor=actor,
        expected_version=expected_version,
        source="import",
        change=change,
    )


def tracking_plan_violations_record(
    *,
    workspace,
    violations: list[tuple[str, PlanViolation]],
    seen_at: datetime,
    using: str | None = None,
) -> None:
    """Count a batch's violations: ``(event name, violation)`` pairs (identify events count
    under ``$identify``). Aggregated here first, then one ``INSERT … ON CONFLICT DO UPDATE``
    per 1,000 distinct rows, in a fixed order so that concurrent batches cannot deadlock.
    Meant to run inside ingestion's write transaction: counts commit with the events, in the
    workspace's region (``using``: the region's database alias, the workspace's by default —
    the writer passes the one its transaction is on)."""
    if not violations:
        return
    connection = connections[using or workspace_db(workspace)]
    rows: dict[tuple[str, str, str], list] = {}
    for event_name, violation in violations:
        key = (event_name[:MAX_NAME_LENGTH], violation.path[:300], violation.code[:40])
        row = rows.get(key)
        if row is None:
            rows[key] = [1, violation.message[:300]]
        else:
            row[0] += 1
    meta = TrackingPlanViolation._meta
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(meta.get_field(name).column)
        for name in (
            "workspace",
            "event_name",
            "path",
            "code",
            "count",
            "example_message",
            "first_seen",
            "last_seen",
        )
    )
    keys = sorted(rows)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _RECORD_CHUNK):
            chunk = keys[start : start + _RECORD_CHUNK]
            params: list = []
            for key in chunk:
                count, message = rows[key]
                params += [workspace.pk, *key, count, message, seen_at, seen_at]
            placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {placeholders} "  # noqa: S608 - names from the model
                "ON CONFLICT (workspace_id, event_name, path, code) DO UPDATE SET "
                f"count = {table}.count + EXCLUDED.count, "
                "example_message = EXCLUDED.example_message, "
                f"last_seen = GREATEST({table}.last_seen, EXCLUDED.last_seen)",
                params,
            )
