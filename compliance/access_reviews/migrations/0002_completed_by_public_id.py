"""The reviewer's id stored with the completion, as their name is: the result document (whose
SHA-256 the log holds) must not change when their account is deleted. Campaigns completed
before get it from their reviewer's account."""

from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    Campaign = apps.get_model("access_reviews", "Campaign")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Campaign.objects.filter(completed_by__isnull=False).update(
        completed_by_public_id=Subquery(
            User.objects.filter(pk=OuterRef("completed_by_id")).values("public_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("access_reviews", "0001_campaigns"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="completed_by_public_id",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
