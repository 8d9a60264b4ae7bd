"""The auditor package's page (admins): what a package holds, the packages built (from the
audit log) and how to verify one offline; and the download (POST: building one is recorded).

Thin: the page reads two selectors; the download calls ``evidence_package_build`` and streams
its zip. Neither holds the request's transaction (``non_atomic_requests``): the service
manages its own, so a long build never keeps the log's head locked (docs/adr/0022)."""

from django.db import transaction
from django.http import FileResponse
from django.views.decorators.http import require_GET, require_POST

from compliance.package import selectors, services
from compliance.package.offline import AUDIT_EXPORT, CHECKPOINT
from tracklayer.exceptions import DomainError
from workspaces.dashboard import render_htmx, workspace_view

#: What every package holds, for the page (omitted parts are named in the manifest).
PACKAGE_LAYOUT = (
    (
        "manifest.json",
        "Every other file's path, size and SHA-256, the workspace, the time, and "
        "the size and root of the checkpoint the package binds to.",
    ),
    (
        "manifest.sig",
        "The manifest's SHA-256, the log's origin, size and root, signed with the "
        "workspace's audit key (a C2SP signed note).",
    ),
    (CHECKPOINT, "The signed checkpoint the manifest binds to, taken when the package is built."),
    (
        AUDIT_EXPORT,
        "The audit log up to that checkpoint, with its signed checkpoints "
        "(tracklayer.audit-export.v1; it reproduces the checkpoint's root).",
    ),
    (
        "controls.json",
        "Every SOC 2 and ISO 27001 control with its status, the reason and its live evidence, "
        "as the Controls page shows them when the package is built.",
    ),
    ("access-review/", "The latest completed access review (JSON and CSV)."),
    ("inventory/", "The destination inventory (JSON and CSV)."),
    (
        "privacy-requests/",
        "Every data-subject request (counts, never the people) and the "
        "receipt of each completed one, verifiable on its own.",
    ),
    (
        "retention/retention.json",
        "The retention windows, the last purge and the purge runs the log records.",
    ),
    (
        "incidents/",
        "Each incident's export (tracklayer.incident-export.v1): timeline, "
        "containment and post-mortem, with its audit entries' hashes.",
    ),
    ("README.txt", "What the package is and how to verify it, for whoever opens the zip."),
)


def _page(request, *, error: str = "", status: int = 200):
    return render_htmx(
        request,
        "compliance/package/package.html",
        "compliance/package/package.html",
        {
            "layout": PACKAGE_LAYOUT,
            "preview": selectors.package_preview(workspace=request.workspace),
            "history": selectors.package_history(workspace=request.workspace),
            "error": error,
        },
        status=status,
    )


@transaction.non_atomic_requests
@workspace_view(services.REQUIRED_ACTION)
@require_GET
def package_page(request):
    return _page(request)


@transaction.non_atomic_requests
@workspace_view(services.REQUIRED_ACTION)
@require_POST
def package_download(request):
    try:
        package = services.evidence_package_build(workspace=request.workspace, actor=request.user)
    except DomainError as error:
        return _page(request, error=error.message, status=error.status)
    response = FileResponse(
        package.file,
        as_attachment=True,
        filename=package.filename,
        content_type="application/zip",
    )
    response["Content-Length"] = str(package.size)
    response["X-Manifest-SHA256"] = package.manifest_sha256
    return response
