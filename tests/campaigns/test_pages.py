"""Campaign pages: /campaigns/ and /campaigns/<id>/. Their numbers come from the KPI registry
(reports.kpis); these tests build small campaigns by hand and compare what the pages show with
`kpis_compute` / `funnel_compute` for the same cut, and with the figures worked out by hand."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from campaigns.services import (
    daily_metric_upsert,
    nurture_enrol,
    nurture_enrolment_close,
    nurture_workflow_create,
)
from leads.actors import SystemActor
from leads.selectors import lead_scope
from leads.services import lead_move_to_stage
from reports.kpis import Cut, kpis_compute, kpis_compute_by_campaign
from reports.periods import Period
from tests.factories import CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor.SYSTEM
MARCH = Period(date(2025, 3, 1), date(2025, 3, 31))


def at(year, month, day, hour=12):
    return timezone.make_aware(datetime(year, month, day, hour))


def lead_with(created, *moves, **fields):
    lead = LeadFactory(at=created, **fields)
    for stage, when, *reason in moves:
        lead = lead_move_to_stage(lead=lead, to_stage=stage, actor=SYSTEM, at=when,
                                  reason=reason[0] if reason else "")
    return lead


def metric(day, campaign, **values):
    daily_metric_upsert(actor=SYSTEM, date=day, channel=campaign.channel, campaign=campaign,
                        values=values)


@pytest.fixture
def march_campaigns(rep, other_rep):
    """Three campaigns in March 2025.
    - Search: 2 days of spend (300.00 + 200.00), 2 leads (rep's and other rep's), one MQL, one won
      (created Mar 2, won Mar 12: 10 days), plus one lead created in February (not a March lead).
    - Social: spend 150.00, 3 leads, no MQL, a lost deal, a nurture enrolment reaching its goal.
    - Quiet: no spend figures, no leads at all.
    """
    search = CampaignFactory(name="Search", channel="paid_search",
                             starts_on=date(2025, 3, 1), ends_on=date(2025, 3, 31))
    social = CampaignFactory(name="Social", channel="paid_social", status="paused")
    quiet = CampaignFactory(name="Quiet", channel="events", status="draft")
    metric(date(2025, 3, 3), search, visitors=400, clicks=40, impressions=1000,
           spend=Decimal("300.00"))
    metric(date(2025, 3, 4), search, visitors=100, clicks=10, impressions=500,
           spend=Decimal("200.00"))
    metric(date(2025, 2, 20), search, visitors=999, spend=Decimal("999.00"))  # outside March
    metric(date(2025, 3, 10), social, visitors=50, clicks=5, impressions=800,
           spend=Decimal("150.00"))
    lead_with(at(2025, 3, 2), ("won", at(2025, 3, 12)), campaign=search, owner=rep)
    lead_with(at(2025, 3, 5), ("mql", at(2025, 3, 6)), campaign=search, owner=other_rep)
    lead_with(at(2025, 2, 10), campaign=search, owner=rep)
    for day in (1, 2):
        lead_with(at(2025, 3, day), campaign=social, owner=other_rep)
    lost = lead_with(at(2025, 3, 3), ("sql", at(2025, 3, 4)), ("lost", at(2025, 3, 20), "Budget"),
                     campaign=social, owner=rep)
    workflow = nurture_workflow_create(actor=SYSTEM, name="Onboarding", goal="demo")
    enrolment = nurture_enrol(actor=SYSTEM, workflow=workflow, lead=lost, at=at(2025, 3, 5))
    nurture_enrolment_close(actor=SYSTEM, enrolment=enrolment, goal_reached_at=at(2025, 3, 8))
    return {"search": search, "social": social, "quiet": quiet}


# --- the grouped computation ---------------------------------------------------------------------


@pytest.mark.parametrize("attribution", ["first", "last"])
@pytest.mark.parametrize("mode", ["period", "cohort"])
def test_grouped_kpis_equal_kpis_compute_for_each_campaign(march_campaigns, rep, mode,
                                                           attribution):
    ids = [c.pk for c in march_campaigns.values()]
    for scope in (Q(), lead_scope(rep)):
        grouped = kpis_compute_by_campaign(period=MARCH, campaigns=ids, scope=scope, mode=mode,
                                           attribution=attribution)
        for pk in ids:
            one = kpis_compute(period=MARCH, cut=Cut(campaign=pk, attribution=attribution),
                               scope=scope, mode=mode)
            assert grouped[pk] == one


def test_grouped_kpis_median_cycle_per_campaign(rep):
    # Search: won after 2, 4, 10 and 30 days -> median 7; Social: 5 days -> median 5.
    search, social = CampaignFactory(), CampaignFactory()
    for days in (2, 4, 10, 30):
        lead_with(at(2025, 2, 1), ("won", at(2025, 2, 1) + timedelta(days=days)), campaign=search)
    lead_with(at(2025, 3, 1), ("won", at(2025, 3, 6)), campaign=social)
    period = Period(date(2025, 2, 1), date(2025, 3, 31))

    grouped = kpis_compute_by_campaign(period=period, campaigns=[search.pk, social.pk], scope=Q())

    medians = {pk: {r["key"]: r["value"] for r in rows}["sales_cycle_median_days"]
               for pk, rows in grouped.items()}
    assert medians == {search.pk: 7.0, social.pk: 5.0}


def test_grouped_kpis_cost_a_fixed_number_of_queries(
    march_campaigns, django_assert_max_num_queries
):
    more = [CampaignFactory().pk for _ in range(20)]
    ids = [c.pk for c in march_campaigns.values()] + more
    with django_assert_max_num_queries(5):
        kpis_compute_by_campaign(period=MARCH, campaigns=ids, scope=Q())


# --- the list ------------------------------------------------------------------------------------


def _cells(html: str, campaign) -> dict:
    """{kpi key: cell text} of a campaign's row in the list."""
    import re

    row = re.search(rf'<tr data-campaign="{campaign.pk}">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'<td class="num" data-kpi="(\w+)"[^>]*>(.*?)</td>', row, re.S)
    return {key: re.sub(r"<[^>]+>", "", text).strip() for key, text in cells}


MARCH_QUERY = {"period": "custom", "start": "2025-03-01", "end": "2025-03-31"}


def test_list_shows_each_campaigns_kpis_as_kpis_compute_computes_them(
    client, manager, march_campaigns, settings
):
    settings.KPI_SALES_COST_PER_MONTH = 1000
    client.force_login(manager)

    html = client.get(reverse("campaigns:list"), MARCH_QUERY).content.decode()

    # By hand: Search spent 500.00 on 2 March leads (CPL 250.00), 1 MQL of 2... the MQL of the won
    # lead is stamped too: 2 MQLs / 2 leads = 100%; 1 customer; CAC = (500 + 1000 sales cost x
    # 1/1 of March's customers) / 1 = 1,500.00.
    assert _cells(html, march_campaigns["search"]) == {
        "spend": "€500.00", "leads": "2", "cpl": "€250.00", "lead_to_mql": "100.0%",
        "cac": "€1,500.00",
    }
    # Social: 150.00 / 3 leads = 50.00; the SQL stamped an MQL: 1 / 3 = 33.3%; no customer.
    assert _cells(html, march_campaigns["social"]) == {
        "spend": "€150.00", "leads": "3", "cpl": "€50.00", "lead_to_mql": "33.3%", "cac": "—",
    }
    # And those are the registry's numbers for each cut.
    for campaign in march_campaigns.values():
        one = {r["key"]: r["value"] for r in kpis_compute(
            period=MARCH, cut=Cut(campaign=campaign.pk), scope=Q())}
        cells = _cells(html, campaign)
        for key in ("cpl", "cac"):
            expected = "—" if one[key] is None else f"€{one[key]:,.2f}"
            assert cells[key] == expected
        assert cells["leads"] == str(one["leads"])


def test_list_explains_each_null_kpi(client, manager, march_campaigns):
    client.force_login(manager)

    html = client.get(reverse("campaigns:list"), MARCH_QUERY).content.decode()

    import re

    quiet = re.search(rf'<tr data-campaign="{march_campaigns["quiet"].pk}">(.*?)</tr>', html,
                      re.S).group(1)
    titles = dict(re.findall(r'data-kpi="(\w+)"[^>]*><abbr class="kpi-null" title="([^"]+)"',
                             quiet))
    assert titles["spend"] == "No marketing figures for this campaign in the period."
    assert titles["lead_to_mql"] == (
        "No leads created in the period: a ratio over zero is not a number.")
    social = re.search(rf'<tr data-campaign="{march_campaigns["social"].pk}">(.*?)</tr>', html,
                       re.S).group(1)
    assert 'title="No customers won in the period: a ratio over zero is not a number."' in social


def test_list_for_a_rep_counts_their_leads_and_withholds_spend(client, rep, march_campaigns):
    client.force_login(rep)

    html = client.get(reverse("campaigns:list"), MARCH_QUERY).content.decode()

    # rep1 owns the won Search lead (March) and the lost Social lead.
    assert _cells(html, march_campaigns["search"])["leads"] == "1"
    assert _cells(html, march_campaigns["social"])["leads"] == "1"
    assert _cells(html, march_campaigns["search"])["spend"] == "—"
    assert "shown to those who see every lead" in html
    assert "Add campaign in admin" not in html


def test_list_sorts_by_a_kpi_with_nulls_last(client, manager, march_campaigns):
    client.force_login(manager)

    def order(sort):
        html = client.get(reverse("campaigns:list"), {**MARCH_QUERY, "sort": sort}).content
        import re

        ids = [int(pk) for pk in re.findall(rb'<tr data-campaign="(\d+)">', html)]
        names = {c.pk: c.name for c in march_campaigns.values()}
        return [names[pk] for pk in ids]

    assert order("cpl") == ["Social", "Search", "Quiet"]
    assert order("-cpl") == ["Search", "Social", "Quiet"]
    assert order("-leads") == ["Social", "Search", "Quiet"]
    assert order("name") == ["Quiet", "Search", "Social"]


def test_list_defaults_to_the_last_90_days_and_names_bad_dates(client, manager, march_campaigns):
    client.force_login(manager)
    today = timezone.localdate()

    response = client.get(reverse("campaigns:list"))
    assert response.context["period"] == Period(today - timedelta(days=89), today)

    response = client.get(reverse("campaigns:list"),
                          {"period": "custom", "start": "2025-03-31", "end": "2025-03-01"})
    assert "To: The last day cannot be before the first day." in response.content.decode()
    response = client.get(reverse("campaigns:list"), {"period": "custom", "start": "nope"})
    html = response.content.decode()
    assert "From: Enter a valid date." in html
    assert "To: Pick the last day of the custom period." in html


def test_list_all_time_starts_at_the_first_campaign_day(client, manager, march_campaigns):
    client.force_login(manager)

    response = client.get(reverse("campaigns:list"), {"period": "all"})

    # The first day anything of a campaign happened: the February lead of Search (Feb 10)...
    # the February metric row of Search (Feb 20) is later.
    assert response.context["period"].start == date(2025, 2, 10)
    assert _cells(response.content.decode(), march_campaigns["search"])["leads"] == "3"


def test_list_runs_a_bounded_number_of_queries(client, manager, march_campaigns,
                                               django_assert_max_num_queries):
    client.force_login(manager)
    client.get(reverse("campaigns:list"))  # warm the session
    for _n in range(30):
        campaign = CampaignFactory()
        lead_with(at(2025, 3, 10), ("mql", at(2025, 3, 11)), campaign=campaign)
        metric(date(2025, 3, 10), campaign, spend=Decimal("10.00"), visitors=5)

    # 5 for the session, the user, their permissions and role; the campaigns (with their first
    # days for "All time"); 5 grouped KPI queries.
    with django_assert_max_num_queries(11):
        response = client.get(reverse("campaigns:list"), {"period": "all"})
    assert len(response.context["campaigns"]) == 33


def test_every_role_opens_the_list_but_only_editors_see_the_admin_link(
    client, rep, marketer, admin_user, march_campaigns
):
    for user, link in ((rep, False), (marketer, False), (admin_user, True)):
        client.force_login(user)
        response = client.get(reverse("campaigns:list"))
        assert response.status_code == 200
        assert ("Add campaign in admin" in response.content.decode()) is link


# --- a campaign's page ---------------------------------------------------------------------------


def test_detail_embeds_the_daily_chart_data(client, marketer, march_campaigns):
    client.force_login(marketer)
    search = march_campaigns["search"]

    response = client.get(reverse("campaigns:detail", args=[search.pk]), MARCH_QUERY)

    html = response.content.decode()
    assert '<canvas id="daily-chart"' in html
    import re

    data = json.loads(re.search(
        r'<script id="daily-chart-data" type="application/json">(.*?)</script>', html, re.S
    ).group(1))
    assert len(data["labels"]) == 31
    assert data["labels"][0] == "2025-03-01"
    assert data["labels"][2:4] == ["2025-03-03", "2025-03-04"]
    assert data["visitors"][2:4] == [400, 100]
    assert data["clicks"][2:4] == [40, 10]
    assert data["spend"][2:4] == [300.0, 200.0]
    assert data["visitors"][0] is None  # a day without figures is not a zero
    assert 'src="/static/vendor/chartjs-4.6.1/chart.umd.min.js"' in html


def test_detail_without_figures_says_so_instead_of_an_empty_chart(client, manager,
                                                                   march_campaigns):
    client.force_login(manager)

    html = client.get(reverse("campaigns:detail", args=[march_campaigns["quiet"].pk]),
                      MARCH_QUERY).content.decode()

    assert "daily-chart" not in html
    assert "No daily figures for this campaign in the period." in html


def test_detail_funnel_equals_the_funnel_api_for_the_same_cut(client, api_as, manager,
                                                              march_campaigns):
    client.force_login(manager)
    search = march_campaigns["search"]
    import re

    for mode in ("period", "cohort"):
        html = client.get(reverse("campaigns:detail", args=[search.pk]),
                          {**MARCH_QUERY, "mode": mode}).content.decode()
        api = api_as(manager).get("/api/v1/reports/funnel/", {
            "start": "2025-03-01", "end": "2025-03-31", "campaign": search.pk, "mode": mode,
        }).json()
        shown = {stage: int(n) for stage, n in
                 re.findall(r'data-stage="(\w+)" data-count="(\d+)"', html)}
        assert shown == api["counts"]
        rates = re.findall(r'data-rate="([^"]*)"', html)
        expected = [api["rates"][k] for k in ("visitor_to_lead", "lead_to_mql", "mql_to_sql",
                                               "sql_to_opportunity", "opportunity_to_won")]
        assert [float(r) if r else None for r in rates] == expected
    # By hand, period mode: 2 March leads, 2 MQLs (one stamped by the win), 1 SQL, 1 opp, 1 won;
    # 500 visitors.
    html = client.get(reverse("campaigns:detail", args=[search.pk]), MARCH_QUERY).content.decode()
    assert re.findall(r'data-stage="(\w+)" data-count="(\d+)"', html) == [
        ("lead", "2"), ("mql", "2"), ("sql", "1"), ("opportunity", "1"), ("won", "1")]
    response = client.get(reverse("campaigns:detail", args=[search.pk]), MARCH_QUERY)
    assert response.context["funnel"][0]["rate_text"] == "0.4%"  # 2 leads / 500 visitors


def test_detail_kpis_equal_kpis_compute(client, manager, march_campaigns):
    client.force_login(manager)
    search = march_campaigns["search"]

    response = client.get(reverse("campaigns:detail", args=[search.pk]), MARCH_QUERY)

    shown = {kpi.key: kpi.value for kpi in response.context["kpis"]}
    expected = {r["key"]: r["value"] for r in kpis_compute(
        period=MARCH, cut=Cut(campaign=search.pk), scope=Q())}
    for key in ("cpl", "cac", "lead_to_mql", "ctr", "cpc", "visitor_to_lead", "won"):
        assert shown[key] == expected[key]
    assert shown["spend"] == Decimal("500.00")
    assert shown["ctr"] == 50 / 1500
    assert shown["cpc"] == 10.0


def test_detail_defaults_to_the_campaigns_whole_life(client, manager, march_campaigns):
    client.force_login(manager)

    response = client.get(reverse("campaigns:detail", args=[march_campaigns["search"].pk]))

    assert response.context["period"] == Period(date(2025, 3, 1), timezone.localdate())
    # Its whole life: the chart starts at its first figures.
    assert response.context["chart"]["labels"][0] == "2025-03-03"


def test_a_rep_sees_only_their_own_leads_of_the_campaign(client, api_as, rep, other_rep,
                                                          march_campaigns):
    client.force_login(rep)
    search = march_campaigns["search"]
    mine = set(search.leads.filter(owner=rep).values_list("pk", flat=True))
    theirs = set(search.leads.filter(owner=other_rep).values_list("pk", flat=True))
    assert mine
    assert theirs

    response = client.get(reverse("campaigns:detail", args=[search.pk]))

    html = response.content.decode()
    import re

    shown = {int(pk) for pk in re.findall(r'<tr data-lead="(\d+)">', html)}
    assert shown == mine
    assert "Edit in admin" not in html
    # Their funnel counts their leads only, as the funnel API answers them.
    period = response.context["period"]
    api = api_as(rep).get("/api/v1/reports/funnel/", {
        "start": period.start, "end": period.end, "campaign": search.pk}).json()
    assert {row["stage"]: row["count"] for row in response.context["funnel"]} == api["counts"]
    assert api["counts"]["won"] == 1  # the rep's own won lead; the other rep's MQL is not theirs
    assert api["counts"]["mql"] == 1


def test_detail_paginates_leads_and_stays_bounded(client, manager, django_assert_max_num_queries):
    campaign = CampaignFactory(starts_on=date(2025, 3, 1))
    for n in range(30):
        lead_with(at(2025, 3, 1 + n % 28), campaign=campaign)
    metric(date(2025, 3, 2), campaign, visitors=10, spend=Decimal("5.00"))
    client.force_login(manager)
    client.get(reverse("campaigns:list"))

    # 5 base, the campaign, kpis_compute 6 (7 with a win: the median), funnel 2, chart 1,
    # leads 2.
    with django_assert_max_num_queries(17):
        response = client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert len(response.context["leads"]) == 25
    page2 = client.get(reverse("campaigns:detail", args=[campaign.pk]), {"page": 2})
    assert len(page2.context["leads"]) == 5


def test_detail_of_an_unknown_campaign_is_404(client, manager):
    client.force_login(manager)
    assert client.get(reverse("campaigns:detail", args=[999999])).status_code == 404


def test_detail_shows_the_admin_link_to_staff_who_may_change_campaigns(client, admin_user,
                                                                       march_campaigns):
    client.force_login(admin_user)
    pk = march_campaigns["search"].pk

    html = client.get(reverse("campaigns:detail", args=[pk])).content.decode()

    assert f'href="/admin/campaigns/campaign/{pk}/change/"' in html
