from django.contrib import admin
from django.urls import include, path

from tracklayer import health
from workspaces.auth import mfa_hooks

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # allauth's TOTP views, wrapped so that the change is audited in its own transaction.
    path("accounts/2fa/totp/activate/", mfa_hooks.activate_totp, name="mfa_activate_totp"),
    path("accounts/2fa/totp/deactivate/", mfa_hooks.deactivate_totp, name="mfa_deactivate_totp"),
    path("accounts/", include("allauth.urls")),
    path("v1/", include("tracklayer.api_urls")),
    path("", include("audit.urls")),
    path("", include("privacy.urls")),
    path("", include("destinations.urls")),
    path("", include("workspaces.urls")),
]
