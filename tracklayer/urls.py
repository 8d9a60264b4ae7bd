from django.contrib import admin
from django.urls import include, path

from tracklayer import health
from workspaces.auth import mfa_hooks

# Under /v1/ these answer JSON ({"error": …}); elsewhere Django's pages (tracklayer/api.py).
handler400 = "tracklayer.api.bad_request"
handler403 = "tracklayer.api.permission_denied"
handler404 = "tracklayer.api.page_not_found"
handler500 = "tracklayer.api.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # allauth's TOTP views, wrapped so that the change is audited in its own transaction.
    path("accounts/2fa/totp/activate/", mfa_hooks.activate_totp, name="mfa_activate_totp"),
    path("accounts/2fa/totp/deactivate/", mfa_hooks.deactivate_totp, name="mfa_deactivate_totp"),
    path(
        "accounts/2fa/recovery-codes/generate/",
        mfa_hooks.generate_recovery_codes,
        name="mfa_generate_recovery_codes",
    ),
    path("accounts/", include("allauth.urls")),
    path("v1/", include("tracklayer.api_urls")),
    path("sso/saml/", include("workspaces.sso.urls")),
    path("scim/v2/", include("workspaces.scim.urls")),
    path("", include("audit.urls")),
    path("", include("privacy.urls")),
    path("", include("monitoring.anomalies.urls")),
    path("", include("monitoring.incidents.urls")),
    path("", include("compliance.controls.urls")),
    path("", include("compliance.access_reviews.urls")),
    path("", include("compliance.inventory.urls")),
    path("", include("compliance.package.urls")),
    path("", include("compliance.public_verification.urls")),
    path("", include("destinations.urls")),
    # The Overview (/w/<slug>/) before workspaces' pages under the same prefix.
    path("", include("monitoring.overview.urls")),
    path("", include("workspaces.urls")),
]
