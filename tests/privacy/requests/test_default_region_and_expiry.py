"""Issue 15's small items: phone numbers without a country code (the request's
``default_region``), and an access request's export expiring with its working data."""

from datetime import timedelta

import pytest
from django.utils import timezone

from destinations.models import Event
from privacy.models import DataSubjectRequest
from privacy.requests import services
from privacy.requests.tasks import dsr_access_expire_task
from tests.privacy.requests.conftest import EMAIL, ingest
from tests.privacy.requests.test_requests import working_rows

pytestmark = pytest.mark.django_db

NATIONAL = "030 1234567"  # Ada's "+49 30 1234567" as written in Germany


# --- default_region -----------------------------------------------------------------------


def test_a_phone_without_country_code_and_no_region_is_a_400_saying_what_to_add(admin_api):
    body = {"type": "delete", "subject": {"phone": NATIONAL}}
    answer = admin_api.post("data_subject_requests", body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["field"], error["code"]) == ("subject.phone", "phone_no_country_code")
    assert "default_region" in error["message"] and "+" in error["message"]
    assert NATIONAL not in answer.content.decode()


def test_the_refused_phone_of_a_list_is_named_by_its_index(admin_api):
    body = {"type": "delete", "subjects": [{"email": EMAIL}, {"phone": NATIONAL}]}
    error = admin_api.post("data_subject_requests", body).json()["error"]
    assert (error["field"], error["code"]) == ("subjects[1].phone", "phone_no_country_code")


@pytest.mark.parametrize(
    ("phone", "code"),
    [(["+49 30 1234567"], "invalid_type"), ("030\x00123", "invalid")],
)
def test_a_phone_refused_for_another_reason_is_not_told_to_add_a_country_code(
    admin_api, phone, code
):
    body = {"type": "delete", "subject": {"phone": phone}}
    answer = admin_api.post("data_subject_requests", body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["field"], error["code"]) == ("subject.phone", code)
    assert "default_region" not in error["message"]


@pytest.mark.parametrize("region", ["XX", "Germany", "D", 49, ["DE"], "ZZ", "d e"])
def test_a_bad_default_region_is_a_400_naming_it(admin_api, region):
    body = {"type": "delete", "subject": {"phone": NATIONAL}, "default_region": region}
    answer = admin_api.post("data_subject_requests", body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["field"], error["code"]) == ("default_region", "invalid_region")


def test_a_bad_default_region_is_refused_even_without_a_phone(admin_api):
    body = {"type": "delete", "subject": {"email": EMAIL}, "default_region": "XX"}
    assert admin_api.post("data_subject_requests", body).json()["error"]["field"] == (
        "default_region"
    )


def test_a_national_phone_with_its_region_matches_the_stored_number(
    admin_api, workspace, make_api_key
):
    ingest(make_api_key, workspace)  # Ada's identify carries "+49 30 1234567"
    body = {"type": "delete", "subject": {"phone": NATIONAL}, "default_region": "de"}
    answer = admin_api.post("data_subject_requests", body)
    assert answer.status_code == 202, answer.content
    assert services.dsr_run(request_id=answer.json()["id"]) == "completed"
    assert DataSubjectRequest.objects.get(public_id=answer.json()["id"]).counts["events"] == 1
    assert not Event.objects.for_workspace(workspace).filter(message_id="m-1").exists()


def test_the_default_region_does_not_change_a_number_with_its_own_code(
    admin_api, workspace, make_api_key
):
    ingest(make_api_key, workspace)
    body = {"type": "access", "subject": {"phone": "+49 30 1234567"}, "default_region": "US"}
    request_id = admin_api.post("data_subject_requests", body).json()["id"]
    services.dsr_run(request_id=request_id)
    assert DataSubjectRequest.objects.get(public_id=request_id).counts["events"] == 1


def test_the_dashboard_form_passes_the_default_region(client, admin_user, workspace):
    client.force_login(admin_user)
    url = f"/w/{workspace.slug}/privacy/requests/"
    page = client.post(url, {"type": "access", "phone": NATIONAL})
    assert page.status_code == 422
    assert "default_region" in page.content.decode()
    page = client.post(url, {"type": "access", "phone": NATIONAL, "default_region": "DE"})
    assert page.status_code in (200, 302)
    assert DataSubjectRequest.objects.filter(workspace=workspace, type="access").count() == 1


# --- An access request's export expires ---------------------------------------------------


def completed_access(admin_api, workspace, make_api_key) -> DataSubjectRequest:
    ingest(make_api_key, workspace)
    request_id = admin_api.post(
        "data_subject_requests", {"type": "access", "subject": {"email": EMAIL}}
    ).json()["id"]
    services.dsr_run(request_id=request_id)
    return DataSubjectRequest.objects.get(public_id=request_id)


def test_an_export_is_kept_30_days_then_answers_410(admin_api, workspace, make_api_key):
    request = completed_access(admin_api, workspace, make_api_key)
    answer = admin_api.get(f"data_subject_requests/{request.public_id}/export")
    assert answer.status_code == 200
    assert answer.json()["expires_at"]
    assert len(answer.json()["events"]) == 2

    DataSubjectRequest.objects.filter(pk=request.pk).update(
        finished_at=timezone.now() - timedelta(days=services.ACCESS_EXPORT_DAYS, minutes=1)
    )
    answer = admin_api.get(f"data_subject_requests/{request.public_id}/export")
    assert answer.status_code == 410
    assert answer.json()["error"]["code"] == "export_expired"


@pytest.mark.parametrize("days", [31, 400])  # 400: the daily run was missed for long
def test_the_periodic_task_forgets_expired_working_data_only(
    admin_api, workspace, make_api_key, days
):
    old = completed_access(admin_api, workspace, make_api_key)
    recent_id = admin_api.post(
        "data_subject_requests", {"type": "access", "subject": {"email": "x@example.org"}}
    ).json()["id"]
    services.dsr_run(request_id=recent_id)
    DataSubjectRequest.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - timedelta(days=days)
    )
    before = working_rows("region_us", "privacy_requestsubject")

    assert dsr_access_expire_task() == 1
    after = working_rows("region_us", "privacy_requestsubject")
    assert 0 < after < before  # the recent request's hashes are still there
    assert dsr_access_expire_task() == 0  # nothing left to forget
