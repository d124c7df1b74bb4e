"""Conflicts on the lead API: the ETag a read answers, If-Match on updates and moves (stale: 412),
a move naming no version (428), and the body's version (stale: 409, as before)."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leads.models import Lead
from tests.factories import LeadFactory
from tests.threads import run_at_once

pytestmark = pytest.mark.django_db


def detail_url(lead):
    return f"/api/v1/leads/{lead.pk}/"


def move_url(lead):
    return f"/api/v1/leads/{lead.pk}/move/"


@pytest.fixture
def client(rep, api_as):
    return api_as(rep)


def etag_of(client, lead) -> str:
    response = client.get(detail_url(lead))
    assert response.status_code == 200
    return response["ETag"]


def test_a_read_answers_an_etag_that_changes_with_the_lead(client, lead):
    # given
    before = etag_of(client, lead)

    # when
    moved = client.post(move_url(lead), {"to_stage": "mql"}, format="json", HTTP_IF_MATCH=before)

    # then: the move answers the new ETag, which a fresh read confirms
    assert moved.status_code == 200
    after = etag_of(client, lead)
    assert after != before
    assert moved["ETag"] == after
    assert before == f'"lead-{lead.pk}-v1"'
    assert after == f'"lead-{lead.pk}-v2"'


def test_patch_with_a_current_etag_saves(client, lead):
    etag = etag_of(client, lead)

    response = client.patch(detail_url(lead), {"phone": "+49 30 1"}, format="json",
                            HTTP_IF_MATCH=etag)

    assert response.status_code == 200
    assert response.json()["phone"] == "+49 30 1"
    assert response["ETag"] == f'"lead-{lead.pk}-v2"'


@pytest.mark.parametrize("method", ["patch", "put"])
def test_an_update_with_a_stale_etag_is_412_and_changes_nothing(client, lead, method):
    # given: someone saved the lead after we read it
    stale = etag_of(client, lead)
    assert client.patch(detail_url(lead), {"phone": "1"}, format="json").status_code == 200

    # when
    response = getattr(client, method)(
        detail_url(lead), {"email": lead.email, "phone": "2"}, format="json", HTTP_IF_MATCH=stale
    )

    # then
    assert response.status_code == 412
    body = response.json()
    assert body["current_version"] == 2
    assert "If-Match" in body["detail"]
    assert response["ETag"] == f'"lead-{lead.pk}-v2"'
    lead.refresh_from_db()
    assert (lead.phone, lead.version) == ("1", 2)


def test_an_update_without_if_match_or_version_still_saves(client, lead):
    response = client.patch(detail_url(lead), {"job_title": "CTO"}, format="json")

    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.job_title == "CTO"


def test_a_move_with_a_stale_etag_is_412_and_moves_nothing(client, lead):
    stale = etag_of(client, lead)
    assert client.post(move_url(lead), {"to_stage": "mql", "version": 1},
                       format="json").status_code == 200

    response = client.post(move_url(lead), {"to_stage": "sql"}, format="json",
                           HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert response.json()["current_version"] == 2
    lead.refresh_from_db()
    assert (lead.stage, lead.version, lead.became_sql_at) == ("mql", 2, None)
    assert lead.transitions.count() == 2


@pytest.mark.parametrize(
    "headers", [{}, {"HTTP_IF_MATCH": "*"}], ids=["nothing", "if-match-star"]
)
def test_a_move_naming_no_version_is_428(client, lead, headers):
    response = client.post(move_url(lead), {"to_stage": "mql"}, format="json", **headers)

    assert response.status_code == 428
    detail = response.json()["detail"]
    assert "version" in detail
    assert "If-Match" in detail
    lead.refresh_from_db()
    assert (lead.stage, lead.version) == ("lead", 1)


def test_a_move_with_a_stale_body_version_is_still_409(client, lead):
    assert client.post(move_url(lead), {"to_stage": "mql", "version": 1},
                       format="json").status_code == 200

    response = client.post(move_url(lead), {"to_stage": "sql", "version": 1}, format="json")

    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    assert Lead.objects.get(pk=lead.pk).stage == "mql"


def test_a_stale_etag_wins_over_a_current_body_version(client, lead):
    # The header is checked first: whichever of the two is stale, nothing moves.
    stale = etag_of(client, lead)
    assert client.patch(detail_url(lead), {"phone": "1"}, format="json").status_code == 200

    response = client.post(move_url(lead), {"to_stage": "mql", "version": 2}, format="json",
                           HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert Lead.objects.get(pk=lead.pk).stage == "lead"


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        ('"lead-{pk}-v1"', 200),
        ('"other", "lead-{pk}-v1"', 200),  # a list: any one may match
        ('W/"lead-{pk}-v1"', 412),  # If-Match compares strongly: a weak tag never matches
        ("lead-{pk}-v1", 412),  # unquoted: not an entity tag
        ('"lead-{pk}-v2"', 412),  # a version it never had
        ("garbage,,", 412),
    ],
)
def test_if_match_follows_http_matching(client, lead, if_match, expected):
    response = client.post(move_url(lead), {"to_stage": "mql"}, format="json",
                           HTTP_IF_MATCH=if_match.format(pk=lead.pk))

    assert response.status_code == expected, response.content
    assert Lead.objects.get(pk=lead.pk).stage == ("mql" if expected == 200 else "lead")


def test_another_reps_lead_is_404_whatever_the_precondition(client, other_rep):
    theirs = LeadFactory(owner=other_rep)
    etag = f'"lead-{theirs.pk}-v1"'

    answers = [
        client.post(move_url(theirs), {"to_stage": "mql"}, format="json").status_code,
        client.post(move_url(theirs), {"to_stage": "mql"}, format="json",
                    HTTP_IF_MATCH='"stale"').status_code,
        client.patch(detail_url(theirs), {"phone": "1"}, format="json",
                     HTTP_IF_MATCH=etag).status_code,
    ]

    assert answers == [404, 404, 404]
    theirs.refresh_from_db()
    assert (theirs.stage, theirs.phone, theirs.version) == ("lead", "", 1)


def test_the_schema_documents_if_match_and_the_answers(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    move = schema["paths"]["/api/v1/leads/{id}/move/"]["post"]
    assert {"412", "428", "409"} <= set(move["responses"])
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in move["parameters"])
    patch = schema["paths"]["/api/v1/leads/{id}/"]["patch"]
    assert "412" in patch["responses"]
    detail = schema["paths"]["/api/v1/leads/{id}/"]["get"]
    assert "ETag" in detail["responses"]["200"]["headers"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_from_one_etag_have_one_winner(rep):
    # given: six clients that all read the lead at version 1
    lead = LeadFactory(owner=rep)
    token = Token.objects.create(user=rep).key
    etag = f'"lead-{lead.pk}-v1"'

    def move(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        to_stage = "mql" if i % 2 else "sql"
        return client.post(move_url(lead), {"to_stage": to_stage}, format="json",
                           HTTP_IF_MATCH=etag).status_code

    # when
    statuses = run_at_once(move, 6)

    # then: one moved it; every other was told its ETag is stale, never a silent second move
    assert sorted(statuses) == [200, 412, 412, 412, 412, 412]
    lead.refresh_from_db()
    assert lead.version == 2
    assert lead.transitions.count() == 2
