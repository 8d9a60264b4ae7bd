"""Dashboard pages for workspaces, members, invitations and API keys. Thin: parse the form,
call one service, render the page or (for htmx) the section that changed."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from tracklayer.exceptions import DomainError
from workspaces import selectors, services
from workspaces.dashboard import flash, form_error, render_htmx, workspace_view
from workspaces.forms import (
    AcceptNewAccountForm,
    ApiKeyCreateForm,
    ApiKeyRotateForm,
    InviteForm,
    RoleForm,
    WorkspaceCreateForm,
    WorkspaceDeleteForm,
    WorkspaceSettingsForm,
)
from workspaces.models import User
from workspaces.policy import Action
from workspaces.residency import workspace_data_residency


@login_required
def home(request):
    """The first workspace of the user, or the page that creates one."""
    workspace = selectors.workspace_list_for_user(user=request.user).first()
    if workspace is None:
        return redirect("dashboard:workspace-create")
    return redirect("monitoring:overview", slug=workspace.slug)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_create(request):
    form = WorkspaceCreateForm(request.POST or None)
    if form.is_valid():
        try:
            workspace = services.workspace_create(
                actor=request.user,
                owner=request.user,
                name=form.cleaned_data["name"],
                region=form.cleaned_data["region"],
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, f"Workspace “{workspace.name}” created.")
            return redirect("monitoring:overview", slug=workspace.slug)
    return render(request, "workspaces/workspace_create.html", {"form": form}, status=_status(form))


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


# --- Members -------------------------------------------------------------------------------


def _members_context(request, **extra) -> dict:
    workspace = request.workspace
    return {
        "members": selectors.member_list(workspace=workspace),
        "invitations": selectors.invitation_list_pending(workspace=workspace),
        "invite_form": extra.pop("invite_form", None) or InviteForm(),
        **extra,
    }


@workspace_view(Action.MEMBER_VIEW)
def members(request):
    return render_htmx(
        request, "workspaces/members.html", "workspaces/_members.html", _members_context(request)
    )


@workspace_view(Action.MEMBER_INVITE)
@require_POST
def member_invite(request):
    form = InviteForm(request.POST)
    invite_link = None
    if form.is_valid():
        try:
            invitation, token = services.member_invite(
                workspace=request.workspace,
                actor=request.user,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except DomainError as error:
            form_error(form, error)
        else:
            invite_link = services.invitation_url(token)
            form = InviteForm()
            flash(request, f"Invitation sent to {invitation.email}.")
    return render_htmx(
        request,
        "workspaces/members.html",
        "workspaces/_members.html",
        _members_context(request, invite_form=form, invite_link=invite_link),
        status=422 if form.errors else 200,
    )


def _member_action(request, user_id: str, action):
    membership = selectors.member_get(workspace=request.workspace, user_public_id=user_id)
    error, status = None, 200
    try:
        message = action(membership)
    except DomainError as exc:
        error, status = exc.message, exc.status
    else:
        flash(request, message)
    if request.membership.pk == membership.pk and not error:
        # Changing or removing yourself can take this page away from you.
        return HttpResponseClientRedirect("/") if request.htmx else redirect("dashboard:home")
    return render_htmx(
        request,
        "workspaces/members.html",
        "workspaces/_members.html",
        _members_context(request, member_error=error),
        status=status,
    )


@workspace_view(Action.MEMBER_CHANGE_ROLE)
@require_POST
def member_change_role(request, user_id: str):
    form = RoleForm(request.POST)
    if not form.is_valid():
        return render_htmx(
            request,
            "workspaces/members.html",
            "workspaces/_members.html",
            _members_context(request, member_error="Choose a valid role."),
            status=422,
        )

    def change(membership):
        services.membership_change_role(
            workspace=request.workspace,
            actor=request.user,
            membership=membership,
            role=form.cleaned_data["role"],
        )
        return f"{membership.user.display_name} is now {form.cleaned_data['role']}."

    return _member_action(request, user_id, change)


@workspace_view(Action.WORKSPACE_VIEW)  # members may leave; removing others is checked below
@require_POST
def member_remove(request, user_id: str):
    def remove(membership):
        services.membership_remove(
            workspace=request.workspace, actor=request.user, membership=membership
        )
        return f"{membership.user.display_name} was removed."

    return _member_action(request, user_id, remove)


@workspace_view(Action.MEMBER_INVITE)
@require_POST
def invitation_revoke(request, invitation_id: str):
    invitation = selectors.invitation_get(workspace=request.workspace, public_id=invitation_id)
    error = None
    try:
        services.invitation_revoke(
            workspace=request.workspace, actor=request.user, invitation=invitation
        )
    except DomainError as exc:
        error = exc.message
    else:
        flash(request, f"Invitation for {invitation.email} revoked.")
    return render_htmx(
        request,
        "workspaces/members.html",
        "workspaces/_members.html",
        _members_context(request, member_error=error),
        status=409 if error else 200,
    )


# --- API keys ------------------------------------------------------------------------------


def _keys_context(request, **extra) -> dict:
    return {
        "api_keys": selectors.api_key_list(workspace=request.workspace),
        "create_form": extra.pop("create_form", None) or ApiKeyCreateForm(),
        "rotate_form": ApiKeyRotateForm(),
        "now": timezone.now(),
        **extra,
    }


def _render_keys(request, status: int = 200, **extra):
    return render_htmx(
        request,
        "workspaces/api_keys.html",
        "workspaces/_api_keys.html",
        _keys_context(request, **extra),
        status=status,
    )


@workspace_view(Action.API_KEY_VIEW)
def api_keys(request):
    return _render_keys(request)


@workspace_view(Action.API_KEY_MANAGE)
@require_POST
def api_key_create(request):
    form = ApiKeyCreateForm(request.POST)
    if form.is_valid():
        try:
            key, token = services.api_key_create(
                workspace=request.workspace,
                actor=request.user,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                environment=form.cleaned_data["environment"],
                expires_at=form.expires_at(timezone.now()),
            )
        except DomainError as error:
            form_error(form, error)
        else:
            return _render_keys(request, new_key=key, new_token=token)
    return _render_keys(request, status=422, create_form=form)


@workspace_view(Action.API_KEY_MANAGE)
@require_POST
def api_key_rotate(request, key_id: str):
    key = selectors.api_key_get(workspace=request.workspace, public_id=key_id)
    form = ApiKeyRotateForm(request.POST)
    if not form.is_valid():
        return _render_keys(request, status=422, key_error="Choose a grace period.")
    try:
        new_key, token = services.api_key_rotate(
            workspace=request.workspace, actor=request.user, key=key, grace=form.grace_period
        )
    except DomainError as error:
        return _render_keys(request, status=409, key_error=error.message)
    return _render_keys(request, new_key=new_key, new_token=token, rotated_from=key)


@workspace_view(Action.API_KEY_MANAGE)
@require_POST
def api_key_revoke(request, key_id: str):
    key = selectors.api_key_get(workspace=request.workspace, public_id=key_id)
    try:
        services.api_key_revoke(workspace=request.workspace, actor=request.user, key=key)
    except DomainError as error:
        return _render_keys(request, status=409, key_error=error.message)
    flash(request, f"Key “{key.name}” ({key.display_prefix}…) revoked.")
    return _render_keys(request)


# --- Settings ------------------------------------------------------------------------------


@workspace_view(Action.WORKSPACE_VIEW)
@require_http_methods(["GET", "POST"])
def workspace_settings(request):
    workspace = request.workspace
    form = WorkspaceSettingsForm(request.POST or None, initial={"name": workspace.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.workspace_update(
                workspace=workspace,
                actor=request.user,
                name=form.cleaned_data["name"],
                region=form.cleaned_data["region"] or None,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(request, "Settings saved.")
            return redirect("dashboard:settings", slug=workspace.slug)
    return _render_settings(request, form=form, status=_status(form))


def _render_settings(request, *, form=None, delete_form=None, status: int = 200):
    workspace = request.workspace
    return render_htmx(
        request,
        "workspaces/settings.html",
        "workspaces/settings.html",
        {
            "form": form or WorkspaceSettingsForm(initial={"name": workspace.name}),
            "delete_form": delete_form or WorkspaceDeleteForm(),
            "residency": workspace_data_residency(workspace=workspace),
        },
        status=status,
    )


@workspace_view(Action.WORKSPACE_DELETE)
@require_POST
def workspace_delete(request):
    """Settings → Delete workspace: the slug typed out. Deleted, the workspace is gone for
    everybody (404) and the admin lands on their next workspace (or the page that makes one)."""
    form = WorkspaceDeleteForm(request.POST)
    if form.is_valid():
        try:
            workspace = services.workspace_delete(
                workspace=request.workspace,
                actor=request.user,
                confirm_slug=form.cleaned_data["confirm_slug"],
            )
        except DomainError as error:
            form_error(form, error)
            status = 422 if error.field else error.status
            return _render_settings(request, delete_form=form, status=status)
        flash(
            request,
            f"Workspace “{workspace.name}” deleted. Its data is kept until "
            f"{workspace.purge_after:%Y-%m-%d} and can be restored by support until then.",
        )
        url = reverse("dashboard:home")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _render_settings(request, delete_form=form, status=422)


# --- Invitations (the invitee's side; no workspace membership yet) ----------------------------


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_find(token=token)
    except DomainError as error:
        return render(request, "workspaces/invitation_invalid.html", {"error": error}, status=404)
    has_account = User.objects.filter(email__iexact=invitation.email).exists()
    form = None
    error = None
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = services.invitation_accept(token=token, user=request.user)
            except DomainError as exc:
                error = exc.message
            else:
                flash(request, f"Welcome to {membership.workspace.name}.")
                return redirect("monitoring:overview", slug=membership.workspace.slug)
    elif not has_account:
        form = AcceptNewAccountForm(request.POST or None, email=invitation.email)
        if request.method == "POST" and form.is_valid():
            try:
                membership = services.invitation_accept_new_user(
                    token=token,
                    password=form.cleaned_data["password"],
                    name=form.cleaned_data["name"],
                )
            except DomainError as exc:
                error = exc.message
            else:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
                services.auth_sign_in_succeeded(user=membership.user, method="invitation")
                flash(request, f"Welcome to {membership.workspace.name}.")
                return redirect("monitoring:overview", slug=membership.workspace.slug)
    return render(
        request,
        "workspaces/invitation_accept.html",
        {
            "invitation": invitation,
            "form": form,
            "error": error,
            "has_account": has_account,
            "login_url": f"{reverse('account_login')}?next={request.path}",
        },
        status=400 if error or (form is not None and form.errors) else 200,
    )
