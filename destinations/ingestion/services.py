"""Ingestion: one request's events, from a parsed payload to durable rows and an answer.

``event_ingest`` guarantees: nothing is acknowledged before it is committed; every rejected
event is reported with each of its errors; good events beside bad ones are kept; a duplicate
(same workspace and messageId within the window) is acknowledged and never stored twice; the
events go to the workspace's region; while the workspace moves between regions nothing is
stored and the sender is told to come back (``WorkspaceMovingError``).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from destinations.delivery import delivery_kick
from destinations.exceptions import PayloadTooLargeError, RateLimitedError
from destinations.ingestion.envelope import (
    FieldError,
    Prepared,
    Rejected,
    RequestMemo,
    batch_problems,
    prepare_event,
    rejected_id,
    text_problem,
)
from destinations.ingestion.rate_limit import rate_limit_take
from destinations.ingestion.runtime import runtime_forget, workspace_runtime
from destinations.ingestion.store import WriteRequest, events_store
from destinations.metrics import REJECTED_ERRORS_KEPT, REJECTED_KEPT_PER_MINUTE
from destinations.metrics.writer import RejectedRow
from destinations.models import EventType, IngestionSettings
from destinations.tracking_plans.schema import IDENTIFY, PlanVerdict
from privacy.requests.selectors import suppressed_count, suppressed_matcher
from tracklayer.exceptions import DomainError
from workspaces import policy


class WorkspaceMovingError(DomainError):
    """The workspace's data is being moved to another region (workspaces.models.RegionMove):
    nothing is stored until the move is done. A 503 with Retry-After, which SDKs honour by
    sending the same events again later."""

    code = "workspace_moving"
    status = 503
    retry_after = 30  # seconds

    def __init__(self) -> None:
        super().__init__(
            "This workspace's data is being moved to another region; nothing was stored. "
            f"Send the events again in {self.retry_after} seconds."
        )


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    stored: list[Prepared] = field(default_factory=list)

    def to_dict(self, *, segment: bool) -> dict:
        body = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [rejected.to_dict() for rejected in self.rejected],
        }
        if self.warnings:
            body["warnings"] = self.warnings
        if segment and self.accepted + self.duplicates:
            body["success"] = True
        return body


def _plan_outcome(plan, prepared: Prepared) -> tuple[str, list, list[FieldError]]:
    """(status, violations to record, errors if the plan blocks the event)."""
    if plan is None:
        return "ok", [], []
    row = prepared.row
    violations = plan.check(
        event_type=row["type"],
        name=prepared.event_name,
        properties=prepared.sent_properties,
        traits=prepared.sent_traits,
    )
    if not violations:
        return "ok", [], []
    name = IDENTIFY if row["type"] == "identify" else prepared.event_name
    recorded = [(name, violation) for violation in violations]
    verdict = plan.verdict(violations)
    if verdict == PlanVerdict.BLOCK:
        errors = [FieldError(v.path, f"tracking_plan:{v.code}", v.message) for v in violations]
        return "blocked", recorded, errors
    row["validation"]["violations"] = [violation.to_dict() for violation in violations]
    return ("flagged" if verdict == PlanVerdict.FLAG else "ok"), recorded, []


def _kept(value: object, limit: int) -> str:
    """A name as the rejected-events log may keep it: text that can be stored, shortened;
    anything else (a number, NUL characters, a lone surrogate) is not kept."""
    return value[:limit] if isinstance(value, str) and text_problem(value) is None else ""


def _reason(rejected: Rejected) -> str:
    """The reason a refused event is counted and kept under: its first error's code."""
    return (_kept(rejected.errors[0].code, 64) if rejected.errors else "") or "invalid"


def _rejected_row(
    raw: object, rejected: Rejected, *, workspace_id: int, received_at, key, source: str
) -> RejectedRow:
    """What the debugger keeps of a refused event: its messageId, type and name, and why —
    never its properties, traits, context or identifiers."""
    sent = raw if isinstance(raw, dict) else {}
    errors = [
        {
            "field": _kept(error.field, 200),
            "code": _kept(error.code, 64) or "invalid",
            "message": _kept(error.message, 300),
        }
        for error in rejected.errors[:REJECTED_ERRORS_KEPT]
    ]
    first = errors[0] if errors else {"field": "", "code": "invalid", "message": ""}
    return RejectedRow(
        workspace_id=workspace_id,
        received_at=received_at,
        message_id=_kept(rejected.message_id, 100),
        # Only a type the API knows: an unknown one is whatever was sent, perhaps personal.
        type=sent["type"] if sent.get("type") in EventType.values else "",
        name=_kept(sent.get("event") or sent.get("name"), 200),
        reason=_reason(rejected),
        field=first["field"],
        message=first["message"],
        errors=errors,
        api_key=key.public_id,
        source=source,
    )


def event_ingest(
    *,
    key,
    events: list,
    kind: str | None,
    source: str,
    batch: dict | None = None,
    single_size: int | None = None,
    request_ip: str | None = None,
    headers=None,
    received_at: datetime | None = None,
) -> IngestResult:
    """Validate, minimise, de-duplicate and durably store ``events`` for ``key``'s workspace.

    ``single_size`` is the body size of a single-event request (a batch's events are sized one
    by one). Raises ``WorkspaceMovingError``, ``PayloadTooLargeError`` and ``RateLimitedError``.
    """
    runtime = workspace_runtime(workspace_id=key.workspace_id)
    if runtime.moving:
        # Before the rate limit and any write: what a move copies must not change under it
        # (it waits out runtime.TTL, so every process has seen moving_to by then).
        raise WorkspaceMovingError()
    workspace = runtime.workspace
    limits = runtime.settings
    if len(events) > limits.max_batch_events:
        raise PayloadTooLargeError(
            f"The batch has {len(events):,} events; the limit is {limits.max_batch_events:,}.",
            field="batch",
        )
    if single_size is not None and single_size > limits.max_event_bytes:
        raise PayloadTooLargeError(
            f"The event is {single_size:,} bytes; the limit is {limits.max_event_bytes:,}."
        )
    decision = rate_limit_take(
        key_id=key.pk, rate=limits.rate_per_second, burst=limits.rate_burst, cost=len(events)
    )
    if not decision.allowed:
        raise RateLimitedError(decision.retry_after)

    received_at = received_at or timezone.now()
    result = IngestResult()
    accepted: list[Prepared] = []
    statuses: list[str] = []
    violations: list = []
    # Suppressed subjects (privacy.requests): their events are acknowledged as accepted, so
    # SDKs do not retry, and dropped before storage and delivery; only counted.
    suppressed = suppressed_matcher(workspace)
    dropped: dict[tuple[str, str], int] = {}
    # The batch's own context, integrations and sentAt go into every event: checked once.
    shared = batch_problems(batch)
    memo = RequestMemo()
    for index, raw in enumerate(events):
        if shared:
            result.rejected.append(Rejected(index, rejected_id(raw), list(shared)))
            continue
        prepared = prepare_event(
            raw,
            index=index,
            kind=kind,
            received_at=received_at,
            config=runtime.config,
            size=single_size,
            batch=batch,
            request_ip=request_ip,
            headers=headers,
            memo=memo,
        )
        if isinstance(prepared, Rejected):
            result.rejected.append(prepared)
            continue
        if suppressed and (pair := suppressed(prepared.row)) is not None:
            dropped[pair] = dropped.get(pair, 0) + 1
            continue
        status, recorded, errors = _plan_outcome(runtime.plan, prepared)
        violations.extend(recorded)
        if errors:
            result.rejected.append(Rejected(index, prepared.message_id, errors))
            continue
        accepted.append(prepared)
        statuses.append(status)

    if events:
        # Even a request whose every event was refused is written: its figures and rejected
        # events go in the same (group) commit as everyone's events.
        written = events_store(
            WriteRequest(
                workspace=workspace,
                workspace_id=workspace.pk,
                api_key_id=key.pk,
                source=source,
                received_at=received_at,
                events=accepted,
                statuses=statuses,
                violations=violations,
                received=len(events),
                suppressed=sum(dropped.values()),
                # Every refusal counted by reason; only as many kept as one minute may keep
                # (a flood's rows beyond the cap would be built to be thrown away).
                rejected_reasons=Counter(_reason(rejected) for rejected in result.rejected),
                rejected=[
                    _rejected_row(
                        events[rejected.index],
                        rejected,
                        workspace_id=workspace.pk,
                        received_at=received_at,
                        key=key,
                        source=source,
                    )
                    for rejected in result.rejected[:REJECTED_KEPT_PER_MINUTE]
                ],
                api_key_public_id=key.public_id,
            ),
            group_commit=settings.EVENTS_GROUP_COMMIT,
        )
        result.accepted = len(written.stored)
        result.duplicates = len(written.duplicates)
        result.stored = written.stored
        if result.accepted:
            delivery_kick(region=workspace.region)  # only this workspace's region has new work
    for pair, count in dropped.items():
        suppressed_count(workspace=workspace, pair=pair, events=count)
    result.accepted += sum(dropped.values())
    for prepared in accepted:
        if prepared.warnings:
            result.warnings.append(
                {
                    "index": prepared.index,
                    "messageId": prepared.message_id,
                    "warnings": [warning.to_dict() for warning in prepared.warnings],
                }
            )
    return result


# --- Settings -------------------------------------------------------------------------------------

SETTING_BOUNDS = {
    "max_event_bytes": (1024, 256 * 1024),
    "max_request_bytes": (1024, 4 * 1024 * 1024),
    "max_batch_events": (1, 10_000),
    "dedup_window_days": (1, 365),
    "operational_retention_days": (0, 30),
    "rate_per_second": (1, 1_000_000),
    "rate_burst": (1, 10_000_000),
}
SETTING_FIELDS = (*SETTING_BOUNDS, "pii_paths", "default_region")
PII_PATH_ROOTS = ("properties", "traits", "context")


def _check_setting(name: str, value) -> None:
    if name in SETTING_BOUNDS:
        low, high = SETTING_BOUNDS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise DomainError(f"Give a whole number from {low:,} to {high:,}.", field=name)
    elif name == "pii_paths":
        if not isinstance(value, list) or not all(
            isinstance(path, str) and path.split(".", 1)[0] in PII_PATH_ROOTS and "." in path
            for path in value
        ):
            raise DomainError(
                "Each path starts with properties., traits. or context. (e.g. properties.vat_id).",
                field=name,
            )
    elif name == "default_region":
        if value and not (len(value) == 2 and value.isalpha() and value.isupper()):
            raise DomainError("A two-letter country code, e.g. DE, or empty.", field=name)
    else:
        raise DomainError(f"Unknown setting {name!r}.", field=name)


@transaction.atomic
def ingestion_settings_update(*, workspace, actor, values: dict) -> IngestionSettings:
    """Change a workspace's ingestion limits, retention and personal-data paths (admins only:
    retention is a compliance promise). Audited with every change's before and after."""
    policy.authorize(workspace=workspace, actor=actor, action=policy.Action.WORKSPACE_UPDATE)
    for name, value in values.items():
        _check_setting(name, value)
    current, _ = IngestionSettings.objects.select_for_update().get_or_create(workspace=workspace)
    changes = {}
    for name, value in values.items():
        if getattr(current, name) != value:
            changes[name] = {"before": getattr(current, name), "after": value}
            setattr(current, name, value)
    if changes:
        current.save()
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="ingestion.settings_updated",
            resource_type="ingestion_settings",
            resource_id=workspace.public_id,
            payload={"changes": changes},
        )
        transaction.on_commit(lambda: runtime_forget(workspace.pk))
    return current
