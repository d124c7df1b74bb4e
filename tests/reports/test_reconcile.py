"""Recomputes that survive faults (reports/reconcile.py, README "Celery tasks"): a recompute cut
off halfway leaves its unfinished days dirty, beat's reconcile finishes them (and leaves fresh
days and days a running recompute holds alone), and transient errors are retried while bugs are
not. The real-worker versions (SIGKILL, 20 at once) are in test_celery_faults.py."""

import threading
from datetime import date, timedelta

import pytest
from django.db import IntegrityError, OperationalError, connections, transaction
from django.utils import timezone

from reports import reconcile
from reports.models import KPIDirtyDay, KPISnapshot
from reports.tasks import kpis_recompute_dirty_task, kpis_recompute_range_task, kpis_reconcile_task
from tests.factories import LeadFactory
from tests.reports.test_snapshots import assert_snapshots_equal_live, slices_for

pytestmark = pytest.mark.django_db

TODAY = date(2025, 6, 30)


def leads_over(days: int) -> list:
    """A lead every third day up to TODAY, from several channels."""
    channels = ["organic_search", "paid_search", "email"]
    return [
        LeadFactory(at=timezone.make_aware(timezone.datetime.combine(
            TODAY - timedelta(days=n), timezone.datetime.min.time())) + timedelta(hours=10),
            channel=channels[n % 3], owner=None, account=None)
        for n in range(0, days, 3)
    ]


def dirty_days() -> set:
    return set(KPIDirtyDay.objects.values_list("day", flat=True))


def age_dirty_days(minutes: int) -> None:
    KPIDirtyDay.objects.update(marked_at=timezone.now() - timedelta(minutes=minutes))


def assert_converged(since: date) -> None:
    for grain in ("day", "week", "month"):
        assert_snapshots_equal_live(grain, since, TODAY, slices_for())


def leads_on(day: date) -> float | None:
    row = KPISnapshot.objects.filter(metric="leads", grain="day", dimension="all",
                                     period_start=day).first()
    return row and row.value


def test_a_recompute_cut_off_halfway_is_finished_by_the_reconcile(settings, monkeypatch):
    # given: 60 days of leads, recomputed 10 days per transaction
    settings.KPI_RECOMPUTE_BATCH_DAYS = 10
    leads_over(60)
    KPIDirtyDay.objects.all().delete()
    since = TODAY - timedelta(days=59)
    real = reconcile.dirty_recompute
    calls = []

    def dies_on_the_third_batch(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise SystemExit("worker killed")  # not retried: a worker's death, not an error
        return real(**kwargs)

    monkeypatch.setattr(reconcile, "dirty_recompute", dies_on_the_third_batch)

    # when: the full recompute of the range dies on its third batch
    with pytest.raises(SystemExit):
        kpis_recompute_range_task.apply(args=[since.isoformat(), TODAY.isoformat()])

    # then: the two batches done are gone from the ledger, the other 40 days are still dirty
    assert len(dirty_days()) == 40
    assert min(dirty_days()) == since + timedelta(days=20)
    monkeypatch.setattr(reconcile, "dirty_recompute", real)

    # when: beat's reconcile runs while they are fresh, and again once they are stale
    kpis_reconcile_task.apply().get()
    assert len(dirty_days()) == 40  # fresh: their own task may still be on its way
    age_dirty_days(5)
    kpis_reconcile_task.apply().get()

    # then: nothing is left dirty and every period equals the live funnel
    assert dirty_days() == set()
    assert_converged(since)


def test_the_reconcile_leaves_days_younger_than_the_setting(settings):
    settings.KPI_DIRTY_STALE_AFTER = 120
    KPIDirtyDay.objects.create(day=TODAY)
    KPIDirtyDay.objects.create(day=TODAY - timedelta(days=1))
    KPIDirtyDay.objects.filter(day=TODAY).update(marked_at=timezone.now() - timedelta(seconds=90))
    KPIDirtyDay.objects.filter(day=TODAY - timedelta(days=1)).update(
        marked_at=timezone.now() - timedelta(seconds=150))

    assert kpis_reconcile_task.apply().get() == 1

    assert dirty_days() == {TODAY}


def test_a_transient_database_error_is_retried_and_a_bug_is_not(monkeypatch):
    lead = leads_over(1)[0]
    day = timezone.localdate(lead.became_lead_at)
    real = reconcile.dirty_recompute
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(reconcile, "dirty_recompute", flaky)
    # (throw=False: an eager task's retry then runs at once, where a worker would wait 0-5 s)
    assert kpis_recompute_dirty_task.apply(throw=False).get() == 1
    assert len(calls) == 3  # the failure, the day, the empty ledger
    assert leads_on(day) == 1

    # A bug fails at once, and the day stays dirty for a fixed release to recompute.
    KPIDirtyDay.objects.create(day=day)
    calls.clear()

    def broken(**kwargs):
        calls.append(1)
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(reconcile, "dirty_recompute", broken)
    result = kpis_recompute_dirty_task.apply(throw=False)
    assert result.state == "FAILURE"
    assert isinstance(result.result, IntegrityError)
    assert len(calls) == 1
    assert dirty_days() == {day}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_reconcile_skips_a_day_a_running_recompute_holds():
    # given: a stale dirty day, claimed (row-locked) by a recompute still running elsewhere
    lead = leads_over(1)[0]
    day = timezone.localdate(lead.became_lead_at)
    age_dirty_days(5)
    claimed, release = threading.Event(), threading.Event()

    def running_recompute():
        try:
            with transaction.atomic():
                list(KPIDirtyDay.objects.select_for_update().filter(day=day))
                claimed.set()
                release.wait(20)
        finally:
            connections.close_all()

    holder = threading.Thread(target=running_recompute)
    holder.start()
    try:
        assert claimed.wait(20)
        # when: the reconcile runs meanwhile
        done = kpis_reconcile_task.apply().get()
    finally:
        release.set()
        holder.join(20)

    # then: it left the held day alone (no second recompute of it at once) ...
    assert done == 0
    assert dirty_days() == {day}
    # ... and takes it once the holder is gone without deleting it (its worker died)
    assert kpis_reconcile_task.apply().get() == 1
    assert dirty_days() == set()
    assert leads_on(day) == 1
    assert_converged(day)
