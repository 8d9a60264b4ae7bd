"""The SAML section of Settings → Identity: SP values to copy, the IdP from pasted or uploaded
metadata (a real pysaml2 IdP's) or from fields, each refusal on the field it concerns, managed
domains, break-glass, the group → role table, and the test sign-in through the real IdP."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.audit_entries import audit_entries
from tests.workspaces.helpers import activate_totp
from tests.workspaces.identity.conftest import url
from tests.workspaces.sso.conftest import DOMAIN, IDP_ENTITY_ID, IDP_SSO_URL
from workspaces.models import GroupRole
from workspaces.sso import selectors as sso_selectors

pytestmark = pytest.mark.django_db


def _errors(response, field: str) -> str:
    """The error text shown under ``field`` (its ``<small class="error">`` elements)."""
    body = response.content.decode()
    marker = f'name="{field}"'
    assert marker in body, field
    after = body.split(marker, 1)[1].split('<div class="field', 1)[0]
    return " ".join(part.split("</small>")[0] for part in after.split('class="error"')[1:])


def test_the_sp_values_are_shown_with_copy_buttons(admin_client, workspace):
    body = admin_client.get(url(workspace)).content.decode()

    sp = sso_selectors.sp_values(workspace=workspace)
    for key, element in (
        ("entity_id", "sp-entity-id"),
        ("acs_url", "sp-acs-url"),
        ("metadata_url", "sp-metadata-url"),
    ):
        assert f'<code id="{element}">{sp[key]}</code>' in body
        assert f'data-copy="#{element}"' in body
    assert sp["certificate"].strip().splitlines()[1] in body
    assert 'data-testid="saml-state">Off' in body
    assert 'data-testid="saml-test"' not in body  # nothing to test before an IdP


def test_pasted_metadata_configures_sso_and_offers_the_test_sign_in(admin_client, workspace, idp):
    response = admin_client.post(
        url(workspace, "identity-saml-metadata"), {"idp_metadata": idp.metadata()}
    )

    body = response.content.decode()
    assert response.status_code == 200, body
    config = sso_selectors.saml_config_get(workspace=workspace)
    assert (config.enabled, config.idp_entity_id, config.idp_sso_url) == (
        True,
        IDP_ENTITY_ID,
        IDP_SSO_URL,
    )
    assert "SSO configured from the identity provider&#x27;s metadata." in body
    assert 'data-testid="saml-state">On' in body
    test_url = f"/sso/saml/{workspace.slug}/login/?next={url(workspace)}"
    assert f'href="{test_url}"' in body
    [entry] = audit_entries(workspace, "sso.configured")
    assert entry["payload"]["changes"]["idp_entity_id"]["after"] == IDP_ENTITY_ID


def test_an_uploaded_metadata_file_does_the_same(admin_client, workspace, idp):
    upload = SimpleUploadedFile("idp.xml", idp.metadata().encode(), "application/xml")

    response = admin_client.post(
        url(workspace, "identity-saml-metadata"),
        {"idp_metadata_file": upload},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="saml-section"')
    assert sso_selectors.saml_config_get(workspace=workspace).idp_entity_id == IDP_ENTITY_ID


def test_the_test_sign_in_goes_through_the_idp_and_back_to_the_page(
    admin_client, client_factory, workspace, idp
):
    # The admin configures SSO for acme.example, with IT Admins as admins, and requires MFA
    admin_client.post(url(workspace, "identity-saml-metadata"), {"idp_metadata": idp.metadata()})
    admin_client.post(url(workspace, "identity-saml-domains"), {"domains": DOMAIN})
    admin_client.post(
        url(workspace, "identity-saml-group-roles"),
        {"group_0": "IT Admins", "role_0": "admin", "default_role": "viewer"},
    )
    test_url = f"/sso/saml/{workspace.slug}/login/?next={url(workspace)}"
    assert f'href="{test_url}"' in admin_client.get(url(workspace)).content.decode()
    admin_client.post(url(workspace, "identity-mfa"), {"required": "on"})

    # A colleague of the IdP presses "Test sign-in" in their own browser
    browser = client_factory()
    redirect = browser.get(test_url)
    request_id = idp.request_id(redirect["Location"])
    saml_response = idp.response(
        in_response_to=request_id, email=f"it@{DOMAIN}", groups=["IT Admins"]
    )
    response = browser.post(
        f"/sso/saml/{workspace.slug}/acs/",
        {"SAMLResponse": saml_response, "RelayState": url(workspace)},
    )

    # They come back to this page, as an admin, without MFA set up (an SSO session)
    assert response.status_code == 302
    assert response["Location"] == url(workspace)
    page = browser.get(url(workspace))
    assert page.status_code == 200
    assert "1 of 2</strong>" in page.content.decode().split('data-testid="coverage-sso"')[1]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, None, "exactly one of them"),
        ({"idp_metadata": "<not xml"}, "idp_metadata", ""),
        ({"idp_metadata": "<x/>", "idp_metadata_url": "https://a.example/m"}, None, "exactly one"),
        ({"idp_metadata_url": "http://idp.example/metadata"}, "idp_metadata_url", "https"),
    ],
)
def test_metadata_refusals_show_on_their_field(admin_client, workspace, data, field, message):
    response = admin_client.post(url(workspace, "identity-saml-metadata"), data)

    assert response.status_code == 422
    body = response.content.decode()
    if field is None:
        assert 'class="alert alert-error"' in body and message in body
    else:
        assert _errors(response, field).strip(), body
        assert message in _errors(response, field)
    assert sso_selectors.saml_config_get(workspace=workspace) is None or not (
        sso_selectors.saml_config_get(workspace=workspace).enabled
    )
    assert audit_entries(workspace, "sso.configured") == []


def test_an_uploaded_file_that_is_not_metadata_is_refused_on_the_upload(admin_client, workspace):
    upload = SimpleUploadedFile("idp.xml", b"<html>a login page</html>", "text/html")

    response = admin_client.post(
        url(workspace, "identity-saml-metadata"), {"idp_metadata_file": upload}
    )

    assert response.status_code == 422
    assert _errors(response, "idp_metadata_file").strip()


def test_a_binary_upload_is_refused_on_the_upload(admin_client, workspace):
    upload = SimpleUploadedFile("idp.xml", b"\xff\xfe\x00bad", "application/octet-stream")

    response = admin_client.post(
        url(workspace, "identity-saml-metadata"), {"idp_metadata_file": upload}
    )

    assert response.status_code == 422
    assert "not UTF-8" in _errors(response, "idp_metadata_file")


def _fields(idp, **overrides) -> dict:
    return {
        "idp_entity_id": IDP_ENTITY_ID,
        "idp_sso_url": IDP_SSO_URL,
        "idp_certificate": idp.certificate(),
        "groups_attribute": "groups",
        "email_attribute": "email",
        "jit": "on",
        **overrides,
    }


def test_the_fields_form_configures_sso(admin_client, workspace, idp):
    response = admin_client.post(
        url(workspace, "identity-saml-fields"),
        _fields(
            idp, groups_attribute="http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
        ),
    )

    assert response.status_code == 200
    config = sso_selectors.saml_config_get(workspace=workspace)
    assert config.enabled and config.groups_attribute.endswith("/claims/groups")
    assert config.jit is True and config.allow_sha1 is False


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"idp_sso_url": "http://idp.example.test/sso"}, "idp_sso_url"),
        ({"idp_sso_url": ""}, "idp_sso_url"),
        ({"idp_entity_id": ""}, "idp_entity_id"),
        (
            {"idp_certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"},
            "idp_certificate",
        ),
        ({"idp_certificate_next": "not a certificate"}, "idp_certificate_next"),
        ({"idp_slo_url": "ftp://idp.example.test/slo"}, "idp_slo_url"),
        ({"groups_attribute": ""}, "groups_attribute"),
    ],
)
def test_field_refusals_show_on_the_field(admin_client, workspace, idp, overrides, field):
    response = admin_client.post(url(workspace, "identity-saml-fields"), _fields(idp, **overrides))

    assert response.status_code == 422
    assert _errors(response, field).strip()
    assert audit_entries(workspace, "sso.configured") == []


def test_managed_domains_and_enforcement(admin_client, workspace, idp):
    # Enforcement before an IdP is refused on its checkbox
    response = admin_client.post(
        url(workspace, "identity-saml-domains"), {"domains": "acme.example", "enforce": "on"}
    )
    assert response.status_code == 422 and _errors(response, "enforce").strip()

    # Not a domain: refused on the field
    response = admin_client.post(
        url(workspace, "identity-saml-domains"), {"domains": "not a domain!"}
    )
    assert response.status_code == 422 and "not a domain" in _errors(response, "domains")

    admin_client.post(url(workspace, "identity-saml-metadata"), {"idp_metadata": idp.metadata()})
    response = admin_client.post(
        url(workspace, "identity-saml-domains"),
        {"domains": "acme.example\nAcme.Example, corp.acme.example", "enforce": "on"},
    )
    assert response.status_code == 200
    assert sorted(sso_selectors.managed_domain_list(workspace=workspace)) == [
        "acme.example",
        "corp.acme.example",
    ]
    assert 'data-testid="saml-state">Enforced' in response.content.decode()


def test_a_domain_managed_by_another_workspace_is_refused(
    admin_client, workspace, other_workspace, other_admin_user
):
    from workspaces.sso import services as sso_services

    sso_services.managed_domains_set(
        workspace=other_workspace, actor=other_admin_user, domains=["globex.example"], enforce=False
    )

    response = admin_client.post(
        url(workspace, "identity-saml-domains"), {"domains": "globex.example"}
    )

    assert response.status_code == 422
    assert "another workspace" in _errors(response, "domains")


def test_the_break_glass_account_is_an_admin_with_mfa(
    client, workspace, admin_user, editor_user, idp
):
    secret_holder = activate_totp(client, admin_user)  # signs the admin in, with an app
    assert secret_holder
    client.post(url(workspace, "identity-saml-metadata"), {"idp_metadata": idp.metadata()})

    # An editor is not offered, and a posted editor is refused
    page = client.get(url(workspace)).content.decode()
    assert f'value="{admin_user.public_id}"' in page
    assert f'value="{editor_user.public_id}"' not in page
    response = client.post(
        url(workspace, "identity-saml-break-glass"), {"break_glass_user": editor_user.public_id}
    )
    assert response.status_code == 422

    response = client.post(
        url(workspace, "identity-saml-break-glass"), {"break_glass_user": admin_user.public_id}
    )
    assert response.status_code == 200
    assert sso_selectors.saml_config_get(workspace=workspace).break_glass_user == admin_user


def test_an_admin_without_mfa_is_not_offered_as_break_glass(admin_client, workspace, admin_user):
    body = admin_client.get(url(workspace)).content.decode()

    assert f'value="{admin_user.public_id}"' not in body
    assert "Not offered (no MFA)" in body


def test_the_group_role_table(admin_client, workspace):
    response = admin_client.post(
        url(workspace, "identity-saml-group-roles"),
        {
            "group_0": "Engineering",
            "role_0": "editor",
            "group_1": "IT Admins",
            "role_1": "admin",
            "group_2": "",
            "role_2": "",
            "default_role": "viewer",
        },
    )

    assert response.status_code == 200
    assert dict(GroupRole.objects.filter(workspace=workspace).values_list("group", "role")) == {
        "Engineering": "editor",
        "IT Admins": "admin",
    }
    body = response.content.decode()
    assert 'value="Engineering"' in body and 'name="group_4"' in body  # 2 rows + 3 empty

    # A row emptied is removed; the rest stays
    admin_client.post(
        url(workspace, "identity-saml-group-roles"),
        {
            "group_0": "Engineering",
            "role_0": "",
            "group_1": "IT Admins",
            "role_1": "admin",
            "default_role": "editor",
        },
    )
    assert list(GroupRole.objects.filter(workspace=workspace).values_list("group", flat=True)) == [
        "IT Admins"
    ]
    [*_, entry] = audit_entries(workspace, "sso.group_roles_changed")
    assert entry["payload"]["default_role"] == {"before": "viewer", "after": "editor"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"group_0": "Eng", "role_0": "owner", "default_role": "viewer"}, "role_0"),
        (
            {
                "group_0": "Eng",
                "role_0": "admin",
                "group_1": "Eng",
                "role_1": "viewer",
                "default_role": "viewer",
            },
            "group_1",
        ),
        ({"group_0": "Eng", "role_0": "admin", "default_role": "root"}, "default_role"),
        ({"group_0": "x" * 300, "role_0": "admin", "default_role": "viewer"}, "group_0"),
    ],
)
def test_the_group_role_table_refuses_bad_rows_on_their_field(admin_client, workspace, data, field):
    response = admin_client.post(url(workspace, "identity-saml-group-roles"), data)

    assert response.status_code == 422
    assert _errors(response, field).strip()
    assert not GroupRole.objects.filter(workspace=workspace).exists()


def test_turning_sso_off(admin_client, workspace, idp):
    admin_client.post(url(workspace, "identity-saml-metadata"), {"idp_metadata": idp.metadata()})

    response = admin_client.post(url(workspace, "identity-saml-disable"))

    assert response.status_code == 200
    assert not sso_selectors.saml_config_get(workspace=workspace).enabled
    assert [e["event_type"] for e in audit_entries(workspace, "sso.disabled")] == ["sso.disabled"]


HOSTILE_METADATA = [
    "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    "<EntityDescriptor xmlns='urn:oasis:names:tc:SAML:2.0:metadata'/>",
    "<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata' entityID='x'>"
    "<md:IDPSSODescriptor protocolSupportEnumeration='urn:oasis:names:tc:SAML:2.0:protocol'>"
    "<md:KeyDescriptor use='signing'><ds:KeyInfo xmlns:ds='http://www.w3.org/2000/09/xmldsig#'>"
    "<ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA==</ds:X509Certificate></ds:X509Data>"
    "</ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>",
    "<" * 20_000,
    "{}",
]


@pytest.mark.parametrize("metadata", HOSTILE_METADATA)
def test_hostile_metadata_is_a_field_error_never_a_server_error(admin_client, workspace, metadata):
    response = admin_client.post(
        url(workspace, "identity-saml-metadata"), {"idp_metadata": metadata}
    )

    assert response.status_code == 422
    assert _errors(response, "idp_metadata").strip()
    assert "root:" not in response.content.decode()  # no file was read into the page
