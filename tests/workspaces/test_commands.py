"""Management commands and the ``tracklayer`` console entry point."""

import json
from importlib.metadata import entry_points
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from destinations.models import Event
from tests.factories import WorkspaceFactory
from tracklayer import cli
from workspaces.auth.api_keys import api_key_authenticate
from workspaces.management.commands.seed_demo import DEMO_EVENTS, DEMO_WORKSPACES
from workspaces.models import ApiKey, Membership, User, Workspace

US_EVENTS = DEMO_WORKSPACES[1].events


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- seed_demo -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_json_describes_a_working_demo():
    demo = json.loads(run("seed_demo", "--json"))

    workspace = Workspace.objects.get(slug="acme")
    assert demo["workspace"] == {"id": workspace.public_id, "name": "Acme Store", "slug": "acme"}
    roles = {login["email"]: login["role"] for login in demo["logins"]}
    assert roles == {
        "admin@demo.tracklayer.test": "admin",
        "editor@demo.tracklayer.test": "editor",
        "viewer@demo.tracklayer.test": "viewer",
    }
    members = dict(workspace.memberships.values_list("user__email", "role"))
    assert members == roles
    for login in demo["logins"]:
        assert User.objects.get(email=login["email"]).check_password(login["password"])
    key = api_key_authenticate(demo["write_key"])
    assert (key.workspace_id, key.role, key.environment) == (workspace.pk, "write", "test")
    assert demo["write_key"].startswith("tl_test_")


@pytest.mark.django_db
def test_seed_demo_json_lists_an_eu_and_a_us_workspace_each_with_its_key():
    demo = json.loads(run("seed_demo", "--json"))

    listed = [{k: v for k, v in entry.items() if k != "write_key"} for entry in demo["workspaces"]]
    assert listed == [
        {"slug": "acme", "name": "Acme Store", "region": "eu"},
        {"slug": "acme-us", "name": "Acme Store US", "region": "us"},
    ]
    assert demo["workspaces"][0]["write_key"] == demo["write_key"]
    for entry in demo["workspaces"]:
        workspace = Workspace.objects.get(slug=entry["slug"])
        assert workspace.region == entry["region"]
        key = api_key_authenticate(entry["write_key"])
        assert (key.workspace_id, key.role, key.environment) == (workspace.pk, "write", "test")
        members = dict(workspace.memberships.values_list("user__email", "role"))
        assert members == {login["email"]: login["role"] for login in demo["logins"]}


@pytest.mark.django_db
def test_seed_demo_events_are_in_each_workspaces_region_only():
    run("seed_demo", "--json")
    eu, us = Workspace.objects.get(slug="acme"), Workspace.objects.get(slug="acme-us")

    assert Event.objects.in_region("eu").filter(workspace_id=eu.pk).count() == len(DEMO_EVENTS)
    assert Event.objects.in_region("us").filter(workspace_id=us.pk).count() == len(US_EVENTS)
    assert not Event.objects.in_region("us").filter(workspace_id=eu.pk).exists()
    assert not Event.objects.in_region("eu").filter(workspace_id=us.pk).exists()


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    first = json.loads(run("seed_demo", "--json"))
    counts = (
        Workspace.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        ApiKey.objects.count(),
        AuditEntry.objects.count(),
    )

    second = json.loads(run("seed_demo", "--json"))

    assert second == first
    assert (
        Workspace.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        ApiKey.objects.count(),
        AuditEntry.objects.count(),
    ) == counts
    # EU: created, three joined, one key, the ingestion settings, four destinations, an
    # access review (opened, four decisions, completed); US: created, three joined, one key,
    # four destinations
    assert counts == (2, 3, 6, 2, 25)
    for slug, events in (("acme", DEMO_EVENTS), ("acme-us", US_EVENTS)):
        workspace = Workspace.objects.get(slug=slug)
        # sent again: only duplicates
        assert Event.objects.for_workspace(workspace).count() == len(events), slug


@pytest.mark.django_db
def test_seed_demo_without_json_prints_the_logins_and_key():
    output = run("seed_demo")

    assert "admin@demo.tracklayer.test / tracklayer-demo" in output
    assert "Demo workspace: Acme Store (/acme/, European Union)" in output
    assert "Also: Acme Store US (/acme-us/, United States), write key tl_test_" in output
    token = output.strip().splitlines()[-1].removeprefix("Demo write key: ")
    assert api_key_authenticate(token).workspace.slug == "acme"


@pytest.mark.django_db
def test_seed_demo_refuses_production_without_force(settings):
    settings.IS_PRODUCTION = True

    with pytest.raises(CommandError, match="--force"):
        run("seed_demo")

    assert not Workspace.objects.exists()


# --- create_api_key ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_api_key_prints_a_working_key_last():
    workspace = WorkspaceFactory(slug="shop")

    output = run(
        "create_api_key", "--workspace", "shop", "--name", "Storefront", "--role", "viewer"
    )

    token = output.strip().splitlines()[-1]
    key = api_key_authenticate(token)
    assert (key.workspace_id, key.role, key.name) == (workspace.pk, "viewer", "Storefront")
    assert key.public_id in output
    entry = AuditEntry.objects.filter(workspace=workspace).latest("idx")
    assert (entry.event_type, entry.actor) == ("api_key.created", "system:cli")


@pytest.mark.django_db
def test_create_api_key_refuses_an_unknown_workspace():
    with pytest.raises(CommandError, match="No workspace"):
        run("create_api_key", "--workspace", "nowhere", "--name", "Storefront")


@pytest.mark.django_db
def test_create_api_key_turns_domain_errors_into_command_errors():
    WorkspaceFactory(slug="shop")

    with pytest.raises(CommandError, match="name"):
        run("create_api_key", "--workspace", "shop", "--name", "  ")

    assert not ApiKey.objects.exists()


# --- the tracklayer console script ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["help"]),
        (["seed-demo", "--json"], ["seed_demo", "--json"]),
        (
            ["create-api-key", "--workspace", "my-shop", "--name", "Store-front"],
            ["create_api_key", "--workspace", "my-shop", "--name", "Store-front"],
        ),
        (["audit", "verify", "--workspace", "acme"], ["audit", "verify", "--workspace", "acme"]),
        (["migrate"], ["migrate"]),
    ],
)
def test_cli_translates_dashed_command_names(argv, expected):
    assert cli.translate(argv) == expected


def test_tracklayer_console_script_points_at_the_cli():
    (script,) = entry_points(group="console_scripts", name="tracklayer")

    assert script.value == "tracklayer.cli:main"


# Like any management command run from a shell, it closes the database connections when done,
# which only a test that commits as it goes survives.
@pytest.mark.django_db(transaction=True)
def test_cli_main_runs_the_translated_command(capsys):
    WorkspaceFactory(slug="shop")

    cli.main(["create-api-key", "--workspace", "shop", "--name", "From the CLI"])

    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert api_key_authenticate(token).name == "From the CLI"
