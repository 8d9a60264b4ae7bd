"""Reads for Settings → Identity and the overview: MFA and SSO coverage, what the SAML and
SCIM sections show, and the recent SSO and SCIM activity. The SAML and SCIM reads are
``workspaces.sso.selectors`` and ``workspaces.scim.selectors``; this module only assembles."""

from dataclasses import dataclass

import orjson
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.urls import reverse

from audit import selectors as audit_selectors
from workspaces import selectors as workspace_selectors
from workspaces.dashboard import SIGN_IN_SSO
from workspaces.models import Membership, Role, Workspace
from workspaces.scim import selectors as scim_selectors
from workspaces.sso import saml
from workspaces.sso import selectors as sso_selectors

SIGN_IN_EVENT = "auth.sign_in_succeeded"


@dataclass(frozen=True)
class Coverage:
    """``members`` is the total every other count is "n of"."""

    members: int
    with_mfa: int
    via_sso: int
    scim_managed: int
    mfa_required: bool
    sso_state: str  # "off", "on" or "enforced"


def last_sign_in_methods(*, workspace: Workspace, user_ids: list[str]) -> dict[str, str]:
    """Each member's last sign-in method, from the workspace's own audit log (the
    ``auth.sign_in_succeeded`` entries that every sign-in writes): user public id → method."""
    rows = (
        audit_selectors.audit_entry_list(workspace=workspace, event_type=SIGN_IN_EVENT)
        .filter(resource_id__in=user_ids)
        .order_by("resource_id", "-idx")
        .distinct("resource_id")
        .values_list("resource_id", "material")
    )
    return {
        user_id: orjson.loads(bytes(material))["payload"].get("method", "")
        for user_id, material in rows
    }


def _sso_state(workspace: Workspace) -> str:
    config = sso_selectors.saml_config_get(workspace=workspace)
    if config is None or not config.enabled:
        return "off"
    return "enforced" if config.enforce else "on"


def identity_coverage(*, workspace: Workspace) -> Coverage:
    """How much of the workspace is covered: members with an authenticator app, members whose
    last sign-in was through SAML, members provisioned (and active) through SCIM."""
    members = Membership.objects.filter(workspace=workspace)
    user_ids = list(members.values_list("user__public_id", flat=True))
    with_mfa = (
        Authenticator.objects.filter(
            type=Authenticator.Type.TOTP, user__memberships__workspace=workspace
        )
        .values("user")
        .distinct()
        .count()
    )
    methods = last_sign_in_methods(workspace=workspace, user_ids=user_ids)
    scim_managed = (
        scim_selectors.scim_user_list(workspace=workspace)
        .filter(active=True, user__public_id__in=user_ids)
        .count()
    )
    return Coverage(
        members=len(user_ids),
        with_mfa=with_mfa,
        via_sso=sum(1 for method in methods.values() if method == SIGN_IN_SSO),
        scim_managed=scim_managed,
        mfa_required=workspace.mfa_required,
        sso_state=_sso_state(workspace),
    )


def _certificate(pem: str) -> dict | None:
    return saml.certificate_summary(pem) if pem else None


def break_glass_candidates(*, workspace: Workspace) -> tuple[list, list]:
    """The workspace's admins who may be the break-glass account (they have an authenticator
    app), and those who may not yet: ``(with_mfa, without_mfa)`` memberships."""
    admins = list(workspace_selectors.member_list(workspace=workspace).filter(role=Role.ADMIN))
    with_mfa = set(
        Authenticator.objects.filter(
            type=Authenticator.Type.TOTP, user__in=[m.user for m in admins]
        ).values_list("user_id", flat=True)
    )
    return (
        [m for m in admins if m.user_id in with_mfa],
        [m for m in admins if m.user_id not in with_mfa],
    )


def saml_section(*, workspace: Workspace) -> dict:
    """What the SAML section shows: the configuration (None before any), the SP values to
    copy, the IdP's certificates (public summary), managed domains, the group → role table,
    the admins who may be the break-glass account, and the test sign-in's URL."""
    config = sso_selectors.saml_config_get(workspace=workspace)
    admins, admins_without_mfa = break_glass_candidates(workspace=workspace)
    identity_url = reverse("dashboard:identity", kwargs={"slug": workspace.slug})
    return {
        "config": config,
        "enabled": bool(config and config.enabled),
        "sp": sso_selectors.sp_values(workspace=workspace),
        "certificates": [
            cert
            for cert in (
                _certificate(config.idp_certificate) if config else None,
                _certificate(config.idp_certificate_next) if config else None,
            )
            if cert
        ],
        "domains": sso_selectors.managed_domain_list(workspace=workspace),
        "group_roles": list(workspace_selectors.group_role_list(workspace=workspace)),
        "admins": admins,
        "admins_without_mfa": admins_without_mfa,
        "test_url": f"{reverse('sso:login', args=[workspace.slug])}?next={identity_url}",
    }


def scim_section(*, workspace: Workspace) -> dict:
    """What the SCIM section shows: the tokens (revoked ones too), the default SCIM role and
    the base URL to give the identity provider."""
    return {
        "tokens": list(scim_selectors.scim_token_list(workspace=workspace)),
        "default_role": scim_selectors.scim_default_role(workspace=workspace),
        # What the identity provider is given as the SCIM base URL (the token names the
        # workspace, so it is the same for every workspace)
        "base_url": settings.TRACKLAYER_BASE_URL + reverse("scim:users").removesuffix("Users"),
    }


def identity_activity(*, workspace: Workspace, limit: int = 20) -> list[dict]:
    """The latest SSO and SCIM audit entries together, newest first, each as ``{"entry",
    "kind" ("sso" or "scim"), "detail"}`` — the detail is the entry's reason or method (what a
    refusal or sign-in says), never more of the payload."""
    rows = [
        {"entry": row["entry"], "kind": "sso", "payload": row["payload"]}
        for row in sso_selectors.sso_activity(workspace=workspace, limit=limit)
    ] + [
        {
            "entry": entry,
            "kind": "scim",
            "payload": orjson.loads(bytes(entry.material)).get("payload") or {},
        }
        for entry in scim_selectors.scim_activity(workspace=workspace, limit=limit)
    ]
    unique = {row["entry"].idx: row for row in rows}
    newest = sorted(unique.values(), key=lambda row: row["entry"].idx, reverse=True)[:limit]
    for row in newest:
        payload = row.pop("payload")
        row["detail"] = " · ".join(
            str(payload[key]) for key in ("method", "reason") if isinstance(payload.get(key), str)
        )
    return newest
