"""``/scim/v2/…``: SCIM 2.0 (RFC 7644) for the workspace the bearer token belongs to."""

app_name = "scim"
urlpatterns: list = []
