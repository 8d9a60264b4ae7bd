"""Anomalies (dashboard): the list with its filters, an anomaly's evidence with its sparkline,
acknowledge and resolve (editors and admins), the alert settings (admins).

Thin: forms in, one service or selector, render (``render_htmx``: the changed section for
htmx, the whole page otherwise)."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from monitoring.anomalies import selectors, services
from monitoring.anomalies.forms import AlertSettingsForm, AnomalyFilterForm
from monitoring.anomalies.sparkline import sparkline
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError
from workspaces import policy
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view

LIST_LIMIT = 100


def _get(request, anomaly_id: str):
    try:
        return selectors.anomaly_get(workspace=request.workspace, public_id=anomaly_id)
    except DomainError:
        raise Http404("No such anomaly.") from None


def _settings_form(request, data=None):
    alert_settings, members = selectors.alert_settings_for(workspace=request.workspace)
    initial = {
        "email_members": members,
        "webhook_url": alert_settings.webhook_url,
        "quiet_minutes": alert_settings.quiet_minutes,
        "min_severity": alert_settings.min_severity,
    }
    return AlertSettingsForm(data, initial=initial, workspace=request.workspace)


def _list_context(request) -> dict:
    filters = AnomalyFilterForm(request.GET)
    options = filters.cleaned_data if filters.is_valid() else {}
    status = options.get("status") or selectors.UNRESOLVED
    rows = selectors.anomalies_list(
        workspace=request.workspace,
        status=None if status == "all" else status,
        kind=options.get("kind") or None,
    )
    return {"filters": filters, "rows": rows[:LIST_LIMIT], "limit": LIST_LIMIT}


@workspace_view(services.VIEW_ACTION)
@require_GET
def anomalies_page(request):
    context = _list_context(request)
    if policy.can(request.membership.role, services.SETTINGS_ACTION):
        context["settings_form"] = _settings_form(request)
    return render_htmx(
        request, "monitoring/anomalies.html", "monitoring/anomalies_list.html", context
    )


@workspace_view(services.VIEW_ACTION)
@require_GET
def anomaly_detail(request, anomaly_id: str):
    anomaly = _get(request, anomaly_id)
    return render_htmx(
        request,
        "monitoring/anomalies_detail.html",
        "monitoring/anomalies_detail_section.html",
        _detail_context(request, anomaly),
    )


def _detail_context(request, anomaly, **extra) -> dict:
    return {
        "anomaly": anomaly,
        "spark": sparkline(anomaly.evidence.get("series")),
        "incident": selectors.anomaly_incident(workspace=request.workspace, anomaly=anomaly),
        **extra,
    }


def _act(request, anomaly_id: str, service, done: str):
    anomaly = _get(request, anomaly_id)
    status = 200
    try:
        anomaly = service(workspace=request.workspace, actor=request.user, anomaly=anomaly)
    except PermissionDeniedError as error:
        raise PermissionDenied(error.message) from None
    except ConflictError as error:
        anomaly = _get(request, anomaly_id)
        request.refusal = error.message
        status = 409
    else:
        flash(request, done)
        if not request.htmx:
            return redirect("anomalies:detail", slug=request.workspace.slug, anomaly_id=anomaly_id)
    return render_htmx(
        request,
        "monitoring/anomalies_detail.html",
        "monitoring/anomalies_detail_section.html",
        _detail_context(request, anomaly, refusal=getattr(request, "refusal", "")),
        status=status,
    )


@workspace_view(services.EDIT_ACTION)
@require_POST
def anomaly_acknowledge(request, anomaly_id: str):
    return _act(request, anomaly_id, services.anomaly_acknowledge, "Acknowledged.")


@workspace_view(services.EDIT_ACTION)
@require_POST
def anomaly_resolve(request, anomaly_id: str):
    return _act(request, anomaly_id, services.anomaly_resolve, "Resolved.")


@workspace_view(services.SETTINGS_ACTION)
@require_http_methods(["GET", "POST"])
def alert_settings(request):
    """The alert settings section (admins). A new webhook secret is shown once, here."""
    if request.method == "GET":
        return _settings_section(request, _settings_form(request))
    form = _settings_form(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            _, secret = services.alert_settings_update(
                workspace=request.workspace,
                actor=request.user,
                email_member_ids=[user.pk for user in data["email_members"]],
                webhook_url=data["webhook_url"],
                quiet_minutes=data["quiet_minutes"],
                min_severity=data["min_severity"],
                new_secret=data["new_secret"],
            )
        except PermissionDeniedError as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "Alert settings saved.")
            return _settings_section(request, _settings_form(request), secret=secret)
    return _settings_section(request, form, status=422)


def _settings_section(request, form, *, secret=None, status=200):
    return render_htmx(
        request,
        "monitoring/anomalies_settings_page.html",
        "monitoring/anomalies_settings.html",
        {"settings_form": form, "new_secret": secret},
        status=status,
    )
