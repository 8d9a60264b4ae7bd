from django.contrib import admin

from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditExportConfig,
    AuditLogHead,
    AuditSigningKey,
    AuditVerification,
    AuditWitnessDelivery,
)
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


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "size", "created_at"]
    list_filter = ["workspace"]
    fields = ["workspace", "size", "note", "signing_key", "created_at"]


@admin.register(AuditSigningKey)
class AuditSigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "verifier_key", "created_at", "retired_at"]
    exclude = ["private_key_encrypted"]


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "ran_at", "valid", "total_events", "break_count"]
    list_filter = ["valid", "workspace"]


@admin.register(AuditExportConfig)
class AuditExportConfigAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "enabled", "target", "last_export_at", "last_error"]
    exclude = ["s3_secret_access_key_encrypted"]


@admin.register(AuditWitnessDelivery)
class AuditWitnessDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["checkpoint", "url", "attempted_at", "ok", "status_code", "error"]
    list_filter = ["ok"]
