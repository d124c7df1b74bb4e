"""Scoring through its doors: the lead API's breakdown, the rescore status endpoint, the admin,
the command line and the schedule."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from leads.models import Lead
from leads.scoring.models import RescoreRun, ScoringRule
from leads.services import activity_create

pytestmark = pytest.mark.django_db

LATEST = "/api/v1/scoring/rescores/latest/"


@pytest.fixture
def rules(db):
    return [
        ScoringRule.objects.create(name="Engineers", kind="fit", field="job_title",
                                   operator="contains", value="engineer", points=12),
        ScoringRule.objects.create(name="Demo asked", kind="engagement",
                                   activity_type="demo_requested", points=20, cap=30),
    ]


def test_lead_api_explains_the_score_with_a_breakdown_that_adds_up(rules, rep, lead_factory,
                                                                   api_as):
    lead = lead_factory(owner=rep, job_title="Senior Engineer")
    activity_create(lead=lead, type="demo_requested", actor=rep)

    body = api_as(rep).get(f"/api/v1/leads/{lead.pk}/").json()

    lines = {line["rule"]: (line["points"], line["count"]) for line in body["score_breakdown"]}
    assert lines == {"Engineers": (12, 1), "Demo asked": (20, 1)}
    assert body["score"] == 32 == sum(line["points"] for line in body["score_breakdown"])


def test_admin_sees_rescore_progress_through_the_api(rules, admin_user, lead_factory, api_as,
                                                     django_capture_on_commit_callbacks):
    for _ in range(3):
        lead_factory()
    client = api_as(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/scoring/rescores/")
    latest = client.get(LATEST).json()

    assert response.status_code == 202
    assert latest["id"] == response.json()["id"]
    assert (latest["status"], latest["done"], latest["total"], latest["percent"]) == (
        "done", 3, 3, 100.0)


def test_a_rep_cannot_see_or_start_rescores(rep, api_as):
    client = api_as(rep)

    assert client.get(LATEST).status_code == 403
    assert client.post("/api/v1/scoring/rescores/").status_code == 403
    assert not RescoreRun.objects.exists()


def test_saving_a_rule_in_the_admin_starts_a_rescore(client, admin_user, lead_factory,
                                                     django_capture_on_commit_callbacks):
    lead = lead_factory(job_title="Head of Data")
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/leads/scoringrule/add/", {
            "name": "Heads", "active": "on", "kind": "fit", "points": "15",
            "field": "job_title", "operator": "contains", "value": "head",
        })

    assert response.status_code == 302
    run = RescoreRun.objects.get()
    assert (run.status, run.done, run.total) == ("done", 1, 1)
    lead.refresh_from_db()
    assert lead.score == 15


def test_admin_rule_form_names_the_bad_field(client, admin_user):
    client.force_login(admin_user)

    response = client.post("/admin/leads/scoringrule/add/", {
        "name": "Bad", "active": "on", "kind": "fit", "points": "5",
        "field": "employees", "operator": "gte", "value": "lots",
    })

    assert response.status_code == 200
    assert "Employees are compared with whole numbers." in response.content.decode()
    assert not ScoringRule.objects.exists()


def test_rescore_command_scores_every_lead_with_a_progress_bar(rules, lead_factory, capsys):
    for title in ("Engineer", "Engineer", "Designer"):
        lead_factory(job_title=title)
    Lead.objects.update(score=0)

    call_command("rescore_leads", "--batch-size", "2")

    out, err = capsys.readouterr()
    assert "Rescored 3 leads" in out
    assert "3/3" in err  # tqdm's bar on stderr
    assert sorted(Lead.objects.values_list("score", flat=True)) == [0, 12, 12]
    assert RescoreRun.objects.get().status == "done"


def test_decay_is_applied_every_night_by_beat():
    task = PeriodicTask.objects.get(task="leads.tasks.scoring_decay_task")

    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("2", "0")


def test_changing_an_accounts_industry_in_the_admin_rescores_its_leads(client, admin_user,
                                                                       lead_factory, account):
    ScoringRule.objects.create(name="Fintech", kind="fit", field="industry", operator="equals",
                               value="fintech", points=25)
    leads = [lead_factory(account=account) for _ in range(2)]
    assert {lead.score for lead in leads} == {0}
    client.force_login(admin_user)

    response = client.post(f"/admin/leads/account/{account.pk}/change/", {
        "name": account.name, "domain": account.domain, "industry": "Fintech",
        "employees": "50", "country": "DE",
    })

    assert response.status_code == 302
    assert sorted(Lead.objects.filter(account=account).values_list("score", flat=True)) == [25, 25]


def test_a_rep_sees_the_score_breakdown_on_their_lead_in_the_admin(client, rep, lead_factory):
    ScoringRule.objects.create(name="Heads of", kind="fit", field="job_title",
                               operator="contains", value="head", points=20)
    rep.is_staff = True
    rep.save(update_fields=["is_staff"])
    lead = lead_factory(owner=rep, job_title="Head of Marketing")
    client.force_login(rep)

    page = client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()

    assert "score breakdown" in page.lower()
    assert "Heads of" in page
