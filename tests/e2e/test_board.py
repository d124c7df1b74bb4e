"""The pipeline board and the lead page in a real browser: drag and drop through the lifecycle,
an exit with its reason, a version conflict, a refused backward move, and a rep's scope."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.actors import SystemActor
from leads.models import Lead
from leads.services import activity_create, lead_move_to_stage, lead_update
from tests.factories import AccountFactory, CampaignFactory, LeadFactory

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def card(page, lead):
    return page.locator(f'[data-card][data-lead="{lead.pk}"]')


def column_list(page, stage):
    return page.locator(f'[data-column-list="{stage}"]')


def count(page, stage):
    return page.locator(f'[data-col-head="{stage}"] [data-count]')


def amount(page, stage):
    return page.locator(f'[data-col-head="{stage}"] [data-amount]')


def drag(page, source, target):
    """Drag with the mouse, in steps, the way Sortable follows a pointer. Starts on the card's
    company line (its name is a link, its menu a button)."""
    handle = source.locator(".board-card-company")
    start, end = handle.bounding_box(), target.bounding_box()
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 8, y + 8, steps=4)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + min(end["height"] / 2, 60), steps=20)
    page.wait_for_timeout(150)
    page.mouse.up()


@pytest.fixture
def pipeline(rep, other_rep):
    """A rep's small pipeline, and another rep's lead."""
    acme = AccountFactory(name="Acme GmbH")
    at = timezone.now() - timedelta(days=12)
    ada = LeadFactory(owner=rep, first_name="Ada", last_name="Lovelace", account=acme,
                      job_title="Head of Engineering", deal_amount=Decimal("12000"), at=at)
    grace = LeadFactory(owner=rep, first_name="Grace", last_name="Hopper",
                        deal_amount=Decimal("8000"), at=at)
    alan = LeadFactory(owner=rep, first_name="Alan", last_name="Turing",
                       deal_amount=Decimal("30000"), at=at)
    lead_move_to_stage(lead=alan, to_stage="sql", actor=SystemActor.SYSTEM,
                       at=timezone.now() - timedelta(days=4))
    edsger = LeadFactory(owner=rep, first_name="Edsger", last_name="Dijkstra",
                         deal_amount=Decimal("50000"), at=at)
    lead_move_to_stage(lead=edsger, to_stage="opportunity", actor=SystemActor.SYSTEM,
                       at=timezone.now() - timedelta(days=2))
    theirs = LeadFactory(owner=other_rep, first_name="Barbara", last_name="Liskov")
    return {"ada": ada, "grace": grace, "alan": alan, "edsger": edsger, "theirs": theirs}


def test_rep_drags_a_card_from_lead_to_mql_and_sees_it_on_the_lead_page(
    page_as, rep, pipeline, screenshot
):
    ada = pipeline["ada"]
    page = page_as(rep)
    page.goto("/")

    expect(page).to_have_url(re.compile(r"/leads/board/$"))
    expect(count(page, "lead")).to_have_text("2")
    expect(amount(page, "lead")).to_have_text("20,000")
    expect(count(page, "mql")).to_have_text("0")
    expect(page.locator("[data-card]")).to_have_count(4)  # not the other rep's lead
    screenshot(page, "board-rep")

    drag(page, card(page, ada), column_list(page, "mql"))

    expect(column_list(page, "mql").locator(f'[data-lead="{ada.pk}"]')).to_be_visible()
    expect(count(page, "lead")).to_have_text("1")
    expect(amount(page, "lead")).to_have_text("8,000")
    expect(count(page, "mql")).to_have_text("1")
    expect(amount(page, "mql")).to_have_text("12,000")
    expect(page.locator("[data-move-message]")).to_contain_text("Ada Lovelace moved to MQL")
    assert Lead.objects.get(pk=ada.pk).stage == "mql"

    card(page, ada).locator(".board-card-name").click()
    expect(page).to_have_url(re.compile(rf"/leads/{ada.pk}/$"))
    expect(page.locator("[data-lead-stage]")).to_have_text("MQL")
    first = page.locator("[data-timeline] > li").first
    expect(first).to_contain_text("Moved from Lead to MQL")
    expect(first).to_contain_text("by rep1")


def test_a_conflict_shows_a_message_and_reloads_the_card(page_as, rep, pipeline, screenshot):
    grace = pipeline["grace"]
    page = page_as(rep)
    page.goto("/leads/board/")
    expect(card(page, grace)).to_have_attribute("data-version", str(grace.version))

    # behind the page: someone else moves the lead to SQL and changes its amount
    lead_move_to_stage(lead=Lead.objects.get(pk=grace.pk), to_stage="sql", actor=SystemActor.API)
    lead_update(lead=Lead.objects.get(pk=grace.pk), actor=SystemActor.API,
                data={"deal_amount": Decimal("9500")})
    current = Lead.objects.get(pk=grace.pk)

    drag(page, card(page, grace), column_list(page, "mql"))

    message = page.locator("[data-move-message]")
    expect(message).to_contain_text("was changed by someone else")
    expect(message).to_contain_text("not moved")
    reloaded = column_list(page, "sql").locator(f'[data-lead="{grace.pk}"]')
    expect(reloaded).to_be_visible()
    expect(reloaded).to_have_attribute("data-version", str(current.version))
    expect(reloaded.locator("[data-card-amount]")).to_have_text("9,500")
    expect(column_list(page, "mql").locator("[data-card]")).to_have_count(0)
    expect(count(page, "sql")).to_have_text("2")
    expect(count(page, "lead")).to_have_text("1")
    assert Lead.objects.get(pk=grace.pk).stage == "sql"
    screenshot(page, "board-conflict")


def test_an_exit_asks_for_a_reason_in_a_dialog(page_as, rep, pipeline, screenshot):
    edsger = pipeline["edsger"]
    page = page_as(rep)
    page.goto("/leads/board/")

    drag(page, card(page, edsger), page.locator('[data-exit="lost"]'))

    dialog = page.locator("[data-move-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-dialog-title]")).to_have_text("Mark Edsger Dijkstra lost")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(dialog.locator("[data-dialog-error]")).to_contain_text("Reason: say why")
    dialog.get_by_label("Reason", exact=True).fill("Chose a competitor")
    expect(dialog.locator("[data-dialog-error]")).to_be_hidden()
    screenshot(page, "board-exit-dialog")
    dialog.get_by_role("button", name="Mark lost").click()

    expect(dialog).to_be_hidden()
    expect(card(page, edsger)).to_have_count(0)
    expect(count(page, "opportunity")).to_have_text("0")
    expect(page.locator("[data-move-message]")).to_contain_text("moved to Lost")
    lead = Lead.objects.get(pk=edsger.pk)
    assert (lead.stage, lead.exit_reason) == ("lost", "Chose a competitor")


def test_cancelling_the_dialog_puts_the_card_back(page_as, rep, pipeline):
    ada = pipeline["ada"]
    page = page_as(rep)
    page.goto("/leads/board/")

    drag(page, card(page, ada), page.locator('[data-exit="disqualified"]'))
    page.locator("[data-move-dialog]").get_by_role("button", name="Cancel").click()

    expect(column_list(page, "lead").locator(f'[data-lead="{ada.pk}"]')).to_be_visible()
    assert Lead.objects.get(pk=ada.pk).stage == "lead"


def test_a_backward_move_without_the_right_is_refused_and_the_card_goes_back(
    page_as, rep, pipeline
):
    alan = pipeline["alan"]
    page = page_as(rep)
    page.goto("/leads/board/")

    drag(page, card(page, alan), column_list(page, "mql"))

    message = page.locator("[data-move-message]")
    expect(message).to_contain_text(
        "Moving a lead back from SQL to MQL needs the permission to move leads backward")
    expect(message).to_have_attribute("data-rule", "backward_move_not_permitted")
    expect(column_list(page, "sql").locator(f'[data-lead="{alan.pk}"]')).to_be_visible()
    expect(count(page, "sql")).to_have_text("1")
    assert Lead.objects.get(pk=alan.pk).stage == "sql"


def test_the_card_menu_moves_a_lead_on_a_narrow_screen(page_as, rep, pipeline):
    grace = pipeline["grace"]
    page = page_as(rep)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/leads/board/")

    card(page, grace).get_by_role("button", name="Move Grace Hopper").click()
    dialog = page.locator("[data-move-dialog]")
    dialog.get_by_label("Move to", exact=True).select_option("sql")
    dialog.get_by_role("button", name="Move to SQL").click()

    expect(column_list(page, "sql").locator(f'[data-lead="{grace.pk}"]')).to_be_attached()
    expect(count(page, "sql")).to_have_text("2")
    assert Lead.objects.get(pk=grace.pk).stage == "sql"


def test_a_rep_gets_404_for_another_reps_lead(page_as, rep, pipeline):
    page = page_as(rep)

    response = page.goto(f"/leads/{pipeline['theirs'].pk}/")

    assert response.status == 404
    expect(page.get_by_text("Barbara")).to_have_count(0)


def test_lead_page_and_a_busy_board(page_as, manager, rep, other_rep, pipeline, screenshot):
    """Screenshots of a full board (a manager's view) and of a lead page with history, both
    widths; and the lead page's forms in use."""
    campaign = CampaignFactory(name="Spring webinar", channel="paid_social")
    for i in range(30):
        LeadFactory(owner=[rep, other_rep][i % 2], first_name=f"Lead{i}", last_name="Sample",
                    deal_amount=Decimal(1000 + 250 * i), campaign=campaign,
                    job_title=["CTO", "Head of Sales", "Analyst"][i % 3])
    ada = pipeline["ada"]
    activity_create(lead=ada, type="call", actor=rep, payload={"note": "Intro call, wants a demo"})
    lead_move_to_stage(lead=ada, to_stage="mql", actor=rep)
    activity_create(lead=ada, type="meeting", actor=rep, payload={"note": "Demo with the team"})

    page = page_as(manager)
    page.goto("/leads/board/")
    expect(count(page, "lead")).to_have_text("32")
    expect(column_list(page, "lead").locator("[data-card]")).to_have_count(25)
    page.locator('[data-column="lead"] [data-more] button').click()
    expect(column_list(page, "lead").locator("[data-card]")).to_have_count(32)
    screenshot(page, "board-manager")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "board-manager-fold-1280.png"))  # the first screen
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    page.screenshot(path=str(SCREENSHOTS / "board-manager-fold-390.png"))
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto(f"/leads/{ada.pk}/")
    page.get_by_label("Activity").select_option("reply")
    page.locator("[data-activity-form]").get_by_label("Note").fill("Asked for a quote")
    page.get_by_role("button", name="Log activity").click()
    expect(page.locator("[data-messages]")).to_contain_text("Reply logged.")
    expect(page.locator("[data-timeline] > li").first).to_contain_text("Asked for a quote")
    page.locator("[data-move-form]").get_by_label("Move to").select_option("disqualified")
    page.locator("[data-move-form]").get_by_role("button", name="Move").click()
    expect(page.locator('[data-field-error="reason"]')).to_contain_text(
        "Reason: Marking a lead disqualified needs a reason.")
    screenshot(page, "lead-page")
