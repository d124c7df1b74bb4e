"""Permissions on every door (issue 7): every operation of the generated OpenAPI schema, called
by an anonymous client, a sales rep, a marketer, a manager and an admin, answers the status the
role deserves. An allowed write changes the data; a refused one changes nothing. A rep never
reaches another rep's lead: 404 (or absent from a list) on every door, the browser's CSV export
included. Plus: serializers name their fields, the lead's owner/stage/score/dates are read-only
outside their services (POST .../assign/ for the owner), and CSRF guards session writes."""

import csv
import io

import pytest
from django.apps import apps
from django.test import Client
from rest_framework import serializers as drf_serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leads.models import Lead
from tests.factories import AccountFactory, CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "rep", "marketer", "manager", "admin")
MISSING = 999_999  # an id no row has: an allowed role gets past the door and finds nothing


def _statuses(anonymous, rep, marketer, manager, admin):
    return dict(zip(ROLES, (anonymous, rep, marketer, manager, admin), strict=True))


def _lead_body(w):
    return {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@matrix.example"}


# (METHOD, schema path) -> (expected statuses by role, body builder or None, URL ids)
# "lead" ids are the rep's own lead, "account"/"campaign" real rows, anything else MISSING.
MATRIX = {
    ("GET", "/api/v1/accounts/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/accounts/"): _statuses(401, 201, 201, 201, 201),
    ("GET", "/api/v1/accounts/{id}/"): _statuses(401, 200, 200, 200, 200),
    ("PUT", "/api/v1/accounts/{id}/"): _statuses(401, 200, 200, 200, 200),
    ("PATCH", "/api/v1/accounts/{id}/"): _statuses(401, 200, 200, 200, 200),
    ("GET", "/api/v1/activities/"): _statuses(401, 200, 200, 200, 200),
    # Logging in needs no login: a wrong password is a 400 for everybody, and changes nothing.
    ("POST", "/api/v1/auth/token/"): _statuses(400, 400, 400, 400, 400),
    ("GET", "/api/v1/campaigns/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/campaigns/"): _statuses(401, 403, 201, 201, 201),
    ("GET", "/api/v1/campaigns/{id}/"): _statuses(401, 200, 200, 200, 200),
    ("PUT", "/api/v1/campaigns/{id}/"): _statuses(401, 403, 200, 200, 200),
    ("PATCH", "/api/v1/campaigns/{id}/"): _statuses(401, 403, 200, 200, 200),
    ("GET", "/api/v1/daily-metrics/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/daily-metrics/bulk-upsert/"): _statuses(401, 403, 200, 200, 200),
    ("POST", "/api/v1/daily-metrics/upsert/"): _statuses(401, 403, 201, 201, 201),
    ("POST", "/api/v1/imports/daily-metrics/"): _statuses(401, 403, 400, 400, 400),
    ("POST", "/api/v1/imports/leads/"): _statuses(401, 403, 400, 400, 400),
    # Public web-to-lead: the form key, not a login, opens it.
    ("POST", "/api/v1/intake/"): _statuses(202, 202, 202, 202, 202),
    # A rep reads the KPIs of their own leads; the others the whole team's.
    ("GET", "/api/v1/kpis/"): _statuses(401, 200, 200, 200, 200),
    ("GET", "/api/v1/leads/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/leads/"): _statuses(401, 201, 201, 201, 201),
    ("GET", "/api/v1/leads/{lead_id}/activities/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/leads/{lead_id}/activities/"): _statuses(401, 201, 201, 201, 201),
    ("GET", "/api/v1/leads/{id}/"): _statuses(401, 200, 200, 200, 200),
    ("PUT", "/api/v1/leads/{id}/"): _statuses(401, 200, 200, 200, 200),
    ("PATCH", "/api/v1/leads/{id}/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/leads/{id}/move/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/leads/{id}/assign/"): _statuses(401, 403, 403, 200, 200),
    ("GET", "/api/v1/leads/{id}/transitions/"): _statuses(401, 200, 200, 200, 200),
    ("GET", "/api/v1/nurture-enrolments/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/nurture-enrolments/"): _statuses(401, 403, 400, 400, 400),
    ("GET", "/api/v1/nurture-enrolments/{id}/"): _statuses(401, 404, 404, 404, 404),
    ("POST", "/api/v1/nurture-enrolments/{id}/close/"): _statuses(401, 403, 404, 404, 404),
    ("GET", "/api/v1/nurture-workflows/"): _statuses(401, 200, 200, 200, 200),
    ("POST", "/api/v1/nurture-workflows/"): _statuses(401, 403, 400, 400, 400),
    ("GET", "/api/v1/nurture-workflows/{id}/"): _statuses(401, 404, 404, 404, 404),
    ("PUT", "/api/v1/nurture-workflows/{id}/"): _statuses(401, 403, 404, 404, 404),
    ("PATCH", "/api/v1/nurture-workflows/{id}/"): _statuses(401, 403, 404, 404, 404),
    ("GET", "/api/v1/reports/funnel/"): _statuses(401, 200, 200, 200, 200),
    ("GET", "/api/v1/reports/kpis/"): _statuses(401, 200, 200, 200, 200),
    ("GET", "/api/v1/scoring/rescores/"): _statuses(401, 403, 403, 200, 200),
    ("POST", "/api/v1/scoring/rescores/"): _statuses(401, 403, 403, 403, 202),
    ("GET", "/api/v1/scoring/rescores/{id}/"): _statuses(401, 403, 403, 404, 404),
    # No rescore has run yet: past the door, nothing to show.
    ("GET", "/api/v1/scoring/rescores/latest/"): _statuses(401, 403, 403, 404, 404),
    ("GET", "/api/v1/scoring/rules/"): _statuses(401, 403, 200, 200, 200),
    ("POST", "/api/v1/scoring/rules/"): _statuses(401, 403, 403, 403, 400),
    ("GET", "/api/v1/scoring/rules/{id}/"): _statuses(401, 403, 404, 404, 404),
    ("PUT", "/api/v1/scoring/rules/{id}/"): _statuses(401, 403, 403, 403, 404),
    ("PATCH", "/api/v1/scoring/rules/{id}/"): _statuses(401, 403, 403, 403, 404),
    ("DELETE", "/api/v1/scoring/rules/{id}/"): _statuses(401, 403, 403, 403, 404),
    ("GET", "/api/v1/scoring/settings/"): _statuses(401, 403, 200, 200, 200),
    ("PUT", "/api/v1/scoring/settings/"): _statuses(401, 403, 403, 403, 200),
    ("PATCH", "/api/v1/scoring/settings/"): _statuses(401, 403, 403, 403, 200),
}


def _bodies(w):
    """A valid body per write where one is cheap to build; others get {} (an allowed role then
    gets past the door to a 400 naming the missing fields, and nothing is written)."""
    lead, account, campaign = w["lead"], w["account"], w["campaign"]
    return {
        ("POST", "/api/v1/accounts/"): {"name": "Matrix Ltd", "domain": "matrix.example"},
        ("PUT", "/api/v1/accounts/{id}/"): {"name": "Renamed Ltd", "domain": account.domain},
        ("PATCH", "/api/v1/accounts/{id}/"): {"name": "Renamed Ltd"},
        ("POST", "/api/v1/auth/token/"): {"username": "rep1", "password": "wrong"},
        ("POST", "/api/v1/campaigns/"): {
            "name": "Matrix", "channel": "email", "utm_campaign": "matrix", "status": "active",
        },
        ("PUT", "/api/v1/campaigns/{id}/"): {
            "name": "Renamed", "channel": campaign.channel, "utm_campaign": campaign.utm_campaign,
            "status": campaign.status,
        },
        ("PATCH", "/api/v1/campaigns/{id}/"): {"name": "Renamed"},
        ("POST", "/api/v1/daily-metrics/upsert/"): {
            "campaign": campaign.pk, "channel": campaign.channel, "date": "2026-01-05",
            "spend": "10.00", "impressions": 100, "clicks": 5,
        },
        ("POST", "/api/v1/daily-metrics/bulk-upsert/"): {"rows": [{
            "campaign": campaign.pk, "channel": campaign.channel, "date": "2026-01-05",
            "spend": "10.00", "impressions": 100, "clicks": 5,
        }]},
        ("POST", "/api/v1/intake/"): {
            "form_key": campaign.form_key, "email": "intake@matrix.example",
            "first_name": "Ina",
        },
        ("POST", "/api/v1/leads/"): _lead_body(w),
        ("POST", "/api/v1/leads/{lead_id}/activities/"): {"type": "call", "note": "Matrix"},
        ("PUT", "/api/v1/leads/{id}/"): {
            "first_name": "Renamed", "last_name": lead.last_name, "email": lead.email,
        },
        ("PATCH", "/api/v1/leads/{id}/"): {"job_title": "Chief Matrix Officer"},
        ("POST", "/api/v1/leads/{id}/move/"): {"to_stage": "mql", "version": lead.version},
        ("POST", "/api/v1/leads/{id}/assign/"): {
            "owner": w["other_rep"].pk, "version": lead.version,
        },
        ("PATCH", "/api/v1/scoring/settings/"): {"mql_threshold": 77},
        ("PUT", "/api/v1/scoring/settings/"): {
            "mql_threshold": 60, "sql_threshold": 90, "sql_auto_promote": True,
            "half_life_days": 14,
        },
    }


# Query strings a read needs to get past its validation.
QUERIES = {
    "/api/v1/kpis/": {"metric": "visitor_to_lead", "start": "2026-01-01", "end": "2026-03-31"},
    "/api/v1/reports/funnel/": {"start": "2026-01-01", "end": "2026-03-31"},
    "/api/v1/reports/kpis/": {"start": "2026-01-01", "end": "2026-03-31"},
}
# File uploads: sent as multipart without a file, so an allowed role gets a 400 naming `file`.
MULTIPART = {"/api/v1/imports/leads/", "/api/v1/imports/daily-metrics/"}


@pytest.fixture
def world(rep, other_rep, marketer, manager, admin_user):
    return {
        "users": {"rep": rep, "marketer": marketer, "manager": manager, "admin": admin_user},
        "other_rep": other_rep,
        "lead": LeadFactory(owner=rep),
        "foreign_lead": LeadFactory(owner=other_rep),
        "account": AccountFactory(),
        "campaign": CampaignFactory(),
    }


def _client(world, role):
    client = APIClient()
    if role != "anonymous":
        token, _ = Token.objects.get_or_create(user=world["users"][role])
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _url(world, path, *, lead=None):
    lead = lead or world["lead"]
    ids = {"lead_id": lead.pk}
    if path.startswith("/api/v1/leads/"):
        ids["id"] = lead.pk
    elif path.startswith("/api/v1/accounts/"):
        ids["id"] = world["account"].pk
    elif path.startswith("/api/v1/campaigns/"):
        ids["id"] = world["campaign"].pk
    else:
        ids["id"] = MISSING
    return path.format(**ids)


# The data a write may change: every row of the project's own apps (not tokens, sessions or
# idempotency records, which record who called, not what they changed).
DATA_APPS = ("leads", "campaigns", "reports")


def _snapshot():
    rows = {}
    for label in DATA_APPS:
        for model in apps.get_app_config(label).get_models():
            rows[model._meta.label] = sorted(
                model.objects.values_list(*[f.attname for f in model._meta.concrete_fields]),
                key=repr,
            )
    return rows


def _schema_operations():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_schema_operation_has_a_matrix_entry():
    operations = _schema_operations()

    assert operations - set(MATRIX) == set(), "an endpoint has no entry in the permission matrix"
    assert set(MATRIX) - operations == set(), "the matrix names an operation the API lacks"


CASES = [
    pytest.param(method, path, role, id=f"{role}-{method}-{path}")
    for (method, path) in MATRIX
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "role"), CASES)
def test_permission_matrix(world, method, path, role):
    expected = MATRIX[(method, path)][role]
    if method == "GET":
        body, fmt = QUERIES.get(path), None
    else:
        body = _bodies(world).get((method, path), {})
        fmt = "multipart" if path in MULTIPART else "json"
    before = _snapshot()

    response = getattr(_client(world, role), method.lower())(
        _url(world, path), body, format=fmt
    )

    assert response.status_code == expected, (role, method, path, response.content[:300])
    if expected == 400 and path in MULTIPART:
        assert "file" in response.json()
    if method == "GET":
        return
    after = _snapshot()
    if 200 <= expected < 300 and path != "/api/v1/auth/token/":
        assert after != before, "an allowed write changed nothing"
    else:
        assert after == before, "a refused write changed data"


# --- another rep's lead: absent, 404, unchanged on every door ------------------------------------

FOREIGN_DOORS = [
    ("GET", "/api/v1/leads/{id}/", None),
    ("PUT", "/api/v1/leads/{id}/", {"first_name": "X", "last_name": "Y", "email": "x@y.example"}),
    ("PATCH", "/api/v1/leads/{id}/", {"job_title": "Stolen"}),
    ("POST", "/api/v1/leads/{id}/move/", {"to_stage": "mql", "version": 1}),
    ("GET", "/api/v1/leads/{id}/transitions/", None),
    ("GET", "/api/v1/leads/{lead_id}/activities/", None),
    ("POST", "/api/v1/leads/{lead_id}/activities/", {"type": "call", "note": "Stolen"}),
]


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_DOORS,
                         ids=[f"{m}-{p}" for m, p, _ in FOREIGN_DOORS])
def test_another_reps_lead_is_a_404_and_stays_unchanged(world, method, path, body):
    foreign = world["foreign_lead"]
    before = _snapshot()

    response = getattr(_client(world, "rep"), method.lower())(
        _url(world, path, lead=foreign), body, format="json"
    )

    assert response.status_code == 404, response.content[:300]
    assert _snapshot() == before


def test_another_reps_lead_is_absent_from_the_rep_lists(world):
    client = _client(world, "rep")
    foreign = world["foreign_lead"]
    from leads.services import activity_create

    activity_create(lead=foreign, actor=world["other_rep"], type="call")
    activity_create(lead=world["lead"], actor=world["users"]["rep"], type="call")

    leads = client.get("/api/v1/leads/").json()["results"]
    activities = client.get("/api/v1/activities/").json()["results"]

    assert [lead["id"] for lead in leads] == [world["lead"].pk]
    assert world["lead"].pk in {a["lead"] for a in activities}
    assert foreign.pk not in {a["lead"] for a in activities}
    # the manager does see it, so the list above is scoped, not empty
    manager_ids = {lead["id"] for lead in _client(world, "manager").get("/api/v1/leads/")
                   .json()["results"]}
    assert foreign.pk in manager_ids


def test_another_reps_lead_is_absent_from_the_csv_export(world, client):
    client.force_login(world["users"]["rep"])

    response = client.get("/leads/export.csv")

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    emails = {cell for row in csv.reader(io.StringIO(body)) for cell in row if "@" in cell}
    assert world["lead"].email in emails
    assert world["foreign_lead"].email not in emails


# --- serializers name their fields ---------------------------------------------------------------


def _api_serializers():
    """Every serializer class the API views use: their serializer_class, the ones named in their
    schema annotations, and the fields nested in those."""
    from django.urls import get_resolver

    found, todo = set(), []
    for pattern in _walk(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        app = view.__module__.split(".")[0] if view else None
        if app not in ("leads", "campaigns", "reports", "funnelcrm", "idempotency"):
            continue
        for attr in vars(_module(view)).values():
            if isinstance(attr, type) and issubclass(attr, drf_serializers.BaseSerializer):
                todo.append(attr)
        if getattr(view, "serializer_class", None):
            todo.append(view.serializer_class)
    while todo:
        cls = todo.pop()
        if cls in found or cls.__module__.startswith("rest_framework"):
            continue
        found.add(cls)
        if issubclass(cls, drf_serializers.Serializer):
            for field in cls._declared_fields.values():
                nested = getattr(field, "child", field)
                if isinstance(nested, drf_serializers.BaseSerializer):
                    todo.append(type(nested))
    return found


def _module(cls):
    import sys

    return sys.modules[cls.__module__]


def _walk(patterns):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _walk(pattern.url_patterns)
        else:
            yield pattern


def test_every_api_serializer_lists_its_fields():
    found = _api_serializers()
    model_serializers = [c for c in found if issubclass(c, drf_serializers.ModelSerializer)]

    names = {c.__name__ for c in model_serializers}
    # the walk did find the API's serializers, nested ones included
    assert {"LeadSerializer", "AccountRefSerializer", "StageTransitionSerializer"} <= names
    assert len(model_serializers) >= 10
    offenders = []
    for cls in model_serializers:
        meta = getattr(cls, "Meta", None)
        if getattr(meta, "fields", None) == drf_serializers.ALL_FIELDS or hasattr(meta, "exclude"):
            offenders.append(f"{cls.__module__}.{cls.__qualname__}")
        elif not isinstance(getattr(meta, "fields", None), list | tuple):
            offenders.append(f"{cls.__module__}.{cls.__qualname__} (no explicit fields)")
    assert offenders == []


# --- owner, stage, score and first-reached dates: read-only on plain writes ----------------------

PROTECTED = {
    "owner": None, "stage": "won", "score": 99, "became_mql_at": "2020-01-01T00:00:00Z",
    "became_sql_at": "2020-01-01T00:00:00Z", "became_won_at": "2020-01-01T00:00:00Z",
    "became_lead_at": "2020-01-01T00:00:00Z", "became_opportunity_at": "2020-01-01T00:00:00Z",
}


def _protected_state(lead):
    lead.refresh_from_db()
    return (lead.owner_id, lead.stage, lead.score, lead.became_lead_at, lead.became_mql_at,
            lead.became_sql_at, lead.became_opportunity_at, lead.became_won_at)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_plain_update_ignores_owner_stage_score_and_dates(world, method):
    lead, manager = world["lead"], world["users"]["manager"]
    before = _protected_state(lead)
    body = {"first_name": "Changed", "last_name": lead.last_name, "email": lead.email,
            **PROTECTED, "owner": world["other_rep"].pk}

    response = getattr(_client(world, "manager"), method)(
        f"/api/v1/leads/{lead.pk}/", body, format="json"
    )

    assert response.status_code == 200, response.content
    assert _protected_state(lead) == before
    lead.refresh_from_db()
    assert lead.first_name == "Changed"  # the rest of the update went through
    assert response.json()["owner"] == world["users"]["rep"].pk
    assert manager.pk != lead.owner_id


def test_create_ignores_stage_score_and_dates(world):
    body = {**_lead_body(world), **PROTECTED, "owner": world["other_rep"].pk}

    response = _client(world, "rep").post("/api/v1/leads/", body, format="json")

    assert response.status_code == 201, response.content
    created = Lead.objects.get(email="ada@matrix.example")
    assert created.stage == "lead"
    assert created.score != 99
    assert created.became_mql_at is None
    assert created.became_won_at is None
    assert created.owner_id != world["other_rep"].pk


# --- POST /leads/{id}/assign/ --------------------------------------------------------------------


def test_manager_reassigns_with_if_match_and_gets_the_new_etag(world):
    lead, client = world["lead"], _client(world, "manager")
    etag = client.get(f"/api/v1/leads/{lead.pk}/")["ETag"]

    response = client.post(f"/api/v1/leads/{lead.pk}/assign/", {"owner": world["other_rep"].pk},
                           format="json", HTTP_IF_MATCH=etag)

    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert lead.owner == world["other_rep"]
    assert response["ETag"] == f'"lead-{lead.pk}-v{lead.version}"' != etag
    assert response.json()["owner"] == world["other_rep"].pk


def test_unassign_with_null_owner(world):
    lead = world["lead"]

    response = _client(world, "manager").post(
        f"/api/v1/leads/{lead.pk}/assign/", {"owner": None, "version": lead.version},
        format="json",
    )

    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert lead.owner is None


def test_assign_with_a_stale_etag_is_412_and_a_stale_version_409(world):
    lead, client = world["lead"], _client(world, "manager")
    stale = f'"lead-{lead.pk}-v{lead.version}"'
    client.patch(f"/api/v1/leads/{lead.pk}/", {"job_title": "Bump"}, format="json")
    url = f"/api/v1/leads/{lead.pk}/assign/"

    by_header = client.post(url, {"owner": world["other_rep"].pk}, format="json",
                            HTTP_IF_MATCH=stale)
    by_body = client.post(url, {"owner": world["other_rep"].pk, "version": 1}, format="json")

    assert by_header.status_code == 412
    assert by_body.status_code == 409
    assert by_body.json()["current_version"] == 2
    lead.refresh_from_db()
    assert lead.owner == world["users"]["rep"]


def test_assign_without_a_version_is_428(world):
    lead = world["lead"]

    response = _client(world, "manager").post(
        f"/api/v1/leads/{lead.pk}/assign/", {"owner": world["other_rep"].pk}, format="json"
    )

    assert response.status_code == 428
    lead.refresh_from_db()
    assert lead.owner == world["users"]["rep"]


def test_assign_to_an_unknown_user_is_a_400_naming_owner(world):
    lead = world["lead"]

    response = _client(world, "manager").post(
        f"/api/v1/leads/{lead.pk}/assign/", {"owner": MISSING, "version": lead.version},
        format="json",
    )

    assert response.status_code == 400
    assert "owner" in response.json()


# --- CSRF on session-authenticated writes --------------------------------------------------------


def _csrf_client(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/leads/")  # a page that sets the csrftoken cookie
    return client


@pytest.mark.parametrize("method", ["post", "patch"])
def test_session_write_without_csrf_token_is_403_and_changes_nothing(world, method):
    client, lead = _csrf_client(world["users"]["rep"]), world["lead"]
    url = "/api/v1/leads/" if method == "post" else f"/api/v1/leads/{lead.pk}/"
    before = _snapshot()

    response = getattr(client, method)(url, _lead_body(world) if method == "post" else
                                       {"job_title": "No token"}, content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert _snapshot() == before


@pytest.mark.parametrize("method", ["post", "patch"])
def test_session_write_with_csrf_token_succeeds(world, method):
    client, lead = _csrf_client(world["users"]["rep"]), world["lead"]
    token = client.cookies["csrftoken"].value
    url = "/api/v1/leads/" if method == "post" else f"/api/v1/leads/{lead.pk}/"

    response = getattr(client, method)(url, _lead_body(world) if method == "post" else
                                       {"job_title": "With token"},
                                       content_type="application/json", HTTP_X_CSRFTOKEN=token)

    assert response.status_code in (200, 201), response.content
    if method == "post":
        assert Lead.objects.filter(email="ada@matrix.example").exists()
    else:
        lead.refresh_from_db()
        assert lead.job_title == "With token"


def test_token_auth_needs_no_csrf(world):
    client = APIClient(enforce_csrf_checks=True)
    token, _ = Token.objects.get_or_create(user=world["users"]["rep"])
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = client.post("/api/v1/leads/", _lead_body(world), format="json")

    assert response.status_code == 201, response.content
