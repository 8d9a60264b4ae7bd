"""Privacy → Retention: the workspace's windows (admins change them; everyone else reads them),
the last purge and its counts, when the next one runs and how much is past its window now.

Thin: the form in, ``retention_windows_update`` (audited) out. With htmx the panel is swapped
in place (422 with the errors on their fields); without JavaScript the form posts and the page
redirects back (or answers 422 with the whole page)."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from destinations.ingestion.runtime import ingestion_settings_get
from destinations.retention.forms import RetentionForm
from destinations.retention.selectors import purge_schedule, retention_backlog, retention_overview
from destinations.retention.services import retention_windows_update
from tracklayer.exceptions import DomainError, PermissionDeniedError
from workspaces import policy
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action

# The purge table's rows: (store, what it is, the window's field or None for "with another").
ROWS = (
    ("events", "Events", "events_days"),
    ("operational", "IP addresses and user agents", "operational_days"),
    ("deliveries", "Finished deliveries and dead letters", "delivery_days"),
    ("attempts", "Delivery attempts", None),
    ("message_ids", "De-duplication keys", "dedup_days"),
    ("rejected", "Refused events the debugger shows", "events_days"),
)


def _rows(overview, backlog) -> list[dict]:
    return [
        {
            "store": store,
            "label": label,
            "days": getattr(overview, window) if window else None,
            "past": backlog.counts.get(store),
            "more": backlog.counts.get(store, 0) > backlog.cap,
            "purged": overview.last_purge_counts[store],
        }
        for store, label, window in ROWS
    ]


def _page(request, form, *, status: int = 200):
    overview = retention_overview(workspace=request.workspace)
    backlog = retention_backlog(workspace=request.workspace)
    return render_htmx(
        request,
        "destinations/retention.html",
        "destinations/retention_panel.html",
        {
            "form": form,
            "overview": overview,
            "rows": _rows(overview, backlog),
            "backlog": backlog,
            "schedule": purge_schedule(),
        },
        status=status,
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def retention_page(request):
    current = ingestion_settings_get(workspace=request.workspace)
    if request.method == "GET":
        return _page(request, RetentionForm.for_settings(current))
    if not policy.can(request.membership.role, Action.WORKSPACE_UPDATE):
        # before the form: a viewer learns nothing from validation, only that they may not
        raise PermissionDenied("Only admins change retention.")
    form = RetentionForm.for_settings(current, request.POST)
    if form.is_valid():
        try:
            updated = retention_windows_update(
                workspace=request.workspace, actor=request.user, values=form.cleaned_data
            )
        except PermissionDeniedError as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "Retention saved.")
            if request.htmx:
                return _page(request, RetentionForm.for_settings(updated))
            return redirect("destinations:retention", slug=request.workspace.slug)
    return _page(request, form, status=422)
