"""Privacy → Requests and Suppressed subjects (dashboard; admins only, as the API).

Thin: the form in, ``services.dsr_create`` (its work queued on the region's Celery queue
after commit, as the API's), selectors out."""

import orjson
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods

from privacy.models import RequestStatus, RequestType
from privacy.requests import selectors, services
from privacy.requests.forms import RequestCreateForm
from tracklayer.exceptions import DomainError, NotFoundError, PermissionDeniedError
from workspaces.dashboard import flash, render_htmx, workspace_view

LIST_LIMIT = 100
RUNNING = {RequestStatus.PENDING, RequestStatus.RUNNING}


def _get(request, request_id: str):
    try:
        return selectors.dsr_get(workspace=request.workspace, public_id=request_id)
    except NotFoundError:
        raise Http404("No such data-subject request.") from None


def _page(request, *, form=None, status=200):
    rows = selectors.dsr_list(workspace=request.workspace)[:LIST_LIMIT]
    return render_htmx(
        request,
        "privacy/requests/requests.html",
        "privacy/requests/_requests.html",
        {"form": form or RequestCreateForm(), "rows": rows, "running": RUNNING},
        status=status,
    )


@workspace_view(services.REQUIRED_ACTION)
@require_http_methods(["GET", "POST"])
def requests_page(request):
    if request.method == "GET":
        return _page(request)
    form = RequestCreateForm(request.POST)
    if form.is_valid():
        try:
            created = services.dsr_create(
                workspace=request.workspace, actor=request.user, **form.body()
            )
        except PermissionDeniedError as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            form.service_error(error.field, error.message)
        else:
            flash(request, f"Request {created.public_id} made; it runs in the background.")
            if request.htmx:
                return _page(request)
            return redirect("privacy:requests", slug=request.workspace.slug)
    return _page(request, form=form, status=422)


@workspace_view(services.REQUIRED_ACTION)
@require_GET
def request_detail(request, request_id: str):
    """The request's page; for htmx (the list's polling) only its row."""
    found = _get(request, request_id)
    return render_htmx(
        request,
        "privacy/requests/detail.html",
        "privacy/requests/_row.html",
        {"row": found, "running": RUNNING, "access": RequestType.ACCESS},
    )


def _download(data: dict, name: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(data, option=orjson.OPT_INDENT_2),
        content_type="application/json",
        status=status,
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _error(error: DomainError) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": error.code, "message": error.message, "field": error.field}},
        status=error.status,
    )


@workspace_view(services.REQUIRED_ACTION)
@require_GET
def request_receipt(request, request_id: str):
    found = _get(request, request_id)
    try:
        receipt = services.dsr_receipt(
            workspace=request.workspace, actor=request.user, public_id=found.public_id
        )
    except PermissionDeniedError as error:
        raise PermissionDenied(error.message) from None
    return _download(receipt, f"{found.public_id}-receipt.json")


@workspace_view(services.REQUIRED_ACTION)
@require_GET
def request_export(request, request_id: str):
    found = _get(request, request_id)
    try:
        data = services.dsr_export_read(workspace=request.workspace, public_id=found.public_id)
    except DomainError as error:
        return _error(error)
    return _download(data, f"{found.public_id}-export.json")


@workspace_view(services.REQUIRED_ACTION)
@require_GET
def suppressed_page(request):
    rows = selectors.suppression_list(workspace=request.workspace)[:500]
    return render_htmx(
        request,
        "privacy/requests/suppressed.html",
        "privacy/requests/suppressed.html",
        {"rows": rows},
    )
