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

from datetime import timedelta
from urllib.parse import urlencode

import orjson
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods

from destinations.ingestion import selectors
from destinations.ingestion.forms import IngestionSettingsForm, RetentionForm
from destinations.ingestion.runtime import ingestion_settings_get
from destinations.ingestion.services import ingestion_settings_update
from destinations.models import Event, EventStatus, EventType
from destinations.retention.selectors import retention_overview
from destinations.retention.services import retention_windows_update
from destinations.routing.selectors import event_deliveries, refused_before_sending
from privacy.consent import TCF_PURPOSE_NAMES, TCF_SPECIAL_FEATURE_NAMES, ConsentSignals, explain
from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action

TABLE_ROWS = 50
NAME_FILTER_MAX = 200


def _filters(query) -> dict:
    """The filters from a query string; a value that is not a known type or status is
    ignored rather than refused (a stale shared link still opens)."""
    type_ = query.get("type")
    status = query.get("status")
    name = query.get("name", "").strip()[:NAME_FILTER_MAX]
    return {
        "type": type_ if type_ in EventType.values else None,
        "name": name or None,
        "status": status if status in EventStatus.values else None,
    }


def _table_context(workspace, filters: dict, since: str | None) -> dict:
    events = selectors.events_recent(workspace=workspace, **filters, limit=TABLE_ROWS)
    if since:
        # New: above the row that was on top at the previous poll (all of them if it is gone).
        seen = next((i for i, e in enumerate(events) if e.message_id == since), len(events))
        for event in events[:seen]:
            event.is_new = True
    for event in events:
        event.consent_chips = _consent_chips(event.consent)
    cursor = events[0].message_id if events else since
    applied = {key: value for key, value in filters.items() if value}
    return {
        "events": events,
        "filters": filters,
        "filtered": bool(applied),
        "poll_query": urlencode({**applied, **({"since": cursor} if cursor else {})}),
    }


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def events(request):
    """The page; for htmx (a filter changed) only the table, under the pushed URL."""
    filters = _filters(request.GET)
    return render_htmx(
        request,
        "destinations/events.html",
        "destinations/_events_table.html",
        {
            **_table_context(request.workspace, filters, since=None),
            "event_names": selectors.event_names_recent(workspace=request.workspace),
            "types": EventType.choices,
            "statuses": EventStatus.choices,
        },
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def events_table(request):
    """The table alone: what the page polls."""
    context = _table_context(
        request.workspace, _filters(request.GET), since=request.GET.get("since") or None
    )
    template = "destinations/_events_table.html"
    return render_htmx(request, template, template, context)


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


# Settings → Ingestion: limits and extra personal fields, and the retention windows with the
# last purge (thin: a form in, a service out). The two forms post to the same page; the
# retention form says so with ``section=retention``.
RETENTION_SECTION = "retention"


@workspace_view(Action.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def ingestion_settings(request):
    current = ingestion_settings_get(workspace=request.workspace)
    posted = request.POST if request.method == "POST" else None
    retention_post = posted is not None and posted.get("section") == RETENTION_SECTION
    form = IngestionSettingsForm.for_settings(current, None if retention_post else posted)
    retention = RetentionForm.for_settings(current, posted if retention_post else None)
    bound = retention if retention_post else form
    if posted is not None and bound.is_valid():
        update = retention_windows_update if retention_post else ingestion_settings_update
        try:
            update(workspace=request.workspace, actor=request.user, values=bound.cleaned_data)
        except DomainError as error:
            form_error(bound, error)
        else:
            flash(request, "Retention saved." if retention_post else "Ingestion settings saved.")
            return redirect("destinations:ingestion-settings", slug=request.workspace.slug)
    return render_htmx(
        request,
        "destinations/ingestion_settings.html",
        "destinations/ingestion_settings.html",
        {
            "form": form,
            "retention": retention,
            "retention_section": RETENTION_SECTION,
            "overview": retention_overview(workspace=request.workspace),
        },
        status=422 if bound.is_bound and bound.errors else 200,
    )
