"""A destination's owner (a member of its workspace) and purpose, for the compliance inventory
(docs/evidence-center.md). Both optional: existing destinations keep no owner and no purpose."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("destinations", "0007_event_subject_matching_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="destination",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="destination",
            name="purpose",
            field=models.CharField(blank=True, default="", max_length=500),
        ),
    ]
