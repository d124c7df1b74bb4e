"""Worker faults, against real workers on Redis and PostgreSQL (issue 7, section 5):

- a worker SIGKILLed in the middle of a full KPI recompute: a new worker's beat reconcile finishes
  it, and the snapshots converge to the live numbers with no dirty day left;
- the same recompute enqueued 20 times at once, on two workers running five tasks each: the rows
  are those of a single run, and no two recompute runs ever held the grain locks at once.
"""

import re
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from funnelcrm.celery import app as celery_app
from reports.models import KPIDirtyDay, KPISnapshot
from tests.celery_workers import new_queue, redis_forget_queue, succeeded_spans, wait_for
from tests.conftest import TEST_REDIS_URL
from tests.factories import LeadFactory
from tests.reports.test_snapshots import assert_snapshots_equal_live, slices_for

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RANGE_TASK = "reports.tasks.kpis_recompute_range_task"
CHANNELS = ["organic_search", "paid_search", "email", "referral"]


@pytest.fixture
def queue(monkeypatch):
    name = new_queue()
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    yield name
    redis_forget_queue(TEST_REDIS_URL, name)


def send(queue: str, task: str, *args, times: int = 1) -> None:
    with celery_app.connection_for_write(url=TEST_REDIS_URL) as conn:
        for _ in range(times):
            celery_app.send_task(task, args=list(args), queue=queue, connection=conn)


def leads_over(days: int, every: int) -> tuple:
    """A lead every `every` days over the last `days` days, some moved on; no dirty day left."""
    today = timezone.localdate()
    for n in range(0, days, every):
        created = timezone.now() - timedelta(days=n, hours=n % 7)
        LeadFactory(at=created, channel=CHANNELS[n % 4], owner=None, account=None)
    KPIDirtyDay.objects.all().delete()
    return today - timedelta(days=days - 1), today


def dirty_count() -> int:
    return KPIDirtyDay.objects.count()


def assert_converged(since, until) -> None:
    for grain in ("day", "week", "month"):
        assert_snapshots_equal_live(grain, since, until, slices_for())


def snapshot_rows() -> set:
    return set(KPISnapshot.objects.values_list(
        "metric", "grain", "period_start", "dimension", "dimension_value", "period_end",
        "numerator", "denominator", "value", "version"))


def _lock_waiter(conn) -> int | None:
    """The backend (not `conn`'s) of this database waiting on a lock, if any."""
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'").fetchone()
    return row and row[0]


def _unclaimed(conn) -> int:
    """Dirty days no transaction holds."""
    return conn.execute("SELECT count(*) FROM (SELECT 1 FROM reports_kpidirtyday "
                        "FOR UPDATE SKIP LOCKED) AS free").fetchone()[0]


def _logs_after(pools, marks) -> list[str]:
    return [w.text()[mark:] for w, mark in zip(pools, marks, strict=True)]


def test_a_worker_killed_mid_recompute_is_finished_by_a_new_workers_reconcile(workers, queue):
    # given: ~300 days of leads, recomputed five days per transaction by worker A
    since, until = leads_over(300, every=3)
    total_days = (until - since).days + 1
    env = {"KPI_RECOMPUTE_BATCH_DAYS": "5", "KPI_DIRTY_STALE_AFTER": "1"}
    worker_a = workers(TEST_REDIS_URL, queue, name="a", env=env)

    # when: a full recompute starts, and some of its batches have committed
    send(queue, RANGE_TASK, since.isoformat(), until.isoformat())
    wait_for(lambda: 0 < dirty_count() < total_days, timeout=40, what="a first batch committed",
             workers=[worker_a], interval=0.01)
    # ... the next batch is held mid-transaction (its days claimed, its grain locks taken) by
    # locking the snapshot table against writes, and worker A is killed there
    s = connection.settings_dict
    dsn = f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} dbname={s['NAME']} " \
          f"user={s['USER']}" + (f" password={s['PASSWORD']}" if s["PASSWORD"] else "")
    with psycopg.connect(dsn, autocommit=True) as watcher, psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE reports_kpisnapshot IN EXCLUSIVE MODE")
        wait_for(lambda: _lock_waiter(watcher), timeout=20, what="worker A blocked mid-batch",
                 workers=[worker_a], interval=0.01)
        left = dirty_count()
        assert 0 < left < total_days, "the recompute finished before it could be interrupted"
        assert left - _unclaimed(watcher) == 5  # worker A holds its batch's days
        worker_a.kill()
        blocker.rollback()
        # its orphaned transaction is rolled back when its backend finds the client gone
        wait_for(lambda: _unclaimed(watcher) == left, timeout=20,
                 what="worker A's claims released")
    assert dirty_count() == left  # the killed batch's days are still dirty

    # then: a new worker, whose beat runs the reconcile every second, finishes the work
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.update(enabled=False)  # only ours, on our queue
    PeriodicTask.objects.create(name=f"reconcile {queue}", task="reports.tasks.kpis_reconcile_task",
                                interval=every_second, queue=queue)
    worker_b = workers(TEST_REDIS_URL, queue, name="b", beat=True, env=env)
    wait_for(lambda: dirty_count() == 0, timeout=40, what="no dirty day left",
             workers=[worker_b], interval=0.2)
    assert_converged(since, until)
    assert re.search(r"kpi reconcile: \d+ dirty day\(s\) older than", worker_b.text())


def test_the_same_recompute_enqueued_20_times_at_once_equals_one_run(workers, queue):
    # given: ~four months of leads, and their snapshots from a single run
    since, until = leads_over(120, every=2)
    # Ten days per transaction: concurrent runs claim different days, sharing weeks and months,
    # so only the grain locks keep them from running at once.
    env = {"KPI_RECOMPUTE_BATCH_DAYS": "10"}
    pools = [workers(TEST_REDIS_URL, queue, name=n, pool="threads", concurrency=5, env=env)
             for n in ("p", "q")]
    send(queue, RANGE_TASK, since.isoformat(), until.isoformat())
    wait_for(lambda: sum(len(succeeded_spans(w.text(), RANGE_TASK)) for w in pools) == 1,
             timeout=40, what="the single run", workers=pools)
    single = snapshot_rows()
    assert_converged(since, until)
    KPISnapshot.objects.all().delete()
    marks = [len(w.text()) for w in pools]

    # when: the same recompute is enqueued 20 times at once
    send(queue, RANGE_TASK, since.isoformat(), until.isoformat(), times=20)
    wait_for(lambda: sum(len(succeeded_spans(x, RANGE_TASK)) for x in _logs_after(pools, marks))
             == 20, timeout=55, what="20 runs succeeded", workers=pools, interval=0.2)
    texts = _logs_after(pools, marks)

    # then: the same rows as the single run, nothing left dirty, and the live numbers
    assert snapshot_rows() == single
    assert dirty_count() == 0
    assert_converged(since, until)
    # the tasks really ran side by side (up to ten at once) ...
    tasks = sorted(span for x in texts for span in succeeded_spans(x, RANGE_TASK))
    assert max(sum(1 for a, b in tasks if a <= start < b) for start, _ in tasks) >= 2
    # ... and their recompute runs took turns: no run began before the previous one finished
    runs = sorted(
        (float(m[1]), float(m[2])) for x in texts
        for m in re.finditer(r"kpi recompute run: .* started=([\d.]+) finished=([\d.]+)", x))
    assert len(runs) >= 12  # at least the range's twelve batches
    for (_, finished), (started, _) in zip(runs, runs[1:], strict=False):
        assert finished <= started
