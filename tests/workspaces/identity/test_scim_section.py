"""The SCIM section of Settings → Identity: tokens created (the secret shown once), rotated
and revoked from the page and checked against /scim/v2/ itself; the default SCIM role; the
recent SSO and SCIM activity; SCIM-managed members in the coverage."""

import json
import re

import pytest

from tests.audit_entries import audit_entries
from tests.workspaces.identity.conftest import url
from workspaces.identity import selectors
from workspaces.scim import selectors as scim_selectors
from workspaces.scim import services as scim_services

pytestmark = pytest.mark.django_db

SECRET = re.compile(r'data-testid="new-scim-secret">(tlscim_[^<]+)</code>')


def _scim(client, secret: str, method: str = "get", path: str = "Users", body=None):
    return getattr(client, method)(
        f"/scim/v2/{path}",
        data=json.dumps(body) if body is not None else None,
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )


def _created_secret(response) -> str:
    [secret] = SECRET.findall(response.content.decode())
    return secret


def test_a_token_made_on_the_page_is_shown_once_and_works(admin_client, client_factory, workspace):
    response = admin_client.post(url(workspace, "identity-scim-token-create"), {"name": "Okta"})

    assert response.status_code == 200
    secret = _created_secret(response)
    [token] = scim_selectors.scim_token_list(workspace=workspace)
    assert token.name == "Okta" and secret.startswith(token.display_prefix)
    # It is what the identity provider uses …
    assert _scim(client_factory(), secret).status_code == 200
    # … and it is never shown again: the page lists its prefix only
    page = admin_client.get(url(workspace)).content.decode()
    assert secret not in page and f"{token.display_prefix}…" in page
    [entry] = audit_entries(workspace, "scim.token_created")
    assert secret not in json.dumps(entry)


def test_with_htmx_the_section_comes_back_with_the_secret(admin_client, workspace):
    response = admin_client.post(
        url(workspace, "identity-scim-token-create"), {"name": ""}, HTTP_HX_REQUEST="true"
    )

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="scim-section"')
    assert _created_secret(response)


def test_with_htmx_only_the_section_asked_for_is_built(admin_client, workspace, monkeypatch):
    built = []

    def recorded(name):
        section = getattr(selectors, name)

        def build(*, workspace):
            built.append(name)
            return section(workspace=workspace)

        return build

    for name in ("saml_section", "scim_section"):
        monkeypatch.setattr(selectors, name, recorded(name))

    response = admin_client.post(
        url(workspace, "identity-scim-settings"), {"default_role": "editor"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="scim-section"')
    assert built == ["scim_section"]
    built.clear()
    # Without htmx the whole page comes back, every section built.
    response = admin_client.post(
        url(workspace, "identity-scim-settings"), {"default_role": "viewer"}
    )
    assert 'data-testid="saml-section"' in response.content.decode()
    assert built == ["saml_section", "scim_section"]


def test_revoking_from_the_page_stops_the_token(
    admin_client, client_factory, workspace, admin_user
):
    token, secret = scim_services.scim_token_create(
        workspace=workspace, actor=admin_user, name="Entra"
    )

    response = admin_client.post(
        url(workspace, "identity-scim-token-revoke", token_id=token.public_id)
    )

    assert response.status_code == 200
    assert "revoked" in response.content.decode()
    assert f'data-token="{token.public_id}" data-state="revoked"' in response.content.decode()
    assert _scim(client_factory(), secret).status_code == 401

    # Revoking again is refused in place
    again = admin_client.post(
        url(workspace, "identity-scim-token-revoke", token_id=token.public_id)
    )
    assert again.status_code == 409 and "revoked already" in again.content.decode()


def test_rotating_from_the_page_shows_the_successor_once(
    admin_client, client_factory, workspace, admin_user
):
    token, old_secret = scim_services.scim_token_create(
        workspace=workspace, actor=admin_user, name="Okta"
    )

    response = admin_client.post(
        url(workspace, "identity-scim-token-rotate", token_id=token.public_id)
    )

    new_secret = _created_secret(response)
    assert new_secret != old_secret
    assert "rotated: the old token has stopped working" in response.content.decode()
    assert _scim(client_factory(), old_secret).status_code == 401
    assert _scim(client_factory(), new_secret).status_code == 200


def test_another_workspaces_token_is_not_found_here(
    admin_client, workspace, other_workspace, other_admin_user
):
    theirs, _secret = scim_services.scim_token_create(
        workspace=other_workspace, actor=other_admin_user, name="Theirs"
    )

    for name in ("identity-scim-token-revoke", "identity-scim-token-rotate"):
        response = admin_client.post(url(workspace, name, token_id=theirs.public_id))
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_token_name_too_long_is_refused_on_the_field(admin_client, workspace):
    response = admin_client.post(url(workspace, "identity-scim-token-create"), {"name": "x" * 101})

    assert response.status_code == 422
    assert 'class="error"' in response.content.decode()
    assert not scim_selectors.scim_token_list(workspace=workspace).exists()


def test_the_default_scim_role(admin_client, workspace):
    response = admin_client.post(
        url(workspace, "identity-scim-settings"), {"default_role": "editor"}
    )
    assert response.status_code == 200
    assert scim_selectors.scim_default_role(workspace=workspace) == "editor"

    response = admin_client.post(
        url(workspace, "identity-scim-settings"), {"default_role": "owner"}
    )
    assert response.status_code == 422
    assert scim_selectors.scim_default_role(workspace=workspace) == "editor"


def test_scim_managed_members_count_in_the_coverage_and_activity_shows(
    admin_client, client_factory, workspace, admin_user
):
    _token, secret = scim_services.scim_token_create(workspace=workspace, actor=admin_user)
    created = _scim(
        client_factory(),
        secret,
        "post",
        body={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "joiner@acme.example",
            "active": True,
        },
    )
    assert created.status_code == 201, created.content

    coverage = selectors.identity_coverage(workspace=workspace)
    assert (coverage.scim_managed, coverage.members) == (1, 2)

    page = admin_client.get(url(workspace)).content.decode()
    assert "1 of 2</strong>" in page.split('data-testid="coverage-scim"')[1].split("</a>")[0]
    activity = page.split('data-testid="identity-activity"')[1]
    assert 'data-event="scim.token_created"' in activity
    assert 'data-event="scim.user_created"' in activity
    assert secret not in page
