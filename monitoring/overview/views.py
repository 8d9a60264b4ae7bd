"""The workspace's Overview (``/w/<slug>/``): what happened to its events and deliveries in a
window (1 h, 24 h, 7 d) as charts and figures, each linking to the detail behind it; open
anomalies and incidents; and what the old overview showed — members, keys, the audit log's
latest entries, identity coverage, where the data lives. Viewers may see it all."""

from django.views.decorators.http import require_GET

from audit import selectors as audit_selectors
from monitoring.anomalies.selectors import anomalies_open_count
from monitoring.incidents.selectors import incident_open_count
from monitoring.overview.selectors import WINDOWS, overview_figures, window_parse
from workspaces import selectors
from workspaces.dashboard import render_htmx, workspace_view
from workspaces.identity.selectors import identity_coverage
from workspaces.policy import Action
from workspaces.residency import workspace_data_residency

RECENT_ENTRIES = 8


@workspace_view(Action.WORKSPACE_VIEW)
@require_GET
def overview(request):
    workspace = request.workspace
    window = window_parse(request.GET.get("window"))
    context = {
        "figures": overview_figures(workspace=workspace, window=window),
        "window": window,
        "windows": WINDOWS.values(),
    }
    if not request.htmx or request.htmx.boosted:
        # The whole page; the window picker (htmx) swaps the figures only.
        context.update(
            anomalies_open=anomalies_open_count(workspace=workspace),
            incidents_open=incident_open_count(workspace=workspace),
            member_count=selectors.member_list(workspace=workspace).count(),
            active_keys=[
                key
                for key in selectors.api_key_list(workspace=workspace)
                if key.state() in ("active", "expiring")
            ],
            recent_entries=audit_selectors.audit_entry_list(workspace=workspace)[:RECENT_ENTRIES],
            residency=workspace_data_residency(workspace=workspace),
            coverage=identity_coverage(workspace=workspace),
        )
    return render_htmx(
        request, "monitoring/overview.html", "monitoring/_overview_figures.html", context
    )
