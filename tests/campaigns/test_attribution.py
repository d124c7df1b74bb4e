"""Attribution: which channel and campaign a lead came through, first and last."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.attribution import touch_resolve
from leads.actors import SystemActor
from leads.models import Lead
from leads.services import lead_create, lead_touch_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def spring(campaign_factory):
    return campaign_factory(channel="paid_search", utm_campaign="spring-sale")


@pytest.fixture
def newsletter(campaign_factory):
    return campaign_factory(channel="email", utm_campaign="march-newsletter")


def test_a_matching_utm_campaign_decides_campaign_and_channel_in_any_case(spring):
    touch = touch_resolve(
        utm={"utm_campaign": "Spring-SALE", "utm_source": "newsletter", "utm_medium": "email"},
        channel="referral",
    )

    assert touch.campaign == spring
    assert touch.channel == "paid_search"


def test_a_campaign_given_directly_decides_over_the_utm_medium(newsletter):
    touch = touch_resolve(campaign=newsletter, utm={"utm_medium": "cpc"})

    assert (touch.campaign, touch.channel) == (newsletter, "email")


def test_an_explicit_channel_comes_next_when_no_campaign_matches(spring):
    touch = touch_resolve(
        utm={"utm_campaign": "unknown-code", "utm_medium": "cpc"}, channel="events"
    )

    assert touch.campaign is None
    assert touch.channel == "events"


@pytest.mark.parametrize(
    ("source", "medium", "channel"),
    [
        ("google", "cpc", "paid_search"),
        ("linkedin", "cpc", "paid_social"),
        ("LinkedIn", "CPC", "paid_social"),
        ("mailchimp", "email", "email"),
        ("twitter", "social", "organic_social"),
        ("partner-blog", "referral", "referral"),
        ("google", "organic", "organic_search"),
        ("somewhere", "carrier-pigeon", "other"),
    ],
)
def test_utm_medium_conventions_name_the_channel(source, medium, channel):
    touch = touch_resolve(utm={"utm_source": source, "utm_medium": medium})

    assert touch.channel == channel
    assert touch.campaign is None


@pytest.mark.parametrize("default", ["direct", "other"])
def test_no_utm_at_all_falls_back_to_the_callers_default(default):
    assert touch_resolve(utm={}, default_channel=default).channel == default


def test_utm_values_are_kept_as_typed_only_trimmed():
    touch = touch_resolve(utm={"utm_source": " LinkedIn ", "utm_content": "Hero-CTA"})

    assert touch.utm["utm_source"] == "LinkedIn"
    assert touch.utm["utm_content"] == "Hero-CTA"


# --- on the lead --------------------------------------------------------------------------------


def test_a_new_lead_gets_its_first_and_last_touch_and_utm_fields(spring):
    lead = lead_create(
        actor=SystemActor.API,
        email="ada@example.com",
        utm={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "Spring-Sale",
             "utm_term": "crm software"},
        cta="pricing guide",
        landing_page="https://example.com/pricing",
    )

    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.first_touch_channel, stored.first_touch_campaign) == ("paid_search", spring)
    assert (stored.last_touch_channel, stored.last_touch_campaign) == ("paid_search", spring)
    assert stored.last_touch_at == stored.became_lead_at
    assert (stored.utm_source, stored.utm_medium, stored.utm_campaign, stored.utm_term) == (
        "google", "cpc", "Spring-Sale", "crm software",
    )
    assert (stored.cta, stored.landing_page) == ("pricing guide", "https://example.com/pricing")


def test_a_return_moves_the_last_touch_only(spring, newsletter):
    lead = lead_create(actor=SystemActor.API, email="ada@example.com",
                       utm={"utm_campaign": "spring-sale"}, at=timezone.now() - timedelta(days=7))
    returned_at = timezone.now() - timedelta(minutes=5)

    lead_touch_record(
        lead=lead, actor=SystemActor.API, at=returned_at,
        touch=touch_resolve(utm={"utm_campaign": "march-newsletter", "utm_medium": "email"}),
    )

    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.first_touch_channel, stored.first_touch_campaign) == ("paid_search", spring)
    assert (stored.last_touch_channel, stored.last_touch_campaign) == ("email", newsletter)
    assert stored.last_touch_at == returned_at
    assert stored.utm_campaign == "spring-sale"  # the first touch's UTM stays


def test_an_older_touch_arriving_late_does_not_replace_a_newer_one(spring, newsletter):
    lead = lead_create(actor=SystemActor.API, email="ada@example.com",
                       utm={"utm_campaign": "spring-sale"}, at=timezone.now() - timedelta(days=7))
    latest = timezone.now() - timedelta(minutes=1)
    lead_touch_record(lead=lead, actor=SystemActor.API, at=latest,
                      touch=touch_resolve(campaign=newsletter))

    lead_touch_record(
        lead=lead, actor=SystemActor.API, at=latest - timedelta(days=2),
        touch=touch_resolve(utm={"utm_source": "google", "utm_medium": "organic"}),
    )

    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.last_touch_channel, stored.last_touch_campaign) == ("email", newsletter)
    assert stored.last_touch_at == latest
