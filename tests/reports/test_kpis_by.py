"""The grouped KPI API (`measures_compute_by`, `kpis_compute_by`): every key's numbers equal
`measures_compute` / `kpis_compute` of that key's own cut, whatever the dimension, mode,
attribution, reader and base cut, in a number of queries that does not grow with the keys."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from campaigns.attribution import touch_resolve
from campaigns.services import nurture_enrol, nurture_enrolment_close, nurture_workflow_create
from leads.selectors import lead_scope
from leads.services import activity_create, lead_touch_record
from reports.kpis import (
    DIMENSIONS,
    Cut,
    kpis_compute,
    kpis_compute_by,
    measures_compute,
    measures_compute_by,
)
from reports.periods import Period
from tests.factories import AccountFactory, CampaignFactory
from tests.reports.test_kpis import SYSTEM, at, lead_with, metric

pytestmark = pytest.mark.django_db

MARCH = Period(date(2025, 3, 1), date(2025, 3, 31))
FEBRUARY = Period(date(2025, 2, 1), date(2025, 2, 28))


@pytest.fixture
def mixed(rep, other_rep):
    """March 2025 (and some February) across two channels with campaigns and one without, CTAs,
    both reps: wins with contract values (two in paid search, for a median of two), a loss, a
    'Not interested' after a call, a reply, an engaged MQL, a nurture enrolment, a churned
    customer, and a lead whose last touch is another campaign than its first."""
    search = CampaignFactory(channel="paid_search", utm_campaign="search")
    newsletter = CampaignFactory(channel="email", utm_campaign="newsletter")
    churned = AccountFactory(churned_at=at(2025, 3, 25))
    lead_with(at(2025, 1, 5), ("won", at(2025, 1, 20)), campaign=search, owner=rep,
              account=churned, deal_amount=Decimal("12000"))
    lead_with(at(2025, 3, 2), ("won", at(2025, 3, 12)), campaign=search, owner=rep,
              cta="Demo request", deal_amount=Decimal("24000"))
    lead_with(at(2025, 2, 20), ("sql", at(2025, 2, 25)), ("won", at(2025, 3, 20)),
              campaign=search, owner=other_rep, cta="Demo request")
    returning = lead_with(at(2025, 3, 3), ("mql", at(2025, 3, 4)), campaign=search, owner=rep,
                          cta="Pricing guide")
    lead_touch_record(lead=returning, touch=touch_resolve(campaign=newsletter), actor=SYSTEM,
                      at=at(2025, 3, 5))
    activity_create(lead=returning, type="email_opened", actor=SYSTEM, at=at(2025, 3, 6))
    lost = lead_with(at(2025, 3, 4), ("sql", at(2025, 3, 5)), ("lost", at(2025, 3, 28), "Budget"),
                     campaign=newsletter, owner=other_rep, cta="Webinar")
    workflow = nurture_workflow_create(actor=SYSTEM, name="Onboarding", goal="Demo booked")
    enrolment = nurture_enrol(actor=SYSTEM, workflow=workflow, lead=lost, at=at(2025, 3, 6))
    nurture_enrolment_close(actor=SYSTEM, enrolment=enrolment, goal_reached_at=at(2025, 3, 9))
    called = lead_with(at(2025, 3, 8), channel="referral", owner=rep)
    activity_create(lead=called, type="call", actor=SYSTEM, at=at(2025, 3, 9))
    lead_with(at(2025, 3, 9), ("disqualified", at(2025, 3, 11), "Not interested"),
              channel="referral", owner=other_rep, cta="Webinar")
    replied = lead_with(at(2025, 2, 10), channel="referral", owner=other_rep)
    activity_create(lead=replied, type="call", actor=SYSTEM, at=at(2025, 3, 2))
    activity_create(lead=replied, type="reply", actor=SYSTEM, at=at(2025, 3, 3))
    for day in (date(2025, 2, 14), date(2025, 3, 3), date(2025, 3, 17)):
        metric(day, channel="paid_search", visitors=300, sessions=320, clicks=90,
               impressions=3000, spend="400.00")
        metric(day, channel="paid_search", campaign=search, visitors=120, clicks=40,
               impressions=1500, spend="250.00")
        metric(day, channel="email", visitors=80, emails_delivered=900, emails_opened=300,
               emails_clicked=45, spend="20.00")
        metric(day, channel="email", campaign=newsletter, emails_delivered=500,
               emails_opened=200, spend="15.00")
    return {"search": search, "newsletter": newsletter}


EXPECTED_KEYS = {  # first touch
    "channel": {"paid_search", "email", "referral"},
    "campaign": {"search", "newsletter", None},
    "cta": {"Demo request", "Pricing guide", "Webinar", None},
}


def _named(keys, mixed):
    ids = {c.pk: name for name, c in mixed.items()}
    return {ids.get(k, k) for k in keys}


@pytest.mark.parametrize("dimension", DIMENSIONS)
@pytest.mark.parametrize("mode", ["period", "cohort"])
@pytest.mark.parametrize("attribution", ["first", "last"])
def test_each_keys_kpis_equal_kpis_compute_of_its_cut(mixed, rep, dimension, mode, attribution):
    for scope in (Q(), lead_scope(rep)):
        # when
        grouped = kpis_compute_by(period=MARCH, dimension=dimension,
                                  cut=Cut(attribution=attribution), scope=scope, mode=mode)

        # then
        if attribution == "first" and not scope:
            assert _named(grouped, mixed) == EXPECTED_KEYS[dimension]
        assert len([k for k in grouped if k is not None]) >= (1 if scope else 2)
        for key, rows in grouped.items():
            if key is None:  # leads without a campaign or CTA: no cut names them
                continue
            cut = Cut(attribution=attribution, **{dimension: key})
            assert rows == kpis_compute(period=MARCH, cut=cut, scope=scope, mode=mode), key


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_every_measure_of_both_periods_equals_measures_compute(mixed, dimension):
    as_of = date(2025, 3, 15)

    grouped = measures_compute_by(periods=(MARCH, FEBRUARY), dimension=dimension, cut=Cut(),
                                  scope=Q(), as_of=as_of)

    checked = 0
    for key, (march, february) in grouped.items():
        if key is None:
            continue
        cut = Cut(**{dimension: key})
        assert march == measures_compute(period=MARCH, cut=cut, scope=Q(), as_of=as_of), key
        assert february == measures_compute(period=FEBRUARY, cut=cut, scope=Q(), as_of=as_of)
        checked += 1
    assert checked >= 2
    search = grouped["paid_search" if dimension == "channel" else
                     mixed["search"].pk if dimension == "campaign" else "Demo request"][0]
    assert search["won"] == 2
    assert search["cycle_median_days"] == pytest.approx(19.0)  # of 10 and 28 days


def test_a_base_cut_narrows_every_key(mixed, rep):
    by_owner = kpis_compute_by(period=MARCH, dimension="channel", cut=Cut(owner=rep.pk),
                               scope=Q(), mode="cohort")
    by_channel = kpis_compute_by(period=MARCH, dimension="campaign",
                                 cut=Cut(channel="paid_search"), scope=Q())

    for key in ("paid_search", "referral"):
        assert by_owner[key] == kpis_compute(period=MARCH, cut=Cut(owner=rep.pk, channel=key),
                                             scope=Q(), mode="cohort")
    search = mixed["search"].pk
    assert set(by_channel) == {search}
    assert by_channel[search] == kpis_compute(
        period=MARCH, cut=Cut(channel="paid_search", campaign=search), scope=Q())


def test_named_keys_without_rows_have_zero_counts_and_unknown_figures(mixed):
    quiet = CampaignFactory(channel="events")

    grouped = kpis_compute_by(period=MARCH, dimension="campaign", keys=[quiet.pk],
                              cut=Cut(), scope=Q())

    assert set(grouped) == {quiet.pk}
    assert grouped[quiet.pk] == kpis_compute(period=MARCH, cut=Cut(campaign=quiet.pk), scope=Q())
    values = {r["key"]: r["value"] for r in grouped[quiet.pk]}
    assert values["leads"] == 0
    assert values["visitors"] is None
    assert kpis_compute_by(period=MARCH, dimension="campaign", keys=[], cut=Cut(),
                           scope=Q()) == {}


def _queries(dimension):
    with CaptureQueriesContext(connection) as queries:
        grouped = kpis_compute_by(period=MARCH, dimension=dimension, cut=Cut(), scope=Q())
    return len(queries), len(grouped)


@pytest.mark.parametrize(("dimension", "expected"), [
    ("channel", 5), ("campaign", 5), ("cta", 4),  # leads, medians, figures, enrolments, won
])
def test_the_queries_do_not_grow_with_the_keys(mixed, dimension, expected):
    before, keys_before = _queries(dimension)

    for i, channel in enumerate(("events", "organic_social", "direct", "other")):
        campaign = CampaignFactory(channel=channel)
        for day in range(3):
            lead_with(at(2025, 3, 1 + day) + timedelta(hours=i), ("won", at(2025, 3, 20)),
                      campaign=campaign, cta=f"Offer {i}")
        metric(date(2025, 3, 10), channel=channel, visitors=10, spend="5.00")
        metric(date(2025, 3, 10), channel=channel, campaign=campaign, visitors=4, spend="2.00")
    after, keys_after = _queries(dimension)

    assert keys_after == keys_before + 4
    assert before == after == expected
