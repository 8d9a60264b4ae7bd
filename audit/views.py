from django.core.paginator import Paginator

from audit import selectors
from workspaces.dashboard import render_htmx, workspace_view
from workspaces.models import Membership
from workspaces.policy import Action


def _actor_names(workspace, entries) -> dict[str, str]:
    """``user:usr_…`` → the member's name, for members of this workspace only."""
    user_ids = {e.actor.split(":", 1)[1] for e in entries if e.actor.startswith("user:")}
    members = Membership.objects.filter(
        workspace=workspace, user__public_id__in=user_ids
    ).select_related("user")
    return {f"user:{m.user.public_id}": m.user.display_name for m in members}


@workspace_view(Action.AUDIT_VIEW)
def audit_log(request):
    workspace = request.workspace
    event_type = request.GET.get("event_type") or None
    entries = selectors.audit_entry_list(workspace=workspace, event_type=event_type)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    names = _actor_names(workspace, page.object_list)
    for entry in page.object_list:
        entry.actor_name = names.get(entry.actor, entry.actor)
    return render_htmx(
        request,
        "audit/log.html",
        "audit/_entries.html",
        {
            "page": page,
            "event_type": event_type,
            "event_types": selectors.audit_event_types(workspace=workspace),
            "head": selectors.audit_head(workspace=workspace),
        },
    )
