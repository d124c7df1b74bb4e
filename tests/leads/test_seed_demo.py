import io
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.test import Client

from campaigns.attribution import channel_from_utm
from campaigns.models import (
    EMAIL_FIELDS,
    METRIC_FIELDS,
    METRIC_PARTS,
    Campaign,
    CampaignStatus,
    Channel,
    DailyMetric,
    NurtureEnrolment,
)
from campaigns.services import daily_metric_upsert, daily_metrics_bulk_upsert
from leads import demo, roles
from leads.actors import SystemActor
from leads.demo.marketing import local_day
from leads.demo.records import stages_reached
from leads.models import Account, Activity, ActivityType, Lead, StageTransition
from leads.stages import FUNNEL, REACHED_FIELD, TERMINAL_STAGES, Stage

from ..factories import UserFactory

pytestmark = pytest.mark.django_db

SMALL = 60
REACHED = [REACHED_FIELD[stage] for stage in FUNNEL]
DEMO_LOGINS = {
    "admin": roles.ADMIN,
    "manager": roles.MANAGER,
    "marketer": roles.MARKETER,
    "rep1": roles.SALES_REP,
    "rep2": roles.SALES_REP,
}


@pytest.fixture
def anchor(monkeypatch):
    """Pin the command's anchor, so that a test running across midnight compares like with like."""
    fixed = demo.demo_anchor()
    monkeypatch.setattr(demo, "demo_anchor", lambda: fixed)
    return fixed


@pytest.fixture(scope="module")
def full_plan():
    """The default demo data set, planned only (nothing written)."""
    return demo.demo_plan(seed=1, leads=3000, anchor=demo.demo_anchor())


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--leads", str(SMALL), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def plan_rows(plan: demo.DemoPlan) -> list[tuple]:
    return sorted((p.email, p.stage, *p.reached().values()) for p in plan.leads)


# --- the plan -----------------------------------------------------------------------------------


def test_plan_is_the_same_for_a_seed_and_differs_for_another(anchor):
    first = demo.demo_plan(seed=7, leads=SMALL, anchor=anchor)
    again = demo.demo_plan(seed=7, leads=SMALL, anchor=anchor)
    other = demo.demo_plan(seed=8, leads=SMALL, anchor=anchor)

    assert again == first  # campaigns, leads with touches and enrolments, metrics: everything
    assert plan_rows(again) == plan_rows(first)
    assert plan_rows(other) != plan_rows(first)
    assert [m.values for m in other.metrics] != [m.values for m in first.metrics]


def test_plan_funnel_has_realistic_ratios(full_plan):
    reached = Counter(
        field for p in full_plan.leads for field, at in p.reached().items() if at is not None
    )
    stages = Counter(p.stage for p in full_plan.leads)

    assert reached["became_lead_at"] == 3000
    assert 0.30 < reached["became_mql_at"] / 3000 < 0.50
    assert 0.30 < reached["became_sql_at"] / reached["became_mql_at"] < 0.55
    assert 0.40 < reached["became_opportunity_at"] / reached["became_sql_at"] < 0.70
    assert 0.20 < reached["became_won_at"] / reached["became_opportunity_at"] < 0.50
    assert set(stages) == set(Stage.values)


def test_plan_spreads_leads_over_every_channel_search_first(full_plan):
    channels = Counter(p.channel for p in full_plan.leads)

    assert set(channels) == set(Channel.values)
    assert channels.most_common(2)[0][0] in (Channel.ORGANIC_SEARCH, Channel.PAID_SEARCH)
    assert channels[Channel.EVENTS] < channels[Channel.PAID_SEARCH] / 4
    assert len({p.email.lower() for p in full_plan.leads}) == 3000


def test_plan_history_is_in_the_past_in_order_and_sometimes_skips_stages(full_plan):
    anchor = demo.demo_anchor()
    for p in full_plan.leads:
        times = [p.created_at, *(m.at for m in p.moves)]
        assert times == sorted(times)
        assert times[-1] < anchor
        assert (anchor - p.created_at).days <= 550
        assert all(p.created_at <= a.at < anchor for a in p.activities)
    first_moves = Counter(p.moves[0].to_stage for p in full_plan.leads if p.moves)
    assert first_moves[Stage.SQL] >= 10


def test_plan_exits_have_reasons_and_customers_churn_after_winning(full_plan):
    exit_stages = (Stage.LOST, Stage.DISQUALIFIED)
    exits = [m for p in full_plan.leads for m in p.moves if m.to_stage in exit_stages]
    assert {m.reason for m in exits} >= {"Chose a competitor", "No budget", "Not in target market"}
    assert all(m.reason for m in exits)

    won_at = {}
    for p in full_plan.leads:
        if p.stage == Stage.WON and p.account is not None:
            won_at.setdefault(p.account, []).append(p.moves[-1].at)
    churned = [i for i, a in enumerate(full_plan.accounts) if a.churned_at is not None]
    assert churned
    assert all(full_plan.accounts[i].churned_at > max(won_at[i]) for i in churned)


# --- the plan: campaigns, touches, nurture, metrics ----------------------------------------------

PAID = (Channel.PAID_SEARCH, Channel.PAID_SOCIAL)
ADDITIVE = (
    "visitors", "sessions", "pageviews", "bounced_sessions", "time_on_site_seconds",
    "landing_page_visitors", "organic_impressions", "impressions", "clicks", "spend",
    "engagements", *EMAIL_FIELDS,
)


def last_full_month(plan: demo.DemoPlan) -> tuple[date, date]:
    end = plan.days[-1].replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def channel_totals(plan, start=None, end=None) -> dict[str, Counter]:
    totals: dict[str, Counter] = defaultdict(Counter)
    for row in plan.metrics:
        if row.campaign is None and (start is None or start <= row.date <= end):
            totals[row.channel].update({k: v for k, v in row.values.items() if v is not None})
    return totals


def test_plan_campaigns_are_owned_dated_and_budgeted(full_plan):
    today = full_plan.days[-1] + timedelta(days=1)
    campaigns = full_plan.campaigns
    statuses = Counter(c.status for c in campaigns)
    spent = Counter()
    for row in full_plan.metrics:
        if row.campaign:
            spent[row.campaign] += row.values.get("spend") or 0

    assert all(c.owner == "marketer" for c in campaigns)
    assert all(c.starts_on <= c.ends_on and c.budget > 0 for c in campaigns)
    assert statuses[CampaignStatus.ACTIVE] > len(campaigns) / 2
    assert statuses[CampaignStatus.ENDED] >= 2
    assert statuses[CampaignStatus.PAUSED] == 1
    ended = [c for c in campaigns if c.status == CampaignStatus.ENDED]
    assert all(c.ends_on < today and spent[c.utm_campaign] <= c.budget for c in ended)
    (draft,) = [c for c in campaigns if c.status == CampaignStatus.DRAFT]
    assert draft.starts_on > today
    assert draft.live is None
    running = {c.channel for c in campaigns if c.status == CampaignStatus.ACTIVE}
    assert running >= {Channel.PAID_SEARCH, Channel.PAID_SOCIAL, Channel.EMAIL}
    for c in campaigns:
        assert channel_from_utm(source=c.utm_source, medium=c.utm_medium) == c.channel
        assert c.landing_page_url.startswith("https://www.funnelcrm.example/")
        assert c.live is None or full_plan.days[0] <= c.live[0] <= c.live[1] < today
    assert len({c.landing_page_url for c in campaigns}) == len(campaigns)


def test_plan_leads_carry_the_utm_of_a_campaign_running_that_day(full_plan):
    campaigns = {c.utm_campaign: c for c in full_plan.campaigns}
    for p in full_plan.leads:
        assert p.utm["utm_campaign"] == (p.campaign or "")
        assert p.cta
        if p.campaign:
            campaign = campaigns[p.campaign]
            assert campaign.channel == p.channel
            assert campaign.is_live(local_day(p.created_at))
            assert (p.utm["utm_source"], p.utm["utm_medium"]) == (
                campaign.utm_source, campaign.utm_medium
            )
        if p.utm["utm_medium"]:
            assert channel_from_utm(source=p.utm["utm_source"], medium=p.utm["utm_medium"]) == (
                p.channel
            )
    tagged = sum(p.campaign is not None for p in full_plan.leads if p.channel in PAID)
    assert tagged / sum(p.channel in PAID for p in full_plan.leads) > 0.75
    assert set(Counter(p.cta for p in full_plan.leads)) >= {
        "pricing-guide", "demo-request", "webinar-signup", "newsletter-signup", "contact-form"
    }
    forms = [a for p in full_plan.leads for a in p.activities[:1] if a.type == "form_submitted"]
    assert all(a.payload["cta"] for a in forms)


def test_plan_some_leads_come_back_through_another_touch(full_plan):
    anchor = demo.demo_anchor()
    returned = [p for p in full_plan.leads if p.returns]
    moved = [p for p in returned if (p.returns[-1].channel, p.returns[-1].campaign) != (
        p.channel, p.campaign)]

    assert 0.10 <= len(returned) / len(full_plan.leads) <= 0.15
    assert len(moved) > 0.8 * len(returned)
    for p in returned:
        assert all(p.created_at < t.at < anchor for t in p.returns)
        assert [t.at for t in p.returns] == sorted(t.at for t in p.returns)


def test_plan_nurture_enrols_leads_sends_their_emails_and_reaches_some_goals(full_plan):
    enrolments = [(p, e) for p in full_plan.leads for e in p.enrolments]
    goals = sum(e.goal_reached_at is not None for _, e in enrolments)
    workflows = {w.name: w for w in full_plan.workflows}
    campaigns = {c.utm_campaign: c for c in full_plan.campaigns}

    assert 0 < goals < len(enrolments)
    assert 0 < sum(e.exited_at is None for _, e in enrolments) < len(enrolments)
    assert {e.workflow for _, e in enrolments} == set(workflows)
    mqls = [p for p in full_plan.leads if p.reached()["became_mql_at"]]
    assert sum(bool(p.enrolments) for p in mqls) > len(mqls) / 3
    for p, e in enrolments:
        assert p.created_at <= e.entered_at
        assert campaigns[workflows[e.workflow].campaign].channel == Channel.EMAIL
        assert e.goal_reached_at is None or e.entered_at <= e.goal_reached_at
        assert e.exited_at is None or e.entered_at <= e.exited_at
        assert all(e.entered_at <= m.sent_at < (e.exited_at or m.sent_at + timedelta(1))
                   for m in e.emails)
        sent = [a for a in p.activities if a.type == "email_sent"
                and a.payload.get("workflow") == e.workflow]
        assert [a.at for a in sent] == [m.sent_at for m in e.emails]
    # Every nurture email in a timeline comes from an enrolment.
    nurture_sent = [a for p in full_plan.leads for a in p.activities
                    if a.type == "email_sent" and a.actor == demo.DEMO]
    assert len(nurture_sent) == sum(len(e.emails) for _, e in enrolments)


def test_plan_email_metrics_count_the_nurture_emails(full_plan):
    by_campaign = defaultdict(Counter)
    for row in full_plan.metrics:
        if row.campaign:
            by_campaign[row.campaign].update(
                {f: row.values[f] for f in EMAIL_FIELDS if f in row.values}
            )
    emails = [m for p in full_plan.leads for e in p.enrolments for m in e.emails
              if e.workflow == "Pricing guide follow-up"]

    figures = by_campaign["nurture-pricing-guide"]
    assert figures["emails_delivered"] == len(emails)
    assert figures["emails_opened"] == sum(m.opened_at is not None for m in emails)
    assert figures["emails_clicked"] == sum(m.clicked_at is not None for m in emails)
    assert figures["emails_sent"] >= figures["emails_delivered"]


def test_plan_has_a_metric_row_for_every_channel_and_day(full_plan):
    days = full_plan.days
    channel_rows = Counter((m.date, m.channel) for m in full_plan.metrics if m.campaign is None)
    campaigns = {c.utm_campaign: c for c in full_plan.campaigns}
    campaign_rows = Counter((m.date, m.campaign) for m in full_plan.metrics if m.campaign)

    assert len(days) == 548
    assert days[-1] == local_day(demo.demo_anchor()) - timedelta(days=1)
    assert [(b - a).days for a, b in zip(days, days[1:], strict=False)] == [1] * 547
    assert channel_rows == Counter({(d, c): 1 for d in days for c in Channel.values})
    expected = {(d, c.utm_campaign) for c in campaigns.values() for d in days if c.is_live(d)}
    assert campaign_rows == Counter(dict.fromkeys(expected, 1))
    assert all(campaigns[m.campaign].channel == m.channel for m in full_plan.metrics if m.campaign)


def test_plan_metrics_parts_stay_within_their_wholes(full_plan):
    for m in full_plan.metrics:
        v = m.values
        seen = "impressions" if "impressions" in v else "organic_impressions"  # posts: organic
        for part, whole in (*METRIC_PARTS, ("visitors", "sessions"), ("clicks", seen),
                            ("landing_page_visitors", "visitors")):
            if part in v:
                assert v[part] <= v[whole], (m.date, m.channel, m.campaign, part)
        if m.channel in PAID:
            assert v["spend"] >= 0
            assert "emails_sent" not in v
            assert "followers" not in v
        if m.channel in (Channel.ORGANIC_SEARCH, Channel.DIRECT, Channel.REFERRAL):
            assert "spend" not in v
            assert "impressions" not in v
            assert "emails_sent" not in v


def test_plan_channel_rows_total_their_campaigns(full_plan):
    campaign_sums = defaultdict(Counter)
    for m in full_plan.metrics:
        if m.campaign:
            campaign_sums[m.date, m.channel].update(
                {f: m.values[f] for f in ADDITIVE if f in m.values}
            )
    channel_rows = {(m.date, m.channel): m.values for m in full_plan.metrics if not m.campaign}

    assert campaign_sums
    for key, sums in campaign_sums.items():
        assert all(channel_rows[key][f] >= n for f, n in sums.items()), key


def test_plan_marketing_ratios_are_plausible(full_plan):
    leads = Counter(p.channel for p in full_plan.leads)
    totals = channel_totals(full_plan)
    everything = sum(totals.values(), Counter())

    for channel in Channel.values:
        t = totals[channel]
        assert 0.005 < leads[channel] / t["visitors"] < 0.06, channel
        assert 0.35 <= t["bounced_sessions"] / t["sessions"] <= 0.65, channel
        assert 1.8 <= t["pageviews"] / t["sessions"] <= 4, channel
        assert 60 <= t["time_on_site_seconds"] / t["sessions"] <= 300, channel
        assert t["sessions"] > t["visitors"]
    for channel in PAID:
        t = totals[channel]
        assert 0.008 <= t["clicks"] / t["impressions"] <= 0.05, channel
        assert 1 <= t["spend"] / t["clicks"] <= 10, channel
        assert 50 <= t["spend"] / leads[channel] <= 600, channel  # cost per lead, EUR
    email = totals[Channel.EMAIL]
    assert 0.2 <= email["emails_opened"] / email["emails_delivered"] <= 0.4
    assert 0.02 <= email["emails_clicked"] / email["emails_delivered"] <= 0.05
    assert 0.001 <= email["emails_unsubscribed"] / email["emails_delivered"] <= 0.005
    assert 0.005 < everything["engagements"] / everything["impressions"] < 0.2
    assert 0.01 < sum(leads.values()) / everything["visitors"] < 0.04


def test_plan_growth_levels_climb(full_plan):
    social = [m.values["followers"] for m in full_plan.metrics
              if m.channel == Channel.ORGANIC_SOCIAL and m.campaign is None]
    keywords = [m.values["ranked_keywords"] for m in full_plan.metrics
                if m.channel == Channel.ORGANIC_SEARCH and m.campaign is None]

    assert social[-1] > social[0] * 1.5
    assert sum(keywords[-30:]) > sum(keywords[:30]) * 1.5


def test_plan_every_kpi_has_data_in_the_last_full_month(full_plan):
    start, end = last_full_month(full_plan)

    def within(at) -> bool:
        return at is not None and start <= local_day(at) <= end

    totals = channel_totals(full_plan, start, end)
    for channel in Channel.values:
        traffic = ("visitors", "sessions", "pageviews", "time_on_site_seconds",
                   "landing_page_visitors")
        assert min(totals[channel][f] for f in traffic) > 0, channel
    for channel in PAID:
        assert min(totals[channel][f] for f in ("impressions", "clicks", "spend")) > 0
    assert totals[Channel.PAID_SOCIAL]["engagements"] > 0
    assert totals[Channel.ORGANIC_SEARCH]["organic_impressions"] > 0
    assert totals[Channel.EMAIL]["emails_delivered"] > 0

    leads = full_plan.leads
    assert sum(within(p.created_at) for p in leads) > 0
    enrolled = [e for p in leads for e in p.enrolments if within(e.entered_at)]
    assert enrolled
    assert any(e.goal_reached_at for e in enrolled)
    contacted = [p for p in leads if any(
        a.actor == demo.OWNER and a.type in ("call", "email_sent") and within(a.at)
        for a in p.activities)]
    assert contacted
    assert any(a.type == "reply" and within(a.at) for p in contacted for a in p.activities)
    assert any(m.reason == "Not interested" and within(m.at) for p in leads for m in p.moves)
    open_mqls = []
    for p in leads:
        reached = stages_reached(p.created_at, p.moves)
        left = [m.at for m in p.moves if "mql" in reached and m.at > reached["mql"]]
        if "mql" in reached and local_day(reached["mql"]) <= end and (
            not left or local_day(min(left)) >= start
        ):
            open_mqls.append(p)
    engaged = [p for p in open_mqls if any(
        a.type in ("email_opened", "email_clicked", "page_view", "form_submitted") and within(a.at)
        for a in p.activities)]
    assert 0 < len(engaged) < len(open_mqls)
    closed = [p.stage for p in leads if p.stage in (Stage.WON, Stage.LOST)
              and within(p.moves[-1].at)]
    assert Stage.WON in closed
    assert Stage.LOST in closed


def test_plan_not_interested_leads_were_contacted_first(full_plan):
    for p in full_plan.leads:
        for move in p.moves:
            if move.reason == "Not interested":
                assert any(a.type == ActivityType.CALL and a.actor == demo.OWNER
                           and a.at < move.at for a in p.activities), p.email


# --- the command --------------------------------------------------------------------------------


def test_seed_writes_exactly_the_plan(anchor):
    seed("--seed", "7")

    plan = demo.demo_plan(seed=7, leads=SMALL, anchor=anchor)
    rows = sorted(Lead.objects.values_list("email", "stage", *REACHED))  # no DB collation
    assert rows == plan_rows(plan)
    counts = {
        email: (transitions, activities)
        for email, transitions, activities in Lead.objects.annotate(
            t=Count("transitions", distinct=True), a=Count("activities", distinct=True)
        ).values_list("email", "t", "a")
    }
    assert counts == {p.email: (1 + len(p.moves), len(p.activities)) for p in plan.leads}


def test_seed_writes_the_campaigns_metrics_touches_and_enrolments_of_the_plan(anchor):
    seed("--seed", "7")

    plan = demo.demo_plan(seed=7, leads=SMALL, anchor=anchor)
    campaigns = {
        c.utm_campaign: (c.name, c.channel, c.owner.username, c.status, c.starts_on, c.ends_on,
                         c.budget, c.utm_source, c.utm_medium, c.landing_page_url)
        for c in Campaign.objects.select_related("owner")
    }
    assert campaigns == {
        p.utm_campaign: (p.name, p.channel, p.owner, p.status, p.starts_on, p.ends_on, p.budget,
                         p.utm_source, p.utm_medium, p.landing_page_url)
        for p in plan.campaigns
    }
    rows = {
        (m.date, m.channel, m.campaign.utm_campaign if m.campaign else None): {
            f: getattr(m, f) for f in METRIC_FIELDS if getattr(m, f) is not None
        }
        for m in DailyMetric.objects.select_related("campaign")
    }
    assert rows == {(m.date, m.channel, m.campaign): m.values for m in plan.metrics}
    per_channel = DailyMetric.objects.filter(campaign__isnull=True).values_list("channel").annotate(
        n=Count("date", distinct=True)
    )
    assert dict(per_channel) == dict.fromkeys(Channel.values, 548)

    leads = {
        lead.email: lead
        for lead in Lead.objects.select_related("first_touch_campaign", "last_touch_campaign")
    }
    for p in plan.leads:
        lead = leads[p.email]
        first = lead.first_touch_campaign
        last = lead.last_touch_campaign
        assert lead.utm_campaign == (first.utm_campaign if first else "")
        assert {f: getattr(lead, f) for f in p.utm} == p.utm
        assert (lead.cta, lead.landing_page) == (p.cta, p.landing_page)
        assert (lead.first_touch_channel, first and first.utm_campaign) == (p.channel, p.campaign)
        back = p.returns[-1] if p.returns else None
        expected = (back.channel, back.campaign, back.at) if back else (
            p.channel, p.campaign, p.created_at
        )
        assert (lead.last_touch_channel, last and last.utm_campaign, lead.last_touch_at) == expected
    assert any(
        (lead.last_touch_channel, lead.last_touch_campaign_id)
        != (lead.first_touch_channel, lead.first_touch_campaign_id)
        for lead in leads.values()
    )
    enrolments = NurtureEnrolment.objects.values_list(
        "lead__email", "workflow__name", "entered_at", "goal_reached_at", "exited_at"
    )
    assert sorted(enrolments) == sorted(
        (p.email, e.workflow, e.entered_at, e.goal_reached_at, e.exited_at)
        for p in plan.leads
        for e in p.enrolments
    )


def test_seeded_leads_keep_first_reached_order_and_their_history(anchor):
    seed()

    leads = Lead.objects.prefetch_related("transitions")
    assert len({lead.stage for lead in leads}) >= 4
    for lead in leads:
        dates = [getattr(lead, field) for field in REACHED]
        reached = [d for d in dates if d is not None]
        assert dates[: len(reached)] == reached, "a later stage was reached but not an earlier one"
        assert reached == sorted(reached)
        if lead.stage in FUNNEL:
            assert lead.reached_at(lead.stage) is not None
        assert (lead.closed_at is not None) == (lead.stage in TERMINAL_STAGES)
        history = sorted(lead.transitions.all(), key=lambda t: t.pk)
        assert (history[0].from_stage, history[0].to_stage) == ("", Stage.LEAD)
        assert history[0].at == lead.became_lead_at
        assert history[-1].to_stage == lead.stage
        assert [t.at for t in history] == sorted(t.at for t in history)
        assert history[-1].at < anchor


def test_seeded_history_is_made_by_owners_and_the_demo_system():
    seed()

    owners = Counter(Lead.objects.values_list("owner__username", flat=True))
    assert set(owners) <= {"rep1", "rep2", "manager"}
    assert owners["rep1"] + owners["rep2"] > owners["manager"]
    moves = StageTransition.objects.exclude(from_stage="")
    assert moves.filter(actor_system="demo").exists()
    assert moves.filter(actor_user__username__in=["rep1", "rep2"]).exists()
    for lead in Lead.objects.filter(stage__in=[Stage.LOST, Stage.DISQUALIFIED]):
        assert lead.exit_reason
    opportunities = Lead.objects.filter(became_opportunity_at__isnull=False)
    assert all(lead.deal_amount > 0 for lead in opportunities)
    assert not Lead.objects.filter(became_opportunity_at__isnull=True, deal_amount__isnull=False)


def test_demo_users_have_their_roles_and_log_in_with_demo():
    seed()

    for username, role in DEMO_LOGINS.items():
        user = get_user_model().objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.is_staff == (role != roles.SALES_REP)
        assert user.is_superuser == (username == "admin")
        assert authenticate(username=username, password="demo") == user
    client = Client()
    assert client.login(username="manager", password="demo")
    assert client.get("/admin/").status_code == 200
    # a rep works in the browser pages, not the Django admin
    assert client.login(username="rep1", password="demo")
    assert client.get("/admin/").status_code == 302
    assert client.get("/leads/").status_code == 200


def test_rerun_users_get_the_given_password_and_their_role_back():
    UserFactory(username="rep1", role=roles.MARKETER, is_staff=False)

    seed("--password", "letmein-123")

    rep1 = get_user_model().objects.get(username="rep1")
    assert rep1.check_password("letmein-123")
    assert list(rep1.groups.values_list("name", flat=True)) == [roles.SALES_REP]
    assert not rep1.is_staff
    assert authenticate(username="manager", password="demo") is None


def test_summary_counts_stages_and_lists_the_logins():
    out = seed()

    assert f"Seeded {SMALL} demo leads" in out
    for stage in Stage:
        count = Lead.objects.filter(stage=stage).count()
        assert any(line.split() == [*stage.label.split(), str(count)] for line in out.splitlines())
    assert f"Activities: {Activity.objects.count()}," in out
    statuses = Counter(Campaign.objects.values_list("status", flat=True))
    assert f"Campaigns: {Campaign.objects.count()} ({statuses['active']} active," in out
    channel_rows = DailyMetric.objects.filter(campaign__isnull=True).count()
    campaign_rows = DailyMetric.objects.count() - channel_rows
    assert (
        f"Daily metrics: 548 days, {channel_rows} channel rows, {campaign_rows} campaign rows."
        in out
    )
    goals = NurtureEnrolment.objects.filter(goal_reached_at__isnull=False).count()
    assert f"enrolments: {NurtureEnrolment.objects.count()} ({goals} reached the goal)" in out
    for username, role in DEMO_LOGINS.items():
        assert any(
            line.split()[:3] == [username, "/", "demo"] and role in line
            for line in out.splitlines()
        )


def test_if_empty_seeds_an_empty_database():
    out = seed("--if-empty")

    assert Lead.objects.count() == SMALL
    assert "Seeded" in out


def test_if_empty_on_a_database_with_leads_adds_nothing(lead):
    before = (Lead.objects.count(), Account.objects.count(), Activity.objects.count())

    out = seed("--if-empty")

    assert "did nothing" in out
    assert (Lead.objects.count(), Account.objects.count(), Activity.objects.count()) == before
    assert not get_user_model().objects.filter(username="manager").exists()


def test_if_empty_on_a_database_with_metrics_adds_nothing():
    daily_metric_upsert(
        actor=SystemActor.SYSTEM, date=date(2026, 1, 5), channel="direct", values={"visitors": 9}
    )

    out = seed("--if-empty")

    assert "did nothing" in out
    assert DailyMetric.objects.count() == 1
    assert not Lead.objects.exists()
    with pytest.raises(CommandError, match="fresh database"):
        seed()
    assert DailyMetric.objects.get().visitors == 9


def test_refuses_a_database_with_leads(lead):
    with pytest.raises(CommandError, match="fresh database"):
        seed()

    assert Lead.objects.count() == 1


def test_leads_must_be_positive():
    with pytest.raises(CommandError, match="--leads"):
        call_command("seed_demo", "--leads", "0", stdout=io.StringIO())


# --- bulk metric writes -------------------------------------------------------------------------


def test_bulk_upsert_replaces_a_days_figures_by_the_services_rules(campaign_factory, rep):
    campaign = campaign_factory(channel=Channel.PAID_SEARCH)
    day = date(2026, 1, 5)

    def write(*rows, actor=SystemActor.DEMO):
        return daily_metrics_bulk_upsert(actor=actor, rows=rows)

    assert write(
        (day, "paid_search", None, {"clicks": 5, "impressions": 100, "spend": Decimal("9.50")}),
        (day, "paid_search", campaign, {"clicks": 3}),
    ) == (2, 0)
    assert write((day, "paid_search", None, {"clicks": 7})) == (0, 1)
    channel_row = DailyMetric.objects.get(campaign=None)
    assert (channel_row.clicks, channel_row.impressions, channel_row.spend) == (7, None, None)
    assert DailyMetric.objects.get(campaign=campaign).clicks == 3

    with pytest.raises(ValidationError, match="emails_delivered"):
        write((day, "email", None, {"emails_sent": 1, "emails_delivered": 2}))
    with pytest.raises(ValidationError, match="belongs to channel"):
        write((day, "email", campaign, {}))
    with pytest.raises(ValidationError, match="Not a daily metric"):
        write((day, "direct", None, {"revenue": 1}))
    with pytest.raises(PermissionDenied):
        write((day, "direct", None, {"visitors": 1}), actor=rep)
    assert DailyMetric.objects.count() == 2
