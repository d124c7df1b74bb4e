"""The lead list in a real browser: a rep filters it, sees the rows narrow, exports what they see,
saves the filter as a view and comes back to it."""

import csv
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads import roles
from leads.actors import SystemActor
from leads.models import SavedLeadView
from leads.services import activity_create, lead_move_to_stage
from tests.factories import AccountFactory, CampaignFactory, LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PEOPLE = [
    # first, last, company, stage, channel or campaign, amount, days ago
    ("Maya", "Okafor", "Northwind", "mql", "webinar", "12000", 3),
    ("Lars", "Berg", "Fjord Logistics", "mql", "search", None, 9),
    ("Priya", "Nair", "Kite Analytics", "sql", "webinar", "45000", 14),
    ("Tom", "Hale", "Granite Bank", "opportunity", "search", "98000", 21),
    ("Ines", "Duarte", "Lumen Health", "lead", "email", None, 2),
    ("Kenji", "Sato", "Orbit Retail", "lead", "referral", None, 30),
]


@pytest.fixture
def rep_with_leads(db):
    rep = UserFactory(username="mara", first_name="Mara", last_name="Quinn", role=roles.SALES_REP)
    other = UserFactory(username="otto", first_name="Otto", role=roles.SALES_REP)
    campaigns = {
        "webinar": CampaignFactory(name="Spring webinar", channel="paid_social"),
        "search": CampaignFactory(name="Brand search", channel="paid_search"),
    }
    now = timezone.now()
    for first, last, company, stage, source, amount, days in PEOPLE:
        lead = LeadFactory(
            email=f"{first.lower()}@{company.split()[0].lower()}.example", first_name=first,
            last_name=last, account=AccountFactory(name=company), owner=rep,
            campaign=campaigns.get(source), channel=None if source in campaigns else source,
            deal_amount=Decimal(amount) if amount else None, at=now - timedelta(days=days),
        )
        if stage != "lead":
            lead_move_to_stage(lead=lead, to_stage=stage, actor=SystemActor.SYSTEM)
        activity_create(lead=lead, type="call", actor=SystemActor.SYSTEM,
                        at=now - timedelta(days=days, hours=-5))
    # Another rep's MQL: never on Mara's list nor in her export.
    LeadFactory(email="hidden@elsewhere.example", first_name="Hidden", last_name="Lead",
                owner=other, campaign=campaigns["webinar"])
    return rep


def rows(page):
    return page.locator("#lead-results tbody tr")


def test_a_rep_filters_exports_and_saves_a_view(page_as, rep_with_leads, screenshot, tmp_path):
    page = page_as(rep_with_leads)
    page.goto("/leads/")
    expect(rows(page)).to_have_count(6)
    expect(page.locator("#lead-results")).not_to_contain_text("Hidden")

    # Tick MQL in the stage dropdown: the rows narrow without a reload, the URL follows.
    stage = page.locator(".filter-field", has_text="Stage")
    stage.locator("summary").click()
    stage.get_by_label("MQL").check()
    expect(rows(page)).to_have_count(2)
    expect(page).to_have_url(re.compile(r"stage=mql"))
    expect(stage.locator("summary")).to_contain_text("MQL")
    page.keyboard.press("Escape")

    # Add SQL, then search within them.
    stage.locator("summary").click()
    stage.get_by_label("SQL", exact=True).check()
    page.keyboard.press("Escape")
    expect(rows(page)).to_have_count(3)
    page.get_by_role("searchbox").fill("webinar")  # a campaign is not searched: nothing
    expect(page.locator("#lead-results .empty")).to_contain_text("No leads match")
    page.get_by_role("searchbox").fill("a")
    expect(rows(page)).to_have_count(3)

    # Sort by score, then by amount (highest first), from the headers.
    page.get_by_role("link", name="Amount").click()
    expect(page.locator('th[aria-sort="descending"]')).to_have_text("Amount")
    expect(rows(page).first).to_contain_text("Priya Nair")
    expect(page).to_have_url(re.compile(r"sort=-amount"))
    screenshot(page, "lead-list-filtered")

    # Export exactly what is shown, in the same order.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"leads-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    path = tmp_path / "leads.csv"
    download.save_as(path)
    with path.open(encoding="utf-8-sig", newline="") as file:
        exported = list(csv.reader(file))
    assert exported[0][:4] == ["Name", "Email", "Company", "Stage"]
    assert [row[0] for row in exported[1:]] == ["Priya Nair", "Maya Okafor", "Lars Berg"]
    assert [row[6] for row in exported[1:]] == ["45000.00", "12000.00", ""]
    assert all(row[4] == "Mara Quinn" for row in exported[1:])

    # Save the view; it shows as the current one.
    page.get_by_label("Name of the view").fill("Hot MQLs and SQLs")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".message-success")).to_contain_text('Saved the view "Hot MQLs and SQLs"')
    current = page.locator("#saved-views a[aria-current]")
    expect(current).to_have_text("Hot MQLs and SQLs")
    expect(rows(page)).to_have_count(3)
    assert SavedLeadView.objects.get(owner=rep_with_leads).query == (
        "stage=mql&stage=sql&q=a&sort=-amount"
    )

    # The same name again is refused with a clear message.
    page.get_by_label("Name of the view").fill("hot mqls and sqls")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#save-view-errors")).to_contain_text(
        'You already have a view named "hot mqls and sqls"'
    )
    screenshot(page, "lead-list-saved-view")

    # Clear the filters, then come back to the view in one click.
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(rows(page)).to_have_count(6)
    page.locator("#saved-views").get_by_role("link", name="Hot MQLs and SQLs").click()
    expect(rows(page)).to_have_count(3)
    expect(rows(page).first).to_contain_text("Priya Nair")
    expect(page.locator("#lead-results")).to_contain_text("in Hot MQLs and SQLs")

    # Delete it (after confirming).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete view Hot MQLs and SQLs").click()
    expect(page.locator(".message-success")).to_contain_text('Deleted the view "Hot MQLs and SQLs"')
    expect(page.locator("#saved-views")).not_to_contain_text("Hot MQLs and SQLs")
    assert not SavedLeadView.objects.exists()


def test_bad_filter_input_shows_an_error_in_the_page(page_as, rep_with_leads, screenshot):
    page = page_as(rep_with_leads)
    page.goto("/leads/?stage=bogus&score_min=lots")

    errors = page.locator("[data-filter-errors]")
    expect(errors).to_contain_text("Stage: Select a valid choice. bogus")
    expect(errors).to_contain_text("Score from: Enter a number.")
    expect(rows(page)).to_have_count(0)
    screenshot(page, "lead-list-errors")


def test_a_manager_sees_everyones_leads_and_pages(page_as, rep_with_leads, screenshot):
    manager = UserFactory(username="boss", first_name="Bo", last_name="Sterling",
                          role=roles.MANAGER)
    page = page_as(manager)
    page.goto("/leads/")

    expect(rows(page)).to_have_count(7)
    expect(page.locator("#lead-results")).to_contain_text("Hidden Lead")
    page.get_by_label("Owner").select_option(label="Otto")
    expect(rows(page)).to_have_count(1)
    expect(page).to_have_url(re.compile(r"owner=\d+"))
    page.get_by_label("Owner").select_option(label="Anyone")
    expect(rows(page)).to_have_count(7)
    screenshot(page, "lead-list-manager")
