"""Issue 11, finding 3: a workspace admin's export settings never reach beyond the workspace's
own area below AUDIT_EXPORT_ROOT — not by an absolute folder, not by "..", not through a
symbolic link — and retention deletes only files this workspace's exports recorded writing."""

import datetime as dt
import gzip

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import export
from audit.models import AuditEntry, AuditExportConfig
from tests.audit.helpers import compliance_form


@pytest.fixture
def root(tmp_path, settings):
    settings.AUDIT_EXPORT_ROOT = tmp_path / "exports"
    return settings.AUDIT_EXPORT_ROOT


@pytest.fixture
def outside(tmp_path):
    """A folder next to the export root, where nothing may ever be written or removed."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "precious.json.gz").write_bytes(b"not yours")
    return folder


def configure(workspace, actor, **values):
    return export.audit_export_config_update(
        workspace=workspace,
        actor=actor,
        values={"target": "directory", "directory": "audit", "prefix": "", **values},
    )


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def skip_days(monkeypatch, days):
    """Move the clock ``days`` on from where it stands (moved or not)."""
    later = timezone.now() + dt.timedelta(days=days)
    monkeypatch.setattr(export.timezone, "now", lambda: later)


def directory_form(**fields):
    return compliance_form(**{"target": "directory", "directory": "audit", "prefix": "", **fields})


# --- What a workspace may choose ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("directory", "/etc"),
        ("directory", "/srv/exports"),
        ("directory", "../other-workspace"),
        ("directory", "audit/../../.."),
        ("directory", "audit\\..\\.."),
        ("directory", "audit\x00"),
        ("directory", "audit\x1b[2J"),
        ("directory", "audit\u202e"),
        ("prefix", "../../etc"),
        ("prefix", "/var/lib"),
        ("prefix", "a/../../b"),
        ("prefix", "..\\x"),
    ],
)
def test_the_service_refuses_paths_that_escape(workspace, admin_user, root, field, value):
    with pytest.raises(export.DomainError) as refused:
        configure(workspace, admin_user, **{field: value})

    assert refused.value.field == field
    assert AuditExportConfig.objects.filter(workspace=workspace).count() == 0


def test_an_s3_prefix_is_held_to_the_same_rules(workspace, admin_user):
    with pytest.raises(export.DomainError) as refused:
        export.audit_export_config_update(
            workspace=workspace,
            actor=admin_user,
            values={"target": "s3", "s3_bucket": "b", "prefix": "../../other-tenant"},
        )
    assert refused.value.field == "prefix"


def test_paths_are_saved_normalised(workspace, admin_user, root):
    config = configure(workspace, admin_user, directory="./audit//weekly/", prefix="a/./b/")

    config.refresh_from_db()
    assert (config.directory, config.prefix) == ("audit/weekly", "a/b")


@pytest.mark.parametrize(
    ("field", "value"),
    [("directory", "/etc/cron.d"), ("directory", "../x"), ("prefix", "../../x"), ("prefix", "/x")],
)
def test_the_form_refuses_paths_that_escape(client, workspace, admin_user, root, field, value):
    client.force_login(admin_user)

    response = client.post(
        reverse("audit:compliance", args=[workspace.slug]), directory_form(**{field: value})
    )

    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not AuditExportConfig.objects.filter(workspace=workspace).exists()


# --- Where "Export now" writes ----------------------------------------------------------------


def test_exports_land_in_the_workspace_area(client, workspace, admin_user, root):
    configure(workspace, admin_user, directory="compliance", prefix="weekly")
    client.force_login(admin_user)

    response = client.post(reverse("audit:export-now", args=[workspace.slug]))

    assert response.status_code == 200
    [written] = files_under(root)
    assert written.startswith(f"{workspace.public_id}/compliance/weekly/")
    assert str(root) not in response.content.decode()  # the server's layout is not shown


@pytest.mark.parametrize(
    "link",
    [
        "{ws}",  # the area itself
        "{ws}/audit",  # the workspace's folder
        "{ws}/audit/{year}",  # a folder the export creates
    ],
)
def test_a_planted_symlink_is_never_followed(client, workspace, admin_user, root, outside, link):
    configure(workspace, admin_user)
    planted = root / link.format(ws=workspace.public_id, year=f"{timezone.now():%Y}")
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(outside, target_is_directory=True)
    client.force_login(admin_user)

    response = client.post(reverse("audit:export-now", args=[workspace.slug]))

    assert response.status_code == 502
    assert "symbolic link" in response.content.decode()
    assert files_under(outside) == ["precious.json.gz"]
    assert AuditEntry.objects.filter(workspace=workspace, event_type="audit.export_failed").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("directory", "{outside}"),
        ("directory", "../../elsewhere"),
        ("prefix", "../../../elsewhere"),
    ],
)
def test_settings_saved_before_the_rules_are_refused_at_export_time(
    client, workspace, admin_user, root, outside, field, value, monkeypatch
):
    # from here, each value leads to ``outside`` (where the old code did write)
    cwd = outside.parent / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    # as an older release saved them (its checks allowed absolute folders and "..")
    values = {"directory": "audit", "prefix": "", field: value.format(outside=outside)}
    AuditExportConfig.objects.create(workspace=workspace, target="directory", **values)
    client.force_login(admin_user)

    response = client.post(reverse("audit:export-now", args=[workspace.slug]))

    assert response.status_code == 409
    assert "Re-save the setting" in response.content.decode()
    assert files_under(outside) == ["precious.json.gz"]
    assert not root.exists()
    config = AuditExportConfig.objects.get(workspace=workspace)
    assert "Re-save the setting" in config.last_error
    assert not AuditEntry.objects.filter(workspace=workspace, event_type="audit.exported").exists()


# --- What retention deletes ---------------------------------------------------------------------


def test_retention_deletes_only_this_workspaces_recorded_exports(
    workspace, admin_user, other_workspace, other_admin_user, root, monkeypatch
):
    configure(workspace, admin_user)
    configure(other_workspace, other_admin_user)
    mine = export.audit_export_run(workspace=workspace, actor=admin_user)
    theirs = export.audit_export_run(workspace=other_workspace, actor=other_admin_user)
    area = root / workspace.public_id
    # files the operator keeps in the area, one named exactly like an export of this workspace
    lookalike = (
        f"audit/{timezone.now():%Y/%m/%d}/audit-{workspace.public_id}-20000101T000000Z.json.gz"
    )
    for unrelated in ("audit/notes.txt", lookalike, "audit/older-export.json.gz"):
        (area / unrelated).parent.mkdir(parents=True, exist_ok=True)
        (area / unrelated).write_bytes(b"the operator's")
    skip_days(monkeypatch, 91)

    newest = export.audit_export_run(workspace=workspace, actor=admin_user)

    assert not (area / mine).exists()
    assert files_under(area) == sorted(
        ["audit/notes.txt", lookalike, "audit/older-export.json.gz", newest]
    )
    assert (root / other_workspace.public_id / theirs).exists()
    entry = AuditEntry.objects.filter(workspace=workspace, event_type="audit.exported").last()
    assert f'"deleted_paths":["{mine}"]'.encode() in bytes(entry.material)


def test_retention_keeps_exports_within_it_and_follows_a_changed_folder(
    workspace, admin_user, root, monkeypatch
):
    configure(workspace, admin_user, directory="before")
    old = export.audit_export_run(workspace=workspace, actor=admin_user)
    skip_days(monkeypatch, 60)
    configure(workspace, admin_user, directory="after")
    recent = export.audit_export_run(workspace=workspace, actor=admin_user)
    area = root / workspace.public_id
    assert (area / old).exists() and (area / recent).exists()  # both within 90 days
    skip_days(monkeypatch, 40)  # day 100: the first is past the retention, the second is not

    newest = export.audit_export_run(workspace=workspace, actor=admin_user)

    assert files_under(area) == sorted([recent, newest])
    assert gzip.decompress((area / newest).read_bytes()).startswith(b"{")


def test_retention_never_follows_a_link_put_where_an_export_was(
    workspace, admin_user, root, outside, monkeypatch
):
    configure(workspace, admin_user)
    old = export.audit_export_run(workspace=workspace, actor=admin_user)
    area = root / workspace.public_id
    (area / old).unlink()
    (area / old).symlink_to(outside / "precious.json.gz")
    skip_days(monkeypatch, 91)

    export.audit_export_run(workspace=workspace, actor=admin_user)

    assert (outside / "precious.json.gz").read_bytes() == b"not yours"
    assert (area / old).is_symlink()
