"""Compliance's API paths under /v1/ (included by tracklayer.api_urls, names under ``api:``)."""

from django.db import transaction
from django.urls import path

from compliance.package import api as package_api
from compliance.public_verification import api as public_api

urlpatterns: list = [
    # The auditor package manages its own transactions (docs/adr/0022).
    path(
        "evidence/package",
        transaction.non_atomic_requests(package_api.EvidencePackageApi.as_view()),
        name="evidence-package",
    ),
    # Public verification: no key, no session (compliance/public_verification/api.py).
    path(
        "public/workspaces/<str:workspace_id>/verification",
        public_api.PublicVerificationApi.as_view(),
        name="public-verification",
    ),
    path(
        "public/workspaces/<str:workspace_id>/proof",
        public_api.PublicInclusionProofApi.as_view(),
        name="public-verification-proof",
    ),
]
