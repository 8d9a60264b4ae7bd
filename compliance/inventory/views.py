"""The destination inventory page and its downloads (CSV, JSON). Read-only: every member who
can see the destinations (``WORKSPACE_VIEW``) sees what leaves, to whom and why."""

from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from compliance.inventory import export, selectors
from workspaces.dashboard import render_htmx, workspace_view
from workspaces.policy import Action


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def inventory_page(request):
    rows = selectors.inventory_rows(workspace=request.workspace)
    return render_htmx(
        request,
        "compliance/inventory/inventory.html",
        "compliance/inventory/inventory.html",
        {
            "rows": rows,
            "all_events": selectors.ALL_EVENTS,
            # Nobody answers for it: no owner, an owner who has left, or no purpose.
            "incomplete": sum(
                1 for row in rows if not row["owner_is_member"] or not row["purpose"]
            ),
        },
    )


def _download(request, body: bytes, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    day = timezone.now().date().isoformat()
    name = f"destination-inventory-{request.workspace.slug}-{day}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def inventory_csv_download(request):
    body = export.inventory_csv(workspace=request.workspace)
    return _download(request, body, "text/csv; charset=utf-8", "csv")


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def inventory_json_download(request):
    body = export.inventory_json(workspace=request.workspace)
    return _download(request, body, "application/json", "json")
