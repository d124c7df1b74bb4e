"""CSV imports through the API: the same services as the management commands, the same report
(counts, rejected rows with line numbers and reasons)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import DailyMetric
from leads.models import Lead

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/imports/leads/"
METRICS = "/api/v1/imports/daily-metrics/"


def upload(text: str | bytes, name="file.csv"):
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_marketer_imports_leads_and_gets_the_commands_report(api_as, marketer):
    csv = (
        "email,first_name,stage,became_lead_at,became_mql_at\n"
        "ada@example.com,Ada,mql,2026-01-05,2026-01-07\n"
        "not-an-email,Bob,lead,2026-01-05,\n"
        "cy@example.com,Cy,lead,2026-01-06,\n"
    )

    response = api_as(marketer).post(LEADS, {"file": upload(csv), "format": "csv"},
                                     format="multipart")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["updated"], body["rows"]) == (2, 0, 3)
    assert [r["line"] for r in body["rejected"]] == [3]
    assert "email" in body["rejected"][0]["reason"]
    assert body["summary"].startswith("created 2, updated 0")
    assert Lead.objects.get(email="ada@example.com").stage == "mql"

    again = api_as(marketer).post(LEADS, {"file": upload(csv), "format": "csv"},
                                  format="multipart").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_hubspot_format(api_as, marketer):
    header = ("Record ID,First Name,Last Name,Email,Company Name,Job Title,Lifecycle Stage,"
              "Original Source,Create Date,Became a Lead Date,"
              "Became a Marketing Qualified Lead Date,Became a Sales Qualified Lead Date,"
              "Became an Opportunity Date,Became a Customer Date")
    csv = f"{header}\n17,H,K,h@example.com,Acme,CTO,lead,Direct Traffic,2026-01-05,2026-01-05,,,,\n"

    body = api_as(marketer).post(LEADS, {"file": upload(csv), "format": "hubspot"},
                                 format="multipart").json()

    assert body["created"] == 1, body
    assert Lead.objects.get().external_id == "hubspot:17"


@pytest.mark.parametrize(("data", "field"), [
    ({"format": "csv"}, "file"),
    ({"file": "x"}, "format"),
    ({"format": "excel"}, "format"),
])
def test_import_request_errors_name_the_field(api_as, marketer, data, field):
    if "file" not in data and field != "file":
        data = {**data, "file": upload("email\n")}

    response = api_as(marketer).post(LEADS, data, format="multipart")

    assert response.status_code == 400
    assert field in response.json()


def test_bad_header_not_utf8_or_too_large_imports_nothing(api_as, marketer, settings):
    client = api_as(marketer)

    header = client.post(LEADS, {"file": upload("name,phone\nA,1\n"), "format": "csv"},
                         format="multipart")
    latin = client.post(LEADS, {"file": upload("email,first_name\nz@example.com,Z\xe9o\n"
                                               .encode("latin-1")), "format": "csv"},
                        format="multipart")
    settings.API_IMPORT_MAX_BYTES = 10
    big = client.post(LEADS, {"file": upload("email\nbig@example.com\n"), "format": "csv"},
                      format="multipart")

    assert [r.status_code for r in (header, latin, big)] == [400, 400, 400]
    assert "email" in header.json()["file"][0]
    assert "UTF-8" in latin.json()["file"][0]
    assert "up to 10 bytes" in big.json()["file"][0]
    assert not Lead.objects.exists()


def test_rep_may_not_import_leads(api_as, rep):
    response = api_as(rep).post(LEADS, {"file": upload("email\nr@example.com\n"),
                                        "format": "csv"}, format="multipart")

    assert response.status_code == 403
    assert not Lead.objects.exists()


def test_json_body_is_refused_as_unsupported(api_as, marketer):
    response = api_as(marketer).post(LEADS, {"format": "csv"}, format="json")

    assert response.status_code == 415


def test_metrics_import_reports_like_the_command(api_as, marketer):
    csv = (
        "date,channel,visitors,sessions\n"
        "2026-01-01,organic_search,100,120\n"
        "2026-01-02,organic_search,1,234,5\n"
        "2026-01-02,fax,1,2\n"
        "2026-01-01,organic_search,90,100\n"
    )

    response = api_as(marketer).post(METRICS, {"file": upload(csv)}, format="multipart")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["updated"], body["rows"]) == (1, 1, 4)
    assert [r["line"] for r in body["rejected"]] == [3, 4]
    assert body["repeated"] == [{"line": 5, "earlier_line": 2}]
    assert DailyMetric.objects.get().visitors == 90


def test_metrics_import_bad_header_and_roles(api_as, marketer, rep):
    bad = api_as(marketer).post(METRICS, {"file": upload("day,channel\n")}, format="multipart")
    refused = api_as(rep).post(METRICS, {"file": upload("date,channel\n2026-01-01,email\n")},
                               format="multipart")

    assert bad.status_code == 400
    assert "Nothing was imported" in bad.json()["file"][0]
    assert refused.status_code == 403
    assert not DailyMetric.objects.exists()
