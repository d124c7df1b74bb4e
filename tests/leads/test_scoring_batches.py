"""Rescoring many leads at once (`leads_rescore`), the set-based write behind the importer and the
background rescore. On PostgreSQL it writes only what changed, in one statement; on SQLite it
replaces the breakdown. Both must give the same breakdowns, scores and `scored_at`.

Scores depend on time, so these tests rescore with fixed times and date activities before them.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from leads.actors import SystemActor
from leads.models import Lead
from leads.scoring.models import LeadScoreItem, RuleKind, ScoringRule
from leads.scoring.services import MANY_LEADS, MANY_LEADS_SETTINGS, leads_rescore, scoring_rule_save
from leads.services import activity_create, lead_update

pytestmark = pytest.mark.django_db

FIXED_NOW = datetime(2026, 3, 2, 9, 17, 23, tzinfo=UTC)
CREATED_AT = FIXED_NOW - timedelta(days=365)


def days_ago(days: float) -> datetime:
    return FIXED_NOW - timedelta(days=days)


@pytest.fixture
def make_lead(lead_factory, rep):
    def make(**kwargs):
        kwargs.setdefault("owner", rep)
        kwargs.setdefault("at", CREATED_AT)
        return lead_factory(**kwargs)

    return make


@pytest.fixture
def rule(admin_user):
    def make(name, points, **fields):
        kind = RuleKind.ENGAGEMENT if "activity_type" in fields else RuleKind.FIT
        rule = ScoringRule(name=name, kind=kind, points=points, **fields)
        return scoring_rule_save(actor=admin_user, rule=rule)

    return make


def rescore(*leads, now) -> int:
    promoted = leads_rescore(lead_ids=[lead.pk for lead in leads], now=now)
    for lead in leads:
        lead.refresh_from_db()
    return promoted


def breakdown(lead) -> dict[str, tuple[int, int]]:
    return {
        item.rule.name: (item.points, item.count)
        for item in LeadScoreItem.objects.filter(lead=lead).select_related("rule")
    }


def add_activity(lead, type_, at):
    activity_create(lead=lead, type=type_, actor=SystemActor.SYSTEM, at=at)


def test_one_rescore_keeps_changes_and_removes_breakdown_lines_across_its_leads(
    make_lead, rule, rep
):
    # given: two rules on page views, a rule worth 0 points, and three leads scored 40 days ago
    rule("VPs", 20, field="job_title", operator="contains", value="vp")
    rule("Germany", 5, field="country", operator="equals", value="DE")
    rule("Acme", 0, field="email_domain", operator="equals", value="acme.io")
    rule("Views", 10, activity_type="page_view")
    rule("Views, again", 1, activity_type="page_view")
    kept = make_lead(job_title="VP Sales", email="kept@acme.io", account__country="DE")
    dropped = make_lead(job_title="VP Ops", account__country="FR")
    added = make_lead(job_title="Intern", account=None)
    add_activity(kept, "page_view", days_ago(70))
    rescore(kept, dropped, added, now=days_ago(40))
    assert breakdown(kept) == {
        "VPs": (20, 1),
        "Germany": (5, 1),
        "Acme": (0, 1),
        "Views": (5, 1),
        "Views, again": (1, 1),
    }
    assert (kept.score, dropped.score, added.score) == (31, 20, 0)

    # when: the views decay, one lead stops being a VP, another starts viewing pages
    lead_update(lead=dropped, actor=rep, data={"job_title": "Intern"})
    add_activity(added, "page_view", days_ago(10))
    rescore(kept, dropped, added, now=FIXED_NOW)

    # then: 10 * 0.5 ** (70 / 30) = 1.98 and 0.2; 10 * 0.5 ** (10 / 30) = 7.94 and 0.79
    assert breakdown(kept) == {
        "VPs": (20, 1),
        "Germany": (5, 1),
        "Acme": (0, 1),
        "Views": (2, 1),
        "Views, again": (0, 1),
    }
    assert breakdown(dropped) == {}
    assert breakdown(added) == {"Views": (8, 1), "Views, again": (1, 1)}
    assert (kept.score, dropped.score, added.score) == (27, 0, 9)
    for lead in (kept, dropped, added):
        assert lead.score == sum(points for points, _ in breakdown(lead).values())


def test_scored_at_moves_only_when_the_score_changes(make_lead, rule, admin_user):
    # given: a VP and an intern, created before the rules so that nothing scored them yet
    vp = make_lead(job_title="VP Sales")
    intern = make_lead(job_title="Intern")
    vps = rule("VPs", 20, field="job_title", operator="contains", value="vp")
    rule("CTOs", 10, field="job_title", operator="equals", value="cto")

    # when / then: the first rescore scores the VP; the intern's 0 is no change
    rescore(vp, intern, now=days_ago(20))
    assert (vp.score, vp.scored_at) == (20, days_ago(20))
    assert (intern.score, intern.scored_at) == (0, None)

    # when / then: nothing changed, so neither is rescored "at" this time
    rescore(vp, intern, now=days_ago(10))
    assert (vp.score, vp.scored_at) == (20, days_ago(20))
    assert (intern.score, intern.scored_at) == (0, None)

    # when / then: the VP rule stops, while another rule still counts: the VP drops to 0
    vps.active = False
    scoring_rule_save(actor=admin_user, rule=vps)
    rescore(vp, intern, now=FIXED_NOW)
    assert (vp.score, vp.scored_at) == (0, FIXED_NOW)
    assert breakdown(vp) == {}
    assert (intern.score, intern.scored_at) == (0, None)


def test_unknown_and_repeated_ids_are_ignored(make_lead, rule):
    lead = make_lead(job_title="VP Sales")
    rule("VPs", 20, field="job_title", operator="contains", value="vp")

    promoted = leads_rescore(lead_ids=[lead.pk, lead.pk, lead.pk + 1000], now=FIXED_NOW)

    lead.refresh_from_db()
    assert (promoted, lead.score) == (0, 20)
    assert breakdown(lead) == {"VPs": (20, 1)}


def test_many_leads_cost_a_bounded_number_of_queries(
    make_lead, rule, django_assert_max_num_queries
):
    # given: enough leads for the settings of a big rescore, half of them VPs worth an MQL
    leads = [make_lead(job_title="VP" if i % 2 else "Intern") for i in range(MANY_LEADS + 20)]
    rule("VPs", 60, field="job_title", operator="contains", value="vp")
    rule("Views", 10, activity_type="page_view")
    add_activity(leads[0], "page_view", days_ago(0))

    # when: lock, rules, settings, the write, one promotion (and its KPI dirty day), whatever
    # the number of leads
    with django_assert_max_num_queries(15):
        promoted = leads_rescore(lead_ids=[lead.pk for lead in leads], now=FIXED_NOW)

    # then
    assert promoted == len(leads) // 2
    scores = dict(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("pk", "score")
    )
    assert scores == {
        lead.pk: (60 if i % 2 else 10 if i == 0 else 0) for i, lead in enumerate(leads)
    }
    stages = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("stage", flat=True)
    assert sorted(stages) == ["lead"] * (len(leads) // 2) + ["mql"] * (len(leads) // 2)


@pytest.mark.postgres
def test_a_big_rescore_leaves_the_connections_settings_as_they_were(make_lead, rule):
    leads = [make_lead(job_title="VP") for _ in range(MANY_LEADS)]
    rule("VPs", 20, field="job_title", operator="contains", value="vp")
    names = list(MANY_LEADS_SETTINGS)

    def settings():
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
            return cursor.fetchone()

    before = settings()
    leads_rescore(lead_ids=[lead.pk for lead in leads], now=FIXED_NOW)

    assert settings() == before
    assert set(Lead.objects.values_list("score", flat=True)) == {20}
