"""The report API through its real door (issue 5, sections 2 and 3): GET /api/v1/reports/funnel/
and /api/v1/reports/kpis/ with DRF's test client and token auth. Expected numbers are worked out
by hand; times are UTC unless a test sets another TIME_ZONE."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from tests.factories import CampaignFactory
from tests.reports.test_kpis import at, lead_with, metric

pytestmark = pytest.mark.django_db

FUNNEL_URL = "/api/v1/reports/funnel/"
KPIS_URL = "/api/v1/reports/kpis/"
MARCH = {"start": "2025-03-01", "end": "2025-03-31"}

# PRODUCT.md's table, one key per KPI ("leads per month" is `leads` over a month's period).
KPI_KEYS = [
    "leads", "visitors", "mql", "sql", "opportunity", "won",
    "visitor_to_lead", "lead_to_mql", "mql_to_sql", "sql_to_opportunity", "opportunity_to_won",
    "win_rate", "ctr", "cpc", "cpl", "landing_page_conversion_rate", "bounce_rate",
    "pages_per_session", "time_on_site", "engagement_rate", "email_open_rate", "email_ctr",
    "email_unsubscribe_rate", "workflow_goal_rate", "nurture_engagement_rate", "response_rate",
    "not_interested_rate", "cac", "sales_cycle_median_days", "sales_cycle_mean_days",
    "customer_churn_rate", "ltv",
]
COUNT_KEYS = {"leads", "mql", "sql", "opportunity", "won"}


def by_key(rows):
    return {row["key"]: row for row in rows}


@pytest.fixture
def march(rep, other_rep):
    """Five leads touching March plus one outside it; organic search visitors."""
    # rep's: the whole funnel in March, and a plain lead
    lead_with(at(2025, 3, 2), ("mql", at(2025, 3, 3)), ("sql", at(2025, 3, 4)),
              ("opportunity", at(2025, 3, 5)), ("won", at(2025, 3, 6)), owner=rep)
    lead_with(at(2025, 3, 3), owner=rep)
    # other rep's: straight to SQL (MQL stamped too), one in the last second, one from February
    # that became an MQL at March's first instant, one at April's first instant
    lead_with(at(2025, 3, 2), ("sql", at(2025, 3, 10)), owner=other_rep, channel="paid_search")
    lead_with(at(2025, 3, 31, 23, 59, 59), owner=other_rep)
    lead_with(at(2025, 2, 10), ("mql", at(2025, 3, 1, 0, 0, 0)), owner=other_rep)
    lead_with(at(2025, 4, 1, 0, 0, 0), owner=other_rep)
    metric(date(2025, 3, 1), channel="organic_search", visitors=150)
    metric(date(2025, 3, 31), channel="organic_search", visitors=250)
    metric(date(2025, 2, 28), channel="organic_search", visitors=999)
    metric(date(2025, 3, 31), channel="paid_search", visitors=100)


# --- funnel -------------------------------------------------------------------------------------


def test_funnel_answers_the_contract_in_period_mode_by_default(march, manager, api_as):
    response = api_as(manager).get(FUNNEL_URL, MARCH)

    assert response.status_code == 200
    assert response.json() == {
        "mode": "period", "start": "2025-03-01", "end": "2025-03-31", "channel": None,
        "campaign": None, "owner": None, "attribution": "first",
        "visitors": 500,
        "counts": {"lead": 4, "mql": 3, "sql": 2, "opportunity": 1, "won": 1},
        "rates": {"visitor_to_lead": 0.008, "lead_to_mql": 0.75,
                  "mql_to_sql": 0.6666666666666666, "sql_to_opportunity": 0.5,
                  "opportunity_to_won": 1.0},
    }


def test_funnel_in_cohort_mode_follows_the_periods_new_leads(march, manager, api_as):
    body = api_as(manager).get(FUNNEL_URL, {**MARCH, "mode": "cohort"}).json()

    assert body["mode"] == "cohort"
    assert body["counts"] == {"lead": 4, "mql": 2, "sql": 2, "opportunity": 1, "won": 1}
    assert body["rates"] == {"visitor_to_lead": 0.008, "lead_to_mql": 0.5, "mql_to_sql": 1.0,
                             "sql_to_opportunity": 0.5, "opportunity_to_won": 1.0}


@pytest.mark.parametrize(
    ("as_of", "mql"),
    [(None, 3), ("2025-04-01", 2), ("2025-04-02", 3), ("2025-03-31", 2)],
)
def test_funnel_in_cohort_mode_as_of_a_day_counts_the_stages_reached_by_its_end(
    march, manager, api_as, as_of, mql
):
    # given: a March lead that became an MQL on April 2nd, in the last minute of the day
    lead_with(at(2025, 3, 20), ("mql", at(2025, 4, 2, 23, 59)))
    params = {**MARCH, "mode": "cohort", **({"as_of": as_of} if as_of else {})}
    # when
    body = api_as(manager).get(FUNNEL_URL, params).json()
    # then
    assert body.get("as_of") == as_of
    assert body["counts"] == {"lead": 5, "mql": mql, "sql": 2, "opportunity": 1, "won": 1}
    assert body["rates"]["lead_to_mql"] == mql / 5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**MARCH, "as_of": "2025-04-30"}, "as_of is for mode=cohort only."),
        ({**MARCH, "mode": "cohort", "as_of": "2025-03-30"}, "as_of is before end."),
        ({**MARCH, "mode": "cohort", "as_of": "soon"}, None),
    ],
)
@pytest.mark.parametrize("url", [FUNNEL_URL, KPIS_URL])
def test_a_bad_as_of_gets_a_400_naming_it(url, params, message, manager, api_as):
    response = api_as(manager).get(url, params)

    assert response.status_code == 400
    assert set(response.json()) == {"as_of"}
    if message:
        assert response.json()["as_of"] == [message]


def test_funnel_cut_by_channel_reads_that_channels_leads_and_visitors(march, manager, api_as):
    body = api_as(manager).get(FUNNEL_URL, {**MARCH, "channel": "paid_search"}).json()

    assert body["channel"] == "paid_search"
    assert body["visitors"] == 100
    assert body["counts"] == {"lead": 1, "mql": 1, "sql": 1, "opportunity": 0, "won": 0}
    assert body["rates"]["visitor_to_lead"] == 0.01
    assert body["rates"]["sql_to_opportunity"] == 0.0


def test_funnel_visitors_are_null_without_visitor_data(manager, api_as):
    lead_with(at(2025, 3, 2))

    response = api_as(manager).get(FUNNEL_URL, MARCH)

    assert response.status_code == 200
    body = response.json()
    assert body["visitors"] is None
    assert body["rates"] == {"visitor_to_lead": None, "lead_to_mql": 0.0, "mql_to_sql": None,
                             "sql_to_opportunity": None, "opportunity_to_won": None}
    assert b'"visitors":null' in response.content


def test_funnel_of_an_empty_period_has_null_rates_not_errors(manager, api_as):
    response = api_as(manager).get(FUNNEL_URL, {"start": "2031-01-01", "end": "2031-01-01"})

    assert response.status_code == 200
    assert response.json()["counts"] == {"lead": 0, "mql": 0, "sql": 0, "opportunity": 0,
                                         "won": 0}
    assert set(response.json()["rates"].values()) == {None}


def test_a_rep_gets_their_own_leads_only_and_a_manager_all(march, rep, other_rep, manager,
                                                           api_as):
    mine = api_as(rep).get(FUNNEL_URL, MARCH).json()
    everyone = api_as(manager).get(FUNNEL_URL, MARCH).json()
    asked_for_another = api_as(rep).get(FUNNEL_URL, {**MARCH, "owner": other_rep.pk}).json()
    managers_view_of_rep = api_as(manager).get(FUNNEL_URL, {**MARCH, "owner": rep.pk}).json()

    assert mine["counts"] == {"lead": 2, "mql": 1, "sql": 1, "opportunity": 1, "won": 1}
    assert everyone["counts"] == {"lead": 4, "mql": 3, "sql": 2, "opportunity": 1, "won": 1}
    assert asked_for_another["counts"] == {"lead": 0, "mql": 0, "sql": 0, "opportunity": 0,
                                           "won": 0}
    assert managers_view_of_rep["counts"] == mine["counts"]
    # A rep's funnel is their owner cut: the company's visitors are not their leads' visitors.
    assert everyone["visitors"] == 500
    assert (mine["visitors"], mine["rates"]["visitor_to_lead"]) == (None, None)
    assert mine["rates"] == managers_view_of_rep["rates"]


def test_months_are_cut_at_midnight_in_the_organisations_time_zone(settings, manager, api_as):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    lead_with(datetime(2025, 1, 31, 23, 50, tzinfo=berlin))
    lead_with(datetime(2025, 2, 1, 0, 10, tzinfo=berlin))
    client = api_as(manager)

    january = client.get(FUNNEL_URL, {"start": "2025-01-01", "end": "2025-01-31"}).json()
    february = client.get(FUNNEL_URL, {"start": "2025-02-01", "end": "2025-02-28"}).json()

    assert january["counts"]["lead"] == 1
    assert february["counts"]["lead"] == 1


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start": "2025-03-31", "end": "2025-03-01"}, "end"),
        ({**MARCH, "channel": "tiktok"}, "channel"),
        ({"start": "2025-02-30", "end": "2025-03-31"}, "start"),
        ({"start": "2025-03-01", "end": "31/03/2025"}, "end"),
        ({"end": "2025-03-31"}, "start"),
        ({**MARCH, "campaign": "999999"}, "campaign"),
        ({**MARCH, "campaign": "spring"}, "campaign"),
        ({**MARCH, "mode": "weekly"}, "mode"),
        ({**MARCH, "attribution": "middle"}, "attribution"),
        ({**MARCH, "owner": "me"}, "owner"),
        ({"start": "2010-01-01", "end": "2025-03-31"}, "end"),  # more than 10 years
    ],
)
@pytest.mark.parametrize("url", [FUNNEL_URL, KPIS_URL])
def test_a_bad_parameter_gets_a_400_naming_it(url, params, named, manager, api_as):
    response = api_as(manager).get(url, params)

    assert response.status_code == 400
    assert set(response.json()) == {named}


def test_kpis_refuse_an_unknown_comparison(manager, api_as):
    response = api_as(manager).get(KPIS_URL, {**MARCH, "compare": "next"})

    assert response.status_code == 400
    assert set(response.json()) == {"compare"}


@pytest.mark.parametrize("url", [FUNNEL_URL, KPIS_URL])
def test_anonymous_callers_are_refused(url, march):
    response = APIClient().get(url, MARCH)

    assert response.status_code == 401
    assert "counts" not in response.json()
    assert "kpis" not in response.json()


# --- KPI summary --------------------------------------------------------------------------------


def test_kpi_summary_answers_every_kpi_with_its_parts(march, manager, api_as):
    response = api_as(manager).get(KPIS_URL, MARCH)

    assert response.status_code == 200
    body = response.json()
    assert (body["start"], body["end"], body["mode"]) == ("2025-03-01", "2025-03-31", "period")
    assert [row["key"] for row in body["kpis"]] == KPI_KEYS
    for row in body["kpis"]:
        assert set(row) == {"key", "label", "value", "numerator", "denominator", "unit"}
        assert row["label"]
    kpis = by_key(body["kpis"])
    assert kpis["lead_to_mql"] == {"key": "lead_to_mql", "label": "Lead→MQL", "value": 0.75,
                                   "numerator": 3, "denominator": 4, "unit": "ratio"}
    assert kpis["leads"]["value"] == 4
    assert kpis["visitor_to_lead"]["value"] == 0.008
    assert "previous" not in body


def test_kpi_summary_cut_by_campaign_and_by_channel(march, manager, api_as):
    campaign = CampaignFactory(channel="events", utm_campaign="fair")
    lead_with(at(2025, 3, 9), ("mql", at(2025, 3, 10)), campaign=campaign)
    lead_with(at(2025, 3, 9), channel="events")
    client = api_as(manager)

    by_campaign = by_key(client.get(KPIS_URL, {**MARCH, "campaign": campaign.pk}).json()["kpis"])
    by_channel = by_key(client.get(KPIS_URL, {**MARCH, "channel": "events"}).json()["kpis"])

    assert (by_campaign["leads"]["value"], by_campaign["lead_to_mql"]["value"]) == (1, 1.0)
    assert (by_channel["leads"]["value"], by_channel["lead_to_mql"]["value"]) == (2, 0.5)


def test_kpi_summary_in_cohort_mode(march, manager, api_as):
    kpis = by_key(api_as(manager).get(KPIS_URL, {**MARCH, "mode": "cohort"}).json()["kpis"])

    assert (kpis["lead_to_mql"]["numerator"], kpis["lead_to_mql"]["denominator"]) == (2, 4)
    assert kpis["lead_to_mql"]["value"] == 0.5
    assert kpis["mql"]["value"] == 2


@pytest.mark.parametrize(("as_of", "previous_as_of", "previous_mql"),
                         [("2025-04-01", "2025-03-01", 1), ("2025-03-31", "2025-02-28", 0)])
def test_kpi_summary_compares_a_cohort_with_the_previous_one_as_long_after_its_end(
    march, manager, api_as, as_of, previous_as_of, previous_mql
):
    # given: February's lead of `march` became an MQL at March 1st's first instant
    params = {**MARCH, "mode": "cohort", "as_of": as_of, "compare": "previous"}
    # when
    body = api_as(manager).get(KPIS_URL, params).json()
    # then: the previous period (January 29th to February 28th) is seen 31 days later too
    assert (body["as_of"], body["previous"]["as_of"]) == (as_of, previous_as_of)
    assert (body["previous"]["start"], body["previous"]["end"]) == ("2025-01-29", "2025-02-28")
    previous = by_key(body["previous"]["kpis"])
    assert (previous["leads"]["value"], previous["mql"]["value"]) == (1, previous_mql)
    assert by_key(body["kpis"])["mql"]["value"] == 2


def test_kpi_summary_of_an_empty_database_is_zero_counts_and_null_ratios(manager, api_as):
    response = api_as(manager).get(KPIS_URL, MARCH)

    assert response.status_code == 200
    for row in response.json()["kpis"]:
        expected = 0 if row["key"] in COUNT_KEYS else None
        assert row["value"] == expected, row["key"]


def test_kpi_summary_scopes_a_rep_to_their_own_leads(march, rep, api_as):
    metric(date(2025, 3, 2), channel="organic_search", spend=Decimal("400.00"), clicks=40)

    kpis = by_key(api_as(rep).get(KPIS_URL, MARCH).json()["kpis"])

    assert kpis["leads"]["value"] == 2
    assert kpis["lead_to_mql"]["value"] == 0.5
    assert kpis["won"]["value"] == 1
    # company-wide spend over a rep's 2 leads would be no CPL of theirs (the company's is 100)
    for key in ("visitors", "visitor_to_lead", "cpl", "cpc", "cac"):
        assert kpis[key]["value"] is None, key


def test_a_manager_reads_the_companys_marketing_figures(march, manager, api_as):
    metric(date(2025, 3, 2), channel="organic_search", spend=Decimal("400.00"), clicks=40)

    kpis = by_key(api_as(manager).get(KPIS_URL, MARCH).json()["kpis"])

    assert kpis["cpl"]["value"] == 100.0  # 400 / 4 leads
    assert kpis["cpc"]["value"] == 10.0


def test_kpi_summary_compares_with_the_preceding_period_of_equal_length(manager, api_as):
    lead_with(at(2025, 3, 31, 12))
    lead_with(at(2025, 2, 28, 23, 59, 59))
    lead_with(at(2025, 1, 29, 0, 0, 0))
    lead_with(at(2025, 1, 28, 23, 59, 59))  # before the 31 days preceding March

    body = api_as(manager).get(KPIS_URL, {**MARCH, "compare": "previous"}).json()

    assert by_key(body["kpis"])["leads"]["value"] == 1
    previous = body["previous"]
    assert (previous["start"], previous["end"]) == ("2025-01-29", "2025-02-28")
    assert [row["key"] for row in previous["kpis"]] == KPI_KEYS
    assert by_key(previous["kpis"])["leads"]["value"] == 2


# --- query counts -------------------------------------------------------------------------------

# Authentication takes three (the token, the user's and the groups' permissions). The funnel adds
# two (leads, visitors); the KPIs five a period (leads, the median's count and middle rows,
# figures, enrolments), and one more under a cut (the customers won by every cut, which share the
# sales cost).
FUNNEL_MAX_QUERIES = 3 + 2
KPIS_MAX_QUERIES = 3 + 5
KPIS_COMPARED_MAX_QUERIES = 3 + 2 * (5 + 1)


def data_of_size(n, owner):
    for i in range(n):
        lead_with(at(2025, 3, 1 + i % 28), ("mql", at(2025, 3, 1 + i % 28, 13)),
                  ("won", at(2025, 3, 1 + i % 28, 14)), owner=owner)
        metric(date(2025, 3, 1 + i), visitors=100 + i, sessions=10, impressions=50, clicks=5)


@pytest.mark.parametrize("size", [1, 30])
def test_funnel_and_kpis_query_counts_do_not_grow_with_the_data(
    size, manager, api_as, django_assert_max_num_queries
):
    data_of_size(size, manager)
    client = api_as(manager)

    with django_assert_max_num_queries(FUNNEL_MAX_QUERIES):
        assert client.get(FUNNEL_URL, MARCH).json()["counts"]["won"] == size
    with django_assert_max_num_queries(FUNNEL_MAX_QUERIES):
        assert client.get(FUNNEL_URL, {**MARCH, "mode": "cohort", "channel": "organic_search"}
                          ).json()["counts"]["lead"] == size
    with django_assert_max_num_queries(KPIS_MAX_QUERIES):
        assert by_key(client.get(KPIS_URL, MARCH).json()["kpis"])["won"]["value"] == size
    with django_assert_max_num_queries(KPIS_COMPARED_MAX_QUERIES):
        client.get(KPIS_URL, {**MARCH, "compare": "previous", "channel": "organic_search"})
