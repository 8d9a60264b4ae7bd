"""SCIM's rows in the Django admin, read-only like every model; revoking a token goes through
its service (the policy decides, the audit log records)."""

from django.contrib import admin

from tracklayer.admin import ReadOnlyAdmin, run_service_action
from workspaces.scim import services
from workspaces.scim.models import ScimGroup, ScimSettings, ScimToken, ScimUser


@admin.register(ScimToken)
class ScimTokenAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "display_prefix",
        "workspace",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["workspace"]
    search_fields = ["name", "prefix", "public_id", "workspace__slug"]
    exclude = ["secret_hash"]
    list_select_related = ["workspace"]
    actions = ["revoke"]

    @admin.action(
        description="Revoke selected SCIM tokens (needs the admin role in their workspace)"
    )
    def revoke(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset.filter(revoked_at__isnull=True).select_related("workspace"),
            lambda token: services.scim_token_revoke(
                workspace=token.workspace, actor=request.user, token=token
            ),
            "Revoked",
        )


@admin.register(ScimSettings)
class ScimSettingsAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "default_role", "updated_at"]


@admin.register(ScimUser)
class ScimUserAdmin(ReadOnlyAdmin):
    list_display = ["user", "workspace", "active", "external_id", "updated_at"]
    list_filter = ["active", "workspace"]
    search_fields = ["user__email", "user__public_id", "external_id", "workspace__slug"]
    list_select_related = ["user", "workspace"]


@admin.register(ScimGroup)
class ScimGroupAdmin(ReadOnlyAdmin):
    list_display = ["display_name", "public_id", "workspace", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["display_name", "public_id", "external_id", "workspace__slug"]
    list_select_related = ["workspace"]
