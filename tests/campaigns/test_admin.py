"""Campaigns, daily metrics and nurture workflows in the Django admin: marketers manage them
through the services, reps read them, the figures on the lists are right."""

from datetime import date, timedelta
from decimal import Decimal
from html import unescape as html_unescape
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from campaigns.models import Campaign, DailyMetric, NurtureEnrolment, NurtureWorkflow
from campaigns.services import (
    daily_metric_upsert,
    nurture_enrol,
    nurture_enrolment_close,
    nurture_workflow_create,
)
from leads.actors import SystemActor
from leads.models import Lead
from tests.leads.test_admin import form_data

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/admin/campaigns/campaign/"
METRICS = "/admin/campaigns/dailymetric/"
WORKFLOWS = "/admin/campaigns/nurtureworkflow/"
TODAY = timezone.localdate()


def change_url(base, obj):
    return f"{base}{obj.pk}/change/"


def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def staff_marketer(marketer):
    return staff(marketer)


@pytest.fixture
def staff_rep(rep):
    return staff(rep)


def metric(campaign=None, *, channel=None, day=TODAY, **values):
    row, _ = daily_metric_upsert(
        actor=SystemActor.SYSTEM, date=day, channel=channel or campaign.channel,
        campaign=campaign, values=values,
    )
    return row


class _ResultRows(HTMLParser):
    """The changelist's table as a person reads it: one list of cell texts per row."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self._row, self._cell, self._in_table = [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == "result_list":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            # The selection checkbox is there only when the user has actions to run.
            skip = "action-checkbox" in (dict(attrs).get("class") or "")
            self._cell = None if skip else ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._in_table = False


def result_rows(response):
    """Changelist rows by their first column (a name), without the selection checkbox."""
    parser = _ResultRows()
    parser.feed(response.content.decode())
    return {row[0]: row for row in parser.rows[1:]}


def form_errors(response):
    form = response.context["adminform"].form
    return {field: [str(e) for e in errors] for field, errors in form.errors.items()}


# --- campaigns: adding and changing -------------------------------------------------------------


def test_marketer_adds_a_campaign_through_the_service(client, staff_marketer):
    # given
    client.force_login(staff_marketer)
    data = form_data(client.get(f"{CAMPAIGNS}add/").content.decode(), "campaign_form")

    # when
    data.update({"name": "Spring sale", "channel": "paid_search", "status": "active",
                 "utm_campaign": "Spring-Sale", "utm_source": "google", "utm_medium": "cpc",
                 "budget": "5000"})
    response = client.post(f"{CAMPAIGNS}add/", data)

    # then
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Spring sale")
    assert campaign.owner == staff_marketer  # defaulted by campaign_create
    assert campaign.utm_campaign == "spring-sale"
    assert campaign.budget == Decimal("5000")


def test_adding_a_campaign_with_a_taken_utm_code_is_a_form_error(
    client, staff_marketer, campaign_factory
):
    campaign_factory(utm_campaign="spring-sale")
    client.force_login(staff_marketer)

    response = client.post(f"{CAMPAIGNS}add/", {
        "name": "Copy", "channel": "paid_search", "status": "draft", "utm_campaign": "SPRING-Sale",
    })

    assert response.status_code == 200
    assert form_errors(response) == {
        "utm_campaign": ["Another campaign already uses this UTM campaign."]
    }
    assert Campaign.objects.count() == 1


def test_a_campaign_ending_before_it_starts_is_a_form_error(client, staff_marketer):
    client.force_login(staff_marketer)

    response = client.post(f"{CAMPAIGNS}add/", {
        "name": "Backwards", "channel": "email", "status": "draft", "utm_campaign": "backwards",
        "starts_on": "2025-03-10", "ends_on": "2025-03-01",
    })

    assert response.status_code == 200
    assert "ends_on" in form_errors(response)
    assert not Campaign.objects.exists()


def test_marketer_edits_a_campaign_with_its_metrics_shown_inline(
    client, staff_marketer, campaign_factory
):
    # given: the change page as the browser shows it, with the read-only metrics inline
    campaign = campaign_factory(name="Spring sale", utm_campaign="spring-sale")
    metric(campaign, clicks=10)
    client.force_login(staff_marketer)
    data = form_data(client.get(change_url(CAMPAIGNS, campaign)).content.decode(),
                     "campaign_form")

    # when
    data.update({"status": "paused", "utm_campaign": "Spring-Sale-2"})
    response = client.post(change_url(CAMPAIGNS, campaign), data)

    # then
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.status, campaign.utm_campaign) == ("paused", "spring-sale-2")
    assert DailyMetric.objects.get().clicks == 10


def test_change_page_offers_a_website_form_and_the_metrics_link(
    client, staff_marketer, campaign_factory
):
    campaign = campaign_factory(utm_campaign="spring-sale", utm_source="google")
    client.force_login(staff_marketer)

    page = client.get(change_url(CAMPAIGNS, campaign)).content.decode()

    # The snippet sits escaped in a textarea, as text to copy.
    assert "&lt;form method=&quot;post&quot; action=&quot;http://testserver/api/v1/intake/" in page
    assert f"name=&quot;form_key&quot; value=&quot;{campaign.form_key}&quot;" in page
    assert "name=&quot;utm_campaign&quot; value=&quot;spring-sale&quot;" in page
    for field in ("email", "first_name", "last_name", "company"):
        assert f"name=&quot;{field}&quot;" in page
    assert "left:-10000px" in page  # the honeypot, hidden from people
    assert "name=&quot;website&quot;" in page
    assert f'href="{METRICS}?campaign__id__exact={campaign.pk}"' in page


class _SnippetInputs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.action, self.inputs = None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs["action"]
        elif tag == "input":
            self.inputs[attrs["name"]] = attrs.get("value") or ""


def test_the_website_form_snippet_creates_a_lead_when_submitted(
    client, staff_marketer, campaign_factory
):
    # given: the snippet as copied from the campaign page
    campaign = campaign_factory(channel="events", utm_campaign="expo-2025")
    client.force_login(staff_marketer)
    page = client.get(change_url(CAMPAIGNS, campaign)).content.decode()
    textarea = page.split('style="font-family: monospace">')[1].split("</textarea>")[0]
    snippet = _SnippetInputs()
    snippet.feed(html_unescape(textarea))

    # when: a visitor fills it in (leaving the hidden honeypot empty) and sends it
    data = {**snippet.inputs, "email": "visitor@example.com", "first_name": "Grace"}
    client.logout()
    sent = client.post(snippet.action.removeprefix("http://testserver"), data)

    # then
    assert sent.status_code == 202
    lead = Lead.objects.get(email="visitor@example.com")
    assert (lead.first_touch_campaign, lead.first_touch_channel) == (campaign, "events")
    assert lead.utm_campaign == "expo-2025"


def test_the_metrics_inline_shows_the_most_recent_31_days(client, staff_marketer,
                                                          campaign_factory):
    campaign = campaign_factory()
    for days_ago in range(40):
        metric(campaign, day=TODAY - timedelta(days=days_ago), clicks=days_ago)
    client.force_login(staff_marketer)

    response = client.get(change_url(CAMPAIGNS, campaign))

    [inline] = response.context["inline_admin_formsets"]
    shown = [form.instance.date for form in inline.formset.forms]
    assert shown == [TODAY - timedelta(days=n) for n in range(31)]


def test_rotate_form_key_action_retires_the_old_key(client, staff_marketer, campaign_factory):
    campaign = campaign_factory()
    old_key = campaign.form_key
    client.force_login(staff_marketer)

    response = client.post(CAMPAIGNS, {"action": "rotate_form_key",
                                       "_selected_action": [campaign.pk]}, follow=True)

    campaign.refresh_from_db()
    assert campaign.form_key != old_key
    assert any("The old keys no longer work" in str(m) for m in response.context["messages"])


# --- campaigns: the list ------------------------------------------------------------------------


@pytest.fixture
def attributed(campaign_factory, manager, lead_factory):
    """Two campaigns with spend and first-touch leads, one with neither."""
    spring = campaign_factory(name="Spring sale", channel="paid_search", owner=manager)
    news = campaign_factory(name="Newsletter", channel="email", status="paused")
    campaign_factory(name="Draft idea", channel="events", status="draft")
    metric(spring, day=TODAY - timedelta(days=2), spend=Decimal("1000.25"))
    metric(spring, day=TODAY - timedelta(days=1), spend=Decimal("234.25"), clicks=40)
    metric(spring, day=TODAY, clicks=12)  # spend unknown that day
    metric(channel="paid_search", spend=Decimal("9999"))  # the channel's row, no campaign's
    metric(news, spend=Decimal("50"))
    for _ in range(3):
        lead_factory(campaign=spring)
    lead_factory(campaign=news)
    return {"spring": spring, "news": news}


def test_changelist_shows_spend_to_date_and_first_touch_leads(client, staff_marketer,
                                                              attributed):
    client.force_login(staff_marketer)

    rows = result_rows(client.get(CAMPAIGNS))

    assert rows["Spring sale"][-2:] == ["1,234.50", "3"]
    assert rows["Newsletter"][-2:] == ["50.00", "1"]
    assert rows["Draft idea"][-2:] == ["—", "0"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("channel__exact=email", {"Newsletter"}),
        ("status__exact=draft", {"Draft idea"}),
        ("owner__id__exact={manager}", {"Spring sale"}),
        ("q=SPRING", {"Spring sale"}),
    ],
)
def test_changelist_filters_by_channel_status_owner_and_search(
    client, staff_marketer, manager, attributed, query, expected
):
    client.force_login(staff_marketer)

    response = client.get(f"{CAMPAIGNS}?{query.format(manager=manager.pk)}")

    assert {c.name for c in response.context["cl"].result_list} == expected


def test_campaign_and_metric_lists_take_a_fixed_number_of_queries(
    client, staff_marketer, campaign_factory, lead_factory, django_assert_max_num_queries
):
    for n in range(15):
        campaign = campaign_factory(owner=staff_marketer)
        metric(campaign, spend=Decimal(n))
        lead_factory(campaign=campaign)
    client.force_login(staff_marketer)

    with django_assert_max_num_queries(10):
        response = client.get(CAMPAIGNS)
    with django_assert_max_num_queries(10):
        metrics = client.get(METRICS)

    assert len(response.context["cl"].result_list) == 15
    assert len(metrics.context["cl"].result_list) == 15


# --- campaigns: reps read only ------------------------------------------------------------------


def test_rep_reads_campaigns_but_cannot_change_or_add_them(client, staff_rep, attributed):
    spring = attributed["spring"]
    client.force_login(staff_rep)

    listing = client.get(CAMPAIGNS)
    page = client.get(change_url(CAMPAIGNS, spring))
    post = client.post(change_url(CAMPAIGNS, spring), {"name": "Taken over", "channel": "email",
                                                       "status": "ended",
                                                       "utm_campaign": "taken"})
    add = client.get(f"{CAMPAIGNS}add/")

    assert listing.status_code == 200
    assert "Spring sale" in result_rows(listing)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert post.status_code == 403
    assert add.status_code == 403
    spring.refresh_from_db()
    assert (spring.name, spring.status) == ("Spring sale", "active")


def test_rep_cannot_rotate_a_form_key(client, staff_rep, campaign_factory):
    campaign = campaign_factory()
    client.force_login(staff_rep)

    client.post(CAMPAIGNS, {"action": "rotate_form_key", "_selected_action": [campaign.pk]})

    assert Campaign.objects.get(pk=campaign.pk).form_key == campaign.form_key


# --- daily metrics ------------------------------------------------------------------------------


def metric_form(**values):
    return {"date": "2025-03-01", "channel": "email", "campaign": "", **values}


def test_adding_a_day_in_the_admin_stores_it_through_the_upsert(client, staff_marketer):
    client.force_login(staff_marketer)

    response = client.post(f"{METRICS}add/", metric_form(emails_sent="1000",
                                                         emails_delivered="980",
                                                         emails_opened="300"))

    assert response.status_code == 302
    row = DailyMetric.objects.get()
    assert (row.emails_sent, row.emails_delivered, row.emails_opened) == (1000, 980, 300)
    assert row.emails_clicked is None  # left empty: unknown, not zero


def test_more_opens_than_deliveries_is_a_form_error(client, staff_marketer):
    client.force_login(staff_marketer)

    response = client.post(f"{METRICS}add/", metric_form(emails_delivered="100",
                                                         emails_opened="120"))

    assert response.status_code == 200
    assert form_errors(response) == {
        "emails_opened": ["emails_opened (120) cannot exceed emails_delivered (100)."]
    }
    assert not DailyMetric.objects.exists()


def test_a_campaign_of_another_channel_is_a_form_error(client, staff_marketer,
                                                       campaign_factory):
    campaign = campaign_factory(channel="paid_search")
    client.force_login(staff_marketer)

    response = client.post(f"{METRICS}add/", metric_form(campaign=campaign.pk, clicks="5"))

    assert response.status_code == 200
    assert "campaign" in form_errors(response)
    assert not DailyMetric.objects.exists()


def test_adding_a_day_that_has_figures_is_a_form_error(client, staff_marketer):
    metric(channel="email", day=date(2025, 3, 1), emails_sent=10)
    client.force_login(staff_marketer)

    response = client.post(f"{METRICS}add/", metric_form(emails_sent="99"))

    assert response.status_code == 200
    assert form_errors(response) == {"date": [
        "This day already has figures for this channel and campaign: change that row instead."
    ]}
    assert DailyMetric.objects.get().emails_sent == 10


def test_changing_a_day_replaces_its_figures(client, staff_marketer):
    row = metric(channel="email", day=date(2025, 3, 1), emails_sent=10, emails_delivered=9)
    client.force_login(staff_marketer)
    data = form_data(client.get(change_url(METRICS, row)).content.decode(), "dailymetric_form")

    data.update({"emails_sent": "12", "emails_delivered": ""})
    response = client.post(change_url(METRICS, row), data)

    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.date, row.channel, row.emails_sent, row.emails_delivered) == (
        date(2025, 3, 1), "email", 12, None,
    )
    assert DailyMetric.objects.count() == 1


def test_marketer_deletes_a_day_loaded_by_mistake_and_a_rep_cannot(
    client, staff_marketer, staff_rep
):
    row = metric(channel="email", day=date(2025, 3, 1), emails_sent=10)
    kept = metric(channel="email", day=date(2025, 3, 2), emails_sent=11)

    client.force_login(staff_rep)
    assert client.post(f"{change_url(METRICS, row)}delete/", {"post": "yes"}).status_code == 403
    client.force_login(staff_marketer)
    response = client.post(
        METRICS, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert list(DailyMetric.objects.values_list("pk", flat=True)) == [kept.pk]


def test_metric_changelist_filters_by_campaign(client, staff_marketer, attributed):
    client.force_login(staff_marketer)

    response = client.get(f"{METRICS}?campaign__id__exact={attributed['news'].pk}")

    assert [(m.campaign, m.spend) for m in response.context["cl"].result_list] == [
        (attributed["news"], Decimal("50.00"))
    ]


def test_rep_reads_metrics_but_cannot_add_them(client, staff_rep, attributed):
    client.force_login(staff_rep)

    assert client.get(METRICS).status_code == 200
    assert client.post(f"{METRICS}add/", metric_form(emails_sent="1")).status_code == 403
    assert DailyMetric.objects.filter(channel="email", campaign__isnull=True).count() == 0


# --- nurture workflows --------------------------------------------------------------------------


@pytest.fixture
def workflows(marketer, rep, other_rep, lead_factory):
    trial = nurture_workflow_create(actor=marketer, name="Trial onboarding", goal="demo booked")
    nurture_workflow_create(actor=marketer, name="Dormant", goal="reply")
    entered = timezone.now() - timedelta(days=5)
    leads = [lead_factory(owner=rep, email="mine@example.com"),
             lead_factory(owner=other_rep, email="theirs@example.com"),
             lead_factory(owner=other_rep, email="also-theirs@example.com")]
    enrolments = [nurture_enrol(actor=marketer, workflow=trial, lead=lead, at=entered)
                  for lead in leads]
    nurture_enrolment_close(actor=marketer, enrolment=enrolments[0],
                            goal_reached_at=entered + timedelta(days=1))
    return {"trial": trial}


def test_workflow_list_shows_enrolments_and_goal_rate(
    client, staff_marketer, workflows, django_assert_max_num_queries
):
    client.force_login(staff_marketer)

    with django_assert_max_num_queries(7):
        rows = result_rows(client.get(WORKFLOWS))

    assert rows["Trial onboarding"][-3:] == ["3", "1", "33.3%"]
    assert rows["Dormant"][-3:] == ["0", "0", "—"]


def test_marketer_adds_a_workflow_through_the_service(client, staff_marketer):
    client.force_login(staff_marketer)

    response = client.post(f"{WORKFLOWS}add/", {"name": " Webinar follow-up ",
                                                "goal": "meeting booked", "campaign": ""})

    assert response.status_code == 302
    assert NurtureWorkflow.objects.get().name == "Webinar follow-up"  # trimmed by the service
    assert result_rows(client.get(WORKFLOWS))["Webinar follow-up"][-3:] == ["0", "0", "—"]


def test_enrolments_inline_is_read_only_and_shows_a_rep_only_their_leads(
    client, staff_rep, workflows
):
    client.force_login(staff_rep)

    response = client.get(change_url(WORKFLOWS, workflows["trial"]))

    assert response.status_code == 200
    [inline] = response.context["inline_admin_formsets"]
    assert [f.instance.lead.email for f in inline.formset.forms] == ["mine@example.com"]
    page = response.content.decode()
    assert "theirs@example.com" not in page
    assert 'name="_save"' not in page
    assert NurtureEnrolment.objects.count() == 3
