"""Incidents (dashboard): the list with "Open incident", and an incident's page — timeline,
phase buttons, containment actions, notes and the post-mortem.

Thin: a form in, one service, the page (or, for htmx, its ``#incident`` section) out.
Everyone in the workspace reads; editors and admins act (``OPERATIONS_EDIT``); revoking a key
needs ``API_KEY_MANAGE`` (admins). Refusals come back on their field (422) or as a message
above the section (409)."""

import orjson
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from destinations.models import DestinationState
from destinations.routing import selectors as routing_selectors
from monitoring.incidents import selectors, services
from monitoring.incidents.exceptions import IncidentInvalidError
from monitoring.incidents.forms import (
    DestinationPauseForm,
    IncidentOpenForm,
    KeyRevokeForm,
    NoteForm,
    PhaseForm,
    PostmortemForm,
)
from monitoring.incidents.models import PHASE_ORDER, POSTMORTEM_FIELDS, Phase
from tracklayer.exceptions import DomainError, NotFoundError, PermissionDeniedError
from workspaces import selectors as workspace_selectors
from workspaces.dashboard import flash, render_htmx, workspace_view
from workspaces.policy import Action

LIST_LIMIT = 200


def _active_destinations(workspace):
    return [
        destination
        for destination in routing_selectors.destinations_list(workspace=workspace)
        if destination.state == DestinationState.ACTIVE
    ]


def _live_keys(workspace):
    now = timezone.now()
    return [
        key
        for key in workspace_selectors.api_key_list(workspace=workspace).order_by("name", "pk")
        if key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
    ]


# --- the list -----------------------------------------------------------------------------------


def _list_page(request, *, form=None, status=200):
    now = timezone.now()
    rows = [
        {
            "incident": incident,
            "target": selectors.containment_target(incident, now=now),
            "in_phase": int((now - incident.phase_changed_at).total_seconds()),
        }
        for incident in selectors.incident_list(workspace=request.workspace)[:LIST_LIMIT]
    ]
    # Any of its destinations may be what an incident concerns — a paused one above all.
    form = form or IncidentOpenForm(
        destinations=routing_selectors.destinations_list(workspace=request.workspace)
    )
    return render_htmx(
        request,
        "monitoring/incidents.html",
        "monitoring/incidents_list.html",
        {"rows": rows, "form": form},
        status=status,
    )


@workspace_view(services.VIEW_ACTION)
@require_GET
def incidents_page(request):
    return _list_page(request)


@workspace_view(services.EDIT_ACTION)
@require_POST
def incident_open(request):
    form = IncidentOpenForm(
        request.POST, destinations=routing_selectors.destinations_list(workspace=request.workspace)
    )
    if form.is_valid():
        try:
            incident = services.incident_open(
                workspace=request.workspace,
                actor=request.user,
                title=form.cleaned_data["title"],
                severity=form.cleaned_data["severity"],
                destination_id=form.cleaned_data["destination"],
                note=form.cleaned_data["note"],
            )
        except PermissionDeniedError as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            form.add_service_errors(error)
        else:
            flash(request, f"Incident {incident.public_id} opened.")
            url = reverse("incidents:detail", args=[request.workspace.slug, incident.public_id])
            # htmx would follow a redirect and swap the whole page into the list's section.
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _list_page(request, form=form, status=422)


# --- one incident -------------------------------------------------------------------------------


def _get(request, incident_id: str):
    try:
        return selectors.incident_get(workspace=request.workspace, public_id=incident_id)
    except NotFoundError:
        raise Http404("No such incident.") from None


def _detail(request, incident, *, status=200, error=None, **forms):
    now = timezone.now()
    timeline = selectors.incident_timeline(incident=incident)
    workspace = request.workspace
    index = PHASE_ORDER.index(incident.phase)
    forward = PHASE_ORDER[index + 1] if index + 1 < len(PHASE_ORDER) - 1 else None
    context = {
        "incident": incident,
        "timeline": timeline,
        "target": selectors.containment_target(incident, now=now),
        "spent": selectors.phase_durations(incident, timeline=timeline, now=now),
        "phases": PHASE_ORDER[:-1],
        "forward": forward,
        "earlier": PHASE_ORDER[:index] if incident.phase != Phase.CLOSED else PHASE_ORDER[:-1],
        "error": error,
        "phase_form": forms.get("phase_form") or PhaseForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        "postmortem_form": forms.get("postmortem_form")
        or PostmortemForm(initial={f: getattr(incident, f) for f in POSTMORTEM_FIELDS}),
        "pause_form": forms.get("pause_form")
        or DestinationPauseForm(destinations=_active_destinations(workspace)),
        "revoke_form": forms.get("revoke_form") or KeyRevokeForm(keys=_live_keys(workspace)),
        "postmortem_fields": POSTMORTEM_FIELDS,
    }
    return render_htmx(
        request,
        "monitoring/incidents_detail.html",
        "monitoring/incidents_detail_section.html",
        context,
        status=status,
    )


def _done(request, incident, message: str):
    """After a change: the section for htmx, else back to the page (post/redirect/get)."""
    flash(request, message)
    if request.htmx:
        return _detail(
            request,
            selectors.incident_get(workspace=request.workspace, public_id=incident.public_id),
        )
    return redirect("incidents:detail", slug=request.workspace.slug, incident_id=incident.public_id)


def _refused(request, incident, error: DomainError, **forms):
    """A refusal: on its field (422) when it names one of the form's, else above the section."""
    if isinstance(error, PermissionDeniedError):
        raise PermissionDenied(error.message)
    form = next(iter(forms.values()), None)
    if form is not None and isinstance(error, IncidentInvalidError):
        form.add_service_errors(error)
        return _detail(request, incident, status=422, **forms)
    status = 409 if error.status in (400, 409) else error.status
    return _detail(request, incident, status=status, error=error, **forms)


@workspace_view(services.VIEW_ACTION)
@require_GET
def incident_detail(request, incident_id: str):
    return _detail(request, _get(request, incident_id))


@workspace_view(services.EDIT_ACTION)
@require_POST
def incident_phase(request, incident_id: str):
    incident = _get(request, incident_id)
    form = PhaseForm(request.POST)
    if not form.is_valid():
        return _detail(request, incident, status=422, phase_form=form)
    try:
        changed = services.incident_phase_set(
            workspace=request.workspace,
            actor=request.user,
            incident=incident,
            phase=form.cleaned_data["phase"],
            note=form.cleaned_data["note"],
        )
    except IncidentInvalidError as error:
        if set(error.errors) & set(POSTMORTEM_FIELDS):  # closing, without the post-mortem
            postmortem = PostmortemForm({f: getattr(incident, f) for f in POSTMORTEM_FIELDS})
            postmortem.full_clean()
            return _refused(request, incident, error, postmortem_form=postmortem)
        return _refused(request, incident, error, phase_form=form)
    except DomainError as error:
        return _refused(request, incident, error, phase_form=form)
    return _done(request, changed, f"Incident {changed.get_phase_display().lower()}.")


@workspace_view(services.EDIT_ACTION)
@require_POST
def incident_note(request, incident_id: str):
    incident = _get(request, incident_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _detail(request, incident, status=422, note_form=form)
    try:
        services.incident_note_add(
            workspace=request.workspace,
            actor=request.user,
            incident=incident,
            note=form.cleaned_data["note"],
        )
    except DomainError as error:
        return _refused(request, incident, error, note_form=form)
    return _done(request, incident, "Note added.")


@workspace_view(services.EDIT_ACTION)
@require_POST
def incident_postmortem(request, incident_id: str):
    """Save the post-mortem; with ``close`` in the form, then close the incident — refused on
    each empty field (what was typed is kept)."""
    incident = _get(request, incident_id)
    form = PostmortemForm(request.POST)
    if not form.is_valid():
        return _detail(request, incident, status=422, postmortem_form=form)
    try:
        incident = services.incident_postmortem_save(
            workspace=request.workspace, actor=request.user, incident=incident, **form.cleaned_data
        )
        if "close" in request.POST:
            incident = services.incident_close(
                workspace=request.workspace, actor=request.user, incident=incident
            )
    except DomainError as error:
        return _refused(request, incident, error, postmortem_form=form)
    return _done(
        request, incident, "Incident closed." if "close" in request.POST else "Post-mortem saved."
    )


# --- containment --------------------------------------------------------------------------------


@workspace_view(services.EDIT_ACTION)
@require_POST
def incident_pause_destination(request, incident_id: str):
    incident = _get(request, incident_id)
    form = DestinationPauseForm(request.POST, destinations=_active_destinations(request.workspace))
    if not form.is_valid():
        return _detail(request, incident, status=422, pause_form=form)
    try:
        services.incident_destination_pause(
            workspace=request.workspace,
            actor=request.user,
            incident=incident,
            destination_id=form.cleaned_data["destination"],
        )
    except DomainError as error:
        return _refused(request, incident, error, pause_form=form)
    return _done(request, incident, "Destination paused: its events wait until it is resumed.")


@workspace_view(services.EDIT_ACTION)
@require_POST
def incident_pause_all(request, incident_id: str):
    incident = _get(request, incident_id)
    try:
        incident = services.incident_egress_pause(
            workspace=request.workspace, actor=request.user, incident=incident
        )
    except DomainError as error:
        return _refused(request, incident, error)
    count = len(incident.paused_destinations)
    return _done(
        request, incident, f"Egress paused: {count} destination{'s' if count != 1 else ''} waiting."
    )


@workspace_view(services.EDIT_ACTION)
@require_POST
def incident_resume_paused(request, incident_id: str):
    incident = _get(request, incident_id)
    try:
        services.incident_egress_resume(
            workspace=request.workspace, actor=request.user, incident=incident
        )
    except DomainError as error:
        return _refused(request, incident, error)
    return _done(request, incident, "The destinations this incident paused are sending again.")


@workspace_view(Action.API_KEY_MANAGE)
@require_POST
def incident_revoke_key(request, incident_id: str):
    incident = _get(request, incident_id)
    form = KeyRevokeForm(request.POST, keys=_live_keys(request.workspace))
    if not form.is_valid():
        return _detail(request, incident, status=422, revoke_form=form)
    key = workspace_selectors.api_key_get(
        workspace=request.workspace, public_id=form.cleaned_data["key"]
    )
    try:
        services.incident_api_key_revoke(
            workspace=request.workspace, actor=request.user, incident=incident, key=key
        )
    except DomainError as error:
        return _refused(request, incident, error, revoke_form=form)
    return _done(
        request, incident, f"Key {key.display_prefix}… revoked: it is refused within a second."
    )


# --- export -------------------------------------------------------------------------------------


@workspace_view(services.VIEW_ACTION)
@require_GET
def incident_export(request, incident_id: str):
    incident = _get(request, incident_id)
    data = selectors.incident_export(workspace=request.workspace, public_id=incident.public_id)
    response = HttpResponse(
        orjson.dumps(data, option=orjson.OPT_INDENT_2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{incident.public_id}.json"'
    return response
