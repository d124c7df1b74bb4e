import os
import socket
from urllib.parse import urlparse

import pytest
from django.db import connection
from rest_framework.test import APIClient

from leads import roles

from .celery_workers import workers  # noqa: F401 - real Celery workers, stopped after the test
from .factories import AccountFactory, CampaignFactory, LeadFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("FUNNELCRM_REQUIRE_SERVICES") == "1"
TEST_REDIS_URL = os.environ.get("FUNNELCRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _missing_service(reason: str) -> None:
    """Skip a test whose server is missing, or fail it when CI demands every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (FUNNELCRM_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def redis_answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _services_for_markers(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing_service(
            "needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/funnelcrm"
        )
    if request.node.get_closest_marker("redis") and not redis_answers(TEST_REDIS_URL):
        _missing_service(f"needs Redis at {TEST_REDIS_URL} (set FUNNELCRM_TEST_REDIS_URL)")


@pytest.fixture
def rep(db):
    return UserFactory(username="rep1", role=roles.SALES_REP)


@pytest.fixture
def other_rep(db):
    return UserFactory(username="rep2", role=roles.SALES_REP)


@pytest.fixture
def marketer(db):
    return UserFactory(username="marketer", role=roles.MARKETER)


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", role=roles.MANAGER)


@pytest.fixture
def admin_user(db):
    user = UserFactory(username="admin", role=roles.ADMIN, is_staff=True, is_superuser=True)
    return user


@pytest.fixture
def account(db):
    return AccountFactory()


@pytest.fixture
def lead_factory(db):
    return LeadFactory


@pytest.fixture
def campaign_factory(db):
    return CampaignFactory


@pytest.fixture
def lead(rep):
    return LeadFactory(owner=rep)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def api_as():
    """An API client logged in (by token) as the given user."""

    def make(user):
        from rest_framework.authtoken.models import Token

        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def axes_on(settings):
    """Login throttling (django-axes) as in production: the test settings turn it off."""
    settings.AXES_ENABLED = True
    return settings
