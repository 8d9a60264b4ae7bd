from allauth.mfa.models import Authenticator
from django.contrib import admin

from tracklayer.admin import ReadOnlyAdmin, run_service_action
from workspaces import services
from workspaces.models import ApiKey, Invitation, Membership, User, Workspace


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ["email", "name", "public_id", "is_active", "is_staff", "date_joined"]
    search_fields = ["email", "name", "public_id"]
    list_filter = ["is_active", "is_staff"]
    exclude = ["password"]


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "public_id", "region", "created_at"]
    search_fields = ["name", "slug", "public_id"]
    list_filter = ["region"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__email", "workspace__slug"]
    list_select_related = ["user", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["email", "workspace", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["email", "workspace__slug"]
    exclude = ["token_hash"]


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "display_prefix",
        "workspace",
        "role",
        "environment",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["role", "environment", "workspace"]
    search_fields = ["name", "prefix", "public_id", "workspace__slug"]
    exclude = ["secret_hash"]
    list_select_related = ["workspace"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected keys (needs the admin role in their workspace)")
    def revoke(self, request, queryset):
        run_service_action(
            self,
            request,
            queryset.filter(revoked_at__isnull=True).select_related("workspace"),
            lambda key: services.api_key_revoke(
                workspace=key.workspace, actor=request.user, key=key
            ),
            "Revoked",
        )


# allauth registers an editable Authenticator admin that shows the (sealed) secret and lets
# staff change or delete a second factor unaudited. Staff see which factors a person has, and
# nothing else; MFA changes happen only in the person's own, audited MFA pages.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyAdmin):
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__email", "user__public_id"]
    list_select_related = ["user"]
    fields = ["user", "type", "created_at", "last_used_at"]  # never ``data``: the secrets
    actions = None
