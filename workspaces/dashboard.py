"""The dashboard's one gate: every workspace page goes through ``workspace_view``.

It resolves the workspace from the URL among the signed-in user's memberships (404 for any
other, so a foreign workspace cannot be told from a missing one), asks the policy whether the
member's role allows the page's action (403 otherwise), and hands the view ``request.workspace``
and ``request.membership``. ``render_htmx`` renders a page, or just its section for htmx.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from tracklayer.exceptions import DomainError
from workspaces import policy, selectors
from workspaces.policy import Action


class Permissions:
    """``{% if can.api_key_manage %}`` in templates: the policy, asked for the member's role."""

    def __init__(self, role: str):
        self.role = role

    def __getitem__(self, name: str) -> bool:
        return policy.can(self.role, Action[name.upper()])


def workspace_view(action: Action):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, slug: str, *args, **kwargs):
            membership = selectors.membership_for(user=request.user, slug=slug)
            if not policy.can(membership.role, action):
                raise PermissionDenied(f"Your role ({membership.role}) does not allow this.")
            request.workspace = membership.workspace
            request.membership = membership
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def workspace_context(request, **extra) -> dict:
    # (whether the audit log is broken comes from audit.context_processors.audit_status)
    return {
        "workspace": request.workspace,
        "membership": request.membership,
        "can": Permissions(request.membership.role),
        **extra,
    }


def render_htmx(request, template: str, partial: str, context: dict, status: int = 200):
    """The full page normally; only ``partial`` (the section that changed) for htmx."""
    name = partial if request.htmx and not request.htmx.boosted else template
    return render(request, name, workspace_context(request, **context), status=status)


def form_error(form, error: DomainError) -> None:
    """Show a domain error on the field it names (or on the form)."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def flash(request, message: str) -> None:
    messages.success(request, message)
