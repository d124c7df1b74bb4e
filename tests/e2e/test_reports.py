"""The reports dashboard in a real browser: its charts are drawn, and the numbers in its tables are
the report API's for the same cut (fetched from the page, with the same session)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import CampaignFactory
from tests.reports.test_kpis import lead_with, metric

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STAGES = ["lead", "mql", "sql", "opportunity", "won"]
RATES = ["visitor_to_lead", "lead_to_mql", "mql_to_sql", "sql_to_opportunity",
         "opportunity_to_won"]


@pytest.fixture
def funnel_data(rep, other_rep):
    """Leads of two reps over the last three months, across channels and content, with daily
    figures for the channels: enough for every section to show numbers."""
    now = timezone.now()
    campaign = CampaignFactory(name="Search - CRM software", channel="paid_search")
    webinar = CampaignFactory(name="Webinar: pipeline hygiene", channel="events")
    plans = [
        ("organic_search", None, "Pricing guide", 6, ["mql", "sql", "opportunity", "won"]),
        ("organic_search", None, "Newsletter signup", 5, ["mql"]),
        ("paid_search", campaign, "Demo request", 5, ["mql", "sql", "opportunity"]),
        ("paid_search", campaign, "Pricing guide", 4, ["mql", "sql", "opportunity", "won"]),
        ("events", webinar, "Webinar registration", 4, ["mql", "sql"]),
        ("referral", None, "", 3, ["mql", "sql", "opportunity", "won"]),
    ]
    n = 0
    for channel, campaign_, cta, count, path in plans:
        for i in range(count):
            n += 1
            created = now - timedelta(days=80 - n * 2, hours=3)
            steps = path[: 1 + (i % len(path))]
            moves = [(stage, created + timedelta(days=1 + k)) for k, stage in enumerate(steps)]
            lead_with(created, *moves, owner=rep if n % 2 else other_rep, channel=channel,
                      campaign=campaign_, cta=cta)
    for days_ago in range(0, 85, 7):
        day = timezone.localdate() - timedelta(days=days_ago)
        metric(day, channel="organic_search", visitors=400, sessions=450, bounced_sessions=180,
               pageviews=1200)
        metric(day, channel="paid_search", visitors=150, sessions=160, bounced_sessions=70,
               impressions=5000, clicks=160, spend="240.00")
        metric(day, channel="paid_search", campaign=campaign, visitors=150, impressions=5000,
               clicks=160, spend="240.00")
        metric(day, channel="email", emails_sent=1000, emails_delivered=980, emails_opened=310,
               emails_clicked=45, emails_unsubscribed=4)
    return campaign


def api_json(page, path, params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return page.evaluate(
        "url => fetch(url, {credentials: 'same-origin'}).then(r => r.json())", f"{path}?{query}"
    )


def table_values(page, table):
    rows = page.locator(f"table[data-table='{table}'] tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("[data-value]")
        values = [cells.nth(j).get_attribute("data-value") for j in range(cells.count())]
        out[values[0]] = values[1:]
    return out


def as_number(text):
    if text in ("", None):
        return None
    return float(text)


def assert_charts_drawn(page):
    for canvas_id in ("funnel-chart", "trends-chart"):
        canvas = page.locator(f"#{canvas_id}")
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box["width"] > 100, (canvas_id, box)
        assert box["height"] > 100, (canvas_id, box)
        # Chart.js owns the canvas and has drawn its first dataset's bars on it
        drawn = page.evaluate(
            "id => { const c = Chart.getChart(id);"
            " return c ? c.getDatasetMeta(0).data.length : 0 }",
            canvas_id,
        )
        assert drawn > 0, canvas_id


def test_manager_sees_charts_and_the_funnel_apis_numbers(page_as, manager, funnel_data,
                                                        screenshot):
    page = page_as(manager)
    page.goto("/reports/?period=last_90_days")

    assert_charts_drawn(page)
    start = page.locator("input[name=start]").input_value()
    end = page.locator("input[name=end]").input_value()

    # the funnel table equals GET /api/v1/reports/funnel/ for the same period and cut
    api = api_json(page, "/api/v1/reports/funnel/", {"start": start, "end": end})
    funnel = table_values(page, "funnel")
    assert int(funnel["Visitors"][0]) == api["visitors"]
    for stage, rate, label in zip(STAGES, RATES, ["Lead", "MQL", "SQL", "Opportunity", "Won"],
                                  strict=True):
        assert int(funnel[label][0]) == api["counts"][stage]
        assert as_number(funnel[label][1]) == api["rates"][rate]
    assert api["counts"]["lead"] == 27

    # a channel's breakdown row equals the funnel API cut by that channel
    paid = api_json(page, "/api/v1/reports/funnel/",
                    {"start": start, "end": end, "channel": "paid_search"})
    row = table_values(page, "channel")["Paid search"]
    # columns: visitors, then (value, ...) in the order of the table's header
    header = page.locator("table[data-table='channel'] thead th").all_inner_texts()
    cell = dict(zip(header[1:], row, strict=True))
    assert int(cell["Visitors"]) == paid["visitors"]
    assert int(cell["Leads"]) == paid["counts"]["lead"]
    assert int(cell["Won"]) == paid["counts"]["won"]
    assert as_number(cell["Lead→MQL"]) == paid["rates"]["lead_to_mql"]

    expect(page.locator("[data-trends-source]")).to_contain_text("Live")
    screenshot(page, "reports-dashboard")


def test_cohort_mode_for_one_channel_matches_the_api(page_as, manager, funnel_data, screenshot):
    page = page_as(manager)
    page.goto("/reports/")
    page.locator("select[name=channel]").select_option("paid_search")
    page.locator("select[name=mode]").select_option("cohort")
    page.get_by_role("button", name="Apply").click()

    page.wait_for_url("**/reports/?*mode=cohort*")
    assert_charts_drawn(page)
    start = page.locator("input[name=start]").input_value()
    end = page.locator("input[name=end]").input_value()
    api = api_json(page, "/api/v1/reports/funnel/", {"start": start, "end": end,
                                                      "channel": "paid_search",
                                                      "mode": "cohort"})
    funnel = table_values(page, "funnel")
    assert [int(funnel[s][0]) for s in ["Lead", "MQL", "SQL", "Opportunity", "Won"]] == [
        api["counts"][s] for s in STAGES]
    assert api["counts"]["lead"] == 9


def test_rep_sees_their_own_numbers_and_a_bad_date_is_named(page_as, rep, funnel_data,
                                                            screenshot):
    page = page_as(rep)
    page.goto("/reports/")
    assert_charts_drawn(page)
    expect(page.locator("[data-scope]")).to_contain_text("your own leads")
    expect(page.locator("select[name=owner]")).to_be_disabled()
    start = page.locator("input[name=start]").input_value()
    end = page.locator("input[name=end]").input_value()
    api = api_json(page, "/api/v1/reports/funnel/", {"start": start, "end": end,
                                                      "owner": rep.pk})
    funnel = table_values(page, "funnel")
    assert int(funnel["Lead"][0]) == api["counts"]["lead"] == 14
    screenshot(page, "reports-rep")

    page.goto("/reports/?period=custom&start=2026-02-30&end=2026-01-01")
    expect(page.locator("[data-error-for=start]")).to_contain_text("Start")
    expect(page.locator("[data-error-for=start]")).to_contain_text("Date has wrong format")
    screenshot(page, "reports-error")
