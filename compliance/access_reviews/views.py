"""Access reviews (dashboard), under ``w/<slug>/compliance/access-reviews/``: the list with
"Open a review", a campaign's page to decide each item (htmx: the ``#access-review`` section
comes back), complete or cancel it, and its exports (CSV, JSON).

Thin: a form in, one service, the page (or its section) out. Everyone who may read the audit
log reads; admins decide (``services.REVIEW_ACTION``). Refusals come back on the item's row
(422) or as a message above the section (409)."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from compliance.access_reviews import export, selectors, services
from compliance.access_reviews.forms import CampaignOpenForm, DecisionForm
from compliance.access_reviews.models import CampaignStatus, Decision, SubjectKind
from tracklayer.exceptions import DomainError, NotFoundError, PermissionDeniedError
from workspaces.dashboard import flash, render_htmx, workspace_context, workspace_view
from workspaces.models import Role

LIST_LIMIT = 100


# --- the list -----------------------------------------------------------------------------------


def _list_page(request, *, form=None, status=200, error=None):
    campaigns = list(
        selectors.campaign_list(workspace=request.workspace).prefetch_related("items")[:LIST_LIMIT]
    )
    rows = [{"campaign": c, "counts": selectors.campaign_counts(c.items.all())} for c in campaigns]
    return render_htmx(
        request,
        "compliance/access_reviews/list.html",
        "compliance/access_reviews/_list.html",
        {
            "rows": rows,
            "form": form or CampaignOpenForm(),
            "open_campaign": selectors.campaign_open(workspace=request.workspace),
            "next_due": selectors.next_due(workspace=request.workspace),
            "error": error,
        },
        status=status,
    )


@workspace_view(services.VIEW_ACTION)
@require_GET
def campaigns_page(request):
    return _list_page(request)


@workspace_view(services.REVIEW_ACTION)
@require_POST
def campaign_open(request):
    form = CampaignOpenForm(request.POST)
    if form.is_valid():
        try:
            campaign = services.access_review_open(
                workspace=request.workspace,
                actor=request.user,
                due_at=form.cleaned_data["due_at"],
            )
        except PermissionDeniedError as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            if error.field in form.fields:
                form.add_service_errors(error)
            else:
                return _list_page(request, form=form, status=409, error=error)
        else:
            flash(request, f"Access review {campaign.period} opened.")
            url = selectors.campaign_url(campaign)
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _list_page(request, form=form, status=422)


# --- one campaign -------------------------------------------------------------------------------


def _get(request, campaign_id: str):
    try:
        return selectors.campaign_get(workspace=request.workspace, public_id=campaign_id)
    except NotFoundError:
        raise Http404("No such access review.") from None


def _row_form(item, data=None):
    initial = {
        "item": item.public_id,
        "decision": item.decision,  # undecided: "Decide…", never a silent confirm
        "new_role": item.new_role,
        "comment": item.comment,
    }
    return DecisionForm(data, initial=initial, auto_id=f"{item.public_id}-%s")


def _context(request, campaign, *, error=None, posted=None) -> dict:
    """Everything the campaign's page shows; ``posted``: a refused decision form, shown on
    its item's row."""
    items = selectors.campaign_items(campaign=campaign)
    changes = selectors.changes_since_previous(
        workspace=request.workspace, campaign=campaign, items=items
    )
    rows = []
    for item in items:
        is_posted = posted is not None and posted.data.get("item") == item.public_id
        rows.append(
            {
                "item": item,
                "change": changes.of(item),
                "form": posted if is_posted else _row_form(item),
                "key_age_days": (
                    (campaign.opened_at - item.created_at).days
                    if item.kind == SubjectKind.API_KEY and item.created_at
                    else None
                ),
            }
        )
    unchanged = [
        row
        for row in rows
        if not row["item"].decision
        and not row["change"]
        and row["item"].subject_id != request.user.public_id
    ]
    return {
        "campaign": campaign,
        "rows": rows,
        "members": [r for r in rows if r["item"].kind == SubjectKind.MEMBER],
        "keys": [r for r in rows if r["item"].kind == SubjectKind.API_KEY],
        "changes": changes,
        "counts": selectors.campaign_counts(items),
        "confirmable": len(unchanged) if changes.previous else 0,
        "roles": Role.choices,
        "error": error,
    }


def _detail(request, campaign, *, status=200, error=None, posted=None):
    return render_htmx(
        request,
        "compliance/access_reviews/detail.html",
        "compliance/access_reviews/_detail.html",
        _context(request, campaign, error=error, posted=posted),
        status=status,
    )


def _row(request, campaign, item_id: str, *, status=200, posted=None):
    """For htmx: the decided (or refused) item's row, with the figures and the actions out of
    band — the other rows, and what was typed in them, stay as they are."""
    context = _context(request, campaign, posted=posted)
    row = next((r for r in context["rows"] if r["item"].public_id == item_id), None)
    if row is None:
        return _detail(request, campaign, status=status)
    context["row"] = row
    return render(
        request,
        "compliance/access_reviews/_row_response.html",
        workspace_context(request, **context),
        status=status,
    )


def _section(response):
    """An answer that is not about one row replaces the whole section (htmx)."""
    response["HX-Retarget"] = "#access-review"
    response["HX-Reswap"] = "outerHTML"
    return response


def _done(request, campaign, message: str):
    flash(request, message)
    if request.htmx:
        return _detail(request, _get(request, campaign.public_id))
    return redirect(selectors.campaign_url(campaign))


def _refused(request, campaign, error: DomainError):
    """A refusal above the section: bad input 422 (as a form's errors are), a state that
    refuses the change 409."""
    if isinstance(error, PermissionDeniedError):
        raise PermissionDenied(error.message)
    status = {400: 422}.get(error.status, error.status)
    return _detail(request, campaign, status=status, error=error)


@workspace_view(services.VIEW_ACTION)
@require_GET
def campaign_detail(request, campaign_id: str):
    return _detail(request, _get(request, campaign_id))


@workspace_view(services.REVIEW_ACTION)
@require_POST
def campaign_decide(request, campaign_id: str):
    """One decision. For htmx the answer is the item's row (422 with its errors on it); a
    refusal that is not about the row (a closed campaign, an unknown item) is the section."""
    campaign = _get(request, campaign_id)
    form = DecisionForm(request.POST, auto_id=f"{request.POST.get('item', '')[:32]}-%s")
    if not form.is_valid():
        if "item" in form.errors:
            error = DomainError("Choose an item of this review.", field="item")
            return _section(_refused(request, campaign, error))
        return _answer(request, campaign, form, status=422)
    # The row's role menu is always there: what it says counts only with "change".
    changing = form.cleaned_data["decision"] == Decision.CHANGE
    new_role = form.cleaned_data["new_role"] if changing else ""
    try:
        item = services.access_review_decide(
            workspace=request.workspace,
            actor=request.user,
            campaign=campaign,
            item_id=form.cleaned_data["item"],
            decision=form.cleaned_data["decision"],
            new_role=new_role,
            comment=form.cleaned_data["comment"],
        )
    except DomainError as error:
        if isinstance(error, PermissionDeniedError):
            raise PermissionDenied(error.message) from None
        if error.field in form.fields and error.field != "item":
            form.add_service_errors(error)
            return _answer(request, campaign, form, status={400: 422}.get(error.status, 409))
        return _section(_refused(request, campaign, error))
    if request.htmx:
        return _row(request, campaign, item.public_id)
    suffix = " (your own access: marked as a self-review)" if item.self_review else ""
    decided = item.get_decision_display().lower()
    return _done(request, campaign, f"{item.name or item.subject_id}: {decided}{suffix}.")


def _answer(request, campaign, form, *, status: int):
    """A refused decision, on its row (htmx) or on the page."""
    if request.htmx:
        return _row(request, campaign, form.data.get("item", ""), status=status, posted=form)
    return _detail(request, campaign, status=status, posted=form)


@workspace_view(services.REVIEW_ACTION)
@require_POST
def campaign_confirm_unchanged(request, campaign_id: str):
    campaign = _get(request, campaign_id)
    try:
        count = services.access_review_confirm_unchanged(
            workspace=request.workspace, actor=request.user, campaign=campaign
        )
    except DomainError as error:
        return _refused(request, campaign, error)
    return _done(request, campaign, f"{count} unchanged item{'s' if count != 1 else ''} confirmed.")


@workspace_view(services.REVIEW_ACTION)
@require_POST
def campaign_complete(request, campaign_id: str):
    campaign = _get(request, campaign_id)
    try:
        campaign = services.access_review_complete(
            workspace=request.workspace, actor=request.user, campaign=campaign
        )
    except DomainError as error:
        return _refused(request, campaign, error)
    return _done(request, campaign, "Review completed: the decisions are applied.")


@workspace_view(services.REVIEW_ACTION)
@require_POST
def campaign_cancel(request, campaign_id: str):
    campaign = _get(request, campaign_id)
    try:
        campaign = services.access_review_cancel(
            workspace=request.workspace, actor=request.user, campaign=campaign
        )
    except DomainError as error:
        return _refused(request, campaign, error)
    return _done(request, campaign, "Review cancelled: nothing was applied.")


# --- exports ------------------------------------------------------------------------------------


def _download(campaign, body: bytes, *, extension: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    name = f"access-review-{campaign.period}-{campaign.public_id}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    if campaign.status == CampaignStatus.COMPLETED and extension == "json":
        response["X-Content-SHA256"] = campaign.result_sha256
    return response


@workspace_view(services.VIEW_ACTION)
@require_GET
def campaign_export_csv(request, campaign_id: str):
    campaign = _get(request, campaign_id)
    body = export.review_csv(campaign)
    return _download(campaign, body, extension="csv", content_type="text/csv; charset=utf-8")


@workspace_view(services.VIEW_ACTION)
@require_GET
def campaign_export_json(request, campaign_id: str):
    campaign = _get(request, campaign_id)
    return _download(
        campaign, export.review_json(campaign), extension="json", content_type="application/json"
    )
