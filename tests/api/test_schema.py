"""The OpenAPI schema: generated without a warning, valid, and describing every body of the
endpoints of issue 7's complete API."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings_and_validates(tmp_path):
    # fails (SchemaGenerationError / SystemExit) on any warning or an invalid schema
    call_command("spectacular", "--validate", "--fail-on-warn", "--file",
                 str(tmp_path / "schema.yaml"))

    assert (tmp_path / "schema.yaml").stat().st_size > 0


@pytest.mark.parametrize(("path", "method", "request_ref", "response_ref"), [
    ("/api/v1/leads/{lead_id}/activities/", "post", "ActivityCreateRequest", "Activity"),
    ("/api/v1/accounts/", "post", "AccountWriteRequest", "Account"),
    ("/api/v1/accounts/{id}/", "patch", "PatchedAccountWriteRequest", "Account"),
    ("/api/v1/campaigns/", "post", "CampaignWriteRequest", "Campaign"),
    ("/api/v1/daily-metrics/upsert/", "post", "DailyMetricWriteRequest", "DailyMetric"),
    ("/api/v1/daily-metrics/bulk-upsert/", "post", "DailyMetricBulkRequest", "BulkResult"),
    ("/api/v1/nurture-workflows/", "post", "NurtureWorkflowWriteRequest", "NurtureWorkflow"),
    ("/api/v1/nurture-enrolments/", "post", "NurtureEnrolRequest", "NurtureEnrolment"),
    ("/api/v1/scoring/rules/", "post", "ScoringRuleWriteRequest", "ScoringRule"),
    ("/api/v1/scoring/settings/", "put", "ScoringSettingsWriteRequest", "ScoringSettings"),
    ("/api/v1/imports/leads/", "post", "LeadImportRequestRequest", "LeadImportReport"),
    ("/api/v1/imports/daily-metrics/", "post", "MetricsImportRequestRequest",
     "MetricsImportReport"),
])
def test_every_write_has_typed_request_and_response(api_as, admin_user, path, method,
                                                    request_ref, response_ref):
    schema = api_as(admin_user).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][path][method]

    content = operation["requestBody"]["content"]
    refs = {media["schema"]["$ref"].rsplit("/", 1)[1] for media in content.values()}
    assert refs == {request_ref}
    ok = next(code for code in operation["responses"] if code.startswith("2"))
    body = operation["responses"][ok]["content"]["application/json"]["schema"]
    assert body["$ref"].rsplit("/", 1)[1] == response_ref
    assert "400" in operation["responses"]


@pytest.mark.parametrize("path", [
    "/api/v1/activities/", "/api/v1/accounts/", "/api/v1/campaigns/", "/api/v1/daily-metrics/",
    "/api/v1/nurture-workflows/", "/api/v1/nurture-enrolments/", "/api/v1/scoring/rules/",
])
def test_every_list_is_paginated_and_filtered_in_the_schema(api_as, admin_user, path):
    schema = api_as(admin_user).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][path]["get"]

    params = {p["name"] for p in operation["parameters"]}
    assert "page" in params
    assert len(params) >= 3  # page and at least two filters
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["$ref"].rsplit("/", 1)[1].startswith("Paginated")
