"""The scoring settings page in a real browser: an admin changes a threshold and watches the
background rescore's progress, which polls itself (htmx) while it runs."""

import pytest
from playwright.sync_api import expect

from leads.scoring.models import RescoreRun, ScoringRule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rules():
    ScoringRule.objects.create(name="Software companies", kind="fit", points=15,
                               field="industry", operator="in", value="Software, SaaS")
    ScoringRule.objects.create(name="Large companies", kind="fit", points=10,
                               field="employees", operator="gte", value="200")
    ScoringRule.objects.create(name="Students", kind="fit", points=-30, field="job_title",
                               operator="contains", value="student")
    ScoringRule.objects.create(name="Demo requested", kind="engagement", points=30,
                               activity_type="demo_requested")
    ScoringRule.objects.create(name="Page views", kind="engagement", points=2,
                               activity_type="page_view", cap=20)
    ScoringRule.objects.create(name="Unsubscribed", kind="engagement", points=-20,
                               activity_type="unsubscribed", active=False)


def test_admin_edits_a_threshold_and_sees_the_rescore_progress(page_as, admin_user, rules,
                                                               lead_factory, screenshot):
    lead_factory.create_batch(4)
    page = page_as(admin_user)
    page.goto("/settings/scoring/")
    expect(page.locator("#rescore-progress")).to_contain_text("No rescore has run yet")
    screenshot(page, "scoring-settings")

    page.get_by_label("MQL threshold").fill("40")
    page.get_by_role("button", name="Save thresholds").click()

    expect(page.locator(".message-success")).to_contain_text("Thresholds saved")
    expect(page.get_by_label("MQL threshold")).to_have_value("40")
    progress = page.locator("#rescore-progress")
    # The test settings run the task at once: the run is done, every lead counted.
    expect(progress).to_have_attribute("data-status", "done")
    expect(progress.locator("[data-done]")).to_have_text("4")
    expect(progress.locator("[data-total]")).to_have_text("4")
    screenshot(page, "scoring-settings-saved")


def test_the_progress_bar_refreshes_while_a_rescore_runs(page_as, admin_user, rules):
    run = RescoreRun.objects.create(status="running", total=1000, done=250,
                                    reason="rule 'Demo requested' saved")
    page = page_as(admin_user)
    page.goto("/settings/scoring/")
    progress = page.locator("#rescore-progress progress")
    expect(progress).to_have_attribute("value", "250")

    run.done = 700
    run.save()
    expect(progress).to_have_attribute("value", "700", timeout=6000)  # the next 2 s poll
    run.status, run.done = "done", 1000
    run.save()
    expect(page.locator("#rescore-progress")).to_have_attribute("data-status", "done",
                                                                 timeout=6000)
    expect(page.locator("#rescore-progress")).not_to_have_attribute("hx-trigger", "every 2s")


def test_rule_form_names_the_bad_field(page_as, admin_user, rules, screenshot):
    page = page_as(admin_user)
    page.goto("/settings/scoring/rules/new/")
    page.get_by_label("Name").fill("Big companies")
    page.get_by_label("Points", exact=True).fill("10")
    page.get_by_label("Kind").select_option("fit")
    page.get_by_label("Lead field").select_option("employees")
    page.get_by_label("Operator").select_option("gte")
    page.get_by_label("Value").fill("many")
    page.get_by_role("button", name="Create rule").click()

    expect(page.locator(".form-errors")).to_contain_text(
        "Value: Employees are compared with whole numbers.")
    screenshot(page, "scoring-rule-error")
    page.get_by_label("Value").fill("500")
    page.get_by_role("button", name="Create rule").click()
    expect(page.locator(".message-success")).to_contain_text("Rule “Big companies” created")
    expect(page.locator('[data-rules="fit"]')).to_contain_text("Big companies")
