"""Shared pieces of the DRF API: the workspace-scoped base view, the policy permission and
the one exception handler that turns every error into ``{"error": {code, message, …}}``."""

from rest_framework import exceptions, permissions
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from tracklayer.exceptions import DomainError
from workspaces import policy
from workspaces.models import ApiKey


class KeyRequired(permissions.BasePermission):
    """Any valid API key, whatever its role."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            raise exceptions.NotAuthenticated()
        return True


class PolicyPermission(KeyRequired):
    """A request needs an API key whose role allows the view's ``required_action``."""

    def has_permission(self, request, view) -> bool:
        super().has_permission(request, view)
        key = request.auth
        if not policy.can(key.role, view.required_action):
            raise exceptions.PermissionDenied(
                f"This key's role ({key.role}) does not allow {view.required_action}.",
                code="permission_denied",
            )
        return True


class WorkspaceApi(APIView):
    """Base for every workspace API. The workspace is the API key's — never from the request."""

    permission_classes = [PolicyPermission]
    required_action: policy.Action

    @property
    def workspace(self):
        return self.request.auth.workspace


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"error": {"code": exc.code, "message": exc.message}}
        if exc.field:
            body["error"]["field"] = exc.field
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": {
                "code": "invalid",
                "message": "The request has invalid fields.",
                "fields": exc.get_full_details(),
            }
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.get_full_details()
        if isinstance(detail, dict) and "code" in detail:
            response.data = {"error": {"code": detail["code"], "message": detail["message"]}}
    return response
