"""How the API key authentication appears in the OpenAPI schema (drf-spectacular loads this
when ``workspaces`` is ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "workspaces.auth.api_keys.ApiKeyAuthentication"
    name = ["ApiKey", "ApiKeyBasic"]

    def get_security_requirement(self, auto_schema):
        # Either scheme, not both at once (one dict per alternative, as OpenAPI reads it).
        return [{"ApiKey": []}, {"ApiKeyBasic": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer tl_live_… (or tl_test_…)",
            },
            {
                "type": "http",
                "scheme": "basic",
                "description": "The key as user name, no password.",
            },
        ]
