"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's
live_server. Mark each module
`pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]`.

Fixtures:
- `browser`: one Chromium for the session (skips, or fails under FUNNELCRM_REQUIRE_SERVICES=1, when
  /usr/bin/chromium is missing);
- `page`: a fresh browser context at 1280x800 whose relative URLs go to the live server;
- `page_as(user)`: another such page, already signed in as `user` (a session cookie, no form);
- `screenshot(page, name)`: full-page PNGs at 1280 and 390 px wide in tests/e2e/screenshots/.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import _missing_service

# Playwright's sync API keeps an asyncio loop running in this thread, which makes Django refuse
# ORM calls from the test ("You cannot call this from an async context"). The test thread is not
# async code, so the guard does not apply here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("FUNNELCRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-proxy-server"]
WIDTHS = (1280, 390)
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        _missing_service(f"needs Chromium at {CHROMIUM}: apt-get install chromium (make e2e-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _new_page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="en-US"
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser, live_server, transactional_db):
    context, page = _new_page(browser, live_server)
    yield page
    context.close()


@pytest.fixture
def page_as(browser, live_server, transactional_db):
    """page_as(user) -> a page signed in as that user (by session cookie)."""
    contexts = []

    def make(user):
        client = Client()
        client.force_login(user)
        context, page = _new_page(browser, live_server)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": live_server.url}]
        )
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """screenshot(page, name) -> the saved paths: the page at 1280 and 390 px wide (full height),
    in tests/e2e/screenshots/<name>-<width>.png. The page is left at its first size."""

    def take(page, name: str) -> list[Path]:
        SCREENSHOTS.mkdir(exist_ok=True)
        original = page.viewport_size
        paths = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_timeout(100)  # let layout and chart resizes settle
            path = SCREENSHOTS / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        page.set_viewport_size(original)
        return paths

    return take
