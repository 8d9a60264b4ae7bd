"""Pages of compliance/package (the isolation test walks them)."""

from django.urls import path

from compliance.package import views

app_name = "evidence"

PREFIX = "w/<slug:slug>/compliance/package/"

urlpatterns = [
    path(PREFIX, views.package_page, name="package"),
    path(PREFIX + "download/", views.package_download, name="package-download"),
]
