from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from tracklayer.api import ErrorResponse, KeyRequired, StrictCharField, WorkspaceApi
from workspaces import selectors, services
from workspaces.models import Region
from workspaces.policy import Action
from workspaces.residency import workspace_data_residency


class RegionOutput(serializers.Serializer):
    region = serializers.ChoiceField(choices=Region.choices)
    label = serializers.CharField(help_text="`United States`, `European Union`.")


@extend_schema_serializer(component_name="DataResidency")
class DataResidencyOutput(serializers.Serializer):
    """Where the workspace's data is stored: the same text the dashboard shows."""

    region = serializers.ChoiceField(choices=Region.choices)
    label = serializers.CharField()
    stored_in_region = serializers.ListField(
        child=serializers.CharField(), help_text="Stored in the region's own database."
    )
    stored_centrally = serializers.ListField(
        child=serializers.CharField(),
        help_text="Stored in TrackLayer's central (control-plane) database.",
    )
    moving_to = RegionOutput(
        allow_null=True, help_text="While a move copies the data: where to. Otherwise null."
    )
    notice = serializers.CharField(
        allow_null=True, help_text="While a move copies the data: ingestion is paused."
    )
    pinned = serializers.CharField(help_text="How the region is chosen and changed.")

    def to_representation(self, workspace):
        return super().to_representation(workspace_data_residency(workspace=workspace))


class WhoAmIApi(WorkspaceApi):
    """Which workspace and key a request authenticates as — the first call an integration makes."""

    permission_classes = [KeyRequired]

    @extend_schema_serializer(component_name="WhoAmIOutput")
    class OutputSerializer(serializers.Serializer):
        workspace_id = serializers.CharField(source="workspace.public_id")
        workspace_name = serializers.CharField(source="workspace.name")
        region = serializers.CharField(source="workspace.region")
        data_residency = DataResidencyOutput(source="workspace")
        key_id = serializers.CharField(source="public_id")
        key_prefix = serializers.CharField(source="display_prefix")
        role = serializers.CharField()
        expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never expires.")

    @extend_schema(responses=OutputSerializer, tags=["workspace"])
    def get(self, request):
        return Response(self.OutputSerializer(request.auth).data)


class WorkspaceDetailApi(WorkspaceApi):
    """The key's workspace: read it, rename it. Its region is pinned (``region_pinned``)."""

    @property
    def required_action(self) -> Action:
        return Action.WORKSPACE_UPDATE if self.request.method == "PATCH" else Action.WORKSPACE_VIEW

    @extend_schema_serializer(component_name="WorkspaceOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField(source="public_id")
        name = serializers.CharField()
        slug = serializers.CharField()
        region = serializers.ChoiceField(choices=Region.choices)
        data_residency = DataResidencyOutput(source="*")
        created_at = serializers.DateTimeField()

    @extend_schema_serializer(component_name="WorkspaceUpdateInput")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(required=False, max_length=100)
        region = serializers.ChoiceField(
            choices=Region.choices,
            required=False,
            help_text="Accepted only if it is the workspace's region: the region is pinned.",
        )

    @extend_schema(responses=OutputSerializer, tags=["workspace"])
    def get(self, request):
        return Response(self.OutputSerializer(self.workspace).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            409: OpenApiResponse(
                ErrorResponse,
                description="Another region (`region_pinned`): only a verified move by "
                "TrackLayer's staff (`tracklayer workspace move-region`) changes it.",
            ),
        },
        tags=["workspace"],
    )
    def patch(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = services.workspace_update(
            workspace=self.workspace,
            actor=request.auth,
            name=data.validated_data.get("name", self.workspace.name),
            region=data.validated_data.get("region"),
        )
        return Response(self.OutputSerializer(workspace).data)


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
