"""API rate limits (funnelcrm/throttling.py): per user, and per client IP for anonymous callers;
a refused request answers 429 with Retry-After and does nothing. Rates come from settings at
request time, so low ones are set here with override_settings; the counts live in the cache,
cleared around every test."""

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from leads.models import Lead

pytestmark = pytest.mark.django_db

LEADS_URL = "/api/v1/leads/"
# Open to anonymous callers, so the anonymous rate is what limits them; cheap to render.
ANONYMOUS_URL = "/api/docs/"


def rates(**changed):
    """REST_FRAMEWORK with the given throttle rates, the others generous."""
    base = {"anon": "1000/minute", "user": "1000/minute", "auth": "1000/minute",
            "intake": "1000/minute"}
    return override_settings(REST_FRAMEWORK={
        **settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**base, **changed},
    })


def overrides(**rest_framework):
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, **rest_framework})


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def assert_throttled(response, period_seconds=60):
    assert response.status_code == 429
    if response["Content-Type"].startswith("application/json"):  # the docs page answers HTML
        assert "throttled" in response.json()["detail"].lower()
    wait = int(response["Retry-After"])
    assert 1 <= wait <= period_seconds


@rates(user="3/minute")
def test_a_user_past_their_rate_gets_429_with_retry_after(rep, api_as):
    client = api_as(rep)

    codes = [client.get(LEADS_URL).status_code for _ in range(3)]
    fourth = client.get(LEADS_URL)

    assert codes == [200, 200, 200]
    assert_throttled(fourth)


@rates(user="2/minute")
def test_each_user_has_their_own_count(rep, other_rep, api_as):
    busy = api_as(rep)
    for _ in range(2):
        assert busy.get(LEADS_URL).status_code == 200
    assert busy.get(LEADS_URL).status_code == 429

    response = api_as(other_rep).get(LEADS_URL)

    assert response.status_code == 200


@rates(user="3/minute")
def test_a_user_counts_once_across_tokens_and_sessions(rep, api_as, client):
    token_client = api_as(rep)
    client.force_login(rep)

    codes = [
        token_client.get(LEADS_URL).status_code,
        client.get(LEADS_URL).status_code,
        token_client.get(LEADS_URL).status_code,
        client.get(LEADS_URL).status_code,
    ]

    assert codes == [200, 200, 200, 429]


@rates(user="1/minute")
def test_a_throttled_write_does_nothing_and_its_idempotency_key_stays_usable(rep, api_as):
    # given: the minute's one request is spent
    client = api_as(rep)
    assert client.get(LEADS_URL).status_code == 200

    # when
    refused = client.post(LEADS_URL, {"email": "ada@example.com"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="k-1")

    # then: nothing created, and once the window has passed the same key runs the request
    assert_throttled(refused)
    assert not Lead.objects.exists()
    cache.clear()  # the minute is over
    retried = client.post(LEADS_URL, {"email": "ada@example.com"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="k-1")
    assert retried.status_code == 201
    assert Lead.objects.get().email == "ada@example.com"


@rates(anon="2/minute")
def test_anonymous_callers_are_counted_per_ip(api_client):
    first_ip = [api_client.get(ANONYMOUS_URL, REMOTE_ADDR="203.0.113.7") for _ in range(3)]
    other_ip = api_client.get(ANONYMOUS_URL, REMOTE_ADDR="198.51.100.9")

    assert [r.status_code for r in first_ip[:2]] == [200, 200]
    assert_throttled(first_ip[2])
    assert other_ip.status_code == 200


@rates(anon="2/minute")
def test_a_forged_x_forwarded_for_does_not_reset_the_count(api_client):
    codes = [
        api_client.get(
            ANONYMOUS_URL, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
        ).status_code
        for i in range(3)
    ]

    assert codes == [200, 200, 429]


def test_behind_a_proxy_each_client_is_counted_by_the_address_the_proxy_saw(api_client):
    with overrides(
        NUM_PROXIES=1,
        DEFAULT_THROTTLE_RATES={**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                "anon": "2/minute"},
    ):
        # Both arrive from the proxy's address; the proxy appends the client's own.
        def get(client_ip, forged=""):
            xff = f"{forged}, {client_ip}" if forged else client_ip
            return api_client.get(
                ANONYMOUS_URL, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=xff
            ).status_code

        alice = [get("203.0.113.7", forged=f"1.2.3.{i}") for i in range(3)]
        bob = get("198.51.100.9")

    assert alice == [200, 200, 429]
    assert bob == 200
