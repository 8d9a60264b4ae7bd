"""Data-subject requests: create (validated, hashed, audited), run (the work, resumable),
and the suppression list. Keyword-only; the workspace and the actor come first.

No raw identifier is stored anywhere, logged or audited: the request keeps keyed hashes
(``matching.keyed``), the region keeps the SHA-256 hashes its rows already hold, and audit
entries carry types and counts.
"""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

import phonenumbers
from django.db import transaction
from django.utils import timezone

from audit.exceptions import AuditError
from audit.models import AuditEntry
from audit.selectors import audit_checkpoint_latest, audit_inclusion_proof, audit_verifier_key
from audit.services import audit_checkpoint_sign, audit_record
from privacy import pii
from privacy.models import (
    DataSubjectRequest,
    RequestStatus,
    RequestType,
    Suppression,
)
from privacy.requests import forwarding, matching, work
from privacy.requests.matching import SubjectError, SubjectHashes
from privacy.requests.receipt import FORMAT
from privacy.requests.selectors import dsr_export, dsr_get, suppressed_matcher_forget
from tracklayer.exceptions import DomainError
from tracklayer.ids import new_public_id
from workspaces import policy
from workspaces.actors import SystemActor, actor_ref
from workspaces.policy import Action
from workspaces.regions import region_db

log = logging.getLogger(__name__)

MAX_SUBJECTS = 5_000
# The role that may make and read requests: admins (see docs/privacy-requests.md).
REQUIRED_ACTION = Action.WORKSPACE_UPDATE
SYSTEM = SystemActor("privacy-requests")

# Which requests touch the region's rows, and which the suppression list.
REGION_TYPES = {RequestType.ACCESS, RequestType.DELETE, RequestType.SUPPRESS_WITH_DELETE}
DELETE_TYPES = {RequestType.DELETE, RequestType.SUPPRESS_WITH_DELETE}
SUPPRESS_TYPES = {RequestType.SUPPRESS, RequestType.SUPPRESS_WITH_DELETE}
# Days a completed access request's export stays available (its match hashes kept in the
# region); then ``dsr_access_expire`` forgets them and the export answers 410.
ACCESS_EXPORT_DAYS = 30


class RequestInputError(DomainError):
    code = "invalid_request"
    status = 400


def _field_error(error: SubjectError) -> RequestInputError:
    exc = RequestInputError(error.message, field=error.field)
    exc.code = error.code
    return exc


def region_parse(default_region) -> str | None:
    """The request's ``default_region`` (ISO 3166-1 alpha-2, upper-cased), None when not
    given, or ``RequestInputError`` naming ``default_region``."""
    if default_region is None or default_region == "":
        return None
    region = default_region.strip().upper() if isinstance(default_region, str) else None
    if not region or len(region) != 2 or region not in phonenumbers.SUPPORTED_REGIONS:
        error = RequestInputError(
            "Give an ISO 3166-1 alpha-2 country code, such as DE or US.", field="default_region"
        )
        error.code = "invalid_region"
        raise error
    return region


def _phone_hint(error: SubjectError, item, default_region) -> SubjectError:
    """A phone number refused for lacking a country code: say what to add."""
    if default_region is not None or not error.field.endswith(".phone"):
        return error
    value = item.get("phone") if isinstance(item, dict) else None
    if error.code != "invalid_phone" or not isinstance(value, str):
        return error  # not text, or text with a NUL: that error says what is wrong
    try:
        pii.hashed_for_specs("ph", value.strip())
    except pii.PIIValueError as refused:
        if refused.code == "phone_no_country_code":
            return SubjectError(
                error.field,
                "phone_no_country_code",
                "The number has no country code: write it with '+' and the country code "
                '(+49 30 1234567), or give "default_region" (e.g. "DE") with the request.',
            )
    return error


def subjects_parse(*, type: str, subject=None, subjects=None, default_region=None):
    """``(type, [SubjectHashes])`` from the request body's parts, or ``RequestInputError``
    naming the field. ``default_region`` reads phone numbers written without a country
    code."""
    default_region = region_parse(default_region)
    if not isinstance(type, str) or type not in RequestType.values:
        error = RequestInputError("One of: " + ", ".join(RequestType.values) + ".", field="type")
        error.code = "required" if type is None or type == "" else "invalid_type"
        raise error
    if subject is not None and subjects is not None:
        raise RequestInputError("Give subject or subjects, not both.", field="subjects")
    if subject is None and subjects is None:
        error = RequestInputError("Give subject (or subjects).", field="subject")
        error.code = "required"
        raise error
    if subject is not None:
        items, name = [subject], None
    else:
        if not isinstance(subjects, list):
            raise RequestInputError("Give a list of subjects.", field="subjects")
        if not subjects:
            raise RequestInputError("Give at least one subject.", field="subjects")
        if len(subjects) > MAX_SUBJECTS:
            error = RequestInputError(
                f"At most {MAX_SUBJECTS:,} subjects per request.", field="subjects"
            )
            error.code = "too_many"
            raise error
        items, name = subjects, "subjects"
    parsed = []
    for index, item in enumerate(items):
        field = "subject" if name is None else f"subjects[{index}]"
        try:
            parsed.append(matching.subject_hashes(item, field=field, default_region=default_region))
        except SubjectError as error:
            raise _field_error(_phone_hint(error, item, default_region)) from None
    return RequestType(type), parsed


def _keyed_subjects(workspace, parsed: list[SubjectHashes]) -> list[dict[str, str]]:
    key = matching.subject_key(workspace)
    return [
        {kind: matching.keyed(key, kind, digest) for kind, digest in subject.canonical.items()}
        for subject in parsed
    ]


def dsr_create(
    *,
    workspace,
    actor,
    type: str,
    subject=None,
    subjects=None,
    default_region=None,
    enqueue: bool = True,
) -> DataSubjectRequest:
    """Validate, hash and record a request; its work runs on the region's queue after commit.

    The region's working data (the match hashes; for a delete also each subject's hashes for
    its forwarding notice) is written first: if the control-plane transaction then fails, it
    is removed again, so a request never exists without it."""
    policy.authorize(workspace=workspace, actor=actor, action=REQUIRED_ACTION)
    kind, parsed = subjects_parse(
        type=type, subject=subject, subjects=subjects, default_region=default_region
    )
    keyed = _keyed_subjects(workspace, parsed)
    public_id = new_public_id("dsr")
    if kind in REGION_TYPES:
        work.subjects_place(workspace, public_id, parsed, notice=kind in DELETE_TYPES)
    try:
        request = _dsr_record(
            workspace=workspace, actor=actor, public_id=public_id, kind=kind, keyed=keyed
        )
    except Exception:
        if kind in REGION_TYPES:
            work.subjects_forget(workspace, public_id)
        raise
    if enqueue:
        from privacy.requests.tasks import dsr_enqueue

        transaction.on_commit(lambda: dsr_enqueue(request))
    return request


@transaction.atomic
def _dsr_record(*, workspace, actor, public_id, kind, keyed) -> DataSubjectRequest:
    request = DataSubjectRequest.objects.create(
        public_id=public_id,
        workspace=workspace,
        type=kind,
        subjects=keyed,
        subject_count=len(keyed),
        requested_by=actor_ref(actor),
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="privacy.request_created",
        resource_type="data_subject_request",
        resource_id=public_id,
        payload={"type": kind.value, "subjects": len(keyed)},
    )
    return request


# --- The work ---------------------------------------------------------------------------------


def dsr_run(*, request_id: str, batch_size: int = work.BATCH_SIZE, max_batches=None) -> str:
    """Carry a request on from wherever it stands; safe to run again (a redelivered task, a
    crash, a failed run retried). Returns the request's status. ``max_batches`` stops a
    delete early, leaving it ``running`` (for tests of resuming).

    A delete is forwarded downstream (``forwarding``): what forwarders need is read before
    the rows go, sent after; a destination that failed does not fail the request — its
    result says ``failed`` and a later run (the task retries, ``forwarding.RETRY_DELAYS``)
    sends to it again, and only to it."""
    request = DataSubjectRequest.objects.select_related("workspace").get(public_id=request_id)
    workspace = request.workspace
    if request.status == RequestStatus.COMPLETED:
        if workspace.moving_to:
            return request.status  # its forwarding waits for the move (the task comes back)
        if request.type in DELETE_TYPES and _to_retry(request.forwarding):
            _forward_again(request)
        _region_cleanup(request)
        return request.status
    if workspace.moving_to:
        # Its rows are being copied to another region: come back later (the task does).
        return RequestStatus.PENDING
    if request.type in REGION_TYPES and not work.subjects_present(workspace, request_id):
        # Never "completed" with nothing found because the match hashes are not there (the
        # workspace moved region after the request was made): say so; make it again.
        DataSubjectRequest.objects.filter(pk=request.pk).update(
            status=RequestStatus.FAILED, error="working_data_missing"
        )
        return RequestStatus.FAILED
    DataSubjectRequest.objects.filter(pk=request.pk).update(
        status=RequestStatus.RUNNING, started_at=request.started_at or timezone.now(), error=""
    )
    try:
        kind = RequestType(request.type)
        if kind in DELETE_TYPES:
            notice = _notice(request)
            _forwarding_save(request, forwarding.prepare(notice, request.forwarding))
            batches = 0
            while work.delete_batch(workspace, request_id, batch_size=batch_size):
                batches += 1
                if max_batches is not None and batches >= max_batches:
                    return RequestStatus.RUNNING
            counts = work.progress(workspace, request_id)
            _forwarding_save(request, _forward(notice, request.forwarding))
        elif kind == RequestType.ACCESS:
            counts = work.matches_count(workspace, request_id)
        else:
            counts = {}
        _dsr_complete(request=request, counts=counts)
    except Exception as error:
        log.exception("data-subject request %s failed", request_id)
        DataSubjectRequest.objects.filter(pk=request.pk).update(
            status=RequestStatus.FAILED, error=type(error).__name__[:300]
        )
        return RequestStatus.FAILED
    _region_cleanup(request)
    return RequestStatus.COMPLETED


def _notice(request: DataSubjectRequest) -> forwarding.ForwardingNotice:
    return forwarding.ForwardingNotice(
        request_id=request.public_id,
        request_type=request.type,
        workspace=request.workspace,
        subjects=work.notice_subjects(request.workspace, request.public_id),
    )


def _forward(notice: forwarding.ForwardingNotice, results: dict) -> dict:
    """One run of forwarding: each unfinished result sent once more (its ``attempts``
    counted); a failure after ``MAX_ATTEMPTS`` runs is given up (it stays ``failed``)."""
    sent = forwarding.forward(notice, results)
    for key, result in sent.items():
        if key in forwarding.unfinished(results):
            result["attempts"] = int(results[key].get("attempts", 0)) + 1
            if result.get("status") == forwarding.FAILED and (
                result["attempts"] >= forwarding.MAX_ATTEMPTS
            ):
                result["given_up"] = True
    return sent


def _forwarding_save(request: DataSubjectRequest, results: dict) -> None:
    request.forwarding = results
    DataSubjectRequest.objects.filter(pk=request.pk).update(forwarding=results)


def forwarding_retry_due(request: DataSubjectRequest) -> int | None:
    """Seconds until a completed delete's failed forwarding is tried again, or None (nothing
    left to try)."""
    pending = _to_retry(request.forwarding)
    if request.status != RequestStatus.COMPLETED or not pending:
        return None
    attempts = max(int(result.get("attempts", 1)) for result in pending.values())
    return forwarding.RETRY_DELAYS[min(attempts, len(forwarding.RETRY_DELAYS)) - 1]


def _to_retry(results: dict) -> dict[str, dict]:
    """The results a later run sends again: unfinished and not given up."""
    return {
        key: result
        for key, result in forwarding.unfinished(results).items()
        if not result.get("given_up")
    }


def _forward_again(request: DataSubjectRequest) -> None:
    """A completed delete's failed forwarding, sent again — outside any transaction (each
    send may wait for its timeout, and GA4 takes one request per id); then the new results
    are saved and audited together (``privacy.request_forwarded``: statuses per destination,
    never identifiers). Two runs at once may both send: a notice keeps its id and a GA4
    upsert is idempotent, and only the first to save records its results."""
    retry = _to_retry(request.forwarding)
    if not retry:
        return
    if work.subjects_present(request.workspace, request.public_id):
        sent = _forward(_notice(request), retry)
    else:
        # The region no longer holds what is to be sent (the workspace moved region): give
        # up, saying so, rather than retry for ever.
        sent = {
            key: {
                **result,
                "status": forwarding.FAILED,
                "detail": "Not sent: the request's working data left with a region move.",
                "given_up": True,
            }
            for key, result in retry.items()
        }
    _forwarding_record(request, {key: sent[key] for key in retry if key in sent})


@transaction.atomic
def _forwarding_record(request: DataSubjectRequest, changed: dict) -> None:
    locked = DataSubjectRequest.objects.select_for_update().get(pk=request.pk)
    still = forwarding.unfinished(locked.forwarding)
    # A result another run saved meanwhile stands.
    mine = {key: result for key, result in changed.items() if key in still}
    request.forwarding = {**locked.forwarding, **mine}
    if not mine:
        return
    locked.forwarding = request.forwarding
    locked.save(update_fields=["forwarding"])
    audit_record(
        workspace=request.workspace,
        actor=SYSTEM,
        event_type="privacy.request_forwarded",
        resource_type="data_subject_request",
        resource_id=request.public_id,
        payload={"forwarding": mine},
    )


def _region_cleanup(request: DataSubjectRequest) -> None:
    """A finished delete leaves nothing of its subjects in the region — once its forwarding
    is done or given up (until then the notice's hashes and the ids to send stay); an access
    request keeps its match hashes (its export is read with them, ``ACCESS_EXPORT_DAYS``)."""
    if request.type in DELETE_TYPES:
        work.progress_forget(request.workspace, request.public_id)
        if not _to_retry(request.forwarding):
            work.subjects_forget(request.workspace, request.public_id)


def _suppress(request: DataSubjectRequest) -> int:
    rows = [
        Suppression(
            workspace=request.workspace,
            kind=kind,
            keyed_hash=digest,
            created_by=request.requested_by,
            request=request,
        )
        for subject in request.subjects
        for kind, digest in subject.items()
    ]
    before = Suppression.objects.filter(workspace=request.workspace).count()
    Suppression.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    _matcher_changed(request.workspace)
    return Suppression.objects.filter(workspace=request.workspace).count() - before


def _unsuppress(request: DataSubjectRequest) -> int:
    removed = 0
    for kind in matching.KINDS:
        digests = [subject[kind] for subject in request.subjects if kind in subject]
        if digests:
            removed += Suppression.objects.filter(
                workspace=request.workspace, kind=kind, keyed_hash__in=digests
            ).delete()[0]
    _matcher_changed(request.workspace)
    return removed


def _matcher_changed(workspace) -> None:
    transaction.on_commit(lambda: suppressed_matcher_forget(workspace))
    suppressed_matcher_forget(workspace)


@transaction.atomic
def _dsr_complete(*, request: DataSubjectRequest, counts: dict) -> None:
    """Complete the request: its change of the suppression list (if any), its status and its
    ``privacy.request_completed`` entry commit together, or not at all."""
    locked = DataSubjectRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status == RequestStatus.COMPLETED:
        return
    suppressions = {}
    if request.type in SUPPRESS_TYPES:
        suppressions["added"] = _suppress(request)
    elif request.type == RequestType.UNSUPPRESS:
        suppressions["removed"] = _unsuppress(request)
    entry = audit_record(
        workspace=request.workspace,
        actor=SYSTEM,
        event_type="privacy.request_completed",
        resource_type="data_subject_request",
        resource_id=request.public_id,
        payload={
            "type": request.type,
            "subjects": request.subject_count,
            "counts": counts,
            "suppressions": suppressions,
            "forwarding": locked.forwarding,
        },
    )
    locked.status = RequestStatus.COMPLETED
    locked.counts = counts
    locked.suppressions = suppressions
    locked.finished_at = timezone.now()
    locked.audit_idx = entry.idx if isinstance(entry, AuditEntry) else None
    locked.save(update_fields=["status", "counts", "suppressions", "finished_at", "audit_idx"])


# --- Access requests' working data expires ------------------------------------------------


class ExportExpiredError(DomainError):
    code = "export_expired"
    status = 410


def export_expires_at(request: DataSubjectRequest):
    """When a completed access request's export stops being available (None: not one)."""
    if request.type != RequestType.ACCESS or request.finished_at is None:
        return None
    return request.finished_at + timedelta(days=ACCESS_EXPORT_DAYS)


def dsr_export_read(*, workspace, public_id: str) -> dict:
    """A completed access request's export while its working data is kept
    (``ACCESS_EXPORT_DAYS`` after completion), else ``ExportExpiredError`` (410)."""
    request = dsr_get(workspace=workspace, public_id=public_id)
    expires = export_expires_at(request)
    if expires is not None and expires <= timezone.now():
        raise ExportExpiredError(
            f"The export was kept {ACCESS_EXPORT_DAYS} days after the request completed; "
            "make a new access request.",
            field="id",
        )
    return {**dsr_export(workspace=workspace, public_id=public_id), "expires_at": expires}


def dsr_access_expire(*, now=None) -> int:
    """Forget the region's match hashes of access requests completed more than
    ``ACCESS_EXPORT_DAYS`` ago — every one, however long ago (a run missed for a month must
    not keep them for ever): one statement per workspace, through the working data's primary
    key. Returns the number of requests whose working data was forgotten. A workspace moving
    region is left for the next run."""
    cutoff = (now or timezone.now()) - timedelta(days=ACCESS_EXPORT_DAYS)
    expired = DataSubjectRequest.objects.filter(
        type=RequestType.ACCESS,
        status=RequestStatus.COMPLETED,
        finished_at__lte=cutoff,
        workspace__moving_to="",
    ).values_list("workspace_id", "workspace__region", "public_id")
    by_workspace: dict[tuple[int, str], list[str]] = {}
    for workspace_id, region, public_id in expired.iterator():
        by_workspace.setdefault((workspace_id, region), []).append(public_id)
    return sum(
        work.requests_forget(region_db(region), workspace_id, request_ids)
        for (workspace_id, region), request_ids in by_workspace.items()
    )


# --- The receipt ------------------------------------------------------------------------------


def dsr_receipt(*, workspace, actor, public_id: str) -> dict:
    """The receipt of a completed request: its summary, its ``privacy.request_completed``
    audit entry (canonical bytes) and that entry's inclusion proof against a signed
    checkpoint — verifiable offline (``privacy.requests.receipt``). When no checkpoint covers
    the entry yet, one is signed; while that is impossible (the entry still queued under the
    advisory lock, or the lock refusing the signing key) ``status`` is ``pending``."""
    policy.authorize(workspace=workspace, actor=actor, action=REQUIRED_ACTION)
    request = dsr_get(workspace=workspace, public_id=public_id)
    summary = {
        "id": request.public_id,
        "workspace": workspace.public_id,
        "type": request.type,
        "status": request.status,
        "subjects": request.subject_count,
        "counts": request.counts,
        "suppressions": request.suppressions,
        "forwarding": request.forwarding,
        "created_at": request.created_at.isoformat(),
        "finished_at": request.finished_at.isoformat() if request.finished_at else None,
    }
    receipt = {"format": FORMAT, "request": summary, "status": "pending"}
    if request.status != RequestStatus.COMPLETED:
        return receipt
    entry = (
        AuditEntry.objects.filter(
            workspace=workspace,
            event_type="privacy.request_completed",
            resource_id=request.public_id,
        )
        .order_by("idx")
        .first()
    )
    if entry is None:  # queued under the advisory lock
        return receipt
    checkpoint = audit_checkpoint_latest(workspace=workspace)
    if checkpoint is None or checkpoint.size <= entry.idx:
        try:
            checkpoint = audit_checkpoint_sign(workspace=workspace, actor=SYSTEM)
        except AuditError:
            log.warning("receipt of %s: no checkpoint could be signed", request.public_id)
            return receipt
    proof = audit_inclusion_proof(workspace=workspace, index=entry.idx, size=checkpoint.size)
    receipt.update(
        status="verifiable",
        entry={
            "idx": entry.idx,
            "hash": bytes(entry.hash).hex(),
            "material": base64.b64encode(bytes(entry.material)).decode(),
        },
        inclusion={
            "index": proof["index"],
            "size": proof["size"],
            "leaf_hash": bytes(proof["leaf_hash"]).hex(),
            "root": bytes(proof["root"]).hex(),
            "proof": [bytes(item).hex() for item in proof["proof"]],
        },
        checkpoint=checkpoint.note,
        verifier_key=audit_verifier_key(workspace=workspace),
    )
    return receipt
