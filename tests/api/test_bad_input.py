"""Bad JSON and bad types get a 400 naming the field (or a plain 400/404/415 when there is no
field to name), never a 500: the leads, intake and report endpoints, then a sweep over every
operation the API has, whoever wrote it."""

import json
import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from drf_spectacular.generators import EndpointEnumerator
from rest_framework.test import APIClient

from leads.models import Lead
from tests.factories import AccountFactory, CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db

LEADS_URL = "/api/v1/leads/"
INTAKE_URL = "/api/v1/intake/"
FUNNEL_URL = "/api/v1/reports/funnel/"
KPIS_URL = "/api/v1/reports/kpis/"
HUGE = 10**30
NESTED = "[" * 100_000 + "]" * 100_000

# Bodies that are not a JSON object, or not JSON at all, and what a client is told.
NOT_AN_OBJECT = [
    ('{"email": ', "JSON parse error"),
    ('{"email": "a@example.com", "deal_amount": NaN}', "JSON parse error"),
    (NESTED, "nested too deeply"),
    ("[]", "Expected a dictionary, but got list"),
    ('"text"', "Expected a dictionary, but got str"),
    ("42", "Expected a dictionary, but got int"),
    ("null", "No data provided"),
]


def post_raw(client, url, body, content_type="application/json", method="post", **extra):
    return getattr(client, method)(url, body, content_type=content_type, **extra)


def error_text(response) -> str:
    return json.dumps(response.json())


@pytest.fixture
def client(rep, api_as):
    return api_as(rep)


# --- leads: bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "says"), NOT_AN_OBJECT)
@pytest.mark.parametrize("door", ["create", "update", "move"])
def test_a_body_that_is_not_a_json_object_is_a_400(client, lead, door, body, says):
    url, method = {
        "create": (LEADS_URL, "post"),
        "update": (f"{LEADS_URL}{lead.pk}/", "patch"),
        "move": (f"{LEADS_URL}{lead.pk}/move/", "post"),
    }[door]

    response = post_raw(client, url, body, method=method)

    assert response.status_code == 400
    assert says in error_text(response)
    lead.refresh_from_db()
    assert (lead.version, Lead.objects.count()) == (1, 1)


def test_a_body_that_is_not_utf8_is_a_400(client):
    response = client.generic(
        "POST", LEADS_URL, b'{"email": "\xff@example.com"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "image/png"])
def test_an_unsupported_content_type_is_a_415(client, content_type):
    response = post_raw(client, LEADS_URL, "email=a@example.com", content_type=content_type)

    assert response.status_code == 415
    assert content_type in response.json()["detail"]
    assert not Lead.objects.exists()


WRONG_TYPES = [
    ("email", 5, "valid email"),
    ("email", None, "may not be null"),
    ("email", ["a@example.com"], "valid email"),
    ("first_name", ["Ada"], "Not a valid string"),
    ("first_name", {"given": "Ada"}, "Not a valid string"),
    ("first_name", None, "may not be null"),
    ("first_name", "Ada\x00", "Null characters"),
    ("phone", "x" * 51, "no more than 50"),
    ("deal_amount", "a lot", "valid number"),
    ("deal_amount", HUGE, "digits"),
    ("deal_amount", 1e300, "digits"),
    ("deal_amount", [100], "valid number"),
    ("account", "acme", "Incorrect type"),
    ("account", HUGE, "does not exist"),
    ("account", 2**63, "does not exist"),
    ("account", [1], "Incorrect type"),
    ("account", {"id": 1}, "Incorrect type"),
    ("campaign", HUGE, "does not exist"),
    ("campaign", -1, "does not exist"),
    ("channel", 123, "not a valid choice"),
    ("channel", ["email"], "not a valid choice"),
    ("cta", {"text": "Buy"}, "Not a valid string"),
    ("version", "one", "valid integer"),
    ("version", 0, "greater than or equal to 1"),
]


@pytest.mark.parametrize(("field", "value", "says"), WRONG_TYPES)
def test_create_names_the_field_of_a_wrong_type(client, field, value, says):
    body = {"email": "ada@example.com", field: value}

    response = client.post(LEADS_URL, body, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert says in " ".join(errors[field])
    assert not Lead.objects.exists()


@pytest.mark.parametrize(("field", "value", "says"), WRONG_TYPES)
def test_update_names_the_field_of_a_wrong_type(client, lead, field, value, says):
    response = client.patch(f"{LEADS_URL}{lead.pk}/", {field: value}, format="json")

    assert response.status_code == 400
    assert says in " ".join(response.json()[field])
    lead.refresh_from_db()
    assert lead.version == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to_stage": 123, "version": 1}, "to_stage"),
        ({"to_stage": ["mql"], "version": 1}, "to_stage"),
        ({"to_stage": None, "version": 1}, "to_stage"),
        ({"version": 1}, "to_stage"),
        ({"to_stage": "mql", "version": "1.5"}, "version"),
        ({"to_stage": "mql", "version": [1]}, "version"),
        ({"to_stage": "mql", "version": None}, "version"),
        ({"to_stage": "mql", "note": {"text": "hi"}, "version": 1}, "note"),
        ({"to_stage": "lost", "reason": None, "version": 1}, "reason"),
        ({"to_stage": "lost", "reason": "r" * 501, "version": 1}, "reason"),
    ],
)
def test_move_names_the_field_of_a_wrong_type(client, lead, body, field):
    response = client.post(f"{LEADS_URL}{lead.pk}/move/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    lead.refresh_from_db()
    assert (lead.stage, lead.version) == ("lead", 1)


def test_a_huge_body_version_is_a_conflict_not_a_crash(client, lead):
    response = client.post(
        f"{LEADS_URL}{lead.pk}/move/", {"to_stage": "mql", "version": HUGE}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["current_version"] == 1


# --- leads: query parameters and paths -----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("owner=abc", "owner"),
        (f"owner={HUGE}", "owner"),
        (f"campaign={HUGE}", "campaign"),
        ("campaign=-1", "campaign"),
        ("stage=won&stage=heaven", "stage"),
        ("stage=%00", "stage"),
        ("score_min=abc", "score_min"),
        ("score_min=1e999", "score_min"),
        ("score_max=NaN", "score_max"),
        ("q=%00", "q"),
        ("cta=%00", "cta"),
    ],
)
def test_list_filters_name_the_bad_parameter(client, lead, query, field):
    response = client.get(f"{LEADS_URL}?{query}")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("query", [f"score_max={HUGE}", f"score_min=-{HUGE}", "q=" + "a" * 5000])
def test_extreme_but_valid_filters_answer(client, lead, query):
    response = client.get(f"{LEADS_URL}?{query}")

    assert response.status_code == 200


@pytest.mark.parametrize("page", ["abc", "0", "-1", str(HUGE)])
def test_a_bad_page_is_not_found(client, lead, page):
    response = client.get(LEADS_URL, {"page": page})

    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid page."


@pytest.mark.parametrize("pk", ["abc", str(HUGE), str(2**63), "-1", "1e3"])
@pytest.mark.parametrize("suffix", ["", "transitions/"])
def test_a_lead_id_that_cannot_exist_is_not_found(client, lead, pk, suffix):
    response = client.get(f"{LEADS_URL}{pk}/{suffix}")

    assert response.status_code == 404


# --- intake --------------------------------------------------------------------------------------


@pytest.fixture
def campaign(db):
    return CampaignFactory()


@pytest.mark.parametrize(("body", "says"), NOT_AN_OBJECT)
def test_intake_refuses_a_body_that_is_not_a_json_object(campaign, body, says):
    response = post_raw(APIClient(), INTAKE_URL, body, HTTP_X_FORM_KEY=campaign.form_key)

    assert response.status_code == 400
    assert says in error_text(response)
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", ["ada@example.com"]),
        ("email", None),
        ("first_name", {"given": "Ada"}),
        ("company", "Acme\x00"),
        ("landing_page", "https://example.com/" + "x" * 500),
        ("form_key", {"key": "x"}),
    ],
)
def test_intake_names_the_field_of_a_wrong_type(campaign, field, value):
    body = {"email": "ada@example.com", field: value}

    response = APIClient().post(
        INTAKE_URL, body, format="json", HTTP_X_FORM_KEY=campaign.form_key
    )

    assert response.status_code == 400
    assert field in response.json()
    assert not Lead.objects.exists()


def test_intake_refuses_a_broken_multipart_body(campaign):
    response = post_raw(
        APIClient(), INTAKE_URL, "garbage", content_type="multipart/form-data",
        HTTP_X_FORM_KEY=campaign.form_key,
    )

    assert response.status_code == 400
    assert "Multipart form parse error" in response.json()["detail"]


# --- reports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [FUNNEL_URL, KPIS_URL])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=abc&end=2024-01-31", "start"),
        ("start=2024-01-01&end=2024-02-30", "end"),
        ("start=9999-12-01&end=9999-12-31", "start"),  # was a 500: the day after overflowed
        ("start=2024-01-01&end=9999-12-31", "end"),
        ("start=0001-01-01&end=0001-01-31", "start"),
        ("start=2024-01-01&end=2024-01-31&mode=cohort&as_of=9999-12-31", "as_of"),
        (f"start=2024-01-01&end=2024-01-31&owner={HUGE}", "owner"),  # was a 500 on SQLite
        ("start=2024-01-01&end=2024-01-31&owner=abc", "owner"),
        (f"start=2024-01-01&end=2024-01-31&campaign={HUGE}", "campaign"),
        ("start=2024-01-01&end=2024-01-31&cta=%00", "cta"),
        ("start=2024-01-01&end=2024-01-31&mode=%00", "mode"),
    ],
)
def test_report_parameters_name_the_bad_one(manager, api_as, url, query, field):
    response = api_as(manager).get(f"{url}?{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_the_earliest_period_compares_with_its_previous_one(manager, api_as):
    # compare=previous at 0001-01-01 overflowed; the earliest allowed start has room before it.
    response = api_as(manager).get(
        KPIS_URL, {"start": "1900-01-01", "end": "1909-12-31", "compare": "previous"}
    )

    assert response.status_code == 200
    days = (date(1909, 12, 31) - date(1900, 1, 1)).days + 1
    assert response.json()["previous"]["start"] == str(date(1900, 1, 1) - timedelta(days=days))


# --- every operation of the API ------------------------------------------------------------------


def _operations():
    """(method, path template) of every operation under /api/v1/, as the schema lists them."""
    ops = []
    for path, _regex, method, _view in EndpointEnumerator().get_api_endpoints():
        if path.startswith("/api/v1/"):
            ops.append((method, path))
    return sorted(set(ops))


@pytest.fixture
def admin_client(admin_user, api_as):
    return api_as(admin_user)


@pytest.fixture
def objects(rep):
    """One of each kind an id in a path may name."""
    return {"leads": LeadFactory(owner=rep).pk, "accounts": AccountFactory().pk,
            "campaigns": CampaignFactory().pk}


def _url(path: str, objects: dict) -> str:
    resource = path.split("/")[3]
    return re.sub(r"\{[^}]+\}", str(objects.get(resource, 1)), path)


def test_the_sweep_sees_the_api():
    operations = _operations()

    assert ("POST", "/api/v1/leads/{pk}/move/") in operations
    assert ("GET", "/api/v1/reports/funnel/") in operations
    assert reverse("intake") == INTAKE_URL
    assert ("POST", INTAKE_URL) in operations


@pytest.mark.parametrize("body", ['{"a": ', NESTED, "[1, 2]", "null", '{"a": Infinity}'],
                         ids=["truncated", "nested", "list", "null", "infinity"])
def test_no_write_operation_answers_500_to_a_bad_body(admin_client, objects, body):
    answers = {}
    for method, path in _operations():
        if method not in ("POST", "PUT", "PATCH"):
            continue
        response = post_raw(admin_client, _url(path, objects), body, method=method.lower())
        answers[f"{method} {path}"] = response.status_code

    crashed = {op: code for op, code in answers.items() if code >= 500}
    assert answers
    assert crashed == {}


def test_no_read_operation_answers_500_to_garbage_parameters(admin_client, objects):
    garbage = {
        "page": "abc", "page_size": "-1", "ordering": "\x00", "search": "\x00", "q": "\x00",
        "id": "abc", "start": "9999-12-31", "end": "0001-01-01", "as_of": "99999-01-01",
        "owner": str(HUGE), "campaign": "abc", "channel": "[]", "status": "\x00",
        "metric": "x", "date": "2024-02-30", "date_after": "x", "limit": str(HUGE),
    }
    answers = {}
    for method, path in _operations():
        if method != "GET":
            continue
        response = admin_client.get(_url(path, objects), garbage)
        answers[path] = response.status_code

    crashed = {path: code for path, code in answers.items() if code >= 500}
    assert answers
    assert crashed == {}
