"""Shared Django admin base classes.

Staff browse every model read-only: a direct edit in the admin would bypass the services, and
with them the policy and the audit log. Changes are made with admin actions that call the
services as the signed-in staff user, so the policy decides (by that user's role in the row's
workspace) and the audit log records who did it.
"""

from django.contrib import admin, messages

from tracklayer.exceptions import DomainError


class ReadOnlyMixin:
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Our own admins: read-only, with actions that call services."""


def read_only(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """``admin_class`` as the admin site registers it: read-only.

    Ours already are (their actions call services, so the policy and the audit log apply). A
    library's admin (allauth's e-mail addresses, Celery beat's schedule, Django's groups) is
    kept for browsing, without its actions: they write rows directly — "mark verified",
    "disable task" — and a direct write skips the audit log.
    """
    if issubclass(admin_class, ReadOnlyMixin):
        return admin_class
    return type(
        admin_class.__name__,
        (ReadOnlyMixin, admin_class),
        {"__module__": admin_class.__module__, "actions": ()},
    )


def run_service_action(modeladmin, request, queryset, call, done: str) -> None:
    """Call ``call(obj)`` for each selected row; report successes and refusals separately."""
    succeeded = 0
    for obj in queryset:
        try:
            call(obj)
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        modeladmin.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)
