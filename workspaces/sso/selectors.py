"""Reads of the SSO configuration. Every selector takes the workspace explicitly, except
the sign-in path's lookup of a managed domain (an e-mail address belongs to one workspace)."""

import orjson
from django.db.models import Q

from audit.models import AuditEntry
from workspaces.models import Workspace
from workspaces.sso import saml
from workspaces.sso.models import ManagedDomain, SamlConfig


def saml_config_get(*, workspace: Workspace) -> SamlConfig | None:
    """The workspace's SAML configuration (None before anything was set up)."""
    return (
        SamlConfig.objects.filter(workspace=workspace)
        .select_related("workspace", "break_glass_user")
        .first()
    )


def managed_domain_list(*, workspace: Workspace) -> list[str]:
    return list(ManagedDomain.objects.filter(workspace=workspace).values_list("domain", flat=True))


def sp_values(*, workspace: Workspace) -> dict:
    """What an admin copies into the IdP: entity id, ACS URL, metadata URL, the login URL and
    the SP's signing certificate (PEM). The SP's key is made on first use."""
    from workspaces.sso.services import sp_config_ensure

    config = sp_config_ensure(workspace=workspace)
    return {**saml.sp_urls(workspace.slug), "certificate": config.sp_certificate}


def enforcement_for_email(email: str) -> SamlConfig | None:
    """The SAML configuration that enforces SSO for ``email``'s domain, if any: a managed
    domain of a workspace with SSO enabled and enforcement on (a deleted workspace enforces
    nothing: its SAML paths are refused, so it would only lock people out)."""
    domain = (email or "").rsplit("@", 1)[-1].strip().lower().rstrip(".")
    if not domain:
        return None
    managed = ManagedDomain.objects.filter(domain=domain).values_list("workspace_id", flat=True)
    return (
        SamlConfig.objects.filter(
            workspace_id__in=managed,
            workspace__deleted_at__isnull=True,
            enabled=True,
            enforce=True,
        )
        .select_related("workspace", "break_glass_user")
        .first()
    )


def sso_activity(*, workspace: Workspace, limit: int = 20) -> list[dict]:
    """Recent SSO entries of the workspace's audit log, newest first: configuration changes
    (``sso.*``), refusals (``auth.sso_refused``), break-glass use and sign-ins through SAML —
    each as ``{"entry": AuditEntry, "payload": dict}``."""
    candidates = (
        AuditEntry.objects.filter(workspace=workspace)
        .filter(
            Q(event_type__startswith="sso.")
            | Q(event_type__startswith="auth.sso_")
            | Q(event_type__in=["auth.break_glass_used", "auth.sign_in_succeeded"])
        )
        .order_by("-idx")
    )
    rows = []
    for entry in candidates[: limit * 5]:
        payload = orjson.loads(bytes(entry.material)).get("payload") or {}
        if entry.event_type == "auth.sign_in_succeeded" and payload.get("method") != "saml":
            continue
        rows.append({"entry": entry, "payload": payload})
        if len(rows) == limit:
            break
    return rows
