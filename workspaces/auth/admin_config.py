"""Makes ``workspaces.auth.admin_site.AdminSite`` Django's default admin site (``admin.site``),
so every ``@admin.register`` — ours and third-party apps' — lands on the site that has no
password-only sign-in. Listed in ``INSTALLED_APPS`` in place of ``django.contrib.admin``."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "workspaces.auth.admin_site.AdminSite"
