"""The published OpenAPI schema says what the API really sends: the one error shape, every
status code the shared machinery can answer, nullable what can be null, the declared limits.
(tests/api/test_fuzz_contract.py then holds the running server to it.)"""

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


# Operations anyone may call without a key (docs/evidence-center.md, public verification):
# no security and no 401/403; they document their own 404 and 429.
PUBLIC = {
    "GET /v1/public/workspaces/{workspace_id}/verification",
    "GET /v1/public/workspaces/{workspace_id}/proof",
}


def _keyed_operations(schema):
    for name, operation in _operations(schema):
        if name not in PUBLIC:
            yield name, operation


def _schema_of(response) -> dict:
    return response["content"]["application/json"]["schema"]


def test_the_error_component_is_the_envelope_the_api_answers(schema):
    error = schema["components"]["schemas"]["Error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]

    assert error["required"] == ["error"]
    assert error["properties"]["error"]["$ref"] == "#/components/schemas/ErrorDetail"
    assert set(detail["required"]) == {"code", "message"}
    assert {"field", "fields"} <= set(detail["properties"])


def test_every_error_status_of_every_operation_is_the_envelope(schema):
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            body = _schema_of(response)
            if body["$ref"] == "#/components/schemas/IngestRefused":  # events refused, or Error
                body = schema["components"]["schemas"]["IngestRefused"]
            refs = [body.get("$ref")] + [part.get("$ref") for part in body.get("oneOf", [])]
            assert "#/components/schemas/Error" in refs, (name, status, body)


def test_every_keyed_operation_documents_401_429_and_500(schema):
    for name, operation in _keyed_operations(schema):
        assert {"401", "429", "500"} <= set(operation["responses"]), name


def test_operations_that_check_a_role_document_403(schema):
    for name, operation in _keyed_operations(schema):
        if name != "GET /v1/whoami":
            assert "403" in operation["responses"], name


def test_bodies_and_query_parameters_document_400(schema):
    for name, operation in _operations(schema):
        has_query = any(p["in"] == "query" for p in operation.get("parameters", []))
        if "requestBody" in operation or has_query:
            assert "400" in operation["responses"], name


def test_pause_and_resume_document_409(schema):
    for action in ("pause", "resume"):
        operation = schema["paths"][f"/v1/destinations/{{destination_id}}/{action}"]["post"]
        assert "409" in operation["responses"]


def test_an_events_null_times_are_nullable(schema):
    event = schema["components"]["schemas"]["EventOutput"]["properties"]

    assert event["originalTimestamp"]["nullable"] is True
    assert event["sentAt"]["nullable"] is True


def test_a_key_that_never_expires_is_a_null_expiry(schema):
    assert schema["components"]["schemas"]["WhoAmIOutput"]["properties"]["expires_at"]["nullable"]


def test_the_delivery_filters_declare_their_limits(schema):
    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/v1/deliveries"]["get"]["parameters"]
    }

    assert parameters["limit"]["minimum"] == 1 and parameters["limit"]["maximum"] == 200
    assert parameters["before"]["minimum"] == 1
    # An empty filter filters nothing: "" is a valid value (no minLength, no oneOf to match
    # twice), any other at most 100 characters.
    assert parameters["messageId"]["maxLength"] == 100
    assert "minLength" not in parameters["messageId"] and "oneOf" not in parameters["messageId"]


def test_ingestion_documents_its_event_envelope_and_the_empty_batch(schema):
    track = schema["paths"]["/v1/track"]["post"]
    batch = schema["paths"]["/v1/batch"]["post"]

    body = track["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["event"]
    assert body["properties"]["messageId"]["maxLength"] == 100
    batch_body = batch["requestBody"]["content"]["application/json"]["schema"]
    assert batch_body["properties"]["batch"]["minItems"] == 1
    assert "empty_batch" in batch["responses"]["400"]["description"]
    assert {"400", "401", "403", "413", "429"} <= set(track["responses"])


def test_a_key_is_bearer_or_basic_not_both_at_once(schema):
    for name, operation in _keyed_operations(schema):
        assert operation["security"] == [{"ApiKey": []}, {"ApiKeyBasic": []}], name


def test_the_headers_the_shared_answers_carry_are_documented(schema):
    for name, operation in _operations(schema):
        assert "Retry-After" in operation["responses"]["429"]["headers"], name
        if name not in PUBLIC:
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], name
    checkpoint = schema["paths"]["/v1/audit/checkpoint"]["get"]["responses"]["200"]
    assert checkpoint["headers"]["X-Verifier-Key"]["required"] is True


def test_the_public_operations_need_no_key_and_say_404_and_429(schema):
    public = {name: operation for name, operation in _operations(schema) if name in PUBLIC}

    assert set(public) == PUBLIC
    for name, operation in public.items():
        assert "security" not in operation, name
        assert {"200", "404", "429", "500"} <= set(operation["responses"]), name
        assert not {"401", "403"} & set(operation["responses"]), name
