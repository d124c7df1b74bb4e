"""Signing in and out in a real browser, and the nav a role sees."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, username, password):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_wrong_password_shows_a_clear_error(page, rep, screenshot):
    sign_in(page, "rep1", "not-the-password")

    expect(page.locator("[data-login-error]")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_label("Username")).to_have_value("rep1")
    screenshot(page, "login-error")


def test_repeated_failures_lock_the_login(page, rep, axes_on, screenshot):
    for _ in range(5):
        sign_in(page, "rep1", "wrong")

    expect(page.locator("[data-lockout]")).to_contain_text("Too many failed sign-ins")
    screenshot(page, "login-locked")
    # the right password is refused too while the lock lasts
    sign_in(page, "rep1", "pw")
    expect(page.locator("[data-lockout]")).to_be_visible()
    expect(page.locator("[data-nav]")).to_have_count(0)


def test_rep_signs_in_and_sees_the_nav_without_admin_links(page, rep, screenshot):
    page.goto("/login/")
    screenshot(page, "login")

    sign_in(page, "rep1", "pw")

    nav = page.locator("[data-nav]")
    expect(nav).to_have_text(["Pipeline", "Leads", "Campaigns", "Reports"])
    expect(page.locator("[data-role]")).to_have_text("Sales rep")
    expect(page.locator('[data-nav="scoring"], [data-nav="admin"]')).to_have_count(0)
    screenshot(page, "home-rep")


def test_admin_sees_scoring_and_admin(page_as, admin_user, screenshot):
    page = page_as(admin_user)

    page.goto("/")

    expect(page.locator("[data-nav]")).to_have_text(
        ["Pipeline", "Leads", "Campaigns", "Reports", "Scoring", "Admin"]
    )
    screenshot(page, "home-admin")


def test_narrow_screen_menu_opens_and_signs_out(page_as, rep, screenshot):
    page = page_as(rep)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/")
    leads_link = page.locator('[data-nav="leads"]')
    expect(leads_link).to_be_hidden()

    page.get_by_role("button", name="Menu").click()
    expect(leads_link).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "nav-open-390.png"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    screenshot(page, "signed-out")

    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
