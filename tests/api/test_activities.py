"""Activities through the API: scoped to the leads the caller may see, logged through the same
service as the lead page (so the lead is rescored), errors naming the field."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Activity, ActivityType
from leads.scoring.models import RuleKind, ScoringRule
from leads.services import activity_create

pytestmark = pytest.mark.django_db


def url(lead):
    return f"/api/v1/leads/{lead.pk}/activities/"


def test_rep_logs_a_call_on_own_lead_and_reads_it_back(api_as, rep, lead):
    # when
    response = api_as(rep).post(url(lead), {"type": "call", "note": "Asked for pricing"},
                                format="json")

    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["type"] == "call"
    assert body["lead"] == lead.pk
    assert body["actor"] == "rep1"
    assert body["payload"] == {"note": "Asked for pricing"}
    listed = api_as(rep).get(url(lead)).json()
    assert [a["id"] for a in listed["results"]] == [body["id"]]
    assert Activity.objects.get(pk=body["id"]).actor_user == rep


def test_logging_an_engagement_rescores_the_lead(api_as, rep, lead):
    # given: an engagement rule worth 15 points per demo request
    ScoringRule.objects.create(name="Demo", kind=RuleKind.ENGAGEMENT, points=15,
                               activity_type=ActivityType.DEMO_REQUESTED)

    # when
    response = api_as(rep).post(url(lead), {"type": "demo_requested"}, format="json")

    # then
    assert response.status_code == 201
    lead.refresh_from_db()
    assert lead.score == 15


def test_another_reps_lead_is_404_to_read_and_to_log(api_as, rep, other_rep, lead_factory):
    theirs = lead_factory(owner=other_rep)
    activity_create(lead=theirs, type="call", actor=other_rep)
    client = api_as(rep)

    assert client.get(url(theirs)).status_code == 404
    assert client.post(url(theirs), {"type": "call"}, format="json").status_code == 404
    assert Activity.objects.filter(lead=theirs).count() == 1
    # the cross-lead list leaves them out too, even when asked for by lead id
    assert client.get("/api/v1/activities/", {"lead": theirs.pk}).json()["count"] == 0


def test_manager_lists_every_reps_activities_with_filters(api_as, manager, rep, other_rep,
                                                          lead_factory):
    mine, theirs = lead_factory(owner=rep), lead_factory(owner=other_rep)
    old = timezone.now() - timedelta(days=10)
    activity_create(lead=mine, type="call", actor=rep, at=old)
    activity_create(lead=mine, type="meeting", actor=rep)
    activity_create(lead=theirs, type="call", actor=other_rep)
    client = api_as(manager)

    assert client.get("/api/v1/activities/").json()["count"] == 3
    calls = client.get("/api/v1/activities/", {"type": "call"}).json()
    assert {a["lead"] for a in calls["results"]} == {mine.pk, theirs.pk}
    recent = client.get("/api/v1/activities/", {
        "at_after": (timezone.now() - timedelta(days=1)).isoformat(),
    }).json()
    assert {a["type"] for a in recent["results"]} == {"meeting", "call"}
    assert recent["count"] == 2
    assert client.get("/api/v1/activities/", {"lead": mine.pk}).json()["count"] == 2


def test_rep_lists_only_own_activities(api_as, rep, other_rep, lead_factory):
    mine, theirs = lead_factory(owner=rep), lead_factory(owner=other_rep)
    activity_create(lead=mine, type="call", actor=rep)
    activity_create(lead=theirs, type="call", actor=other_rep)

    body = api_as(rep).get("/api/v1/activities/").json()

    assert [a["lead"] for a in body["results"]] == [mine.pk]


@pytest.mark.parametrize(("payload", "field"), [
    ({"type": "carrier_pigeon"}, "type"),
    ({}, "type"),
    ({"type": "call", "at": "yesterday-ish"}, "at"),
    ({"type": ["call"]}, "type"),
    ({"type": "call", "note": "x" * 2001}, "note"),
])
def test_invalid_activity_is_400_naming_the_field(api_as, rep, lead, payload, field):
    response = api_as(rep).post(url(lead), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Activity.objects.filter(lead=lead).exists()


def test_future_activity_is_refused_by_the_service_naming_at(api_as, rep, lead):
    later = (timezone.now() + timedelta(days=2)).isoformat()

    response = api_as(rep).post(url(lead), {"type": "call", "at": later}, format="json")

    assert response.status_code == 400
    assert "at" in response.json()


def test_malformed_json_is_400_not_500(api_as, rep, lead):
    response = api_as(rep).generic("POST", url(lead), '{"type": "call",', "application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_anonymous_caller_is_refused(api_client, lead):
    assert api_client.get(url(lead)).status_code == 401
    assert api_client.get("/api/v1/activities/").status_code == 401


def test_list_is_paginated(api_as, rep, lead):
    for _ in range(3):
        activity_create(lead=lead, type="call", actor=rep)
    client = api_as(rep)

    first = client.get(url(lead), {"page": 1}).json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 3
    assert first["next"] is None
    assert len(first["results"]) == 3
    assert client.get(url(lead), {"page": 2}).status_code == 404


def test_activity_list_query_count_is_flat(api_as, manager, lead_factory, rep,
                                           django_assert_max_num_queries):
    for _ in range(5):
        activity_create(lead=lead_factory(owner=rep), type="call", actor=rep)
    client = api_as(manager)

    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/activities/").json()["count"] == 5


def test_ids_too_long_for_the_database_are_404_or_400_never_500(api_as, manager):
    # SQLite's driver raised OverflowError (a 500) for ids past 64 bits
    client = api_as(manager)
    huge = 10**30

    assert client.get(f"/api/v1/leads/{huge}/activities/").status_code == 404
    assert client.get(f"/api/v1/accounts/{huge}/").status_code == 404
    assert client.get(f"/api/v1/campaigns/{huge}/").status_code == 404
    assert client.get("/api/v1/activities/", {"lead": huge}).status_code == 400
    assert client.get("/api/v1/daily-metrics/", {"campaign": "1e400"}).status_code == 400
