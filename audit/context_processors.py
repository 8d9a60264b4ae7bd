from django.urls import reverse

from audit.selectors import audit_verification_latest


def audit_status(request) -> dict:
    """``audit_broken`` (and ``audit_log_url``, where the banner links) on every page of a
    workspace while its log's latest verification failed — until it verifies again.

    Contributed by the audit app, so that the dashboard's gate (``workspaces.dashboard``) does
    not depend on the audit log. Any page rendered for a request inside a workspace gets it —
    also the 403/404 pages, whose context has no ``workspace``: hence the link made here."""
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        return {}
    latest = audit_verification_latest(workspace=workspace)
    if latest is None or latest.valid:
        return {"audit_broken": False}
    return {"audit_broken": True, "audit_log_url": reverse("audit:log", args=[workspace.slug])}
