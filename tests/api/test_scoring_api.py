"""Scoring rules and settings through the API: admins change them (which queues a rescore),
marketers and managers read them, reps neither."""

import pytest

from leads.scoring.models import RescoreRun, ScoringRule, ScoringSettingsChange

pytestmark = pytest.mark.django_db

RULES = "/api/v1/scoring/rules/"
SETTINGS = "/api/v1/scoring/settings/"
FIT = {"name": "Software", "kind": "fit", "points": 10, "field": "job_title",
       "operator": "contains", "value": "cto"}


def test_admin_creates_changes_and_deletes_a_rule_queueing_a_rescore(api_as, admin_user):
    client = api_as(admin_user)

    created = client.post(RULES, FIT, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert client.patch(f"{RULES}{pk}/", {"points": 25}, format="json").status_code == 200
    assert ScoringRule.objects.get(pk=pk).points == 25
    assert client.delete(f"{RULES}{pk}/").status_code == 204

    assert not ScoringRule.objects.exists()
    # one queued run covers every later request until it starts
    assert RescoreRun.objects.filter(status=RescoreRun.Status.QUEUED).count() == 1


@pytest.mark.parametrize(("payload", "field"), [
    ({**FIT, "kind": "fit", "field": ""}, "field"),
    ({**FIT, "operator": "gte"}, "operator"),
    ({**FIT, "points": "ten"}, "points"),
    ({"name": "E", "kind": "engagement", "points": 5}, "activity_type"),
    ({**FIT, "kind": "vibes"}, "kind"),
])
def test_invalid_rule_is_400_naming_the_field(api_as, admin_user, payload, field):
    response = api_as(admin_user).post(RULES, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not ScoringRule.objects.exists()


@pytest.mark.parametrize("role", ["marketer", "manager"])
def test_marketers_and_managers_read_but_cannot_change(api_as, request, role):
    client = api_as(request.getfixturevalue(role))
    ScoringRule.objects.create(**FIT)

    assert client.get(RULES, {"kind": "fit"}).json()["count"] == 1
    assert client.get(SETTINGS).json()["mql_threshold"] == 50
    assert client.post(RULES, FIT, format="json").status_code == 403
    assert client.patch(SETTINGS, {"mql_threshold": 10}, format="json").status_code == 403


def test_rep_reads_neither(api_as, rep):
    client = api_as(rep)

    assert client.get(RULES).status_code == 403
    assert client.get(SETTINGS).status_code == 403


def test_admin_changes_settings_with_history_and_a_rescore(api_as, admin_user):
    response = api_as(admin_user).patch(SETTINGS, {"mql_threshold": 40}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["mql_threshold"] == 40
    change = ScoringSettingsChange.objects.get()
    assert (change.before["mql_threshold"], change.after["mql_threshold"]) == (50, 40)
    assert RescoreRun.objects.exists()


@pytest.mark.parametrize(("payload", "field"), [
    ({"sql_threshold": 10}, "sql_threshold"),
    ({"mql_threshold": 0}, "mql_threshold"),
    ({"half_life_days": "soon"}, "half_life_days"),
    ({"sql_auto_promote": "perhaps"}, "sql_auto_promote"),
])
def test_invalid_settings_are_400_naming_the_field(api_as, admin_user, payload, field):
    response = api_as(admin_user).patch(SETTINGS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not ScoringSettingsChange.objects.exists()


def test_rescore_status_still_answers(api_as, admin_user):
    client = api_as(admin_user)
    client.patch(SETTINGS, {"half_life_days": 10}, format="json")

    latest = client.get("/api/v1/scoring/rescores/latest/")

    assert latest.status_code == 200
    assert latest.json()["reason"] == "scoring settings changed"
