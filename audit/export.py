"""Audit exports: the whole log, its checkpoints and verifier keys in one gzip JSON file that
``audit.offline`` verifies with no database.

File layout (``format: tracklayer.audit-export.v1``)::

    {workspace_id, origin, exported_at, verifier_key, verifier_keys: [...],
     checkpoints: [{size, root (base64), note}],
     events: [{idx, event_id, prev_hash (hex|null), hash (hex), material (base64)}]}

``material`` is the exact hashed bytes, so the file needs no canonicalisation to verify.

One writer, ``audit_export_write``, writes that document for every export — the file and
target exports here and the auditor package's ``audit/audit-export.json``
(compliance.package): streamed from the database to a file in bounded memory, the header (the
checkpoints with it) on the first line ending ``,"events":[``, then one event a line, then
``]}``. A JSON reader reads it whole (``audit.offline``); the package's verifier reads it a
line at a time.
"""

import base64
import contextlib
import datetime as dt
import gzip
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from audit.exceptions import AuditLockedError
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditExportConfig,
    AuditLogHead,
    AuditSigningKey,
    ExportTarget,
)
from audit.offline import FORMAT
from audit.selectors import audit_export_files
from audit.services import audit_checkpoint_sign, audit_record, audit_signing_key_ensure
from tracklayer import fs, http, keyring
from tracklayer.exceptions import DomainError
from workspaces import policy

#: Audit entries read from the database per round trip while an export is written.
EXPORT_CHUNK = 2_000
#: Event lines gathered before they are handed to the output in one write.
WRITE_BATCH = 500
#: Bytes of a gzip export kept in memory before it moves to a temporary file on disk.
SPOOL_MEMORY = 8 * 2**20
_EVENTS_OPEN = b',"events":['


@dataclass(frozen=True)
class ExportSummary:
    """What ``audit_export_write`` wrote (the document itself went to the file)."""

    workspace_id: str
    origin: str
    exported_at: str
    verifier_key: str | None
    verifier_keys: list[str]
    events: int
    checkpoints: int
    checkpoint_size: int | None


def audit_export_write(out, *, workspace, size: int | None = None, now=None) -> ExportSummary:
    """Write the workspace's ``tracklayer.audit-export.v1`` document to the binary file
    ``out``: the entries ``[0, size)`` (the whole log as it is now when ``size`` is None) and
    the checkpoints up to ``size``, streamed from the database — memory holds one chunk of
    entries, never the log. The one writer of that document (module docstring)."""
    head = AuditLogHead.objects.get(workspace=workspace)
    size = head.size if size is None else size
    keys = list(
        AuditSigningKey.objects.filter(workspace=workspace)
        .order_by("created_at")
        .values_list("verifier_key", "retired_at")
    )
    current = next((vkey for vkey, retired in reversed(keys) if retired is None), None)
    checkpoints = [
        {"size": cp_size, "root": _b64(root), "note": note}
        for cp_size, root, note in AuditCheckpoint.objects.filter(
            workspace=workspace, size__lte=size
        )
        .order_by("size")
        .values_list("size", "root", "note")
    ]
    header = {
        "format": FORMAT,
        "workspace_id": workspace.public_id,
        "origin": head.origin,
        "exported_at": (now or timezone.now()).astimezone(dt.UTC).isoformat(),
        "verifier_key": current,
        "verifier_keys": [vkey for vkey, _retired in keys],
        "checkpoints": checkpoints,
    }
    rows = (
        AuditEntry.objects.filter(workspace=workspace, idx__lt=size)
        .order_by("idx")
        .values_list("idx", "public_id", "prev_hash", "hash", "material")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    out.write(orjson.dumps(header)[:-1] + _EVENTS_OPEN)
    written, batch = 0, []
    for idx, event_id, prev_hash, digest, material in rows:
        event = {
            "idx": idx,
            "event_id": event_id,
            "prev_hash": bytes(prev_hash).hex() if prev_hash is not None else None,
            "hash": bytes(digest).hex(),
            "material": _b64(material),
        }
        batch.append((b"\n" if written == 0 else b",\n") + orjson.dumps(event))
        written += 1
        if len(batch) >= WRITE_BATCH:
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch) + b"\n]}\n")
    return ExportSummary(
        workspace_id=header["workspace_id"],
        origin=header["origin"],
        exported_at=header["exported_at"],
        verifier_key=current,
        verifier_keys=header["verifier_keys"],
        events=written,
        checkpoints=len(checkpoints),
        checkpoint_size=checkpoints[-1]["size"] if checkpoints else None,
    )


def _b64(value) -> str:
    return base64.b64encode(bytes(value)).decode()


def audit_export_document(*, workspace) -> dict:
    """The whole export as a dict, read back from ``audit_export_write`` — for a caller that
    wants it in memory (a small log, a test); exports themselves are streamed."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as out:
        audit_export_write(out, workspace=workspace)
        out.seek(0)
        return orjson.loads(out.read())


def export_filename(workspace, moment: dt.datetime) -> str:
    """``YYYY/MM/DD/audit-<workspace>-<date>.json.gz`` (under the target's prefix)."""
    return f"{moment:%Y/%m/%d}/audit-{workspace.public_id}-{moment:%Y%m%dT%H%M%SZ}.json.gz"


@contextlib.contextmanager
def _export_gzip(*, workspace, actor):
    """Sign a checkpoint first (so the export proves its own completeness), then write the
    log up to it, gzip-compressed, to a spooled temporary file (on disk past ``SPOOL_MEMORY``).
    Yields the summary, the file (at its start) and its size; the file is closed after.

    The checkpoint is signed in a short transaction of its own: signing holds the log head's
    row lock, which every audited change of the workspace needs, so it must not be held while
    a large log is read and sent (a caller's own transaction still holds it to its end)."""
    with transaction.atomic():
        audit_signing_key_ensure(workspace=workspace, actor=actor)
        checkpoint = audit_checkpoint_sign(workspace=workspace, actor=actor)
    size = checkpoint.size if checkpoint is not None else 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as compressed:
            summary = audit_export_write(compressed, workspace=workspace, size=size)
        length = spool.tell()
        spool.seek(0)
        yield summary, spool, length


def _record_export(
    *, workspace, actor, summary: ExportSummary, length: int, target: str, **extra
) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="audit.exported",
        resource_type="audit_log",
        resource_id=workspace.public_id,
        payload={
            "target": target,
            "events": summary.events,
            "checkpoint_size": summary.checkpoint_size,
            "bytes": length,
            **extra,
        },
    )


@transaction.atomic
def audit_export_to_file(*, workspace, actor, path: Path) -> dict:
    """Write an export to ``path`` (the CLI's ``audit export --out``) and record the run.
    Returns the document written (read back: the CLI's reply and the tests use it)."""
    with _export_gzip(workspace=workspace, actor=actor) as (summary, spool, length):
        data = spool.read()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    _record_export(workspace=workspace, actor=actor, summary=summary, length=length, target="file")
    return orjson.loads(gzip.decompress(data))


# --- Configured targets: an S3-compatible bucket or a directory ----------------------------------


class ExportTargetError(DomainError):
    code = "audit_export_failed"
    status = 502


class ExportSettingsError(DomainError):
    """Saved settings that exports no longer accept (saved before the rules were enforced)."""

    code = "audit_export_settings_invalid"
    status = 409


#: Old exports removed per run at most (the rest on the next run): keeps one entry's payload small.
RETENTION_DELETIONS_PER_RUN = 500


class DirectoryTarget:
    """The workspace's own area on the server, ``AUDIT_EXPORT_ROOT/<workspace public id>/``;
    keys are paths inside it (the workspace's folder first).

    Nothing below the root is reached through a symbolic link (``tracklayer.fs``), and
    retention removes only files that this workspace's own exports recorded writing — never by
    walking the tree, where the operator's or another tenant's files may be."""

    def __init__(self, *, workspace):
        self.workspace = workspace
        self.root = Path(settings.AUDIT_EXPORT_ROOT)
        self.deleted_paths: list[str] = []  # recorded with the run, so no run tries them again

    def _inside_root(self, key: str) -> str:
        return f"{self.workspace.public_id}/{key}"

    def put(self, key: str, file) -> None:
        """Write the binary ``file`` (read from where it stands) to ``key``, in chunks."""
        fs.confined_write(self.root, self._inside_root(key), file)

    def delete_older_than(self, prefix: str, cutoff: dt.datetime, *, keep: str) -> int:
        # ``prefix`` does not narrow it: every file the log says this workspace's exports
        # wrote is its own, whatever folder and prefix were set at the time
        recorded = audit_export_files(workspace=self.workspace, exported_before=cutoff)
        deleted = 0
        for path in recorded[:RETENTION_DELETIONS_PER_RUN]:
            if path == keep:
                continue
            try:
                deleted += fs.confined_unlink(self.root, self._inside_root(path))
            except fs.PathRefusedError:
                continue  # something else stands there now: not ours to remove
            self.deleted_paths.append(path)  # removed, or already gone
        return deleted


class S3EndpointError(Exception):
    """An S3 endpoint's failure told safely: the refusal of the egress policy, or the
    endpoint's error code and HTTP status — never its message or body, which an endpoint the
    workspace chose could fill with anything (and which would be shown to the user)."""


@contextlib.contextmanager
def _s3_errors():
    # boto3/botocore (~0.15 s to import) are imported only where an S3 export runs.
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except http.EgressRefused as refused:
        raise S3EndpointError(refused.message) from None
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = code if re.fullmatch(r"[A-Za-z0-9.]{1,64}", code) else "an error"
        raise S3EndpointError(f"the S3 endpoint answered {code} (HTTP {status}).") from None
    except BotoCoreError as error:
        raise S3EndpointError(f"the S3 endpoint did not answer ({type(error).__name__}).") from None


#: An S3 export's upload part (S3's smallest is 5 MiB).
PART_SIZE = 8 * 2**20


class S3Target:
    """A bucket, reached only through the egress policy: botocore's requests are sent by
    ``tracklayer.http`` (resolved and checked at send time, connected to the address checked,
    no redirects, a total deadline and a size cap)."""

    def __init__(self, config: AuditExportConfig):
        # boto3/botocore (~0.15 s to import) are imported only where an S3 export runs.
        import boto3
        from botocore.config import Config

        self.bucket = config.s3_bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=config.s3_endpoint_url or None,
            region_name=config.s3_region or None,
            aws_access_key_id=config.s3_access_key_id,
            aws_secret_access_key=_s3_secret(config),
            config=Config(retries={"max_attempts": 3}),
        )
        http.route_botocore(self.client)

    def put(self, key: str, file) -> None:
        """Upload the binary ``file`` to ``key``: one request up to ``PART_SIZE``, a multipart
        upload of ``PART_SIZE`` parts past it (one part in memory at a time: every request
        goes through ``tracklayer.http``, which sends a body whole)."""
        from boto3.s3.transfer import TransferConfig

        with _s3_errors():
            self.client.upload_fileobj(
                file,
                self.bucket,
                key,
                ExtraArgs={"ContentType": "application/gzip"},
                Config=TransferConfig(
                    multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, use_threads=False
                ),
            )

    def delete_older_than(self, prefix: str, cutoff: dt.datetime, *, keep: str) -> int:
        deleted = 0
        with _s3_errors():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{prefix}/" if prefix else ""
            )
            for page in pages:
                old = [
                    {"Key": item["Key"]}
                    for item in page.get("Contents", [])
                    if item["LastModified"] < cutoff
                    and item["Key"].endswith(".json.gz")
                    and item["Key"] != keep
                ]
                if old:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": old})
                    deleted += len(old)
        return deleted


def secret_context(config: AuditExportConfig) -> str:
    return f"audit-export-s3-secret:{config.workspace_id}"


def _s3_secret(config: AuditExportConfig) -> str:
    if not config.s3_secret_access_key_encrypted:
        return ""
    return keyring.decrypt(
        config.s3_secret_access_key_encrypted, context=secret_context(config)
    ).decode()


def export_target(config: AuditExportConfig):
    return (
        S3Target(config)
        if config.target == ExportTarget.S3
        else DirectoryTarget(workspace=config.workspace)
    )


def audit_export_run(*, workspace, actor) -> str:
    """Export to the configured target now, delete exports past the retention, record it.

    Returns the object key. A target that refuses raises ``ExportTargetError`` (the run is
    then not recorded as done; ``audit_export_attempt`` keeps the failure).

    Transactions: the settings are checked first; the checkpoint is signed in a short
    transaction (``_export_gzip``) and the log read with no lock held; the upload, the
    retention and the record run in one transaction holding the settings' row (so two runs
    of a workspace do not interleave), never the log head's — a large log's export does not
    keep the workspace's audited changes waiting."""
    policy.authorize(workspace=workspace, actor=actor, action=policy.Action.AUDIT_SETTINGS)
    _export_settings(AuditExportConfig.objects.filter(workspace=workspace).first())
    with (
        _export_gzip(workspace=workspace, actor=actor) as (summary, spool, length),
        transaction.atomic(),
    ):
        config = AuditExportConfig.objects.select_for_update().filter(workspace=workspace).first()
        prefix = _export_settings(config)  # as they are now: they may have changed meanwhile
        now = timezone.now()
        key = (
            f"{prefix}/{export_filename(workspace, now)}"
            if prefix
            else export_filename(workspace, now)
        )
        target = export_target(config)
        try:
            target.put(key, spool)
            # never the export just written, whatever the clocks say
            cutoff = now - dt.timedelta(days=config.retention_days)
            deleted = target.delete_older_than(prefix, cutoff, keep=key)
        except Exception as error:  # boto, network and file-system errors alike, told the user
            raise ExportTargetError(
                f"The export target refused the export: {_describe(error)}"
            ) from None
        config.last_export_at, config.last_export_key, config.last_error = now, key, ""
        config.save(update_fields=["last_export_at", "last_export_key", "last_error", "updated_at"])
        _record_export(
            workspace=workspace,
            actor=actor,
            summary=summary,
            length=length,
            target=config.target,
            key=key,
            deleted_past_retention=deleted,
            # a directory export's record is what its retention may later delete, only that
            **(
                {"path": key, "deleted_paths": target.deleted_paths}
                if isinstance(target, DirectoryTarget)
                else {}
            ),
        )
    return key


def _export_settings(config: AuditExportConfig | None) -> str:
    """The export's prefix; refused when no target is configured or its settings are not
    accepted any more."""
    if config is None or not (config.s3_bucket or config.directory):
        raise DomainError("Configure an export target first (Settings → Compliance).")
    return _export_prefix(config)


def _stored_path(value: str, *, field: str, label: str) -> str:
    try:
        return fs.relative_path(value)
    except fs.PathRefusedError as error:
        raise ExportSettingsError(
            f"The saved {label} {error}, which exports no longer accept: they stay inside this "
            f"workspace's own area. Re-save the setting (Settings → Compliance) with a relative "
            f"{label}, such as “audit”.",
            field=field,
        ) from None


def _export_prefix(config: AuditExportConfig) -> str:
    """The normalised prefix, and for a directory target the workspace's folder before it.
    Settings saved before these rules were enforced are refused here, saying what to do."""
    prefix = _stored_path(config.prefix, field="prefix", label="prefix")
    if config.target != ExportTarget.DIRECTORY:
        return prefix
    folder = _stored_path(config.directory, field="directory", label="folder")
    if not folder:
        raise ExportSettingsError(
            "Name a folder for the exports (Settings → Compliance).", field="directory"
        )
    return f"{folder}/{prefix}" if prefix else folder


def _describe(error: Exception) -> str:
    """What went wrong, without credentials (boto's messages never include the secret)."""
    if isinstance(error, S3EndpointError):
        return str(error)  # already safe to show
    return f"{type(error).__name__}: {error}"[:300]


def audit_export_attempt(*, workspace, actor) -> str:
    """``audit_export_run``, and when the target refuses, the failure is kept: on the
    settings page and (unless the log is locked) as ``audit.export_failed``. Re-raises."""
    try:
        return audit_export_run(workspace=workspace, actor=actor)
    except (ExportTargetError, ExportSettingsError) as error:
        with transaction.atomic():
            AuditExportConfig.objects.filter(workspace=workspace).update(last_error=error.message)
            try:
                with transaction.atomic():
                    audit_record(
                        workspace=workspace,
                        actor=actor,
                        event_type="audit.export_failed",
                        resource_type="audit_log",
                        resource_id=workspace.public_id,
                        payload={"error": error.message},
                    )
            except AuditLockedError:
                pass  # the failure stays visible on the settings page
        raise


CONFIG_FIELDS = (
    "enabled",
    "target",
    "s3_endpoint_url",
    "s3_bucket",
    "s3_region",
    "s3_access_key_id",
    "directory",
    "prefix",
    "schedule_day_of_week",
    "schedule_hour",
    "schedule_minute",
    "retention_days",
    "witness_url",
)


def audit_export_config_get(*, workspace) -> AuditExportConfig:
    return AuditExportConfig.objects.filter(workspace=workspace).first() or AuditExportConfig(
        workspace=workspace
    )


@transaction.atomic
def audit_export_config_update(
    *, workspace, actor, values: dict, s3_secret_access_key: str = ""
) -> AuditExportConfig:
    """Save the export settings (an empty secret keeps the stored one), keep the schedule in
    django-celery-beat in step, and record what changed — the secret only as "changed"."""
    policy.authorize(workspace=workspace, actor=actor, action=policy.Action.AUDIT_SETTINGS)
    config = AuditExportConfig.objects.select_for_update().filter(
        workspace=workspace
    ).first() or AuditExportConfig(workspace=workspace)
    before = {field: getattr(config, field) for field in CONFIG_FIELDS}
    for field in CONFIG_FIELDS:
        if field in values:
            setattr(config, field, values[field])
    if s3_secret_access_key:
        config.s3_secret_access_key_encrypted = keyring.encrypt(
            s3_secret_access_key.encode(), context=secret_context(config)
        )
    _validate(config)
    config.save()
    _sync_schedule(config)
    changes = {
        field: {"before": before[field], "after": getattr(config, field)}
        for field in CONFIG_FIELDS
        if before[field] != getattr(config, field)
    }
    if s3_secret_access_key:
        changes["s3_secret_access_key"] = {"changed": True}
    if changes:
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="audit.export_settings_updated",
            resource_type="audit_export_config",
            resource_id=workspace.public_id,
            payload={"changes": changes},
        )
    return config


EXPORT_PATH_LABELS = {"directory": "The folder", "prefix": "The prefix"}


def export_path_clean(value: str, *, field: str) -> str:
    """The folder (``directory``) or ``prefix`` a workspace chose, normalised; refused, naming
    the field and why, when it could lead out of the workspace's place (``tracklayer.fs``)."""
    try:
        return fs.relative_path(value)
    except fs.PathRefusedError as error:
        raise DomainError(
            f"{EXPORT_PATH_LABELS[field]} {error}. Give a relative path, such as “audit” or "
            "“compliance/audit”: exports stay inside this workspace's own area.",
            field=field,
        ) from None


def _validate(config: AuditExportConfig) -> None:
    config.directory = export_path_clean(config.directory, field="directory")
    config.prefix = export_path_clean(config.prefix, field="prefix")
    # The target must be complete once exports are on or a target is being described; a
    # workspace may also just set a witness URL.
    if not (config.enabled or config.s3_bucket or config.directory):
        pass
    elif config.target == ExportTarget.S3:
        if not config.s3_bucket:
            raise DomainError("Name the bucket.", field="s3_bucket")
        if not (config.s3_access_key_id and config.s3_secret_access_key_encrypted):
            raise DomainError(
                "Give the access key id and secret of a key that may write to the bucket.",
                field="s3_access_key_id",
            )
    elif not config.directory:
        raise DomainError(
            "Name a folder inside this workspace's export area, such as “audit”.",
            field="directory",
        )
    # The endpoint and the witness are reached through the egress policy; refused URLs are
    # named here, at once (a name that does not resolve yet is let through outside production:
    # every send checks again).
    for field in ("s3_endpoint_url", "witness_url"):
        if getattr(config, field):
            http.validate_url(
                getattr(config, field), field=field, unresolvable_ok=not settings.IS_PRODUCTION
            )
    if not 0 <= config.schedule_hour <= 23:
        raise DomainError("The hour is 0–23 (UTC).", field="schedule_hour")
    if not 0 <= config.schedule_minute <= 59:
        raise DomainError("The minute is 0–59.", field="schedule_minute")
    if not 1 <= config.retention_days <= 3650:
        raise DomainError("Keep exports between 1 and 3650 days.", field="retention_days")


def _sync_schedule(config: AuditExportConfig) -> None:
    """One django-celery-beat task per workspace, on the configured weekly schedule (UTC)."""
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=str(config.schedule_minute),
        hour=str(config.schedule_hour),
        day_of_week=config.schedule_day_of_week,
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=f"audit-export:{config.workspace.public_id}",
        defaults={
            "task": "audit.tasks.audit_export_scheduled",
            "crontab": schedule,
            "args": orjson.dumps([config.workspace_id]).decode(),
            "enabled": config.enabled,
        },
    )
    if config.periodic_task_id != task.pk:
        config.periodic_task = task
        config.save(update_fields=["periodic_task"])
