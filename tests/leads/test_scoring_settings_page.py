"""The scoring settings page (/settings/scoring/): admins only; thresholds and rules saved through
the scoring services (each change queues a background rescore of every lead); validation errors
naming the field; the rescore progress fragment that htmx polls."""

import re

import pytest
from django.urls import reverse

from leads.scoring.models import RescoreRun, ScoringRule, ScoringSettings, ScoringSettingsChange
from leads.scoring.services import scoring_settings_get

pytestmark = pytest.mark.django_db

PAGE = "/settings/scoring/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def rule():
    return ScoringRule.objects.create(name="Software companies", kind="fit", points=15,
                                      field="industry", operator="equals", value="Software")


def test_only_admins_open_the_page(client, rep, marketer, manager, admin_user):
    assert reverse("settings:scoring") == PAGE
    for user in (rep, marketer, manager):
        client.force_login(user)
        assert client.get(PAGE).status_code == 403
        assert client.post(reverse("settings:scoring-thresholds"),
                           {"mql_threshold": 1, "sql_threshold": 2, "half_life_days": 3}
                           ).status_code == 403
        assert client.get(reverse("settings:scoring-rescore")).status_code == 403
    assert scoring_settings_get().mql_threshold == 50  # nothing changed
    client.logout()
    assert client.get(PAGE).status_code == 302  # to the sign-in page
    client.force_login(admin_user)
    assert client.get(PAGE).status_code == 200


def test_page_lists_rules_thresholds_and_progress(admin_client, rule,
                                                  django_assert_max_num_queries):
    ScoringRule.objects.create(name="Pricing page", kind="engagement", points=10,
                               activity_type="page_view", cap=30, active=False)
    RescoreRun.objects.create(status="done", total=40, done=40, promoted=3)
    admin_client.get(PAGE)

    # Session, user and role (a superuser's permissions cost nothing), then the settings, the
    # rules and the latest run: 6, however many rules and runs.
    with django_assert_max_num_queries(7):
        html = admin_client.get(PAGE).content.decode()

    assert "Software companies" in html
    assert "Industry (account) <em>equals</em> Software" in html
    assert "Pricing page" in html
    assert 'class="badge badge-muted">Disabled' in html
    assert 'name="mql_threshold" value="50"' in html
    assert re.search(r'<strong data-done>40</strong> of <strong data-total>40</strong>', html)
    assert "hx-trigger" not in html  # a finished run does not poll


def test_saving_a_threshold_goes_through_the_service_and_queues_a_rescore(
    admin_client, admin_user, lead_factory, django_capture_on_commit_callbacks
):
    lead_factory.create_batch(3)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("settings:scoring-thresholds"), {
            "mql_threshold": 40, "sql_threshold": 90, "half_life_days": 14,
        })

    assert response.status_code == 302
    settings = ScoringSettings.objects.get()
    assert (settings.mql_threshold, settings.sql_threshold, settings.half_life_days) == (40, 90, 14)
    change = ScoringSettingsChange.objects.get()  # the service keeps the history
    assert change.changed_by == admin_user
    assert change.after["mql_threshold"] == 40
    run = RescoreRun.objects.get()
    assert run.reason == "scoring settings changed"
    assert (run.status, run.done, run.total) == ("done", 3, 3)  # the eager task ran it
    page = admin_client.get(PAGE).content.decode()
    assert "Thresholds saved. Every lead is being rescored in the background" in page


def test_threshold_errors_name_the_field_and_change_nothing(admin_client):
    response = admin_client.post(reverse("settings:scoring-thresholds"), {
        "mql_threshold": 70, "sql_threshold": 60, "half_life_days": 0,
    })

    assert response.status_code == 400
    html = response.content.decode()
    assert "SQL threshold: The SQL threshold cannot be below the MQL threshold." in html
    assert "Engagement half-life (days): Ensure this value is greater than or equal to 1." in html
    assert 'aria-invalid="true"' in html
    assert scoring_settings_get().mql_threshold == 50
    assert not RescoreRun.objects.exists()


def test_creating_a_rule_saves_it_through_the_service_and_queues_a_rescore(
    admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("settings:scoring-rule-new"), {
            "name": "Demo requested", "kind": "engagement", "points": 25,
            "activity_type": "demo_requested", "cap": 50, "active": "on",
        })

    assert response.status_code == 302
    rule = ScoringRule.objects.get()
    assert (rule.name, rule.points, rule.cap, rule.active) == ("Demo requested", 25, 50, True)
    assert RescoreRun.objects.get().reason == "rule 'Demo requested' saved"


def test_editing_and_disabling_a_rule_queue_rescores(admin_client, rule,
                                                    django_capture_on_commit_callbacks):
    form = admin_client.get(reverse("settings:scoring-rule-edit", args=[rule.pk]))
    assert 'value="Software companies"' in form.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("settings:scoring-rule-edit", args=[rule.pk]), {
            "name": "Software companies", "kind": "fit", "points": 20, "field": "industry",
            "operator": "in", "value": "Software, SaaS", "active": "on",
        })
    rule.refresh_from_db()
    assert (rule.points, rule.operator, rule.values) == (20, "in", ["Software", "SaaS"])
    assert RescoreRun.objects.count() == 1

    RescoreRun.objects.update(requested_at="2000-01-01T00:00:00Z")  # not merged with the next
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("settings:scoring-rule-toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.active is False
    assert RescoreRun.objects.count() == 2
    assert "Disabled" in admin_client.get(PAGE).content.decode()


def test_rule_errors_name_the_field(admin_client):
    response = admin_client.post(reverse("settings:scoring-rule-new"), {
        "name": "", "kind": "fit", "points": "lots", "field": "employees", "operator": "contains",
        "value": "ten",
    })

    assert response.status_code == 400
    html = response.content.decode()
    assert "Name: This field is required." in html
    assert "Points: Enter a whole number." in html
    assert not ScoringRule.objects.exists()

    response = admin_client.post(reverse("settings:scoring-rule-new"), {
        "name": "Big", "kind": "fit", "points": 5, "field": "employees", "operator": "contains",
        "value": "ten",
    })
    html = response.content.decode()
    assert "Operator: &#x27;contains&#x27; applies to text fields only." in html
    assert "Value: Employees are compared with whole numbers." in html
    assert not RescoreRun.objects.exists()


def test_progress_fragment_polls_while_a_rescore_runs_and_stops_when_done(admin_client):
    run = RescoreRun.objects.create(status="running", total=200, done=50)

    fragment = admin_client.get(reverse("settings:scoring-rescore"), HTTP_HX_REQUEST="true")

    html = fragment.content.decode()
    assert "<html" not in html  # a fragment, swapped in place
    assert 'hx-trigger="every 2s"' in html
    assert 'hx-get="/settings/scoring/rescore/"' in html
    assert '<progress value="50" max="200"' in html
    assert "(25.0%)" in html

    run.status, run.done = "done", 200
    run.save()
    html = admin_client.get(reverse("settings:scoring-rescore")).content.decode()
    assert "hx-trigger" not in html
    assert '<progress value="200" max="200"' in html
