"""SAML sign-in against a real IdP (pysaml2): success, JIT and roles, and every refusal."""

import base64
import datetime as dt

import pytest
from allauth.usersessions.models import UserSession
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from tests.audit_entries import audit_entries
from tests.factories import FACTORY_ACTOR, UserFactory
from tests.workspaces.sso.conftest import DOMAIN, OTHER_SP, post_acs, start_login
from workspaces.models import GroupRole, Membership, Role
from workspaces.sso import selectors, services
from workspaces.sso.models import SamlAssertionSeen, SamlConfig, SamlRequest
from workspaces.sso.tasks import saml_expired_purge
from workspaces.sso.views import SESSION_METHOD_KEY

EMAIL = f"pat@{DOMAIN}"
MAIL_OID = "urn:oid:0.9.2342.19200300.100.1.3"


def refusals(workspace) -> list[str]:
    return [e["payload"]["reason"] for e in audit_entries(workspace, "auth.sso_refused")]


def assert_refused(response, workspace, reason: str, status: int = 403) -> None:
    assert response.status_code == status, response.content.decode()[:500]
    assert f"<code>{reason}</code>" in response.content.decode()
    assert refusals(workspace)[-1] == reason
    assert "_auth_user_id" not in response.wsgi_request.session


def test_sp_metadata_names_the_entity_the_acs_and_the_signing_certificate(client, workspace):
    # No key is made by an anonymous request: before the admin's first visit, no metadata.
    assert client.get(reverse("sso:metadata", args=[workspace.slug])).status_code == 404
    assert not SamlConfig.objects.exists()
    selectors.sp_values(workspace=workspace)
    response = client.get(reverse("sso:metadata", args=[workspace.slug]))
    body = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    assert f'entityID="http://localhost:8000/sso/saml/{workspace.slug}/metadata/"' in body
    assert f'Location="http://localhost:8000/sso/saml/{workspace.slug}/acs/"' in body
    assert 'use="signing"' in body and "X509Certificate" in body
    assert "PRIVATE KEY" not in body
    # The SP's key is made once and sealed.
    again = client.get(reverse("sso:metadata", args=[workspace.slug])).content.decode()
    assert again == body
    assert workspace.saml.sp_private_key.startswith("v1:")


def test_login_redirects_with_a_signed_request_and_a_same_host_relay_state(
    client, sso_workspace, idp
):
    response = client.get(
        reverse("sso:login", args=[sso_workspace.slug]), {"next": "/w/acme/settings/"}
    )
    assert response.status_code == 302
    location = response["Location"]
    assert "SAMLRequest=" in location and "Signature=" in location
    assert "RelayState=%2Fw%2Facme%2Fsettings%2F" in location
    assert SamlRequest.objects.filter(request_id=idp.request_id(location)).exists()
    evil = client.get(
        reverse("sso:login", args=[sso_workspace.slug]), {"next": "https://evil.example/"}
    )
    assert "evil.example" not in evil["Location"]


def test_sign_in_creates_user_and_membership_signs_in_and_audits(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(
        client, sso_workspace, idp.response(in_response_to=request_id), "/w/acme/settings/"
    )
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == "/w/acme/settings/"
    membership = Membership.objects.get(workspace=sso_workspace, user__email=EMAIL)
    assert membership.role == Role.VIEWER
    assert not membership.user.has_usable_password()
    assert int(client.session["_auth_user_id"]) == membership.user.pk
    assert client.session[SESSION_METHOD_KEY] == "saml"
    assert client.session["tracklayer_sso_workspace"] == sso_workspace.public_id
    assert UserSession.objects.filter(
        user=membership.user, session_key=client.session.session_key
    ).exists()
    [joined] = audit_entries(sso_workspace, "member.joined")[-1:]
    assert joined["payload"]["via"] == "saml"
    [signed_in] = audit_entries(sso_workspace, "auth.sign_in_succeeded")
    assert signed_in["payload"] == {"method": "saml"}
    assert signed_in["actor"] == f"user:{membership.user.public_id}"
    # The request id is consumed; the assertion id remembered.
    assert not SamlRequest.objects.filter(request_id=request_id).exists()
    assert SamlAssertionSeen.objects.filter(workspace=sso_workspace).count() == 1


def test_relay_state_to_another_site_is_ignored(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(
        client, sso_workspace, idp.response(in_response_to=request_id), "https://evil.example/x"
    )
    assert response["Location"] == f"/w/{sso_workspace.slug}/"


def test_jit_role_from_mapped_groups_and_updated_on_the_next_sign_in(client, sso_workspace, idp):
    services.group_roles_set(
        workspace=sso_workspace,
        actor=FACTORY_ACTOR,
        mapping={"Engineering": "editor", "IT Admins": "admin"},
        default_role="viewer",
    )
    request_id = start_login(client, sso_workspace, idp)
    post_acs(client, sso_workspace, idp.response(in_response_to=request_id, groups=["Engineering"]))
    membership = Membership.objects.get(workspace=sso_workspace, user__email=EMAIL)
    assert membership.role == Role.EDITOR

    request_id = start_login(client, sso_workspace, idp)
    post_acs(
        client,
        sso_workspace,
        idp.response(in_response_to=request_id, groups=["Engineering", "IT Admins"]),
    )
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    change = audit_entries(sso_workspace, "member.role_changed")[-1]["payload"]
    assert change == {"role": {"before": "editor", "after": "admin"}, "via": "saml"}

    request_id = start_login(client, sso_workspace, idp)
    post_acs(client, sso_workspace, idp.response(in_response_to=request_id, groups=["Sales"]))
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER  # no mapped group: the default role


def test_email_from_the_configured_attribute_when_the_name_id_is_not_an_address(
    client, sso_workspace, idp
):
    from saml2.saml import NAMEID_FORMAT_PERSISTENT

    # pysaml2 sends "mail" under its OID, as many IdPs do.
    services.saml_configure(workspace=sso_workspace, actor=FACTORY_ACTOR, email_attribute=MAIL_OID)
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(
        client,
        sso_workspace,
        idp.response(
            in_response_to=request_id,
            email="00u1abcd",
            name_id_format=NAMEID_FORMAT_PERSISTENT,
            attributes={"mail": [f"Kim@{DOMAIN}"]},
        ),
    )
    assert response.status_code == 302
    assert Membership.objects.filter(workspace=sso_workspace, user__email=f"kim@{DOMAIN}").exists()


def test_entra_groups_claim_is_read_when_configured(client, sso_workspace, idp):
    from workspaces.sso.models import ENTRA_GROUPS_ATTRIBUTE

    services.saml_configure(
        workspace=sso_workspace, actor=FACTORY_ACTOR, groups_attribute=ENTRA_GROUPS_ATTRIBUTE
    )
    GroupRole.objects.create(workspace=sso_workspace, group="f3a1-guid", role=Role.EDITOR)
    request_id = start_login(client, sso_workspace, idp)
    post_acs(
        client,
        sso_workspace,
        idp.response(in_response_to=request_id, attributes={ENTRA_GROUPS_ATTRIBUTE: ["f3a1-guid"]}),
    )
    assert Membership.objects.get(workspace=sso_workspace, user__email=EMAIL).role == Role.EDITOR


def test_existing_member_signs_in_without_jit(client, sso_workspace, idp):
    services.saml_configure(workspace=sso_workspace, actor=FACTORY_ACTOR, jit=False)
    user = UserFactory(email=EMAIL)
    Membership.objects.create(workspace=sso_workspace, user=user, role=Role.EDITOR)
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(client, sso_workspace, idp.response(in_response_to=request_id))
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_without_jit_a_non_member_is_refused(client, sso_workspace, idp):
    services.saml_configure(workspace=sso_workspace, actor=FACTORY_ACTOR, jit=False)
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(client, sso_workspace, idp.response(in_response_to=request_id))
    assert_refused(response, sso_workspace, "not_member")
    assert not Membership.objects.filter(user__email=EMAIL).exists()


def test_an_address_outside_the_managed_domains_is_refused(client, sso_workspace, idp, admin_user):
    # Even an existing member: the IdP vouches only for the domains its workspace manages.
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(
        client, sso_workspace, idp.response(in_response_to=request_id, email=admin_user.email)
    )
    assert_refused(response, sso_workspace, "domain_not_managed")


def test_last_admin_is_not_demoted_by_the_idp(client, sso_workspace, idp):
    user = UserFactory(email=EMAIL)
    admin = Membership.objects.create(workspace=sso_workspace, user=user, role=Role.ADMIN)
    Membership.objects.filter(workspace=sso_workspace).exclude(pk=admin.pk).delete()
    request_id = start_login(client, sso_workspace, idp)
    post_acs(client, sso_workspace, idp.response(in_response_to=request_id))
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


# --- Refusals -----------------------------------------------------------------------------------


def test_unsigned_response_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id, sign_response=False)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "unsigned")


def test_unsigned_assertion_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id, sign_assertion=False)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "unsigned")


def test_nothing_signed_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(
        in_response_to=request_id, sign_assertion=False, sign_response=False
    )
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "unsigned")


def test_a_signature_by_another_key_is_refused(client, sso_workspace, idp, tmp_path):
    impostor = idp.signed_by(tmp_path, "impostor")
    request_id = start_login(client, sso_workspace, idp)
    saml_response = impostor.response(in_response_to=request_id)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "bad_signature")


def test_sha1_is_refused_unless_allowed(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id, sha1=True)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "sha1")

    services.saml_configure(workspace=sso_workspace, actor=FACTORY_ACTOR, allow_sha1=True)
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(client, sso_workspace, idp.response(in_response_to=request_id, sha1=True))
    assert response.status_code == 302


def test_wrong_audience_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id, audience=OTHER_SP)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "audience")


def test_wrong_destination_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(
        in_response_to=request_id, destination="https://other-sp.example/acs/"
    )
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "destination")


def test_a_destination_that_only_starts_with_ours_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id, destination=idp.sp_acs() + "x")
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "destination")


def test_wrong_recipient_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(
        in_response_to=request_id, recipient="https://other-sp.example/acs/"
    )
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "recipient")


def test_a_recipient_that_merely_contains_ours_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id, recipient=idp.sp_acs() + "evil")
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "recipient")


def test_unknown_in_response_to_is_refused(client, sso_workspace, idp):
    start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to="_not-one-of-ours")
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "in_response_to")


def test_a_request_id_of_another_workspace_is_refused(client, sso_workspace, idp, other_workspace):
    request_id = start_login(client, sso_workspace, idp)
    SamlRequest.objects.filter(request_id=request_id).update(workspace=other_workspace)
    saml_response = idp.response(in_response_to=request_id)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "in_response_to")


def test_an_expired_request_id_is_refused(client, sso_workspace, idp):
    from django.utils import timezone

    request_id = start_login(client, sso_workspace, idp)
    SamlRequest.objects.filter(request_id=request_id).update(expires_at=timezone.now())
    saml_response = idp.response(in_response_to=request_id)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "in_response_to")


def test_idp_initiated_is_refused_by_default(client, sso_workspace, idp):
    saml_response = idp.response(in_response_to=None)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "in_response_to")


def test_a_request_id_is_consumed_once(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    assert (
        post_acs(client, sso_workspace, idp.response(in_response_to=request_id)).status_code == 302
    )
    client.logout()
    # A second, fresh assertion for the same request: the request was consumed.
    saml_response = idp.response(in_response_to=request_id)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "in_response_to")


def test_replay_of_an_assertion_is_refused(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id)
    assert post_acs(client, sso_workspace, saml_response).status_code == 302
    client.logout()
    # The attacker also re-creates the request id; the assertion id still gives it away.
    from django.utils import timezone

    SamlRequest.objects.create(
        workspace=sso_workspace,
        request_id=request_id,
        expires_at=timezone.now() + __import__("datetime").timedelta(minutes=5),
    )
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "replay")


@pytest.mark.parametrize(
    ("shift", "reason"), [(3600, "expired"), (-3600, "not_yet_valid"), (240, "expired")]
)
def test_conditions_outside_their_window_are_refused(
    client, sso_workspace, idp, monkeypatch, shift, reason
):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id)
    real_now = OneLogin_Saml2_Utils.now
    # The assertion is valid for 5 minutes; at +4 minutes (plus our 2 minutes of skew) it has
    # expired by our clock even though python3-saml alone would still allow 5 minutes' drift.
    monkeypatch.setattr(OneLogin_Saml2_Utils, "now", staticmethod(lambda: real_now() + shift + 60))
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, reason)


def test_a_small_clock_difference_is_tolerated(client, sso_workspace, idp, monkeypatch):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id)
    real_now = OneLogin_Saml2_Utils.now
    monkeypatch.setattr(OneLogin_Saml2_Utils, "now", staticmethod(lambda: real_now() - 60))
    assert post_acs(client, sso_workspace, saml_response).status_code == 302


def test_garbage_is_a_clear_400(client, sso_workspace):
    for body in ("", "not base64 !!", base64.b64encode(b"<nope/>").decode()):
        response = post_acs(client, sso_workspace, body)
        assert response.status_code in (400, 403)
        assert "Single sign-on refused" in response.content.decode()


def test_a_workspace_without_sso_answers_404_pages(client, workspace):
    assert client.get(reverse("sso:login", args=[workspace.slug])).status_code == 404
    response = post_acs(client, workspace, "x")
    assert response.status_code == 404
    assert client.get(reverse("sso:login", args=["no-such-workspace"])).status_code == 404


def test_the_refusal_entry_holds_no_assertion(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    saml_response = idp.response(in_response_to=request_id, sign_response=False)
    post_acs(client, sso_workspace, saml_response)
    [entry] = audit_entries(sso_workspace, "auth.sso_refused")
    assert entry["payload"] == {"reason": "unsigned", "method": "saml"}
    assert EMAIL not in str(entry)


def test_a_tampered_signed_response_is_refused(client, sso_workspace, idp):
    """The IdP's signed response with the person changed afterwards (lxml, not a hand-built
    response): the signature no longer verifies."""
    from lxml import etree

    request_id = start_login(client, sso_workspace, idp)
    document = etree.fromstring(base64.b64decode(idp.response(in_response_to=request_id)))
    [name_id] = document.findall(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    name_id.text = f"ceo@{DOMAIN}"
    saml_response = base64.b64encode(etree.tostring(document)).decode()
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "bad_signature")
    assert not Membership.objects.filter(user__email=f"ceo@{DOMAIN}").exists()


@override_settings(SAML_IDP_INITIATED=True)
def test_idp_initiated_needs_the_setting_and_the_workspace_flag(client, sso_workspace, idp):
    saml_response = idp.response(in_response_to=None)
    assert_refused(post_acs(client, sso_workspace, saml_response), sso_workspace, "in_response_to")
    services.saml_configure(workspace=sso_workspace, actor=FACTORY_ACTOR, idp_initiated=True)
    unsolicited = idp.response(in_response_to=None)
    assert post_acs(client, sso_workspace, unsolicited).status_code == 302
    client.logout()
    # Replays are refused all the same.
    assert_refused(post_acs(client, sso_workspace, unsolicited), sso_workspace, "replay")


def test_expired_rows_are_purged(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    post_acs(client, sso_workspace, idp.response(in_response_to=request_id))
    start_login(client, sso_workspace, idp)
    assert SamlRequest.objects.count() == 1 and SamlAssertionSeen.objects.count() == 1
    assert saml_expired_purge() == 0
    past = timezone.now() - dt.timedelta(seconds=1)
    SamlRequest.objects.update(expires_at=past)
    SamlAssertionSeen.objects.update(expires_at=past)
    assert saml_expired_purge() == 2
    assert not SamlRequest.objects.exists() and not SamlAssertionSeen.objects.exists()


def test_the_acs_leaves_expired_rows_to_the_periodic_task(client, sso_workspace, idp):
    past = timezone.now() - dt.timedelta(seconds=1)
    SamlRequest.objects.create(workspace=sso_workspace, request_id="id-old", expires_at=past)
    SamlAssertionSeen.objects.create(
        workspace=sso_workspace, assertion_id="id-old", expires_at=past
    )
    request_id = start_login(client, sso_workspace, idp)

    saml_response = idp.response(in_response_to=request_id)
    with CaptureQueriesContext(connection) as queries:
        assert post_acs(client, sso_workspace, saml_response).status_code == 302

    purges = [q["sql"] for q in queries.captured_queries if '"expires_at" <=' in q["sql"]]
    assert purges == []
    assert SamlRequest.objects.filter(request_id="id-old").exists()
    assert SamlAssertionSeen.objects.filter(assertion_id="id-old").exists()
    assert saml_expired_purge() == 2


def test_under_the_advisory_lock_members_sign_in_but_no_one_joins(
    client, sso_workspace, idp, admin_user
):
    from audit.models import AuditPendingEntry
    from audit.services import audit_advisory_lock_enable

    member = UserFactory(email=EMAIL)
    Membership.objects.create(workspace=sso_workspace, user=member, role=Role.VIEWER)
    audit_advisory_lock_enable(workspace=sso_workspace, actor=admin_user)

    request_id = start_login(client, sso_workspace, idp)
    assert (
        post_acs(client, sso_workspace, idp.response(in_response_to=request_id)).status_code == 302
    )
    assert AuditPendingEntry.objects.filter(event_type="auth.sign_in_succeeded").exists()
    client.logout()

    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(
        client, sso_workspace, idp.response(in_response_to=request_id, email=f"new@{DOMAIN}")
    )
    assert response.status_code == 403
    assert "<code>locked</code>" in response.content.decode()
    assert not Membership.objects.filter(user__email=f"new@{DOMAIN}").exists()


@pytest.mark.parametrize(
    "payload",
    [
        # Hostile documents (not responses): an external entity, entity expansion, bad bytes.
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>',
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<r>&b;&b;&b;</r>",
        b"\xff\xfe\x00<not xml",
        b"",
    ],
)
def test_hostile_documents_are_a_clear_refusal_never_a_500(client, sso_workspace, payload):
    response = post_acs(client, sso_workspace, base64.b64encode(payload).decode())
    assert response.status_code in (400, 403)
    assert "root:" not in response.content.decode()
    assert "Single sign-on refused" in response.content.decode()


def test_a_hostile_relay_state_is_ignored(client, sso_workspace, idp):
    for relay in ("javascript:alert(1)", "//evil.example/", "/\\evil.example", "https:evil"):
        request_id = start_login(client, sso_workspace, idp)
        response = post_acs(client, sso_workspace, idp.response(in_response_to=request_id), relay)
        assert response["Location"] == f"/w/{sso_workspace.slug}/"
        client.logout()


@override_settings(SAML_REFUSALS_AUDITED_PER_MINUTE=3)
def test_a_flood_of_refusals_does_not_fill_the_audit_log(client, sso_workspace):
    for _ in range(5):
        assert post_acs(client, sso_workspace, "garbage").status_code == 400
    assert refusals(sso_workspace) == ["malformed"] * 3
