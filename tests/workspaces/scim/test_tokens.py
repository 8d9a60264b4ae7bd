"""SCIM tokens: hashed, shown once, listed, rotated and revoked by admins (audited), printed
by the CLI on its last line; the bearer token alone decides the workspace, and every refusal
is a 401 in SCIM's error schema."""

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.audit_entries import audit_entries, last_entry
from tests.workspaces.scim.conftest import ScimClient, assert_scim_error
from tracklayer.exceptions import ConflictError, PermissionDeniedError
from workspaces.scim import selectors, services, tokens
from workspaces.scim.models import ScimToken

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_as_the_sha256_of_its_secret_and_shown_once(workspace, admin_user):
    token, secret = services.scim_token_create(workspace=workspace, actor=admin_user, name="Okta")

    parsed = tokens.parse_token(secret)
    assert parsed is not None and parsed.prefix == token.prefix
    stored = ScimToken.objects.get(pk=token.pk)
    assert stored.secret_hash == hashlib.sha256(parsed.secret.encode()).hexdigest()
    assert parsed.secret not in str(stored.__dict__)
    entry = last_entry(workspace)
    assert entry["event_type"] == "scim.token_created"
    assert entry["actor"] == f"user:{admin_user.public_id}"
    assert entry["payload"] == {"name": "Okta", "prefix": f"tlscim_{token.prefix}"}
    assert parsed.secret not in str(audit_entries(workspace))


def test_tokens_are_listed_per_workspace(workspace, admin_user, other_workspace, other_admin_user):
    mine, _ = services.scim_token_create(workspace=workspace, actor=admin_user)
    services.scim_token_create(workspace=other_workspace, actor=other_admin_user)

    assert list(selectors.scim_token_list(workspace=workspace)) == [mine]


def test_only_admins_manage_tokens(workspace, editor_user):
    with pytest.raises(PermissionDeniedError):
        services.scim_token_create(workspace=workspace, actor=editor_user)


def test_revoked_token_is_refused_with_401(client, workspace, admin_user):
    token, secret = services.scim_token_create(workspace=workspace, actor=admin_user)
    scim = ScimClient(client, secret)
    assert scim.get("Users").status_code == 200

    services.scim_token_revoke(workspace=workspace, actor=admin_user, token=token)

    assert_scim_error(scim.get("Users"), 401)
    assert last_entry(workspace)["event_type"] == "scim.token_revoked"
    with pytest.raises(ConflictError):
        services.scim_token_revoke(workspace=workspace, actor=admin_user, token=token)


def test_rotation_issues_a_successor_and_ends_the_old_token(client, workspace, admin_user):
    token, old = services.scim_token_create(workspace=workspace, actor=admin_user, name="Entra")

    new_token, new = services.scim_token_rotate(workspace=workspace, actor=admin_user, token=token)

    assert new_token.name == "Entra" and new_token.rotated_from == token
    assert_scim_error(ScimClient(client, old).get("Users"), 401)
    assert ScimClient(client, new).get("Users").status_code == 200
    entry = last_entry(workspace)
    assert entry["event_type"] == "scim.token_rotated"
    assert entry["payload"]["successor"] == new_token.public_id
    assert new.split("_")[-1] not in str(entry)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-token",
        "Bearer tl_live_0123456789ab_" + "0" * 52,  # an API key's shape
        "Bearer tlscim_0123456789ab_" + "0" * 52,  # the right shape, no such token
    ],
)
def test_anything_but_a_valid_bearer_token_is_401(client, scim_token, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/scim/v2/Users", **extra)

    assert_scim_error(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="scim"'


def test_a_wrong_secret_with_a_real_prefix_is_401(client, scim_token):
    _token, secret = scim_token
    wrong = secret[:-1] + ("0" if secret[-1] != "0" else "1")

    assert_scim_error(ScimClient(client, wrong).get("Users"), 401)


def test_the_token_is_marked_used(scim, scim_token):
    scim.get("ServiceProviderConfig")

    scim_token[0].refresh_from_db()
    assert scim_token[0].last_used_at is not None


def test_cli_prints_a_working_token_on_its_last_line(client, workspace):
    out = StringIO()
    call_command("scim_token", "--workspace", workspace.slug, "--name", "Okta", stdout=out)

    secret = out.getvalue().strip().splitlines()[-1]
    assert tokens.parse_token(secret) is not None
    assert ScimClient(client, secret).get("Users").status_code == 200
    entry = last_entry(workspace)
    assert (entry["event_type"], entry["actor"]) == ("scim.token_created", "system:cli")


def test_cli_refuses_an_unknown_workspace(db):
    with pytest.raises(CommandError, match="No workspace"):
        call_command("scim_token", "--workspace", "nope", stdout=StringIO())
