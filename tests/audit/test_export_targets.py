"""Exports to a real S3-compatible server running locally (moto's server, spoken to over
HTTP by boto3) and to a directory: round trip, retention, schedule, failures, secrets."""

import datetime as dt
import gzip
import os
import socket

import boto3
import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from moto.server import ThreadedMotoServer

from audit import export
from audit.models import AuditEntry
from audit.offline import verify_export
from audit.tasks import audit_export_scheduled
from tests.audit.helpers import S3_SECRET, export_to_s3
from tests.audit_entries import last_row


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key=S3_SECRET,
    )
    name = f"audit-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=name)
    return client, name


@pytest.fixture
def s3_config(workspace, admin_user, bucket, s3_endpoint):
    _client, name = bucket
    return export_to_s3(
        workspace, admin_user, s3_endpoint, s3_bucket=name, prefix="compliance/audit"
    )


def all_material(workspace) -> bytes:
    return b"".join(
        bytes(m)
        for m in AuditEntry.objects.filter(workspace=workspace).values_list("material", flat=True)
    )


def test_s3_export_round_trip_verifies_offline(workspace, admin_user, bucket, s3_config):
    client, name = bucket

    key = export.audit_export_run(workspace=workspace, actor=admin_user)

    assert key.startswith(f"compliance/audit/{timezone.now():%Y/%m/%d}/audit-{workspace.public_id}")
    body = client.get_object(Bucket=name, Key=key)["Body"].read()
    vkey = export.audit_export_document(workspace=workspace)["verifier_key"]
    result = verify_export(body, vkeys=[vkey])
    assert result.report.valid and result.warnings == []
    entry = last_row(workspace)
    assert entry.event_type == "audit.exported"
    assert key.encode() in bytes(entry.material)


def test_the_secret_is_encrypted_and_never_written_anywhere(workspace, admin_user, s3_config):
    export.audit_export_run(workspace=workspace, actor=admin_user)
    s3_config.refresh_from_db()
    assert S3_SECRET not in s3_config.s3_secret_access_key_encrypted
    assert S3_SECRET.encode() not in all_material(workspace)
    settings_entry = AuditEntry.objects.get(
        workspace=workspace, event_type="audit.export_settings_updated"
    )
    assert b'"s3_secret_access_key":{"changed":true}' in bytes(settings_entry.material)


def test_retention_deletes_only_exports_past_it(
    workspace, admin_user, bucket, s3_config, monkeypatch
):
    client, name = bucket
    old_key = export.audit_export_run(workspace=workspace, actor=admin_user)
    client.put_object(Bucket=name, Key="compliance/audit/notes.txt", Body=b"not an export")
    later = timezone.now() + dt.timedelta(days=91)
    monkeypatch.setattr(export.timezone, "now", lambda: later)

    new_key = export.audit_export_run(workspace=workspace, actor=admin_user)

    keys = {o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]}
    assert old_key not in keys
    assert {new_key, "compliance/audit/notes.txt"} <= keys


def test_the_schedule_is_a_weekly_beat_task_that_exports(workspace, admin_user, bucket, s3_config):
    task = PeriodicTask.objects.get(name=f"audit-export:{workspace.public_id}")
    assert (task.crontab.day_of_week, task.crontab.hour, task.crontab.minute) == ("0", "2", "0")
    assert task.enabled and task.task == "audit.tasks.audit_export_scheduled"

    audit_export_scheduled(workspace.pk)

    client, name = bucket
    assert client.list_objects_v2(Bucket=name)["KeyCount"] == 1


def test_a_refusing_target_is_reported_and_recorded(client, workspace, admin_user, s3_config):
    s3_config.s3_bucket = "no-such-bucket"
    s3_config.save()
    client.force_login(admin_user)

    response = client.post(reverse("audit:export-now", args=[workspace.slug]))

    assert response.status_code == 502
    assert "refused the export" in response.content.decode()
    assert S3_SECRET not in response.content.decode()
    assert AuditEntry.objects.filter(workspace=workspace, event_type="audit.export_failed").exists()
    assert not AuditEntry.objects.filter(workspace=workspace, event_type="audit.exported").exists()


def test_directory_target_with_retention(workspace, admin_user, tmp_path, settings, monkeypatch):
    settings.AUDIT_EXPORT_ROOT = tmp_path
    export.audit_export_config_update(
        workspace=workspace,
        actor=admin_user,
        values={"target": "directory", "directory": "exports", "prefix": "audit"},
    )
    area = tmp_path / workspace.public_id
    first = export.audit_export_run(workspace=workspace, actor=admin_user)
    assert first.startswith("exports/audit/")
    later = timezone.now() + dt.timedelta(days=91)
    monkeypatch.setattr(export.timezone, "now", lambda: later)

    second = export.audit_export_run(workspace=workspace, actor=admin_user)

    assert not (area / first).exists()
    assert gzip.decompress((area / second).read_bytes()).startswith(b"{")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"enabled": True, "target": "s3", "s3_bucket": ""}, "s3_bucket"),
        ({"target": "s3", "s3_bucket": "b"}, "s3_access_key_id"),
        ({"enabled": True, "target": "directory", "directory": ""}, "directory"),
        ({"target": "directory", "directory": "/srv/exports"}, "directory"),
        (
            {"target": "directory", "directory": "exports", "retention_days": 0},
            "retention_days",
        ),
    ],
)
def test_invalid_settings_name_the_field(workspace, admin_user, values, field):
    with pytest.raises(export.DomainError) as refused:
        export.audit_export_config_update(workspace=workspace, actor=admin_user, values=values)
    assert refused.value.field == field


def test_only_admins_see_the_compliance_page(client, workspace, admin_user, editor_user):
    url = reverse("audit:compliance", args=[workspace.slug])
    client.force_login(editor_user)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    page = client.get(url)
    assert page.status_code == 200 and b"Audit export" in page.content


def test_the_settings_form_saves_and_masks_the_secret(client, workspace, admin_user, s3_endpoint):
    client.force_login(admin_user)
    url = reverse("audit:compliance", args=[workspace.slug])
    form = {
        "enabled": "on",
        "target": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": "b",
        "s3_region": "",
        "s3_access_key_id": "AKID",
        "s3_secret_access_key": S3_SECRET,
        "directory": "",
        "prefix": "p",
        "schedule_day_of_week": "1",
        "schedule_hour": "4",
        "schedule_minute": "30",
        "retention_days": "30",
    }
    assert client.post(url, form).status_code == 302
    page = client.get(url).content.decode()
    assert S3_SECRET not in page and "A secret is stored" in page
    task = PeriodicTask.objects.get(name=f"audit-export:{workspace.public_id}")
    assert (task.crontab.day_of_week, task.crontab.hour) == ("1", "4")
