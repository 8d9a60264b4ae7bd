"""Builders for the auditor package tests: a workspace with evidence of every kind — a
completed access review, a destination, a completed deletion request (with its receipt), an
incident, a retention purge on record — and a package built from it."""

import io
import zipfile

import pytest
from django.db import transaction

from audit.services import audit_record
from compliance.access_reviews import services as review_services
from compliance.package.services import evidence_package_build
from monitoring.incidents import services as incident_services
from privacy.requests import services as dsr_services
from tests.destinations.factories import DestinationFactory
from workspaces.actors import SystemActor


def build(workspace, actor) -> dict:
    """Build a package; its bytes, its files by name, and the package object."""
    package = evidence_package_build(workspace=workspace, actor=actor)
    with package.file:
        data = package.file.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return {"bytes": data, "files": files, "package": package}


def rezip(files: dict[str, bytes]) -> bytes:
    """A zip of ``files`` as given (names as they are, in order)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def evidence(workspace, admin_user, *, label: str = "Evidence") -> dict:
    """One piece of evidence of each kind in ``workspace``."""
    system = SystemActor("tests")
    destination = DestinationFactory(workspace=workspace, name=f"{label} Destination")
    campaign = review_services.access_review_open(workspace=workspace, actor=admin_user)
    for item in campaign.items.all():
        review_services.access_review_decide(
            workspace=workspace,
            actor=admin_user,
            campaign=campaign,
            item_id=item.public_id,
            decision="confirm",
        )
    review_services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)
    request = dsr_services.dsr_create(
        workspace=workspace,
        actor=system,
        type="delete",
        subject={"user_id": f"{label.lower()}-user"},
        enqueue=False,
    )
    dsr_services.dsr_run(request_id=request.public_id)
    incident = incident_services.incident_open_auto(
        workspace=workspace,
        source_kind="anomaly",
        source_id=f"ano_{label.lower()}",
        title=f"{label} Incident",
        severity="high",
        subject=f"destination:{destination.public_id}",
    )
    # What a retention purge records (destinations.retention.purge), as its entry
    with transaction.atomic():
        audit_record(
            workspace=workspace,
            actor=SystemActor("retention"),
            event_type="events.operational_data_purged",
            resource_type="workspace",
            resource_id=workspace.public_id,
            payload={"counts": {"events": 3}, "region": workspace.region},
        )
    return {
        "destination": destination,
        "campaign": campaign,
        "request": request,
        "incident": incident,
    }


@pytest.fixture
def stocked(workspace, admin_user) -> dict:
    return evidence(workspace, admin_user)


@pytest.fixture
def built(stocked, workspace, admin_user) -> dict:
    return {**build(workspace, admin_user), **stocked}


@pytest.fixture
def vkey(built) -> str:
    return built["package"].manifest["verifier_key"]
