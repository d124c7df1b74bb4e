"""Accounts through the API: created and changed through the account services, filters, role
permissions, errors naming the field."""

import pytest
from rest_framework.pagination import PageNumberPagination

from leads.models import Account
from leads.scoring.models import FitField, Operator, RuleKind, ScoringRule

pytestmark = pytest.mark.django_db

URL = "/api/v1/accounts/"


def test_rep_creates_an_account_trimmed_by_the_service(api_as, rep):
    response = api_as(rep).post(URL, {
        "name": "  Acme GmbH ", "domain": "ACME.example", "industry": "Software",
        "employees": 120, "country": "de",
    }, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Acme GmbH"
    assert body["domain"] == "acme.example"
    assert body["country"] == "DE"
    assert Account.objects.get(pk=body["id"]).employees == 120


def test_update_changes_the_account_and_rescores_its_leads(api_as, manager, account,
                                                           lead_factory):
    # given: a fit rule on company size, and a lead at a 50-person account
    ScoringRule.objects.create(name="Big", kind=RuleKind.FIT, points=20,
                               field=FitField.EMPLOYEES, operator=Operator.AT_LEAST, value="100")
    lead = lead_factory(account=account)
    assert lead.score == 0

    # when
    response = api_as(manager).patch(f"{URL}{account.pk}/", {"employees": 500}, format="json")

    # then
    assert response.status_code == 200, response.json()
    assert response.json()["employees"] == 500
    lead.refresh_from_db()
    assert lead.score == 20


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": ""}, "name"),
    ({"name": "A", "employees": "many"}, "employees"),
    ({"name": "A", "employees": -3}, "employees"),
    ({"name": "A", "country": "Germany"}, "country"),
    ({"name": "A", "churned_at": "not a date"}, "churned_at"),
    ({"name": ["A"]}, "name"),
])
def test_invalid_account_is_400_naming_the_field(api_as, rep, payload, field):
    response = api_as(rep).post(URL, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Account.objects.exists()


def test_filters_and_pagination(api_as, rep, monkeypatch):
    # PageNumberPagination reads PAGE_SIZE once, at import
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    for name, country, employees in [("Alpha", "DE", 10), ("Beta", "FR", 200),
                                     ("Gamma", "DE", 300)]:
        Account.objects.create(name=name, domain=f"{name.lower()}.example", country=country,
                               employees=employees)
    client = api_as(rep)

    page = client.get(URL).json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]
    assert [a["name"] for a in client.get(page["next"]).json()["results"]] == ["Gamma"]
    german = client.get(URL, {"country": "de", "employees_min": 100}).json()
    assert [a["name"] for a in german["results"]] == ["Gamma"]
    assert [a["name"] for a in client.get(URL, {"q": "beta.ex"}).json()["results"]] == ["Beta"]
    assert client.get(URL, {"employees_min": "lots"}).status_code == 400


def test_a_user_without_a_role_cannot_read_or_write(api_as, account):
    from tests.factories import UserFactory

    nobody = UserFactory(username="nobody")
    client = api_as(nobody)

    assert client.get(URL).status_code == 403
    assert client.post(URL, {"name": "X"}, format="json").status_code == 403
    assert client.patch(f"{URL}{account.pk}/", {"name": "X"}, format="json").status_code == 403


def test_unknown_account_is_404(api_as, rep):
    assert api_as(rep).get(f"{URL}999999/").status_code == 404
