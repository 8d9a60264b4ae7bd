"""The destinations control plane: create, edit, pause, resume, delete, and replay dead letters.

Every change runs in one transaction, is authorised by the policy and writes its audit entry in
that same transaction. Secrets (access tokens, API secrets, signing secrets) are stored as JSON
encrypted with the key ring, bound to the destination's public id; they never reach an audit
payload, a log line, an exception message or a page — an audit entry names a secret and says
``{"changed": true}``, nothing more.

Work for the delivery engine (after a resume or a replay) is kicked after commit, so a rolled
back change leaves nothing behind. A deleted destination is soft-deleted: its row stays (its
deliveries and attempts still explain the past), its secrets are wiped, and the engine skips
it — pending deliveries of a deleted destination are never sent (docs/destinations.md).

Deliveries live in the workspace's region's database (``Delivery.objects.for_workspace``). A
change to them (a replay) runs in a transaction of that database inside the control plane's
transaction that writes its audit entry, and the entry is written before the region's commit:
an audit refusal (an advisory lock) rolls the replay back with it.
"""

import logging
from collections import Counter

from django.db import connections, transaction
from django.db.models import Max
from django.utils import timezone

from audit.exceptions import AuditLockedError
from audit.selectors import audit_locked
from audit.services import audit_record
from destinations import delivery
from destinations.delivery import autopause
from destinations.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Destination,
    DestinationState,
)
from destinations.routing.secrets import destination_secrets, secrets_seal
from destinations.routing.selectors import NO_REASON, REASON_GROUP_SQL, dead_letters_matching
from destinations.routing.validation import (
    AUTOPAUSE_FIELDS,
    DEFAULT_EVENT_MAPPINGS,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    REASON_MAX,
    auditable,
    check_autopause,
    check_consent_policy,
    check_event_filter,
    check_int,
    check_name,
    check_pairs,
    check_property_mapping,
    check_settings,
    check_type,
    clean_config,
    clean_secrets,
    invalid,
    text_problem,
)
from tracklayer.exceptions import ConflictError, DomainError, NotFoundError
from tracklayer.ids import new_public_id
from workspaces import policy as access
from workspaces.models import Membership
from workspaces.regions import data_atomic, workspace_db

log = logging.getLogger(__name__)

# The engine's automatic pause is one of the control plane's pause services; it lives with the
# engine (which calls it) so that delivery never imports this module.
destination_autopause = autopause.destination_autopause
autopause_reason = autopause.autopause_reason

REPLAY_AUDIT_IDS = 100  # an audit entry names up to this many replayed deliveries
REPLAY_AUDIT_REASONS = 20

# The settings of a destination that an update may change, and how the audit log names them.
UPDATABLE = (
    "name",
    "config",
    "event_filter",
    "event_mapping",
    "property_mapping",
    "consent_policy",
    "autopause",
    "max_concurrency",
    "max_attempts",
    "owner",
    "purpose",
)
PURPOSE_MAX = 500  # the column's length (destination.purpose)


def _autopause_of(destination: Destination) -> dict:
    return {key: getattr(destination, column) for key, column in AUTOPAUSE_FIELDS.items()}


def _settings_of(destination: Destination) -> dict:
    """Every non-secret setting, as the audit log and the API name them."""
    return {
        "name": destination.name,
        "config": dict(destination.config),
        "event_filter": list(destination.event_filter),
        "event_mapping": dict(destination.event_mapping),
        "property_mapping": dict(destination.property_mapping),
        "consent_policy": dict(destination.consent_policy),
        "autopause": _autopause_of(destination),
        "max_concurrency": destination.max_concurrency,
        "max_attempts": destination.max_attempts,
        # The owner by public id only: an audit payload never carries a name or an e-mail.
        "owner": destination.owner.public_id if destination.owner_id else None,
        "purpose": destination.purpose,
    }


def _check_owner(workspace, value):
    """The member of ``workspace`` whose user public id is ``value`` (None/"" for no owner);
    refused, naming ``owner``, when nobody of this workspace has that id."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid("owner", "Give the owner as a member's user id, or nothing.")
    membership = (
        Membership.objects.filter(workspace=workspace, user__public_id=value)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise invalid("owner", "The owner must be a member of this workspace.")
    return membership.user


def _check_purpose(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid("purpose", "Describe the purpose in text.")
    value = value.strip()
    if len(value) > PURPOSE_MAX:
        raise invalid("purpose", f"Keep the purpose to {PURPOSE_MAX} characters.")
    problem = text_problem(value)
    if problem:
        raise invalid("purpose", f"The purpose {problem}.")
    return value


def _locked(*, workspace, destination: Destination) -> Destination:
    """The destination's row, locked for this transaction; NotFound when it is another
    workspace's or deleted."""
    row = (
        Destination.objects.select_for_update()
        .filter(pk=destination.pk, workspace=workspace, deleted_at__isnull=True)
        .first()
    )
    if row is None:
        raise NotFoundError("No such destination in this workspace.")
    return row


def _kick_after_commit(destination_ids) -> None:
    """Tell the delivery engine there is work, once the change is committed."""
    ids = sorted(set(destination_ids))

    def kick() -> None:
        for destination_id in ids:
            delivery.delivery_kick(destination_id=destination_id)

    if ids:
        # robust: a broker that is down must not turn a committed change into an error page;
        # the engine's periodic sweep finds the work anyway.
        transaction.on_commit(kick, robust=True)


# --- Services -----------------------------------------------------------------------------------


@transaction.atomic
def destination_create(
    *,
    workspace,
    actor,
    type: str,
    name: str,
    config: dict,
    secrets: dict,
    event_filter=(),
    event_mapping: dict | None = None,
    property_mapping: dict | None = None,
    consent_policy: dict | None = None,
    autopause: dict | None = None,
    max_concurrency: int | None = None,
    owner: str | None = None,
    purpose: str = "",
) -> Destination:
    """Create a destination, active at once. Its settings are checked by the type's adapter
    (``DestinationInvalidError`` names each bad field); without an event mapping it gets the
    type's standard one. ``owner`` is a member's user public id (refused when it is not a member
    of ``workspace``). The audit entry lists the non-secret settings (the owner by public id) and
    the secrets' names."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.ROUTING_EDIT)
    kind = check_type(type)
    destination = Destination(
        public_id=new_public_id("dst"),
        workspace=workspace,
        type=kind,
        name=check_name(name),
        config=clean_config(kind, config),
        event_filter=check_event_filter(event_filter),
        event_mapping=check_pairs(
            dict(DEFAULT_EVENT_MAPPINGS[kind]) if event_mapping is None else event_mapping,
            "event_mapping",
            "name mapping",
        ),
        property_mapping=check_property_mapping(property_mapping),
        consent_policy=check_consent_policy(kind, consent_policy),
        owner=_check_owner(workspace, owner),
        purpose=_check_purpose(purpose),
    )
    for key, value in check_autopause(autopause, _autopause_of(destination)).items():
        setattr(destination, AUTOPAUSE_FIELDS[key], value)
    if max_concurrency is not None:
        destination.max_concurrency = check_int(
            max_concurrency, "max_concurrency", 1, MAX_CONCURRENCY
        )
    cleaned_secrets = clean_secrets(kind, secrets)
    check_settings(kind, destination.config, cleaned_secrets)
    destination.secrets_encrypted = secrets_seal(destination, cleaned_secrets)
    destination.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.created",
        resource_type="destination",
        resource_id=destination.public_id,
        payload=auditable(
            {"type": kind, **_settings_of(destination), "secrets": sorted(cleaned_secrets)}
        ),
    )
    return destination


@transaction.atomic
def destination_update(
    *, workspace, actor, destination: Destination, values: dict, secrets: dict | None = None
) -> Destination:
    """Change some settings (``values``: any of ``UPDATABLE``) and secrets. ``config`` is
    merged into the stored one (a key set to "" or None is removed); a secret left empty keeps
    the stored one. ``owner`` is a member's user public id (or None); the audit entry names it
    by that id. The audit entry names each changed setting with its value before and after
    — config keys one by one — and each changed secret only as ``{"changed": true}``."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.ROUTING_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    values = dict(values or {})
    unknown = sorted(set(values) - set(UPDATABLE))
    if unknown:
        raise invalid(unknown[0], f"{unknown[0]!r} cannot be changed.")
    kind = row.type
    before = _settings_of(row)

    if "name" in values:
        row.name = check_name(values["name"])
    if "config" in values:
        if not isinstance(values["config"], dict):
            raise invalid("config", "config must be an object of the type's settings.")
        row.config = clean_config(kind, {**row.config, **values["config"]})
    if "event_filter" in values:
        row.event_filter = check_event_filter(values["event_filter"])
    if "event_mapping" in values:
        row.event_mapping = check_pairs(values["event_mapping"], "event_mapping", "name mapping")
    if "property_mapping" in values:
        row.property_mapping = check_property_mapping(values["property_mapping"])
    if "consent_policy" in values:
        row.consent_policy = check_consent_policy(kind, values["consent_policy"])
    if "autopause" in values:
        for key, value in check_autopause(values["autopause"], _autopause_of(row)).items():
            setattr(row, AUTOPAUSE_FIELDS[key], value)
    if "max_concurrency" in values:
        row.max_concurrency = check_int(
            values["max_concurrency"], "max_concurrency", 1, MAX_CONCURRENCY
        )
    if "max_attempts" in values:
        row.max_attempts = check_int(values["max_attempts"], "max_attempts", 1, MAX_ATTEMPTS)
    if "owner" in values and (values["owner"] or None) != before["owner"]:
        # Checked when it changes: an owner who has since left stays until someone is named.
        row.owner = _check_owner(workspace, values["owner"])
    if "purpose" in values:
        row.purpose = _check_purpose(values["purpose"])

    stored = destination_secrets(row)
    given = clean_secrets(kind, secrets)
    merged = {**stored, **given}
    changed_secrets = sorted(name for name, value in given.items() if stored.get(name) != value)
    check_settings(kind, row.config, merged)

    after = _settings_of(row)
    changes: dict[str, dict] = {}
    for field in UPDATABLE:
        if field == "config":
            for key in sorted(set(before["config"]) | set(after["config"])):
                old, new = before["config"].get(key), after["config"].get(key)
                if old != new:
                    changes[f"config.{key}"] = {"before": old, "after": new}
        elif field == "autopause":
            for key in AUTOPAUSE_FIELDS:
                old, new = before["autopause"][key], after["autopause"][key]
                if old != new:
                    changes[f"autopause.{key}"] = {"before": old, "after": new}
        elif before[field] != after[field]:
            changes[field] = {"before": before[field], "after": after[field]}
    for name in changed_secrets:
        changes[f"secrets.{name}"] = {"changed": True}

    if not changes:
        return row
    if changed_secrets:
        row.secrets_encrypted = secrets_seal(row, merged)
    row.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.updated",
        resource_type="destination",
        resource_id=row.public_id,
        payload=auditable({"changes": changes}),
    )
    return row


@transaction.atomic
def destination_pause(
    *, workspace, actor, destination: Destination, reason: str = ""
) -> Destination:
    """Stop sending to the destination; its deliveries wait (within the platforms' age
    limits) until it is resumed. Pausing a paused destination is a ``ConflictError``."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    if row.state == DestinationState.PAUSED:
        raise ConflictError(f"{row.name} is already paused.")
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise invalid("reason", f"Keep the reason to {REASON_MAX} characters.")
    row.state = DestinationState.PAUSED
    row.paused_at = timezone.now()
    row.paused_automatically = False
    row.paused_reason = reason or "Paused by hand."
    row.save(
        update_fields=["state", "paused_at", "paused_automatically", "paused_reason", "updated_at"]
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.paused",
        resource_type="destination",
        resource_id=row.public_id,
        payload={"automatic": False, "reason": reason},
    )
    return row


@transaction.atomic
def destination_resume(*, workspace, actor, destination: Destination) -> Destination:
    """Send again: the pause is lifted, the circuit breaker closed, and the engine told (after
    commit) that the waiting deliveries are due. Resuming an active one is a ``ConflictError``."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    if row.state != DestinationState.PAUSED:
        raise ConflictError(f"{row.name} is not paused.")
    paused_for = int((timezone.now() - row.paused_at).total_seconds()) if row.paused_at else None
    payload = {
        "was_automatic": row.paused_automatically,
        "paused_reason": row.paused_reason,
        "paused_seconds": paused_for,
    }
    row.state = DestinationState.ACTIVE
    row.paused_at = None
    row.resumed_at = timezone.now()  # auto-pause judges only what happens from here on
    row.paused_automatically = False
    row.paused_reason = ""
    row.consecutive_failures = 0
    row.circuit_open_until = None
    row.save(
        update_fields=[
            "state",
            "paused_at",
            "resumed_at",
            "paused_automatically",
            "paused_reason",
            "consecutive_failures",
            "circuit_open_until",
            "updated_at",
        ]
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.resumed",
        resource_type="destination",
        resource_id=row.public_id,
        payload=payload,
    )
    _kick_after_commit([row.pk])
    return row


def destination_test(*, workspace, actor, destination: Destination) -> dict:
    """Send one synthetic event to the platform (the engine's ``destination_test_send``) and
    return its answer: ``{"ok", "status", "error", "latency_ms"}``. Nothing is stored or
    audited."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if destination.workspace_id != workspace.pk or destination.deleted_at is not None:
        raise NotFoundError("No such destination in this workspace.")
    return delivery.destination_test_send(destination=destination)


@transaction.atomic
def destination_delete(*, workspace, actor, destination: Destination) -> Destination:
    """Soft-delete: the row stays for the history its deliveries tell, its secrets are wiped,
    nothing is sent to it again. Its pending deliveries stay pending and are skipped by the
    engine (they are counted in the audit entry)."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.ROUTING_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    pending = (
        Delivery.objects.for_workspace(workspace)
        .filter(destination_id=row.pk, status=DeliveryStatus.PENDING)
        .count()
    )
    row.deleted_at = timezone.now()
    row.secrets_encrypted = ""
    row.save(update_fields=["deleted_at", "secrets_encrypted", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.deleted",
        resource_type="destination",
        resource_id=row.public_id,
        payload={"name": row.name, "type": row.type, "pending_deliveries": pending},
    )
    return row


@transaction.atomic
def deliveries_replay(
    *, workspace, actor, destination: Destination | None = None, delivery_ids=None
) -> int:
    """Send dead letters again: each named dead delivery (``delivery_ids``), or every dead
    delivery of ``destination`` (or both: the named ones of that destination), goes back to
    pending with its attempts reset, due now. Deliveries that are not dead, of another
    workspace or of a deleted destination are left alone. One ``delivery.replayed`` entry
    records how many, which (the first 100 ids) and why they had died. Returns the count."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if destination is None and delivery_ids is None:
        raise DomainError("Name a destination or the deliveries to replay.", field="deliveries")
    if workspace.moving_to:
        raise ConflictError(
            "This workspace's data is being moved to another region; replay once the move is over."
        )
    deliveries = Delivery.objects.for_workspace(workspace).filter(status=DeliveryStatus.DEAD)
    if destination is not None:
        if destination.workspace_id != workspace.pk or destination.deleted_at is not None:
            raise NotFoundError("No such destination in this workspace.")
        deliveries = deliveries.filter(destination_id=destination.pk)
    else:
        # The destinations are in the control plane: their ids, not a join.
        live = list(
            Destination.objects.filter(workspace=workspace, deleted_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        if not live:
            return 0
        deliveries = deliveries.filter(destination_id__in=live)
    if delivery_ids is not None:
        ids = list(delivery_ids)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise DomainError("Delivery ids are whole numbers.", field="deliveries")
        if not ids:
            return 0
        deliveries = deliveries.filter(pk__in=ids)

    picked_sql, params = deliveries.values("pk").query.sql_with_params()
    table = Delivery._meta.db_table
    now = timezone.now()
    with data_atomic(workspace), connections[workspace_db(workspace)].cursor() as cursor:
        # One statement: lock the dead letters, put them back in the queue, and hand back what
        # they were — an UPDATE's RETURNING alone sees only the new values.
        cursor.execute(
            f"""
            WITH picked AS (
                SELECT id, dead_reason FROM {table}
                WHERE id IN ({picked_sql}) AND status = %s
                ORDER BY id FOR UPDATE
            )
            UPDATE {table} AS d
            SET status = %s, attempts = 0, next_attempt_at = %s, dead_reason = '',
                updated_at = %s
            FROM picked WHERE d.id = picked.id
            RETURNING d.id, d.destination_id, picked.dead_reason
            """,  # noqa: S608 - the table name is the model's; values are parameters
            [*params, DeliveryStatus.DEAD, DeliveryStatus.PENDING, now, now],
        )
        replayed = sorted(cursor.fetchall())
        if not replayed:
            return 0
        _replay_audit(workspace, actor, destination, replayed)
    _kick_after_commit({row[1] for row in replayed})
    return len(replayed)


def _replay_audit(workspace, actor, destination: Destination | None, replayed: list) -> None:
    """The ``delivery.replayed`` entry: how many, which (the first 100 ids) and why they had
    died."""
    destination_ids = {row[1] for row in replayed}
    reasons = Counter(row[2] or "(no reason recorded)" for row in replayed)
    payload = {
        "count": len(replayed),
        "deliveries": [
            {"id": pk, "dead_reason": reason} for pk, _d, reason in replayed[:REPLAY_AUDIT_IDS]
        ],
        "reasons": dict(reasons.most_common(REPLAY_AUDIT_REASONS)),
    }
    if len(replayed) > REPLAY_AUDIT_IDS:
        payload["more"] = len(replayed) - REPLAY_AUDIT_IDS
    if destination is not None or len(destination_ids) == 1:
        target = destination or Destination.objects.get(
            workspace=workspace, pk=next(iter(destination_ids))
        )
        resource_type, resource_id = "destination", target.public_id
    else:
        resource_type, resource_id = "workspace", workspace.public_id
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="delivery.replayed",
        resource_type=resource_type,
        resource_id=resource_id,
        payload=payload,
    )


@transaction.atomic
def dead_letters_replay(*, workspace, actor, destination: Destination | None = None) -> int:
    """Send again every dead letter of ``destination``, or of every live destination of the
    workspace — in one transaction, so that a refusal (an advisory lock, a permission) leaves
    none of them replayed. One ``delivery.replayed`` entry per destination that had any.
    Returns the count."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if destination is not None:
        targets = [destination]
    else:
        targets = list(
            Destination.objects.filter(workspace=workspace, deleted_at__isnull=True).order_by(
                "created_at", "pk"
            )
        )
    with data_atomic(workspace):  # the replays' region transactions are savepoints of this one
        return sum(
            deliveries_replay(workspace=workspace, actor=actor, destination=target)
            for target in targets
        )


# --- Dead letters in bulk -----------------------------------------------------------------------

BULK_ACTIONS = ("replay", "discard")
BULK_BATCH = 5_000  # rows per transaction: row locks held for one batch, not the whole action
BULK_SELECTED_MAX = 500  # ids a selection may name (the pages show 50 at a time)
BULK_AUDIT_REASONS = 20


def _refuse_if_audit_locked(workspace) -> None:
    """Refuse before the first batch, not after some have committed: a bulk action is audited
    once, with its last batch, and an advisory lock would refuse that entry."""
    if audit_locked(workspace=workspace):
        raise AuditLockedError(
            "This workspace's audit log is under an advisory lock: dead letters can be "
            "replayed or discarded once an admin lifts it."
        )


def dead_letters_bulk(
    *,
    workspace,
    actor,
    action: str,
    destination: Destination | None = None,
    reason: str | None = None,
    delivery_ids=None,
) -> int:
    """Replay or discard dead letters: the ones named (``delivery_ids``, at most 500), or every
    one matching the filters (``destination``, the reason group ``reason`` as
    ``selectors.dead_letter_groups`` names it) — 100,000 as well as 10.

    - replay: back to pending with their attempts reset, due now (deleted destinations' dead
      letters are left alone); discard: deleted with their attempts (the entry keeps the
      counts; nothing is sent).
    - In batches of 5,000 ids, each its own short transaction locking only its rows (rows
      another action holds are skipped, not waited for); the dead letters that existed when
      the action began are the most it touches.
    - One audit entry (``dead_letters.replayed`` / ``.discarded``), written in the last batch's
      transaction: the count, the filters, the counts per reason group and per destination —
      no delivery or event id. Should a batch fail after others committed, the entry is still
      written for those (``incomplete: true``) and the error raised.

    Returns how many were replayed or discarded."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if action not in BULK_ACTIONS:
        raise DomainError("Choose replay or discard.", field="action")
    if workspace.moving_to:
        raise ConflictError(
            "This workspace's data is being moved to another region; try once the move is over."
        )
    if destination is not None and destination.workspace_id != workspace.pk:
        raise NotFoundError("No such destination in this workspace.")
    if delivery_ids is not None:
        delivery_ids = list(delivery_ids)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in delivery_ids):
            raise DomainError("Delivery ids are whole numbers.", field="deliveries")
        if len(delivery_ids) > BULK_SELECTED_MAX:
            raise DomainError(
                f"Select at most {BULK_SELECTED_MAX} dead letters, or act on all that match.",
                field="deliveries",
            )
        if not delivery_ids:
            return 0
    _refuse_if_audit_locked(workspace)

    matching = dead_letters_matching(workspace=workspace, destination=destination, reason=reason)
    if action == "replay":
        # The destinations are in the control plane: their ids, not a join.
        live = Destination.objects.filter(workspace=workspace, deleted_at__isnull=True)
        matching = matching.filter(destination_id__in=list(live.values_list("pk", flat=True)))
    if delivery_ids is not None:
        matching = matching.filter(pk__in=delivery_ids)
    upto = matching.aggregate(upto=Max("pk"))["upto"]
    if upto is None:
        return 0

    done = _BulkTally(action=action, destination=destination, reason=reason)
    done.selection = "selected" if delivery_ids is not None else "matching"
    last = 0
    try:
        while True:
            with transaction.atomic(), data_atomic(workspace):
                ids = list(
                    matching.filter(pk__gt=last, pk__lte=upto)
                    .order_by("pk")
                    .values_list("pk", flat=True)[:BULK_BATCH]
                )
                if ids:
                    last = ids[-1]
                    rows = _bulk_apply(workspace, action, ids)
                    done.add(rows)
                    if action == "replay":
                        _kick_after_commit({row[1] for row in rows})
                if len(ids) < BULK_BATCH:
                    done.record(workspace, actor)
                    return done.count
    except Exception:
        if done.count and not done.recorded:
            with transaction.atomic():
                done.record(workspace, actor, incomplete=True)
        raise


def _bulk_apply(workspace, action: str, ids: list[int]) -> list[tuple]:
    """One batch: lock the still-dead rows among ``ids`` (skipping rows another action holds)
    and replay or delete them; returns ``(id, destination_id, reason group)`` of each."""
    table = Delivery._meta.db_table
    attempt_table = DeliveryAttempt._meta.db_table
    picked = f"""
        WITH picked AS (
            SELECT id, destination_id, {REASON_GROUP_SQL} AS reason FROM {table}
            WHERE id = ANY(%s) AND status = %s
            ORDER BY id FOR UPDATE SKIP LOCKED
        )
    """  # noqa: S608 - the table names are the models'; values are parameters
    params = [NO_REASON, ids, DeliveryStatus.DEAD]
    now = timezone.now()
    with connections[workspace_db(workspace)].cursor() as cursor:
        if action == "replay":
            cursor.execute(
                f"""{picked}
                UPDATE {table} AS d
                SET status = %s, attempts = 0, next_attempt_at = %s, dead_reason = '',
                    updated_at = %s
                FROM picked WHERE d.id = picked.id
                RETURNING d.id, d.destination_id, picked.reason
                """,  # noqa: S608
                [*params, DeliveryStatus.PENDING, now, now],
            )
        else:
            cursor.execute(
                f"""{picked},
                attempts AS (
                    DELETE FROM {attempt_table} WHERE delivery_id IN (SELECT id FROM picked)
                )
                DELETE FROM {table} AS d USING picked WHERE d.id = picked.id
                RETURNING d.id, d.destination_id, picked.reason
                """,  # noqa: S608
                params,
            )
        return cursor.fetchall()


class _BulkTally:
    """What a bulk action has done so far, and its one audit entry."""

    def __init__(self, *, action: str, destination: Destination | None, reason: str | None):
        self.action, self.destination, self.reason = action, destination, reason
        self.selection = "matching"
        self.count = 0
        self.batches = 0
        self.reasons: Counter = Counter()
        self.destinations: Counter = Counter()
        self.recorded = False

    def add(self, rows: list[tuple]) -> None:
        self.batches += 1
        self.count += len(rows)
        self.reasons.update(row[2] for row in rows)
        self.destinations.update(row[1] for row in rows)

    def record(self, workspace, actor, *, incomplete: bool = False) -> None:
        if not self.count:
            return
        names = dict(
            Destination.objects.filter(workspace=workspace, pk__in=self.destinations).values_list(
                "pk", "public_id"
            )
        )
        payload = {
            "count": self.count,
            "selection": self.selection,
            "filters": {
                "destination": self.destination.public_id if self.destination else None,
                "reason": self.reason or None,
            },
            "reasons": dict(self.reasons.most_common(BULK_AUDIT_REASONS)),
            "destinations": {names[pk]: n for pk, n in sorted(self.destinations.items())},
            "batches": self.batches,
        }
        if incomplete:
            payload["incomplete"] = True
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type=f"dead_letters.{'replayed' if self.action == 'replay' else 'discarded'}",
            resource_type="destination" if self.destination else "workspace",
            resource_id=self.destination.public_id if self.destination else workspace.public_id,
            payload=payload,
        )
        self.recorded = True
