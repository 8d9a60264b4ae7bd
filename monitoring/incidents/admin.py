from django.contrib import admin

from monitoring.incidents.models import Incident, IncidentEvent
from tracklayer.admin import ReadOnlyAdmin


class IncidentEventInline(admin.TabularInline):
    model = IncidentEvent
    fields = ["at", "actor", "kind", "note", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    """Read-only: incidents change through the dashboard's audited services."""

    list_display = ["public_id", "workspace", "title", "severity", "phase", "opened_at"]
    list_filter = ["phase", "severity", "source_kind"]
    list_select_related = ["workspace"]
    search_fields = ["public_id"]
    inlines = [IncidentEventInline]
