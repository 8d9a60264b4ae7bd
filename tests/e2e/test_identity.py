"""The demo admin opens Settings → Identity, configures SSO by pasting a real identity
provider's metadata (pysaml2's, with a key made now) after a refused paste, creates a SCIM
token, and turns the MFA policy on — after which the next page of the workspace sends them,
without an authenticator app, to set one up. Each step in a real browser, under the CSP."""

import re

import pytest
from django.test import Client

from audit.models import AuditEntry
from tests.e2e.helpers import open_demo
from tests.workspaces.sso.conftest import IDP_ENTITY_ID, TestIdp
from workspaces.management.commands.seed_demo import DEMO_SLUG
from workspaces.models import Workspace
from workspaces.sso import selectors as sso_selectors

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_configures_sso_from_metadata_and_requires_mfa(page, live_server, tmp_path):
    open_demo(page)
    first_new_entry = AuditEntry.objects.filter(workspace__slug=DEMO_SLUG).count()
    page.locator(".sidebar").get_by_role("link", name="Identity").click()
    page.wait_for_url(f"**/w/{DEMO_SLUG}/settings/identity/")
    saml = page.get_by_test_id("saml-section")
    assert saml.get_by_test_id("saml-state").inner_text() == "Off"

    # The SP values are there to copy (the page made the SP's key); the IdP trusts them
    entity_id = saml.locator("#sp-entity-id").inner_text().strip()
    assert entity_id.endswith(f"/sso/saml/{DEMO_SLUG}/metadata/")
    saml.locator("button[data-copy='#sp-acs-url']").click()
    saml.locator("button[data-copy='#sp-acs-url']").filter(
        has_text=re.compile("^(Copied|Selected — press Ctrl\\+C)$")
    ).wait_for()
    sp_metadata = Client().get(f"/sso/saml/{DEMO_SLUG}/metadata/").content.decode()
    idp = TestIdp(tmp_path, sp_metadata)

    # Pasting something that is not metadata is refused on the field, in place
    form = page.get_by_test_id("saml-metadata-form")
    form.get_by_label("Paste the IdP's metadata XML").fill("<html>our login page</html>")
    form.get_by_role("button", name="Configure from metadata").click()
    page.get_by_test_id("saml-metadata-form").locator(".field-invalid small.error").wait_for()
    assert page.get_by_test_id("saml-state").inner_text() == "Off"

    # The IdP's real metadata configures SSO; the test sign-in appears
    form = page.get_by_test_id("saml-metadata-form")
    form.get_by_label("Paste the IdP's metadata XML").fill(idp.metadata())
    form.get_by_role("button", name="Configure from metadata").click()
    page.get_by_text("SSO configured from the identity provider's metadata.").wait_for()
    assert page.get_by_test_id("saml-state").inner_text() == "On"
    test_link = page.get_by_test_id("saml-test")
    assert test_link.get_attribute("href") == (
        f"/sso/saml/{DEMO_SLUG}/login/?next=/w/{DEMO_SLUG}/settings/identity/"
    )
    workspace = Workspace.objects.get(slug=DEMO_SLUG)
    assert sso_selectors.saml_config_get(workspace=workspace).idp_entity_id == IDP_ENTITY_ID

    # Managed domains and the group → role table
    form = page.get_by_test_id("saml-domains-form")
    form.get_by_label("Managed domains").fill("acme.example")
    form.get_by_role("button", name="Save domains").click()
    page.get_by_text("Managed domains saved.").wait_for()
    form = page.get_by_test_id("saml-group-roles-form")
    form.get_by_label("IdP group 1", exact=True).fill("IT Admins")
    form.get_by_label("Role of group 1", exact=True).select_option("admin")
    form.get_by_role("button", name="Save group roles").click()
    page.get_by_text("Group roles saved.").wait_for()

    # A SCIM token: the secret is shown once
    form = page.get_by_test_id("scim-token-create-form")
    form.get_by_label("Token name").fill("Okta")
    form.get_by_role("button", name="Create SCIM token").click()
    secret = page.get_by_test_id("new-scim-secret").inner_text().strip()
    assert secret.startswith("tlscim_")
    # (the activity below follows each section's change, without a reload)
    page.get_by_test_id("identity-activity").locator(
        "tr[data-event='scim.token_created']"
    ).wait_for()

    # The MFA policy, turned on
    form = page.get_by_test_id("mfa-form")
    form.get_by_label("Require two-factor authentication for password sign-ins").check()
    form.get_by_role("button", name="Save MFA policy").click()
    page.get_by_text("MFA is now required.").wait_for()
    assert page.get_by_test_id("mfa-state").inner_text() == "Required"
    assert "with MFA · required" in page.get_by_test_id("coverage-mfa").inner_text()
    page.screenshot(path=tmp_path / "identity.png", full_page=True)

    # The admin signed in with a password and has no authenticator app: the next page of
    # the workspace sends them to set one up (allauth asks for the password first)
    page.locator(".sidebar").get_by_role("link", name="Overview").click()
    page.wait_for_url("**/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F")
    page.get_by_text("requires two-factor authentication").wait_for()
    assert secret not in page.content()

    events = list(
        AuditEntry.objects.filter(workspace__slug=DEMO_SLUG, idx__gte=first_new_entry)
        .order_by("idx")
        .values_list("event_type", flat=True)
    )
    assert events == [
        "sso.configured",
        "sso.domains_changed",
        "sso.group_roles_changed",
        "scim.token_created",
        "workspace.mfa_policy_changed",
    ]
