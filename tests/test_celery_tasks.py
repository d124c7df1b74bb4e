"""Every registered task's options (README, "Celery tasks"): acknowledged late, time-limited,
retried with backoff and jitter on transient database and broker errors and on nothing else; and
every beat entry names such a task."""

import pytest
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

from funnelcrm.celery import app

app.loader.import_default_modules()
OURS = sorted(name for name in app.tasks if not name.startswith("celery."))
# Redelivering a heartbeat whose worker died is pointless: beat sends the next in a minute.
NOT_REDELIVERED = {"reports.tasks.worker_heartbeat_task"}


def test_the_tasks_are_registered():
    # Every registered task, these and any added later, gets the checks below.
    assert set(OURS) >= {
        "leads.tasks.rescore_run_task",
        "leads.tasks.rescore_runs_reconcile_task",
        "leads.tasks.scoring_decay_task",
        "reports.tasks.kpis_reconcile_task",
        "reports.tasks.kpis_recompute_dirty_task",
        "reports.tasks.kpis_recompute_range_task",
        "reports.tasks.kpis_recompute_recent_task",
        "reports.tasks.worker_heartbeat_task",
    }


@pytest.mark.parametrize("name", OURS)
def test_a_task_is_acked_late_and_time_limited(name):
    task = app.tasks[name]

    assert task.acks_late is True
    assert task.reject_on_worker_lost is (name not in NOT_REDELIVERED)
    assert 0 < task.soft_time_limit < task.time_limit <= 30 * 60
    # Redis redelivers an unacknowledged message after the visibility timeout: it must outlast
    # the longest run, or a healthy task would be handed to a second worker.
    assert task.time_limit < app.conf.broker_transport_options.get("visibility_timeout", 3600)


@pytest.mark.parametrize("name", OURS)
def test_a_task_retries_transient_errors_with_backoff_and_only_those(name):
    task = app.tasks[name]

    for transient in (OperationalError, InterfaceError, BrokerError, RedisConnectionError):
        assert issubclass(transient, task.autoretry_for), transient
    for bug in (DatabaseError, IntegrityError, ProgrammingError, DataError, ValueError, KeyError,
                TypeError, AttributeError):
        assert not issubclass(bug, task.autoretry_for), bug
    assert task.retry_backoff == 5
    assert task.retry_jitter is True
    assert 0 < task.retry_backoff_max <= 300
    assert 0 < task.max_retries <= 8


@pytest.mark.django_db
def test_every_beat_entry_names_a_registered_task():
    entries = dict(PeriodicTask.objects.exclude(task__startswith="celery.")
                   .values_list("name", "task"))

    assert entries.items() >= {
        "Worker heartbeat": "reports.tasks.worker_heartbeat_task",
        "Recompute recent KPI snapshots": "reports.tasks.kpis_recompute_recent_task",
        "Reconcile lost KPI recomputes": "reports.tasks.kpis_reconcile_task",
        "Reconcile stale rescore runs": "leads.tasks.rescore_runs_reconcile_task",
        "Nightly score decay": "leads.tasks.scoring_decay_task",
    }.items()
    assert "Recompute dirty KPI days" not in entries  # became the reconcile
    assert set(entries.values()) <= set(OURS)
    reconcile = PeriodicTask.objects.get(name="Reconcile lost KPI recomputes")
    rescores = PeriodicTask.objects.get(name="Reconcile stale rescore runs")
    assert (reconcile.enabled, reconcile.interval.every, reconcile.interval.period) == (
        True, 60, "seconds")
    assert (rescores.enabled, rescores.interval.every, rescores.interval.period) == (
        True, 300, "seconds")
