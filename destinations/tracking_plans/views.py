"""Settings → Tracking plan (thin: forms in, ``destinations.tracking_plans`` out)."""

from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from destinations.tracking_plans import selectors, services
from destinations.tracking_plans.forms import (
    NEW_SCHEMA,
    EventRemoveForm,
    EventSchemaForm,
    PlanImportForm,
    PlanModeForm,
    VersionedForm,
    pretty_json,
)
from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action

# --- The page ---------------------------------------------------------------------------


def _version(plan) -> int:
    return plan.version if plan is not None else 0


def _event_cards(plan, *, failed=None, failed_for=None, opened=None) -> list[dict]:
    cards = []
    for index, name in enumerate(sorted(plan.schemas) if plan is not None else []):
        if failed is not None and failed_for == name:
            form = failed
        else:
            schema = plan.schemas[name]
            form = EventSchemaForm(
                initial={
                    "event_name": name,
                    "previous_name": name,
                    "schema": pretty_json(schema),
                    "version": plan.version,
                },
            )
        form.auto_id = f"event-{index}-%s"
        schema = plan.schemas[name]
        cards.append(
            {
                "name": name,
                "form": form,
                "open": form is failed or name == opened,
                "property_count": len(schema.get("properties", {})),
                "required_count": len(schema.get("required", [])),
                "remove_form": EventRemoveForm(
                    initial={"event_name": name, "version": plan.version},
                    auto_id=f"remove-{index}-%s",
                ),
            }
        )
    return cards


def _page(
    request,
    *,
    mode_form=None,
    add_form=None,
    import_form=None,
    failed_event=None,
    failed_for=None,
    opened=None,
    conflict=None,
    status=200,
):
    workspace = request.workspace
    plan = selectors.tracking_plan_get(workspace=workspace)
    version = _version(plan)
    if mode_form is None:
        mode_form = PlanModeForm(
            initial={
                "mode": plan.mode if plan else "allow",
                "unplanned": plan.unplanned if plan else "allow",
                "version": version,
            }
        )
    if failed_event is not None and failed_for is None:
        add_form = failed_event
        add_form.auto_id = "add-%s"
    if add_form is None:
        add_form = EventSchemaForm(
            initial={"schema": NEW_SCHEMA, "version": version}, auto_id="add-%s"
        )
    return render_htmx(
        request,
        "destinations/tracking_plan.html",
        "destinations/tracking_plan_section.html",
        {
            "plan": plan,
            "plan_version": version,
            "mode_form": mode_form,
            "events": _event_cards(plan, failed=failed_event, failed_for=failed_for, opened=opened),
            "add_form": add_form,
            "add_open": failed_event is not None and failed_for is None,
            "import_form": import_form
            or PlanImportForm(initial={"version": version}, auto_id="import-%s"),
            "delete_form": VersionedForm(initial={"version": version}, auto_id="delete-%s"),
            "violations": selectors.tracking_plan_violations_list(workspace=workspace),
            "conflict": conflict,
        },
        status=status,
    )


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def tracking_plan(request):
    return _page(request)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def tracking_plan_mode(request):
    form = PlanModeForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.tracking_plan_mode_set(
                workspace=request.workspace,
                actor=request.user,
                mode=data["mode"],
                unplanned=data["unplanned"],
                expected_version=data["version"],
            )
        except DomainError as error:
            return _refused(request, error, mode_form=form)
        flash(request, "Tracking plan saved.")
        return _page(request)
    return _page(request, mode_form=form, status=422)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def tracking_plan_event_save(request):
    form = EventSchemaForm(request.POST)
    previous = request.POST.get("previous_name") or None
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.tracking_plan_event_save(
                workspace=request.workspace,
                actor=request.user,
                event_name=data["event_name"],
                schema=data["schema"],
                previous_name=previous,
                expected_version=data["version"],
            )
        except DomainError as error:
            return _refused(request, error, failed_event=form, failed_for=previous)
        flash(request, f"“{data['event_name']}” saved.")
        return _page(request, opened=data["event_name"])
    return _page(request, failed_event=form, failed_for=previous, status=422)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def tracking_plan_event_remove(request):
    form = EventRemoveForm(request.POST)
    if not form.is_valid():
        return _page(request, conflict="Reload the page and try again.", status=422)
    name = form.cleaned_data["event_name"]
    try:
        services.tracking_plan_event_remove(
            workspace=request.workspace,
            actor=request.user,
            event_name=name,
            expected_version=form.cleaned_data["version"],
        )
    except DomainError as error:
        return _refused(request, error)
    flash(request, f"“{name}” removed from the plan.")
    return _page(request)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def tracking_plan_import(request):
    form = PlanImportForm(request.POST, request.FILES, auto_id="import-%s")
    if form.is_valid() and "parsed" in form.cleaned_data:
        try:
            plan = services.tracking_plan_import(
                workspace=request.workspace,
                actor=request.user,
                document=form.cleaned_data["parsed"],
                expected_version=form.cleaned_data["version"],
            )
        except DomainError as error:
            return _refused(request, error, import_form=form)
        flash(request, f"Plan imported: {len(plan.schemas)} events, version {plan.version}.")
        return _page(request)
    return _page(request, import_form=form, status=422)


@workspace_view(Action.OPERATIONS_EDIT)
@require_POST
def tracking_plan_delete(request):
    form = VersionedForm(request.POST)
    if not form.is_valid():
        return _page(request, conflict="Reload the page and try again.", status=422)
    try:
        services.tracking_plan_delete(
            workspace=request.workspace,
            actor=request.user,
            expected_version=form.cleaned_data["version"],
        )
    except DomainError as error:
        return _refused(request, error)
    flash(request, "Tracking plan deleted: events are no longer checked.")
    return _page(request)


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def tracking_plan_export(request):
    document = selectors.tracking_plan_export(workspace=request.workspace)
    response = HttpResponse(
        pretty_json(document) + "\n", content_type="application/json; charset=utf-8"
    )
    filename = f"tracking-plan-{request.workspace.slug}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _refused(request, error: DomainError, **forms_):
    """A refused change: on the form's field when it names one, else above the page; a plan
    changed by someone else (409) is said as such with nothing of the user's input lost."""
    if error.status == 409:
        return _page(request, conflict=error.message, status=409, **forms_)
    if error.status != 400:
        raise error
    for form in (forms_.get("mode_form"), forms_.get("failed_event"), forms_.get("import_form")):
        if form is not None:
            form_error(form, error)
            return _page(request, status=422, **forms_)
    return _page(request, conflict=error.message, status=422)
