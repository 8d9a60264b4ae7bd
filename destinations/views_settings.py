"""Settings → Ingestion: limits, retention and extra personal fields (thin: form in, service
out)."""

from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from destinations.forms import IngestionSettingsForm
from destinations.runtime import ingestion_settings_get
from destinations.services import ingestion_settings_update
from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.policy import Action


@workspace_view(Action.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def ingestion_settings(request):
    current = ingestion_settings_get(workspace=request.workspace)
    form = IngestionSettingsForm.for_settings(current, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ingestion_settings_update(
                workspace=request.workspace, actor=request.user, values=form.cleaned_data
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "Ingestion settings saved.")
            return redirect("destinations:ingestion-settings", slug=request.workspace.slug)
    return render_htmx(
        request,
        "destinations/ingestion_settings.html",
        "destinations/ingestion_settings.html",
        {"form": form},
        status=422 if form.is_bound and form.errors else 200,
    )
