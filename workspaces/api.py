from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from tracklayer.api import KeyRequired, WorkspaceApi
from workspaces import selectors
from workspaces.policy import Action


class WhoAmIApi(WorkspaceApi):
    """Which workspace and key a request authenticates as — the first call an integration makes."""

    permission_classes = [KeyRequired]

    @extend_schema_serializer(component_name="WhoAmIOutput")
    class OutputSerializer(serializers.Serializer):
        workspace_id = serializers.CharField(source="workspace.public_id")
        workspace_name = serializers.CharField(source="workspace.name")
        region = serializers.CharField(source="workspace.region")
        key_id = serializers.CharField(source="public_id")
        key_prefix = serializers.CharField(source="display_prefix")
        role = serializers.CharField()
        expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never expires.")

    @extend_schema(responses=OutputSerializer, tags=["workspace"])
    def get(self, request):
        return Response(self.OutputSerializer(request.auth).data)


class MemberListApi(WorkspaceApi):
    required_action = Action.MEMBER_VIEW

    @extend_schema_serializer(component_name="MemberListOutput")
    class OutputSerializer(serializers.Serializer):
        user_id = serializers.CharField(source="user.public_id")
        email = serializers.EmailField(source="user.email")
        name = serializers.CharField(source="user.name")
        role = serializers.CharField()
        joined_at = serializers.DateTimeField(source="created_at")

    @extend_schema(
        responses=inline_serializer("MemberList", {"data": OutputSerializer(many=True)}),
        tags=["workspace"],
    )
    def get(self, request):
        members = selectors.member_list(workspace=self.workspace)
        return Response({"data": self.OutputSerializer(members, many=True).data})
