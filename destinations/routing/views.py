"""The destinations pages: the list with each destination's health and a chart, the create
and edit forms, pause/resume/delete, "send test event", the delivery log with its attempt
drawer, and the dead letters — grouped by reason, paged, replayed or discarded in bulk.

Thin: forms in, ``services_destinations`` and ``selectors_destinations`` out. Charts are
inline SVG drawn here from ``delivery_series`` — rectangles and classes only, no script and
no style attribute, so the strict CSP holds.
"""

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from destinations.exceptions import DestinationInvalidError
from destinations.metrics.charts import Series, stacked_bars
from destinations.models import DeliveryStatus, Destination, DestinationType
from destinations.routing import selectors, services
from destinations.routing.forms import DeadLetterBulkForm, DestinationForm
from destinations.routing.secrets import destination_secrets_masked
from destinations.routing.validation import DEFAULT_EVENT_MAPPINGS
from privacy.consent import explain
from tracklayer.exceptions import ConflictError, DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action
from workspaces.selectors import member_list

HEALTH_WINDOW = timedelta(hours=24)
CHART_BUCKET = timedelta(hours=1)
CHART_BUCKETS = 24
LOG_ROWS = 50
TYPE_BLURBS = {
    DestinationType.META_CAPI: "Server events for Meta ads: pixel ID and a Conversions API "
    "access token.",
    DestinationType.TIKTOK_EVENTS: "Server events for TikTok ads: pixel code and an Events "
    "API access token.",
    DestinationType.GA4_MP: "Google Analytics 4 over the Measurement Protocol: measurement ID "
    "and an API secret.",
    DestinationType.WEBHOOK: "Your own endpoint: batches of events as JSON, signed with "
    "HMAC-SHA256.",
}


def _destination(request, destination_id: str) -> Destination:
    return selectors.destination_get(workspace=request.workspace, public_id=destination_id)


def _owners(request) -> list[tuple[str, str]]:
    """Who may own a destination: the workspace's members (user public id, label)."""
    return [
        (
            m.user.public_id,
            f"{m.user.display_name} ({m.user.email})" if m.user.name else m.user.email,
        )
        for m in member_list(workspace=request.workspace)
    ]


def _edit_url(request, destination) -> str:
    return reverse(
        "destinations:destination-edit", args=[request.workspace.slug, destination.public_id]
    )


# --- The chart ---------------------------------------------------------------------------------

CHART_SERIES = (
    Series("delivered", "delivered", "#12b76a"),
    Series("failed", "failed attempts", "#f04438"),
    Series("blocked", "blocked by consent", "#98a2b3"),
)


def _chart(points) -> dict:
    """Deliveries per hour as stacked bars (the one chart builder, destinations.metrics.charts)."""
    return stacked_bars(
        starts=[point.start for point in points],
        values={s.key: [getattr(point, s.key) for point in points] for s in CHART_SERIES},
        series=CHART_SERIES,
        title="Deliveries per hour",
        period="last 24 hours, per hour",
        empty="Nothing delivered in the last 24 hours.",
    )


def _series(request, destination=None):
    now = timezone.now()
    # Whole hours, so bars line up with the clock; the last one is the hour in progress.
    until = now.replace(minute=0, second=0, microsecond=0) + CHART_BUCKET
    since = until - CHART_BUCKETS * CHART_BUCKET
    return selectors.delivery_series(
        workspace=request.workspace,
        destination=destination,
        since=since,
        bucket=CHART_BUCKET,
        until=until - timedelta(microseconds=1),
    )


# --- List, create, edit ------------------------------------------------------------------------


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def destinations(request):
    workspace = request.workspace
    items = selectors.destinations_list(workspace=workspace)
    health = selectors.destinations_health(
        workspace=workspace, destinations=items, since=timezone.now() - HEALTH_WINDOW
    )
    rows = [{"destination": d, "health": health[d.pk]} for d in items]
    return render_htmx(
        request,
        "destinations/destinations.html",
        "destinations/destinations.html",
        {
            "rows": rows,
            "chart": _chart(_series(request)),
            "dead_letters": sum(row["health"].dead_letters for row in rows),
        },
    )


def _new_defaults(kind: str) -> dict:
    model = Destination()
    return {
        "event_mapping": DEFAULT_EVENT_MAPPINGS[kind],
        "autopause_error_rate": model.autopause_error_rate,
        "autopause_min_attempts": model.autopause_min_attempts,
        "autopause_window_seconds": model.autopause_window_seconds,
        "max_concurrency": model.max_concurrency,
    }


@workspace_view(Action.ROUTING_EDIT)
@require_http_methods(["GET", "POST"])
def destination_create(request):
    kind = request.POST.get("type") or request.GET.get("type")
    if kind not in DestinationType.values:
        return render_htmx(
            request,
            "destinations/destinations_new.html",
            "destinations/destinations_new.html",
            {
                "types": [
                    {"value": value, "label": label, "blurb": TYPE_BLURBS[value]}
                    for value, label in DestinationType.choices
                ]
            },
        )
    form = DestinationForm.for_new(
        kind,
        request.POST if request.method == "POST" else None,
        defaults=_new_defaults(kind),
        owners=_owners(request),
        owner=request.user.public_id,
    )
    if request.method == "POST" and form.is_valid():
        values = form.values()
        try:
            destination = services.destination_create(
                workspace=request.workspace,
                actor=request.user,
                type=kind,
                secrets=form.secrets(),
                **values,
            )
        except DestinationInvalidError as error:
            form.add_service_errors(error)
        else:
            flash(request, f"{destination.name} created: events start flowing to it now.")
            return redirect(_edit_url(request, destination))
    return render_htmx(
        request,
        "destinations/destinations_form.html",
        "destinations/destinations_form.html",
        {
            "form": form,
            "kind": kind,
            "kind_label": DestinationType(kind).label,
            "destination": None,
        },
        status=422 if form.is_bound and form.errors else 200,
    )


def _edit_page(request, destination, form, *, status=200, test_result=None):
    health = selectors.destination_health(
        workspace=request.workspace,
        destination=destination,
        since=timezone.now() - HEALTH_WINDOW,
    )
    return render_htmx(
        request,
        "destinations/destinations_form.html",
        "destinations/destinations_form.html",
        {
            "form": form,
            "kind": destination.type,
            "kind_label": destination.get_type_display(),
            "destination": destination,
            "health": health,
            "chart": _chart(_series(request, destination)),
            "test_result": test_result,
        },
        status=status,
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def destination_edit(request, destination_id: str):
    """The destination: its health, its settings (read-only without routing.edit) and its
    controls."""
    destination = _destination(request, destination_id)
    masks = destination_secrets_masked(destination)
    return _edit_page(
        request,
        destination,
        DestinationForm.for_destination(destination, masks=masks, owners=_owners(request)),
    )


@workspace_view(Action.ROUTING_EDIT)
@require_POST
def destination_update(request, destination_id: str):
    destination = _destination(request, destination_id)
    masks = destination_secrets_masked(destination)
    form = DestinationForm.for_destination(
        destination, request.POST, masks=masks, owners=_owners(request)
    )
    if form.is_valid():
        try:
            destination = services.destination_update(
                workspace=request.workspace,
                actor=request.user,
                destination=destination,
                values=form.values(),
                secrets=form.secrets(),
            )
        except DestinationInvalidError as error:
            form.add_service_errors(error)
        else:
            flash(request, f"{destination.name} saved.")
            return redirect(_edit_url(request, destination))
    return _edit_page(request, destination, form, status=422)


# --- Operations ----------------------------------------------------------------------------------


def _refused(request, error: DomainError) -> None:
    messages.error(request, error.message)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def destination_pause(request, destination_id: str):
    destination = _destination(request, destination_id)
    try:
        services.destination_pause(
            workspace=request.workspace,
            actor=request.user,
            destination=destination,
            reason=request.POST.get("reason", ""),
        )
    except DomainError as error:
        _refused(request, error)
    else:
        flash(request, f"{destination.name} paused: its events wait until you resume it.")
    return redirect(_edit_url(request, destination))


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def destination_resume(request, destination_id: str):
    destination = _destination(request, destination_id)
    try:
        services.destination_resume(
            workspace=request.workspace, actor=request.user, destination=destination
        )
    except DomainError as error:
        _refused(request, error)
    else:
        flash(request, f"{destination.name} resumed: waiting events are on their way.")
    return redirect(_edit_url(request, destination))


@workspace_view(Action.ROUTING_EDIT)
@require_POST
def destination_delete(request, destination_id: str):
    destination = _destination(request, destination_id)
    services.destination_delete(
        workspace=request.workspace, actor=request.user, destination=destination
    )
    flash(request, f"{destination.name} deleted: nothing more is sent to it.")
    return redirect("destinations:destinations", slug=request.workspace.slug)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def destination_test(request, destination_id: str):
    """Send one test event; for htmx only the answer's panel."""
    destination = _destination(request, destination_id)
    result = services.destination_test(
        workspace=request.workspace, actor=request.user, destination=destination
    )
    if request.htmx:
        return render_htmx(
            request,
            "destinations/destinations_test_result.html",
            "destinations/destinations_test_result.html",
            {"destination": destination, "test_result": result},
        )
    masks = destination_secrets_masked(destination)
    return _edit_page(
        request,
        destination,
        DestinationForm.for_destination(destination, masks=masks, owners=_owners(request)),
        test_result=result,
    )


# --- The delivery log and dead letters ---------------------------------------------------------


def _destination_filter(request, query) -> Destination | None:
    """The workspace's destination a filter names (deleted ones included), or None."""
    public_id = query.get("destination", "").strip()[:32]
    if not public_id:
        return None
    return selectors.destination_find(workspace=request.workspace, public_id=public_id)


def _delivery_id(raw: str) -> int | None:
    """A page anchor: a delivery id in ASCII digits, else None (ignored). ``"²".isdigit()``
    is true, yet ``int("²")`` raises."""
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _log_filters(request) -> dict:
    """The log's filters from the query string; unknown values are ignored, not refused."""
    status = request.GET.get("status")
    return {
        "destination": _destination_filter(request, request.GET),
        "status": status if status in DeliveryStatus.values else None,
        # Matched exactly, never cut: a messageId longer than any stored one matches nothing.
        "message_id": request.GET.get("message_id", "").strip() or None,
        "before": _delivery_id(request.GET.get("before", "")),
    }


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def deliveries(request):
    filters = _log_filters(request)
    rows = selectors.deliveries_list(workspace=request.workspace, limit=LOG_ROWS, **filters)
    query = request.GET.copy()
    query.pop("before", None)
    return render_htmx(
        request,
        "destinations/destinations_deliveries.html",
        "destinations/destinations_deliveries.html",
        {
            "deliveries": rows,
            "filters": filters,
            "destinations": selectors.destinations_list(workspace=request.workspace),
            "statuses": DeliveryStatus.choices,
            "older_query": (
                f"{query.urlencode()}&before={rows[-1].pk}".lstrip("&")
                if len(rows) == LOG_ROWS
                else ""
            ),
        },
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def delivery_detail(request, delivery_id: int):
    """One delivery in the drawer (htmx) or as a page: the consent decision and its reasons,
    and every attempt."""
    delivery = selectors.delivery_get(workspace=request.workspace, delivery_id=delivery_id)
    return render_htmx(
        request,
        "destinations/destinations_delivery_page.html",
        "destinations/destinations_delivery.html",
        {
            "delivery": delivery,
            "action": delivery.decision_action or "",
            "reasons": [(reason, explain(reason)) for reason in delivery.decision_reasons],
        },
    )


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def delivery_replay(request, delivery_id: int):
    delivery = selectors.delivery_get(workspace=request.workspace, delivery_id=delivery_id)
    try:
        count = services.deliveries_replay(
            workspace=request.workspace, actor=request.user, delivery_ids=[delivery.pk]
        )
    except ConflictError as error:  # the workspace is moving between regions
        _refused(request, error)
    else:
        if count:
            flash(request, f"Delivery {delivery.pk} is queued again.")
        else:
            messages.error(request, f"Delivery {delivery.pk} is not a dead letter.")
    return redirect("destinations:dead-letters", slug=request.workspace.slug)


def _dead_letter_filters(request, query) -> dict:
    """The dead letters' filters: destination and reason group (from the query string, or
    from a bulk form's hidden fields), and the page's anchor. Unknown values are ignored, as
    on the delivery log: an unknown destination or reason matches all / nothing."""
    return {
        "destination": _destination_filter(request, query),
        "reason": query.get("reason", "")[:300] or None,
        "before": _delivery_id(query.get("before", "")),
        "after": _delivery_id(query.get("after", "")),
    }


def _dead_letters_page(request, filters: dict, *, bulk_form=None, status=200):
    workspace, destination, reason = request.workspace, filters["destination"], filters["reason"]
    newer = filters["after"] is not None and filters["before"] is None
    rows = selectors.deliveries_list(
        workspace=workspace,
        destination=destination,
        status=DeliveryStatus.DEAD,
        reason=reason,
        limit=LOG_ROWS + 1,  # one more tells whether there is a further page
        before=filters["before"],
        after=filters["after"],
    )
    more = len(rows) > LOG_ROWS
    rows = (rows[1:] if newer else rows[:LOG_ROWS]) if more else rows
    query = QueryDict(mutable=True)
    for key, value in (
        ("destination", destination.public_id if destination else ""),
        ("reason", reason or ""),
    ):
        if value:
            query[key] = value
    base = query.urlencode()
    groups, matching = selectors.dead_letter_summary(
        workspace=workspace, destination=destination, reason=reason
    )
    has_older = bool(rows) and (more if not newer else True)
    has_newer = bool(rows) and (more if newer else filters["before"] is not None)
    return render_htmx(
        request,
        "destinations/destinations_dead_letters.html",
        "destinations/_dead_letters.html",
        {
            "deliveries": rows,
            "filters": filters,
            "base_query": base,
            "older_query": f"{base}&before={rows[-1].pk}".lstrip("&") if has_older else "",
            "newer_query": f"{base}&after={rows[0].pk}".lstrip("&") if has_newer else "",
            "groups": groups,
            "matching": matching,
            "destinations": selectors.destinations_list(workspace=workspace),
            "bulk_form": bulk_form,
            "selected_max": DeadLetterBulkForm.SELECTED_MAX,
        },
        status=status,
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def dead_letters(request):
    """Dead letters grouped by reason, a page of them (keyset: ``before``/``after`` a delivery
    id), filtered by destination and reason; for htmx only the list."""
    return _dead_letters_page(request, _dead_letter_filters(request, request.GET))


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def dead_letters_bulk(request):
    """Replay or discard the ticked dead letters, or all that match the filters; refusals on
    their field (422)."""
    form = DeadLetterBulkForm(request.POST)
    filters = _dead_letter_filters(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        destination = filters["destination"]
        if data["destination"] and destination is None:
            form.add_error("destination", "No such destination in this workspace.")
        else:
            try:
                count = services.dead_letters_bulk(
                    workspace=request.workspace,
                    actor=request.user,
                    action=data["action"],
                    destination=destination,
                    reason=data["reason"] or None,
                    delivery_ids=data["ids"] if data["scope"] == "selected" else None,
                )
            except DomainError as error:
                form_error(form, error)
            else:
                noun = f"dead letter{'s' if count != 1 else ''}"
                if not count:
                    messages.error(request, "No dead letter was left to act on.")
                elif data["action"] == "replay":
                    flash(request, f"{count} {noun} queued again.")
                else:
                    flash(request, f"{count} {noun} discarded.")
                url = reverse("destinations:dead-letters", args=[request.workspace.slug])
                query = {
                    key: value
                    for key, value in (
                        ("destination", destination.public_id if destination else ""),
                        ("reason", data["reason"]),
                    )
                    if value
                }
                return redirect(f"{url}?{urlencode(query)}" if query else url)
    return _dead_letters_page(request, filters, bulk_form=form, status=422)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def dead_letters_replay(request):
    """Replay the dead letters of the destination the form names, or of every destination
    (one audit entry per destination)."""
    destination_id = request.POST.get("destination", "").strip()
    destination = _destination(request, destination_id) if destination_id else None
    try:
        count = services.dead_letters_replay(
            workspace=request.workspace, actor=request.user, destination=destination
        )
    except ConflictError as error:  # the workspace is moving between regions
        _refused(request, error)
    else:
        if count:
            flash(request, f"{count} dead letter{'s' if count != 1 else ''} queued again.")
        else:
            messages.error(request, "There was no dead letter to replay.")
    url = reverse("destinations:dead-letters", args=[request.workspace.slug])
    return redirect(f"{url}?destination={destination.public_id}" if destination else url)
