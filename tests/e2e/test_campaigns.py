"""Campaign pages in a real browser: the list with its KPIs, a campaign's page with its daily
chart drawn (a canvas of non-zero size), its funnel and its leads; a rep's view."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.services import daily_metric_upsert
from leads import roles
from leads.actors import SystemActor
from leads.services import lead_move_to_stage
from tests.factories import CampaignFactory, LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SYSTEM = SystemActor.SYSTEM


@pytest.fixture
def campaigns(rep, other_rep):
    """A running search campaign with 40 days of figures and leads at every stage, a social
    campaign with a few leads, and a draft with nothing yet."""
    today = timezone.localdate()
    owner = UserFactory(username="mia", first_name="Mia", last_name="Marketer",
                        role=roles.MARKETER)
    search = CampaignFactory(name="Spring webinar: search ads", channel="paid_search",
                             utm_campaign="spring-webinar", owner=owner, budget=Decimal("8000"),
                             starts_on=today - timedelta(days=40), ends_on=today + timedelta(20),
                             utm_source="google", utm_medium="cpc",
                             landing_page_url="https://example.com/webinar")
    social = CampaignFactory(name="LinkedIn retargeting", channel="paid_social",
                             utm_campaign="li-retarget", status="paused",
                             starts_on=today - timedelta(days=70), ends_on=today - timedelta(5))
    CampaignFactory(name="Autumn trade fair", channel="events", utm_campaign="fair",
                    status="draft", starts_on=today + timedelta(days=30))
    for n in range(40):
        day = today - timedelta(days=39 - n)
        daily_metric_upsert(actor=SYSTEM, date=day, channel="paid_search", campaign=search,
                            values={"visitors": 180 + (n * 37) % 90, "clicks": 40 + (n * 13) % 25,
                                    "impressions": 2000 + n * 15,
                                    "spend": Decimal(90 + (n * 7) % 40)})
        if n % 3 == 0:
            daily_metric_upsert(actor=SYSTEM, date=day, channel="paid_social", campaign=social,
                                values={"visitors": 60 + n, "clicks": 12, "impressions": 900,
                                        "spend": Decimal("45.50")})
    now = timezone.now()
    stages = ["lead", "mql", "mql", "sql", "opportunity", "won", "lead", "mql", "won", "lead"]
    for i, stage in enumerate(stages):
        lead = LeadFactory(campaign=search, owner=rep if i % 2 else other_rep,
                           at=now - timedelta(days=35 - i * 3))
        if stage != "lead":
            lead_move_to_stage(lead=lead, to_stage=stage, actor=SYSTEM,
                               at=now - timedelta(days=30 - i * 3))
    for i in range(3):
        LeadFactory(campaign=social, owner=other_rep, at=now - timedelta(days=50 - i))
    return {"search": search, "social": social}


def test_campaign_list_and_page_with_the_chart_drawn(page_as, manager, campaigns, screenshot):
    page = page_as(manager)
    page.goto("/campaigns/")

    rows = page.locator("tr[data-campaign]")
    expect(rows).to_have_count(3)
    search_row = page.locator(f'tr[data-campaign="{campaigns["search"].pk}"]')
    expect(search_row.locator('[data-kpi="leads"]')).to_have_text("10")
    draft_cpl = page.locator("tr[data-campaign]", has_text="Autumn trade fair").locator(
        '[data-kpi="cpl"] abbr')
    expect(draft_cpl).to_have_attribute("title", "No marketing figures for this campaign in the "
                                        "period.")
    screenshot(page, "campaigns-list")

    page.get_by_role("link", name="CPL").click()
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("CPL")

    page.get_by_role("link", name="Spring webinar: search ads").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Spring webinar: search ads")
    canvas = page.locator("canvas#daily-chart")
    expect(canvas).to_be_visible()
    page.wait_for_function("document.getElementById('daily-chart').chart !== undefined")
    box = canvas.bounding_box()
    assert box["width"] > 200
    assert box["height"] > 100
    drawn = page.evaluate("""() => {
        const c = document.getElementById('daily-chart');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return {painted, points: c.chart.data.datasets[1].data.length};
    }""")
    assert drawn["painted"] > 1000  # pixels actually drawn, not a blank canvas
    assert drawn["points"] == 40  # one visitor point per day of its life with figures
    expect(page.locator('[data-funnel] li[data-stage="won"]')).to_have_attribute("data-count",
                                                                                  "2")
    expect(page.locator("tr[data-lead]")).to_have_count(10)
    expect(page.locator("[data-edit-admin]")).to_have_count(0)  # a manager is not staff here
    screenshot(page, "campaign-detail")


def test_a_rep_reads_the_campaign_with_their_own_leads(page_as, rep, campaigns, screenshot):
    page = page_as(rep)
    page.goto(f"/campaigns/{campaigns['search'].pk}/")

    expect(page.locator("tr[data-lead]")).to_have_count(5)
    # Spend and the KPIs made of it count every lead: not shown to a rep, and the page says so.
    expect(page.locator('[data-kpi="spend"]')).to_have_count(0)
    expect(page.locator('[data-kpi="leads"] .stat-value')).to_have_text("5")
    expect(page.get_by_text("spend, cost and traffic KPIs are shown to those who see every lead"
                            )).to_be_visible()
    expect(page.locator("canvas#daily-chart")).to_be_visible()
    screenshot(page, "campaign-detail-rep")


def test_an_admin_sees_edit_in_admin(page_as, admin_user, campaigns):
    page = page_as(admin_user)
    page.goto(f"/campaigns/{campaigns['social'].pk}/?period=custom&start={date.today()}")

    expect(page.locator(".form-errors")).to_contain_text(
        "To: Pick the last day of the custom period.")
    expect(page.locator("[data-edit-admin]")).to_have_attribute(
        "href", f"/admin/campaigns/campaign/{campaigns['social'].pk}/change/")
