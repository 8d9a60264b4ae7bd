"""Access reviews (dashboard), under ``w/<slug>/compliance/access-reviews/``: the list with
"Open a review", a campaign's page to decide each item (htmx: the ``#access-review`` section
comes back), complete or cancel it, and its exports (CSV, JSON).

Thin: a form in, one service, the page (or its section) out. Everyone who may read the audit
log reads; admins decide (``services.REVIEW_ACTION``). Refusals come back on the item's row
(422) or as a message above the section (409)."""

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from compliance.access_reviews import export, selectors, services
from compliance.access_reviews.forms import (
    SHOW_CHOICES,
    CampaignOpenForm,
    DecisionForm,
    ItemFilterForm,
)
from compliance.access_reviews.models import CampaignStatus, Decision, SubjectKind
from tracklayer.exceptions import DomainError, NotFoundError, PermissionDeniedError
from workspaces.dashboard import flash, render_htmx, workspace_context, workspace_view
from workspaces.models import Role

LIST_LIMIT = 100
# Rows (each with its decision form) on one page of a campaign: 1,200 at once were 2 MB.
PAGE_SIZE = 100


# --- the list -----------------------------------------------------------------------------------


def _list_page(request, *, form=None, status=200, error=None):
    campaigns = selectors.campaign_list_with_counts(workspace=request.workspace)[:LIST_LIMIT]
    return render_htmx(
        request,
        "compliance/access_reviews/list.html",
        "compliance/access_reviews/_list.html",
        {
            "campaigns": campaigns,
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


def _filters(request) -> tuple[ItemFilterForm, str, int | None]:
    """Which rows the page shows (``show``) and which page of them; a bad value is the whole
    list again, with the form's error (400)."""
    filters = ItemFilterForm(request.GET)
    if not filters.is_valid():
        return filters, "all", None
    return filters, filters.cleaned_data["show"] or "all", filters.cleaned_data["page"]


def _shown(row, show: str) -> bool:
    if show == "undecided":
        return not row["item"].decision
    if show == "decided":
        return bool(row["item"].decision)
    if show == "flagged":
        return bool(row["flags"])
    return True


def _context(request, campaign, *, error=None, posted=None, only: str | None = None) -> dict:
    """Everything the campaign's page shows: the figures over every item, the rows (each
    with its decision form) of one page of those ``show`` selects. ``only``: the one row a
    decision answers with. ``posted``: a refused decision form, shown on its item's row."""
    filters, show, page_number = _filters(request)
    items = selectors.campaign_items(campaign=campaign)
    changes = selectors.changes_since_previous(
        workspace=request.workspace, campaign=campaign, items=items
    )
    rows = []
    for item in items:
        change = changes.of(item)
        rows.append(
            {
                "item": item,
                "change": change,
                "flags": selectors.item_flags(item, campaign=campaign, change=change),
                "key_age_days": selectors.key_age_days(item, campaign=campaign),
            }
        )
    tallies = {
        value: sum(1 for row in rows if _shown(row, value)) for value, _label in SHOW_CHOICES
    }
    # Members first (as the page shows them), then keys; a page may hold some of each.
    chosen = [r for r in rows if r["item"].kind == SubjectKind.MEMBER and _shown(r, show)]
    chosen += [r for r in rows if r["item"].kind == SubjectKind.API_KEY and _shown(r, show)]
    if only is not None:
        chosen = [r for r in rows if r["item"].public_id == only]
    page = Paginator(chosen, PAGE_SIZE).get_page(page_number)
    for row in page.object_list:
        is_posted = posted is not None and posted.data.get("item") == row["item"].public_id
        row["form"] = posted if is_posted else _row_form(row["item"])
    own = request.user.public_id
    unchanged = [
        r
        for r in rows
        if not r["item"].decision and not r["change"] and r["item"].subject_id != own
    ]
    # Carried by the page's forms, so that their answer shows the same rows.
    query = {k: v for k, v in (("show", show), ("page", page_number)) if v not in ("all", 1, None)}
    return {
        "campaign": campaign,
        "rows": page.object_list,
        "members": [r for r in page.object_list if r["item"].kind == SubjectKind.MEMBER],
        "keys": [r for r in page.object_list if r["item"].kind == SubjectKind.API_KEY],
        "page": page,
        "filters": filters,
        "show": show,
        "shows": [(value, label, tallies[value]) for value, label in SHOW_CHOICES],
        "view_query": urlencode(query),
        "changes": changes,
        "counts": selectors.campaign_counts(items),
        "confirmable": len(unchanged) if changes.previous else 0,
        "roles": Role.choices,
        "key_max_age_days": selectors.KEY_MAX_AGE_DAYS,
        "error": error,
    }


def _detail(request, campaign, *, status=200, error=None, posted=None):
    context = _context(request, campaign, error=error, posted=posted)
    if status == 200 and context["filters"].errors:
        status = 400
    return render_htmx(
        request,
        "compliance/access_reviews/detail.html",
        "compliance/access_reviews/_detail.html",
        context,
        status=status,
    )


def _row(request, campaign, item_id: str, *, status=200, posted=None):
    """For htmx: the decided (or refused) item's row, with the figures and the actions out of
    band — the other rows, and what was typed in them, stay as they are."""
    context = _context(request, campaign, posted=posted, only=item_id)
    row = next((r for r in context["rows"] if r["item"].public_id == item_id), None)
    if row is None:  # no such item here (crafted): the whole section, not into the row
        return _section(_detail(request, campaign, status=status))
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
    query = request.GET.urlencode()
    return redirect(selectors.campaign_url(campaign) + (f"?{query}" if query else ""))


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
