"""The dashboard's one gate: every workspace page goes through ``workspace_view``.

It resolves the workspace from the URL among the signed-in user's memberships (404 for any
other, so a foreign workspace cannot be told from a missing one), asks the policy whether the
member's role allows the page's action (403 otherwise), and hands the view ``request.workspace``
and ``request.membership``. ``render_htmx`` renders a page, or just its section for htmx.

It also holds the workspace's MFA policy (docs/identity.md): when the workspace requires MFA,
a member who signed in with a password and has no authenticator app is sent to set one up
before any page of the workspace (htmx requests get an ``HX-Redirect``). A sign-in through the
workspace's SAML identity provider is exempt: the provider enforces its own factors. The API
(API keys) and the Django admin (``STAFF_MFA_REQUIRED``) do not pass through this gate.
"""

from functools import wraps

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from tracklayer.exceptions import DomainError
from workspaces import policy, selectors
from workspaces.policy import Action

# How the session signed in: the SAML assertion consumer sets ``session[SIGN_IN_METHOD_KEY] =
# SIGN_IN_SSO``; allauth's password sign-in leaves it unset. When it also names the workspace
# whose identity provider signed the person in (``SSO_WORKSPACE_KEY``: its public id), only
# that workspace's MFA policy is waived — another workspace's IdP vouches for nothing here.
SIGN_IN_METHOD_KEY = "tracklayer_auth_method"
SIGN_IN_SSO = "saml"
SSO_WORKSPACE_KEY = "tracklayer_sso_workspace"


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
            if mfa_setup_required(request, membership.workspace):
                return _to_mfa_setup(request, membership.workspace)
            if not policy.can(membership.role, action):
                raise PermissionDenied(f"Your role ({membership.role}) does not allow this.")
            request.workspace = membership.workspace
            request.membership = membership
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def mfa_setup_required(request, workspace) -> bool:
    """Whether the workspace's MFA policy keeps this session out until an authenticator app is
    set up: MFA required, a sign-in that was not SSO through this workspace's own IdP, and no
    TOTP authenticator."""
    if not workspace.mfa_required:
        return False
    if (
        request.session.get(SIGN_IN_METHOD_KEY) == SIGN_IN_SSO
        and request.session.get(SSO_WORKSPACE_KEY) == workspace.public_id
    ):
        return False
    return not is_mfa_enabled(request.user, [Authenticator.Type.TOTP])


def _to_mfa_setup(request, workspace):
    messages.warning(
        request,
        f"{workspace.name} requires two-factor authentication. Set up an authenticator app "
        "to continue.",
    )
    url = reverse("mfa_activate_totp")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


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
