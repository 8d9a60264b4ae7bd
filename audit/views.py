import orjson
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit import export, selectors, services
from audit.forms import ExportConfigForm
from tracklayer.exceptions import DomainError, NotFoundError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action


def _named(workspace, entries):
    names = selectors.audit_actor_names(workspace=workspace, actors=[e.actor for e in entries])
    for entry in entries:
        entry.actor_name = names.get(entry.actor, entry.actor)
    return entries


@workspace_view(Action.AUDIT_VIEW)
def audit_log(request):
    workspace = request.workspace
    event_type = request.GET.get("event_type") or None
    entries = selectors.audit_entry_list(workspace=workspace, event_type=event_type)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    page.object_list = _named(workspace, list(page.object_list))
    return render_htmx(
        request,
        "audit/log.html",
        "audit/_entries.html",
        {
            "page": page,
            "event_type": event_type,
            "event_types": selectors.audit_event_types(workspace=workspace),
            "head": selectors.audit_head(workspace=workspace),
            **_integrity_context(workspace),
        },
    )


def _integrity_context(workspace, result: dict | None = None, **extra) -> dict:
    verification = selectors.audit_verification_latest(workspace=workspace)
    return {
        "verification": verification,
        # what the panel shows: a run made by this request, else the latest recorded one
        "report": result or (verification.result if verification else None),
        "just_verified": result is not None,
        "coverage": selectors.audit_verify_coverage(
            workspace=workspace, result=result or (verification.result if verification else None)
        ),
        "checkpoint": selectors.audit_checkpoint_latest(workspace=workspace),
        "verifier_key": selectors.audit_verifier_key(workspace=workspace),
        "head": selectors.audit_head(workspace=workspace),
        **_pending_context(workspace),
        **extra,
    }


PENDING_SHOWN = 50


def _pending_context(workspace) -> dict:
    """What waits for the advisory lock to lift: how many entries, and the first of them."""
    pending = selectors.audit_pending_list(workspace=workspace)
    shown = _named(workspace, list(pending[:PENDING_SHOWN]))
    return {
        "pending_entries": shown,
        "pending_count": len(shown) if len(shown) < PENDING_SHOWN else pending.count(),
    }


def _render_integrity(request, status: int = 200, **extra):
    return render_htmx(
        request,
        "audit/log.html",
        "audit/_integrity.html",
        _integrity_context(request.workspace, **extra),
        status=status,
    )


@workspace_view(Action.AUDIT_VIEW)
@require_POST
def audit_verify(request):
    """One-click verify: recompute the chain and tree, check the checkpoints, record it."""
    result = services.audit_verify_record(workspace=request.workspace, actor=request.user)
    if not result["recorded"]:
        return _render_integrity(
            request, result=result, integrity_error="Verified, but not recorded: the log is locked."
        )
    return _render_integrity(request, result=result)


@workspace_view(Action.AUDIT_SETTINGS)
@require_POST
def audit_checkpoint(request):
    try:
        services.audit_checkpoint_sign(workspace=request.workspace, actor=request.user)
    except DomainError as error:
        return _render_integrity(request, status=409, integrity_error=error.message)
    return _render_integrity(request, signed=True)


@workspace_view(Action.AUDIT_SETTINGS)
@require_POST
def audit_lock(request):
    try:
        key = services.audit_advisory_lock_enable(workspace=request.workspace, actor=request.user)
    except DomainError as error:
        return _render_integrity(request, status=409, integrity_error=error.message)
    return _render_integrity(request, advisory_key=key)


@workspace_view(Action.AUDIT_SETTINGS)
@require_POST
def audit_unlock(request):
    try:
        appended = services.audit_advisory_lock_disable(
            workspace=request.workspace, actor=request.user, key=request.POST.get("key", "").strip()
        )
    except DomainError as error:
        return _render_integrity(request, status=409, integrity_error=error.message)
    # every entry appended but the last, which records the lifting itself
    return _render_integrity(request, unlocked=True, appended_count=len(appended) - 1)


# --- One entry: its content, hashes and inclusion proof ------------------------------------


def _entry_proof(request, idx: int) -> dict:
    try:
        return selectors.audit_entry_proof(workspace=request.workspace, idx=idx)
    except NotFoundError:
        raise Http404("No such audit entry.") from None


@workspace_view(Action.AUDIT_VIEW)
@require_GET
def audit_entry(request, idx: int):
    """An entry opened from the log: what it records field by field (before → after), who
    did it by name, its hashes, and its inclusion proof to the latest signed checkpoint,
    verified here. The page, or its section for htmx (opened above the log's table)."""
    proof = _entry_proof(request, idx)
    entry = _named(request.workspace, [proof["entry"]])[0]
    material = selectors.audit_entry_material(entry)
    rows, truncated = selectors.audit_payload_rows(material.get("payload") or {})
    return render_htmx(
        request,
        "audit/entry.html",
        "audit/_entry.html",
        {
            "entry": entry,
            "material": material,
            "payload_rows": rows,
            "payload_truncated": truncated,
            "proof": proof,
            "checkpoint_interval_minutes": selectors.audit_checkpoint_interval() // 60,
            "proof_check": selectors.PROOF_CHECK,
        },
    )


@workspace_view(Action.AUDIT_VIEW)
@require_GET
def audit_entry_proof(request, idx: int):
    """The entry's inclusion proof as a JSON file to check offline (409 while no signed
    checkpoint covers the entry yet, or when the checkpoint itself does not verify: then there
    is no signed root to prove anything to)."""
    proof = _entry_proof(request, idx)
    if proof["status"] == selectors.ProofStatus.PENDING:
        message = "No signed checkpoint covers this entry yet."
        return JsonResponse(
            {"error": {"code": "audit_entry_not_covered", "message": message}}, status=409
        )
    if proof["root"] is None:
        return JsonResponse(
            {"error": {"code": "audit_proof_failed", "message": proof["reason"]}}, status=409
        )
    document = selectors.audit_entry_proof_document(workspace=request.workspace, proof=proof)
    response = HttpResponse(
        orjson.dumps(document, option=orjson.OPT_INDENT_2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="entry-{idx}-proof.json"'
    return response


# --- Settings → Compliance: audit export ----------------------------------------------------


def _compliance(request, form=None, status: int = 200, **extra):
    config = export.audit_export_config_get(workspace=request.workspace)
    form = form or ExportConfigForm(
        initial={field: getattr(config, field) for field in export.CONFIG_FIELDS}
    )
    return render_htmx(
        request,
        "audit/compliance.html",
        "audit/compliance.html",
        {
            "form": form,
            "config": config,
            "secret_stored": bool(config.s3_secret_access_key_encrypted),
            **extra,
        },
        status=status,
    )


@workspace_view(Action.AUDIT_SETTINGS)
@require_http_methods(["GET", "POST"])
def compliance_settings(request):
    if request.method == "GET":
        return _compliance(request)
    form = ExportConfigForm(request.POST)
    if form.is_valid():
        values = dict(form.cleaned_data)
        secret = values.pop("s3_secret_access_key")
        try:
            export.audit_export_config_update(
                workspace=request.workspace,
                actor=request.user,
                values=values,
                s3_secret_access_key=secret,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "Export settings saved.")
            return redirect("audit:compliance", slug=request.workspace.slug)
    return _compliance(request, form=form, status=400)


@transaction.non_atomic_requests
@workspace_view(Action.AUDIT_SETTINGS)
@require_POST
def export_now(request):
    try:
        key = export.audit_export_attempt(workspace=request.workspace, actor=request.user)
    except DomainError as error:
        return _compliance(request, status=error.status, export_error=error.message)
    return _compliance(request, exported_key=key)
