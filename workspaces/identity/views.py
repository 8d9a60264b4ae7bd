"""Settings → Identity: the MFA policy, SAML SSO and SCIM of a workspace on one page, each
section an htmx partial whose form also posts without JavaScript. Admins only
(``Action.SECURITY_SETTINGS``); thin: parse, call one service, render."""

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.views.decorators.http import require_GET, require_POST

from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.identity import selectors, services
from workspaces.identity.forms import MfaPolicyForm
from workspaces.policy import Action

PAGE = "identity/identity.html"


def _context(request, **extra) -> dict:
    workspace = request.workspace
    return {
        "coverage": selectors.identity_coverage(workspace=workspace),
        "mfa_form": extra.pop("mfa_form", None)
        or MfaPolicyForm(initial={"required": workspace.mfa_required}),
        "own_mfa": is_mfa_enabled(request.user, [Authenticator.Type.TOTP]),
        **extra,
    }


def _render(request, partial: str, status: int = 200, **extra):
    return render_htmx(request, PAGE, partial, _context(request, **extra), status=status)


@workspace_view(Action.SECURITY_SETTINGS)
@require_GET
def identity(request):
    return _render(request, PAGE)


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def mfa_policy(request):
    form = MfaPolicyForm(request.POST)
    if form.is_valid():
        required = form.cleaned_data["required"]
        try:
            request.workspace = services.mfa_policy_set(
                workspace=request.workspace, actor=request.user, required=required
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "MFA is now required." if required else "MFA is no longer required.")
            form = MfaPolicyForm(initial={"required": required})
    return _render(request, "identity/_mfa.html", status=422 if form.errors else 200, mfa_form=form)
