"""Builders for the access review tests: a workspace with an admin, an editor, a viewer and
two live API keys (one revoked key, which a review never sees)."""

import pytest
from allauth.mfa.models import Authenticator

from compliance.access_reviews import services
from workspaces import services as workspace_services
from workspaces.models import ApiKeyRole


@pytest.fixture
def keys(workspace, make_api_key, system_actor):
    storefront, _ = make_api_key(workspace, role=ApiKeyRole.WRITE, name="Storefront")
    reporting, _ = make_api_key(workspace, role=ApiKeyRole.ADMIN, name="Reporting")
    old, _ = make_api_key(workspace, role=ApiKeyRole.WRITE, name="Old")
    workspace_services.api_key_revoke(workspace=workspace, actor=system_actor, key=old)
    return {"storefront": storefront, "reporting": reporting, "revoked": old}


@pytest.fixture
def people(workspace, admin_user, editor_user, viewer_user):
    """The admin has an authenticator app; the editor and the viewer do not."""
    Authenticator.objects.create(
        user=admin_user, type=Authenticator.Type.TOTP, data={"secret": "sealed-elsewhere"}
    )
    return {"admin": admin_user, "editor": editor_user, "viewer": viewer_user}


@pytest.fixture
def campaign(workspace, admin_user, people, keys):
    return services.access_review_open(workspace=workspace, actor=admin_user)


def item_of(campaign, subject_id: str):
    return campaign.items.get(subject_id=subject_id)


@pytest.fixture
def decide(workspace, admin_user):
    """``decide(campaign, subject_id, decision, **options)`` as the workspace's admin."""

    def run(campaign, subject_id, decision, *, actor=None, **options):
        return services.access_review_decide(
            workspace=workspace,
            actor=actor or admin_user,
            campaign=campaign,
            item_id=item_of(campaign, subject_id).public_id,
            decision=decision,
            **options,
        )

    return run
