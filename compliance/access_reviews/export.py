"""A campaign as a document: JSON (RFC 8785 canonical bytes) and CSV.

Guarantees: ``review_json`` of a completed campaign is byte for byte the document whose
SHA-256 its ``access_review.completed`` audit entry holds (``result_sha256``) — it reads only
what the campaign recorded (the snapshot, the decisions, the outcomes, and the previous
completed review's items, none of which change after completion), never live data; the CSV
holds the same rows, one per subject, plus one per subject removed since the previous review.
"""

from __future__ import annotations

import csv
import io

from audit.canonical import canonical_json, rfc3339
from compliance.access_reviews import selectors
from compliance.access_reviews.models import Campaign, Item, SubjectKind

FORMAT = "tracklayer.access_review/1"
CSV_COLUMNS = (
    "campaign",
    "period",
    "kind",
    "subject_id",
    "name",
    "email",
    "role",
    "mfa",
    "sso",
    "scim",
    "last_login_at",
    "joined_at",
    "key_prefix",
    "key_created_at",
    "key_last_used_at",
    "key_age_days",
    "change_since_previous",
    "decision",
    "new_role",
    "comment",
    "decided_by",
    "decided_at",
    "self_review",
    "outcome",
)


def _time(moment) -> str | None:
    return rfc3339(moment) if moment is not None else None


def _item(item: Item, *, campaign: Campaign, change: str) -> dict:
    row = {
        "id": item.public_id,
        "kind": item.kind,
        "subject_id": item.subject_id,
        "name": item.name,
        "role": item.role,
        "change_since_previous": change or None,
        "decision": item.decision or None,
        "new_role": item.new_role or None,
        "comment": item.comment,
        "decided_by": (
            {"id": item.decided_by_public_id, "name": item.decided_by_name}
            if item.decided_at
            else None
        ),
        "decided_at": _time(item.decided_at),
        "self_review": item.self_review,
        "outcome": item.outcome or None,
    }
    if item.kind == SubjectKind.MEMBER:
        row |= {
            "email": item.email,
            "mfa": item.mfa,
            "sso": item.sso,
            "scim": item.scim,
            "last_login_at": _time(item.last_login_at),
            "joined_at": _time(item.joined_at),
        }
    else:
        row |= {
            "prefix": item.key_prefix,
            "environment": item.key_environment,
            "created_at": _time(item.created_at),
            "last_used_at": _time(item.last_used_at),
            "expires_at": _time(item.expires_at),
            # Age when the campaign opened: the snapshot's, so the document never changes.
            "age_days": (campaign.opened_at - item.created_at).days if item.created_at else None,
        }
    return row


def review_document(campaign: Campaign) -> dict:
    """The campaign, its items and what changed since the previous review (JSON-ready)."""
    workspace = campaign.workspace
    items = selectors.campaign_items(campaign=campaign)
    changes = selectors.changes_since_previous(workspace=workspace, campaign=campaign, items=items)
    counts = selectors.campaign_counts(items)
    return {
        "format": FORMAT,
        # The id only: a name can change, and the document must not.
        "workspace": {"id": workspace.public_id},
        "campaign": {
            "id": campaign.public_id,
            "period": campaign.period,
            "trigger": campaign.trigger,
            "status": campaign.status,
            "opened_at": _time(campaign.opened_at),
            "opened_by": campaign.opened_by_label,
            "due_at": _time(campaign.due_at),
            "completed_at": _time(campaign.completed_at),
            "completed_by": (
                {
                    "id": campaign.completed_by_public_id or None,
                    "name": campaign.completed_by_name,
                }
                if campaign.completed_at
                else None
            ),
            "cancelled_at": _time(campaign.cancelled_at),
            "snapshot_sha256": campaign.snapshot_sha256,
        },
        "counts": counts.as_dict(),
        "changes_since_previous": {
            "previous_campaign": changes.previous.public_id if changes.previous else None,
            "previous_completed_at": _time(changes.previous.completed_at)
            if changes.previous
            else None,
            "added": [item.subject_id for item in changes.added],
            "removed": changes.removed,
            "role_changed": [
                {
                    "subject_id": change["item"].subject_id,
                    "kind": change["item"].kind,
                    "before": change["before"],
                    "after": change["after"],
                }
                for change in changes.role_changed
            ],
        },
        "items": [_item(item, campaign=campaign, change=changes.of(item)) for item in items],
    }


# The export's names for the snapshot fields it renames (``Item``'s name → the document's).
_DOCUMENT_NAMES = {"key_prefix": "prefix", "key_environment": "environment"}


def snapshot_from_document(document: dict) -> list[dict]:
    """The snapshot hashed into ``access_review.opened``, rebuilt from an exported document
    alone (parsed JSON): the SHA-256 of its canonical JSON (RFC 8785) is the campaign's
    ``snapshot_sha256``. What an auditor does to check that the list reviewed is the list taken
    when the review opened (docs/evidence-center.md, "Exports")."""
    subjects = [
        {
            name: item[_DOCUMENT_NAMES.get(name, name)]
            for name in (
                selectors.MEMBER_FIELDS
                if item["kind"] == SubjectKind.MEMBER
                else selectors.KEY_FIELDS
            )
        }
        for item in document["items"]
    ]
    return sorted(subjects, key=lambda s: (s["kind"], s["subject_id"]))


def review_json(campaign: Campaign) -> bytes:
    """The document's canonical JSON (RFC 8785): the bytes ``result_sha256`` is taken over."""
    return canonical_json(review_document(campaign))


def _cell(value) -> str:
    if value is None:
        return ""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    text = str(value)
    # A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def review_csv(campaign: Campaign) -> bytes:
    """One row per subject (and per subject removed since the previous review), UTF-8."""
    document = review_document(campaign)
    meta = document["campaign"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in document["items"]:
        decided_by = item["decided_by"] or {}
        writer.writerow(
            _cell(v)
            for v in (
                meta["id"],
                meta["period"],
                item["kind"],
                item["subject_id"],
                item["name"],
                item.get("email"),
                item["role"],
                item.get("mfa"),
                item.get("sso"),
                item.get("scim"),
                item.get("last_login_at"),
                item.get("joined_at"),
                item.get("prefix"),
                item.get("created_at"),
                item.get("last_used_at"),
                item.get("age_days"),
                item["change_since_previous"],
                item["decision"],
                item["new_role"],
                item["comment"],
                decided_by.get("name"),
                item["decided_at"],
                item["self_review"],
                item["outcome"],
            )
        )
    for gone in document["changes_since_previous"]["removed"]:
        row = dict.fromkeys(CSV_COLUMNS)
        row |= {
            "campaign": meta["id"],
            "period": meta["period"],
            "kind": gone["kind"],
            "subject_id": gone["subject_id"],
            "name": gone["name"],
            "email": gone["email"] or None,
            "role": gone["role"],
            "change_since_previous": "removed",
        }
        writer.writerow(_cell(row[column]) for column in CSV_COLUMNS)
    return out.getvalue().encode("utf-8")
