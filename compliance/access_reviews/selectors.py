"""Reads of access reviews, always scoped to the workspace given.

``review_summary`` and ``latest_completed`` are the public contract the controls page and the
auditor package read (docs/evidence-center.md, "Access reviews")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from allauth.mfa.models import Authenticator
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from compliance.access_reviews.models import (
    Campaign,
    CampaignStatus,
    Decision,
    Item,
    Outcome,
    SubjectKind,
)
from compliance.access_reviews.periods import next_quarter_start, quarter_start
from tracklayer.exceptions import NotFoundError
from workspaces.dashboard import SIGN_IN_SSO
from workspaces.identity import selectors as identity_selectors
from workspaces.models import ApiKey, Membership
from workspaces.scim import selectors as scim_selectors

# A scheduled review is due this long after it opens.
DUE_AFTER = dt.timedelta(days=14)
# The rotation policy an API key's age is held against (the controls page's too).
KEY_MAX_AGE_DAYS = 90


# --- campaigns ------------------------------------------------------------------------------------


def campaign_list(*, workspace) -> QuerySet[Campaign]:
    return Campaign.objects.filter(workspace=workspace).select_related("opened_by", "completed_by")


def campaign_list_with_counts(*, workspace) -> QuerySet[Campaign]:
    """``campaign_list`` with ``items_count``, ``decided_count``, ``changed_count`` and
    ``removed_count`` counted by the database (the list never loads the items)."""
    return campaign_list(workspace=workspace).annotate(
        items_count=Count("items"),
        decided_count=Count("items", filter=~Q(items__decision="")),
        changed_count=Count("items", filter=Q(items__decision=Decision.CHANGE)),
        removed_count=Count("items", filter=Q(items__decision=Decision.REMOVE)),
    )


def campaign_get(*, workspace, public_id: str) -> Campaign:
    campaign = campaign_list(workspace=workspace).filter(public_id=public_id).first()
    if campaign is None:
        raise NotFoundError("No such access review in this workspace.")
    return campaign


def campaign_open(*, workspace) -> Campaign | None:
    return campaign_list(workspace=workspace).filter(status=CampaignStatus.OPEN).first()


def campaign_items(*, campaign: Campaign) -> list[Item]:
    return list(campaign.items.order_by("kind", "name", "subject_id"))


def latest_completed(*, workspace) -> Campaign | None:
    """The workspace's most recently completed campaign, or None."""
    return (
        campaign_list(workspace=workspace)
        .filter(status=CampaignStatus.COMPLETED)
        .order_by("-completed_at", "-pk")
        .first()
    )


def previous_completed(*, workspace, campaign: Campaign) -> Campaign | None:
    """The campaign completed last before ``campaign`` opened: what it is compared with."""
    return (
        campaign_list(workspace=workspace)
        .filter(status=CampaignStatus.COMPLETED, completed_at__lte=campaign.opened_at)
        .exclude(pk=campaign.pk)
        .order_by("-completed_at", "-pk")
        .first()
    )


# --- the snapshot -------------------------------------------------------------------------------


# The snapshot's fields, as hashed into ``access_review.opened`` (``Item``'s field names).
MEMBER_FIELDS = (
    *("kind", "subject_id", "name", "email", "role"),
    *("mfa", "sso", "scim", "last_login_at", "joined_at"),
)
KEY_FIELDS = (
    *("kind", "subject_id", "name", "role", "key_prefix", "key_environment"),
    *("created_at", "last_used_at", "expires_at"),
)


def items_snapshot(items) -> list[dict]:
    """The snapshot as the items hold it now: what ``subjects_snapshot`` gave at opening, unless
    a row was altered since (its SHA-256 then differs from the campaign's)."""
    subjects = [
        {
            name: getattr(item, name)
            for name in (MEMBER_FIELDS if item.kind == SubjectKind.MEMBER else KEY_FIELDS)
        }
        for item in items
    ]
    return sorted(subjects, key=lambda s: (s["kind"], s["subject_id"]))


def subjects_snapshot(*, workspace, now: dt.datetime) -> list[dict]:
    """Every member and every active API key of the workspace as a review sees them: the
    fields of ``Item``'s snapshot, sorted by kind and stable id."""
    memberships = list(
        Membership.objects.filter(workspace=workspace).select_related("user").order_by("pk")
    )
    user_ids = [m.user.public_id for m in memberships]
    with_mfa = set(
        Authenticator.objects.filter(
            type=Authenticator.Type.TOTP, user__in=[m.user_id for m in memberships]
        ).values_list("user_id", flat=True)
    )
    methods = identity_selectors.last_sign_in_methods(workspace=workspace, user_ids=user_ids)
    scim = set(
        scim_selectors.scim_user_list(workspace=workspace)
        .filter(active=True)
        .values_list("user_id", flat=True)
    )
    subjects = [
        {
            "kind": SubjectKind.MEMBER.value,
            "subject_id": m.user.public_id,
            "name": m.user.name,
            "email": m.user.email,
            "role": m.role,
            "mfa": m.user_id in with_mfa,
            "sso": methods.get(m.user.public_id) == SIGN_IN_SSO,
            "scim": m.user_id in scim,
            "last_login_at": m.user.last_login,
            "joined_at": m.created_at,
        }
        for m in memberships
    ]
    keys = ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True).order_by("pk")
    subjects += [
        {
            "kind": SubjectKind.API_KEY.value,
            "subject_id": key.public_id,
            "name": key.name,
            "role": key.role,
            "key_prefix": key.display_prefix,
            "key_environment": key.environment,
            "created_at": key.created_at,
            "last_used_at": key.last_used_at,
            "expires_at": key.expires_at,
        }
        for key in keys
        if key.state(now) in ("active", "expiring")
    ]
    return sorted(subjects, key=lambda s: (s["kind"], s["subject_id"]))


# --- what changed since the previous review -----------------------------------------------------


@dataclass
class Changes:
    """``previous``: the campaign compared with (None: this is the first review). ``added``
    and ``role_changed`` map item public ids to their change; ``removed`` lists the subjects
    the previous review kept that are gone now."""

    previous: Campaign | None
    added: list[Item] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    role_changed: list[dict] = field(default_factory=list)
    _by_item: dict | None = field(default=None, repr=False)

    def of(self, item: Item) -> str:
        """``added``, ``role_changed`` or "" for one of this campaign's items."""
        if self.previous is None:
            return ""
        if self._by_item is None:
            self._by_item = {i.pk: "added" for i in self.added} | {
                c["item"].pk: "role_changed" for c in self.role_changed
            }
        return self._by_item.get(item.pk, "")

    @property
    def count(self) -> int:
        return len(self.added) + len(self.removed) + len(self.role_changed)


def _kept_by(previous: Campaign) -> dict[tuple[str, str], tuple[str, Item]]:
    """The subjects ``previous`` left in place, with the role each had after it."""
    kept = {}
    for item in previous.items.all():
        if item.outcome in (Outcome.REMOVED, Outcome.REVOKED, Outcome.GONE):
            continue
        role = item.new_role if item.outcome == Outcome.ROLE_CHANGED else item.role
        kept[(item.kind, item.subject_id)] = (role, item)
    return kept


def changes_since_previous(*, workspace, campaign: Campaign, items=None) -> Changes:
    """Subjects added, removed and whose role changed since the previous completed review,
    by stable ids (``usr_…``, ``key_…``), compared with the state that review left (its
    removals and role changes applied): what happened outside the reviews."""
    previous = previous_completed(workspace=workspace, campaign=campaign)
    changes = Changes(previous=previous)
    if previous is None:
        return changes
    kept = _kept_by(previous)
    items = items if items is not None else campaign_items(campaign=campaign)
    seen = set()
    for item in items:
        key = (item.kind, item.subject_id)
        seen.add(key)
        if key not in kept:
            changes.added.append(item)
        elif kept[key][0] != item.role:
            changes.role_changed.append({"item": item, "before": kept[key][0], "after": item.role})
    for key, (role, item) in sorted(kept.items()):
        if key not in seen:
            changes.removed.append(
                {
                    "kind": item.kind,
                    "subject_id": item.subject_id,
                    "name": item.name,
                    "email": item.email,
                    "role": role,
                }
            )
    return changes


def key_age_days(item: Item, *, campaign: Campaign) -> int | None:
    """An API key's age when the campaign opened (the snapshot's: it never changes)."""
    if item.kind != SubjectKind.API_KEY or item.created_at is None:
        return None
    return (campaign.opened_at - item.created_at).days


def item_flags(item: Item, *, campaign: Campaign, change: str) -> list[str]:
    """Why a reviewer should look twice at an item (empty: nothing stands out): new or role
    changed since the previous review, a member without MFA, the reviewer's own access, a
    key older than the rotation policy."""
    flags = []
    if change == "added":
        flags.append("new since the previous review")
    elif change == "role_changed":
        flags.append("role changed since the previous review")
    if item.kind == SubjectKind.MEMBER and not item.mfa:
        flags.append("no MFA")
    if item.self_review:
        flags.append("self-review")
    age = key_age_days(item, campaign=campaign)
    if age is not None and age > KEY_MAX_AGE_DAYS:
        flags.append(f"older than {KEY_MAX_AGE_DAYS} days")
    return flags


# --- figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    items: int
    members: int
    api_keys: int
    decided: int
    confirmed: int
    changed: int
    removed: int
    self_reviews: int
    members_without_mfa: int

    @property
    def undecided(self) -> int:
        return self.items - self.decided

    @property
    def findings(self) -> int:
        return self.removed + self.changed + self.self_reviews + self.members_without_mfa

    def as_dict(self) -> dict:
        return {
            "items": self.items,
            "members": self.members,
            "api_keys": self.api_keys,
            "decided": self.decided,
            "confirmed": self.confirmed,
            "changed": self.changed,
            "removed": self.removed,
            "self_reviews": self.self_reviews,
            "members_without_mfa": self.members_without_mfa,
            "findings": self.findings,
        }


def campaign_counts(items) -> Counts:
    items = list(items)
    return Counts(
        items=len(items),
        members=sum(1 for i in items if i.kind == SubjectKind.MEMBER),
        api_keys=sum(1 for i in items if i.kind == SubjectKind.API_KEY),
        decided=sum(1 for i in items if i.decision),
        confirmed=sum(1 for i in items if i.decision == Decision.CONFIRM),
        changed=sum(1 for i in items if i.decision == Decision.CHANGE),
        removed=sum(1 for i in items if i.decision == Decision.REMOVE),
        self_reviews=sum(1 for i in items if i.self_review),
        members_without_mfa=sum(1 for i in items if i.kind == SubjectKind.MEMBER and not i.mfa),
    )


def next_due(*, workspace, now: dt.datetime | None = None) -> dt.date:
    """When the workspace's next review is due: the open one's due date; else, when this
    quarter has had a review, 14 days into the next quarter (the schedule opens it on its first
    day); else 14 days from today (the schedule opens it today)."""
    now = now or timezone.now()
    current = campaign_open(workspace=workspace)
    if current is not None:
        return current.due_at.date()
    reviewed = (
        Campaign.objects.filter(workspace=workspace, opened_at__gte=quarter_start(now))
        .exclude(status=CampaignStatus.CANCELLED)
        .exists()
    )
    start = next_quarter_start(now) if reviewed else now
    return (start + DUE_AFTER).date()


def campaign_url(campaign: Campaign) -> str:
    return reverse(
        "access_reviews:detail",
        kwargs={"slug": campaign.workspace.slug, "campaign_id": campaign.public_id},
    )


def review_summary(*, workspace) -> dict | None:
    """The latest completed review in figures, for the controls page (None before any):
    ``completed_at``, ``reviewer_name``, ``confirmed``, ``changed``, ``removed``,
    ``findings`` (removed + changed + self-reviews + members without MFA), ``next_due`` (a
    date) and ``url`` (the campaign's page)."""
    campaign = latest_completed(workspace=workspace)
    if campaign is None:
        return None
    counts = campaign_counts(campaign.items.all())
    return {
        "completed_at": campaign.completed_at,
        "reviewer_name": campaign.completed_by_name,
        "confirmed": counts.confirmed,
        "changed": counts.changed,
        "removed": counts.removed,
        "findings": counts.findings,
        "next_due": next_due(workspace=workspace),
        "url": campaign_url(campaign),
    }
