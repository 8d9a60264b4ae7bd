"""Access reviews in the Django admin: read-only for staff (every change goes through the
services, which audit it)."""

from django.contrib import admin

from compliance.access_reviews.models import Campaign, Item
from tracklayer.admin import ReadOnlyAdmin


class ItemInline(admin.TabularInline):
    model = Item
    extra = 0
    can_delete = False
    fields = (
        *("kind", "subject_id", "name", "role"),
        *("decision", "new_role", "self_review", "outcome"),
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    """Read-only: campaigns change through the dashboard's audited services."""

    list_display = ("public_id", "workspace", "period", "trigger", "status", "opened_at", "due_at")
    list_filter = ("status", "trigger")
    search_fields = ("public_id", "workspace__public_id", "workspace__slug")
    list_select_related = ["workspace"]
    inlines = [ItemInline]
