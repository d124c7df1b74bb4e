"""Fuzzing: Schemathesis generates requests for every operation in /api/schema/ and checks that
the API never answers 500 and that every answer (status, content type, body) is one the schema
declares. Runs in the PostgreSQL pass of `make test` only (marker `fuzz`; see the Makefile).

Each example runs inside a savepoint that is rolled back, so a DELETE or a token logout in one
example does not change what the next one finds; a few leads, campaigns and an account exist so
that ids in paths can hit real rows.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from funnelcrm.wsgi import application

from ..factories import AccountFactory, CampaignFactory, LeadFactory

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Loaded once at collection: serving the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def api_data(db, settings, manager, rep):
    # Throttling out of the way whatever the rates are (read per request).
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}), "1000000/minute"
        ),
    }
    account = AccountFactory()
    for owner in (manager, rep, rep):
        LeadFactory(owner=owner, account=account)
    CampaignFactory()
    CampaignFactory()
    # Django closes "old" connections around each request; inside the test's transaction that
    # would poison it. Django's own test client disconnects these handlers in the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def manager_token(manager):
    return Token.objects.get_or_create(user=manager)[0].key


@schema.parametrize()
@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_as_manager(case, api_data, manager_token):
    with transaction.atomic():
        case.call_and_validate(
            headers={"Authorization": f"Token {manager_token}"}, checks=CHECKS
        )
        transaction.set_rollback(True)
