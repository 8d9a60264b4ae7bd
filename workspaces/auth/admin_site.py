"""The Django admin, signed in to only through the dashboard's sign-in.

Django's own admin login form checks a password and nothing else: it skipped allauth's MFA
stage, its rate limits and the audit log (issue 11, finding 2). Here the admin has no sign-in
of its own. ``/admin/login/`` sends the visitor to allauth's sign-in (password, then the
authenticator app; rate-limited by ``ACCOUNT_RATE_LIMITS``; every outcome audited by
``workspaces.auth.adapter``) with ``?next=`` back to the admin, and a form posted to it
authenticates nobody.

Guarantees:
- ``/admin/login/`` never authenticates, whatever is posted to it;
- with ``STAFF_MFA_REQUIRED`` (always on in production) a staff member reaches the admin only
  with an active TOTP authenticator *and* a session in which that second factor was used;
  without an authenticator they are sent to set one up, without the second factor in this
  session to confirm it (allauth's MFA reauthentication);
- the admin's password-change page is allauth's (which is rate-limited and reauthenticates);
- every model registered on it, by us or by a library, is read-only (``tracklayer.admin``):
  a direct edit would skip the services and the audit log.
"""

from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from tracklayer.admin import read_only


def staff_has_totp(user) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def session_used_mfa(request) -> bool:
    """True when this session's sign-in (or a later reauthentication) passed the second
    factor, as allauth recorded it."""
    return any(
        record.get("method") == "mfa"
        for record in get_authentication_records(request, request.user)
    )


def staff_mfa_satisfied(request) -> bool:
    if not settings.STAFF_MFA_REQUIRED:
        return True
    return staff_has_totp(request.user) and session_used_mfa(request)


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"


class AdminSite(admin.AdminSite):
    site_header = "TrackLayer administration"
    site_title = "TrackLayer admin"

    def register(self, model_or_iterable, admin_class=None, **options):
        # Libraries register editable admins (allauth's e-mail addresses: a verified address of
        # the editor's choosing, then a password reset to it; Celery beat's schedule: the
        # retention purge switched off) — none of it audited. Every admin is made read-only here.
        admin_class = read_only(admin_class or admin.ModelAdmin)
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request) -> bool:
        return super().has_permission(request) and staff_mfa_satisfied(request)

    def _next_url(self, request) -> str:
        candidate = request.GET.get(REDIRECT_FIELD_NAME, "")
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
        return reverse("admin:index", current_app=self.name)

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        """Not a sign-in form: where the admin sends a visitor it does not let in."""
        next_url = self._next_url(request)
        user = request.user
        if not user.is_authenticated:
            return redirect(_with_next(reverse("account_login"), next_url))
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("The admin is for staff only.")
        if settings.STAFF_MFA_REQUIRED and not staff_has_totp(user):
            messages.warning(
                request,
                "Staff need an authenticator app to use the admin: activate one, then open "
                "the admin again.",
            )
            return redirect(reverse("mfa_activate_totp"))
        if settings.STAFF_MFA_REQUIRED and not session_used_mfa(request):
            return redirect(_with_next(reverse("mfa_reauthenticate"), next_url))
        return redirect(next_url)

    def password_change(self, request, extra_context=None):
        return redirect(reverse("account_change_password"))
