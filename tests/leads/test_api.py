"""The leads API through its real door: DRF's test client, token and session auth, the router's
URLs."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from leads.actors import SystemActor
from leads.models import Lead, StageTransition
from leads.services import lead_move_to_stage

pytestmark = pytest.mark.django_db

LEADS_URL = "/api/v1/leads/"


def detail_url(lead):
    return f"{LEADS_URL}{lead.pk}/"


def move_url(lead):
    return f"{LEADS_URL}{lead.pk}/move/"


def transitions_url(lead):
    return f"{LEADS_URL}{lead.pk}/transitions/"


def put_in_stage(lead, *stages, actor=SystemActor.SYSTEM, reason=""):
    """Walk a lead forward through the lifecycle service, as the pipeline would."""
    for stage in stages:
        lead = lead_move_to_stage(lead=lead, to_stage=stage, actor=actor, reason=reason)
    return lead


def emails(response):
    return {row["email"] for row in response.json()["results"]}


# --- authentication ---------------------------------------------------------------------------


def test_token_endpoint_issues_a_token_that_authenticates_the_api(rep, lead_factory):
    # given
    lead_factory(owner=rep, email="mine@example.com")
    client = APIClient()

    # when
    response = client.post(
        "/api/v1/auth/token/", {"username": "rep1", "password": "pw"}, format="json"
    )

    # then
    assert response.status_code == 200
    token = response.json()["token"]
    assert token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    listed = client.get(LEADS_URL)
    assert listed.status_code == 200
    assert emails(listed) == {"mine@example.com"}


def test_token_endpoint_refuses_a_wrong_password(rep):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "rep1", "password": "nope"}, format="json"
    )

    assert response.status_code == 400
    assert "token" not in response.json()


def test_api_refuses_a_caller_without_credentials(lead):
    response = APIClient().get(LEADS_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "results" not in response.json()


def test_api_refuses_a_bogus_token(lead):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(LEADS_URL)

    assert response.status_code == 401


def test_a_deactivated_users_token_stops_working(rep, lead, api_as):
    client = api_as(rep)
    rep.is_active = False
    rep.save(update_fields=["is_active"])

    response = client.get(LEADS_URL)

    assert response.status_code in (401, 403)
    assert "results" not in response.json()


def _session_client(user):
    """A browser-like client: logged in by session, with Django's CSRF checks switched on."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    # The admin login page renders a form with {% csrf_token %}, so it sets the csrftoken cookie
    # (a non-staff user is shown the page rather than redirected).
    page = client.get("/admin/login/")
    assert page.status_code == 200
    return client


def test_session_auth_refuses_a_write_without_csrf_token(rep):
    client = _session_client(rep)

    response = client.post(LEADS_URL, {"email": "new@example.com"}, format="json")

    assert response.status_code == 403
    assert "csrf" in response.json()["detail"].lower()
    assert not Lead.objects.filter(email="new@example.com").exists()


def test_session_auth_accepts_a_write_with_the_csrf_cookie_as_header(rep):
    client = _session_client(rep)
    csrf_token = client.cookies["csrftoken"].value

    response = client.post(
        LEADS_URL, {"email": "new@example.com"}, format="json", HTTP_X_CSRFTOKEN=csrf_token
    )

    assert response.status_code == 201, response.content
    assert Lead.objects.get(email="new@example.com").owner == rep


def test_session_auth_reads_without_csrf_token(rep, lead_factory):
    lead_factory(owner=rep, email="mine@example.com")
    client = _session_client(rep)

    response = client.get(LEADS_URL)

    assert response.status_code == 200
    assert emails(response) == {"mine@example.com"}


# --- list ----------------------------------------------------------------------------------------


@pytest.fixture
def two_reps_leads(rep, other_rep, lead_factory):
    lead_factory(owner=rep, email="rep-a@example.com")
    lead_factory(owner=rep, email="rep-b@example.com")
    lead_factory(owner=other_rep, email="other-a@example.com")


def test_rep_lists_only_their_own_leads(rep, two_reps_leads, api_as):
    response = api_as(rep).get(LEADS_URL)

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert emails(response) == {"rep-a@example.com", "rep-b@example.com"}


@pytest.mark.parametrize("who", ["manager", "marketer"])
def test_manager_and_marketer_list_every_lead(who, request, two_reps_leads, api_as):
    user = request.getfixturevalue(who)

    response = api_as(user).get(LEADS_URL)

    assert response.status_code == 200
    assert emails(response) == {"rep-a@example.com", "rep-b@example.com", "other-a@example.com"}


def test_list_is_paginated(rep, lead_factory, api_as):
    for i in range(3):
        lead_factory(owner=rep, email=f"p{i}@example.com")

    body = api_as(rep).get(LEADS_URL).json()

    assert body["count"] == 3
    assert len(body["results"]) == 3
    assert "next" in body
    assert "previous" in body


def test_list_filters_by_stage(rep, lead_factory, api_as):
    # given
    put_in_stage(lead_factory(owner=rep, email="mql@example.com"), "mql")
    lead_factory(owner=rep, email="fresh@example.com")

    # when
    response = api_as(rep).get(LEADS_URL, {"stage": "mql"})

    # then
    assert response.status_code == 200
    assert emails(response) == {"mql@example.com"}


def test_list_filters_by_owner(manager, rep, other_rep, two_reps_leads, api_as):
    response = api_as(manager).get(LEADS_URL, {"owner": other_rep.pk})

    assert response.status_code == 200
    assert emails(response) == {"other-a@example.com"}


def test_rep_filtering_by_another_owner_sees_nothing(rep, other_rep, two_reps_leads, api_as):
    response = api_as(rep).get(LEADS_URL, {"owner": other_rep.pk})

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_list_filters_by_channel(rep, lead_factory, api_as):
    lead_factory(owner=rep, email="mail@example.com", channel="email")
    lead_factory(owner=rep, email="search@example.com", channel="organic_search")

    response = api_as(rep).get(LEADS_URL, {"channel": "email"})

    assert response.status_code == 200
    assert emails(response) == {"mail@example.com"}


def test_list_refuses_an_unknown_stage_filter(rep, lead, api_as):
    response = api_as(rep).get(LEADS_URL, {"stage": "bogus"})

    assert response.status_code == 400
    assert "stage" in response.json()


# Token lookup, the user's permissions (user + group), the count, the page of leads.
LIST_MAX_QUERIES = 6  # + the score breakdown, prefetched in one query


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_list_query_count_does_not_grow_with_the_number_of_leads(
    who, request, rep, lead_factory, api_as, django_assert_max_num_queries
):
    # given
    user = request.getfixturevalue(who)
    client = api_as(user)
    for _ in range(5):
        lead_factory(owner=rep)
    with CaptureQueriesContext(connection) as five:
        assert client.get(LEADS_URL).json()["count"] == 5
    for _ in range(25):
        lead_factory(owner=rep)

    # when
    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        response = client.get(LEADS_URL)

    # then
    assert response.json()["count"] == 30
    with CaptureQueriesContext(connection) as thirty:
        client.get(LEADS_URL)
    assert len(thirty) == len(five)


# --- detail: another rep's lead does not exist for you --------------------------------------------


def test_another_reps_lead_is_not_found_through_any_door(rep, other_rep, lead_factory, api_as):
    # given
    theirs = lead_factory(owner=other_rep, email="theirs@example.com")
    client = api_as(rep)

    # when
    answers = {
        "detail": client.get(detail_url(theirs)).status_code,
        "update": client.patch(detail_url(theirs), {"phone": "123"}, format="json").status_code,
        "move": client.post(move_url(theirs), {"to_stage": "mql"}, format="json").status_code,
        "transitions": client.get(transitions_url(theirs)).status_code,
    }

    # then
    assert answers == {"detail": 404, "update": 404, "move": 404, "transitions": 404}
    theirs.refresh_from_db()
    assert theirs.stage == "lead"
    assert theirs.phone == ""
    assert theirs.version == 1


def test_rep_reads_their_own_lead(rep, lead, api_as):
    response = api_as(rep).get(detail_url(lead))

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == lead.email
    assert body["owner"] == rep.pk
    assert body["owner_username"] == "rep1"
    assert body["stage"] == "lead"


def test_leads_cannot_be_deleted_through_the_api(manager, lead, api_as):
    response = api_as(manager).delete(detail_url(lead))

    assert response.status_code == 405
    assert Lead.objects.filter(pk=lead.pk).exists()


# --- create --------------------------------------------------------------------------------------


def test_create_makes_the_creator_the_owner(rep, api_as):
    response = api_as(rep).post(
        LEADS_URL,
        {"email": "new@example.com", "first_name": "Grace", "channel": "email"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["owner"] == rep.pk
    assert body["stage"] == "lead"
    lead = Lead.objects.get(pk=body["id"])
    assert lead.owner == rep
    assert lead.first_touch_channel == lead.last_touch_channel == "email"
    assert [(t.from_stage, t.to_stage, t.actor_user) for t in lead.transitions.all()] == [
        ("", "lead", rep)
    ]


def test_create_ignores_lifecycle_fields_in_the_body(rep, other_rep, api_as):
    response = api_as(rep).post(
        LEADS_URL,
        {
            "email": "sneaky@example.com",
            "stage": "won",
            "score": 99,
            "owner": other_rep.pk,
            "became_mql_at": "2020-01-01T00:00:00Z",
            "became_won_at": "2020-01-01T00:00:00Z",
            "version": 7,
        },
        format="json",
    )

    assert response.status_code == 201
    lead = Lead.objects.get(email="sneaky@example.com")
    assert lead.stage == "lead"
    assert lead.score == 0
    assert lead.owner == rep
    assert lead.became_mql_at is None
    assert lead.became_won_at is None
    assert lead.version == 1


def test_create_refuses_a_duplicate_email_in_another_case(rep, lead_factory, api_as):
    lead_factory(email="taken@example.com")

    response = api_as(rep).post(LEADS_URL, {"email": "TAKEN@Example.com"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    assert Lead.objects.filter(email__iexact="taken@example.com").count() == 1


def test_create_refuses_a_bad_email(rep, api_as):
    response = api_as(rep).post(LEADS_URL, {"email": "not-an-email"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    assert not Lead.objects.exists()


# --- update --------------------------------------------------------------------------------------


def test_patch_changes_contact_fields_and_bumps_version(rep, lead, api_as):
    response = api_as(rep).patch(
        detail_url(lead),
        {"phone": "+49 30 1234", "job_title": "CTO", "version": 1},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == "+49 30 1234"
    assert body["job_title"] == "CTO"
    assert body["version"] == 2
    lead.refresh_from_db()
    assert (lead.phone, lead.job_title, lead.version) == ("+49 30 1234", "CTO", 2)


def test_patch_with_a_stale_version_is_a_conflict(rep, lead, api_as):
    # given: someone else saved the lead since we read version 1
    client = api_as(rep)
    first = client.patch(detail_url(lead), {"phone": "1", "version": 1}, format="json")
    assert first.status_code == 200

    # when
    response = client.patch(detail_url(lead), {"phone": "2", "version": 1}, format="json")

    # then
    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    lead.refresh_from_db()
    assert lead.phone == "1"


def test_patch_cannot_change_the_stage(rep, lead, api_as):
    response = api_as(rep).patch(detail_url(lead), {"stage": "won"}, format="json")

    assert response.status_code in (200, 400)
    lead.refresh_from_db()
    assert lead.stage == "lead"
    assert lead.became_won_at is None
    assert lead.transitions.count() == 1


def test_patch_refuses_an_email_taken_by_another_lead(rep, lead, lead_factory, api_as):
    lead_factory(email="taken@example.com")

    response = api_as(rep).patch(detail_url(lead), {"email": "Taken@example.com"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    lead.refresh_from_db()
    assert lead.email != "Taken@example.com"


# --- move ----------------------------------------------------------------------------------------


def test_move_forward_changes_stage_and_stamps_the_date(rep, lead, api_as):
    response = api_as(rep).post(
        move_url(lead), {"to_stage": "mql", "note": "downloaded the whitepaper", "version": 1},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == "mql"
    assert body["version"] == 2
    assert body["became_mql_at"] is not None
    transition = lead.transitions.order_by("-id").first()
    assert (transition.from_stage, transition.to_stage) == ("lead", "mql")
    assert transition.actor_user == rep
    assert transition.note == "downloaded the whitepaper"


def test_move_with_a_stale_version_is_a_conflict_and_changes_nothing(rep, lead, api_as):
    # given
    client = api_as(rep)
    first = client.post(move_url(lead), {"to_stage": "mql", "version": 1}, format="json")
    assert first.status_code == 200
    transitions_before = lead.transitions.count()

    # when: a second user, who also read version 1, moves it elsewhere
    response = client.post(move_url(lead), {"to_stage": "sql", "version": 1}, format="json")

    # then
    assert response.status_code == 409
    assert response.json()["current_version"] == 2
    lead.refresh_from_db()
    assert lead.stage == "mql"
    assert lead.became_sql_at is None
    assert lead.version == 2
    assert lead.transitions.count() == transitions_before


def _refused(response, rule):
    assert response.status_code == 400, response.content
    assert response.json()["rule"] == rule
    assert response.json()["detail"]


def test_rep_may_not_move_backward(rep, lead, api_as):
    lead = put_in_stage(lead, "mql", "sql")

    response = api_as(rep).post(
        move_url(lead), {"to_stage": "mql", "note": "not ready", "version": lead.version},
        format="json",
    )

    _refused(response, "backward_move_not_permitted")
    lead.refresh_from_db()
    assert lead.stage == "sql"


def test_lost_needs_a_reason(rep, lead, api_as):
    lead = put_in_stage(lead, "sql")
    transitions_before = lead.transitions.count()

    response = api_as(rep).post(
        move_url(lead), {"to_stage": "lost", "reason": " ", "version": lead.version}, format="json"
    )

    _refused(response, "reason_required")
    lead.refresh_from_db()
    assert lead.stage == "sql"
    assert lead.transitions.count() == transitions_before


def test_lost_is_not_allowed_from_lead(rep, lead, api_as):
    response = api_as(rep).post(
        move_url(lead), {"to_stage": "lost", "reason": "went quiet", "version": 1}, format="json"
    )

    _refused(response, "lost_not_allowed_from_stage")
    lead.refresh_from_db()
    assert lead.stage == "lead"


def test_lost_with_a_reason_closes_the_lead(rep, lead, api_as):
    lead = put_in_stage(lead, "sql")

    response = api_as(rep).post(
        move_url(lead),
        {"to_stage": "lost", "reason": "chose a competitor", "version": lead.version},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == "lost"
    assert body["exit_reason"] == "chose a competitor"
    assert body["closed_at"] is not None


def test_rep_may_not_reopen_a_won_lead(rep, lead, api_as):
    lead = put_in_stage(lead, "won")

    response = api_as(rep).post(
        move_url(lead),
        {"to_stage": "opportunity", "note": "renegotiating", "version": lead.version},
        format="json",
    )

    _refused(response, "reopen_requires_manager")
    lead.refresh_from_db()
    assert lead.stage == "won"


def test_move_to_an_unknown_stage_is_refused(rep, lead, api_as):
    response = api_as(rep).post(move_url(lead), {"to_stage": "heaven"}, format="json")

    assert response.status_code == 400
    assert "to_stage" in response.json()
    lead.refresh_from_db()
    assert lead.stage == "lead"


def test_manager_moves_backward_with_a_note_keeping_first_reached_dates(manager, lead, api_as):
    lead = put_in_stage(lead, "mql", "sql")
    became_sql_at = lead.became_sql_at

    response = api_as(manager).post(
        move_url(lead),
        {"to_stage": "mql", "note": "budget frozen until Q3", "version": lead.version},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["stage"] == "mql"
    lead.refresh_from_db()
    assert lead.stage == "mql"
    assert lead.became_sql_at == became_sql_at
    latest = lead.transitions.order_by("-id").first()
    assert (latest.from_stage, latest.to_stage, latest.actor_user) == ("sql", "mql", manager)
    assert latest.note == "budget frozen until Q3"


def test_manager_moving_backward_needs_a_note(manager, lead, api_as):
    lead = put_in_stage(lead, "mql", "sql")

    response = api_as(manager).post(
        move_url(lead), {"to_stage": "mql", "version": lead.version}, format="json"
    )

    _refused(response, "backward_move_requires_note")


def test_manager_reopens_a_won_lead(manager, lead, api_as):
    lead = put_in_stage(lead, "won")

    response = api_as(manager).post(
        move_url(lead),
        {"to_stage": "opportunity", "note": "contract fell through", "version": lead.version},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == "opportunity"
    assert body["closed_at"] is None
    assert body["became_won_at"] is not None


# --- transitions ---------------------------------------------------------------------------------


def test_transitions_are_listed_newest_first(rep, lead, api_as):
    client = api_as(rep)
    version = lead.version
    for stage in ("mql", "sql", "opportunity"):
        moved = client.post(move_url(lead), {"to_stage": stage, "version": version}, format="json")
        assert moved.status_code == 200
        version = moved.json()["version"]

    response = client.get(transitions_url(lead))

    assert response.status_code == 200
    rows = response.json()
    assert [(r["from_stage"], r["to_stage"]) for r in rows] == [
        ("sql", "opportunity"),
        ("mql", "sql"),
        ("lead", "mql"),
        ("", "lead"),
    ]
    assert rows[0]["actor"] == "rep1"
    assert rows[-1]["actor"] == "System"
    assert StageTransition.objects.filter(lead=lead).count() == 4


# --- schema and docs -----------------------------------------------------------------------------


def test_openapi_schema_describes_the_move_endpoint(rep, api_as):
    response = api_as(rep).get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/leads/{id}/move/" in schema["paths"]
    assert "post" in schema["paths"]["/api/v1/leads/{id}/move/"]


def test_api_docs_page_loads_without_any_cdn(rep, client):
    client.force_login(rep)

    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode().lower()
    assert "swagger" in html
    for cdn in ("cdn", "jsdelivr", "unpkg"):
        assert cdn not in html
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == []


def test_token_endpoint_limits_password_guessing(rep, monkeypatch):
    # given: a rate of 3 a minute for the token endpoint (the "auth" scope)
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    client = APIClient()

    # when: a fourth guess within the minute
    guesses = [{"username": "rep1", "password": f"guess{i}"} for i in range(4)]
    codes = [client.post("/api/v1/auth/token/", g).status_code for g in guesses]

    # then: it is refused with a time to wait, before the password is even checked
    assert codes == [400, 400, 400, 429]
    cache.clear()
