"""Lead scoring (issue 3, PRODUCT.md "Lead scoring"), through the public services: fit rules on
every field and operator, decaying and capped engagement, thresholds that only move leads forward,
idempotent and concurrent rescoring, the background rescore with its progress, and a breakdown
that always adds up to the score.

Scores depend on time, so most tests rescore with a fixed `now` and date activities before it.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from leads.actors import SystemActor
from leads.models import Lead, StageTransition
from leads.scoring.models import (
    LeadScoreItem,
    RescoreRun,
    RuleKind,
    ScoringRule,
    ScoringSettingsChange,
)
from leads.scoring.services import (
    leads_rescore,
    rescore_run_execute,
    rescore_run_latest,
    scoring_rule_delete,
    scoring_rule_save,
    scoring_settings_get,
    scoring_settings_update,
)
from leads.services import (
    activity_create,
    lead_disqualify,
    lead_move_to_stage,
    lead_update,
)
from tests.factories import AccountFactory, LeadFactory
from tests.threads import run_at_once

pytestmark = pytest.mark.django_db

# Not on a round hour, so that ages are computed from real timestamps and not from lucky zeros.
FIXED_NOW = datetime(2026, 3, 2, 9, 17, 23, tzinfo=UTC)
CREATED_AT = FIXED_NOW - timedelta(days=365)


def days_ago(days: float) -> datetime:
    return FIXED_NOW - timedelta(days=days)


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def make_lead(lead_factory, rep):
    """A lead created a year before FIXED_NOW, so that scoring may promote it at FIXED_NOW."""

    def make(**kwargs):
        kwargs.setdefault("owner", rep)
        kwargs.setdefault("at", CREATED_AT)
        return lead_factory(**kwargs)

    return make


@pytest.fixture
def fit_rule(admin_user):
    def make(field, operator, value, points=10, name=None):
        rule = ScoringRule(
            name=name or f"{field} {operator} {value}", kind=RuleKind.FIT,
            field=field, operator=operator, value=value, points=points,
        )
        return scoring_rule_save(actor=admin_user, rule=rule)

    return make


@pytest.fixture
def engagement_rule(admin_user):
    def make(activity_type, points, cap=None, name=None):
        rule = ScoringRule(
            name=name or f"{activity_type} {points:+d}", kind=RuleKind.ENGAGEMENT,
            activity_type=activity_type, points=points, cap=cap,
        )
        return scoring_rule_save(actor=admin_user, rule=rule)

    return make


@pytest.fixture
def set_scoring(admin_user):
    def update(**changes):
        return scoring_settings_update(actor=admin_user, **changes)

    return update


def add_activities(lead, type_, *ages_in_days):
    for age in ages_in_days:
        activity_create(lead=lead, type=type_, actor=SystemActor.SYSTEM, at=days_ago(age))


def rescore(*leads, now=FIXED_NOW) -> int:
    promoted = leads_rescore(lead_ids=[lead.pk for lead in leads], now=now)
    for lead in leads:
        lead.refresh_from_db()
    return promoted


def breakdown(lead) -> dict[str, tuple[int, int]]:
    """What the lead page shows: each rule that fired, with its points and count."""
    return {
        item.rule.name: (item.points, item.count)
        for item in LeadScoreItem.objects.filter(lead=lead).select_related("rule")
    }


def scoring_moves(lead) -> list[tuple[str, str, datetime]]:
    return [
        (t.from_stage, t.to_stage, t.at)
        for t in StageTransition.objects.filter(lead=lead, actor_system="scoring").order_by("id")
    ]


def snapshot(leads) -> dict:
    """Everything a rescore writes that a user can see."""
    ids = [lead.pk for lead in leads]
    return {
        "leads": list(
            Lead.objects.filter(pk__in=ids).order_by("pk").values_list(
                "pk", "score", "stage", "became_mql_at", "became_sql_at", "ready_for_sales_at"
            )
        ),
        "breakdown": list(
            LeadScoreItem.objects.filter(lead_id__in=ids)
            .order_by("lead_id", "rule_id")
            .values_list("lead_id", "rule_id", "points", "count")
        ),
        "transitions": StageTransition.objects.filter(lead_id__in=ids).count(),
    }


# --- fit rules: every operator on every field ---------------------------------------------------

# (field, operator, rule value, a matching lead, a lead that does not match)
FIT_CASES = [
    ("job_title", "equals", "Head of Marketing",
     {"job_title": "head of MARKETING"}, {"job_title": "Head of Marketing Ops"}),
    ("job_title", "in", "CTO, ceo , Founder",
     {"job_title": "CEO"}, {"job_title": "COO"}),
    ("job_title", "contains", "VP",
     {"job_title": "Senior vp, Sales"}, {"job_title": "Sales Engineer"}),
    ("industry", "equals", "software",
     {"account__industry": "Software"}, {"account__industry": "Software Services"}),
    ("industry", "in", "Fintech,Banking",
     {"account__industry": "BANKING"}, {"account__industry": "Insurance"}),
    ("industry", "contains", "TECH",
     {"account__industry": "Fintech"}, {"account__industry": "Retail"}),
    ("employees", "equals", "50",
     {"account__employees": 50}, {"account__employees": 51}),
    ("employees", "in", "10, 50, 200",
     {"account__employees": 200}, {"account__employees": 100}),
    ("employees", "gte", "100",
     {"account__employees": 100}, {"account__employees": 99}),
    ("employees", "lte", "100",
     {"account__employees": 100}, {"account__employees": 101}),
    ("country", "equals", "de",
     {"account__country": "DE"}, {"account__country": "AT"}),
    ("country", "in", "de, at, ch",
     {"account__country": "CH"}, {"account__country": "FR"}),
    ("country", "contains", "u",
     {"account__country": "US"}, {"account__country": "DE"}),
    ("channel", "equals", "PAID_SEARCH",
     {"channel": "paid_search"}, {"channel": "paid_social"}),
    ("channel", "in", "email, referral",
     {"channel": "referral"}, {"channel": "direct"}),
    ("channel", "contains", "Social",
     {"channel": "organic_social"}, {"channel": "organic_search"}),
    ("email_domain", "equals", "Acme.io",
     {"email": "jo@ACME.IO"}, {"email": "jo@notacme.io"}),
    ("email_domain", "in", "acme.io, @Globex.com",
     {"email": "jo@globex.COM"}, {"email": "jo@globex.com.example"}),
    ("email_domain", "contains", "acme",
     {"email": "jo@mail.ACME.co.uk"}, {"email": "acme@example.com"}),
]


@pytest.mark.parametrize(
    ("field", "operator", "value", "matching", "other"),
    FIT_CASES,
    ids=[f"{c[0]}-{c[1]}" for c in FIT_CASES],
)
def test_fit_rule_scores_the_lead_it_matches_and_not_the_other(
    make_lead, fit_rule, field, operator, value, matching, other
):
    # given
    match = make_lead(**matching)
    miss = make_lead(**other)
    rule = fit_rule(field, operator, value, points=12)

    # when
    rescore(match, miss)

    # then
    assert match.score == 12
    assert breakdown(match) == {rule.name: (12, 1)}
    assert miss.score == 0
    assert breakdown(miss) == {}


@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("job_title", "gte", "5"),
        ("country", "lte", "3"),
        ("employees", "contains", "5"),
        ("employees", "equals", "fifty"),
        ("employees", "in", "10, many"),
    ],
)
def test_an_operator_that_does_not_apply_to_the_field_is_refused(
    admin_user, field, operator, value
):
    rule = ScoringRule(
        name="bad", kind=RuleKind.FIT, field=field, operator=operator, value=value, points=5
    )

    with pytest.raises(ValidationError):
        scoring_rule_save(actor=admin_user, rule=rule)

    assert not ScoringRule.objects.exists()


def test_a_lead_without_an_account_matches_no_account_rule(make_lead, fit_rule):
    lead = make_lead(account=None, job_title="CTO")
    fit_rule("employees", "lte", "100")
    fit_rule("industry", "contains", "soft")
    fit_rule("job_title", "equals", "cto", points=7, name="CTOs")

    rescore(lead)

    assert lead.score == 7
    assert breakdown(lead) == {"CTOs": (7, 1)}


# --- engagement: decay, caps, negative points ---------------------------------------------------


@pytest.mark.parametrize(
    ("half_life", "age_days", "expected"),
    [
        (30, 0, 10),  # fresh: full points
        (30, 30, 5),  # one half-life
        (30, 60, 3),  # 2.5 rounds half up
        (30, 90, 1),  # 1.25
        (30, 15, 7),  # 10 / sqrt(2) = 7.07
        (60, 60, 5),
        (60, 30, 7),
        (10, 30, 1),  # 1.25
        (1, 10, 0),  # 0.0098
    ],
)
def test_engagement_points_decay_with_the_half_life(
    make_lead, engagement_rule, set_scoring, half_life, age_days, expected
):
    if half_life != 30:
        set_scoring(half_life_days=half_life)
    rule = engagement_rule("email_opened", 10)
    lead = make_lead()
    add_activities(lead, "email_opened", age_days)

    rescore(lead)

    assert lead.score == expected
    assert breakdown(lead) == {rule.name: (expected, 1)}


def test_changing_the_half_life_changes_the_score(make_lead, engagement_rule, set_scoring):
    engagement_rule("email_opened", 10)
    lead = make_lead()
    add_activities(lead, "email_opened", 60)
    rescore(lead)
    assert lead.score == 3

    set_scoring(half_life_days=60)
    rescore(lead)

    assert lead.score == 5


def test_decay_is_rounded_on_the_rule_total_not_per_activity(make_lead, engagement_rule):
    rule = engagement_rule("page_view", 10)
    lead = make_lead()
    add_activities(lead, "page_view", 60, 60, 90)  # 2.5 + 2.5 + 1.25

    rescore(lead)

    assert lead.score == 6
    assert breakdown(lead) == {rule.name: (6, 3)}


def test_activities_after_now_and_unscored_types_do_not_count(make_lead, engagement_rule):
    rule = engagement_rule("demo_requested", 20)
    lead = make_lead()
    add_activities(lead, "demo_requested", 0)
    add_activities(lead, "call", 0, 1)  # no rule for calls
    # dated now, which is after FIXED_NOW: it does not count yet at FIXED_NOW
    activity_create(lead=lead, type="demo_requested", actor=SystemActor.SYSTEM)

    rescore(lead)

    assert lead.score == 20
    assert breakdown(lead) == {rule.name: (20, 1)}


def test_negative_decayed_points_round_half_away_from_zero(make_lead, engagement_rule):
    rule = engagement_rule("unsubscribed", -10)
    lead = make_lead()
    add_activities(lead, "unsubscribed", 60)  # -2.5

    rescore(lead)

    assert lead.score == -3
    assert breakdown(lead) == {rule.name: (-3, 1)}


def test_a_cap_bounds_a_rules_total(make_lead, engagement_rule):
    rule = engagement_rule("page_view", 10, cap=15)
    lead = make_lead()
    add_activities(lead, "page_view", 0, 0, 0)

    rescore(lead)

    assert lead.score == 15
    assert breakdown(lead) == {rule.name: (15, 3)}


def test_a_cap_applies_after_decay(make_lead, engagement_rule):
    rule = engagement_rule("page_view", 10, cap=15)
    lead = make_lead()
    add_activities(lead, "page_view", 30, 30)  # 5 + 5, under the cap

    rescore(lead)

    assert lead.score == 10
    assert breakdown(lead) == {rule.name: (10, 2)}


def test_negative_points_lower_the_score(make_lead, fit_rule, engagement_rule):
    vp = fit_rule("job_title", "contains", "vp", points=30, name="VPs")
    unsubscribed = engagement_rule("unsubscribed", -20, name="Unsubscribed")
    lead = make_lead(job_title="VP Marketing")
    add_activities(lead, "unsubscribed", 0)

    rescore(lead)

    assert lead.score == 10
    assert breakdown(lead) == {vp.name: (30, 1), unsubscribed.name: (-20, 1)}


def test_a_negative_capped_rule_is_bounded_at_minus_the_cap(make_lead, engagement_rule):
    rule = engagement_rule("unsubscribed", -10, cap=15)
    lead = make_lead()
    add_activities(lead, "unsubscribed", 0, 0, 0)

    rescore(lead)

    assert lead.score == -15
    assert breakdown(lead) == {rule.name: (-15, 3)}


def test_inactive_rules_do_not_count(make_lead, fit_rule, admin_user):
    rule = fit_rule("job_title", "contains", "vp", points=30)
    rule.active = False
    scoring_rule_save(actor=admin_user, rule=rule)
    lead = make_lead(job_title="VP Sales")

    rescore(lead)

    assert lead.score == 0
    assert breakdown(lead) == {}


# --- the breakdown adds up ----------------------------------------------------------------------


def _expected_points(rule: ScoringRule, ages: list[float], half_life: int) -> int:
    """By hand: decay each activity, add them, cap the rule's total, round half away from zero."""
    total = sum(rule.points * 0.5 ** (age / half_life) for age in ages)
    if rule.cap is not None:
        total = max(-rule.cap, min(rule.cap, total))
    return int(abs(total) + 0.5) * (1 if total >= 0 else -1)


def test_the_breakdown_adds_up_exactly_to_the_score(make_lead, fit_rule, engagement_rule):
    # given: fit rules, positive and negative, and decaying, capped and negative engagement rules
    rnd = random.Random(20260302)
    vp = fit_rule("job_title", "contains", "vp", points=15)
    industry = fit_rule("industry", "in", "software, fintech", points=10)
    big = fit_rule("employees", "gte", "200", points=8)
    us = fit_rule("country", "equals", "us", points=-5)
    gmail = fit_rule("email_domain", "contains", "gmail", points=-10)
    engagement = [
        engagement_rule("email_opened", 3, cap=12),
        engagement_rule("page_view", 2),
        engagement_rule("demo_requested", 25),
        engagement_rule("form_submitted", 7, cap=10),
        engagement_rule("unsubscribed", -20, cap=20),
    ]
    leads, ages = [], {}
    for i in range(14):
        lead = make_lead(
            email=f"p{i}@{rnd.choice(['gmail.com', 'acme.io', 'globex.com'])}",
            job_title=rnd.choice(["VP Sales", "Intern", "Svp Ops", "Engineer"]),
            account=AccountFactory(
                industry=rnd.choice(["Software", "Fintech", "Retail"]),
                employees=rnd.choice([10, 199, 200, 5000]),
                country=rnd.choice(["US", "DE", "FR"]),
            ),
        )
        leads.append(lead)
        for rule in engagement:
            rule_ages = [
                rnd.randint(0, 120) + rnd.randint(1, 23) / 24 for _ in range(rnd.randint(0, 4))
            ]
            add_activities(lead, rule.activity_type, *rule_ages)
            ages[lead.pk, rule.pk] = rule_ages

    # when
    rescore(*leads)

    # then: every lead's score is the sum of its breakdown, and each line is what we computed
    fired_engagement = 0
    for lead in leads:
        items = breakdown(lead)
        assert lead.score == sum(points for points, _ in items.values())
        account = lead.account
        fit_matches = {
            vp: "vp" in lead.job_title.lower(),
            industry: account.industry in ("Software", "Fintech"),
            big: account.employees >= 200,
            us: account.country == "US",
            gmail: lead.email.endswith("@gmail.com"),
        }
        expected = {rule.name: (rule.points, 1) for rule, hit in fit_matches.items() if hit}
        for rule in engagement:
            rule_ages = ages[lead.pk, rule.pk]
            if rule_ages:
                points = _expected_points(rule, rule_ages, half_life=30)
                expected[rule.name] = (points, len(rule_ages))
                fired_engagement += 1
        assert items == expected, lead.email
    assert fired_engagement > 20


# --- thresholds ---------------------------------------------------------------------------------


# Threshold tests create their leads before the rules: a lead is scored when it is created, and
# these tests want the promotion to happen in their own rescore at FIXED_NOW.


def test_a_lead_reaching_the_mql_threshold_exactly_becomes_an_mql(
    make_lead, fit_rule, set_scoring
):
    # given: a VP from Germany scores 30; a VP in software outside Germany scores 29
    set_scoring(mql_threshold=30)
    at_threshold = make_lead(
        job_title="VP", account__country="DE", account__industry="Retail"
    )
    one_below = make_lead(
        job_title="VP", account__country="FR", account__industry="Software"
    )
    fit_rule("job_title", "contains", "vp", points=20)
    fit_rule("country", "equals", "DE", points=10)
    fit_rule("industry", "equals", "software", points=9)

    # when
    promoted = rescore(at_threshold, one_below)

    # then
    assert promoted == 1
    assert (at_threshold.score, at_threshold.stage) == (30, "mql")
    assert at_threshold.became_mql_at == FIXED_NOW
    (move,) = StageTransition.objects.filter(lead=at_threshold, to_stage="mql")
    assert (move.from_stage, move.actor_system, move.actor_user, move.at) == (
        "lead", "scoring", None, FIXED_NOW,
    )
    assert move.actor_label == "Scoring"

    assert (one_below.score, one_below.stage) == (29, "lead")
    assert one_below.became_mql_at is None
    assert scoring_moves(one_below) == []


def test_reaching_the_sql_threshold_marks_ready_for_sales_by_default(
    make_lead, fit_rule, set_scoring
):
    set_scoring(mql_threshold=30, sql_threshold=50)
    ready = make_lead(job_title="Chief Buyer")
    almost = make_lead(job_title="Buyer")
    fit_rule("job_title", "equals", "Chief Buyer", points=50)
    fit_rule("job_title", "equals", "Buyer", points=49)

    rescore(ready, almost)

    assert (ready.score, ready.stage) == (50, "mql")
    assert ready.ready_for_sales_at == FIXED_NOW
    assert ready.became_sql_at is None
    assert scoring_moves(ready) == [("lead", "mql", FIXED_NOW)]
    assert (almost.score, almost.stage) == (49, "mql")
    assert almost.ready_for_sales_at is None


def test_ready_for_sales_is_stamped_once(make_lead, fit_rule, set_scoring):
    set_scoring(mql_threshold=30, sql_threshold=50)
    lead = make_lead(job_title="Chief Buyer")
    fit_rule("job_title", "equals", "Chief Buyer", points=50)
    rescore(lead, now=days_ago(10))

    rescore(lead)

    assert lead.ready_for_sales_at == days_ago(10)


def test_with_sql_auto_promote_the_sql_threshold_moves_leads_to_sql(
    make_lead, fit_rule, set_scoring, rep
):
    # given
    set_scoring(mql_threshold=30, sql_threshold=50, sql_auto_promote=True)
    jumper = make_lead(job_title="Chief Buyer")  # in `lead`, over both thresholds
    mql = make_lead(job_title="Chief Buyer")
    lead_move_to_stage(lead=mql, to_stage="mql", actor=rep, at=days_ago(10))
    almost = make_lead(job_title="Buyer")
    fit_rule("job_title", "equals", "Chief Buyer", points=50)
    fit_rule("job_title", "equals", "Buyer", points=49)

    # when
    promoted = rescore(jumper, mql, almost)

    # then: one move each, straight to where the score says
    assert promoted == 3
    assert (jumper.stage, jumper.became_mql_at, jumper.became_sql_at) == (
        "sql", FIXED_NOW, FIXED_NOW,
    )
    assert scoring_moves(jumper) == [("lead", "sql", FIXED_NOW)]
    assert (mql.stage, mql.became_mql_at, mql.became_sql_at) == ("sql", days_ago(10), FIXED_NOW)
    assert scoring_moves(mql) == [("mql", "sql", FIXED_NOW)]
    assert almost.stage == "mql"
    assert scoring_moves(almost) == [("lead", "mql", FIXED_NOW)]


# --- never back ---------------------------------------------------------------------------------


def test_an_mql_whose_engagement_decays_stays_an_mql(make_lead, engagement_rule, set_scoring):
    set_scoring(mql_threshold=30)
    engagement_rule("demo_requested", 40)
    lead = make_lead()
    add_activities(lead, "demo_requested", 200)
    rescore(lead, now=days_ago(200))
    assert (lead.score, lead.stage) == (40, "mql")

    rescore(lead)  # 200 days later the demo request is worth 40 * 0.5 ** (200 / 30) = 0.4

    assert (lead.score, lead.stage) == (0, "mql")
    assert lead.became_mql_at == days_ago(200)
    assert scoring_moves(lead) == [("lead", "mql", days_ago(200))]


def test_an_mql_stays_an_mql_when_its_rule_is_deactivated(
    make_lead, fit_rule, set_scoring, admin_user
):
    set_scoring(mql_threshold=30)
    rule = fit_rule("job_title", "contains", "vp", points=40)
    lead = make_lead(job_title="VP Sales")
    rescore(lead, now=days_ago(5))
    assert lead.stage == "mql"

    rule.active = False
    scoring_rule_save(actor=admin_user, rule=rule)
    rescore(lead)

    assert (lead.score, lead.stage) == (0, "mql")
    assert breakdown(lead) == {}
    assert len(scoring_moves(lead)) == 1


def test_an_mql_stays_an_mql_when_its_rule_is_deleted(
    make_lead, fit_rule, set_scoring, admin_user
):
    set_scoring(mql_threshold=30)
    rule = fit_rule("job_title", "contains", "vp", points=40)
    lead = make_lead(job_title="VP Sales")
    rescore(lead, now=days_ago(5))

    scoring_rule_delete(actor=admin_user, rule=rule)
    rescore(lead)

    assert (lead.score, lead.stage) == (0, "mql")
    assert breakdown(lead) == {}


@pytest.mark.parametrize("auto_promote", [False, True])
def test_scoring_never_moves_a_lead_a_person_moved_further_or_closed(
    make_lead, fit_rule, set_scoring, manager, auto_promote
):
    # given: leads with a score far above both thresholds, moved or closed by a manager
    set_scoring(mql_threshold=30, sql_threshold=50, sql_auto_promote=auto_promote)
    opportunity = make_lead(job_title="VP")
    lead_move_to_stage(lead=opportunity, to_stage="opportunity", actor=manager, at=days_ago(10))
    disqualified = make_lead(job_title="VP")
    lead_disqualify(lead=disqualified, reason="Student", actor=manager, at=days_ago(10))
    fit_rule("job_title", "contains", "vp", points=100)

    # when
    promoted = rescore(opportunity, disqualified)

    # then
    assert promoted == 0
    assert (opportunity.score, opportunity.stage) == (100, "opportunity")
    assert opportunity.ready_for_sales_at is None
    assert (disqualified.score, disqualified.stage) == (100, "disqualified")
    assert disqualified.became_mql_at is None
    assert scoring_moves(opportunity) == scoring_moves(disqualified) == []


# --- idempotent and concurrent ------------------------------------------------------------------


def test_rescoring_twice_gives_the_same_result(
    make_lead, fit_rule, engagement_rule, set_scoring
):
    set_scoring(mql_threshold=20, sql_threshold=40)
    leads = [make_lead(job_title=title) for title in ("VP", "VP", "Intern", "Intern")]
    add_activities(leads[0], "page_view", 1, 2, 3, 40)
    add_activities(leads[1], "unsubscribed", 3)
    add_activities(leads[2], "page_view", 0, 0)
    fit_rule("job_title", "contains", "vp", points=20)
    engagement_rule("page_view", 5, cap=12)
    engagement_rule("unsubscribed", -30)

    first_promoted = rescore(*leads)
    first = snapshot(leads)
    second_promoted = rescore(*leads)

    assert first_promoted == 1
    assert second_promoted == 0
    assert snapshot(leads) == first
    assert [lead.score for lead in leads] == [32, -8, 10, 0]  # 20 + cap 12; 20 - 28; 5 + 5; 0
    assert [lead.stage for lead in leads] == ["mql", "lead", "lead", "lead"]


def _concurrent_setup(admin_user, rep, n_leads=6):
    """Leads over the MQL threshold once rescored. The rule is written directly: saving it through
    the service would rescore everything in the background before the threads start."""
    scoring_settings_update(actor=admin_user, mql_threshold=30)  # no leads yet: nothing to do
    leads = [LeadFactory(owner=rep, at=CREATED_AT, job_title="VP") for _ in range(n_leads)]
    leads.append(LeadFactory(owner=rep, at=CREATED_AT, job_title="Intern"))
    ScoringRule.objects.create(
        name="VPs", kind=RuleKind.FIT, field="job_title", operator="contains", value="vp",
        points=40,
    )
    return leads


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rescores_promote_each_lead_once(admin_user, rep):
    leads = _concurrent_setup(admin_user, rep)
    ids = [lead.pk for lead in leads]

    results = run_at_once(lambda i: leads_rescore(lead_ids=ids, now=FIXED_NOW), 4)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(results) == len(leads) - 1
    for lead in leads[:-1]:
        lead.refresh_from_db()
        assert (lead.score, lead.stage) == (40, "mql")
        assert scoring_moves(lead) == [("lead", "mql", FIXED_NOW)]
        assert breakdown(lead) == {"VPs": (40, 1)}
    assert scoring_moves(leads[-1]) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_background_run_executed_twice_at_once_runs_once(admin_user, rep):
    leads = _concurrent_setup(admin_user, rep)
    run = RescoreRun.objects.create(reason="test")

    results = run_at_once(lambda i: rescore_run_execute(run_id=run.pk, batch_size=3), 4)

    assert [r for r in results if isinstance(r, Exception)] == []
    run.refresh_from_db()
    assert (run.status, run.done, run.total, run.promoted) == ("done", 7, 7, 6)
    for lead in leads[:-1]:
        lead.refresh_from_db()
        assert lead.stage == "mql"
        assert len(scoring_moves(lead)) == 1


# --- background rescoring -----------------------------------------------------------------------


def test_saving_a_rule_rescores_every_lead_in_the_background(
    make_lead, admin_user, django_capture_on_commit_callbacks
):
    # given: five leads, three of them VPs
    leads = [make_lead(job_title=t) for t in ("VP Sales", "VP Ops", "Svp", "Intern", "CTO")]

    # when: an admin adds a rule (the task runs when the transaction commits)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        scoring_rule_save(
            actor=admin_user,
            rule=ScoringRule(
                name="VPs", kind=RuleKind.FIT, field="job_title", operator="contains",
                value="vp", points=60,
            ),
        )

    # then: the run is done, its progress is complete, and every lead has its new score
    assert len(callbacks) == 1
    run = rescore_run_latest()
    assert (run.status, run.done, run.total, run.promoted) == ("done", 5, 5, 3)
    assert run.percent == 100.0
    assert run.started_at is not None
    assert run.finished_at is not None
    assert "VPs" in run.reason
    for lead in leads:
        lead.refresh_from_db()
    assert [lead.score for lead in leads] == [60, 60, 60, 0, 0]
    assert [lead.stage for lead in leads] == ["mql", "mql", "mql", "lead", "lead"]


def test_changing_the_thresholds_rescores_every_lead_in_the_background(
    make_lead, fit_rule, admin_user, django_capture_on_commit_callbacks
):
    leads = [make_lead(job_title="VP"), make_lead(job_title="Intern")]
    with django_capture_on_commit_callbacks(execute=True):
        fit_rule("job_title", "contains", "vp", points=40)
    leads[0].refresh_from_db()
    assert (leads[0].score, leads[0].stage) == (40, "lead")  # below the default 50

    with django_capture_on_commit_callbacks(execute=True):
        scoring_settings_update(actor=admin_user, mql_threshold=40)

    run = rescore_run_latest()
    assert (run.status, run.done, run.total, run.promoted) == ("done", 2, 2, 1)
    assert RescoreRun.objects.count() == 2
    leads[0].refresh_from_db()
    assert leads[0].stage == "mql"


def test_a_background_run_reports_its_progress_batch_by_batch(make_lead, fit_rule):
    # given: a rule change whose run is queued but not started (its task waits for the commit)
    leads = [make_lead(job_title="VP") for _ in range(5)]
    fit_rule("job_title", "contains", "vp", points=5)
    run = RescoreRun.objects.get()
    assert (run.status, run.done) == ("queued", 0)

    # when
    seen = []

    def progress(done, total):
        stored = RescoreRun.objects.values_list("status", "done", "total").get(pk=run.pk)
        seen.append(((done, total), stored))

    rescore_run_execute(run_id=run.pk, batch_size=2, progress=progress)

    # then: each batch is reported and stored for the admin and the API to show
    assert seen == [
        ((2, 5), ("running", 2, 5)),
        ((4, 5), ("running", 4, 5)),
        ((5, 5), ("running", 5, 5)),
    ]
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == ("done", 5, 5)
    for lead in leads:
        lead.refresh_from_db()
        assert lead.score == 5


def test_executing_a_finished_run_again_changes_nothing(make_lead, fit_rule):
    leads = [make_lead(job_title="VP") for _ in range(3)]
    fit_rule("job_title", "contains", "vp", points=60)
    run = RescoreRun.objects.get()
    rescore_run_execute(run_id=run.pk)
    # A rule edited behind the service's back: executing the run again would show it, if it ran.
    ScoringRule.objects.update(points=5)
    before = (
        RescoreRun.objects.values().get(pk=run.pk),
        snapshot(leads),
        list(Lead.objects.order_by("pk").values_list("scored_at", flat=True)),
    )
    calls = []

    again = rescore_run_execute(run_id=run.pk, progress=lambda d, t: calls.append((d, t)))

    assert again.status == "done"
    assert calls == []
    assert (
        RescoreRun.objects.values().get(pk=run.pk),
        snapshot(leads),
        list(Lead.objects.order_by("pk").values_list("scored_at", flat=True)),
    ) == before
    assert {lead.score for lead in Lead.objects.all()} == {60}
    assert all(len(scoring_moves(lead)) == 1 for lead in leads)


def test_two_rule_changes_before_the_run_starts_share_one_run(fit_rule, make_lead):
    make_lead()
    fit_rule("job_title", "contains", "vp", points=10)
    fit_rule("job_title", "contains", "cto", points=10)

    assert RescoreRun.objects.count() == 1


# --- rescoring when a lead changes --------------------------------------------------------------


def test_creating_an_activity_rescores_the_lead_at_once(make_lead, engagement_rule, rep):
    rule = engagement_rule("demo_requested", 60)
    lead = make_lead()
    assert lead.score == 0

    activity_create(lead=lead, type="demo_requested", actor=rep)

    lead.refresh_from_db()
    assert lead.score == 60
    assert breakdown(lead) == {rule.name: (60, 1)}
    assert lead.stage == "mql"  # 60 reaches the default threshold of 50
    assert [m[:2] for m in scoring_moves(lead)] == [("lead", "mql")]


@pytest.mark.parametrize(
    ("rule", "before", "change"),
    [
        (("job_title", "contains", "director"), {"job_title": "Intern"},
         {"job_title": "Sales Director"}),
        (("email_domain", "equals", "acme.io"), {"email": "jo@example.com"},
         {"email": "jo@acme.io"}),
        (("channel", "equals", "events"), {"channel": "direct"},
         {"first_touch_channel": "events"}),
        (("industry", "equals", "fintech"), {"account__industry": "Retail"}, "new_account"),
    ],
    ids=["job_title", "email", "channel", "account"],
)
def test_changing_a_fit_field_rescores_the_lead(make_lead, fit_rule, rep, rule, before, change):
    fit_rule(*rule, points=25, name="Fit")
    lead = make_lead(**before)
    assert lead.score == 0
    if change == "new_account":
        change = {"account": AccountFactory(industry="FinTech")}

    lead_update(lead=lead, actor=rep, data=change)

    lead.refresh_from_db()
    assert lead.score == 25
    assert breakdown(lead) == {"Fit": (25, 1)}


def test_a_job_title_change_can_lower_the_score(make_lead, fit_rule, rep):
    fit_rule("job_title", "contains", "director", points=25)
    lead = make_lead(job_title="Director of Sales")
    assert lead.score == 25

    lead_update(lead=lead, actor=rep, data={"job_title": "Intern"})

    lead.refresh_from_db()
    assert lead.score == 0
    assert breakdown(lead) == {}


# --- who may configure scoring, and its history -------------------------------------------------


@pytest.mark.parametrize("who", ["rep", "marketer", "manager"])
def test_only_admins_change_rules_and_settings(request, admin_user, who):
    user = request.getfixturevalue(who)
    existing = scoring_rule_save(
        actor=admin_user,
        rule=ScoringRule(name="Demo", kind=RuleKind.ENGAGEMENT, activity_type="demo_requested",
                         points=30),
    )
    runs = RescoreRun.objects.count()

    with pytest.raises(PermissionDenied):
        scoring_rule_save(
            actor=user,
            rule=ScoringRule(name="Mine", kind=RuleKind.FIT, field="job_title",
                             operator="contains", value="vp", points=99),
        )
    existing.points = 1
    with pytest.raises(PermissionDenied):
        scoring_rule_save(actor=user, rule=existing)
    with pytest.raises(PermissionDenied):
        scoring_rule_delete(actor=user, rule=existing)
    with pytest.raises(PermissionDenied):
        scoring_settings_update(actor=user, mql_threshold=1)

    assert list(ScoringRule.objects.values_list("name", "points")) == [("Demo", 30)]
    assert scoring_settings_get().mql_threshold == 50
    assert not ScoringSettingsChange.objects.exists()
    assert RescoreRun.objects.count() == runs


def test_settings_history_records_before_after_and_who(admin_user):
    scoring_settings_update(actor=admin_user, mql_threshold=40, sql_auto_promote=True)
    scoring_settings_update(actor=admin_user, mql_threshold=40)  # no change, no history

    (change,) = ScoringSettingsChange.objects.all()
    assert change.changed_by == admin_user
    assert change.before == {
        "mql_threshold": 50, "sql_threshold": 80, "sql_auto_promote": False, "half_life_days": 30,
    }
    assert change.after == {
        "mql_threshold": 40, "sql_threshold": 80, "sql_auto_promote": True, "half_life_days": 30,
    }
    settings = scoring_settings_get()
    assert (settings.mql_threshold, settings.sql_auto_promote) == (40, True)


def test_settings_history_keeps_every_change_newest_first(admin_user):
    scoring_settings_update(actor=admin_user, half_life_days=14)
    scoring_settings_update(actor=admin_user, half_life_days=45)

    assert [(c.before["half_life_days"], c.after["half_life_days"])
            for c in ScoringSettingsChange.objects.all()] == [(14, 45), (30, 14)]


def test_an_sql_threshold_below_the_mql_threshold_is_refused(admin_user):
    with pytest.raises(ValidationError) as excinfo:
        scoring_settings_update(actor=admin_user, mql_threshold=60, sql_threshold=55)

    assert "sql_threshold" in excinfo.value.message_dict
    settings = scoring_settings_get()
    assert (settings.mql_threshold, settings.sql_threshold) == (50, 80)
    assert not ScoringSettingsChange.objects.exists()


def test_channel_rule_refuses_a_label_instead_of_a_channel_code(admin_user):
    from django.core.exceptions import ValidationError

    from leads.scoring.models import ScoringRule
    from leads.scoring.services import scoring_rule_save

    rule = ScoringRule(name="Paid", kind="fit", field="channel", operator="in",
                       value="Paid search, email", points=5)

    with pytest.raises(ValidationError) as excinfo:
        scoring_rule_save(actor=admin_user, rule=rule)

    assert "Unknown channel Paid search" in str(excinfo.value.message_dict["value"])
    assert not ScoringRule.objects.filter(name="Paid").exists()
