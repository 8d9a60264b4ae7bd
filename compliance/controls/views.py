"""Compliance → Controls (dashboard): every control with its status, its live evidence and
what the customer still needs; the same as JSON (``controls.json``).

Read-only, for every member (``AUDIT_VIEW``, as the audit log). Thin: the filter in,
``evidence.controls_evaluate`` out. An evidence link shows only where the member's role may
follow it (``allowed``: the policy actions of the role)."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from compliance.controls import evidence
from compliance.controls.catalogue import FRAMEWORKS
from compliance.controls.forms import ControlFilterForm
from tracklayer.api import error_body
from workspaces import policy
from workspaces.dashboard import render_htmx, workspace_view
from workspaces.policy import Action

VIEW_ACTION = Action.AUDIT_VIEW


@workspace_view(VIEW_ACTION)
@require_GET
def controls_page(request):
    filters = ControlFilterForm(request.GET)
    valid = filters.is_valid()
    framework = (filters.cleaned_data.get("framework") if valid else None) or None
    controls = evidence.controls_evaluate(workspace=request.workspace, framework=framework)
    role = request.membership.role
    context = {
        "filters": filters,
        "controls": controls,
        "summary": evidence.controls_summary(controls),
        "evidence": evidence.controls_evidence(controls),
        "allowed": {str(action) for action in Action if policy.can(role, action)},
    }
    return render_htmx(
        request,
        "compliance/controls/controls.html",
        "compliance/controls/_controls.html",
        context,
        status=200 if valid else 400,
    )


@workspace_view(VIEW_ACTION)
@require_GET
def controls_json(request):
    filters = ControlFilterForm(request.GET)
    if not filters.is_valid():
        message = "; ".join(filters.errors["framework"])
        return JsonResponse(
            error_body("invalid", message, field="framework", choices=list(FRAMEWORKS)),
            status=400,
        )
    framework = filters.cleaned_data["framework"] or None
    return JsonResponse(
        evidence.controls_document(workspace=request.workspace, framework=framework),
        json_dumps_params={"indent": 2},
    )
