import io
from collections import Counter

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.test import Client

from campaigns.models import Channel
from leads import demo, roles
from leads.models import Account, Activity, Lead, StageTransition
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

    assert again == first
    assert plan_rows(again) == plan_rows(first)
    assert plan_rows(other) != plan_rows(first)


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
        assert user.is_staff
        assert user.is_superuser == (username == "admin")
        assert authenticate(username=username, password="demo") == user
    client = Client()
    assert client.login(username="rep1", password="demo")
    assert client.get("/admin/").status_code == 200


def test_rerun_users_get_the_given_password_and_their_role_back():
    UserFactory(username="rep1", role=roles.MARKETER, is_staff=False)

    seed("--password", "letmein-123")

    rep1 = get_user_model().objects.get(username="rep1")
    assert rep1.check_password("letmein-123")
    assert list(rep1.groups.values_list("name", flat=True)) == [roles.SALES_REP]
    assert rep1.is_staff
    assert authenticate(username="manager", password="demo") is None


def test_summary_counts_stages_and_lists_the_logins():
    out = seed()

    assert f"Seeded {SMALL} demo leads" in out
    for stage in Stage:
        count = Lead.objects.filter(stage=stage).count()
        assert any(line.split() == [*stage.label.split(), str(count)] for line in out.splitlines())
    assert f"Activities: {Activity.objects.count()}," in out
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


def test_refuses_a_database_with_leads(lead):
    with pytest.raises(CommandError, match="fresh database"):
        seed()

    assert Lead.objects.count() == 1


def test_leads_must_be_positive():
    with pytest.raises(CommandError, match="--leads"):
        call_command("seed_demo", "--leads", "0", stdout=io.StringIO())
