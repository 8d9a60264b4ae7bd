from django.contrib import admin

from privacy.models import ConsentSettings
from tracklayer.admin import ReadOnlyAdmin


@admin.register(ConsentSettings)
class ConsentSettingsAdmin(ReadOnlyAdmin):
    """Read-only: consent rules change through the dashboard's audited service."""

    list_display = ["workspace", "default_jurisdiction", "honour_gpc_everywhere", "updated_at"]
    list_select_related = ["workspace"]
    fields = [
        "workspace",
        "default_jurisdiction",
        "honour_gpc_everywhere",
        "regime_overrides",
        "category_mapping",
        "policies",
        "updated_at",
    ]
