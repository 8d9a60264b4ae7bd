"""The live evidence behind each control, and the controls evaluated against it (reads only).

Each evidence function reads one source through its app's selectors and answers a plain,
JSON-serialisable dict::

    {"key", "title", "status" (met | attention | na), "reason",
     "figures": [{"label", "value"}], "items": [{"label", "detail", "url"}],
     "links": [{"label", "url", "action"}]}

``items`` name what needs attention (a key, an admin, an incident) or what proves the control
(a deletion receipt); ``links`` go to the page where the evidence lives, with the policy
action that page needs (the view hides a link the member could not follow).

Query budget: ``controls_evaluate`` reads each source once, however many controls use it,
and no source reads per member, key, request or incident — the page makes the same number of
queries for a workspace of 2 members as for one of 200 (tests/compliance/controls).

A source whose database fails is "could not be read" (``_read``), never the whole page.
"""

import datetime as dt
import logging

from django.db import Error as DatabaseError
from django.db import transaction
from django.db.models import Count, F, FloatField, Func, Q
from django.db.models.aggregates import Aggregate
from django.urls import reverse
from django.utils import timezone

from audit import selectors as audit_selectors
from audit.export import audit_export_config_get
from compliance.access_reviews import selectors as review_selectors
from compliance.controls.catalogue import (
    ATTENTION,
    CONTROLS,
    FRAMEWORKS,
    MET,
    NOT_APPLICABLE,
    STATUS_LABELS,
    STATUSES,
)
from compliance.inventory import selectors as inventory_selectors
from destinations.metrics import (
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_RECEIVED,
    EVENTS_REJECTED,
)
from destinations.metrics.selectors import figures_totals
from destinations.retention import selectors as retention_selectors
from destinations.tracking_plans import selectors as tracking_plan_selectors
from monitoring.incidents import selectors as incident_selectors
from privacy.models import RequestStatus, RequestType
from privacy.requests import selectors as dsr_selectors
from workspaces import selectors as workspace_selectors
from workspaces.identity import selectors as identity_selectors
from workspaces.policy import Action
from workspaces.sso import selectors as sso_selectors

log = logging.getLogger(__name__)

# The policies the evidence is measured against (docs/evidence-center.md, "Controls").
KEY_ROTATION_DAYS = 90
VERIFICATION_MAX_AGE = dt.timedelta(days=2)  # verified daily (beat "audit-verify"), one miss
PURGE_MAX_AGE = dt.timedelta(days=2)  # purged hourly (beat "events-purge")
EXPORT_MAX_AGE = dt.timedelta(days=8)  # exported weekly at the earliest
DELETION_DEADLINE = dt.timedelta(days=30)  # GDPR Art. 12(3): one month
INCIDENT_WINDOW = dt.timedelta(days=365)
FIGURES_WINDOW = dt.timedelta(days=30)
# How many named things one evidence item lists (the figures count them all).
ITEMS_SHOWN = 10
DELETION_TYPES = (RequestType.DELETE, RequestType.SUPPRESS_WITH_DELETE)
# Each source's heading (also when it could not be read).
TITLES = {
    "access_review": "Last access review",
    "mfa_sso": "MFA and SSO coverage",
    "api_keys": f"API key ages ({KEY_ROTATION_DAYS}-day rotation)",
    "audit_integrity": "Audit log verification and checkpoints",
    "audit_export": "Offline copies of the audit log",
    "deletion_requests": "Deletion requests and their receipts",
    "retention": "Retention windows and the last purge",
    "incidents": "Incidents and their containment (1-hour target)",
    "inventory": "Destination inventory",
    "input_validation": "Schema validation and de-duplication",
}


def _evidence(key: str, title: str, status: str, reason: str, **rest) -> dict:
    return {
        "key": key,
        "title": title,
        "status": status,
        "status_label": STATUS_LABELS[status],
        "reason": reason,
        "figures": rest.get("figures", []),
        "items": rest.get("items", []),
        "links": rest.get("links", []),
    }


def _figure(label: str, value) -> dict:
    return {"label": label, "value": value}


def _link(label: str, name: str, workspace, action: Action, *args) -> dict:
    return {
        "label": label,
        "url": reverse(name, args=[workspace.slug, *args]),
        "action": str(action),
    }


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _days(delta: dt.timedelta) -> int:
    return max(0, delta.days)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower().rstrip(".")


def _names(values: list[str], total: int | None = None) -> str:
    """The first ITEMS_SHOWN of ``values``, and how many more (of ``total``, when only
    the first were read)."""
    shown = ", ".join(values[:ITEMS_SHOWN])
    more = (len(values) if total is None else total) - min(len(values), ITEMS_SHOWN)
    return f"{shown} and {more} more" if more > 0 else shown


# --- Evidence, one function per source ----------------------------------------------------------


def access_review(workspace, now: dt.datetime) -> dict:
    summary = review_selectors.review_summary(workspace=workspace)
    title = TITLES["access_review"]
    reviews = _link("Access reviews", "access_reviews:list", workspace, Action.AUDIT_VIEW)
    if summary is None:
        return _evidence(
            "access_review",
            title,
            ATTENTION,
            "No access review has been completed: members and API keys have never been reviewed.",
            links=[reviews],
        )
    completed = summary["completed_at"]
    due = summary["next_due"]
    figures = [
        _figure("Completed", _when(completed)),
        _figure("Reviewer", summary["reviewer_name"]),
        _figure("Confirmed", summary["confirmed"]),
        _figure("Changed", summary["changed"]),
        _figure("Removed", summary["removed"]),
        _figure("Findings", summary["findings"]),
        _figure("Next due", due.isoformat() if due else None),
    ]
    links = [
        {"label": "Last review", "url": summary["url"], "action": str(Action.AUDIT_VIEW)},
        reviews,
    ]
    done = (
        f"Completed {completed:%Y-%m-%d} by {summary['reviewer_name']}: "
        f"{summary['confirmed']} confirmed, {summary['changed']} changed, "
        f"{summary['removed']} removed, {summary['findings']} finding(s)."
    )
    if due is not None and due < now.date():
        return _evidence(
            "access_review",
            title,
            ATTENTION,
            f"The next access review was due on {due:%Y-%m-%d}. {done}",
            figures=figures,
            links=links,
        )
    return _evidence("access_review", title, MET, done, figures=figures, links=links)


def mfa_sso(workspace, now: dt.datetime) -> dict:
    coverage = identity_selectors.identity_coverage(workspace=workspace)
    _with, without = identity_selectors.break_glass_candidates(workspace=workspace)
    if coverage.sso_state == "enforced":
        # An address of a managed domain signs in only through the IdP (which enforces its own
        # factors), or as the break-glass admin — and that only with MFA: no password path.
        managed = set(sso_selectors.managed_domain_list(workspace=workspace))
        without = [m for m in without if _domain(m.user.email) not in managed]
    admins_without = [membership.user.display_name for membership in without]
    figures = [
        _figure("Members with MFA", f"{coverage.with_mfa} of {coverage.members}"),
        _figure("MFA required", coverage.mfa_required),
        _figure("Last signed in through SSO", f"{coverage.via_sso} of {coverage.members}"),
        _figure("SSO", coverage.sso_state),
    ]
    items = [
        {"label": name, "detail": "admin without an authenticator app", "url": None}
        for name in admins_without[:ITEMS_SHOWN]
    ]
    links = [
        _link("Identity settings", "dashboard:identity", workspace, Action.SECURITY_SETTINGS),
        _link("Members", "dashboard:members", workspace, Action.MEMBER_VIEW),
    ]
    title = TITLES["mfa_sso"]
    if admins_without:
        status = ATTENTION
        reason = f"Admins without an authenticator app: {_names(admins_without)}."
    elif not coverage.mfa_required and coverage.sso_state != "enforced":
        status = ATTENTION
        reason = (
            f"MFA is not required and SSO is not enforced: {coverage.with_mfa} of "
            f"{coverage.members} members have MFA."
        )
    else:
        status = MET
        how = "MFA is required" if coverage.mfa_required else "SSO is enforced"
        reason = (
            f"{how}; {coverage.with_mfa} of {coverage.members} members have MFA and every "
            "admin has an authenticator app."
        )
    return _evidence("mfa_sso", title, status, reason, figures=figures, items=items, links=links)


def api_keys(workspace, now: dt.datetime) -> dict:
    """Live keys (not revoked, not expired, not already rotated to a successor) against the
    rotation policy."""
    live = list(
        workspace_selectors.api_key_list(workspace=workspace)
        .filter(revoked_at__isnull=True, rotated_to__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("created_at", "pk")
    )
    limit = dt.timedelta(days=KEY_ROTATION_DAYS)
    old = [key for key in live if now - key.created_at > limit]
    title = TITLES["api_keys"]
    links = [_link("API keys", "dashboard:api-keys", workspace, Action.API_KEY_VIEW)]
    figures = [
        _figure("Live keys", len(live)),
        _figure(f"Older than {KEY_ROTATION_DAYS} days", len(old)),
        _figure("Oldest (days)", _days(now - live[0].created_at) if live else None),
    ]
    items = [
        {
            "label": f"{key.name} ({key.display_prefix}…)",
            "detail": f"{_days(now - key.created_at)} days old",
            "url": None,
        }
        for key in old[:ITEMS_SHOWN]
    ]
    if not live:
        return _evidence(
            "api_keys", title, NOT_APPLICABLE, "No live API keys.", figures=figures, links=links
        )
    if old:
        names = _names([f"{key.name} ({_days(now - key.created_at)} days)" for key in old])
        reason = f"Not rotated within {KEY_ROTATION_DAYS} days: {names}."
        return _evidence(
            "api_keys", title, ATTENTION, reason, figures=figures, items=items, links=links
        )
    reason = f"{_count(len(live), 'live key')}, all younger than {KEY_ROTATION_DAYS} days."
    return _evidence("api_keys", title, MET, reason, figures=figures, links=links)


def audit_integrity(workspace, now: dt.datetime) -> dict:
    verification = audit_selectors.audit_verification_latest(workspace=workspace)
    checkpoint = audit_selectors.audit_checkpoint_latest(workspace=workspace)
    head = audit_selectors.audit_head(workspace=workspace)
    size = head.size if head else 0
    # "39 verified · 4 newer": what the last run covered against the log as it is now
    coverage = audit_selectors.audit_verify_coverage(
        workspace=workspace,
        result={"verified_events": verification.total_events} if verification else None,
        current=size,
    )
    figures = [
        _figure("Entries", size),
        _figure("Last verified", _when(verification.ran_at) if verification else None),
        _figure(
            "Result",
            None if verification is None else ("valid" if verification.valid else "broken"),
        ),
        _figure(
            "Entries verified",
            f"{coverage['verified']} verified · {coverage['newer']} newer" if coverage else None,
        ),
        _figure("Last checkpoint size", checkpoint.size if checkpoint else None),
        _figure("Last checkpoint signed", _when(checkpoint.created_at) if checkpoint else None),
    ]
    links = [_link("Audit log", "audit:log", workspace, Action.AUDIT_VIEW)]
    title = TITLES["audit_integrity"]
    problems = []
    if verification is None:
        problems.append("The audit log has never been verified.")
    elif not verification.valid:
        problems.append(
            f"The last verification ({verification.ran_at:%Y-%m-%d %H:%M}) found "
            f"{verification.break_count} break(s) in the log."
        )
    elif now - verification.ran_at > VERIFICATION_MAX_AGE:
        problems.append(f"Last verified {_days(now - verification.ran_at)} days ago.")
    if checkpoint is None and size:
        problems.append("No signed checkpoint yet.")
    if problems:
        return _evidence(
            "audit_integrity", title, ATTENTION, " ".join(problems), figures=figures, links=links
        )
    reason = (
        f"Verified {verification.ran_at:%Y-%m-%d %H:%M}: {verification.total_events} entries, "
        f"no break ({coverage['newer']} appended since, for the next run)."
    )
    if checkpoint is not None:
        reason += f" Last signed checkpoint at size {checkpoint.size}."
    return _evidence("audit_integrity", title, MET, reason, figures=figures, links=links)


def audit_export(workspace, now: dt.datetime) -> dict:
    config = audit_export_config_get(workspace=workspace)
    figures = [
        _figure("Scheduled export", config.enabled),
        _figure("Last export", _when(config.last_export_at)),
        _figure("Last file", config.last_export_key or None),
    ]
    links = [_link("Audit export settings", "audit:compliance", workspace, Action.AUDIT_SETTINGS)]
    title = TITLES["audit_export"]
    if config.last_error:
        # the error itself (an endpoint, a bucket) stays on the admins' settings page
        status, reason = ATTENTION, "The last export failed; the export settings say why."
    elif not config.enabled:
        status, reason = ATTENTION, "The scheduled audit export is off: no offline copy is kept."
    elif config.last_export_at is None:
        status, reason = ATTENTION, "The scheduled export has not run yet."
    elif now - config.last_export_at > EXPORT_MAX_AGE:
        status = ATTENTION
        reason = f"The last export was {_days(now - config.last_export_at)} days ago."
    else:
        status = MET
        reason = f"Exported {config.last_export_at:%Y-%m-%d %H:%M} to {config.last_export_key}."
    return _evidence("audit_export", title, status, reason, figures=figures, links=links)


def deletion_requests(workspace, now: dt.datetime) -> dict:
    requests = dsr_selectors.dsr_list(workspace=workspace).filter(type__in=DELETION_TYPES)
    open_ = Q(status__in=(RequestStatus.PENDING, RequestStatus.RUNNING))
    counts = requests.aggregate(
        total=Count("pk"),
        completed=Count("pk", filter=Q(status=RequestStatus.COMPLETED)),
        receipts=Count("pk", filter=Q(status=RequestStatus.COMPLETED, audit_idx__isnull=False)),
        failed=Count("pk", filter=Q(status=RequestStatus.FAILED)),
        open=Count("pk", filter=open_),
        overdue=Count("pk", filter=open_ & Q(created_at__lt=now - DELETION_DEADLINE)),
    )
    # The ones to name: overdue and failed ones, then the latest receipts.
    fields = ("public_id", "status", "created_at", "audit_idx")
    bad = list(
        requests.filter(
            (open_ & Q(created_at__lt=now - DELETION_DEADLINE)) | Q(status=RequestStatus.FAILED)
        ).only(*fields)[:ITEMS_SHOWN]
    )
    receipts = list(
        requests.filter(status=RequestStatus.COMPLETED, audit_idx__isnull=False).only(*fields)[:3]
    )
    items = [
        {
            "label": r.public_id,
            "detail": (
                "failed"
                if r.status == RequestStatus.FAILED
                else f"open for {_days(now - r.created_at)} days"
            ),
            "url": reverse("privacy:request", args=[workspace.slug, r.public_id]),
            "action": str(Action.WORKSPACE_UPDATE),
        }
        for r in bad
    ] + [
        {
            "label": r.public_id,
            "detail": f"receipt: audit entry {r.audit_idx}",
            "url": reverse("privacy:request-receipt", args=[workspace.slug, r.public_id]),
            "action": str(Action.WORKSPACE_UPDATE),
        }
        for r in receipts
    ]
    figures = [
        _figure("Deletion requests", counts["total"]),
        _figure("Completed", counts["completed"]),
        _figure("With a receipt", counts["receipts"]),
        _figure("Open", counts["open"]),
        _figure("Overdue (over 30 days)", counts["overdue"]),
        _figure("Failed", counts["failed"]),
    ]
    links = [_link("Data-subject requests", "privacy:requests", workspace, Action.WORKSPACE_UPDATE)]
    title = TITLES["deletion_requests"]
    if not counts["total"]:
        return _evidence(
            "deletion_requests",
            title,
            NOT_APPLICABLE,
            "No deletion request has been received.",
            figures=figures,
            links=links,
        )
    problems = []
    if counts["overdue"]:
        problems.append(f"{counts['overdue']} deletion request(s) open for more than 30 days.")
    if counts["failed"]:
        problems.append(f"{counts['failed']} deletion request(s) failed.")
    if problems:
        status, reason = ATTENTION, " ".join(problems)
    else:
        status = MET
        reason = (
            f"{counts['completed']} completed, {counts['receipts']} with a receipt in the audit "
            f"log; {counts['open']} in progress, none overdue."
        )
    return _evidence(
        "deletion_requests", title, status, reason, figures=figures, items=items, links=links
    )


def retention(workspace, now: dt.datetime) -> dict:
    overview = retention_selectors.retention_overview(workspace=workspace)
    figures = [
        _figure("Events (days)", overview.events_days),
        _figure("IP and user agent (days)", overview.operational_days),
        _figure("Deliveries (days)", overview.delivery_days),
        _figure("De-duplication keys (days)", overview.dedup_days),
        _figure("Last purge", _when(overview.last_purge_at)),
        _figure("Rows deleted by the last purge", sum(overview.last_purge_counts.values())),
    ]
    links = [_link("Retention", "destinations:retention", workspace, Action.WORKSPACE_VIEW)]
    title = TITLES["retention"]
    if overview.pending_counts:
        status = ATTENTION
        reason = "A purge stopped before writing its audit entry; the next run completes it."
    elif overview.last_purge_at is None:
        status, reason = ATTENTION, "No purge has run yet."
    elif now - overview.last_purge_at > PURGE_MAX_AGE:
        status = ATTENTION
        reason = f"The last purge ran {_days(now - overview.last_purge_at)} days ago."
    else:
        status = MET
        reason = (
            f"Events kept {overview.events_days} days, IP and user agent "
            f"{overview.operational_days} days; last purge {overview.last_purge_at:%Y-%m-%d %H:%M}."
        )
    return _evidence("retention", title, status, reason, figures=figures, links=links)


class _Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the middle value (the mean of the two middle
    ones for an even count, as ``statistics.median``); NULLs are left out."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _seconds(expression) -> Func:
    return Func(
        expression, template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField()
    )


def incidents(workspace, now: dt.datetime) -> dict:
    """Counted in the database, however many incidents the year had (the anomaly detector
    opens them on its own); only the missed ones the evidence names are loaded."""
    limit = incident_selectors.CONTAINMENT_TARGET
    window = incident_selectors.incident_list(workspace=workspace).filter(
        opened_at__gte=now - INCIDENT_WINDOW
    )
    deadline = F("opened_at") + limit
    contained = Q(contained_at__isnull=False)
    met = contained & Q(contained_at__lte=deadline)
    missed_q = (contained & Q(contained_at__gt=deadline)) | Q(
        contained_at__isnull=True, opened_at__lt=now - limit
    )
    counts = window.order_by().aggregate(
        total=Count("pk"),
        met=Count("pk", filter=met),
        missed=Count("pk", filter=missed_q),
        median=_Median(_seconds(F("contained_at") - F("opened_at")), filter=contained),
    )
    # named as the incidents page lists them: open ones first, the most severe, the newest
    shown = window.filter(missed_q)[:ITEMS_SHOWN]
    missed = [
        (row, incident_selectors.containment_target(row, now=now))
        for row in shown.only("public_id", "title", "opened_at", "contained_at", "phase")
    ]
    median_seconds = counts["median"]
    figures = [
        _figure("Incidents (12 months)", counts["total"]),
        _figure("Contained within 1 h", counts["met"]),
        _figure("Missed the 1 h target", counts["missed"]),
        _figure(
            "Median time to contain (min)",
            round(median_seconds / 60) if median_seconds is not None else None,
        ),
    ]
    items = [
        {
            "label": row.title,
            "detail": f"{row.public_id}: contained after {target.seconds // 60} min"
            if row.contained_at
            else f"{row.public_id}: not contained after {target.seconds // 60} min",
            "url": reverse("incidents:detail", args=[workspace.slug, row.public_id]),
            "action": str(Action.WORKSPACE_VIEW),
        }
        for row, target in missed
    ]
    links = [_link("Incidents", "incidents:list", workspace, Action.WORKSPACE_VIEW)]
    title = TITLES["incidents"]
    if not counts["total"]:
        return _evidence(
            "incidents",
            title,
            NOT_APPLICABLE,
            "No incident in the last 12 months.",
            figures=figures,
            links=links,
        )
    if counts["missed"]:
        names = _names(
            [f"{row.title} ({row.public_id})" for row, _ in missed], total=counts["missed"]
        )
        return _evidence(
            "incidents",
            title,
            ATTENTION,
            f"Missed the one-hour containment target: {names}.",
            figures=figures,
            items=items,
            links=links,
        )
    reason = (
        f"{_count(counts['total'], 'incident')} in 12 months; none missed the one-hour containment "
        "target."
    )
    return _evidence("incidents", title, MET, reason, figures=figures, links=links)


def inventory(workspace, now: dt.datetime) -> dict:
    rows = inventory_selectors.inventory_rows(workspace=workspace)
    # nobody answers for it: no owner, an owner who has left the workspace, or no purpose
    incomplete = [row for row in rows if not row.get("owner_is_member") or not row.get("purpose")]
    figures = [
        _figure("Destinations", len(rows)),
        _figure("Consent-sensitive", sum(1 for row in rows if row.get("consent_sensitive"))),
        _figure("Without an owner or purpose", len(incomplete)),
    ]
    items = [
        {
            "label": row["name"],
            "detail": " and ".join(
                gap
                for gap, missing in (
                    (
                        "no owner" if not row.get("owner_name") else "its owner has left",
                        not row.get("owner_is_member"),
                    ),
                    ("no purpose", not row.get("purpose")),
                )
                if missing
            ),
            "url": None,
        }
        for row in incomplete[:ITEMS_SHOWN]
    ]
    links = [_link("Destination inventory", "inventory:list", workspace, Action.WORKSPACE_VIEW)]
    title = TITLES["inventory"]
    if not rows:
        return _evidence(
            "inventory",
            title,
            NOT_APPLICABLE,
            "No destinations: no event leaves TrackLayer.",
            figures=figures,
            links=links,
        )
    if incomplete:
        names = _names([row["name"] for row in incomplete])
        return _evidence(
            "inventory",
            title,
            ATTENTION,
            f"Destinations without an owner or a purpose: {names}.",
            figures=figures,
            items=items,
            links=links,
        )
    reason = f"{_count(len(rows), 'destination')}, each with an owner and a purpose."
    return _evidence("inventory", title, MET, reason, figures=figures, links=links)


def input_validation(workspace, now: dt.datetime) -> dict:
    plan = tracking_plan_selectors.tracking_plan_get(workspace=workspace)
    totals = figures_totals(
        workspace=workspace,
        kinds=(EVENTS_RECEIVED, EVENTS_ACCEPTED, EVENTS_REJECTED, EVENTS_DUPLICATE),
        since=now - FIGURES_WINDOW,
        until=now,
    )

    def total(kind: str) -> int:
        return sum(value for (k, _subject), value in totals.items() if k == kind)

    rejected = sorted(
        ((subject, value) for (kind, subject), value in totals.items() if kind == EVENTS_REJECTED),
        key=lambda pair: (-pair[1], pair[0]),
    )
    figures = [
        _figure(
            "Tracking plan", f"{plan.mode} mode, {len(plan.schemas)} event(s)" if plan else None
        ),
        _figure("Received (30 days)", total(EVENTS_RECEIVED)),
        _figure("Accepted (30 days)", total(EVENTS_ACCEPTED)),
        _figure("Rejected (30 days)", total(EVENTS_REJECTED)),
        _figure("Duplicates acknowledged (30 days)", total(EVENTS_DUPLICATE)),
    ]
    items = [
        {"label": reason or "(no reason)", "detail": f"{value} rejected", "url": None}
        for reason, value in rejected[:ITEMS_SHOWN]
    ]
    links = [
        _link("Tracking plan", "destinations:tracking-plan", workspace, Action.WORKSPACE_VIEW),
        _link("Rejected events", "destinations:events-rejected", workspace, Action.WORKSPACE_VIEW),
    ]
    title = TITLES["input_validation"]
    if plan is None or not plan.schemas:
        status = ATTENTION
        reason = (
            "No tracking plan: events are checked against the envelope only, not against "
            "schemas of your own."
        )
    else:
        status = MET
        reason = (
            f"Tracking plan in {plan.mode} mode with {len(plan.schemas)} event schema(s); "
            f"{total(EVENTS_REJECTED)} event(s) rejected and {total(EVENTS_DUPLICATE)} "
            "duplicate(s) acknowledged in 30 days."
        )
    return _evidence(
        "input_validation", title, status, reason, figures=figures, items=items, links=links
    )


EVIDENCE = {
    "access_review": access_review,
    "mfa_sso": mfa_sso,
    "api_keys": api_keys,
    "audit_integrity": audit_integrity,
    "audit_export": audit_export,
    "deletion_requests": deletion_requests,
    "retention": retention,
    "incidents": incidents,
    "inventory": inventory,
    "input_validation": input_validation,
}


def _read(key: str, workspace, now: dt.datetime) -> dict:
    """Evidence ``key``, or — when its database fails (a region's that does not answer, a
    query that errs) — that source as "could not be read", which needs attention: one source
    never takes the page, ``controls.json`` or the package down with it. The savepoint keeps
    the request's transaction usable for the sources read after a failed one."""
    try:
        with transaction.atomic():
            return EVIDENCE[key](workspace, now)
    except DatabaseError:
        log.exception("controls: evidence %r of %s could not be read", key, workspace.public_id)
    return _evidence(
        key,
        TITLES[key],
        ATTENTION,
        "This evidence could not be read just now (its database did not answer), so it "
        "cannot show the control is met. The rest of the page is current; reload to try again.",
    )


# --- The controls --------------------------------------------------------------------------------


def controls_evaluate(*, workspace, framework: str | None = None, now=None) -> list[dict]:
    """Every control (of ``framework``, a key of ``FRAMEWORKS``, when given) with its status,
    the reason, what TrackLayer does, what the customer still needs and the evidence — a
    JSON-serialisable list, the same that ``controls.json`` and the auditor package carry."""
    now = now or timezone.now()
    controls = [c for c in CONTROLS if framework is None or c.framework == framework]
    keys = dict.fromkeys(key for control in controls for key in control.evidence)
    evaluated = {key: _read(key, workspace, now) for key in keys}
    rows = []
    for control in controls:
        items = [evaluated[key] for key in control.evidence]
        status, reason = control.rule(items)
        rows.append(
            {
                "id": control.id,
                "slug": control.slug,
                "framework": control.framework,
                "framework_label": FRAMEWORKS[control.framework],
                "title": control.title,
                "status": status,
                "status_label": STATUS_LABELS[status],
                "reason": reason,
                "we_do": control.we_do,
                "you_do": list(control.you_do),
                "evidence": items,
            }
        )
    return rows


def controls_summary(controls: list[dict]) -> list[dict]:
    """How many controls are in each status, needs attention first."""
    return [
        {
            "status": status,
            "label": STATUS_LABELS[status],
            "count": sum(1 for c in controls if c["status"] == status),
        }
        for status in STATUSES
    ]


def controls_evidence(controls: list[dict]) -> list[dict]:
    """Each piece of evidence of ``controls`` once, in the order the controls name them."""
    return list({item["key"]: item for c in controls for item in c["evidence"]}.values())


def controls_document(*, workspace, framework: str | None = None, now=None) -> dict:
    """``controls.json``: the workspace, when, the summary and every control with its
    evidence (``controls_evaluate``) — what the page shows, for the auditor package."""
    now = now or timezone.now()
    controls = controls_evaluate(workspace=workspace, framework=framework, now=now)
    return {
        "workspace": workspace.public_id,
        "generated_at": now.isoformat(),
        "framework": framework,
        "summary": controls_summary(controls),
        "controls": controls,
    }
