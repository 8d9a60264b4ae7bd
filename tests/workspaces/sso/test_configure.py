"""Configuring SSO: from metadata (pasted, or fetched through the egress policy), from fields,
validation with the field at fault, managed domains, group roles, the rollover of the IdP's
certificate, the command, and what the audit log keeps (never key material)."""

from http.server import BaseHTTPRequestHandler
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.audit_entries import audit_entries
from tests.factories import FACTORY_ACTOR
from tests.workspaces.sso.conftest import DOMAIN, IDP_ENTITY_ID, IDP_SSO_URL, post_acs, start_login
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError
from workspaces.models import GroupRole
from workspaces.sso import selectors, services
from workspaces.sso.models import ManagedDomain


def test_configure_from_metadata_enables_sso_and_audits_fingerprints(workspace, idp):
    config = services.saml_configure(
        workspace=workspace, actor=FACTORY_ACTOR, idp_metadata=idp.metadata()
    )
    assert config.enabled
    assert config.idp_entity_id == IDP_ENTITY_ID
    assert config.idp_sso_url == IDP_SSO_URL
    assert "BEGIN CERTIFICATE" in config.idp_certificate
    [entry] = audit_entries(workspace, "sso.configured")
    changes = entry["payload"]["changes"]
    assert changes["idp_entity_id"] == {"before": "", "after": IDP_ENTITY_ID}
    assert len(changes["idp_certificate"]["after"].split(":")) == 32  # a SHA-256 fingerprint
    assert "CERTIFICATE" not in str(entry) and "PRIVATE" not in str(entry)
    # Again, the same: nothing changes, nothing is recorded.
    services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, idp_metadata=idp.metadata())
    assert len(audit_entries(workspace, "sso.configured")) == 1


def test_configure_from_fields(workspace, idp):
    config = services.saml_configure(
        workspace=workspace,
        actor=FACTORY_ACTOR,
        idp_entity_id="https://sts.windows.net/tenant/",
        idp_sso_url="https://login.microsoftonline.com/tenant/saml2",
        idp_certificate=idp.certificate(),
        default_role="editor",
    )
    assert config.enabled and config.default_role == "editor"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"idp_metadata": "<not-metadata/>"}, "idp_metadata"),
        ({"idp_metadata": "definitely not xml"}, "idp_metadata"),
        ({"idp_sso_url": "http://idp.example/sso"}, "idp_sso_url"),
        (
            {"idp_certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
            "idp_certificate",
        ),
        ({"idp_entity_id": "  "}, "idp_entity_id"),
        ({"default_role": "owner"}, "default_role"),
        ({"groups_attribute": ""}, "groups_attribute"),
    ],
)
def test_bad_values_are_refused_on_their_field(workspace, idp, fields, field):
    base = {
        "idp_entity_id": IDP_ENTITY_ID,
        "idp_sso_url": IDP_SSO_URL,
        "idp_certificate": idp.certificate(),
    }
    if "idp_metadata" in fields:
        base = {}
    with pytest.raises(DomainError) as error:
        services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, **{**base, **fields})
    assert error.value.field == field


def test_nothing_configured_is_refused(workspace):
    with pytest.raises(DomainError) as error:
        services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, jit=True)
    assert error.value.field == "idp_entity_id"


def test_only_admins_configure(workspace, editor_user, idp):
    with pytest.raises(PermissionDeniedError):
        services.saml_configure(workspace=workspace, actor=editor_user, idp_metadata=idp.metadata())


@override_settings(SAML_METADATA_HTTP=True)
def test_metadata_fetched_by_url_through_the_egress_policy(workspace, idp, serve_http, monkeypatch):
    from tracklayer import http

    metadata = idp.metadata().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.server.seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.end_headers()
            self.wfile.write(metadata)

        def log_message(self, *args):
            pass

    server = serve_http(Handler)
    calls = []
    real = http.request
    monkeypatch.setattr(http, "request", lambda *a, **k: calls.append(a) or real(*a, **k))
    url = f"http://127.0.0.1:{server.server_port}/federation/metadata.xml"
    config = services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, idp_metadata_url=url)
    assert config.idp_entity_id == IDP_ENTITY_ID
    assert server.seen == ["/federation/metadata.xml"]
    assert calls == [("GET", url)]


@override_settings(SAML_METADATA_HTTP=True, EGRESS_ALLOW_LOOPBACK=False)
def test_the_egress_policy_refuses_a_private_metadata_url(workspace):
    from tracklayer import http

    http.reset()
    with pytest.raises(DomainError) as error:
        services.saml_configure(
            workspace=workspace,
            actor=FACTORY_ACTOR,
            idp_metadata_url="http://127.0.0.1:9/metadata.xml",
        )
    assert error.value.field == "idp_metadata_url"


def test_metadata_url_must_be_https(workspace):
    with pytest.raises(DomainError, match="https") as error:
        services.saml_configure(
            workspace=workspace, actor=FACTORY_ACTOR, idp_metadata_url="http://idp.example/md"
        )
    assert error.value.field == "idp_metadata_url"


def test_two_certificates_during_a_rollover(client, workspace, idp, tmp_path):
    rolled = idp.signed_by(tmp_path, "idp-next")
    services.saml_configure(
        workspace=workspace,
        actor=FACTORY_ACTOR,
        idp_metadata=idp.metadata(),
        idp_certificate_next=rolled.certificate(),
    )
    services.managed_domains_set(
        workspace=workspace, actor=FACTORY_ACTOR, domains=[DOMAIN], enforce=False
    )
    for signer in (idp, rolled):
        request_id = start_login(client, workspace, idp)
        assert (
            post_acs(client, workspace, signer.response(in_response_to=request_id)).status_code
            == 302
        )
        client.logout()
    # The old certificate retired: its signatures are refused, the new one's accepted.
    services.saml_configure(
        workspace=workspace,
        actor=FACTORY_ACTOR,
        idp_certificate=rolled.certificate(),
        idp_certificate_next="",
    )
    request_id = start_login(client, workspace, idp)
    response = post_acs(client, workspace, idp.response(in_response_to=request_id))
    assert response.status_code == 403
    request_id = start_login(client, workspace, idp)
    assert (
        post_acs(client, workspace, rolled.response(in_response_to=request_id)).status_code == 302
    )


def test_managed_domains_are_normalised_unique_and_audited(workspace, other_workspace, idp):
    services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, idp_metadata=idp.metadata())
    services.managed_domains_set(
        workspace=workspace, actor=FACTORY_ACTOR, domains=["Acme.COM.", "@acme.io"], enforce=True
    )
    assert selectors.managed_domain_list(workspace=workspace) == ["acme.com", "acme.io"]
    entry = audit_entries(workspace, "sso.domains_changed")[-1]["payload"]
    assert entry == {
        "added": ["acme.com", "acme.io"],
        "removed": [],
        "enforce": {"before": False, "after": True},
    }
    with pytest.raises(ConflictError) as error:
        services.managed_domains_set(
            workspace=other_workspace, actor=FACTORY_ACTOR, domains=["acme.com"], enforce=False
        )
    assert error.value.field == "domains"
    for bad in ["localhost", "a..b", "-x.com", "x_y.com", "ex ample.com", "a.com/x"]:
        with pytest.raises(DomainError):
            services.managed_domains_set(
                workspace=workspace, actor=FACTORY_ACTOR, domains=[bad], enforce=False
            )
    services.managed_domains_set(
        workspace=workspace, actor=FACTORY_ACTOR, domains=["acme.io"], enforce=False
    )
    assert list(ManagedDomain.objects.values_list("domain", flat=True)) == ["acme.io"]


def test_disable_turns_enforcement_off(workspace, idp):
    services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, idp_metadata=idp.metadata())
    services.managed_domains_set(
        workspace=workspace, actor=FACTORY_ACTOR, domains=[DOMAIN], enforce=True
    )
    config = services.saml_disable(workspace=workspace, actor=FACTORY_ACTOR)
    assert not config.enabled and not config.enforce
    assert selectors.enforcement_for_email(f"x@{DOMAIN}") is None
    [entry] = audit_entries(workspace, "sso.disabled")
    assert entry["payload"] == {"enforce": {"before": True, "after": False}}


def test_group_roles_replace_the_mapping(workspace):
    services.group_roles_set(
        workspace=workspace,
        actor=FACTORY_ACTOR,
        mapping={"A": "admin", "B": "editor"},
        default_role="viewer",
    )
    services.group_roles_set(
        workspace=workspace, actor=FACTORY_ACTOR, mapping={"B": "viewer"}, default_role="editor"
    )
    assert dict(GroupRole.objects.values_list("group", "role")) == {"B": "viewer"}
    assert selectors.saml_config_get(workspace=workspace).default_role == "editor"
    assert len(audit_entries(workspace, "sso.group_roles_changed")) == 2
    with pytest.raises(DomainError):
        services.group_roles_set(
            workspace=workspace, actor=FACTORY_ACTOR, mapping={"A": "root"}, default_role="viewer"
        )


def test_sp_values_and_activity(client, sso_workspace, idp):
    values = selectors.sp_values(workspace=sso_workspace)
    assert set(values) == {
        "entity_id",
        "acs_url",
        "metadata_url",
        "login_url",
        "sls_url",
        "certificate",
    }
    assert values["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    request_id = start_login(client, sso_workspace, idp)
    post_acs(client, sso_workspace, idp.response(in_response_to=request_id))
    kinds = [row["entry"].event_type for row in selectors.sso_activity(workspace=sso_workspace)]
    assert kinds[0] == "auth.sign_in_succeeded"
    assert "sso.configured" in kinds and "sso.domains_changed" in kinds


def test_the_command_configures_and_is_idempotent(workspace, idp, tmp_path):
    path = tmp_path / "idp.xml"
    path.write_text(idp.metadata())
    args = [
        "saml_configure",
        "--workspace",
        workspace.slug,
        "--idp-metadata",
        str(path),
        "--domains",
        f"{DOMAIN},acme.io",
        "--enforce",
        "--default-role",
        "editor",
        "--group-role",
        "IT Admins=admin",
        "--group-role",
        "Sales=viewer",
    ]
    out = StringIO()
    call_command(*args, stdout=out)
    assert "ACS URL" in out.getvalue()
    config = selectors.saml_config_get(workspace=workspace)
    assert config.enabled and config.enforce and config.default_role == "editor"
    assert selectors.managed_domain_list(workspace=workspace) == ["acme.example", "acme.io"]
    assert dict(GroupRole.objects.filter(workspace=workspace).values_list("group", "role")) == {
        "IT Admins": "admin",
        "Sales": "viewer",
    }
    entries = len(audit_entries(workspace))
    call_command(*args, stdout=StringIO())
    assert len(audit_entries(workspace)) == entries


def test_the_command_reports_errors(workspace, tmp_path):
    with pytest.raises(CommandError, match="No workspace"):
        call_command(
            "saml_configure", "--workspace", "nope", "--idp-metadata", "x", "--domains", "a.com"
        )
    with pytest.raises(CommandError, match="GROUP=ROLE"):
        call_command(
            "saml_configure",
            "--workspace",
            workspace.slug,
            "--idp-metadata",
            "x",
            "--domains",
            "a.com",
            "--group-role",
            "Sales",
        )
    bad = tmp_path / "bad.xml"
    bad.write_text("<nope/>")
    with pytest.raises(CommandError, match="idp_metadata"):
        call_command(
            "saml_configure",
            "--workspace",
            workspace.slug,
            "--idp-metadata",
            str(bad),
            "--domains",
            "a.com",
        )
