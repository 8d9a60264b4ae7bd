"""``GET /v1/evidence/package`` (admin keys) and the page's download button: the zip, its
name, its audit entry; other roles refused in the API's envelope; another workspace's evidence
never in it."""

import io
import json
import re
import zipfile

import pytest
from django.core.cache import cache
from django.utils.html import escape

from audit.exceptions import AuditIntegrityError
from compliance.package import services
from compliance.package.offline import verify_package
from compliance.package.selectors import EVENT_TYPE
from tests.audit_entries import audit_count, last_entry
from tests.compliance.package.conftest import evidence
from workspaces.models import ApiKeyRole

URL = "/v1/evidence/package"
FILENAME = re.compile(r'attachment; filename="tracklayer-evidence-acme-\d{8}T\d{6}Z\.zip"')


def _zip(response) -> bytes:
    return b"".join(response.streaming_content)


def _texts(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "\n".join(archive.read(name).decode() for name in archive.namelist())


def test_an_admin_key_downloads_the_package(api_client, workspace, make_api_key, stocked):
    key, token = make_api_key(workspace, role=ApiKeyRole.ADMIN)

    response = api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert FILENAME.fullmatch(response["Content-Disposition"])
    data = _zip(response)
    assert int(response["Content-Length"]) == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    result = verify_package(io.BytesIO(data), vkeys=[manifest["verifier_key"]])
    assert result.valid, result.failure
    entry = last_entry(workspace)
    assert (entry["event_type"], entry["actor"]) == (EVENT_TYPE, f"api_key:{key.public_id}")
    assert entry["payload"]["manifest_sha256"] == response["X-Manifest-SHA256"]


def test_accept_application_zip_is_answered(api_client, workspace, make_api_key):
    _key, token = make_api_key(workspace, role=ApiKeyRole.ADMIN)

    response = api_client.get(
        URL, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/zip"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"


@pytest.mark.parametrize("role", [ApiKeyRole.WRITE, ApiKeyRole.AUDIT])
def test_other_keys_are_refused_in_the_api_envelope(api_client, workspace, make_api_key, role):
    _key, token = make_api_key(workspace, role=role)
    before = audit_count(workspace)

    response = api_client.get(
        URL, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/zip"
    )

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "permission_denied"
    assert audit_count(workspace) == before


def test_no_key_is_401(api_client, workspace):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_missing"


def test_another_workspaces_evidence_is_never_in_the_package(
    api_client, workspace, admin_user, other_workspace, other_admin_user, make_api_key
):
    theirs = evidence(workspace, admin_user, label="Victim")
    evidence(other_workspace, other_admin_user, label="Mine")
    _key, token = make_api_key(other_workspace, role=ApiKeyRole.ADMIN)

    response = api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    text = _texts(_zip(response))
    assert "Mine Incident" in text and "Mine Destination" in text
    for marker in (
        workspace.public_id,
        admin_user.public_id,
        theirs["incident"].public_id,
        "Victim Incident",
        "Victim Destination",
        theirs["destination"].public_id,
        theirs["request"].public_id,
        theirs["campaign"].public_id,
    ):
        assert marker not in text


# --- The page -----------------------------------------------------------------------------------


def test_the_page_shows_what_the_package_holds_and_how_to_verify(client, workspace, admin_user):
    client.force_login(admin_user)

    response = client.get(f"/w/{workspace.slug}/compliance/package/")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="package-download"' in body
    assert "tracklayer evidence verify" in body
    assert "No package built yet." in body


def test_the_download_button_gives_the_zip_and_the_page_lists_it(
    client, workspace, admin_user, stocked
):
    client.force_login(admin_user)
    page = client.get(f"/w/{workspace.slug}/compliance/package/").content.decode()
    action = re.search(r'action="([^"]+)" data-testid="package-download-form"', page).group(1)

    response = client.post(action)

    assert response.status_code == 200
    assert FILENAME.fullmatch(response["Content-Disposition"])
    data = _zip(response)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert verify_package(io.BytesIO(data), vkeys=[manifest["verifier_key"]]).valid
    assert last_entry(workspace)["actor"] == f"user:{admin_user.public_id}"
    listed = client.get(f"/w/{workspace.slug}/compliance/package/").content.decode()
    assert manifest["package_id"] in listed
    # who built it, by name (audit.selectors.audit_actor_names), not by id
    assert f">{escape(admin_user.display_name)}</td>" in listed


@pytest.mark.parametrize("role", ["editor_user", "viewer_user"])
def test_the_page_and_the_download_are_for_admins(request, client, workspace, role):
    client.force_login(request.getfixturevalue(role))
    before = audit_count(workspace)

    assert client.get(f"/w/{workspace.slug}/compliance/package/").status_code == 403
    assert client.post(f"/w/{workspace.slug}/compliance/package/download/").status_code == 403
    assert audit_count(workspace) == before


def test_a_refused_build_is_shown_on_the_page(client, workspace, admin_user, monkeypatch):
    def refuse(**_):
        raise AuditIntegrityError("The log is not consistent with its checkpoint at size 3.")

    monkeypatch.setattr(services, "evidence_package_build", refuse)
    client.force_login(admin_user)

    response = client.post(f"/w/{workspace.slug}/compliance/package/download/")

    assert response.status_code == 409
    assert "not consistent with its checkpoint" in response.content.decode()


def test_one_build_at_a_time_per_workspace(api_client, workspace, make_api_key):
    _key, token = make_api_key(workspace, role=ApiKeyRole.ADMIN)
    cache.set(f"evidence-package-building:{workspace.pk}", 1)  # a build under way
    before = audit_count(workspace)

    busy = api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "package_in_progress"
    assert audit_count(workspace) == before
    # once it is done, the next one is built (and the mark does not outlive it)
    cache.delete(f"evidence-package-building:{workspace.pk}")
    assert api_client.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert cache.get(f"evidence-package-building:{workspace.pk}") is None


def test_a_build_past_its_marks_life_leaves_the_next_builds_mark(
    workspace, admin_user, monkeypatch
):
    # a build that outlived BUILDING_TTL: its mark expired and another build holds the mark
    key = services.building_key(workspace)
    real_build = services._build

    def slow_build(**kwargs):
        cache.set(key, "evb_another_build")
        return real_build(**kwargs)

    monkeypatch.setattr(services, "_build", slow_build)

    services.evidence_package_build(workspace=workspace, actor=admin_user).file.close()

    assert cache.get(key) == "evb_another_build"  # still keeps a third build waiting
