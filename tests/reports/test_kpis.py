"""Every KPI of PRODUCT.md's table ("KPIs: one definition each") against small fixtures whose
numbers are worked out by hand in each test. The engine (`reports.kpis`) is read only through its
public functions; expected values are never computed with it.

Times are UTC unless a test sets another TIME_ZONE. The reporting month is March 2025 (31 days).
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q
from django.utils import timezone

from campaigns.attribution import touch_resolve
from campaigns.services import (
    daily_metric_upsert,
    nurture_enrol,
    nurture_enrolment_close,
    nurture_workflow_create,
)
from leads.actors import SystemActor
from leads.selectors import lead_scope
from leads.services import activity_create, lead_move_to_stage, lead_touch_record
from reports.kpis import Cut, funnel_compute, kpis_compute
from reports.periods import Period
from tests.factories import AccountFactory, CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor.SYSTEM
MARCH = Period(date(2025, 3, 1), date(2025, 3, 31))
FEBRUARY = Period(date(2025, 2, 1), date(2025, 2, 28))


def at(year, month, day, hour=12, minute=0, second=0):
    """An instant in the organisation's time zone (TIME_ZONE)."""
    return timezone.make_aware(datetime(year, month, day, hour, minute, second))


def lead_with(created, *moves, **fields):
    """A lead created at `created`, then moved through the lifecycle service: each move is
    (stage, when) or (stage, when, reason)."""
    lead = LeadFactory(at=created, **fields)
    for stage, when, *reason in moves:
        lead = lead_move_to_stage(
            lead=lead, to_stage=stage, actor=SYSTEM, at=when, reason=reason[0] if reason else ""
        )
    return lead


def metric(day, channel="paid_search", campaign=None, **values):
    daily_metric_upsert(actor=SYSTEM, date=day, channel=channel, campaign=campaign, values=values)


def funnel(period=MARCH, mode="period", **cut):
    return funnel_compute(period=period, cut=Cut(**cut), scope=Q(), mode=mode)


def kpis(period=MARCH, mode="period", scope=None, **cut):
    rows = kpis_compute(period=period, cut=Cut(**cut), scope=Q() if scope is None else scope,
                        mode=mode)
    return {row["key"]: row for row in rows}


def value(key, **kwargs):
    return kpis(**kwargs)[key]["value"]


# --- funnel counts ------------------------------------------------------------------------------


@pytest.fixture
def march_funnel():
    """Six leads around March. Period mode counts first entries into a stage in March; cohort mode
    counts the leads created in March by the stages they have reached (by now)."""
    # Created in February; MQL at March's first instant, SQL in March, opportunity at April's
    # first instant (outside).
    lead_with(at(2025, 2, 20), ("mql", at(2025, 3, 1, 0, 0, 0)), ("sql", at(2025, 3, 10)),
              ("opportunity", at(2025, 4, 1, 0, 0, 0)))
    # Created at March's first instant; straight to SQL, which stamps MQL too.
    lead_with(at(2025, 3, 1, 0, 0, 0), ("sql", at(2025, 3, 5)))
    # Created in March's last second; MQL only in April.
    lead_with(at(2025, 3, 31, 23, 59, 59), ("mql", at(2025, 4, 10)))
    # Created at April's first instant: outside.
    lead_with(at(2025, 4, 1, 0, 0, 0))
    # Created in February's last second, won in March straight from lead (mql, sql and
    # opportunity stamped with the same time).
    lead_with(at(2025, 2, 28, 23, 59, 59), ("won", at(2025, 3, 15)))
    # Created in March, opportunity (skipping mql and sql) and won in March.
    lead_with(at(2025, 3, 15), ("opportunity", at(2025, 3, 20)), ("won", at(2025, 3, 31, 23)))


def test_period_mode_counts_first_entries_in_the_period_with_both_ends_included(march_funnel):
    result = funnel(mode="period")

    # lead: created Mar 1 00:00, Mar 15, Mar 31 23:59:59 (not Feb 20, Feb 28 or Apr 1)
    # mql: Feb-lead's Mar 1 00:00, the skipped one of Mar 5, the won-from-lead, the Mar 20 opp
    assert result["counts"] == {"lead": 3, "mql": 4, "sql": 4, "opportunity": 2, "won": 2}
    assert result["rates"] == {
        "visitor_to_lead": None,  # no visitor data at all
        "lead_to_mql": 4 / 3,
        "mql_to_sql": 1.0,
        "sql_to_opportunity": 0.5,
        "opportunity_to_won": 1.0,
    }
    assert result["rates"]["lead_to_mql"] == 1.3333333333333333


def test_cohort_mode_counts_the_periods_new_leads_by_the_stages_reached_since(march_funnel):
    result = funnel(mode="cohort")

    # The cohort: created Mar 1 (sql, so mql), Mar 15 (won), Mar 31 23:59:59 (mql in April).
    assert result["counts"] == {"lead": 3, "mql": 3, "sql": 2, "opportunity": 1, "won": 1}
    assert result["rates"]["lead_to_mql"] == 1.0
    assert result["rates"]["mql_to_sql"] == 0.6666666666666666
    assert result["rates"]["sql_to_opportunity"] == 0.5
    assert result["rates"]["opportunity_to_won"] == 1.0


def test_a_skipped_stage_counts_in_the_funnel_at_the_time_of_the_jump():
    lead_with(at(2025, 2, 1), ("won", at(2025, 3, 3)))

    assert funnel(period=FEBRUARY)["counts"] == {
        "lead": 1, "mql": 0, "sql": 0, "opportunity": 0, "won": 0,
    }
    assert funnel()["counts"] == {"lead": 0, "mql": 1, "sql": 1, "opportunity": 1, "won": 1}


def test_a_lead_moved_back_and_forward_again_counts_once_at_its_first_entry(manager):
    lead = lead_with(at(2025, 2, 10), ("sql", at(2025, 2, 20)))
    lead = lead_move_to_stage(lead=lead, to_stage="mql", actor=manager, note="recycled",
                              at=at(2025, 3, 2))
    lead_move_to_stage(lead=lead, to_stage="sql", actor=manager, at=at(2025, 3, 9))

    assert funnel()["counts"] == {"lead": 0, "mql": 0, "sql": 0, "opportunity": 0, "won": 0}
    assert funnel(period=FEBRUARY)["counts"]["sql"] == 1


def test_visitors_sum_the_channel_rows_of_the_period_only():
    campaign = CampaignFactory(channel="paid_search")
    metric(date(2025, 2, 28), visitors=1000)
    metric(date(2025, 3, 1), visitors=100)
    metric(date(2025, 3, 31), visitors=200)
    metric(date(2025, 4, 1), visitors=1000)
    metric(date(2025, 3, 15), campaign=campaign, visitors=50)  # part of the channel's total
    metric(date(2025, 3, 16), channel="email", sessions=10)  # no visitor figure: unknown, not 0
    for day in (1, 2, 3):
        lead_with(at(2025, 3, day), channel="paid_search")

    result = funnel()

    assert result["visitors"] == 300
    assert result["rates"]["visitor_to_lead"] == 0.01


def test_zero_denominators_give_null_never_zero():
    metric(date(2025, 3, 1), visitors=0)
    lead_with(at(2025, 2, 1))  # not in March

    result = funnel()

    assert result["visitors"] == 0
    assert result["counts"] == {"lead": 0, "mql": 0, "sql": 0, "opportunity": 0, "won": 0}
    assert result["rates"] == {
        "visitor_to_lead": None, "lead_to_mql": None, "mql_to_sql": None,
        "sql_to_opportunity": None, "opportunity_to_won": None,
    }


def test_a_zero_numerator_over_a_known_denominator_is_zero_not_null():
    lead_with(at(2025, 3, 1))

    assert funnel()["rates"]["lead_to_mql"] == 0.0


def test_rates_are_full_precision_floats():
    lead_with(at(2025, 3, 1), ("mql", at(2025, 3, 2)))
    lead_with(at(2025, 3, 1))
    lead_with(at(2025, 3, 1))
    metric(date(2025, 3, 1), visitors=7)

    rates = funnel()["rates"]

    assert rates["lead_to_mql"] == 0.3333333333333333
    assert type(rates["lead_to_mql"]) is float
    assert rates["visitor_to_lead"] == 0.42857142857142855  # 3 / 7


# --- TIME_ZONE ----------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
JANUARY = Period(date(2025, 1, 1), date(2025, 1, 31))
APRIL = Period(date(2025, 4, 1), date(2025, 4, 30))


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


# Berlin is east of UTC (a month's first minutes are still the last month in UTC), New York west
# (a month's last minutes are already the next month in UTC); March 31 is in summer time.
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize(
    ("last_evening", "first_morning", "month", "next_month"),
    [
        (datetime(2025, 1, 31, 23, 50), datetime(2025, 2, 1, 0, 10), JANUARY, FEBRUARY),
        (datetime(2025, 3, 31, 23, 50), datetime(2025, 4, 1, 0, 10), MARCH, APRIL),
    ],
)
def test_months_are_cut_at_local_midnight(
    settings, zone, last_evening, first_morning, month, next_month
):
    settings.TIME_ZONE = zone
    local = ZoneInfo(zone)
    lead_with(last_evening.replace(tzinfo=local), ("mql", first_morning.replace(tzinfo=local)))
    lead_with(first_morning.replace(tzinfo=local))

    assert funnel(period=month)["counts"]["lead"] == 1
    assert funnel(period=month)["counts"]["mql"] == 0
    assert funnel(period=next_month)["counts"]["lead"] == 1
    assert funnel(period=next_month)["counts"]["mql"] == 1
    assert funnel(period=month, mode="cohort")["counts"]["mql"] == 1
    assert value("leads", period=month) == 1
    assert value("leads", period=next_month) == 1


def test_a_period_ending_on_the_dst_day_includes_its_whole_last_day(berlin):
    # 30 March 2025 has 23 hours in Berlin; 23:30 local is 21:30 UTC.
    lead_with(datetime(2025, 3, 30, 23, 30, tzinfo=BERLIN))
    lead_with(datetime(2025, 3, 31, 0, 0, tzinfo=BERLIN))

    assert funnel(period=Period(date(2025, 3, 30), date(2025, 3, 30)))["counts"]["lead"] == 1
    assert funnel(period=Period(date(2025, 3, 31), date(2025, 3, 31)))["counts"]["lead"] == 1


# --- marketing KPIs -----------------------------------------------------------------------------


@pytest.fixture
def marketing():
    """March's figures. Channel rows are the channel's totals (campaign empty); a campaign's own
    rows detail them and are not added again."""
    search_ad = CampaignFactory(channel="paid_search", utm_campaign="spring-search")
    metric(date(2025, 3, 1), visitors=400, sessions=500, pageviews=1500, bounced_sessions=200,
           time_on_site_seconds=60000, landing_page_visitors=100, impressions=10000, clicks=250,
           spend=Decimal("500.00"))
    metric(date(2025, 3, 31), visitors=600, sessions=500, pageviews=1000, bounced_sessions=100,
           time_on_site_seconds=40000, landing_page_visitors=100, impressions=10000, clicks=150,
           spend=Decimal("300.50"))
    # clicks without impressions: no CTR from this day
    metric(date(2025, 3, 15), clicks=100, spend=Decimal("99.50"))
    # a campaign's detail of the channel's figures
    metric(date(2025, 3, 1), campaign=search_ad, visitors=150, sessions=200, impressions=4000,
           clicks=40, spend=Decimal("120.00"), landing_page_visitors=80)
    # outside March
    metric(date(2025, 2, 28), visitors=9999, sessions=9999, impressions=9999, clicks=9999,
           spend=Decimal("9999.00"))
    metric(date(2025, 4, 1), visitors=9999, sessions=9999, impressions=9999, clicks=9999,
           spend=Decimal("9999.00"))
    metric(date(2025, 3, 10), channel="email", emails_sent=1000, emails_delivered=800,
           emails_opened=200, emails_clicked=40, emails_unsubscribed=8)
    metric(date(2025, 3, 10), channel="organic_social", organic_impressions=5000,
           engagements=150)
    metric(date(2025, 3, 11), channel="paid_social", impressions=5000, engagements=100, clicks=50,
           spend=Decimal("100.00"))

    lead_with(at(2025, 3, 2), campaign=search_ad, landing_page="/lp/pricing")
    lead_with(at(2025, 3, 3), channel="paid_search", landing_page="/lp/pricing")
    lead_with(at(2025, 3, 4), channel="paid_search")
    lead_with(at(2025, 3, 5), channel="organic_social")
    lead_with(at(2025, 2, 5), channel="paid_search", landing_page="/lp/pricing")  # February
    return search_ad


def test_site_and_landing_page_conversion(marketing):
    every = kpis()

    # visitors of channel rows: 400 + 600; leads: 4 created in March
    assert every["visitors"]["value"] == 1000
    assert every["visitor_to_lead"]["value"] == 0.004
    # 2 March leads through a landing page / 200 landing-page visitors
    assert every["landing_page_conversion_rate"]["value"] == 0.01
    assert (every["landing_page_conversion_rate"]["numerator"],
            every["landing_page_conversion_rate"]["denominator"]) == (2, 200)


def test_site_conversion_by_channel_reads_that_channels_visitors_and_leads(marketing):
    # paid_search: 3 leads (the campaign's one is in its channel) over 1000 visitors
    assert value("visitor_to_lead", channel="paid_search") == 0.003
    # organic social: 1 lead but no visitor figures at all
    assert value("visitor_to_lead", channel="organic_social") is None


def test_ad_kpis(marketing):
    every = kpis(channel="paid_search")

    # CTR: (250 + 150) / 20000 on the days that know both; the 100 clicks of Mar 15 have no
    # impressions and must not inflate it
    assert every["ctr"]["value"] == 0.02
    # CPC: (500 + 300.50 + 99.50) / (250 + 150 + 100)
    assert every["cpc"]["value"] == 1.8
    # CPL: 900 spent / 3 paid_search leads created in March
    assert every["cpl"]["value"] == 300.0
    assert every["cpl"]["numerator"] == 900.0


def test_traffic_kpis(marketing):
    every = kpis(channel="paid_search")

    assert every["bounce_rate"]["value"] == 0.3  # 300 / 1000
    assert every["pages_per_session"]["value"] == 2.5  # 2500 / 1000
    assert every["time_on_site"]["value"] == 100.0  # 100000 s / 1000 sessions
    assert every["time_on_site"]["unit"] == "seconds"


def test_engagement_rate_counts_paid_and_organic_impressions(marketing):
    # (150 + 100) engagements / (5000 organic + 5000 paid) impressions
    assert value("engagement_rate") == 0.025
    assert value("engagement_rate", channel="organic_social") == 0.03
    assert value("engagement_rate", channel="paid_search") is None  # no engagement figures


def test_email_kpis(marketing):
    every = kpis(channel="email")

    assert every["email_open_rate"]["value"] == 0.25  # 200 / 800 delivered
    assert every["email_ctr"]["value"] == 0.05  # 40 / 800
    assert every["email_unsubscribe_rate"]["value"] == 0.01  # 8 / 800


def test_the_whole_company_sums_every_channel_row(marketing):
    every = kpis()

    # spend 900 (paid search) + 100 (paid social); clicks 500 + 50
    assert every["cpc"]["numerator"] == 1000.0
    assert every["cpc"]["denominator"] == 550
    assert every["cpl"]["value"] == 250.0  # 1000 / 4 leads
    assert every["ctr"]["value"] == 0.018  # (400 + 50) / (20000 + 5000)


def test_a_campaign_cut_reads_the_campaigns_own_rows_and_leads(marketing):
    every = kpis(campaign=marketing.pk)

    assert every["leads"]["value"] == 1
    assert every["visitors"]["value"] == 150
    assert every["cpl"]["value"] == 120.0
    assert every["ctr"]["value"] == 0.01  # 40 / 4000
    assert every["landing_page_conversion_rate"]["value"] == 0.0125  # 1 / 80


def test_marketing_kpis_are_null_without_any_figures():
    lead_with(at(2025, 3, 1))

    every = kpis()

    for key in ("visitors", "visitor_to_lead", "ctr", "cpc", "cpl", "landing_page_conversion_rate",
                "bounce_rate", "pages_per_session", "time_on_site", "engagement_rate",
                "email_open_rate", "email_ctr", "email_unsubscribe_rate"):
        assert every[key]["value"] is None, key


def test_marketing_ratios_are_null_on_zero_figures():
    metric(date(2025, 3, 1), visitors=0, sessions=0, pageviews=0, bounced_sessions=0,
           time_on_site_seconds=0, landing_page_visitors=0, impressions=0, clicks=0,
           spend=Decimal("0"), emails_sent=0, emails_delivered=0, emails_opened=0,
           emails_clicked=0, emails_unsubscribed=0, engagements=0, organic_impressions=0)

    every = kpis()

    for key in ("visitor_to_lead", "ctr", "cpc", "cpl", "landing_page_conversion_rate",
                "bounce_rate", "pages_per_session", "time_on_site", "engagement_rate",
                "email_open_rate", "email_ctr", "email_unsubscribe_rate"):
        assert every[key]["value"] is None, key
        assert every[key]["denominator"] == 0, key


# --- sales KPIs ---------------------------------------------------------------------------------


def test_win_rate_counts_deals_closed_in_the_period():
    lead_with(at(2025, 1, 5), ("sql", at(2025, 1, 6)), ("won", at(2025, 3, 1, 0, 0, 0)))
    lead_with(at(2025, 1, 5), ("opportunity", at(2025, 1, 6)), ("won", at(2025, 3, 20)))
    lead_with(at(2025, 1, 5), ("sql", at(2025, 1, 6)), ("lost", at(2025, 3, 31, 23, 59), "Price"))
    lead_with(at(2025, 1, 5), ("sql", at(2025, 1, 6)), ("lost", at(2025, 2, 28, 23, 59), "Price"))
    lead_with(at(2025, 1, 5), ("sql", at(2025, 1, 6)),
              ("disqualified", at(2025, 3, 10), "Not in target"))  # not a lost deal
    lead_with(at(2025, 1, 5), ("opportunity", at(2025, 3, 10)))  # still open

    win_rate = kpis()["win_rate"]

    assert (win_rate["value"], win_rate["numerator"], win_rate["denominator"]) == (2 / 3, 2, 3)


def test_win_rate_without_closed_deals_is_null():
    lead_with(at(2025, 3, 1), ("opportunity", at(2025, 3, 2)))

    assert value("win_rate") is None


def test_sales_cycle_median_and_mean_days_of_the_leads_won_in_the_period():
    lead_with(at(2025, 3, 1, 0), ("won", at(2025, 3, 11, 0)))  # 10 days
    lead_with(at(2025, 2, 19, 12), ("won", at(2025, 3, 21, 12)))  # 30 days
    lead_with(at(2025, 3, 1, 0), ("won", at(2025, 3, 3, 6)))  # 2.25 days
    lead_with(at(2025, 1, 1), ("won", at(2025, 2, 27)))  # won in February

    every = kpis()

    assert every["sales_cycle_median_days"]["value"] == 10.0
    assert every["sales_cycle_mean_days"]["value"] == 42.25 / 3
    assert every["sales_cycle_mean_days"]["denominator"] == 3
    assert every["sales_cycle_mean_days"]["unit"] == "days"


def test_sales_cycle_median_of_an_even_count_is_the_mean_of_the_middle_two():
    lead_with(at(2025, 3, 1, 0), ("won", at(2025, 3, 2, 0)))  # 1 day
    lead_with(at(2025, 3, 1, 0), ("won", at(2025, 3, 5, 0)))  # 4 days
    lead_with(at(2025, 3, 1, 0), ("won", at(2025, 3, 8, 0)))  # 7 days
    lead_with(at(2025, 3, 1, 0), ("won", at(2025, 3, 31, 0)))  # 30 days

    every = kpis()

    assert every["sales_cycle_median_days"]["value"] == 5.5
    assert every["sales_cycle_mean_days"]["value"] == 10.5


def test_sales_cycle_of_times_of_day_is_exact_to_the_microsecond_on_every_database():
    # 3 days 8:28:17.5 = 289697.5 s, and 28 days 8:28:17 = 2449697 s
    lead_with(at(2025, 3, 1, 9, 13, 26).replace(microsecond=250000),
              ("won", at(2025, 3, 4, 17, 41, 43).replace(microsecond=750000)))
    lead_with(at(2025, 3, 2, 9, 13, 26), ("won", at(2025, 3, 30, 17, 41, 43)))

    every = kpis()

    # SQLite's julianday() alone is tens of microseconds off: 1e-12 days is 86 ns
    assert every["sales_cycle_mean_days"]["value"] == pytest.approx(1369697.25 / 86400, abs=1e-12)
    assert every["sales_cycle_median_days"]["value"] == round(1369697.25 / 86400, 6)


def test_sales_cycle_without_wins_is_null():
    lead_with(at(2025, 3, 1))

    every = kpis()

    assert every["sales_cycle_median_days"]["value"] is None
    assert every["sales_cycle_mean_days"]["value"] is None


# --- response and nurture -----------------------------------------------------------------------


def activity(lead, type_, when):
    activity_create(lead=lead, type=type_, actor=SYSTEM, at=when)


def test_response_and_not_interested_rates_over_the_leads_contacted_in_the_period():
    called = lead_with(at(2025, 2, 1))
    activity(called, "call", at(2025, 3, 2))
    activity(called, "reply", at(2025, 3, 3))
    lead_move_to_stage(lead=called, to_stage="disqualified", actor=SYSTEM,
                       reason="Budget", at=at(2025, 3, 4))  # not "not interested"

    emailed = lead_with(at(2025, 2, 1))
    activity(emailed, "email_sent", at(2025, 3, 2))
    lead_move_to_stage(lead=emailed, to_stage="disqualified", actor=SYSTEM,
                       reason="Not interested", at=at(2025, 3, 9))

    met = lead_with(at(2025, 2, 1))
    activity(met, "meeting", at(2025, 3, 1, 0, 0))
    activity(met, "reply", at(2025, 3, 31, 23, 59))

    uncontacted = lead_with(at(2025, 2, 1))  # replied and declined without being contacted
    activity(uncontacted, "reply", at(2025, 3, 2))
    lead_move_to_stage(lead=uncontacted, to_stage="disqualified", actor=SYSTEM,
                       reason="Not interested", at=at(2025, 3, 3))

    called_in_february = lead_with(at(2025, 2, 1))
    activity(called_in_february, "call", at(2025, 2, 28, 23))
    activity(called_in_february, "reply", at(2025, 3, 1, 1))

    every = kpis()

    assert (every["response_rate"]["numerator"], every["response_rate"]["denominator"]) == (2, 3)
    assert every["response_rate"]["value"] == 0.6666666666666666
    assert every["not_interested_rate"]["value"] == 0.3333333333333333


def test_response_rates_without_contacts_are_null():
    lead_with(at(2025, 3, 1))

    every = kpis()

    assert every["response_rate"]["value"] is None
    assert every["not_interested_rate"]["value"] is None


def test_workflow_goal_rate_over_the_enrolments_of_the_period():
    workflow = nurture_workflow_create(actor=SYSTEM, name="Onboarding", goal="Demo booked")

    def enrol(entered, goal=None):
        enrolment = nurture_enrol(actor=SYSTEM, workflow=workflow, lead=lead_with(at(2025, 1, 2)),
                                  at=entered)
        if goal:
            nurture_enrolment_close(actor=SYSTEM, enrolment=enrolment, goal_reached_at=goal)

    enrol(at(2025, 3, 1, 0, 0), goal=at(2025, 3, 10))
    enrol(at(2025, 3, 31, 23, 59), goal=at(2025, 4, 3))  # reached later: still this cohort's
    enrol(at(2025, 3, 12))
    enrol(at(2025, 3, 13))
    enrol(at(2025, 2, 27), goal=at(2025, 3, 2))  # enrolled in February

    goal_rate = kpis()["workflow_goal_rate"]

    assert (goal_rate["value"], goal_rate["numerator"], goal_rate["denominator"]) == (0.5, 2, 4)
    assert value("workflow_goal_rate", period=Period(date(2025, 5, 1), date(2025, 5, 31))) is None


def test_nurture_engagement_rate_over_the_mqls_open_in_the_period():
    open_engaged = lead_with(at(2025, 2, 1), ("mql", at(2025, 2, 10)))
    activity(open_engaged, "email_opened", at(2025, 3, 20))

    engaged_before = lead_with(at(2025, 2, 1), ("mql", at(2025, 3, 5)))
    activity(engaged_before, "page_view", at(2025, 2, 25))

    left_before = lead_with(at(2025, 1, 1), ("mql", at(2025, 2, 1)), ("sql", at(2025, 2, 20)))
    activity(left_before, "email_clicked", at(2025, 3, 3))

    passed_through = lead_with(at(2025, 2, 1), ("mql", at(2025, 3, 2)), ("sql", at(2025, 3, 20)))
    activity(passed_through, "form_submitted", at(2025, 3, 3))

    lead_with(at(2025, 1, 1), ("mql", at(2025, 1, 10)),
              ("disqualified", at(2025, 2, 15), "No budget"))
    later = lead_with(at(2025, 3, 1), ("mql", at(2025, 4, 2)))
    activity(later, "email_opened", at(2025, 3, 10))  # engaged, but not an MQL yet

    called = lead_with(at(2025, 2, 1), ("mql", at(2025, 3, 10)))
    activity(called, "call", at(2025, 3, 11))  # not an engagement activity

    rate = kpis()["nurture_engagement_rate"]

    assert (rate["numerator"], rate["denominator"]) == (2, 4)
    assert rate["value"] == 0.5


# --- customers: CAC, churn, LTV -----------------------------------------------------------------


def test_cac_adds_the_months_sales_cost_to_spend_per_customer_won(settings):
    settings.KPI_SALES_COST_PER_MONTH = 1000
    metric(date(2025, 3, 3), spend=Decimal("900.00"))
    metric(date(2025, 3, 3), channel="email", spend=Decimal("100.00"))
    lead_with(at(2025, 2, 1), ("won", at(2025, 3, 2)), channel="paid_search")
    lead_with(at(2025, 2, 1), ("won", at(2025, 3, 3)), channel="email")
    lead_with(at(2025, 2, 1), ("won", at(2025, 3, 4)), channel="email")
    lead_with(at(2025, 2, 1), ("won", at(2025, 3, 5)), channel="referral")
    metric(date(2025, 3, 3), channel="referral", spend=Decimal("0.00"))
    lead_with(at(2025, 2, 1), ("won", at(2025, 3, 6)), channel="events")  # no figures at all

    every = kpis()

    # (1000 spent + one month's 1000 of sales cost) / 5 customers
    assert (every["cac"]["numerator"], every["cac"]["denominator"]) == (2000.0, 5)
    assert every["cac"]["value"] == 400.0
    # a channel: its spend + its share of the sales cost (its customers / 5), per customer
    assert value("cac", channel="paid_search") == 1100.0  # (900 + 200) / 1
    assert value("cac", channel="email") == 250.0  # (100 + 400) / 2
    assert value("cac", channel="referral") == 200.0  # (0 + 200) / 1
    # no spend known for the channel: its CAC is unknown, as its CPL is
    assert value("cac", channel="events") is None
    assert value("cpl", channel="events") is None


def test_cac_of_a_quarter_adds_three_months_of_sales_cost(settings):
    settings.KPI_SALES_COST_PER_MONTH = 1000
    metric(date(2025, 2, 3), spend=Decimal("600.00"))
    lead_with(at(2025, 1, 1), ("won", at(2025, 3, 2)))
    lead_with(at(2025, 1, 1), ("won", at(2025, 1, 2)))

    assert value("cac", period=Period(date(2025, 1, 1), date(2025, 3, 31))) == 1800.0


def test_cac_without_customers_won_is_null(settings):
    settings.KPI_SALES_COST_PER_MONTH = 1000
    metric(date(2025, 3, 3), spend=Decimal("900.00"))
    lead_with(at(2025, 3, 1))

    assert value("cac") is None


@pytest.fixture
def customers(settings):
    """Accounts and their won leads around March."""
    settings.KPI_GROSS_MARGIN = 0.8

    def customer(won, churned=None, amount=None, account=None):
        account = account or AccountFactory(churned_at=churned)
        lead_with(at(2025, 1, 1, 0), ("won", won), account=account, deal_amount=amount)
        return account

    customer(at(2025, 1, 10))  # active at Mar 1
    customer(at(2025, 1, 15), churned=at(2025, 3, 10))  # active at Mar 1, churns in March
    customer(at(2025, 2, 1), churned=at(2025, 2, 20))  # gone before March
    customer(at(2025, 2, 5), churned=at(2025, 4, 5))  # active at Mar 1, churns in April
    twice = customer(at(2025, 1, 2))
    customer(at(2025, 2, 1), account=twice)  # one customer with two won leads
    lead_with(at(2025, 1, 1), ("opportunity", at(2025, 1, 2)),
              account=AccountFactory(churned_at=at(2025, 3, 3)))  # never a customer
    # won in March with annual contract values
    customer(at(2025, 3, 15), amount=Decimal("12000.00"))
    customer(at(2025, 3, 20), amount=Decimal("24000.00"))


def test_customer_churn_rate_over_the_customers_active_at_the_periods_start(customers):
    churn = kpis()["customer_churn_rate"]

    assert (churn["numerator"], churn["denominator"]) == (1, 4)
    assert churn["value"] == 0.25


def test_customer_churn_rate_without_customers_at_the_start_is_null(customers):
    december = Period(date(2024, 12, 1), date(2024, 12, 31))

    assert value("customer_churn_rate", period=december) is None


def test_ltv_is_monthly_revenue_per_customer_times_margin_over_monthly_churn(customers):
    # monthly revenue per customer won in March: (12000 + 24000) / 12 / 2 = 1500; x 0.8 = 1200;
    # over March's churn of 1 / 4 customers
    assert value("ltv") == 4800.0


def test_ltv_without_churn_is_null(customers):
    # March 16-31: the 24000 contract is won, and none of the 4 customers active on the 16th churns
    late_march = Period(date(2025, 3, 16), date(2025, 3, 31))

    assert value("customer_churn_rate", period=late_march) == 0.0
    assert value("ltv", period=late_march) is None


def test_ltv_without_revenue_is_null(customers):
    # April: the Apr 5 churn, but nobody won with a contract value
    assert value("customer_churn_rate", period=APRIL) == 0.2  # 1 of 5
    assert value("ltv", period=APRIL) is None


# --- cuts ---------------------------------------------------------------------------------------


@pytest.fixture
def touched(rep, other_rep):
    """Two campaigns; one lead came first through the search ad and last through the newsletter."""
    search_ad = CampaignFactory(channel="paid_search", utm_campaign="search-ad")
    newsletter = CampaignFactory(channel="email", utm_campaign="newsletter")
    returning = lead_with(at(2025, 3, 2), ("mql", at(2025, 3, 4)), campaign=search_ad, owner=rep,
                          cta="Pricing guide")
    lead_touch_record(lead=returning, touch=touch_resolve(campaign=newsletter), actor=SYSTEM,
                      at=at(2025, 3, 3))
    lead_with(at(2025, 3, 5), campaign=newsletter, owner=other_rep, cta="Webinar")
    lead_with(at(2025, 3, 6), channel="paid_search", owner=other_rep)
    metric(date(2025, 3, 2), visitors=100, spend=Decimal("50.00"))
    metric(date(2025, 3, 2), channel="email", visitors=300, spend=Decimal("10.00"))
    return search_ad, newsletter


def test_channel_and_campaign_cuts_use_first_touch(touched):
    search_ad, newsletter = touched

    assert funnel(channel="paid_search")["counts"] == {
        "lead": 2, "mql": 1, "sql": 0, "opportunity": 0, "won": 0,
    }
    assert funnel(channel="email")["counts"]["lead"] == 1
    assert funnel(campaign=search_ad.pk)["counts"]["lead"] == 1
    assert funnel(campaign=newsletter.pk)["counts"]["lead"] == 1
    assert funnel(campaign=newsletter.pk)["counts"]["mql"] == 0


def test_last_touch_attribution_moves_a_returning_lead_to_its_latest_source(touched):
    search_ad, newsletter = touched

    assert funnel(channel="paid_search", attribution="last")["counts"]["lead"] == 1
    assert funnel(channel="email", attribution="last")["counts"] == {
        "lead": 2, "mql": 1, "sql": 0, "opportunity": 0, "won": 0,
    }
    assert funnel(campaign=search_ad.pk, attribution="last")["counts"]["lead"] == 0
    assert funnel(campaign=newsletter.pk, attribution="last")["counts"]["lead"] == 2
    # a channel's visitors are the channel's, whichever touch attributes its leads
    assert funnel(channel="email", attribution="last")["visitors"] == 300
    assert value("cpl", channel="email", attribution="last") == 5.0  # 10 / 2


def test_owner_and_cta_cuts_count_their_leads_and_have_no_marketing_figures(touched, rep):
    by_owner = kpis(owner=rep.pk)
    by_cta = kpis(cta="Webinar")

    assert by_owner["leads"]["value"] == 1
    assert by_owner["mql"]["value"] == 1
    assert by_cta["leads"]["value"] == 1
    assert by_cta["mql"]["value"] == 0
    for every in (by_owner, by_cta):
        for key in ("visitors", "visitor_to_lead", "cpl", "cpc", "ctr", "bounce_rate",
                    "email_open_rate", "engagement_rate"):
            assert every[key]["value"] is None, key
    assert funnel(owner=rep.pk)["visitors"] is None
    assert funnel(cta="Webinar")["visitors"] is None


def test_cac_of_an_owner_is_null_for_want_of_its_marketing_spend(touched, rep, settings):
    settings.KPI_SALES_COST_PER_MONTH = 1000
    lead_with(at(2025, 3, 2), ("won", at(2025, 3, 9)), owner=rep, channel="paid_search")

    assert value("cac", owner=rep.pk) is None
    assert value("cac", cta="Pricing guide") is None


def test_a_reps_scope_counts_only_their_own_leads(touched, rep, other_rep):
    mine = kpis(scope=lead_scope(rep))
    theirs = kpis(scope=lead_scope(other_rep))

    assert (mine["leads"]["value"], theirs["leads"]["value"]) == (1, 2)
    assert (mine["mql"]["value"], theirs["mql"]["value"]) == (1, 0)
