"""Settings → Consent: the service (validated, audited with before/after) and its pages."""

import pytest
from django.urls import reverse

from privacy import selectors, services
from privacy.consent import DEFAULT_POLICIES
from privacy.models import ConsentSettings
from tests.audit_entries import audit_count, last_entry
from tracklayer.exceptions import DomainError, PermissionDeniedError

pytestmark = pytest.mark.django_db


def test_without_a_row_the_shipped_defaults_apply(workspace):
    config = selectors.consent_config_get(workspace=workspace)

    assert config.default_jurisdiction.code == "strictest"
    assert dict(config.policies) == DEFAULT_POLICIES
    assert not ConsentSettings.objects.filter(workspace=workspace).exists()


def test_general_settings_are_saved_and_audited_with_before_and_after(workspace, editor_user):
    services.consent_settings_update(
        workspace=workspace,
        actor=editor_user,
        values={
            "default_jurisdiction": "US-CA",
            "honour_gpc_everywhere": True,
            "regime_overrides": {"BR": "opt_in"},
            "category_mapping": {"C0004": "advertising"},
        },
    )

    config = selectors.consent_config_get(workspace=workspace)
    assert config.default_jurisdiction.code == "US-CA"
    assert config.honour_gpc_everywhere
    entry = last_entry(workspace)
    assert entry["event_type"] == "privacy.consent_settings_updated"
    assert entry["payload"]["changes"] == {
        "default_jurisdiction": {"before": "strictest", "after": "US-CA"},
        "honour_gpc_everywhere": {"before": False, "after": True},
        "regime_overrides": {"before": {}, "after": {"BR": "opt_in"}},
        "category_mapping": {"before": {}, "after": {"C0004": "advertising"}},
    }


def test_a_policy_change_is_audited_and_a_reset_restores_the_default(workspace, admin_user):
    services.consent_settings_update(
        workspace=workspace,
        actor=admin_user,
        policies={"meta_capi": {"tcf_purposes": [1, 3, 4, 7], "on_missing": "block"}},
    )
    changed = selectors.consent_config_get(workspace=workspace).policies["meta_capi"]
    entry = last_entry(workspace)

    services.consent_settings_update(
        workspace=workspace, actor=admin_user, policies={"meta_capi": None}
    )

    assert changed.tcf_purposes == {1, 3, 4, 7}
    change = entry["payload"]["changes"]["policies.meta_capi"]
    assert (change["before"]["tcf_purposes"], change["after"]["tcf_purposes"]) == (
        [1, 3, 4],
        [1, 3, 4, 7],
    )
    assert (
        selectors.consent_config_get(workspace=workspace).policies["meta_capi"]
        == (DEFAULT_POLICIES["meta_capi"])
    )
    assert last_entry(workspace)["payload"]["changes"]["policies.meta_capi"]["after"][
        "tcf_purposes"
    ] == [1, 3, 4]


def test_saving_the_same_values_writes_no_entry(workspace, admin_user):
    before = audit_count(workspace)

    services.consent_settings_update(
        workspace=workspace, actor=admin_user, values={"default_jurisdiction": "strictest"}
    )

    assert audit_count(workspace) == before


@pytest.mark.parametrize(
    ("values", "policies", "field"),
    [
        ({"default_jurisdiction": "XX-YY"}, None, "default_jurisdiction"),
        ({"regime_overrides": {"Brazil": "opt_in"}}, None, "regime_overrides"),
        ({"regime_overrides": {"BR": "maybe"}}, None, "regime_overrides"),
        ({"category_mapping": {"C0004": "ads"}}, None, "category_mapping"),
        ({"colour": "blue"}, None, "colour"),
        (None, {"meta_capi": {"tcf_purposes": [0, 12]}}, "tcf_purposes"),
        (None, {"meta_capi": {"tcf_vendor_id": 70000}}, "tcf_vendor_id"),
        (None, {"meta_capi": {"consent_mode": ["ad_click"]}}, "consent_mode"),
        (None, {"meta_capi": {"categories": ["marketing"]}}, "categories"),
        (None, {"meta_capi": {"on_missing": "shrug"}}, "on_missing"),
        (None, {"meta_capi": {"sells_or_shares": "yes"}}, "sells_or_shares"),
        (None, {"meta_capi": {"surprise": 1}}, "surprise"),
        (None, {"snapchat": {}}, "destination_type"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(workspace, admin_user, values, policies, field):
    before = audit_count(workspace)

    with pytest.raises(DomainError) as caught:
        services.consent_settings_update(
            workspace=workspace, actor=admin_user, values=values, policies=policies
        )

    assert caught.value.field == field
    assert audit_count(workspace) == before


def test_viewers_cannot_change_consent_settings(workspace, viewer_user):
    with pytest.raises(PermissionDeniedError):
        services.consent_settings_update(
            workspace=workspace, actor=viewer_user, values={"honour_gpc_everywhere": True}
        )


# --- pages ---------------------------------------------------------------------------------


def test_viewer_sees_the_settings_read_only(client, workspace, viewer_user):
    client.force_login(viewer_user)

    page = client.get(reverse("privacy:consent", args=[workspace.slug]))
    refused = client.post(
        reverse("privacy:consent-general", args=[workspace.slug]),
        {"default_jurisdiction": "DE"},
    )

    assert page.status_code == 200
    assert b"disabled" in page.content
    assert b"Save policy" not in page.content
    assert refused.status_code == 403


def test_editor_saves_a_policy_from_the_page(client, workspace, editor_user):
    client.force_login(editor_user)

    response = client.post(
        reverse("privacy:consent-policy", args=[workspace.slug, "tiktok_events"]),
        {
            "tiktok_events-tcf_purposes": ["1", "3", "4", "7"],
            "tiktok_events-tcf_vendor_id": "",
            "tiktok_events-consent_mode": ["ad_storage"],
            "tiktok_events-categories": ["advertising"],
            "tiktok_events-on_missing": "block",
            "tiktok_events-sells_or_shares": "on",
        },
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    policy = selectors.consent_config_get(workspace=workspace).policies["tiktok_events"]
    assert policy.tcf_purposes == {1, 3, 4, 7}
    assert policy.consent_mode == {"ad_storage"}
    assert policy.sells_or_shares and not policy.anonymized_allowed


def test_general_form_errors_name_the_line(client, workspace, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("privacy:consent-general", args=[workspace.slug]),
        {"default_jurisdiction": "strictest", "category_mapping": "C0004 advertising"},
    )

    assert response.status_code == 422
    assert "Line 1" in response.content.decode()


def test_unknown_destination_type_is_404(client, workspace, admin_user):
    client.force_login(admin_user)

    response = client.post(reverse("privacy:consent-policy", args=[workspace.slug, "nope"]), {})

    assert response.status_code == 404


def test_tester_shows_decisions_for_each_destination_type(client, workspace, viewer_user):
    client.force_login(viewer_user)

    response = client.get(
        reverse("privacy:consent-tester", args=[workspace.slug]),
        {"gpc": "on", "country": "US", "region": "California", "ad_storage": "granted"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-kind="meta_capi" data-action="block"' in html
    assert "gpc_opt_out" in html
    assert 'data-kind="webhook" data-action="deliver"' in html
    assert "US-CA" in html
