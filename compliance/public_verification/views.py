"""Public verification pages: the admins' switch (``/w/<slug>/settings/public-verification/``)
and the public page (``/verify/<workspace public id>/``), which anyone may open while the
workspace has opted in.

The public page sets no cookie and needs no session or CSRF token (a GET form): it is
rendered from a template of its own, not the dashboard's layout (which carries a CSRF token
for htmx). It answers like the JSON API: 404 for an unknown, deleted or not opted-in
workspace (one body for all three), 400 for a malformed hash, 404 for an unknown entry,
429 with ``Retry-After`` past the rate limit.
"""

from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from compliance.public_verification import selectors, services
from compliance.public_verification.forms import EntryHashForm, PublicVerificationForm
from compliance.public_verification.headers import public_cache_headers
from compliance.public_verification.throttle import public_rate_take
from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, render_htmx, workspace_view
from workspaces.policy import Action

PUBLIC_TEMPLATE = "compliance/public_verification/public.html"


def _public_render(context: dict, status: int) -> HttpResponse:
    """The public page, rendered without the request: no context processor reads the
    session or the signed-in user, so the answer neither sets a cookie nor varies with one."""
    return HttpResponse(render_to_string(PUBLIC_TEMPLATE, context), status=status)


def _public_urls(request, workspace) -> dict:
    page = reverse("public_verification:page", args=[workspace.public_id])
    return {
        "page": request.build_absolute_uri(page),
        "api": request.build_absolute_uri(
            reverse("api:public-verification", args=[workspace.public_id])
        ),
        "proof": request.build_absolute_uri(
            reverse("api:public-verification-proof", args=[workspace.public_id])
        ),
    }


@workspace_view(Action.AUDIT_SETTINGS)
@require_http_methods(["GET", "POST"])
def settings_page(request):
    workspace = request.workspace
    form = PublicVerificationForm(request.POST if request.method == "POST" else None)
    status = 200
    error = None
    if request.method == "POST":
        if form.is_valid():
            try:
                services.public_verification_set(
                    workspace=workspace,
                    actor=request.user,
                    enabled=form.cleaned_data["enabled"],
                )
            except DomainError as refused:  # an advisory lock (AuditLockedError) above all
                error, status = refused.message, refused.status
            else:
                on = form.cleaned_data["enabled"]
                flash(request, f"Public verification {'on' if on else 'off'}.")
                if not request.htmx:
                    return redirect("public_verification:settings", slug=workspace.slug)
                form = PublicVerificationForm()
        else:
            status = 422
    return render_htmx(
        request,
        "compliance/public_verification/settings.html",
        "compliance/public_verification/_settings.html",
        {
            "state": selectors.public_verification_get(workspace=workspace),
            "form": form,
            "error": error,
            "urls": _public_urls(request, workspace),
        },
        status=status,
    )


@require_safe
def public_page(request, workspace_id: str):
    return public_cache_headers(_public_page(request, workspace_id))


def _public_page(request, workspace_id: str):
    decision = public_rate_take(request)
    if not decision.allowed:
        response = _public_render({"refused": "rate", "retry_after": decision.retry_after}, 429)
        response["Retry-After"] = str(decision.retry_after)
        return response
    workspace = selectors.public_workspace(public_id=workspace_id)
    if workspace is None:
        return _public_render({"refused": "not_found"}, 404)
    context = {
        "workspace_id": workspace.public_id,
        "log": selectors.public_log(workspace=workspace),
        "urls": _public_urls(request, workspace),
        "form": EntryHashForm(),
    }
    status = 200
    if "hash" in request.GET:
        form = EntryHashForm(request.GET)
        context["form"] = form
        if not form.is_valid():
            status = 400
        else:
            try:
                context["proof"] = selectors.public_inclusion_proof(
                    workspace=workspace, entry_hash=form.cleaned_data["hash"]
                )
            except selectors.EntryNotFound:
                context["lookup"] = "not_found"
                status = 404
            except selectors.EntryNotCheckpointed as pending:
                context["lookup"] = "pending"
                context["pending_size"] = pending.size
                status = 409
            except selectors.CheckpointUnverified as failed:
                context["lookup"] = "failed"
                context["failed_reason"] = failed.reason
                status = 409
    return _public_render(context, status)
