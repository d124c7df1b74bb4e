"""Campaigns through the API: every role reads them, marketers and up write them through the
campaign services."""

import pytest

from campaigns.models import Campaign

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns/"


def test_marketer_creates_a_campaign_owned_by_them(api_as, marketer):
    response = api_as(marketer).post(URL, {
        "name": "Spring webinar", "channel": "events", "utm_campaign": "Spring-Webinar",
        "budget": "1500.00", "starts_on": "2026-03-01", "ends_on": "2026-03-31",
    }, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["utm_campaign"] == "spring-webinar"
    assert body["owner"] == marketer.pk
    assert body["owner_username"] == "marketer"
    assert body["form_key"]
    assert Campaign.objects.get(pk=body["id"]).budget == 1500


def test_rep_reads_but_cannot_write(api_as, rep, campaign_factory):
    campaign = campaign_factory()
    client = api_as(rep)

    assert client.get(f"{URL}{campaign.pk}/").json()["name"] == campaign.name
    assert client.post(URL, {"name": "x", "channel": "email", "utm_campaign": "x"},
                       format="json").status_code == 403
    assert client.patch(f"{URL}{campaign.pk}/", {"status": "paused"},
                        format="json").status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == "active"


def test_update_through_the_service(api_as, marketer, campaign_factory):
    campaign = campaign_factory(status="active")

    response = api_as(marketer).patch(f"{URL}{campaign.pk}/", {"status": "paused"},
                                      format="json")

    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == "paused"


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": "x", "channel": "telepathy", "utm_campaign": "x"}, "channel"),
    ({"name": "x", "channel": "email"}, "utm_campaign"),
    ({"name": "x", "channel": "email", "utm_campaign": "x", "budget": "-5"}, "budget"),
    ({"name": "x", "channel": "email", "utm_campaign": "x", "budget": "cheap"}, "budget"),
    ({"name": "x", "channel": "email", "utm_campaign": "x", "starts_on": "2026-05-02",
      "ends_on": "2026-05-01"}, "ends_on"),
    ({"name": "x", "channel": "email", "utm_campaign": "TAKEN"}, "utm_campaign"),
    ({"name": "x", "channel": "email", "utm_campaign": "x", "owner": 999999}, "owner"),
])
def test_invalid_campaign_is_400_naming_the_field(api_as, marketer, campaign_factory, payload,
                                                  field):
    campaign_factory(utm_campaign="taken")

    response = api_as(marketer).post(URL, payload, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Campaign.objects.count() == 1


def test_filters(api_as, rep, campaign_factory):
    campaign_factory(name="Search A", channel="paid_search", status="active")
    campaign_factory(name="Mail B", channel="email", status="paused")
    campaign_factory(name="Mail C", channel="email", status="active",
                     starts_on="2026-01-01", ends_on="2026-01-31")
    client = api_as(rep)

    def names(**params):
        return [c["name"] for c in client.get(URL, params).json()["results"]]

    assert names(channel="email") == ["Mail B", "Mail C"]
    assert names(channel="email", status="active") == ["Mail C"]
    assert names(name="mail") == ["Mail B", "Mail C"]
    assert names(active_on="2026-02-15") == ["Mail B", "Search A"]
    assert client.get(URL, {"channel": "nope"}).status_code == 400
