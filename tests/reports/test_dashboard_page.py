"""The reports dashboard (/reports/) and its CSV exports through the browser's door (Django's test
client): the numbers on the page are the report API's for the same parameters, presets resolve
in TIME_ZONE, bad parameters are named on the page, exports escape formulas, a rep sees only their
own leads, trends say when their snapshots were computed, and the page's queries are bounded.
The fixture's numbers are small enough to check by hand; times are UTC unless a test says."""

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.selectors import lead_scope
from reports.breakdowns import BREAKDOWN_KPIS, breakdown_compute, trends_compute
from reports.dashboard import preset_period
from reports.kpis import Cut, funnel_compute, kpis_compute
from reports.models import KPIDirtyDay
from reports.periods import Period, grain_periods
from reports.snapshots import snapshots_recompute
from tests.factories import CampaignFactory
from tests.reports.test_kpis import at, lead_with, metric

pytestmark = pytest.mark.django_db

MARCH = {"period": "custom", "start": "2025-03-01", "end": "2025-03-31"}
MARCH_API = {"start": "2025-03-01", "end": "2025-03-31"}
STAGE_ROWS = {"Lead": "lead", "MQL": "mql", "SQL": "sql", "Opportunity": "opportunity",
              "Won": "won"}
RATES = {"Lead": "visitor_to_lead", "MQL": "lead_to_mql", "SQL": "mql_to_sql",
         "Opportunity": "sql_to_opportunity", "Won": "opportunity_to_won"}
QUERY_LIMIT = 30  # measured: 27 for a manager (base template 5), 23 for a rep


@pytest.fixture
def data(rep, other_rep):
    """Leads of two reps in February and March 2025 across channels, campaigns and content;
    daily figures for two channels and a campaign."""
    search = CampaignFactory(name="Search - CRM", channel="paid_search")
    webinar = CampaignFactory(name="=HYPERLINK(\"http://x\")", channel="events")
    # rep's: the whole funnel in March through paid search, and a pricing-guide MQL
    lead_with(at(2025, 3, 2), ("mql", at(2025, 3, 3)), ("sql", at(2025, 3, 4)),
              ("opportunity", at(2025, 3, 5)), ("won", at(2025, 3, 20)), owner=rep,
              channel="paid_search", campaign=search, cta="Demo request")
    lead_with(at(2025, 3, 3), ("mql", at(2025, 3, 8)), owner=rep, cta="Pricing guide")
    lead_with(at(2025, 2, 12), ("mql", at(2025, 2, 13)), ("sql", at(2025, 3, 1, 0, 0, 0)),
              owner=rep, channel="paid_search", campaign=search, cta="+cmd|calc")
    # other rep's: an events lead that went to SQL, two plain leads, a February lead won in March
    lead_with(at(2025, 3, 10), ("sql", at(2025, 3, 12)), owner=other_rep, channel="events",
              campaign=webinar, cta="@SUM(A1)")
    lead_with(at(2025, 3, 31, 23, 59, 59), owner=other_rep, cta="-minus")
    lead_with(at(2025, 3, 15), owner=other_rep, channel="referral")
    lead_with(at(2025, 2, 3), ("opportunity", at(2025, 2, 20)), ("won", at(2025, 3, 2)),
              owner=other_rep, channel="referral")
    for day in (date(2025, 2, 10), date(2025, 3, 1), date(2025, 3, 31)):
        metric(day, channel="organic_search", visitors=200, sessions=220, bounced_sessions=88)
        metric(day, channel="paid_search", visitors=100, sessions=110, bounced_sessions=30,
               impressions=4000, clicks=120, spend="300.00")
        metric(day, channel="paid_search", campaign=search, visitors=60, impressions=4000,
               clicks=120, spend="300.00")
    return {"search": search, "webinar": webinar}


def page_as(user):
    client = Client()
    client.force_login(user)
    return client


# --- reading the page ---------------------------------------------------------------------------


def table_values(html: str, name: str) -> dict[str, list[str]]:
    """{row name: [data-value of each cell]} of the page's table `name`."""
    match = re.search(rf'<table class="data-table" data-table="{name}">(.*?)</table>', html,
                      re.S)
    assert match, f"no table {name}"
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", match.group(1).split("<tbody>")[1], re.S):
        values = re.findall(r'data-value="([^"]*)"', row)
        rows[values[0]] = values[1:]
    return rows


def tile_values(html: str) -> dict[str, str]:
    return dict(re.findall(
        r'data-kpi="([^"]+)">\s*<span class="stat-label"[^>]*>[^<]*</span>\s*'
        r'<span class="stat-value" data-value="([^"]*)"', html))


def number(text):
    return None if text == "" else float(text)


def export_rows(client, table, params):
    response = client.get(f"/reports/export/{table}.csv", params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- the same numbers as the API ----------------------------------------------------------------


@pytest.mark.parametrize("cut", [{}, {"channel": "paid_search"}, {"cta": "Pricing guide"},
                                 {"channel": "paid_search", "attribution": "last"}])
@pytest.mark.parametrize("mode", ["period", "cohort"])
def test_funnel_table_equals_the_funnel_api(data, manager, api_as, mode, cut):
    page = page_as(manager).get("/reports/", {**MARCH, "mode": mode, **cut})
    api = api_as(manager).get("/api/v1/reports/funnel/", {**MARCH_API, "mode": mode, **cut})

    assert page.status_code == 200
    body = api.json()
    rows = table_values(page.content.decode(), "funnel")
    for label, stage in STAGE_ROWS.items():
        assert int(rows[label][0]) == body["counts"][stage], label
        if label != "Lead" or body["visitors"] is not None:
            assert number(rows[label][1]) == body["rates"][RATES[label]], label
    assert ("Visitors" in rows) == (body["visitors"] is not None)
    if body["visitors"] is not None:
        assert int(rows["Visitors"][0]) == body["visitors"]


def test_the_whole_march_funnel_by_hand(data, manager):
    html = page_as(manager).get("/reports/", MARCH).content.decode()

    rows = table_values(html, "funnel")
    # leads created in March: 5; MQL: Mar 3, Mar 8 and the events SQL (stamped); SQL: Mar 4,
    # Mar 1 00:00 and Mar 12; opportunity: Mar 5; won: Mar 20 and Mar 2. Visitors 2 x 300.
    assert {k: int(v[0]) for k, v in rows.items()} == {
        "Visitors": 600, "Lead": 5, "MQL": 3, "SQL": 3, "Opportunity": 1, "Won": 2}
    assert number(rows["MQL"][1]) == 3 / 5


@pytest.mark.parametrize("cut", [{}, {"channel": "paid_search"}, {"owner": "rep"}])
def test_kpi_tiles_equal_the_kpis_api(data, manager, rep, api_as, cut):
    if cut.get("owner") == "rep":
        cut = {"owner": rep.pk}
    html = page_as(manager).get("/reports/", {**MARCH, **cut}).content.decode()
    api = {row["key"]: row for row in
           api_as(manager).get("/api/v1/reports/kpis/", {**MARCH_API, **cut}).json()["kpis"]}

    tiles = tile_values(html)
    assert len(tiles) >= 25
    for key, value in tiles.items():
        assert number(value) == api[key]["value"], key


def test_empty_values_say_why(data, manager, rep):
    html = page_as(manager).get("/reports/", {**MARCH, "owner": rep.pk}).content.decode()

    # visitors are company-wide: not for an owner cut
    assert re.search(r'data-kpi="visitor_to_lead">.*?—.*?no marketing figures for this cut',
                     html, re.S)
    # nobody was contacted: the response rate divides by zero
    assert re.search(r'data-kpi="response_rate">.*?—.*?zero denominator \(0 contacted\)',
                     html, re.S)
    # units: a percentage, a currency, days
    manager_html = page_as(manager).get("/reports/", MARCH).content.decode()
    assert re.search(r'data-kpi="lead_to_mql">.*?60\.0%', manager_html, re.S)
    assert re.search(r'data-kpi="cpl">.*?€120\.00', manager_html, re.S)  # 600 / 5
    assert re.search(r'data-kpi="sales_cycle_mean_days">.*?[\d.]+ days', manager_html, re.S)


# --- breakdowns: grouped, and equal to kpis_compute per cut -------------------------------------


@pytest.mark.parametrize("dimension", ["channel", "campaign", "cta"])
@pytest.mark.parametrize(("mode", "attribution"), [("period", "first"), ("cohort", "last")])
@pytest.mark.parametrize("base", [{}, {"owner": "rep"}])
def test_breakdown_rows_equal_kpis_compute_for_each_rows_cut(
    data, rep, dimension, mode, attribution, base
):
    march = Period(date(2025, 3, 1), date(2025, 3, 31))
    cut = Cut(attribution=attribution, owner=rep.pk if base else None)

    rows = breakdown_compute(period=march, cut=cut, scope=Q(), dimension=dimension, mode=mode)

    assert rows
    for row in rows:
        if row.key is None:
            continue
        row_cut = replace(cut, **{dimension: row.key})
        for period, numbers in ((march, row.kpis), (march.previous(), row.previous)):
            expected = {r["key"]: r for r in
                        kpis_compute(period=period, cut=row_cut, scope=Q(), mode=mode)}
            for key in BREAKDOWN_KPIS:
                assert numbers[key]["value"] == expected[key]["value"], (row.key, period, key)
        spend = expected["cpl"]["numerator"]
        assert (None if row.previous_spend is None else float(row.previous_spend)) == spend


def test_breakdown_tables_on_the_page(data, manager):
    html = page_as(manager).get("/reports/", MARCH).content.decode()

    channels = table_values(html, "channel")
    # columns: visitors, leads, MQLs, SQLs, opps, won, site conv, 4 stage rates, spend, CPL, CAC
    assert channels["Paid search"][:6] == ["200", "1", "1", "2", "1", "1"]
    assert channels["Paid search"][11] == "600.00"
    assert channels["Referral"][1] == "1"
    campaigns = table_values(html, "campaign")
    assert campaigns["Search - CRM"][:6] == ["120", "1", "1", "2", "1", "1"]
    assert "No campaign" in campaigns
    ctas = table_values(html, "cta")
    assert set(ctas) == {"Demo request", "Pricing guide", "+cmd|calc", "@SUM(A1)", "-minus",
                         "No content/CTA"}


# --- monthly trends -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["period", "cohort"])
def test_live_trends_equal_the_funnel_of_each_month(data, mode):
    march = Period(date(2025, 3, 1), date(2025, 3, 31))

    trends = trends_compute(period=march, cut=Cut(cta="Pricing guide") if mode == "x" else Cut(),
                            scope=Q(), mode=mode)

    assert trends.source == "live"
    assert trends.months[0] == date(2024, 4, 1)
    assert trends.months[-1] == date(2025, 3, 1)
    for i, start in enumerate(trends.months):
        month = grain_periods("month", start, start)[0]
        counts = funnel_compute(period=month, cut=Cut(), scope=Q(), mode=mode)["counts"]
        assert [trends.series[m][i] for m in ("leads", "mql", "sql", "won")] == [
            counts["lead"], counts["mql"], counts["sql"], counts["won"]], start
    assert trends.series["leads"][-2:] == ([2, 5])


def test_trends_from_snapshots_say_when_they_were_computed(data, manager, rep):
    computed = datetime(2025, 4, 2, 6, 30, tzinfo=UTC)
    snapshots_recompute(grain="month", start=date(2024, 4, 1), end=date(2025, 3, 31),
                        now=computed)
    KPIDirtyDay.objects.all().delete()

    html = page_as(manager).get("/reports/", MARCH).content.decode()
    assert 'data-trends-source="snapshots"' in html
    assert 'datetime="2025-04-02T06:30:00+00:00"' in html
    assert "computed at" in html
    live = trends_compute(period=Period(date(2025, 3, 1), date(2025, 3, 31)), cut=Cut(),
                          scope=Q(), mode="cohort")  # cohort: always live; same months
    rows = table_values(html, "trends")
    assert [int(rows["2025-03"][0]), int(rows["2025-02"][0])] == [5, 2]
    assert len(rows) == len(live.months)

    # a rep's trends come from their owner slice
    rep_html = page_as(rep).get("/reports/", MARCH).content.decode()
    assert 'data-trends-source="snapshots"' in rep_html
    assert int(table_values(rep_html, "trends")["2025-03"][0]) == 2

    # a cut that snapshots do not keep, or a day waiting for its recompute, is computed live
    cta_html = page_as(manager).get("/reports/", {**MARCH, "cta": "Pricing guide"})
    assert 'data-trends-source="live"' in cta_html.content.decode()
    KPIDirtyDay.objects.create(day=date(2025, 3, 9))
    assert 'data-trends-source="live"' in page_as(manager).get("/reports/", MARCH).content.decode()


# --- presets and bad parameters -----------------------------------------------------------------


@pytest.mark.parametrize(("preset", "start", "end"), [
    ("this_month", date(2025, 3, 1), date(2025, 3, 31)),
    ("last_month", date(2025, 2, 1), date(2025, 2, 28)),
    ("this_quarter", date(2025, 1, 1), date(2025, 3, 31)),
    ("last_quarter", date(2024, 10, 1), date(2024, 12, 31)),
    ("last_30_days", date(2025, 3, 2), date(2025, 3, 31)),
    ("last_90_days", date(2025, 1, 1), date(2025, 3, 31)),
    ("year_to_date", date(2025, 1, 1), date(2025, 3, 31)),
])
def test_presets_resolve_around_today_in_the_time_zone(settings, monkeypatch, manager, preset,
                                                        start, end):
    # 02:00 UTC on April 1st is still March 31st in New York
    settings.TIME_ZONE = "America/New_York"
    monkeypatch.setattr(timezone, "now",
                        lambda: datetime(2025, 4, 1, 2, 0, tzinfo=UTC))

    assert preset_period(preset, timezone.localdate()) == Period(start, end)
    html = page_as(manager).get("/reports/", {"period": preset}).content.decode()
    assert f'name="start" value="{start.isoformat()}"' in html
    assert f'name="end" value="{end.isoformat()}"' in html


def test_a_quarter_preset_in_a_later_quarter():
    assert preset_period("this_quarter", date(2025, 11, 5)) == Period(date(2025, 10, 1),
                                                                       date(2025, 12, 31))
    assert preset_period("last_quarter", date(2025, 1, 5)) == Period(date(2024, 10, 1),
                                                                      date(2024, 12, 31))


@pytest.mark.parametrize(("params", "name", "message"), [
    ({"period": "custom", "start": "2025-03-31", "end": "2025-03-01"}, "end",
     "end is before start"),
    ({"period": "custom", "start": "2025-02-30", "end": "2025-03-01"}, "start",
     "Date has wrong format"),
    ({"period": "custom", "start": "2025-03-01"}, "end", "This field is required"),
    ({"period": "forever"}, "period", "is not a preset"),
    ({"channel": "carrier_pigeon"}, "channel", "is not a valid choice"),
    ({"campaign": "999999"}, "campaign", "Invalid pk"),
    ({"mode": "sideways"}, "mode", "is not a valid choice"),
    ({"attribution": "middle"}, "attribution", "is not a valid choice"),
    ({"owner": "zero"}, "owner", "A valid integer is required"),
])
def test_bad_parameters_are_named_on_the_page(manager, params, name, message):
    client = page_as(manager)
    response = client.get("/reports/", params)

    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(rf'<p data-error-for="{name}">(.*?)</p>', html, re.S)
    assert error, html
    assert message in error.group(1).replace("&quot;", '"')
    assert 'data-table="funnel"' not in html  # no numbers from a query that did not parse

    export = client.get("/reports/export/funnel.csv", params)
    assert export.status_code == 400
    assert f"({name})" in export.content.decode()


def test_an_unknown_export_is_404(manager):
    assert page_as(manager).get("/reports/export/passwords.csv").status_code == 404


# --- CSV exports --------------------------------------------------------------------------------


def test_every_table_exports_with_the_same_numbers(data, manager, api_as):
    client = page_as(manager)
    html = client.get("/reports/", MARCH).content.decode()
    exports = set(re.findall(r'data-export="([^"]+)"', html))
    assert exports == {"funnel", "trends", "channel", "campaign", "cta", "site", "nurture",
                       "sales"}

    funnel = {row[0]: row[1:] for row in export_rows(client, "funnel", MARCH)}
    api = api_as(manager).get("/api/v1/reports/funnel/", MARCH_API).json()
    assert funnel["Stage"] == ["Count", "Step rate"]
    assert int(funnel["MQL"][0]) == api["counts"]["mql"]
    assert float(funnel["MQL"][1]) == api["rates"]["lead_to_mql"]

    channels = export_rows(client, "channel", MARCH)
    assert channels[0][:5] == ["Channel", "Visitors", "Visitors (previous period)", "Leads",
                               "Leads (previous period)"]
    paid = next(row for row in channels if row[0] == "Paid search")
    assert paid[1:5] == ["200", "100", "1", "1"]  # February: one paid lead, 100 visitors

    site = {row[0]: row for row in export_rows(client, "site", MARCH)}
    kpis = {r["key"]: r for r in
            api_as(manager).get("/api/v1/reports/kpis/", MARCH_API).json()["kpis"]}
    assert float(site["Bounce rate"][1]) == kpis["bounce_rate"]["value"]
    assert site["Bounce rate"][3:5] == ["236", "660"]  # 2 x (88 + 30) of 2 x (220 + 110)

    for table in exports:
        assert len(export_rows(client, table, MARCH)) > 1, table


def test_exports_escape_cells_a_spreadsheet_would_run(data, manager):
    client = page_as(manager)

    ctas = {row[0] for row in export_rows(client, "cta", MARCH)}
    assert {"'+cmd|calc", "'@SUM(A1)", "'-minus", "Pricing guide"} <= ctas
    campaigns = {row[0] for row in export_rows(client, "campaign", MARCH)}
    assert "'=HYPERLINK(\"http://x\")" in campaigns
    assert not any(cell.startswith(("=", "+", "-", "@"))
                   for row in export_rows(client, "cta", MARCH) for cell in row)


# --- a rep sees their own leads only ------------------------------------------------------------


def test_a_rep_sees_only_their_own_leads_everywhere(data, rep, other_rep, api_as):
    client = page_as(rep)
    # asking for another rep's numbers gives one's own
    response = client.get("/reports/", {**MARCH, "owner": other_rep.pk})

    html = response.content.decode()
    api = api_as(rep).get("/api/v1/reports/funnel/", MARCH_API).json()
    rows = table_values(html, "funnel")
    assert int(rows["Lead"][0]) == api["counts"]["lead"] == 2
    assert int(rows["SQL"][0]) == 2
    assert "Visitors" not in rows
    assert "your own leads only" in html
    # other rep's channels, campaigns and content are absent from every table
    assert "Referral" not in table_values(html, "channel")
    assert set(table_values(html, "cta")) == {"Demo request", "Pricing guide", "+cmd|calc"}
    assert "=HYPERLINK" not in " ".join(table_values(html, "campaign"))
    tiles = tile_values(html)
    own = {r["key"]: r for r in api_as(rep).get(
        "/api/v1/reports/kpis/", {**MARCH_API, "owner": rep.pk}).json()["kpis"]}
    assert all(number(v) == own[k]["value"] for k, v in tiles.items())

    exported = {row[0] for row in export_rows(client, "cta", {**MARCH, "owner": other_rep.pk})}
    assert "'-minus" not in exported
    assert "'@SUM(A1)" not in exported


# --- bounded queries ----------------------------------------------------------------------------


def _count_queries(client, params):
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/reports/", params).status_code == 200
    return len(queries)


def test_the_page_runs_a_bounded_number_of_queries(data, manager, rep,
                                                   django_assert_max_num_queries):
    manager_client, rep_client = page_as(manager), page_as(rep)
    manager_client.get("/reports/", MARCH)  # sessions and permissions warm
    rep_client.get("/reports/", MARCH)
    with django_assert_max_num_queries(QUERY_LIMIT):
        manager_client.get("/reports/", MARCH)
    with django_assert_max_num_queries(QUERY_LIMIT):
        rep_client.get("/reports/", MARCH)
    before = _count_queries(manager_client, MARCH)

    # ten times the campaigns, channels with figures and leads: the same number of queries
    for i in range(20):
        campaign = CampaignFactory(channel="paid_social")
        lead_with(at(2025, 3, 1 + i), ("mql", at(2025, 3, 2 + i)), channel="paid_social",
                  campaign=campaign, cta=f"Offer {i}", owner=rep)
        metric(date(2025, 3, 1 + i), channel="paid_social", campaign=campaign, visitors=10,
               spend="5.00")
    assert _count_queries(manager_client, MARCH) == before
    assert lead_scope(rep)  # the rep's page above ran scoped
    with django_assert_max_num_queries(12):  # measured: 11
        manager_client.get("/reports/export/campaign.csv", MARCH)
