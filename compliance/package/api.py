"""``GET /v1/evidence/package``: the auditor package as a zip (admin keys only).

Thin: one service, its zip streamed back. It holds no request transaction (the service
manages its own: docs/adr/0022), so ``api_urls`` wraps it in ``non_atomic_requests``."""

from django.db import transaction
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from compliance.package.services import REQUIRED_ACTION, evidence_package_build
from tracklayer.api import ErrorResponse, WorkspaceApi


class EvidencePackageApi(WorkspaceApi):
    required_action = REQUIRED_ACTION

    def handle_exception(self, exc):
        # This view holds no request transaction; DRF's handler marks "the" transaction for
        # rollback. Give it one of its own to mark, so that a caller's (a test's) is not.
        with transaction.atomic():
            return super().handle_exception(exc)

    def perform_content_negotiation(self, request, force=False):
        # The answer is a zip whatever ``Accept`` asks for (``Accept: application/zip`` must
        # not be a 406); errors are JSON, as everywhere under /v1/.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="evidence_package_retrieve",
        summary="Build and download the auditor package (zip; verify it offline with "
        "`tracklayer evidence verify`)",
        description=(
            "A zip of the workspace's evidence: `manifest.json` (format "
            "`tracklayer.evidence-manifest.v1`: every other file's path, size and SHA-256, the "
            "workspace, the time and the tree size and root of the checkpoint it binds to), "
            "`manifest.sig` (a C2SP signed note by the workspace's audit key over the manifest's "
            "SHA-256, the origin, size and root), `checkpoint.note` (that checkpoint), "
            "`audit/audit-export.json` (the log up to it), `controls.json` (every control with "
            "its status and live evidence), the latest access review, the destination "
            "inventory, data-subject requests and their receipts, retention and purges, and "
            "every incident's export (docs/evidence-center.md). Building is "
            "recorded in the audit log as `evidence.package_built`."
        ),
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The package (a zip)."
            ),
            409: OpenApiResponse(
                ErrorResponse,
                description="A package of this workspace is being built now "
                "(`package_in_progress`: ask again when it is done), or the log contradicts its "
                "last checkpoint (`audit_integrity_error`: nothing is signed over it).",
            ),
        },
        parameters=[
            OpenApiParameter(
                "Content-Disposition",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                required=True,
                description='`attachment; filename="tracklayer-evidence-<workspace>-<UTC '
                'time>.zip"`',
            ),
            OpenApiParameter(
                "X-Manifest-SHA256",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                required=True,
                description="The SHA-256 of the package's `manifest.json` (hex), as its audit "
                "entry records it.",
            ),
        ],
        tags=["evidence"],
    )
    def get(self, request):
        package = evidence_package_build(workspace=self.workspace, actor=request.auth)
        response = FileResponse(
            package.file,
            as_attachment=True,
            filename=package.filename,
            content_type="application/zip",
        )
        response["Content-Length"] = str(package.size)
        response["X-Manifest-SHA256"] = package.manifest_sha256
        return response
