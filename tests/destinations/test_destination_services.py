"""The destinations control plane's services: create, update, pause, resume, auto-pause,
delete, replay — each validated, authorised and audited, and never a secret in an audit row,
an error message or a log line."""

import base64
import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEntry
from destinations import delivery
from destinations.exceptions import DestinationInvalidError
from destinations.models import Delivery, Destination
from destinations.routing import services
from tests.audit_entries import audit_count, audit_entries, last_entry
from tests.destinations.factories import (
    ALL_SECRET_VALUES,
    CONFIGS,
    SECRETS,
    DeliveryFactory,
    DestinationFactory,
)
from tracklayer import keyring
from tracklayer.exceptions import ConflictError, NotFoundError, PermissionDeniedError

pytestmark = pytest.mark.django_db


def assert_no_secrets(text: str) -> None:
    leaked = [value for value in ALL_SECRET_VALUES if value in text]
    assert leaked == []


def all_audit_material() -> str:
    return "\n".join(bytes(row.material).decode() for row in AuditEntry.objects.all())


@pytest.fixture
def kicks(monkeypatch):
    """The destinations the delivery engine was told about (after commit)."""

    kicked: list[int] = []
    monkeypatch.setattr(
        delivery, "delivery_kick", lambda *, destination_id=None: kicked.append(destination_id)
    )
    return kicked


# --- create ---------------------------------------------------------------------------------


def test_a_webhook_is_created_with_its_secret_encrypted_and_audited_by_name(workspace, admin_user):
    destination = services.destination_create(
        workspace=workspace,
        actor=admin_user,
        type="webhook",
        name="  Orders webhook ",
        config={"url": "https://hooks.example.test/in", "batch_size": 50},
        secrets=SECRETS["webhook"],
        event_filter=["Order Completed", "$page"],
    )

    stored = Destination.objects.get(pk=destination.pk)
    assert stored.name == "Orders webhook"
    assert stored.public_id.startswith("dst_")
    assert stored.state == "active"
    assert stored.config == {"url": "https://hooks.example.test/in", "batch_size": 50}
    assert stored.event_filter == ["Order Completed", "$page"]
    assert SECRETS["webhook"]["signing_secret"] not in stored.secrets_encrypted
    assert services.destination_secrets(stored) == SECRETS["webhook"]
    entry = last_entry(workspace)
    assert entry["event_type"] == "destination.created"
    assert entry["resource_id"] == stored.public_id
    assert entry["payload"]["secrets"] == ["signing_secret"]
    assert entry["payload"]["config"] == stored.config
    assert entry["payload"]["autopause"] == {
        "error_rate": "0.5",
        "min_attempts": 20,
        "window_seconds": 300,
    }
    assert_no_secrets(all_audit_material())


def test_the_secrets_are_bound_to_their_destination(workspace):
    first = DestinationFactory(workspace=workspace)
    second = DestinationFactory(workspace=workspace, type="meta_capi")
    Destination.objects.filter(pk=second.pk).update(secrets_encrypted=first.secrets_encrypted)
    second.refresh_from_db()

    with pytest.raises(keyring.KeyringError):
        services.destination_secrets(second)


@pytest.mark.parametrize(
    ("kind", "purchase", "page"),
    [
        ("meta_capi", "Purchase", "PageView"),
        ("tiktok_events", "Purchase", "Pageview"),
        ("ga4_mp", "purchase", "page_view"),
    ],
)
def test_each_type_gets_its_platforms_standard_event_names(workspace, kind, purchase, page):
    destination = DestinationFactory(workspace=workspace, type=kind)

    assert destination.event_mapping["Order Completed"] == purchase
    assert destination.event_mapping["$page"] == page
    assert destination.event_mapping["Product Added"] in {"AddToCart", "add_to_cart"}


def test_a_webhook_keeps_the_storefronts_names_and_a_given_mapping_replaces_the_default(
    workspace,
):
    webhook = DestinationFactory(workspace=workspace)
    meta = DestinationFactory(
        workspace=workspace, type="meta_capi", event_mapping={"Order Completed": "Purchase"}
    )

    assert webhook.event_mapping == {}
    assert meta.event_mapping == {"Order Completed": "Purchase"}


def test_consent_overrides_autopause_and_concurrency_are_stored(workspace):
    destination = DestinationFactory(
        workspace=workspace,
        type="ga4_mp",
        consent_policy={"on_missing": "block", "categories": ["analytics", "advertising"]},
        autopause={"error_rate": 0.25, "min_attempts": 50, "window_seconds": 600},
        max_concurrency=8,
        property_mapping={"value": "properties.total"},
    )

    assert destination.consent_policy == {
        "on_missing": "block",
        "categories": ["advertising", "analytics"],
    }
    assert (
        destination.autopause_error_rate,
        destination.autopause_min_attempts,
        destination.autopause_window_seconds,
    ) == (0.25, 50, 600)
    assert destination.max_concurrency == 8
    assert destination.property_mapping == {"value": "properties.total"}


def test_a_local_base_url_is_allowed_outside_production(workspace):
    destination = DestinationFactory(
        workspace=workspace,
        type="meta_capi",
        config={"pixel_id": "1234567890123456", "api_base_url": "http://127.0.0.1:9100/meta"},
    )

    assert destination.config["api_base_url"] == "http://127.0.0.1:9100/meta"


@pytest.mark.parametrize(
    ("kind", "config", "secrets", "extra", "field"),
    [
        ("snapchat", {}, {}, {}, "type"),
        ("meta_capi", {"pixel_id": "my-pixel"}, None, {}, "pixel_id"),
        ("meta_capi", None, {}, {}, "access_token"),
        ("meta_capi", {**CONFIGS["meta_capi"], "colour": "blue"}, None, {}, "colour"),
        ("meta_capi", None, {"password": "hunter2"}, {}, "password"),
        ("tiktok_events", {"pixel_code": "abc"}, None, {}, "pixel_code"),
        ("ga4_mp", {"measurement_id": "UA-1"}, None, {}, "measurement_id"),
        ("webhook", {"url": "ftp://hooks.example.test/"}, None, {}, "url"),
        ("webhook", {"url": "https://u:p@hooks.example.test/"}, None, {}, "url"),
        ("webhook", {**CONFIGS["webhook"], "batch_size": 5000}, None, {}, "batch_size"),
        ("webhook", None, None, {"name": "  "}, "name"),
        ("webhook", None, None, {"event_filter": "Order Completed"}, "event_filter"),
        ("webhook", None, None, {"event_mapping": {"Order Completed": ""}}, "event_mapping"),
        ("webhook", None, None, {"property_mapping": {"value": "total"}}, "property_mapping"),
        ("webhook", None, None, {"consent_policy": {"on_missing": "shrug"}}, "consent_policy"),
        ("webhook", None, None, {"autopause": {"error_rate": 1.5}}, "autopause_error_rate"),
        ("webhook", None, None, {"autopause": {"window_seconds": 5}}, "autopause_window_seconds"),
        ("webhook", None, None, {"max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    workspace, admin_user, kind, config, secrets, extra, field
):
    before = audit_count(workspace)
    values = {"name": "Broken", **extra}

    with pytest.raises(DestinationInvalidError) as caught:
        services.destination_create(
            workspace=workspace,
            actor=admin_user,
            type=kind,
            config=dict(CONFIGS.get(kind, {})) if config is None else config,
            secrets=dict(SECRETS.get(kind, {})) if secrets is None else secrets,
            **values,
        )

    assert caught.value.field == field
    assert field in caught.value.errors
    assert_no_secrets(caught.value.message + str(caught.value.errors))
    assert "hunter2" not in str(caught.value.errors)
    assert not Destination.objects.filter(workspace=workspace).exists()
    assert audit_count(workspace) == before


def test_every_bad_field_is_reported_at_once(workspace, admin_user):
    with pytest.raises(DestinationInvalidError) as caught:
        services.destination_create(
            workspace=workspace,
            actor=admin_user,
            type="meta_capi",
            name="Meta",
            config={"pixel_id": "x"},
            secrets={},
        )

    assert set(caught.value.errors) == {"pixel_id", "access_token"}


@pytest.mark.usefixtures("production")
class TestInProduction:
    def test_a_local_base_url_is_refused(self, workspace, admin_user):
        with pytest.raises(DestinationInvalidError) as caught:
            DestinationFactory(
                workspace=workspace,
                type="meta_capi",
                config={**CONFIGS["meta_capi"], "api_base_url": "http://127.0.0.1:9100/meta"},
            )

        assert caught.value.field == "api_base_url"

    @pytest.mark.parametrize(
        "url",
        [
            "http://hooks.example.test/in",
            "https://127.0.0.1/in",
            "https://localhost:8443/in",
            "https://10.1.2.3/in",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/in",
            "https://[::ffff:192.168.0.1]/in",
            "https://no-such-host.invalid/in",
        ],
    )
    def test_a_webhook_must_be_https_on_a_public_address(self, workspace, url):
        with pytest.raises(DestinationInvalidError) as caught:
            DestinationFactory(workspace=workspace, config={"url": url})

        assert caught.value.field == "url"

    def test_a_webhook_on_a_public_address_is_accepted(self, workspace):
        destination = DestinationFactory(workspace=workspace, config={"url": "https://8.8.8.8/in"})

        assert destination.config["url"] == "https://8.8.8.8/in"


def test_viewers_cannot_create_and_editors_can(workspace, viewer_user, editor_user):
    with pytest.raises(PermissionDeniedError):
        services.destination_create(
            workspace=workspace,
            actor=viewer_user,
            type="webhook",
            name="Nope",
            config=CONFIGS["webhook"],
            secrets=SECRETS["webhook"],
        )

    created = services.destination_create(
        workspace=workspace,
        actor=editor_user,
        type="webhook",
        name="Yes",
        config=CONFIGS["webhook"],
        secrets=SECRETS["webhook"],
    )
    assert created.pk


# --- update ---------------------------------------------------------------------------------


def test_an_update_names_each_change_with_before_and_after_and_secrets_only_as_changed(
    workspace, editor_user
):
    destination = DestinationFactory(workspace=workspace, type="meta_capi", name="Meta")
    new_token = "EAAGnewTOKENvalue9876543210zyxwvuZYX"

    services.destination_update(
        workspace=workspace,
        actor=editor_user,
        destination=destination,
        values={
            "name": "Meta (shop)",
            "config": {"test_event_code": "TEST123"},
            "event_filter": ["Order Completed"],
            "autopause": {"min_attempts": 40},
        },
        secrets={"access_token": new_token},
    )

    destination.refresh_from_db()
    assert destination.name == "Meta (shop)"
    assert destination.config == {"pixel_id": "1234567890123456", "test_event_code": "TEST123"}
    assert services.destination_secrets(destination) == {"access_token": new_token}
    entry = last_entry(workspace)
    assert entry["event_type"] == "destination.updated"
    assert entry["payload"]["changes"] == {
        "name": {"before": "Meta", "after": "Meta (shop)"},
        "config.test_event_code": {"before": None, "after": "TEST123"},
        "event_filter": {"before": [], "after": ["Order Completed"]},
        "autopause.min_attempts": {"before": 20, "after": 40},
        "secrets.access_token": {"changed": True},
    }
    material = all_audit_material()
    assert new_token not in material
    assert_no_secrets(material)


def test_an_empty_secret_keeps_the_stored_one(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace, type="ga4_mp")

    services.destination_update(
        workspace=workspace,
        actor=admin_user,
        destination=destination,
        values={"name": "GA4 renamed"},
        secrets={"api_secret": ""},
    )

    destination.refresh_from_db()
    assert services.destination_secrets(destination) == SECRETS["ga4_mp"]
    assert "secrets.api_secret" not in last_entry(workspace)["payload"]["changes"]


def test_an_emptied_config_value_is_removed(workspace, admin_user):
    destination = DestinationFactory(
        workspace=workspace,
        type="meta_capi",
        config={**CONFIGS["meta_capi"], "test_event_code": "TEST1"},
    )

    services.destination_update(
        workspace=workspace,
        actor=admin_user,
        destination=destination,
        values={"config": {"test_event_code": ""}},
        secrets=None,
    )

    destination.refresh_from_db()
    assert destination.config == CONFIGS["meta_capi"]
    assert last_entry(workspace)["payload"]["changes"] == {
        "config.test_event_code": {"before": "TEST1", "after": None}
    }


def test_saving_the_same_values_and_secret_writes_no_entry(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace)
    before = audit_count(workspace)

    services.destination_update(
        workspace=workspace,
        actor=admin_user,
        destination=destination,
        values={"name": destination.name, "config": dict(destination.config)},
        secrets=dict(SECRETS["webhook"]),
    )

    assert audit_count(workspace) == before


def test_an_invalid_update_changes_nothing(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace, type="meta_capi")
    before = audit_count(workspace)

    with pytest.raises(DestinationInvalidError) as caught:
        services.destination_update(
            workspace=workspace,
            actor=admin_user,
            destination=destination,
            values={"name": "Renamed", "config": {"pixel_id": "not a pixel"}},
            secrets={"access_token": "EAAGreplacementTOKEN0123456789"},
        )

    destination.refresh_from_db()
    assert caught.value.field == "pixel_id"
    assert destination.name != "Renamed"
    assert services.destination_secrets(destination) == SECRETS["meta_capi"]
    assert audit_count(workspace) == before


@pytest.mark.parametrize("field", ["type", "secrets_encrypted", "state", "workspace"])
def test_an_update_cannot_touch_what_is_not_a_setting(workspace, admin_user, field):
    destination = DestinationFactory(workspace=workspace)

    with pytest.raises(DestinationInvalidError) as caught:
        services.destination_update(
            workspace=workspace,
            actor=admin_user,
            destination=destination,
            values={field: "x"},
        )

    assert caught.value.field == field


def test_another_workspaces_destination_cannot_be_changed(
    workspace, other_workspace, other_admin_user
):
    destination = DestinationFactory(workspace=workspace)

    with pytest.raises(NotFoundError):
        services.destination_update(
            workspace=other_workspace,
            actor=other_admin_user,
            destination=destination,
            values={"name": "Pwned"},
        )
    with pytest.raises(NotFoundError):
        services.destination_pause(
            workspace=other_workspace, actor=other_admin_user, destination=destination
        )


# --- pause, resume, auto-pause --------------------------------------------------------------


def test_pause_and_resume_are_audited_and_resume_closes_the_breaker_and_kicks_the_engine(
    workspace, editor_user, kicks, django_capture_on_commit_callbacks
):
    destination = DestinationFactory(workspace=workspace)
    Destination.objects.filter(pk=destination.pk).update(
        consecutive_failures=7, circuit_open_until=timezone.now() + timedelta(minutes=5)
    )

    services.destination_pause(
        workspace=workspace, actor=editor_user, destination=destination, reason="Maintenance"
    )
    destination.refresh_from_db()
    assert (destination.state, destination.paused_reason) == ("paused", "Maintenance")
    assert not destination.paused_automatically
    paused = last_entry(workspace)
    assert paused["event_type"] == "destination.paused"
    assert paused["payload"] == {"automatic": False, "reason": "Maintenance"}

    with django_capture_on_commit_callbacks(execute=True):
        services.destination_resume(workspace=workspace, actor=editor_user, destination=destination)

    destination.refresh_from_db()
    assert destination.state == "active"
    assert (destination.paused_reason, destination.paused_at) == ("", None)
    assert (destination.consecutive_failures, destination.circuit_open_until) == (0, None)
    resumed = last_entry(workspace)
    assert resumed["event_type"] == "destination.resumed"
    assert resumed["payload"]["was_automatic"] is False
    assert resumed["payload"]["paused_reason"] == "Maintenance"
    assert kicks == [destination.pk]


def test_a_pause_without_a_reason_says_it_was_by_hand(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace)

    services.destination_pause(workspace=workspace, actor=admin_user, destination=destination)

    destination.refresh_from_db()
    assert destination.paused_reason == "Paused by hand."


def test_pausing_twice_or_resuming_an_active_one_is_a_conflict(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace)

    with pytest.raises(ConflictError):
        services.destination_resume(workspace=workspace, actor=admin_user, destination=destination)
    services.destination_pause(workspace=workspace, actor=admin_user, destination=destination)
    with pytest.raises(ConflictError):
        services.destination_pause(workspace=workspace, actor=admin_user, destination=destination)


def test_viewers_cannot_pause(workspace, viewer_user):
    destination = DestinationFactory(workspace=workspace)

    with pytest.raises(PermissionDeniedError):
        services.destination_pause(workspace=workspace, actor=viewer_user, destination=destination)


def test_the_engines_autopause_is_audited_as_the_system_with_its_figures(workspace, caplog):
    destination = DestinationFactory(workspace=workspace, type="tiktok_events")
    figures = {
        "failed_requests": 14,
        "requests": 20,
        "error_rate": 0.7,
        "threshold": 0.5,
        "window_seconds": 300,
    }

    with caplog.at_level(logging.DEBUG):
        paused = services.destination_autopause(destination=destination, figures=figures)
        again = services.destination_autopause(destination=destination, figures=figures)

    destination.refresh_from_db()
    assert (paused, again) == (True, False)
    assert destination.state == "paused"
    assert destination.paused_automatically
    assert destination.paused_reason == (
        "Paused automatically: 14 of 20 requests failed (70 %) in the last 5 minutes."
    )
    [entry] = audit_entries(workspace, "destination.paused")
    assert entry["actor"] == "system:delivery"
    assert entry["payload"] == {
        "automatic": True,
        "failed_requests": 14,
        "requests": 20,
        "error_rate": "0.7",
        "threshold": "0.5",
        "window_seconds": 300,
        "reason": destination.paused_reason,
    }
    assert_no_secrets(caplog.text)


def test_an_autopause_reason_reads_well_with_attempt_figures():
    reason = services.autopause_reason({"failures": 3, "attempts": 4, "window_seconds": 3600})

    assert reason == "Paused automatically: 3 of 4 attempts failed (75 %) in the last 1 hour."


# --- delete ---------------------------------------------------------------------------------


def test_delete_is_soft_wipes_the_secrets_and_is_audited_with_the_pending_count(
    workspace, admin_user
):
    destination = DestinationFactory(workspace=workspace)
    DeliveryFactory(destination=destination)
    DeliveryFactory(destination=destination, status="delivered")

    services.destination_delete(workspace=workspace, actor=admin_user, destination=destination)

    destination.refresh_from_db()
    assert destination.deleted_at is not None
    assert destination.secrets_encrypted == ""
    assert Delivery.objects.for_workspace(workspace).filter(destination=destination).count() == 2
    entry = last_entry(workspace)
    assert entry["event_type"] == "destination.deleted"
    assert entry["payload"] == {
        "name": destination.name,
        "type": "webhook",
        "pending_deliveries": 1,
    }
    with pytest.raises(NotFoundError):
        services.destination_delete(workspace=workspace, actor=admin_user, destination=destination)


def test_editors_delete_and_viewers_do_not(workspace, editor_user, viewer_user):
    destination = DestinationFactory(workspace=workspace)

    with pytest.raises(PermissionDeniedError):
        services.destination_delete(workspace=workspace, actor=viewer_user, destination=destination)
    services.destination_delete(workspace=workspace, actor=editor_user, destination=destination)


# --- replay ---------------------------------------------------------------------------------


def test_replay_puts_a_destinations_dead_letters_back_in_the_queue(
    workspace, editor_user, kicks, django_capture_on_commit_callbacks
):
    destination = DestinationFactory(workspace=workspace)
    other = DestinationFactory(workspace=workspace, type="meta_capi")
    long_ago = timezone.now() - timedelta(days=1)
    dead = [
        DeliveryFactory(
            destination=destination,
            status="dead",
            attempts=10,
            dead_reason="HTTP 500: upstream down",
            next_attempt_at=long_ago,
        )
        for _ in range(2)
    ]
    delivered = DeliveryFactory(destination=destination, status="delivered")
    elsewhere = DeliveryFactory(destination=other, status="dead", dead_reason="HTTP 400: bad")

    with django_capture_on_commit_callbacks(execute=True):
        count = services.deliveries_replay(
            workspace=workspace, actor=editor_user, destination=destination
        )

    assert count == 2
    for row in dead:
        row.refresh_from_db()
        assert (row.status, row.attempts, row.dead_reason) == ("pending", 0, "")
        assert row.next_attempt_at > long_ago
    delivered.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (delivered.status, elsewhere.status) == ("delivered", "dead")
    entry = last_entry(workspace)
    assert entry["event_type"] == "delivery.replayed"
    assert entry["resource_id"] == destination.public_id
    assert entry["payload"] == {
        "count": 2,
        "deliveries": [
            {"id": dead[0].pk, "dead_reason": "HTTP 500: upstream down"},
            {"id": dead[1].pk, "dead_reason": "HTTP 500: upstream down"},
        ],
        "reasons": {"HTTP 500: upstream down": 2},
    }
    assert kicks == [destination.pk]


def test_replay_by_ids_takes_only_the_workspaces_dead_letters(
    workspace, other_workspace, admin_user
):
    mine = DestinationFactory(workspace=workspace)
    theirs = DestinationFactory(workspace=other_workspace)
    dead = DeliveryFactory(destination=mine, status="dead", dead_reason="expired")
    pending = DeliveryFactory(destination=mine)
    foreign = DeliveryFactory(destination=theirs, status="dead")

    count = services.deliveries_replay(
        workspace=workspace, actor=admin_user, delivery_ids=[dead.pk, pending.pk, foreign.pk]
    )

    foreign.refresh_from_db()
    assert count == 1
    assert foreign.status == "dead"
    assert last_entry(workspace)["payload"]["deliveries"] == [
        {"id": dead.pk, "dead_reason": "expired"}
    ]


def test_a_large_replay_names_the_first_hundred_and_counts_the_rest(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace)
    for _ in range(103):
        DeliveryFactory(destination=destination, status="dead", dead_reason="too old")

    count = services.deliveries_replay(
        workspace=workspace, actor=admin_user, destination=destination
    )

    payload = last_entry(workspace)["payload"]
    assert count == payload["count"] == 103
    assert len(payload["deliveries"]) == 100
    assert payload["more"] == 3
    assert payload["reasons"] == {"too old": 103}


def test_nothing_to_replay_writes_no_entry(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace)
    before = audit_count(workspace)

    assert (
        services.deliveries_replay(workspace=workspace, actor=admin_user, destination=destination)
        == 0
    )
    assert services.deliveries_replay(workspace=workspace, actor=admin_user, delivery_ids=[]) == 0
    assert audit_count(workspace) == before


def test_dead_letters_of_a_deleted_destination_are_not_replayed(workspace, admin_user):
    destination = DestinationFactory(workspace=workspace)
    dead = DeliveryFactory(destination=destination, status="dead")
    services.destination_delete(workspace=workspace, actor=admin_user, destination=destination)

    assert (
        services.deliveries_replay(workspace=workspace, actor=admin_user, delivery_ids=[dead.pk])
        == 0
    )


def test_viewers_cannot_replay(workspace, viewer_user):
    destination = DestinationFactory(workspace=workspace)

    with pytest.raises(PermissionDeniedError):
        services.deliveries_replay(workspace=workspace, actor=viewer_user, destination=destination)


# --- secrets in logs --------------------------------------------------------------------------


def test_no_secret_reaches_a_log_line(workspace, admin_user, caplog):
    with caplog.at_level(logging.DEBUG):
        destination = DestinationFactory(workspace=workspace, type="meta_capi")
        services.destination_update(
            workspace=workspace,
            actor=admin_user,
            destination=destination,
            values={},
            secrets={"access_token": SECRETS["tiktok_events"]["access_token"]},
        )
        services.destination_delete(workspace=workspace, actor=admin_user, destination=destination)

    assert_no_secrets(caplog.text)


def test_keyring_reencrypt_moves_destination_secrets_to_the_new_key(settings, workspace):

    destination = DestinationFactory(workspace=workspace, type="meta_capi")
    old_id, old_key = keyring.keyring().keys[0]
    new = "k2:" + base64.b64encode(b"n" * 32).decode()
    settings.TRACKLAYER_KEYRING = f"{new},{old_id}:{base64.b64encode(old_key).decode()}"

    out = StringIO()
    call_command("keyring_reencrypt", stdout=out)

    destination.refresh_from_db()
    assert "destinations.Destination.secrets_encrypted: 1 re-encrypted" in out.getvalue()
    assert destination.secrets_encrypted.startswith("v1:k2:")
    settings.TRACKLAYER_KEYRING = new  # the old key can go
    assert services.destination_secrets(destination) == SECRETS["meta_capi"]
