"""Campaign and nurture services: the rules every door (admin, API, import) relies on."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from campaigns.models import Campaign, NurtureEnrolment
from campaigns.services import (
    campaign_create,
    campaign_form_key_rotate,
    campaign_update,
    nurture_enrol,
    nurture_enrolment_close,
    nurture_workflow_create,
)

pytestmark = pytest.mark.django_db


def create(actor, **kwargs):
    return campaign_create(
        actor=actor, **{"name": "Spring sale", "channel": "paid_search",
                        "utm_campaign": "spring-sale", **kwargs}
    )


# --- campaigns ----------------------------------------------------------------------------------


def test_the_creating_marketer_owns_the_campaign_unless_another_owner_is_named(marketer, manager):
    mine = create(marketer)
    theirs = create(marketer, utm_campaign="for-manager", owner=manager)

    assert mine.owner == marketer
    assert theirs.owner == manager


def test_utm_campaign_is_stored_trimmed_and_lower_case(marketer):
    campaign = create(marketer, utm_campaign="  Spring-Sale ")

    assert Campaign.objects.get(pk=campaign.pk).utm_campaign == "spring-sale"


def test_a_campaign_cannot_end_before_it_starts(marketer):
    with pytest.raises(ValidationError) as exc:
        create(marketer, starts_on=date(2025, 3, 10), ends_on=date(2025, 3, 1))

    assert "ends_on" in exc.value.message_dict
    assert not Campaign.objects.exists()


def test_utm_campaign_is_unique_ignoring_case(marketer):
    create(marketer)

    with pytest.raises(ValidationError) as exc:
        create(marketer, name="Copy", utm_campaign="SPRING-SALE")

    assert "utm_campaign" in exc.value.message_dict
    assert Campaign.objects.count() == 1


def test_an_update_may_not_take_another_campaigns_utm_code(marketer):
    create(marketer)
    other = create(marketer, name="Autumn", utm_campaign="autumn")

    with pytest.raises(ValidationError) as exc:
        campaign_update(campaign=other, actor=marketer, data={"utm_campaign": "Spring-Sale"})

    assert "utm_campaign" in exc.value.message_dict
    assert Campaign.objects.get(pk=other.pk).utm_campaign == "autumn"


def test_an_update_checks_the_dates_it_would_leave(marketer):
    campaign = create(marketer, starts_on=date(2025, 3, 1), ends_on=date(2025, 3, 31))

    with pytest.raises(ValidationError) as exc:
        campaign_update(campaign=campaign, actor=marketer, data={"starts_on": date(2025, 4, 1)})

    assert "ends_on" in exc.value.message_dict
    assert Campaign.objects.get(pk=campaign.pk).starts_on == date(2025, 3, 1)


def test_an_update_keeps_its_own_utm_code_and_changes_what_it_names(marketer):
    campaign = create(marketer)

    updated = campaign_update(
        campaign=campaign, actor=marketer,
        data={"utm_campaign": "Spring-Sale", "status": "active", "budget": 500},
    )

    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.utm_campaign, stored.status, stored.budget) == ("spring-sale", "active", 500)
    assert updated.status == "active"


def test_an_update_refuses_fields_it_does_not_edit(marketer):
    campaign = create(marketer)

    with pytest.raises(ValidationError) as exc:
        campaign_update(campaign=campaign, actor=marketer, data={"form_key": "mine"})

    assert "form_key" in exc.value.message_dict


def test_a_rep_may_neither_create_nor_change_a_campaign(rep, marketer):
    with pytest.raises(PermissionDenied):
        create(rep)
    campaign = create(marketer)

    with pytest.raises(PermissionDenied):
        campaign_update(campaign=campaign, actor=rep, data={"name": "Mine now"})
    with pytest.raises(PermissionDenied):
        campaign_form_key_rotate(campaign=campaign, actor=rep)

    assert Campaign.objects.get().name == "Spring sale"


def test_rotating_the_form_key_retires_the_old_one(marketer):
    campaign = create(marketer)
    old_key = campaign.form_key

    campaign_form_key_rotate(campaign=campaign, actor=marketer)

    assert not Campaign.objects.filter(form_key=old_key).exists()
    assert Campaign.objects.get(pk=campaign.pk).form_key not in ("", old_key)


# --- nurture ------------------------------------------------------------------------------------


@pytest.fixture
def workflow(marketer):
    return nurture_workflow_create(actor=marketer, name="Trial onboarding", goal="demo booked")


def test_enrolling_a_lead_twice_keeps_its_first_enrolment(marketer, workflow, lead):
    first_at = timezone.now() - timedelta(days=3)
    first = nurture_enrol(actor=marketer, workflow=workflow, lead=lead, at=first_at)

    again = nurture_enrol(actor=marketer, workflow=workflow, lead=lead)

    assert again.pk == first.pk
    assert NurtureEnrolment.objects.get().entered_at == first_at


def test_closing_an_enrolment_twice_does_not_move_its_times(marketer, workflow, lead):
    entered = timezone.now() - timedelta(days=10)
    enrolment = nurture_enrol(actor=marketer, workflow=workflow, lead=lead, at=entered)
    goal_at, exit_at = entered + timedelta(days=2), entered + timedelta(days=3)
    nurture_enrolment_close(
        actor=marketer, enrolment=enrolment, goal_reached_at=goal_at, exited_at=exit_at
    )

    nurture_enrolment_close(
        actor=marketer, enrolment=enrolment, goal_reached_at=entered + timedelta(days=5),
        exited_at=entered + timedelta(days=6),
    )

    stored = NurtureEnrolment.objects.get(pk=enrolment.pk)
    assert (stored.goal_reached_at, stored.exited_at) == (goal_at, exit_at)


def test_a_goal_reached_before_entry_is_refused(marketer, workflow, lead):
    entered = timezone.now() - timedelta(days=1)
    enrolment = nurture_enrol(actor=marketer, workflow=workflow, lead=lead, at=entered)

    with pytest.raises(ValidationError):
        nurture_enrolment_close(
            actor=marketer, enrolment=enrolment, goal_reached_at=entered - timedelta(hours=1)
        )

    assert NurtureEnrolment.objects.get(pk=enrolment.pk).goal_reached_at is None


def test_a_rep_may_not_create_workflows_or_enrol_leads(rep, workflow, lead):
    with pytest.raises(PermissionDenied):
        nurture_workflow_create(actor=rep, name="Mine", goal="reply")
    with pytest.raises(PermissionDenied):
        nurture_enrol(actor=rep, workflow=workflow, lead=lead)

    assert not NurtureEnrolment.objects.exists()
