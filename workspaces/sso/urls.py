"""``/sso/saml/<slug>/…``: the workspace's service provider endpoints."""

from django.urls import path

from workspaces.sso import views

app_name = "sso"
urlpatterns = [
    path("<slug:slug>/metadata/", views.metadata, name="metadata"),
    path("<slug:slug>/login/", views.login_start, name="login"),
    path("<slug:slug>/acs/", views.acs, name="acs"),
    path("<slug:slug>/logout/", views.logout_start, name="logout"),
    path("<slug:slug>/sls/", views.sls, name="sls"),
]
