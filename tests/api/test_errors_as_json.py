"""Every error under /v1/ is JSON — also from the schema and docs views, which render YAML and
HTML when they succeed (found in review of issue 11: ``POST /v1/docs`` answered an HTML 405,
``PUT /v1/schema`` a YAML one)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/v1/docs"), ("put", "/v1/schema"), ("delete", "/v1/schema?format=json")],
)
def test_a_method_the_schema_and_docs_do_not_take_is_a_json_405(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_schema_itself_is_still_yaml_by_default(client):
    response = client.get("/v1/schema")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
