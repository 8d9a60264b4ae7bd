"""``/sso/saml/<slug>/…``: the workspace's service provider endpoints."""

app_name = "sso"
urlpatterns: list = []
