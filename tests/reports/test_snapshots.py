"""KPI snapshots (issue 5, section 4; PRODUCT.md, "KPI snapshots"): the funnel KPIs per day, week
and month, for every lead and per channel, campaign and owner, kept by idempotent upserts and by
dirty days; `recompute_kpis`; `GET /api/v1/kpis/`; the beat schedules.

The reference is the live engine (`reports.kpis.funnel_compute`): a snapshot must equal it to the
last digit. Times are in Europe/Berlin, whose days, weeks and months are not UTC's.
"""

import importlib
import io
import json
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.models import Channel
from campaigns.services import daily_metric_delete, daily_metric_upsert, daily_metrics_bulk_upsert
from leads import roles
from leads.actors import SystemActor
from leads.imports import leads_import
from leads.models import Lead
from leads.services import lead_assign_owner, lead_move_to_stage, lead_update
from reports import snapshots
from reports.kpis import FUNNEL_KPIS, VERSION, Cut, funnel_compute
from reports.models import KPIDirtyDay, KPISnapshot
from reports.periods import Period, grain_periods
from reports.snapshots import dirty_recompute, snapshots_recompute
from tests.factories import CampaignFactory, LeadFactory, UserFactory
from tests.threads import run_at_once

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
SYSTEM = SystemActor.SYSTEM
GRAINS = ("day", "week", "month")


@pytest.fixture(autouse=True)
def _berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def at(year, month, day, hour=12, minute=0, second=0, microsecond=0) -> datetime:
    """An instant in Berlin local time."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=BERLIN)


def lead_with(created, *moves, **fields) -> Lead:
    """A lead created at `created`, then moved by the lifecycle service: (stage, when[, reason])."""
    fields.setdefault("account", None)
    fields.setdefault("owner", None)
    lead = LeadFactory(at=created, **fields)
    for stage, when, *reason in moves:
        lead = lead_move_to_stage(
            lead=lead, to_stage=stage, actor=SYSTEM, at=when, reason=reason[0] if reason else ""
        )
    return lead


# --- live against snapshot ----------------------------------------------------------------------

COUNTS = {"leads": "lead", "visitors": "visitors", "mql": "mql", "sql": "sql",
          "opportunity": "opportunity", "won": "won"}
RATIOS = {"visitor_to_lead": ("lead", "visitors"), "lead_to_mql": ("mql", "lead"),
          "mql_to_sql": ("sql", "mql"), "sql_to_opportunity": ("opportunity", "sql"),
          "opportunity_to_won": ("won", "opportunity")}


def live_rows(period: Period, cut: Cut) -> dict:
    """{metric: (numerator, denominator, value)} of the live funnel, in period mode."""
    live = funnel_compute(period=period, cut=cut, scope=Q())
    figures = {**live["counts"], "visitors": live["visitors"]}
    rows = {metric: (figures[name], None, figures[name]) for metric, name in COUNTS.items()}
    for metric, (numerator, denominator) in RATIOS.items():
        rows[metric] = (figures[numerator], figures[denominator], live["rates"][metric])
    assert set(rows) == set(FUNNEL_KPIS)
    return rows


def stored_rows(grain: str, start: date, end: date) -> dict:
    """{(period_start, dimension, dimension_value): {metric: KPISnapshot}} of the periods of
    `grain` touching [start, end]."""
    starts = [p.start for p in grain_periods(grain, start, end)]
    rows: dict = defaultdict(dict)
    for row in KPISnapshot.objects.filter(grain=grain, period_start__in=starts):
        rows[(row.period_start, row.dimension, row.dimension_value)][row.metric] = row
    return rows


def slices_for(campaigns=(), owners=()) -> list[tuple[str, str, Cut]]:
    return [
        ("all", "", Cut()),
        *(("channel", c, Cut(channel=c)) for c in Channel.values),
        *(("campaign", str(c.pk), Cut(campaign=c.pk)) for c in campaigns),
        *(("owner", str(u.pk), Cut(owner=u.pk)) for u in owners),
    ]


# A slice's row in a period without any of its data.
EMPTY = {
    **dict.fromkeys(COUNTS, (0, None, 0)),
    "visitors": (None, None, None),
    "visitor_to_lead": (0, None, None),
    **{metric: (0, 0, None) for metric in RATIOS if metric != "visitor_to_lead"},
}


def assert_snapshots_equal_live(grain: str, start: date, end: date, slices, quiet=None) -> None:
    """Every period of `grain` touching [start, end] and every slice: the stored numerator,
    denominator and value equal the live funnel's exactly (floats with ==). A campaign or owner
    without data in a period may have no row. `quiet(period, dimension, value)` names the periods
    and slices the test put no data in: they are not read live, and their rows must be EMPTY, as
    must any row of a slice not in `slices`."""
    stored = stored_rows(grain, start, end)
    for period in grain_periods(grain, start, end):
        for dimension, value, cut in slices:
            where = (grain, str(period.start), dimension, value)
            rows = stored.pop((period.start, dimension, value), None)
            if quiet and quiet(period, dimension, value):
                expected = EMPTY
            else:
                expected = live_rows(period, cut)
            if rows is None:
                assert dimension in ("campaign", "owner"), where
                assert expected == EMPTY, (where, expected)
                continue
            assert {(r.period_end, r.version) for r in rows.values()} == {(period.end, VERSION)}
            got = {m: (r.numerator, r.denominator, r.value) for m, r in rows.items()}
            assert got == expected, where
            for metric, (_, _, number) in got.items():
                assert number is None or type(number) is float, (where, metric)
    for key, rows in stored.items():
        got = {m: (r.numerator, r.denominator, r.value) for m, r in rows.items()}
        assert got == EMPTY, (grain, key)


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back():
    """Whatever the block writes is undone, so that hypothesis's examples start alike."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


# Two weeks, Monday 2025-03-24 to Sunday 2025-04-06: a month end and the spring DST change
# (Sunday 2025-03-30, a 23-hour day whose 02:00-03:00 does not exist in Berlin). Short, because
# every example recomputes and reads back each of its days.
WINDOW = (date(2025, 3, 24), date(2025, 4, 6))
WINDOW_DAYS = (WINDOW[1] - WINDOW[0]).days + 1
EDGES = [
    clock(0, 0), clock(0, 0, 0, 1), clock(0, 59, 59), clock(1, 0), clock(2, 30), clock(22, 59, 59),
    clock(23, 0), clock(23, 50), clock(23, 59, 59), clock(23, 59, 59, 999999),
]
FORWARD = ["mql", "sql", "opportunity", "won"]
EXITS = {"lost": ("sql", "opportunity"), "disqualified": ("lead", "mql", "sql")}
# Where a lead comes from: a channel, or one of the two campaigns (paid_search, email).
SOURCES = [("channel", "organic_search"), ("channel", "paid_search"), ("channel", "email"),
           ("channel", "referral"), ("campaign", 0), ("campaign", 1)]
# A metric row: a channel's own row, or a campaign's (its channel, its index).
METRIC_TARGETS = [("paid_search", None), ("email", None), ("referral", None),
                  ("paid_search", 0), ("email", 1)]

def berlin(day: int, t: clock) -> datetime:
    """The instant at local time `t` on the window's `day`-th day."""
    return datetime.combine(WINDOW[0] + timedelta(days=day), t, tzinfo=BERLIN)


instants = st.builds(
    berlin, st.integers(0, WINDOW_DAYS - 1), st.one_of(st.sampled_from(EDGES), st.times())
)


@st.composite
def lead_histories(draw) -> dict:
    stages = sorted(draw(st.sets(st.sampled_from(FORWARD), max_size=4)), key=FORWARD.index)
    times = sorted(draw(st.lists(instants, min_size=len(stages) + 1, max_size=len(stages) + 1)))
    last = stages[-1] if stages else "lead"
    exits = [e for e, allowed in EXITS.items() if last in allowed]
    exit_ = draw(st.sampled_from([None, *exits]))
    return {
        "created": times[0], "moves": list(zip(stages, times[1:], strict=True)), "exit": exit_,
        "source": draw(st.sampled_from(SOURCES)), "owner": draw(st.sampled_from([None, 0, 1])),
    }


metric_rows = st.lists(
    st.tuples(
        st.integers(0, WINDOW_DAYS - 1), st.sampled_from(METRIC_TARGETS),
        st.one_of(st.none(), st.integers(0, 5000)),
    ),
    max_size=12,
)


@pytest.fixture
def world(db):
    """Two campaigns (paid_search, email) and two reps, shared by every hypothesis example."""
    campaigns = [CampaignFactory(channel="paid_search"), CampaignFactory(channel="email")]
    owners = [UserFactory(role=roles.SALES_REP), UserFactory(role=roles.SALES_REP)]
    return {"campaigns": campaigns, "owners": owners, "slices": slices_for(campaigns, owners)}


def build(world: dict, histories: list[dict], metrics: list) -> dict:
    """Write the leads and metric rows; returns {(dimension, value): the local days it has data
    on}, for every slice the data touches."""
    busy: dict = defaultdict(set)
    for history in histories:
        kind, source = history["source"]
        if kind == "channel":
            origin = {"channel": source}
        else:
            origin = {"campaign": world["campaigns"][source], "channel": None}
        owner = None if history["owner"] is None else world["owners"][history["owner"]]
        moves = list(history["moves"])
        if history["exit"]:
            when = moves[-1][1] if moves else history["created"]
            moves.append((history["exit"], when, "No budget"))
        lead = lead_with(history["created"], *moves, owner=owner, **origin)
        days = {t.date() for t in (history["created"], *(w for _, w, *_ in moves))}
        touched = [("all", ""), ("channel", lead.first_touch_channel)]
        if lead.first_touch_campaign_id:
            touched.append(("campaign", str(lead.first_touch_campaign_id)))
        if owner:
            touched.append(("owner", str(owner.pk)))
        for slice_ in touched:
            busy[slice_] |= days
    for offset, (channel, campaign), visitors in metrics:
        day = WINDOW[0] + timedelta(days=offset)
        values = {"visitors": visitors} if visitors is not None else {"sessions": 1}
        campaign = None if campaign is None else world["campaigns"][campaign]
        daily_metric_upsert(actor=SYSTEM, date=day, channel=channel, campaign=campaign,
                            values=values)
        # A channel's own row is its total; a campaign's row counts for the campaign only.
        for slice_ in [("all", ""), ("channel", channel)] if campaign is None else [
            ("campaign", str(campaign.pk))
        ]:
            busy[slice_].add(day)
    return busy


@hypothesis_settings(
    max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories=st.lists(lead_histories(), max_size=12), metrics=metric_rows)
def test_snapshots_equal_the_live_funnel(world, histories, metrics):
    """Leads created and moved at random Berlin instants (day and month edges, the DST change,
    skipped stages, exits), visitors for some channel and campaign days: after a recompute of each
    grain, every snapshot row equals the live funnel of its period and slice. To keep this fast,
    a slice is not read live for a day it has no data on, nor at all when it has none: its rows
    must then be empty."""
    with rolled_back():
        # given
        busy = build(world, histories, metrics)

        def quiet(period, dimension, value):
            days = busy.get((dimension, value), set())
            return not days or (period.days == 1 and period.start not in days)

        for grain in GRAINS:
            # when
            snapshots_recompute(grain=grain, start=WINDOW[0], end=WINDOW[1])
            # then
            assert_snapshots_equal_live(grain, *WINDOW, world["slices"], quiet)


# --- idempotent upserts -------------------------------------------------------------------------

MARCH = (date(2025, 3, 1), date(2025, 3, 31))


def snapshot_table() -> list[tuple]:
    """Every stored column but computed_at, the id included (an upsert keeps its row)."""
    columns = [f.attname for f in KPISnapshot._meta.concrete_fields if f.name != "computed_at"]
    return sorted(KPISnapshot.objects.values_list(*columns))


def recompute(start: date, end: date, now: datetime | None = None) -> None:
    for grain in GRAINS:
        snapshots_recompute(grain=grain, start=start, end=end, now=now)


def test_recomputing_twice_leaves_identical_rows(rep):
    # given
    campaign = CampaignFactory(channel="email")
    lead_with(at(2025, 3, 31, 23, 50), ("sql", at(2025, 4, 1, 0, 10)), owner=rep,
              campaign=campaign)
    lead_with(at(2025, 3, 1, 0, 0), ("won", at(2025, 3, 14)), channel="referral")
    daily_metric_upsert(actor=SYSTEM, date=date(2025, 3, 31), channel="email", campaign=campaign,
                        values={"visitors": 70})
    first_run, second_run = at(2026, 1, 1), at(2026, 1, 2)
    recompute(*MARCH, now=first_run)
    first = snapshot_table()
    # when
    recompute(*MARCH, now=second_run)
    # then: nothing changed, so nothing was rewritten
    assert snapshot_table() == first
    assert set(KPISnapshot.objects.values_list("computed_at", flat=True)) == {first_run}
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, *MARCH, slices_for([campaign], [rep]))


def test_a_recompute_rewrites_only_the_rows_whose_numbers_changed(rep):
    # given
    lead_with(at(2025, 3, 10), ("mql", at(2025, 3, 11)), owner=rep, channel="referral")
    first_run, second_run = at(2026, 1, 1), at(2026, 1, 2)
    recompute(*MARCH, now=first_run)
    # when: a second lead on March 20th
    lead_with(at(2025, 3, 20), owner=rep, channel="referral")
    recompute(*MARCH, now=second_run)
    # then: the rows it changed say when they were computed; the others still say when theirs were
    rewritten = set(KPISnapshot.objects.filter(computed_at=second_run).values_list(
        "metric", "grain", "period_start", "dimension"))
    march, week_of_the_20th, the_20th = date(2025, 3, 1), date(2025, 3, 17), date(2025, 3, 20)
    periods = [("day", the_20th), ("week", week_of_the_20th), ("month", march)]
    assert rewritten == {
        # the figures made of leads, where the slice had rows
        *((metric, grain, start, dimension)
          for metric in ("leads", "visitor_to_lead", "lead_to_mql")
          for grain, start in periods
          for dimension in ("all", "channel", "owner")),
        # and every metric of the owner's new day and week slices
        *((metric, grain, start, "owner")
          for metric in FUNNEL_KPIS for grain, start in periods[:2]),
    }
    month = KPISnapshot.objects.get(metric="lead_to_mql", grain="month", dimension="all")
    assert month.value == 0.5
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, *MARCH, slices_for(owners=[rep]))


def test_a_slice_its_last_lead_left_is_written_back_to_zero(rep, other_rep):
    # given: the only lead of a campaign, an owner and a channel
    campaign = CampaignFactory(channel="email")
    lead = lead_with(at(2025, 3, 10), ("mql", at(2025, 3, 11)), owner=rep, campaign=campaign)
    recompute(*MARCH)
    mql = {"metric": "mql", "grain": "month", "period_start": date(2025, 3, 1)}
    assert KPISnapshot.objects.get(**mql, dimension="owner", dimension_value=str(rep.pk)).value == 1
    # when: it moves to another owner, channel and no campaign
    lead = lead_assign_owner(lead=lead, owner=other_rep, actor=SYSTEM)
    lead_update(lead=lead, actor=SYSTEM,
                data={"first_touch_campaign": None, "first_touch_channel": "referral"})
    recompute(*MARCH)
    # then: the slices it left are zero, not what they were
    for dimension, value in [("owner", str(rep.pk)), ("campaign", str(campaign.pk)),
                             ("channel", "email")]:
        row = KPISnapshot.objects.get(**mql, dimension=dimension, dimension_value=value)
        assert (row.numerator, row.value) == (0, 0)
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, *MARCH, slices_for([campaign], [rep, other_rep]))


# --- dirty days ---------------------------------------------------------------------------------


def dirty_days() -> set[date]:
    return set(KPIDirtyDay.objects.values_list("day", flat=True))


@pytest.fixture
def clean_slate():
    """Forget the dirty days the test's set-up wrote."""

    def clear():
        KPIDirtyDay.objects.all().delete()

    return clear


def test_a_new_lead_marks_its_berlin_day(db):
    # 00:30 in Berlin on 1 April is still 31 March in UTC.
    lead_with(at(2025, 4, 1, 0, 30))
    assert dirty_days() == {date(2025, 4, 1)}


def test_a_move_marks_the_day_it_happens(clean_slate):
    lead = lead_with(at(2025, 3, 1, 9))
    clean_slate()
    # A move over skipped stages (mql, sql) at 00:15 on 2 March, 1 March in UTC.
    lead_move_to_stage(lead=lead, to_stage="opportunity", actor=SYSTEM, at=at(2025, 3, 2, 0, 15))
    assert dirty_days() == {date(2025, 3, 2)}


def test_an_owner_change_marks_every_day_the_lead_is_counted_on(clean_slate, other_rep):
    lead = lead_with(at(2025, 3, 5, 23, 30), ("mql", at(2025, 3, 20, 0, 5)))
    clean_slate()
    lead_assign_owner(lead=lead, owner=other_rep, actor=SYSTEM)
    assert dirty_days() == {date(2025, 3, 5), date(2025, 3, 20)}


def test_a_channel_edit_marks_the_lead_days_and_other_edits_mark_none(clean_slate):
    lead = lead_with(at(2025, 3, 5, 23, 30), ("sql", at(2025, 3, 31, 23, 59, 59)))
    clean_slate()
    lead = lead_update(lead=lead, actor=SYSTEM, data={"job_title": "CTO"})
    assert dirty_days() == set()
    lead_update(lead=lead, actor=SYSTEM, data={"first_touch_channel": "events"})
    assert dirty_days() == {date(2025, 3, 5), date(2025, 3, 31)}


IMPORT_CSV = (
    "email,became_lead_at,stage,became_mql_at,channel\n"
    "new@example.com,2025-03-10 00:30,mql,2025-03-12 23:45,email\n"
    "old@example.com,,mql,2025-03-15 00:15,\n"
)


ENGINES = ["python", pytest.param("sql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_import_marks_the_days_of_the_leads_it_creates_and_moves(clean_slate, engine):
    lead_with(at(2025, 3, 3, 12), email="old@example.com")
    clean_slate()
    report = leads_import(file=io.StringIO(IMPORT_CSV), format="csv", engine=engine)
    assert (report.created, report.updated, report.rejected) == (1, 1, [])
    # Berlin days; in UTC the first and the last would be the 9th and the 14th.
    assert dirty_days() == {date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 12),
                            date(2025, 3, 15)}


def test_metric_writes_mark_their_day(clean_slate):
    metric, _ = daily_metric_upsert(actor=SYSTEM, date=date(2025, 3, 9), channel="email",
                                    values={"visitors": 5})
    assert dirty_days() == {date(2025, 3, 9)}
    clean_slate()
    daily_metrics_bulk_upsert(actor=SYSTEM, rows=[
        (date(2025, 3, 9), "email", None, {"visitors": 6}),
        (date(2025, 3, 11), "referral", None, {"visitors": 1}),
    ])
    assert dirty_days() == {date(2025, 3, 9), date(2025, 3, 11)}
    clean_slate()
    daily_metric_delete(actor=SYSTEM, metric=metric)
    assert dirty_days() == {date(2025, 3, 9)}


@pytest.mark.parametrize("engine", ENGINES)
def test_recomputing_the_dirty_days_brings_every_snapshot_back_to_live(rep, other_rep, engine):
    # given: snapshots of March, then every kind of change to March's data
    campaign = CampaignFactory(channel="paid_search")
    moved = lead_with(at(2025, 3, 2, 0, 15), owner=rep)
    reassigned = lead_with(at(2025, 3, 6, 23, 59), ("mql", at(2025, 3, 7, 0, 0)), owner=rep)
    edited = lead_with(at(2025, 3, 16, 8), campaign=campaign, owner=other_rep)
    lead_with(at(2025, 3, 3, 12), email="old@example.com", owner=rep)
    recompute(*MARCH)
    KPIDirtyDay.objects.all().delete()

    lead_move_to_stage(lead=moved, to_stage="sql", actor=SYSTEM, at=at(2025, 3, 23, 23, 30))
    lead_with(at(2025, 3, 29, 23, 59, 59, 999999), ("mql", at(2025, 3, 30, 2, 30)))  # DST day
    lead_assign_owner(lead=reassigned, owner=other_rep, actor=SYSTEM)
    lead_update(lead=edited, actor=SYSTEM,
                data={"first_touch_campaign": None, "first_touch_channel": "events"})
    leads_import(file=io.StringIO(IMPORT_CSV), format="csv", engine=engine)
    daily_metric_upsert(actor=SYSTEM, date=date(2025, 3, 31), channel="paid_search",
                        campaign=campaign, values={"visitors": 40})
    daily_metric_upsert(actor=SYSTEM, date=date(2025, 3, 1), channel="events",
                        values={"visitors": 9})
    dirty = dirty_days()
    # when
    assert dirty_recompute() == len(dirty)
    # then
    assert dirty_days() == set()
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, *MARCH, slices_for([campaign], [rep, other_rep]))


@pytest.mark.postgres
def test_dirty_weeks_and_months_are_summed_from_whole_stored_days(monkeypatch, rep):
    # given: March's snapshots, so its days are stored; a spy on the recompute statements
    lead = lead_with(at(2025, 3, 11), owner=rep, channel="email")
    lead_with(at(2025, 3, 5), ("mql", at(2025, 3, 12)), owner=rep, channel="referral")
    recompute(*MARCH)
    KPIDirtyDay.objects.all().delete()
    statements = []
    real = snapshots._recompute_sql

    def spy(ranges, now, *, from_days=False):
        statements.append((sorted(ranges), from_days))
        return real(ranges, now, from_days=from_days)

    monkeypatch.setattr(snapshots, "_recompute_sql", spy)
    # when: the lead moves on March 12th
    lead_move_to_stage(lead=lead, to_stage="mql", actor=SYSTEM, at=at(2025, 3, 12, 15))
    dirty_recompute()
    # then: the day is rolled up from the leads, its week and month summed from the days
    assert statements == [(["day"], False), (["month", "week"], True)]
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, *MARCH, slices_for(owners=[rep]))

    # given: a day of March missing from the stored days
    KPISnapshot.objects.filter(grain="day", period_start=date(2025, 3, 5)).delete()
    statements.clear()
    # when
    lead_move_to_stage(lead=lead, to_stage="sql", actor=SYSTEM, at=at(2025, 3, 13, 9))
    dirty_recompute()
    # then: the month is rolled up from the leads; the week of the 10th still sums its days
    assert statements == [(["day"], False), (["month"], False), (["week"], True)]
    for grain in ("week", "month"):
        assert_snapshots_equal_live(grain, *MARCH, slices_for(owners=[rep]))
    assert_snapshots_equal_live("day", date(2025, 3, 6), MARCH[1], slices_for(owners=[rep]))


def test_a_failed_recompute_leaves_its_days_dirty(monkeypatch):
    lead_with(at(2025, 3, 31, 23, 30), ("mql", at(2025, 4, 1, 0, 30)))
    marked = dirty_days()

    def write_then_fail(*args, **kwargs):
        assert real(*args, **kwargs) > 0
        assert KPISnapshot.objects.exists()
        raise RuntimeError("worker lost")

    real = snapshots.snapshots_recompute_periods
    monkeypatch.setattr(snapshots, "snapshots_recompute_periods", write_then_fail)
    with pytest.raises(RuntimeError):
        dirty_recompute()
    # Nothing of the failed run stays: its days are dirty, its first rows are gone.
    assert dirty_days() == marked == {date(2025, 3, 31), date(2025, 4, 1)}
    assert not KPISnapshot.objects.exists()
    monkeypatch.undo()
    assert dirty_recompute() == 2
    assert dirty_days() == set()
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, date(2025, 3, 31), date(2025, 4, 1), slices_for())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_marked_while_its_day_is_recomputed_is_recomputed_again(monkeypatch):
    # given: a dirty day, whose recompute computes and then holds its transaction open
    day = date(2025, 3, 12)
    lead_with(at(2025, 3, 12, 9))
    assert dirty_days() == {day}
    computed, release = threading.Event(), threading.Event()
    real = snapshots._recompute_run

    def computed_then_held(start, end):
        real(start, end)
        computed.set()
        release.wait(10)

    monkeypatch.setattr(snapshots, "_recompute_run", computed_then_held)

    def recompute_then_close():
        try:
            dirty_recompute()
        finally:
            connection.close()

    worker = threading.Thread(target=recompute_then_close)
    worker.start()
    assert computed.wait(10)
    # when: a second lead of that day commits before the recompute does
    lead_with(at(2025, 3, 12, 15))
    release.set()
    worker.join(10)
    # then: its mark outlived the recompute, and the next one counts both leads
    assert dirty_days() == {day}
    assert KPISnapshot.objects.get(metric="leads", grain="day", dimension="all").value == 1
    monkeypatch.undo()
    assert dirty_recompute() == 1
    assert KPISnapshot.objects.get(metric="leads", grain="day", dimension="all").value == 2
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, day, day, slices_for())


def test_a_committed_change_is_recomputed_by_the_task(settings, django_capture_on_commit_callbacks):
    # given: the production setting (tests turn it off); tasks run eagerly in tests
    settings.KPI_RECOMPUTE_ON_COMMIT = True
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        lead_with(at(2025, 3, 31, 23, 50), ("opportunity", at(2025, 4, 1, 0, 10)))
    # then
    assert callbacks
    assert dirty_days() == set()
    day = {"metric": "leads", "grain": "day", "dimension": "all"}
    assert KPISnapshot.objects.get(**day, period_start=date(2025, 3, 31)).value == 1
    assert KPISnapshot.objects.get(**day, period_start=date(2025, 4, 1)).value == 0
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, date(2025, 3, 31), date(2025, 4, 1), slices_for())


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


def snapshot_rows_by_value() -> list[tuple]:
    """Every column but the id."""
    columns = [f.attname for f in KPISnapshot._meta.concrete_fields if not f.primary_key]
    return sorted(KPISnapshot.objects.values_list(*columns))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_recomputes_of_a_grain_take_turns(monkeypatch, rep):
    # given
    campaign = CampaignFactory(channel="email")
    lead_with(at(2025, 3, 31, 23, 50), ("sql", at(2025, 4, 1, 0, 10)), owner=rep,
              campaign=campaign)
    lead_with(at(2025, 3, 3), ("mql", at(2025, 3, 4)), channel="referral")
    now = at(2026, 1, 1)
    spans = []
    real = snapshots._recompute_sql

    def slow_recompute(*args, **kwargs):
        began = time.monotonic()
        time.sleep(0.3)  # long enough for the other thread to arrive
        result = real(*args, **kwargs)
        spans.append((began, time.monotonic()))
        return result

    monkeypatch.setattr(snapshots, "_recompute_sql", slow_recompute)
    # when
    results = run_at_once(
        lambda i: snapshots_recompute(grain="day", start=MARCH[0], end=date(2025, 4, 2), now=now),
        2,
    )
    # then: both succeeded, one after the other (the advisory lock), with the rows a single
    # run leaves
    assert results[0] == results[1] > 0, results
    (first_began, first_ended), (second_began, _) = sorted(spans)
    assert second_began >= first_ended
    together = snapshot_rows_by_value()
    monkeypatch.undo()
    KPISnapshot.objects.all().delete()
    snapshots_recompute(grain="day", start=MARCH[0], end=date(2025, 4, 2), now=now)
    assert together == snapshot_rows_by_value()
    assert_snapshots_equal_live("day", MARCH[0], date(2025, 4, 2), slices_for([campaign], [rep]))


# --- recompute_kpis -----------------------------------------------------------------------------


@pytest.fixture
def recent_lead(db):
    """A lead created two days ago and an MQL yesterday; the command's range starts three days
    before this month, so that it spans a month's end."""
    now = timezone.now()
    lead = lead_with(now - timedelta(days=2), ("mql", now - timedelta(days=1)))
    since = timezone.localdate().replace(day=1) - timedelta(days=3)
    return lead, since


def leads_on_the_day(lead: Lead) -> float:
    return KPISnapshot.objects.get(
        metric="leads", grain="day", dimension="all",
        period_start=timezone.localdate(lead.became_lead_at),
    ).value


def test_recompute_kpis_sync_writes_the_rows_and_says_how_many(recent_lead, capsys):
    lead, since = recent_lead
    today = timezone.localdate()
    out = io.StringIO()
    call_command("recompute_kpis", "--sync", "--since", since.isoformat(), stdout=out)
    assert out.getvalue() == (
        f"Recomputed {KPISnapshot.objects.count():,} snapshot rows from {since} to {today}.\n"
    )
    assert "Recomputing KPI snapshots" in capsys.readouterr().err  # the progress bar
    assert leads_on_the_day(lead) == 1
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, since, today, slices_for())


def test_recompute_kpis_without_sync_queues_a_task_per_month(recent_lead):
    lead, since = recent_lead
    today = timezone.localdate()
    out = io.StringIO()
    call_command("recompute_kpis", "--since", since.isoformat(), stdout=out)
    assert out.getvalue().startswith(f"Queued 2 recompute task(s) from {since} to {today};")
    # CELERY_TASK_ALWAYS_EAGER: the queued tasks ran.
    assert leads_on_the_day(lead) == 1
    for grain in GRAINS:
        assert_snapshots_equal_live(grain, since, today, slices_for())


@pytest.mark.parametrize("since", ["2025-13-01", "yesterday", "2999-01-01"])
def test_recompute_kpis_refuses_a_bad_since(db, since):
    with pytest.raises(CommandError, match="^--since: "):
        call_command("recompute_kpis", "--sync", "--since", since, stdout=io.StringIO())
    assert not KPISnapshot.objects.exists()


# --- GET /api/v1/kpis/ --------------------------------------------------------------------------

URL = "/api/v1/kpis/"
Q1 = {"start": "2025-01-01", "end": "2025-03-31"}
ROW_KEYS = ["metric", "grain", "period_start", "period_end", "dimension", "channel", "campaign",
            "owner", "numerator", "denominator", "value", "computed_at"]


@pytest.fixture
def snapshots_q1(rep, other_rep):
    """Month and day snapshots of 2025's first quarter: two leads of `rep` (one from a campaign),
    one of `other_rep`, visitors on the campaign and its channel."""
    campaign = CampaignFactory(channel="paid_search")
    lead_with(at(2025, 1, 31, 23, 50), ("mql", at(2025, 2, 1, 0, 10)), owner=rep,
              campaign=campaign)
    lead_with(at(2025, 3, 3), owner=rep, channel="email")
    lead_with(at(2025, 3, 4), ("sql", at(2025, 3, 5)), owner=other_rep, channel="email")
    for day, visitors in [(date(2025, 1, 31), 300), (date(2025, 3, 2), 100)]:
        daily_metric_upsert(actor=SYSTEM, date=day, channel="paid_search", values={
            "visitors": visitors})
        daily_metric_upsert(actor=SYSTEM, date=day, channel="paid_search", campaign=campaign,
                            values={"visitors": visitors // 2})
    snapshots_recompute(grain="month", start=date(2025, 1, 1), end=date(2025, 3, 31),
                        now=at(2026, 1, 1, 3, 15))
    return {"campaign": campaign}


@pytest.fixture
def days_q1(snapshots_q1):
    """... and the quarter's 90 days."""
    snapshots_recompute(grain="day", start=date(2025, 1, 1), end=date(2025, 3, 31))
    return snapshots_q1


def test_snapshot_rows_have_the_contract_shape(manager, api_as, snapshots_q1):
    response = api_as(manager).get(URL, {"metric": "visitor_to_lead", **Q1})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["count", "next", "previous", "results"]
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    january = body["results"][0]
    assert list(january) == ROW_KEYS
    assert january == {
        "metric": "visitor_to_lead", "grain": "month", "period_start": "2025-01-01",
        "period_end": "2025-01-31", "dimension": "all", "channel": None, "campaign": None,
        "owner": None, "numerator": 1.0, "denominator": 300.0, "value": 1 / 300,
        "computed_at": "2026-01-01T03:15:00+01:00",
    }
    assert [(r["period_start"], r["numerator"], r["denominator"], r["value"])
            for r in body["results"][1:]] == [("2025-02-01", 0.0, None, None),
                                              ("2025-03-01", 2.0, 100.0, 0.02)]


def test_snapshot_rows_by_channel_campaign_and_owner(manager, rep, api_as, snapshots_q1):
    client, campaign = api_as(manager), snapshots_q1["campaign"]

    by_channel = client.get(URL, {"metric": "leads", "channel": "email", **Q1}).json()["results"]
    assert [(r["dimension"], r["channel"], r["campaign"], r["value"]) for r in by_channel] == [
        ("channel", "email", None, 0.0), ("channel", "email", None, 0.0),
        ("channel", "email", None, 2.0)]

    by_campaign = client.get(URL, {"metric": "visitors", "campaign": campaign.pk, **Q1}).json()
    # February: the campaign's lead became an MQL, no figures (null, not 0).
    assert [(r["dimension"], r["campaign"], r["channel"], r["value"])
            for r in by_campaign["results"]] == [("campaign", campaign.pk, None, 150.0),
                                                 ("campaign", campaign.pk, None, None),
                                                 ("campaign", campaign.pk, None, 50.0)]

    owners = client.get(URL, {"metric": "leads", "dimension": "owner", **Q1}).json()["results"]
    assert {(r["period_start"], r["owner"], r["value"]) for r in owners} >= {
        ("2025-01-01", rep.pk, 1.0), ("2025-03-01", rep.pk, 1.0)}
    owner_visitors = client.get(URL, {"metric": "visitors", "dimension": "owner", **Q1}).json()
    assert {r["value"] for r in owner_visitors["results"]} == {None}  # no figures per owner

    everyone = client.get(URL, {"metric": "leads", "dimension": "all", **Q1}).json()["results"]
    assert [r["value"] for r in everyone] == [1.0, 0.0, 2.0]


def test_snapshot_rows_are_paginated(manager, api_as, days_q1):
    client = api_as(manager)
    first = client.get(URL, {"metric": "leads", "grain": "day", **Q1}).json()
    assert first["count"] == 90
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert first["next"].endswith("page=2") or "page=2" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 40
    assert second["next"] is None
    days = [r["period_start"] for r in first["results"] + second["results"]]
    assert days == sorted(set(days))
    assert len(days) == 90


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"metric": "cac"}, "metric"),
        ({"metric": "leads", "start": "2025-03-01", "end": "2025-02-28"}, "end"),
        ({"metric": "leads", "grain": "year"}, "grain"),
        ({"metric": "leads", "channel": "email", "campaign": "CAMPAIGN"}, "campaign"),
        ({"metric": "leads", "dimension": "owner", "channel": "email"}, "dimension"),
        ({"metric": "leads", "dimension": "campaign", "channel": "email"}, "dimension"),
        ({"metric": "leads", "channel": "telepathy"}, "channel"),
        ({"metric": "leads", "campaign": "999999"}, "campaign"),
        ({"metric": "leads", "start": "March"}, "start"),
    ],
)
def test_bad_parameters_get_a_400_naming_them(manager, api_as, params, named):
    params = {**Q1, **params}
    if params.get("campaign") == "CAMPAIGN":
        params["campaign"] = CampaignFactory(channel="email").pk
    response = api_as(manager).get(URL, params)
    assert response.status_code == 400
    assert list(response.json()) == [named]


def test_a_rep_reads_only_their_own_owner_slice(rep, other_rep, api_as, snapshots_q1):
    client = api_as(rep)
    mine = client.get(URL, {"metric": "leads", "dimension": "owner", **Q1}).json()
    assert {r["owner"] for r in mine["results"]} == {rep.pk}
    assert [r["value"] for r in mine["results"]] == [1.0, 0.0, 1.0]
    for params in [{"dimension": "all"}, {}, {"channel": "email"},
                   {"campaign": snapshots_q1["campaign"].pk}, {"owner": other_rep.pk}]:
        response = client.get(URL, {"metric": "leads", **Q1, **params})
        assert response.status_code == 200
        assert response.json()["count"] == 0, params


def test_a_manager_reads_every_slice(manager, rep, other_rep, api_as, snapshots_q1):
    owners = api_as(manager).get(URL, {"metric": "sql", "dimension": "owner", **Q1}).json()
    assert {r["owner"] for r in owners["results"]} == {rep.pk, other_rep.pk}
    march = [r for r in owners["results"] if r["period_start"] == "2025-03-01"]
    assert {(r["owner"], r["value"]) for r in march} == {(rep.pk, 0.0), (other_rep.pk, 1.0)}


def test_the_snapshot_list_needs_a_login(api_client, db):
    assert api_client.get(URL, {"metric": "leads", **Q1}).status_code in (401, 403)


def test_the_snapshot_list_runs_a_fixed_number_of_queries(
    manager, api_as, days_q1, django_assert_max_num_queries
):
    client = api_as(manager)
    campaign = days_q1["campaign"]
    with django_assert_max_num_queries(5):  # token, permissions (2), count, page
        response = client.get(URL, {"metric": "leads", "grain": "day", **Q1})
    assert len(response.json()["results"]) == 50
    with django_assert_max_num_queries(6):  # ... and the campaign
        response = client.get(URL, {"metric": "leads", "grain": "day", "campaign": campaign.pk,
                                    **Q1})
    assert response.json()["count"] == 3  # the campaign's days with data


# --- beat schedules -----------------------------------------------------------------------------


def test_the_beat_schedules_exist_and_name_real_tasks(db):
    from funnelcrm.celery import app

    schedules = importlib.import_module("reports.migrations.0004_kpi_schedules")
    reconcile = importlib.import_module("reports.migrations.0005_reconcile_schedules")
    app.loader.import_default_modules()
    nightly = PeriodicTask.objects.get(name=schedules.NIGHTLY)
    dirty = PeriodicTask.objects.get(name=reconcile.KPIS)  # 0004's entry, renamed
    assert nightly.enabled
    assert dirty.enabled
    assert (nightly.crontab.minute, nightly.crontab.hour) == ("15", "3")
    assert (dirty.interval.every, dirty.interval.period) == (60, "seconds")
    for entry in (nightly, dirty):
        assert entry.task in app.tasks, entry.task
    # What beat would send runs: the nightly one recomputes the recent periods.
    lead = lead_with(timezone.now() - timedelta(days=1))
    app.tasks[nightly.task].apply(kwargs=json.loads(nightly.kwargs)).get()
    assert leads_on_the_day(lead) == 1
    assert dirty_days() == set()
    # The every-minute reconcile recomputes a day whose recompute was lost (marked long ago).
    lead_with(lead.became_lead_at)
    KPIDirtyDay.objects.update(marked_at=timezone.now() - timedelta(minutes=5))
    app.tasks[dirty.task].apply(kwargs=json.loads(dirty.kwargs or "{}")).get()
    assert leads_on_the_day(lead) == 2
    assert dirty_days() == set()
