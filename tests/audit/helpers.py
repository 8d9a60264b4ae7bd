"""Builders the audit tests share: entries written through the one writer, and the export
settings (S3 target, the compliance form)."""

from django.db import transaction

from audit import export
from audit.models import AuditEntry
from audit.services import audit_record
from workspaces.actors import SystemActor

ACTOR = SystemActor("tests")
S3_SECRET = "s3cr3t-key-material-that-must-not-leak"


def record_thing(workspace, n: int = 0, **overrides) -> AuditEntry:
    """Append one ``thing.happened`` entry about ``thing_<n>`` in its own transaction, as a
    service would; ``overrides`` replace any of ``audit_record``'s arguments."""
    fields = {
        "workspace": workspace,
        "actor": ACTOR,
        "event_type": "thing.happened",
        "resource_type": "thing",
        "resource_id": f"thing_{n}",
        "payload": {"n": n},
    }
    with transaction.atomic():
        return audit_record(**(fields | overrides))


def append_things(workspace, count: int) -> None:
    """``count`` entries, ``thing_0`` to ``thing_<count - 1>``."""
    for n in range(count):
        record_thing(workspace, n)


def export_to_s3(workspace, actor, endpoint_url: str, **values):
    """Turn on audit exports to the S3-compatible service at ``endpoint_url`` (bucket
    ``audit-bucket`` unless given; secret key ``S3_SECRET``)."""
    return export.audit_export_config_update(
        workspace=workspace,
        actor=actor,
        values={
            "enabled": True,
            "target": "s3",
            "s3_endpoint_url": endpoint_url,
            "s3_bucket": "audit-bucket",
            "s3_region": "us-east-1",
            "s3_access_key_id": "AKIDTEST",
            **values,
        },
        s3_secret_access_key=S3_SECRET,
    )


def compliance_form(**fields) -> dict:
    """The compliance settings form as posted: a weekly schedule and 90 days' retention, and
    ``fields`` (the target and its settings)."""
    return {
        "schedule_day_of_week": "0",
        "schedule_hour": "2",
        "schedule_minute": "0",
        "retention_days": "90",
        **fields,
    }
