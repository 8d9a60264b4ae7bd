from allauth.mfa.models import Authenticator
from celery import current_app
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.template.response import TemplateResponse

from tracklayer.admin import ReadOnlyAdmin, run_service_action
from tracklayer.exceptions import DomainError
from tracklayer.regions import REGIONS
from workspaces import services
from workspaces.models import ApiKey, Invitation, Membership, RegionMove, User, Workspace
from workspaces.region_moves import data_plane_counts, may_move, region_move_start

# The rest of a move (copy, verify, switch, clean up) runs in a worker; workspaces may not
# import destinations, so the task is sent by its name (destinations/residency/tasks.py).
REGION_MOVE_TASK = "destinations.tasks.region_move_run"


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


class DeletedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("deleted", "Deleted (restorable)"), ("purged", "Purged")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False, purged_at__isnull=True)
        if self.value() == "purged":
            return queryset.filter(purged_at__isnull=False)
        return queryset


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "slug",
        "public_id",
        "region",
        "created_at",
        "deleted_at",
        "purge_after",
        "purged_at",
    ]
    search_fields = ["name", "slug", "public_id"]
    list_filter = ["region", DeletedFilter]
    inlines = [MembershipInline]
    actions = ["move_region", "restore"]

    def has_move_permission(self, request) -> bool:
        return may_move(request.user)

    def has_restore_permission(self, request) -> bool:
        return services.may_restore(request.user)

    @admin.action(
        description="Restore deleted workspaces (before their purge)", permissions=["restore"]
    )
    def restore(self, request, queryset):
        """Undo a deletion, audited as the staff user (``workspace.restored``)."""
        run_service_action(
            self,
            request,
            queryset.filter(deleted_at__isnull=False),
            lambda workspace: services.workspace_restore(workspace=workspace, actor=request.user),
            "Restored",
        )

    @admin.action(description="Move to another region…", permissions=["move"])
    def move_region(self, request, queryset):
        """An intermediate page: the target region, the rows to move, the slug typed out.
        Confirmed, the move starts here (audited as the staff user) and a worker does the rest."""
        if queryset.count() != 1:
            self.message_user(request, "Move one workspace at a time.", messages.ERROR)
            return None
        workspace = queryset.get()
        if workspace.deleted_at is not None:
            self.message_user(
                request, f"{workspace}: a deleted workspace is not moved.", messages.ERROR
            )
            return None
        form = RegionMoveForm(workspace, request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            try:
                move = region_move_start(
                    workspace=workspace, actor=request.user, target=form.cleaned_data["target"]
                )
            except DomainError as error:
                self.message_user(request, f"{workspace}: {error.message}", messages.ERROR)
                return None
            transaction.on_commit(
                lambda: current_app.send_task(REGION_MOVE_TASK, args=[move.public_id])
            )
            self.message_user(
                request,
                f"{workspace.slug}: moving {move.source} → {move.target} ({move.public_id}); "
                "ingestion answers 503 until the switch. Follow it under Region moves.",
                messages.SUCCESS,
            )
            return None
        counts = data_plane_counts(workspace)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Move {workspace.name} to another region",
            "opts": self.model._meta,
            "workspace": workspace,
            "form": form,
            "counts": sorted(counts.items()),
            "total": sum(counts.values()),
            "action": "move_region",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/workspaces/workspace/move_region.html", context)


class RegionMoveForm(forms.Form):
    target = forms.ChoiceField(label="Move to")
    slug = forms.CharField(label="Type the workspace's slug to confirm", max_length=100)

    def __init__(self, workspace, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["target"].choices = [
            (code, f"{info.label} ({code})")
            for code, info in REGIONS.items()
            if code != workspace.region
        ]

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip()
        if slug != self.workspace.slug:
            raise forms.ValidationError(f"Type {self.workspace.slug} to confirm.")
        return slug


@admin.register(RegionMove)
class RegionMoveAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "workspace",
        "source",
        "target",
        "state",
        "created_at",
        "switched_at",
        "finished_at",
    ]
    list_filter = ["state", "source", "target"]
    search_fields = ["public_id", "workspace__slug"]
    list_select_related = ["workspace"]
    fields = [
        "public_id",
        "workspace",
        "source",
        "target",
        "state",
        "requested_by",
        "tables",
        "deleted",
        "error",
        "created_at",
        "switched_at",
        "finished_at",
    ]
    readonly_fields = fields


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
