"""Ingestion's dashboard pages: the events debugger and Settings → Ingestion.

The events debugger: the workspace's latest events, live, and one event in a drawer.

The table is a partial that htmx polls every 2 s (static/js/app.js skips a poll while the
viewer has paused the table or is editing a filter). Each poll re-renders the latest rows, so
changing fan-out states show too; rows received after the one that was on top last time are
marked new. The poll's URL carries the filters the table shows and that top row's messageId
(``since``), never an internal id.

What the detail shows of identifiers is their field names and count: the hashes are personal
data in pseudonymised form, so no hash value (not even the user id's) is printed.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode

import orjson
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from destinations.ingestion import selectors
from destinations.ingestion.forms import IngestionSettingsForm
from destinations.ingestion.runtime import ingestion_settings_get
from destinations.ingestion.selectors import DELIVERY_FILTERS
from destinations.ingestion.services import ingestion_settings_update
from destinations.models import Event, EventStatus, EventType
from destinations.routing.selectors import event_deliveries, refused_before_sending
from privacy import pii
from privacy.consent import TCF_PURPOSE_NAMES, TCF_SPECIAL_FEATURE_NAMES, ConsentSignals, explain
from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action

TABLE_ROWS = 50
NAME_FILTER_MAX = 200
MESSAGE_ID_MAX = 1000  # longer than any stored one (100): matches nothing, but is not refused
USER_ID_MAX = 1000
REASON_FILTER_MAX = 64  # a rejection reason code (RejectedEvent.reason)
# The userId being searched for, as its hash, per workspace: kept in the session so that
# neither the clear value nor its hash is ever in a URL (and so in a log or a shared link).
USER_SESSION_KEY = "debugger_user_hash:{}"
# The filters a URL carries (``user=1`` names the session's userId hash).
URL_FILTERS = ("type", "name", "status", "delivery", "message_id", "user", "from", "until")
DELIVERY_CHOICES = [
    ("delivered", "delivered"),
    ("pending", "pending"),
    ("failed", "failed (retrying or dead)"),
    ("blocked", "blocked by consent"),
    ("dead", "dead letter"),
]


def _when(raw: str, field: str, errors: dict) -> datetime | None:
    """A time from the range inputs (``2026-12-05T10:00``, or ISO 8601 with an offset);
    without an offset it is the dashboard's time zone."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw) if len(raw) <= 40 else None
    except ValueError:
        value = None
    if value is None:
        errors[field] = "Give a date and time, such as 2026-12-05T10:00."
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _filters(request, query=None) -> tuple[dict, dict, dict]:
    """The filters from the query string: ``(filters, paging, errors)``. A value that is not
    a known type, status or delivery state is ignored rather than refused (a stale shared link
    still opens); a time that cannot be read is an error on its field (400)."""
    query = request.GET if query is None else query
    errors: dict[str, str] = {}
    type_ = query.get("type")
    status = query.get("status")
    delivery = query.get("delivery")
    name = query.get("name", "").strip()[:NAME_FILTER_MAX]
    message_id = query.get("message_id", "").strip()[:MESSAGE_ID_MAX]
    received_from = _when(query.get("from", ""), "from", errors)
    received_until = _when(query.get("until", ""), "until", errors)
    if received_from and received_until and received_until <= received_from:
        errors["until"] = "Give an end after the start."
    user_hash = (
        request.session.get(USER_SESSION_KEY.format(request.workspace.pk))
        if query.get("user") == "1"
        else None
    )
    filters = {
        "type": type_ if type_ in EventType.values else None,
        "name": name or None,
        "status": status if status in EventStatus.values else None,
        "delivery": delivery if delivery in DELIVERY_FILTERS else None,
        "message_id": message_id or None,
        "user_id_hash": user_hash or None,
        "received_from": None if errors else received_from,
        "received_until": None if errors else received_until,
    }
    paging = {
        "before_id": query.get("before", "").strip()[:MESSAGE_ID_MAX] or None,
        "after_id": query.get("after", "").strip()[:MESSAGE_ID_MAX] or None,
    }
    return filters, paging, errors


def _url_filters(request, filters: dict) -> dict:
    """The filters as the URL carries them (what the pager and the poll repeat)."""
    query = request.GET
    values = {
        "type": filters["type"],
        "name": filters["name"],
        "status": filters["status"],
        "delivery": filters["delivery"],
        "message_id": filters["message_id"],
        "user": "1" if filters["user_id_hash"] else None,
        "from": query.get("from", "").strip() if filters["received_from"] else None,
        "until": query.get("until", "").strip() if filters["received_until"] else None,
    }
    return {key: values[key] for key in URL_FILTERS if values[key]}


def _table_context(request, filters: dict, paging: dict, since: str | None) -> dict:
    paged = bool(paging["before_id"] or paging["after_id"])
    events = selectors.events_recent(
        workspace=request.workspace,
        **filters,
        since_id=None if paged else since,
        **paging,
        limit=TABLE_ROWS + 1,  # one more tells whether there is a further page
    )
    newer_page = bool(paging["after_id"]) and not paging["before_id"]
    more = len(events) > TABLE_ROWS
    if more:
        events = events[1:] if newer_page else events[:TABLE_ROWS]
    if since and not paged:
        # New: above the row that was on top at the previous poll (all of them if it is gone).
        seen = next((i for i, e in enumerate(events) if e.message_id == since), len(events))
        for event in events[:seen]:
            event.is_new = True
    for event in events:
        event.consent_chips = _consent_chips(event.consent)
    applied = _url_filters(request, filters)
    # Live only on the latest page of an open-ended range: an older page stands still.
    live = not paged and not filters["received_until"]
    cursor = events[0].message_id if events else since
    has_older = bool(events) and (more or newer_page)
    has_newer = bool(events) and (more if newer_page else bool(paging["before_id"]))
    return {
        "events": events,
        "filters": filters,
        "filtered": bool(applied),
        "live": live,
        "poll_query": urlencode({**applied, **({"since": cursor} if cursor else {})}),
        "older_query": urlencode({**applied, "before": events[-1].message_id}) if has_older else "",
        "newer_query": urlencode({**applied, "after": events[0].message_id}) if has_newer else "",
        "paged": paged,
        "latest_query": urlencode(applied),
    }


def _page_context(request, filters: dict, errors: dict, query=None) -> dict:
    query = request.GET if query is None else query
    return {
        "event_names": selectors.event_names_recent(workspace=request.workspace),
        "types": EventType.choices,
        "statuses": EventStatus.choices,
        "deliveries": DELIVERY_CHOICES,
        "range": {"from": query.get("from", ""), "until": query.get("until", "")},
        "errors": errors,
        "user_filtered": bool(filters["user_id_hash"]),
        # What the userId search form carries back to the page (the other filters).
        "carry": [
            (key, query[key].strip()[:MESSAGE_ID_MAX])
            for key in URL_FILTERS
            if key != "user" and query.get(key, "").strip()
        ],
    }


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def events(request):
    """The page; for htmx (a filter changed) only the table, under the pushed URL. A time
    that cannot be read is a 422 with the error on its field (and above the empty table, for
    htmx, which swaps only the table)."""
    if request.GET.get("status") == "rejected":
        # Refused events have a tab of their own (the Overview links here with status=rejected).
        carried = {k: request.GET[k] for k in ("reason", "from", "until") if request.GET.get(k)}
        url = reverse("destinations:events-rejected", args=[request.workspace.slug])
        return redirect(f"{url}?{urlencode(carried)}" if carried else url)
    filters, paging, errors = _filters(request)
    context = {**_page_context(request, filters, errors)}
    if errors:
        context.update(events=[], filters=filters, filtered=True, live=False, poll_query="")
    else:
        context.update(_table_context(request, filters, paging, since=None))
    return render_htmx(
        request,
        "destinations/events.html",
        "destinations/_events_table.html",
        context,
        status=422 if errors else 200,
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def events_table(request):
    """The table alone: what the page polls (and pages)."""
    filters, paging, errors = _filters(request)
    if errors:
        return HttpResponseBadRequest("; ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
    context = _table_context(request, filters, paging, since=request.GET.get("since") or None)
    template = "destinations/_events_table.html"
    return render_htmx(request, template, template, context)


@workspace_view(Action.WORKSPACE_VIEW)
@require_POST
def events_user(request):
    """Find a user's events by their userId: hashed here as ingestion hashes it, the hash
    kept in the session (never the clear value, and neither in a URL), then back to the
    events with ``user=1``. An empty userId clears the search."""
    key = USER_SESSION_KEY.format(request.workspace.pk)
    value = request.POST.get("user_id", "").strip()
    back = {k: v for k, v in request.POST.items() if k in URL_FILTERS and k != "user" and v}
    url = reverse("destinations:events", args=[request.workspace.slug])
    if not value:
        request.session.pop(key, None)
        return redirect(f"{url}?{urlencode(back)}" if back else url)
    error = None
    if len(value) > USER_ID_MAX:
        error = f"At most {USER_ID_MAX} characters."
    else:
        try:
            digest = pii.hashed("external_id", value)
        except pii.PIIValueError as problem:
            error = problem.message
    if error is None:
        request.session[key] = digest
        return redirect(f"{url}?{urlencode({**back, 'user': '1'})}")
    # The page again with the filters the form carried (not the value itself).
    filters, _paging, errors = _filters(request, back)
    errors["user_id"] = error
    context = {**_page_context(request, filters, errors, back)}
    context.update(events=[], filters=filters, filtered=True, live=False, poll_query="")
    return render_htmx(
        request, "destinations/events.html", "destinations/events.html", context, status=422
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def events_rejected(request):
    """Events refused at ingestion, kept for the events retention window: the reason code,
    the field and the message — never a value sent; ``reason`` filters by code. Paged older
    by ``before`` (the last row's time and how many rows of that instant were shown)."""
    errors: dict[str, str] = {}
    received_from = _when(request.GET.get("from", ""), "from", errors)
    received_until = _when(request.GET.get("until", ""), "until", errors)
    before = _rejected_cursor(request.GET.get("before", ""), errors)
    reason = request.GET.get("reason", "").strip()[:REASON_FILTER_MAX] or None
    rows = []
    if not errors:
        rows = selectors.rejected_recent(
            workspace=request.workspace,
            reason=reason,
            received_from=received_from,
            received_until=received_until,
            before=before,
            limit=TABLE_ROWS + 1,
        )
    more = len(rows) > TABLE_ROWS
    rows = rows[:TABLE_ROWS]
    applied = {
        key: request.GET.get(key, "").strip()[:REASON_FILTER_MAX]
        for key in ("reason", "from", "until")
        if request.GET.get(key, "").strip() and not errors
    }
    older = ""
    if more:
        last = rows[-1].received_at
        tied = sum(1 for row in rows if row.received_at == last)
        if before is not None and before[0] == last:
            tied += before[1]
        older = urlencode({**applied, "before": f"{last.isoformat()}~{tied}"})
    return render_htmx(
        request,
        "destinations/events_rejected.html",
        "destinations/_rejected_table.html",
        {
            "rejected": rows,
            "older_query": older,
            "paged": before is not None,
            "latest_query": urlencode(applied),
            "range": {"from": request.GET.get("from", ""), "until": request.GET.get("until", "")},
            "reason": reason,
            "errors": errors,
        },
        # A cursor that cannot be read is a broken link (400); a time, a field error (422).
        status=400 if "before" in errors else 422 if errors else 200,
    )


def _rejected_cursor(raw: str, errors: dict) -> tuple[datetime, int] | None:
    """``<ISO time>~<rows of that instant already shown>``, as ``events_rejected`` writes it."""
    if not raw:
        return None
    when, _, skip = raw.partition("~")
    moment = _when(when, "before", errors) if when else None
    if moment is None or not (skip.isascii() and skip.isdigit() and len(skip) <= 5):
        errors["before"] = "This page link is not valid; start again from the latest."
        return None
    return moment, int(skip)


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def event_detail(request, message_id: str):
    """One event: the drawer's content for htmx, a page of its own otherwise."""
    event = selectors.event_get(workspace=request.workspace, message_id=message_id)
    return render_htmx(
        request,
        "destinations/event_detail.html",
        "destinations/_event_detail.html",
        {
            **_detail_context(event),
            "trail": _trail(event_deliveries(workspace=request.workspace, event=event)),
        },
    )


# --- What the detail shows ---------------------------------------------------------------


def _detail_context(event: Event) -> dict:
    validation = event.validation if isinstance(event.validation, dict) else {}
    signals = ConsentSignals.from_dict(event.consent if isinstance(event.consent, dict) else {})
    return {
        "event": event,
        "skew": _skew(event),
        "warnings": validation.get("warnings") or [],
        "violations": validation.get("violations") or [],
        "hashed": validation.get("hashed") or [],
        "removed": validation.get("removed") or [],
        "identifiers": _identifier_fields(event.identifiers),
        "signals": signals,
        "tcf": _tcf_summary(signals),
        "payload": [
            ("properties", _pretty(event.properties)),
            ("traits", _pretty(event.traits)),
            ("context", _pretty(event.context)),
        ],
    }


def _trail(deliveries) -> list[dict]:
    """What each destination did with the event: the consent decision taken when it was last
    tried, with its reasons explained; every attempt (status code, outcome, latency); and the
    outcome — delivered, blocked, waiting, or dead with its reason."""
    return [
        {
            "delivery": delivery,
            "action": delivery.decision_action or "",
            "reasons": [(reason, explain(reason)) for reason in delivery.decision_reasons],
            "attempts": delivery.attempt_list,
            "latency_ms": sum(attempt.latency_ms for attempt in delivery.attempt_list),
            # Dead letters the adapter refused, knowing the platform would: never sent.
            "refused_before_sending": refused_before_sending(delivery),
        }
        for delivery in deliveries
    ]


def _consent_chips(consent) -> list[dict]:
    """The table's one-glance summary of an event's consent signals."""
    if not isinstance(consent, dict):
        return []
    chips = []
    if consent.get("tcf_string"):
        chips.append({"label": "TCF", "title": "TC string present", "tone": ""})
    mode = consent.get("consent_mode") or {}
    if mode:
        denied = [name for name, granted in mode.items() if not granted]
        chips.append(
            {
                "label": f"CM {len(denied)} denied" if denied else "CM granted",
                "title": "Consent Mode: "
                + ", ".join(
                    f"{name} {'granted' if granted else 'denied'}" for name, granted in mode.items()
                ),
                "tone": "warn" if denied else "ok",
            }
        )
    if consent.get("gpc"):
        chips.append({"label": "GPC", "title": "Global Privacy Control: opt-out", "tone": "warn"})
    if consent.get("us_privacy"):
        chips.append({"label": consent["us_privacy"], "title": "US Privacy string", "tone": ""})
    categories = consent.get("categories") or {}
    if categories:
        refused = [name for name, granted in categories.items() if not granted]
        chips.append(
            {
                "label": f"{len(refused)} categor{'y' if len(refused) == 1 else 'ies'} refused"
                if refused
                else "categories granted",
                "title": "Categories: "
                + ", ".join(
                    f"{name} {'granted' if granted else 'refused'}"
                    for name, granted in categories.items()
                ),
                "tone": "warn" if refused else "ok",
            }
        )
    if consent.get("errors"):
        chips.append(
            {"label": "signal error", "title": ", ".join(consent["errors"]), "tone": "danger"}
        )
    return chips


def _identifier_fields(identifiers) -> list[dict]:
    """``{spec: {field: sha256}}`` → each spec's field names. The values stay out."""
    if not isinstance(identifiers, dict):
        return []
    return [
        {"spec": spec, "fields": sorted(fields)}
        for spec, fields in sorted(identifiers.items())
        if isinstance(fields, dict) and fields
    ]


def _skew(event: Event) -> dict | None:
    """The clock-skew correction ingestion applied: ``timestamp − originalTimestamp``
    (= receivedAt − sentAt). None when the client sent no ``sentAt`` to correct with."""
    if event.original_timestamp is None or event.sent_at is None:
        return None
    correction = event.timestamp - event.original_timestamp
    return {
        "text": _signed_duration(correction),
        # A device whose clock runs ahead is corrected backwards.
        "device": "ahead" if correction < timedelta(0) else "behind",
        "none": correction == timedelta(0),
    }


def _signed_duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    sign = "−" if seconds < 0 else "+"
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.3f} s".replace(".000 s", " s")
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    return sign + " ".join(f"{value} {unit}" for value, unit in parts if value)


def _tcf_summary(signals: ConsentSignals) -> dict | None:
    """The decoded TC string, as far as the debugger needs it (the consent tester shows all)."""
    tc = signals.tcf
    if tc is None:
        return None
    return {
        "created": tc.created,
        "last_updated": tc.last_updated,
        "cmp": f"id {tc.cmp_id}, version {tc.cmp_version}",
        "publisher_cc": tc.publisher_cc,
        "vendor_list_version": tc.vendor_list_version,
        "purposes": [
            {
                "number": number,
                "name": name,
                "consent": number in tc.purpose_consents,
                "legitimate_interest": number in tc.purpose_legitimate_interests,
            }
            for number, name in TCF_PURPOSE_NAMES.items()
        ],
        "special_features": [
            TCF_SPECIAL_FEATURE_NAMES.get(number, f"special feature {number}")
            for number in sorted(tc.special_feature_optins)
        ],
        "vendor_consents": len(tc.vendor_consents),
        "vendor_legitimate_interests": len(tc.vendor_legitimate_interests),
    }


def _pretty(value) -> str:
    return orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    ).decode()


# Settings → Ingestion: limits and extra personal fields (thin: a form in, a service out). The
# retention windows are on Privacy → Retention (destinations/retention/views.py).


@workspace_view(Action.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def ingestion_settings(request):
    current = ingestion_settings_get(workspace=request.workspace)
    posted = request.POST if request.method == "POST" else None
    form = IngestionSettingsForm.for_settings(current, posted)
    if posted is not None and form.is_valid():
        try:
            ingestion_settings_update(
                workspace=request.workspace, actor=request.user, values=form.cleaned_data
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "Ingestion settings saved.")
            return redirect("destinations:ingestion-settings", slug=request.workspace.slug)
    return render_htmx(
        request,
        "destinations/ingestion_settings.html",
        "destinations/ingestion_settings.html",
        {"form": form},
        status=422 if form.is_bound and form.errors else 200,
    )
