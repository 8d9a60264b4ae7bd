"""Reads for Settings → Identity and the overview: how much of the workspace is covered by
MFA and SSO."""

from dataclasses import dataclass

import orjson
from allauth.mfa.models import Authenticator

from audit import selectors as audit_selectors
from workspaces.dashboard import SIGN_IN_SSO
from workspaces.models import Membership, Workspace

SIGN_IN_EVENT = "auth.sign_in_succeeded"


@dataclass(frozen=True)
class Coverage:
    """``members`` is the total every other count is "n of". ``scim_managed`` is None while
    SCIM cannot tell which members it provisioned."""

    members: int
    with_mfa: int
    via_sso: int
    scim_managed: int | None
    mfa_required: bool


def _last_sign_in_methods(*, workspace: Workspace, user_ids: list[str]) -> dict[str, str]:
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


def identity_coverage(*, workspace: Workspace) -> Coverage:
    """MFA and SSO coverage of the workspace's members: how many have an authenticator app,
    and how many last signed in through SAML."""
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
    methods = _last_sign_in_methods(workspace=workspace, user_ids=user_ids)
    return Coverage(
        members=len(user_ids),
        with_mfa=with_mfa,
        via_sso=sum(1 for method in methods.values() if method == SIGN_IN_SSO),
        scim_managed=None,
        mfa_required=workspace.mfa_required,
    )
