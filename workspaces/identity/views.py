"""Settings → Identity: the MFA policy, SAML SSO and SCIM of a workspace on one page, each
section an htmx partial whose forms also post without JavaScript (the full page comes back).
Admins only (``Action.SECURITY_SETTINGS``). Thin: parse, call one service, render; the SAML
and SCIM services are ``workspaces.sso`` and ``workspaces.scim``'s own."""

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.views.decorators.http import require_GET, require_POST

from tracklayer.exceptions import DomainError
from workspaces.dashboard import flash, render_htmx, workspace_view
from workspaces.identity import selectors, services
from workspaces.identity.forms import (
    BreakGlassForm,
    GroupRolesForm,
    ManagedDomainsForm,
    MfaPolicyForm,
    SamlFieldsForm,
    SamlMetadataForm,
    ScimSettingsForm,
    ScimTokenCreateForm,
)
from workspaces.policy import Action
from workspaces.scim import selectors as scim_selectors
from workspaces.scim import services as scim_services
from workspaces.sso import services as sso_services

PAGE = "identity/identity.html"
MFA = "identity/_mfa.html"
SAML = "identity/_saml.html"
SCIM = "identity/_scim.html"
SAML_FORMS = (
    "metadata_form",
    "fields_form",
    "domains_form",
    "break_glass_form",
    "group_roles_form",
)


def _saml_forms(saml: dict, **bound) -> dict:
    """The SAML section's forms: the posted one (with its errors) and the others at the
    configuration's current values."""
    config = saml["config"]
    fields_initial = {"groups_attribute": "groups", "email_attribute": "email", "jit": True}
    if config is not None:
        fields_initial = {
            name: getattr(config, name)
            for name in (
                *("idp_entity_id", "idp_sso_url", "idp_slo_url", "idp_certificate"),
                *("idp_certificate_next", "email_attribute", "groups_attribute", "jit"),
                *("allow_sha1", "idp_initiated"),
            )
        }
    rows = saml["group_roles"]
    group_initial = {"default_role": config.default_role if config else "viewer"}
    for n, row in enumerate(rows):
        group_initial |= {f"group_{n}": row.group, f"role_{n}": row.role}
    break_glass = config.break_glass_user.public_id if config and config.break_glass_user else ""
    return {
        "metadata_form": bound.get("metadata_form") or SamlMetadataForm(),
        "fields_form": bound.get("fields_form") or SamlFieldsForm(initial=fields_initial),
        "domains_form": bound.get("domains_form")
        or ManagedDomainsForm(
            initial={
                "domains": "\n".join(saml["domains"]),
                "enforce": bool(config and config.enforce),
            }
        ),
        "break_glass_form": bound.get("break_glass_form")
        or BreakGlassForm(initial={"break_glass_user": break_glass}, admins=saml["admins"]),
        "group_roles_form": bound.get("group_roles_form")
        or GroupRolesForm(initial=group_initial, rows=len(rows) + 3),
    }


def _mfa_section(request, forms: dict) -> dict:
    return {
        "own_mfa": is_mfa_enabled(request.user, [Authenticator.Type.TOTP]),
        "mfa_form": forms.get("mfa_form")
        or MfaPolicyForm(initial={"required": request.workspace.mfa_required}),
    }


def _saml_section(request, forms: dict) -> dict:
    saml = selectors.saml_section(workspace=request.workspace)
    return {"saml": saml, **_saml_forms(saml, **{k: forms[k] for k in SAML_FORMS if k in forms})}


def _scim_section(request, forms: dict) -> dict:
    scim = selectors.scim_section(workspace=request.workspace)
    return {
        "scim": scim,
        "scim_token_form": forms.get("scim_token_form") or ScimTokenCreateForm(),
        "scim_settings_form": forms.get("scim_settings_form")
        or ScimSettingsForm(initial={"default_role": scim["default_role"]}),
    }


SECTIONS = {MFA: _mfa_section, SAML: _saml_section, SCIM: _scim_section}
FORMS = ("mfa_form", *SAML_FORMS, "scim_token_form", "scim_settings_form")


def _context(request, partial: str, **extra) -> dict:
    """The page's context: every section's for the full page, only ``partial``'s for an htmx
    request (render_htmx sends that section alone, with the coverage and the activity out of
    band). A posted form in ``extra`` replaces its section's fresh one."""
    forms = {name: extra.pop(name) for name in FORMS if name in extra}
    only_partial = request.htmx and not request.htmx.boosted and partial in SECTIONS
    context = {
        "coverage": selectors.identity_coverage(workspace=request.workspace),
        "activity": selectors.identity_activity(workspace=request.workspace),
    }
    for build in [SECTIONS[partial]] if only_partial else SECTIONS.values():
        context |= build(request, forms)
    return context | extra


def _render(request, partial: str, status: int = 200, **extra):
    return render_htmx(request, PAGE, partial, _context(request, partial, **extra), status=status)


def _error_on(form, error: DomainError, field: str | None = None) -> None:
    """A service's error on the field it names (``field`` overrides), else on the form."""
    field = field or error.field
    form.add_error(field if field in form.fields else None, error.message)


def _submit(request, form, partial: str, name: str, call, done: str, field_of=None):
    """Validate ``form``, call the service (``call(form)``), flash ``done``; the section with
    the form's errors (422) or the service's refusal on its field otherwise."""
    if form.is_valid():
        try:
            call(form)
        except DomainError as error:
            _error_on(form, error, field_of(error.field) if field_of else None)
        else:
            flash(request, done)
            return _render(request, partial)
    return _render(request, partial, status=422, **{name: form})


@workspace_view(Action.SECURITY_SETTINGS)
@require_GET
def identity(request):
    return _render(request, PAGE)


# --- MFA policy --------------------------------------------------------------------------------


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def mfa_policy(request):
    form = MfaPolicyForm(request.POST)

    def call(form):
        request.workspace = services.mfa_policy_set(
            workspace=request.workspace,
            actor=request.user,
            required=form.cleaned_data["required"],
        )

    required = form.is_valid() and form.cleaned_data["required"]
    done = "MFA is now required." if required else "MFA is no longer required."
    return _submit(request, form, MFA, "mfa_form", call, done)


# --- SAML --------------------------------------------------------------------------------------


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def saml_metadata(request):
    form = SamlMetadataForm(request.POST, request.FILES)

    def call(form):
        sso_services.saml_configure(
            workspace=request.workspace, actor=request.user, **form.configure_kwargs()
        )

    return _submit(
        request,
        form,
        SAML,
        "metadata_form",
        call,
        "SSO configured from the identity provider's metadata.",
        field_of=lambda field: form.error_field(field),
    )


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def saml_fields(request):
    form = SamlFieldsForm(request.POST)

    def call(form):
        sso_services.saml_configure(
            workspace=request.workspace, actor=request.user, **form.cleaned_data
        )

    return _submit(request, form, SAML, "fields_form", call, "SSO settings saved.")


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def saml_domains(request):
    form = ManagedDomainsForm(request.POST)

    def call(form):
        sso_services.managed_domains_set(
            workspace=request.workspace,
            actor=request.user,
            domains=form.domain_list(),
            enforce=form.cleaned_data["enforce"],
        )

    return _submit(request, form, SAML, "domains_form", call, "Managed domains saved.")


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def saml_break_glass(request):
    admins, _without_mfa = selectors.break_glass_candidates(workspace=request.workspace)
    form = BreakGlassForm(request.POST, admins=admins)

    def call(form):
        sso_services.saml_configure(
            workspace=request.workspace,
            actor=request.user,
            break_glass_user=form.cleaned_data["break_glass_user"] or "",
        )

    return _submit(request, form, SAML, "break_glass_form", call, "Break-glass account saved.")


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def saml_group_roles(request):
    form = GroupRolesForm(request.POST)

    def call(form):
        sso_services.group_roles_set(
            workspace=request.workspace,
            actor=request.user,
            mapping=form.mapping(),
            default_role=form.cleaned_data["default_role"],
        )

    return _submit(request, form, SAML, "group_roles_form", call, "Group roles saved.")


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def saml_disable(request):
    sso_services.saml_disable(workspace=request.workspace, actor=request.user)
    flash(request, "SSO is off. The identity provider's settings are kept.")
    return _render(request, SAML)


# --- SCIM --------------------------------------------------------------------------------------


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def scim_token_create(request):
    form = ScimTokenCreateForm(request.POST)
    if form.is_valid():
        try:
            token, secret = scim_services.scim_token_create(
                workspace=request.workspace, actor=request.user, name=form.cleaned_data["name"]
            )
        except DomainError as error:
            _error_on(form, error)
        else:
            return _render(request, SCIM, new_token=token, new_secret=secret)
    return _render(request, SCIM, status=422, scim_token_form=form)


def _scim_token_action(request, token_id: str, action):
    token = scim_selectors.scim_token_get(workspace=request.workspace, public_id=token_id)
    try:
        extra = action(token)
    except DomainError as error:
        return _render(request, SCIM, status=409, scim_error=error.message)
    return _render(request, SCIM, **extra)


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def scim_token_rotate(request, token_id: str):
    def rotate(token):
        new_token, secret = scim_services.scim_token_rotate(
            workspace=request.workspace, actor=request.user, token=token
        )
        return {"new_token": new_token, "new_secret": secret, "rotated_from": token}

    return _scim_token_action(request, token_id, rotate)


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def scim_token_revoke(request, token_id: str):
    def revoke(token):
        scim_services.scim_token_revoke(
            workspace=request.workspace, actor=request.user, token=token
        )
        flash(request, f"SCIM token “{token.name or token.display_prefix}” revoked.")
        return {}

    return _scim_token_action(request, token_id, revoke)


@workspace_view(Action.SECURITY_SETTINGS)
@require_POST
def scim_settings(request):
    form = ScimSettingsForm(request.POST)

    def call(form):
        scim_services.scim_settings_update(
            workspace=request.workspace,
            actor=request.user,
            default_role=form.cleaned_data["default_role"],
        )

    return _submit(request, form, SCIM, "scim_settings_form", call, "SCIM settings saved.")
