"""Indexes that let a data-subject request find a subject's events without reading the whole
workspace (privacy.requests.matching.EVENTS_WHERE; docs/privacy-requests.md): a GIN index
(jsonb_path_ops) on ``identifiers``, an expression index on the SHA-256 of ``anonymous_id``
(through an IMMUTABLE function, created here in each region's database) and a partial index on
an alias's ``previous_id_hash``.

Built CONCURRENTLY (so not in a transaction): ingestion keeps writing events while a large
event store is indexed. An interrupted build leaves an INVALID index; drop it and migrate
again."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

SHA256_UTF8 = """
CREATE OR REPLACE FUNCTION tracklayer_sha256_utf8(value text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.sha256(pg_catalog.convert_to(value, 'UTF8'));
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("destinations", "0006_minute_figures_and_rejected_events"),
    ]

    operations = [
        migrations.RunSQL(
            SHA256_UTF8,
            "DROP FUNCTION IF EXISTS tracklayer_sha256_utf8(text);",
            hints={"data_plane": True},
        ),
        AddIndexConcurrently(
            model_name="event",
            index=GinIndex(
                fields=["identifiers"], name="event_ids_gin", opclasses=["jsonb_path_ops"]
            ),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(
                models.Func(
                    "anonymous_id",
                    function="tracklayer_sha256_utf8",
                    output_field=models.BinaryField(),
                ),
                condition=models.Q(("anonymous_id", ""), _negated=True),
                name="event_anonymous_sha256",
            ),
        ),
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(
                condition=models.Q(("previous_id_hash", ""), _negated=True),
                fields=["previous_id_hash"],
                name="event_previous_id",
            ),
        ),
    ]
