"""The controls page as its reader sees it: ``controls_page(client, workspace)`` fetches
``/w/<slug>/compliance/`` and answers the evaluated controls by id, with the page's HTML."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

# SAML with a test identity provider (``sso_workspace``), as the SSO tests have it.
from tests.workspaces.sso.conftest import idp, sp_metadata, sso_workspace  # noqa: F401


@dataclass
class ControlsPage:
    html: str
    controls: dict[str, dict]  # control id -> the control as the page rendered it

    def evidence(self, control_id: str, key: str) -> dict:
        return next(e for e in self.controls[control_id]["evidence"] if e["key"] == key)

    def status(self, control_id: str, key: str | None = None) -> str:
        if key is None:
            return self.controls[control_id]["status"]
        return self.evidence(control_id, key)["status"]


@pytest.fixture
def controls_page():
    def fetch(client, workspace, **query) -> ControlsPage:
        response = client.get(reverse("compliance:controls", args=[workspace.slug]), query)
        assert response.status_code == 200
        return ControlsPage(
            html=response.content.decode(),
            controls={control["id"]: control for control in response.context["controls"]},
        )

    return fetch
