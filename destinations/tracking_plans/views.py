"""Settings → Tracking plan (thin: forms in, ``destinations.tracking_plans`` out)."""

import json

from django import forms
from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from destinations.tracking_plans import services as tracking_plans
from destinations.tracking_plans.services import IDENTIFY
from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action

MODE_CHOICES = [
    ("allow", "Allow — accept every event, count its violations"),
    ("flag", "Flag — accept, mark violating events “flagged”"),
    ("block", "Block — reject violating events"),
]
UNPLANNED_CHOICES = [
    ("allow", "Allow — accept, unchecked and uncounted"),
    ("flag", "Flag — accept, mark “flagged” and count"),
    ("block", "Block — reject"),
]
NEW_SCHEMA = '{\n  "type": "object",\n  "properties": {},\n  "required": []\n}'
MAX_DOCUMENT_BYTES = 1024 * 1024


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str):
    """JSON text to a value, with an error that says where it went wrong."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from error
    except ValueError as error:
        raise forms.ValidationError(f"Not valid JSON: {error}.") from error


def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class VersionedForm(forms.Form):
    """Every change names the plan version it was made on: a plan changed meanwhile by
    someone else is refused (409) instead of silently overwritten."""

    version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class PlanModeForm(VersionedForm):
    mode = forms.ChoiceField(
        label="Events that break their schema",
        choices=MODE_CHOICES,
        help_text="Violations are counted below in every mode.",
    )
    unplanned = forms.ChoiceField(
        label="Track events whose name is not in the plan", choices=UNPLANNED_CHOICES
    )


class EventSchemaForm(VersionedForm):
    event_name = forms.CharField(
        label="Event name",
        max_length=tracking_plans.MAX_NAME_LENGTH,
        strip=False,
        help_text=f"The track event's name, or {IDENTIFY} for identify traits.",
    )
    schema = forms.CharField(
        label="JSON Schema",
        max_length=tracking_plans.MAX_PLAN_BYTES,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        help_text="Draft 2020-12, validating the event's properties (traits for $identify).",
    )
    previous_name = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)

    def clean_schema(self):
        return parse_json(self.cleaned_data["schema"])


class EventRemoveForm(VersionedForm):
    event_name = forms.CharField(
        max_length=tracking_plans.MAX_NAME_LENGTH, strip=False, widget=forms.HiddenInput
    )


class PlanImportForm(VersionedForm):
    document = forms.CharField(
        label="Paste the plan JSON",
        required=False,
        strip=False,
        max_length=MAX_DOCUMENT_BYTES,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text='{"mode": "flag", "unplanned": "allow", "events": {"Order Completed": {…}}} '
        "— the format “Export JSON” writes. It replaces every event of the plan.",
    )
    file = forms.FileField(label="…or upload a .json file", required=False)

    def clean(self):
        data = super().clean()
        upload, text = data.get("file"), data.get("document") or ""
        if upload and text.strip():
            raise forms.ValidationError("Paste the JSON or upload a file, not both.")
        if upload:
            if upload.size > MAX_DOCUMENT_BYTES:
                self.add_error("file", "The file is larger than 1 MiB.")
                return data
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("file", "The file is not UTF-8 text.")
                return data
            field = "file"
        elif text.strip():
            field = "document"
        else:
            raise forms.ValidationError("Paste the plan JSON or choose a file.")
        try:
            data["parsed"] = parse_json(text)
        except forms.ValidationError as error:
            self.add_error(field, error)
        return data


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
    plan = tracking_plans.tracking_plan_get(workspace=workspace)
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
            "violations": tracking_plans.tracking_plan_violations_list(workspace=workspace),
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
        plan = tracking_plans.tracking_plan_get(workspace=request.workspace)
        try:
            tracking_plans.tracking_plan_update(
                workspace=request.workspace,
                actor=request.user,
                mode=data["mode"],
                unplanned=data["unplanned"],
                schemas=dict(plan.schemas) if plan is not None else {},
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
            tracking_plans.tracking_plan_event_save(
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
        tracking_plans.tracking_plan_event_remove(
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
            plan = tracking_plans.tracking_plan_import(
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
        tracking_plans.tracking_plan_delete(
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
    document = tracking_plans.tracking_plan_export(workspace=request.workspace)
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
