from audit.selectors import audit_verification_latest


def audit_status(request) -> dict:
    """``audit_broken`` on every page of a workspace (the base layout's banner) while its log's
    latest verification failed — until it verifies again. Contributed by the audit app, so that
    the dashboard's gate (workspaces.dashboard) does not depend on the audit log."""
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        return {}
    latest = audit_verification_latest(workspace=workspace)
    return {"audit_broken": latest is not None and not latest.valid}
