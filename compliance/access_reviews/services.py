"""Access review campaigns: open (on demand or on the quarterly schedule), decide each item,
complete (which applies the decisions) or cancel. Keyword-only; workspace and actor first.

Guarantees:

- Every change writes one audit entry in its own transaction: ``access_review.opened`` (with
  the snapshot's SHA-256), ``access_review.decided``, ``access_review.completed`` (the counts
  and the SHA-256 of the result document, ``export.review_json``), ``access_review.cancelled``.
  Payloads carry ids, roles, decisions and counts; comments by SHA-256 and length only.
- Completing applies every decision through the workspaces services — ``membership_change_role``,
  ``membership_remove``, ``api_key_revoke`` — each writing its own entry, all in the one
  transaction of the completion: every decision lands, or none does.
- It is refused while an item is undecided, and when the decisions would leave the workspace
  without an admin (the last-admin rule, ``workspaces.services.admins_lock``); a decision that
  would already do so is refused on its own.
- A reviewer deciding on their own membership is marked ``self_review`` (shown, exported and
  counted among the findings): segregation of duties is for the auditor to see.
- Admins only (``REVIEW_ACTION``); everyone who may read the audit log reads reviews.
- One open campaign per workspace and one scheduled campaign per quarter (database
  constraints): the daily schedule can run twice, or on two workers, and opens one.
- Access reviews change access, so their entries are refused, not queued, under the audit
  log's advisory lock (``audit.advisory``): the schedule skips a locked workspace that day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.canonical import canonical_json
from audit.services import audit_record
from compliance.access_reviews import selectors
from compliance.access_reviews.exceptions import AccessReviewInvalidError
from compliance.access_reviews.export import review_json
from compliance.access_reviews.models import (
    Campaign,
    CampaignStatus,
    Decision,
    Item,
    Outcome,
    SubjectKind,
    Trigger,
)
from compliance.access_reviews.periods import quarter_label, quarter_start
from tracklayer.exceptions import ConflictError, DomainError, NotFoundError
from workspaces import policy
from workspaces.actors import SystemActor, actor_ref
from workspaces.exceptions import LastAdminError
from workspaces.models import ApiKey, Membership, Role, User, Workspace
from workspaces.policy import Action
from workspaces.services import (
    admins_lock,
    api_key_revoke,
    membership_change_role,
    membership_remove,
)

log = logging.getLogger(__name__)

SCHEDULE = SystemActor("access_reviews")
# Deciding and completing: admins (the same authority that changes roles and removes members;
# the applying services ask for MEMBER_REMOVE and API_KEY_MANAGE themselves).
REVIEW_ACTION = Action.MEMBER_CHANGE_ROLE
VIEW_ACTION = Action.AUDIT_VIEW
DUE_DAYS_MAX = 90
COMMENT_MAX = 2_000
LAST_ADMIN = "A workspace needs at least one admin: keep one admin in this review."


def _invalid(field: str, message: str) -> AccessReviewInvalidError:
    return AccessReviewInvalidError(message, field=field)


def _text_digest(text: str) -> dict:
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "length": len(text)}


def _audit(campaign: Campaign, *, actor, event_type: str, payload: dict) -> None:
    audit_record(
        workspace=campaign.workspace,
        actor=actor,
        event_type=event_type,
        resource_type="access_review",
        resource_id=campaign.public_id,
        payload=payload,
    )


def _locked_open(*, workspace: Workspace, campaign: Campaign) -> Campaign:
    row = (
        Campaign.objects.select_for_update()
        .select_related("workspace")
        .filter(workspace=workspace, pk=campaign.pk)
        .first()
    )
    if row is None:
        raise NotFoundError("No such access review in this workspace.")
    if row.status != CampaignStatus.OPEN:
        raise ConflictError(f"This review is {row.get_status_display().lower()}.")
    return row


def snapshot_sha256(subjects: list[dict]) -> str:
    """SHA-256 of the snapshot's canonical JSON (RFC 8785), subjects sorted by kind and id."""
    return hashlib.sha256(canonical_json(subjects)).hexdigest()


# --- opening ------------------------------------------------------------------------------------


def _check_due(due_at, *, now: dt.datetime) -> dt.datetime:
    if isinstance(due_at, dt.date) and not isinstance(due_at, dt.datetime):
        due_at = dt.datetime.combine(due_at, dt.time(23, 59, 59), tzinfo=dt.UTC)
    if not isinstance(due_at, dt.datetime) or due_at.tzinfo is None:
        raise _invalid("due_at", "Give a due date.")
    if due_at <= now:
        raise _invalid("due_at", "The due date must be in the future.")
    if due_at > now + dt.timedelta(days=DUE_DAYS_MAX):
        raise _invalid("due_at", f"Keep the due date within {DUE_DAYS_MAX} days.")
    return due_at


@transaction.atomic
def access_review_open(
    *, workspace: Workspace, actor, due_at=None, trigger: str = Trigger.ON_DEMAND, now=None
) -> Campaign:
    """Open a campaign over every member and every active API key, as they are now (the
    snapshot, hashed into the ``access_review.opened`` entry). ``due_at`` defaults to 14 days
    from now; a date means the end of that day (UTC). One open campaign at a time."""
    policy.authorize(workspace=workspace, actor=actor, action=REVIEW_ACTION)
    if trigger not in Trigger.values:
        raise _invalid("trigger", "One of: " + ", ".join(Trigger.values) + ".")
    now = now or timezone.now()
    due_at = _check_due(due_at or now + selectors.DUE_AFTER, now=now)
    subjects = selectors.subjects_snapshot(workspace=workspace, now=now)
    digest = snapshot_sha256(subjects)
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(
                workspace=workspace,
                trigger=trigger,
                period=quarter_label(now),
                opened_at=now,
                opened_by=actor if isinstance(actor, User) else None,
                opened_by_label=actor_ref(actor),
                due_at=due_at,
                snapshot_sha256=digest,
            )
    except IntegrityError:
        raise ConflictError(
            "An access review is open already: complete or cancel it first."
        ) from None
    Item.objects.bulk_create(Item(campaign=campaign, **subject) for subject in subjects)
    counts = selectors.campaign_counts(campaign.items.all())
    _audit(
        campaign,
        actor=actor,
        event_type="access_review.opened",
        payload={
            "trigger": trigger,
            "period": campaign.period,
            "due_at": due_at,
            "members": counts.members,
            "api_keys": counts.api_keys,
            "snapshot_sha256": digest,
        },
    )
    return campaign


def access_review_open_scheduled(*, workspace: Workspace, now=None) -> Campaign | None:
    """The quarterly schedule, for one workspace: open a campaign (due in 14 days) when the
    current calendar quarter has none and none is open, and e-mail the workspace's admins.
    Idempotent: None when there is nothing to open (or another run opened it first)."""
    now = now or timezone.now()
    if workspace.deleted_at is not None:
        return None
    if (
        Campaign.objects.filter(workspace=workspace)
        .filter(opened_at__gte=quarter_start(now))
        .exclude(status=CampaignStatus.CANCELLED)
        .exists()
        or Campaign.objects.filter(workspace=workspace, status=CampaignStatus.OPEN).exists()
    ):
        return None
    try:
        with transaction.atomic():
            campaign = access_review_open(
                workspace=workspace, actor=SCHEDULE, trigger=Trigger.SCHEDULED, now=now
            )
            # robust: a mail server that refuses is logged; the review is open all the same
            # (and the schedule will not open it again to retry the mail).
            transaction.on_commit(lambda: _mail_admins(campaign), robust=True)
    except ConflictError:
        # Another run (or an admin) opened one between our look and our insert, or this
        # quarter's scheduled campaign was cancelled: an admin then opens one on demand.
        return None
    return campaign


def _mail_admins(campaign: Campaign) -> None:
    workspace = campaign.workspace
    recipients = sorted(
        Membership.objects.filter(workspace=workspace, role=Role.ADMIN)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return
    url = settings.TRACKLAYER_BASE_URL + selectors.campaign_url(campaign)
    send_mail(
        subject=f"[TrackLayer] {workspace.name}: access review {campaign.period} is open",
        message=(
            f"The quarterly access review of {workspace.name} is open: confirm, change or "
            f"remove each member and API key by {campaign.due_at:%d %B %Y}.\n\n{url}\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )


# --- deciding -----------------------------------------------------------------------------------


def _clean_comment(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid("comment", "Give text.")
    if "\x00" in value:
        raise _invalid("comment", "Remove the NUL character.")
    value = value.strip()
    if len(value) > COMMENT_MAX:
        raise _invalid("comment", f"Keep it to {COMMENT_MAX} characters.")
    return value


def _admins_after(*, workspace: Workspace, items: list[Item]) -> set[str]:
    """The user ids that would be admins once ``items``' decisions are applied to the
    workspace's members as they are now."""
    admins = set(
        Membership.objects.filter(workspace=workspace, role=Role.ADMIN).values_list(
            "user__public_id", flat=True
        )
    )
    for item in items:
        if item.kind != SubjectKind.MEMBER or not item.decision:
            continue
        if item.decision == Decision.REMOVE:
            admins.discard(item.subject_id)
        elif item.decision == Decision.CHANGE:
            if item.new_role == Role.ADMIN:
                if Membership.objects.filter(
                    workspace=workspace, user__public_id=item.subject_id
                ).exists():
                    admins.add(item.subject_id)
            else:
                admins.discard(item.subject_id)
    return admins


def _check_decision(item: Item, *, decision, new_role, comment: str) -> str:
    if decision not in Decision.values:
        raise _invalid("decision", "Choose confirm, change or remove.")
    if decision == Decision.CHANGE:
        if item.kind == SubjectKind.API_KEY:
            raise _invalid(
                "decision",
                "An API key's role cannot be changed: remove (revoke) it and create another.",
            )
        if new_role not in Role.values:
            raise _invalid("new_role", "Choose the new role: admin, editor or viewer.")
        if new_role == item.role:
            raise _invalid("new_role", f"This member is {item.role} already: confirm instead.")
    elif new_role not in (None, ""):
        raise _invalid("new_role", "A new role goes with “change” only.")
    if decision != Decision.CONFIRM and not comment:
        raise _invalid("comment", "Say why: a comment is required to change or remove.")
    return new_role if decision == Decision.CHANGE else ""


@transaction.atomic
def access_review_decide(
    *,
    workspace: Workspace,
    actor,
    campaign: Campaign,
    item_id: str,
    decision: str,
    new_role: str | None = None,
    comment: str | None = "",
) -> Item:
    """Record the reviewer's decision on one item (again: the last one counts). ``change``
    needs a new role (members only: a key's role cannot change), ``change`` and ``remove`` a
    comment. Nothing is applied until the campaign completes."""
    policy.authorize(workspace=workspace, actor=actor, action=REVIEW_ACTION)
    campaign = _locked_open(workspace=workspace, campaign=campaign)
    item = campaign.items.filter(public_id=item_id if isinstance(item_id, str) else "").first()
    if item is None:
        raise _invalid("item", "No such item in this review.")
    comment = _clean_comment(comment)
    new_role = _check_decision(item, decision=decision, new_role=new_role, comment=comment)
    previous = item.decision or None
    item.decision, item.new_role, item.comment = decision, new_role, comment
    items = [item if other.pk == item.pk else other for other in campaign.items.all()]
    if not _admins_after(workspace=workspace, items=items):
        raise LastAdminError(LAST_ADMIN, field="decision")
    reviewer = actor.public_id if isinstance(actor, User) else None
    item.self_review = item.kind == SubjectKind.MEMBER and item.subject_id == reviewer
    item.decided_by = actor if isinstance(actor, User) else None
    item.decided_by_public_id = actor.public_id if isinstance(actor, User) else ""
    item.decided_by_name = actor.display_name if isinstance(actor, User) else actor_ref(actor)
    item.decided_at = timezone.now()
    item.save()
    _audit(
        campaign,
        actor=actor,
        event_type="access_review.decided",
        payload={
            "item": item.public_id,
            "kind": item.kind,
            "subject": item.subject_id,
            "role": item.role,
            "decision": decision,
            "new_role": new_role or None,
            "previous_decision": previous,
            "comment": _text_digest(comment),
            "self_review": item.self_review,
        },
    )
    return item


@transaction.atomic
def access_review_confirm_unchanged(*, workspace: Workspace, actor, campaign: Campaign) -> int:
    """Confirm, in one step, every undecided item unchanged since the previous review (not
    added, same role) — except the reviewer's own membership, which they decide one by one.
    One ``access_review.decided`` entry lists them. Refused when there is no previous review
    (nothing can be unchanged) or nothing to confirm."""
    policy.authorize(workspace=workspace, actor=actor, action=REVIEW_ACTION)
    campaign = _locked_open(workspace=workspace, campaign=campaign)
    items = selectors.campaign_items(campaign=campaign)
    changes = selectors.changes_since_previous(workspace=workspace, campaign=campaign, items=items)
    if changes.previous is None:
        raise ConflictError("This is the first review: every item is new, decide each one.")
    own = actor.public_id if isinstance(actor, User) else None
    chosen = [
        item
        for item in items
        if not item.decision and not changes.of(item) and item.subject_id != own
    ]
    if not chosen:
        raise ConflictError("No undecided item is unchanged since the previous review.")
    # One statement: every chosen item gets the same decision, decider and time.
    Item.objects.filter(campaign=campaign, pk__in=[item.pk for item in chosen]).update(
        decision=Decision.CONFIRM,
        new_role="",
        comment="",
        decided_by=actor if isinstance(actor, User) else None,
        decided_by_public_id=own or "",
        decided_by_name=actor.display_name if isinstance(actor, User) else actor_ref(actor),
        decided_at=timezone.now(),
        self_review=False,
    )
    _audit(
        campaign,
        actor=actor,
        event_type="access_review.decided",
        payload={
            "bulk": "unchanged_since_previous",
            "previous_campaign": changes.previous.public_id,
            "decision": Decision.CONFIRM.value,
            "items": [item.public_id for item in chosen],
        },
    )
    return len(chosen)


# --- completing ---------------------------------------------------------------------------------


def _apply(item: Item, *, workspace: Workspace, actor) -> str:
    """Carry out one decision through the workspaces services; returns the outcome."""
    if item.decision == Decision.CONFIRM:
        return Outcome.KEPT
    if item.kind == SubjectKind.API_KEY:
        key = ApiKey.objects.filter(workspace=workspace, public_id=item.subject_id).first()
        if key is None or key.revoked_at is not None:
            return Outcome.GONE
        api_key_revoke(workspace=workspace, actor=actor, key=key)
        return Outcome.REVOKED
    membership = Membership.objects.filter(
        workspace=workspace, user__public_id=item.subject_id
    ).first()
    if membership is None:
        return Outcome.GONE
    if item.decision == Decision.REMOVE:
        membership_remove(workspace=workspace, actor=actor, membership=membership)
        return Outcome.REMOVED
    if membership.role == item.new_role:
        return Outcome.KEPT
    membership_change_role(
        workspace=workspace, actor=actor, membership=membership, role=item.new_role
    )
    return Outcome.ROLE_CHANGED


def _order(item: Item, *, reviewer: str | None) -> int:
    """Promotions first, so that a demotion in the same review never meets the last-admin rule
    while the new admin is still waiting; the reviewer's own membership last, so that their
    stepping down (or leaving) does not take away the authority the other decisions are
    applied with."""
    if item.kind == SubjectKind.MEMBER and item.subject_id == reviewer:
        return 2
    return 0 if item.decision == Decision.CHANGE and item.new_role == Role.ADMIN else 1


@transaction.atomic
def access_review_complete(*, workspace: Workspace, actor, campaign: Campaign) -> Campaign:
    """Apply every decision and close the campaign, recording who completed it, when, the
    counts and the SHA-256 of the result document. Refused while an item is undecided and
    when the decisions would leave no admin."""
    policy.authorize(workspace=workspace, actor=actor, action=REVIEW_ACTION)
    campaign = _locked_open(workspace=workspace, campaign=campaign)
    items = selectors.campaign_items(campaign=campaign)
    undecided = sum(1 for item in items if not item.decision)
    if undecided:
        raise ConflictError(
            f"{undecided} item{'s' if undecided != 1 else ''} still undecided: decide each "
            "before completing."
        )
    if snapshot_sha256(selectors.items_snapshot(items)) != campaign.snapshot_sha256:
        # A row changed behind the services' back: what was decided is not what was opened.
        log.error("access review %s: its items no longer match its snapshot", campaign.public_id)
        raise ConflictError(
            "This review's items no longer match the snapshot taken when it opened: nothing "
            "was applied. Cancel it and open another."
        )
    admins_lock(workspace=workspace)  # no one else removes or demotes an admin meanwhile
    if not _admins_after(workspace=workspace, items=items):
        raise LastAdminError(LAST_ADMIN)
    reviewer = actor.public_id if isinstance(actor, User) else None
    for item in sorted(items, key=lambda item: _order(item, reviewer=reviewer)):
        item.outcome = _apply(item, workspace=workspace, actor=actor)
    Item.objects.bulk_update(items, ["outcome"])
    now = timezone.now()
    campaign.status = CampaignStatus.COMPLETED
    campaign.completed_at = now
    campaign.completed_by = actor if isinstance(actor, User) else None
    campaign.completed_by_name = actor.display_name if isinstance(actor, User) else actor_ref(actor)
    campaign.completed_by_public_id = actor.public_id if isinstance(actor, User) else ""
    campaign.result_sha256 = ""  # set below, over the document as completed
    campaign.save(
        update_fields=[
            *("status", "completed_at", "completed_by"),
            *("completed_by_name", "completed_by_public_id"),
        ]
    )
    campaign.result_sha256 = hashlib.sha256(review_json(campaign)).hexdigest()
    campaign.save(update_fields=["result_sha256"])
    counts = selectors.campaign_counts(items)
    _audit(
        campaign,
        actor=actor,
        event_type="access_review.completed",
        payload={
            "period": campaign.period,
            "counts": counts.as_dict(),
            "snapshot_sha256": campaign.snapshot_sha256,
            "result_sha256": campaign.result_sha256,
        },
    )
    return campaign


@transaction.atomic
def access_review_cancel(*, workspace: Workspace, actor, campaign: Campaign) -> Campaign:
    """Close an open campaign without applying anything (its decisions stay on record)."""
    policy.authorize(workspace=workspace, actor=actor, action=REVIEW_ACTION)
    campaign = _locked_open(workspace=workspace, campaign=campaign)
    campaign.status = CampaignStatus.CANCELLED
    campaign.cancelled_at = timezone.now()
    campaign.save(update_fields=["status", "cancelled_at"])
    counts = selectors.campaign_counts(campaign.items.all())
    _audit(
        campaign,
        actor=actor,
        event_type="access_review.cancelled",
        payload={"period": campaign.period, "decided": counts.decided, "items": counts.items},
    )
    return campaign


def access_reviews_open_due(*, now=None) -> dict:
    """The daily run: ``access_review_open_scheduled`` for every active workspace, each in its
    own transaction; a workspace that cannot (its log under the advisory lock) is skipped and
    tried again the next day."""
    now = now or timezone.now()
    opened, failed = 0, []
    for workspace in Workspace.objects.active().order_by("pk"):
        try:
            with transaction.atomic():
                if access_review_open_scheduled(workspace=workspace, now=now) is not None:
                    opened += 1
        except DomainError as error:  # its log under the advisory lock, say
            log.warning(
                "access review for workspace %s not opened: %s", workspace.public_id, error.message
            )
            failed.append(workspace.public_id)
        except Exception:  # one workspace's failure must not stop the others
            log.exception("access review for workspace %s not opened", workspace.public_id)
            failed.append(workspace.public_id)
    return {"opened": opened, "failed": failed}
