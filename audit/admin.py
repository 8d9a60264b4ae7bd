from django.contrib import admin

from audit.models import AuditEntry, AuditLogHead
from tracklayer.admin import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "idx",
        "workspace",
        "event_type",
        "resource_type",
        "resource_id",
        "actor",
        "timestamp",
    ]
    list_filter = ["event_type", "workspace"]
    search_fields = ["resource_id", "actor", "public_id"]
    list_select_related = ["workspace"]
    fields = [
        "public_id",
        "workspace",
        "idx",
        "event_type",
        "resource_type",
        "resource_id",
        "actor",
        "timestamp",
        "prev_hash_hex",
        "hash_hex",
        "material_text",
    ]
    readonly_fields = fields

    @admin.display(description="material (exact hashed bytes)")
    def material_text(self, entry) -> str:
        return bytes(entry.material).decode()


@admin.register(AuditLogHead)
class AuditLogHeadAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "origin", "size", "updated_at"]
