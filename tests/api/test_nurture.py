"""Nurture workflows and enrolments through the API."""

import pytest

from campaigns.models import NurtureEnrolment, NurtureWorkflow
from campaigns.services import nurture_enrol
from leads.actors import SystemActor

pytestmark = pytest.mark.django_db

WORKFLOWS = "/api/v1/nurture-workflows/"
ENROLMENTS = "/api/v1/nurture-enrolments/"


def test_marketer_creates_renames_and_deactivates_a_workflow(api_as, marketer, campaign_factory):
    campaign = campaign_factory(channel="email")
    client = api_as(marketer)

    created = client.post(WORKFLOWS, {"name": "Trial", "goal": "Demo booked",
                                      "campaign": campaign.pk}, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    changed = client.patch(f"{WORKFLOWS}{pk}/", {"name": "Trial v2", "is_active": False},
                           format="json")

    assert changed.status_code == 200, changed.json()
    workflow = NurtureWorkflow.objects.get(pk=pk)
    assert (workflow.name, workflow.is_active, workflow.campaign) == ("Trial v2", False, campaign)
    listed = client.get(WORKFLOWS, {"is_active": "false"}).json()["results"]
    assert [w["name"] for w in listed] == ["Trial v2"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"goal": "x"}, "name"),
    ({"name": "Taken", "goal": "x"}, "name"),
    ({"name": "New", "goal": "x", "campaign": 999999}, "campaign"),
    ({"name": "New", "goal": "x", "is_active": False}, "is_active"),
])
def test_invalid_workflow_is_400_naming_the_field(api_as, marketer, payload, field):
    NurtureWorkflow.objects.create(name="Taken", goal="g")

    response = api_as(marketer).post(WORKFLOWS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert NurtureWorkflow.objects.count() == 1


def test_rep_reads_workflows_but_cannot_write_them(api_as, rep):
    workflow = NurtureWorkflow.objects.create(name="W", goal="g")
    client = api_as(rep)

    assert client.get(f"{WORKFLOWS}{workflow.pk}/").status_code == 200
    assert client.post(WORKFLOWS, {"name": "X", "goal": "g"}, format="json").status_code == 403
    assert client.patch(f"{WORKFLOWS}{workflow.pk}/", {"name": "X"},
                        format="json").status_code == 403


def test_enrol_then_close_and_enrol_again_is_the_same_enrolment(api_as, marketer, lead):
    workflow = NurtureWorkflow.objects.create(name="W", goal="g")
    client = api_as(marketer)

    first = client.post(ENROLMENTS, {"workflow": workflow.pk, "lead": lead.pk}, format="json")
    again = client.post(ENROLMENTS, {"workflow": workflow.pk, "lead": lead.pk}, format="json")

    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    closed = client.post(f"{ENROLMENTS}{first.json()['id']}/close/",
                         {"goal_reached_at": first.json()["entered_at"]}, format="json")
    assert closed.status_code == 200, closed.json()
    assert NurtureEnrolment.objects.get().goal_reached_at is not None
    assert client.post(f"{ENROLMENTS}{first.json()['id']}/close/", {},
                       format="json").status_code == 400
    reached = client.get(ENROLMENTS, {"goal_reached": "true"}).json()
    assert reached["count"] == 1


def test_rep_sees_only_enrolments_of_own_leads(api_as, rep, other_rep, lead_factory):
    workflow = NurtureWorkflow.objects.create(name="W", goal="g")
    mine, theirs = lead_factory(owner=rep), lead_factory(owner=other_rep)
    nurture_enrol(actor=SystemActor.SYSTEM, workflow=workflow, lead=mine)
    other = nurture_enrol(actor=SystemActor.SYSTEM, workflow=workflow, lead=theirs)
    client = api_as(rep)

    listed = client.get(ENROLMENTS).json()["results"]

    assert [e["lead"] for e in listed] == [mine.pk]
    assert client.get(f"{ENROLMENTS}{other.pk}/").status_code == 404
