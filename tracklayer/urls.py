from django.contrib import admin
from django.urls import include, path

from tracklayer import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("v1/", include("tracklayer.api_urls")),
    path("", include("audit.urls")),
    path("", include("workspaces.urls")),
]
