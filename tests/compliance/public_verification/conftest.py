"""The opted-in workspace the public verification tests share."""

import pytest
from django.urls import reverse

from audit import services as audit_services


@pytest.fixture
def opted_in(client, workspace, admin_user, system_actor):
    """A workspace with a few entries, a signed checkpoint, and public verification turned on
    by its admin through the settings page."""
    for n in range(6):
        audit_services.audit_record(
            workspace=workspace,
            actor=system_actor,
            event_type="test.event",
            resource_type="test",
            resource_id=f"r{n}",
            payload={"n": n},
        )
    client.force_login(admin_user)
    response = client.post(
        reverse("public_verification:settings", args=[workspace.slug]), {"enabled": "on"}
    )
    assert response.status_code == 302
    audit_services.audit_checkpoint_sign(workspace=workspace, actor=system_actor)
    client.logout()
    return workspace
