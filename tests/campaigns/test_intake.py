"""The public web-to-lead endpoint, POST /api/v1/intake/, as a website's form and a bot use it."""

from collections import Counter

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from campaigns.intake import form_submission_receive
from campaigns.services import campaign_form_key_rotate
from leads.actors import SystemActor
from leads.models import Account, Activity, Lead
from tests.factories import CampaignFactory
from tests.threads import run_at_once

pytestmark = pytest.mark.django_db

INTAKE_URL = "/api/v1/intake/"
RECEIVED = {"status": "received"}


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def webinar(campaign_factory):
    return campaign_factory(name="Spring webinar", channel="events", utm_campaign="spring-webinar")


@pytest.fixture
def ads(campaign_factory):
    return campaign_factory(name="Search ads", channel="paid_search", utm_campaign="search-ads")


def post(campaign, client=None, fmt="json", **fields):
    client = client or APIClient()
    return client.post(INTAKE_URL, {"form_key": campaign.form_key, **fields}, format=fmt)


def form_activities(lead):
    return list(lead.activities.filter(type="form_submitted").order_by("at", "id"))


# --- a new lead ---------------------------------------------------------------------------------


def test_a_valid_post_creates_one_unassigned_lead_attributed_to_the_forms_campaign(webinar):
    # when
    response = post(
        webinar,
        email=" Ada@Example.com ",
        first_name="Ada",
        last_name="Lovelace",
        phone="+49 30 1234",
        job_title="CTO",
        utm_source="newsletter-partner",
        utm_medium="email",
        utm_content="hero-banner",
        utm_term="crm",
        cta="Register for the webinar",
        landing_page="https://example.com/webinar",
    )

    # then
    assert response.status_code == 202
    assert response.json() == RECEIVED
    lead = Lead.objects.get()
    assert lead.email == "Ada@Example.com"
    assert (lead.first_name, lead.last_name, lead.phone, lead.job_title) == (
        "Ada", "Lovelace", "+49 30 1234", "CTO"
    )
    assert lead.stage == "lead"
    assert lead.owner is None
    assert lead.first_touch_campaign == lead.last_touch_campaign == webinar
    assert lead.first_touch_channel == lead.last_touch_channel == "events"
    assert (lead.utm_source, lead.utm_medium, lead.utm_content, lead.utm_term) == (
        "newsletter-partner", "email", "hero-banner", "crm"
    )
    assert lead.cta == "Register for the webinar"
    assert lead.landing_page == "https://example.com/webinar"
    assert lead.transitions.get().actor_system == SystemActor.API
    [activity] = form_activities(lead)
    assert activity.actor_system == SystemActor.API
    assert activity.payload["form_campaign"] == "spring-webinar"
    assert activity.payload["campaign"] == "spring-webinar"
    assert activity.payload["cta"] == "Register for the webinar"
    assert activity.payload["landing_page"] == "https://example.com/webinar"
    assert activity.payload["utm_term"] == "crm"


def test_a_utm_campaign_naming_another_campaign_wins_over_the_forms_campaign(webinar, ads):
    response = post(webinar, email="ada@example.com", utm_campaign="Search-Ads", utm_source="bing")

    assert response.status_code == 202
    lead = Lead.objects.get()
    assert lead.first_touch_campaign == lead.last_touch_campaign == ads
    assert lead.first_touch_channel == "paid_search"
    assert lead.utm_campaign == "Search-Ads"
    assert form_activities(lead)[0].payload["form_campaign"] == "spring-webinar"


def test_without_a_matching_utm_campaign_the_forms_campaign_decides_not_direct(webinar):
    # given: one post with no UTM at all, one whose UTM names no campaign and another channel
    post(webinar, email="plain@example.com")
    post(
        webinar, email="tagged@example.com",
        utm_campaign="unknown-campaign", utm_source="linkedin", utm_medium="cpc",
    )

    # then: both came through the webinar's form, so the webinar and its channel are the touch;
    # `direct` is only the default of a touch with no campaign, which an intake post never is
    plain = Lead.objects.get(email="plain@example.com")
    tagged = Lead.objects.get(email="tagged@example.com")
    for lead in (plain, tagged):
        assert lead.first_touch_campaign == webinar
        assert lead.first_touch_channel == "events"
    assert (tagged.utm_campaign, tagged.utm_source, tagged.utm_medium) == (
        "unknown-campaign", "linkedin", "cpc"
    )


def test_a_form_encoded_post_with_the_key_in_a_header_is_accepted(webinar):
    response = APIClient().post(
        INTAKE_URL,
        {"email": "form@example.com", "first_name": "Grace"},
        HTTP_X_FORM_KEY=webinar.form_key,
    )

    assert response.status_code == 202
    assert Lead.objects.get().first_name == "Grace"


def test_a_company_reuses_the_account_of_that_name_ignoring_case_or_creates_one(
    webinar, account
):
    post(webinar, email="a@example.com", company=account.name.upper())
    post(webinar, email="b@example.com", company="Brand New GmbH")

    assert Lead.objects.get(email="a@example.com").account == account
    assert Lead.objects.get(email="b@example.com").account.name == "Brand New GmbH"
    assert Account.objects.count() == 2


def test_unknown_fields_are_ignored_and_null_means_empty(webinar):
    response = post(webinar, email="ada@example.com", favourite_colour="teal", phone=None)

    assert response.status_code == 202
    assert Lead.objects.get().phone == ""


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"first_name": "Ada"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "ada@example.com", "first_name": "A" * 101}, "first_name"),
        ({"email": "ada@example.com", "landing_page": "https://x.io/" + "p" * 500}, "landing_page"),
        ({"email": "ada@example.com", "utm_source": "s" * 201}, "utm_source"),
        ({"email": "ada@example.com", "company": "C" * 201}, "company"),
    ],
)
def test_an_invalid_post_is_refused_with_400_naming_the_field_and_writes_nothing(
    webinar, fields, bad_field
):
    response = post(webinar, **fields)

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [bad_field]
    assert isinstance(body[bad_field], list)
    assert body[bad_field][0]
    assert not Lead.objects.exists()
    assert not Account.objects.exists()


def test_a_post_without_a_form_key_is_refused(webinar):
    response = APIClient().post(INTAKE_URL, {"email": "ada@example.com"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "form_key_missing"
    assert "form key" in response.json()["detail"].lower()
    assert not Lead.objects.exists()


def test_a_post_with_an_unknown_or_rotated_form_key_is_refused(webinar):
    # given: the webinar's key was rotated after a website copied it
    old_key = webinar.form_key
    campaign_form_key_rotate(campaign=webinar, actor=SystemActor.SYSTEM)

    # when
    unknown = APIClient().post(INTAKE_URL, {"form_key": "guess", "email": "a@example.com"})
    rotated = APIClient().post(INTAKE_URL, {"form_key": old_key, "email": "b@example.com"})
    current = post(webinar, email="c@example.com")

    # then
    assert unknown.status_code == rotated.status_code == 403
    assert unknown.json()["code"] == rotated.json()["code"] == "form_key_unknown"
    assert current.status_code == 202
    assert list(Lead.objects.values_list("email", flat=True)) == ["c@example.com"]


def test_an_ended_campaigns_form_still_brings_leads_in(campaign_factory):
    ended = campaign_factory(status="ended", channel="events")

    response = post(ended, email="late@example.com")

    assert response.status_code == 202
    assert Lead.objects.get().first_touch_campaign == ended


# --- bots ---------------------------------------------------------------------------------------


def test_a_filled_honeypot_is_answered_like_a_success_and_writes_nothing(webinar):
    # given: a person, who leaves the hidden field empty
    human = post(webinar, email="human@example.com", website="")

    # when: bots fill it, one of them not even with a valid email
    bot = post(webinar, email="bot@example.com", company="Spam Inc", website="http://spam.example")
    sloppy_bot = post(webinar, email="not-an-email", website="x", fmt="multipart")

    # then: they are told what the person was told, and only the person is a lead
    assert bot.status_code == sloppy_bot.status_code == human.status_code == 202
    assert bot.content == sloppy_bot.content == human.content
    assert human.json() == RECEIVED
    assert list(Lead.objects.values_list("email", flat=True)) == ["human@example.com"]
    assert Activity.objects.count() == 1
    assert not Account.objects.exists()


# --- an email that is already a lead -----------------------------------------------------------


def test_an_existing_email_creates_no_duplicate_and_moves_the_last_touch(webinar, ads, rep):
    # given: a lead who came through the webinar a while ago, now owned by a rep
    first = post(webinar, email="ada@example.com", first_name="Ada", utm_content="v1")
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(owner=rep)

    # when: the same person fills in the ads campaign's form, with different case and spaces
    again = post(ads, email="  ADA@example.COM ", first_name="Someone Else", utm_content="v2")

    # then: one lead, first touch kept, last touch moved, a second form submission logged
    assert again.status_code == first.status_code == 202
    assert again.json() == first.json() == RECEIVED
    lead = Lead.objects.get()
    assert lead.email == "ada@example.com"
    assert lead.first_name == "Ada"
    assert lead.owner == rep
    assert lead.first_touch_campaign == webinar
    assert lead.first_touch_channel == "events"
    assert lead.utm_content == "v1"
    assert lead.last_touch_campaign == ads
    assert lead.last_touch_channel == "paid_search"
    activities = form_activities(lead)
    assert len(activities) == 2
    assert activities[1].payload["campaign"] == "search-ads"
    assert activities[1].payload["utm_content"] == "v2"
    assert lead.transitions.count() == 1


def test_the_answer_does_not_reveal_whether_the_email_was_already_a_lead(webinar, lead_factory):
    lead_factory(email="known@example.com")

    known = post(webinar, email="known@example.com")
    new = post(webinar, email="new@example.com")

    assert known.status_code == new.status_code
    assert known.content == new.content
    assert set(known.headers) == set(new.headers)


def test_a_submission_that_loses_the_create_race_is_recorded_on_the_winners_lead(
    webinar, monkeypatch
):
    # given: the lead was created between this submission's look-up and its insert
    import campaigns.intake

    form_submission_receive(campaign=webinar, data={"email": "ada@example.com"})
    monkeypatch.setattr(campaigns.intake, "_lead_by_email", _misses_once())

    # when
    result = form_submission_receive(
        campaign=webinar, data={"email": "ADA@example.com", "company": "Acme"}
    )

    # then: the insert's unique-email refusal becomes a return of the existing lead
    assert result.created is False
    assert Lead.objects.count() == 1
    assert len(form_activities(Lead.objects.get())) == 2
    assert not Account.objects.filter(name="Acme").exists()


def _misses_once():
    from campaigns.intake import _lead_by_email

    calls = []

    def lookup(email):
        calls.append(email)
        return None if len(calls) == 1 else _lead_by_email(email)

    return lookup


@pytest.mark.django_db(transaction=True)
def test_identical_submissions_at_once_create_one_lead():
    campaign = CampaignFactory()

    def submit(i):
        return form_submission_receive(campaign=campaign, data={"email": "race@example.com"})

    results = run_at_once(submit, 4)

    assert Counter(type(r).__name__ for r in results) == Counter({"IntakeResult": 4})
    assert sum(r.created for r in results) == 1
    lead = Lead.objects.get()
    assert len(form_activities(lead)) == 4


# --- rate limit ---------------------------------------------------------------------------------


def test_too_many_posts_from_one_ip_with_one_key_get_429_with_retry_after(
    webinar, ads, settings
):
    # given: a rate of 3 a minute
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "intake": "3/minute",
        },
    }
    visitor = APIClient(REMOTE_ADDR="203.0.113.7")

    # when
    codes = [post(webinar, visitor, email=f"v{i}@example.com").status_code for i in range(3)]
    refused = post(webinar, visitor, email="v3@example.com")

    # then: the fourth is refused with a time to wait, and nothing is written for it
    assert codes == [202, 202, 202]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert not Lead.objects.filter(email="v3@example.com").exists()

    # and another form's key from that IP, or that key from another IP, still gets through
    assert post(ads, visitor, email="other-key@example.com").status_code == 202
    neighbour = APIClient(REMOTE_ADDR="198.51.100.9")
    assert post(webinar, neighbour, email="other-ip@example.com").status_code == 202


def test_the_limit_counts_the_key_whether_it_comes_in_the_body_or_the_header(webinar, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "intake": "1/minute",
        },
    }
    client = APIClient()

    assert post(webinar, client, email="a@example.com").status_code == 202
    by_header = client.post(
        INTAKE_URL, {"email": "b@example.com"}, format="json", HTTP_X_FORM_KEY=webinar.form_key
    )

    assert by_header.status_code == 429


# --- the door -----------------------------------------------------------------------------------


def test_no_session_cookie_or_csrf_token_is_needed_or_used(webinar, rep):
    # given: a browser that happens to be logged in to the CRM, posting cross-site with no token
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(rep)

    # when
    response = post(webinar, browser, email="ada@example.com")

    # then: accepted, and the lead is not the logged-in user's
    assert response.status_code == 202
    assert not response.cookies
    assert Lead.objects.get().owner is None


def test_an_intake_lead_is_seen_by_a_marketer_and_not_by_an_unrelated_rep(
    webinar, marketer, rep, api_as
):
    post(webinar, email="ada@example.com")

    marketer_sees = api_as(marketer).get("/api/v1/leads/").json()["results"]
    rep_sees = api_as(rep).get("/api/v1/leads/").json()["results"]

    assert [row["email"] for row in marketer_sees] == ["ada@example.com"]
    assert marketer_sees[0]["first_touch_campaign"] == webinar.pk
    assert rep_sees == []


def test_one_intake_post_runs_a_bounded_number_of_queries(
    webinar, ads, django_assert_max_num_queries
):
    # given: today's counts, savepoints included (a new lead is scored twice: at creation and
    # for its form submission; its entry marks its day for the KPI snapshots)
    post(webinar, email="known@example.com")

    with django_assert_max_num_queries(39):
        new = post(webinar, email="new@example.com", company="Acme", utm_campaign="search-ads")
    with django_assert_max_num_queries(18):
        known = post(ads, email="KNOWN@example.com", company="Acme")

    assert new.status_code == known.status_code == 202


def test_the_openapi_schema_documents_the_endpoint_as_public(rep, api_as):
    schema = api_as(rep).get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/intake/"]["post"]
    assert not operation.get("security")
    assert set(operation["responses"]) >= {"202", "400", "403", "429"}
    content = operation["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(content)
    request = schema["components"]["schemas"]["IntakeRequest"]
    assert "email" in request["required"]
    assert "website" in request["properties"]
