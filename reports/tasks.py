"""Thin task wrappers (README, "Celery tasks"). Each is idempotent (recompute-and-upsert through
the dirty-day ledger, or an upsert), acknowledged late, time-limited, and retried with backoff on
transient database or broker errors only (`funnelcrm.celery.reliable`)."""

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from funnelcrm.celery import reliable

from .services import worker_heartbeat_record

# A heartbeat a worker died on is not worth redelivering (beat sends the next one in a minute);
# retries stop well before then.
HEARTBEAT = reliable(soft_time_limit=50, time_limit=60, max_retries=3, retry_backoff_max=20,
                     reject_on_worker_lost=False)
RECOMPUTE = reliable(soft_time_limit=1740, time_limit=1800)


@shared_task(bind=True, ignore_result=True, **HEARTBEAT)
def worker_heartbeat_task(self, name: str = "worker") -> None:
    worker_heartbeat_record(hostname=self.request.hostname or "", name=name)


@shared_task(ignore_result=True, **RECOMPUTE)
def kpis_recompute_dirty_task() -> int:
    """After a commit that marked days dirty: recompute them, until none is left."""
    from .reconcile import dirty_drain

    return dirty_drain(limit=settings.KPI_RECOMPUTE_BATCH_DAYS)


@shared_task(ignore_result=True, **RECOMPUTE)
def kpis_reconcile_task() -> int:
    """Beat, every minute: recompute the dirty days whose recompute was lost."""
    from .reconcile import dirty_reconcile

    return dirty_reconcile(stale_after=timedelta(seconds=settings.KPI_DIRTY_STALE_AFTER),
                           limit=settings.KPI_RECOMPUTE_BATCH_DAYS)


@shared_task(ignore_result=True, **RECOMPUTE)
def kpis_recompute_range_task(since: str, until: str | None = None) -> int:
    from .reconcile import snapshots_recompute_range

    return snapshots_recompute_range(
        since=date.fromisoformat(since),
        until=date.fromisoformat(until) if until else timezone.localdate(),
        limit=settings.KPI_RECOMPUTE_BATCH_DAYS,
    )


@shared_task(ignore_result=True, **RECOMPUTE)
def kpis_recompute_recent_task(days: int = 35) -> int:
    """Beat, nightly: the recent periods, whatever was marked dirty."""
    from .reconcile import snapshots_recompute_range

    today = timezone.localdate()
    return snapshots_recompute_range(since=today - timedelta(days=days), until=today,
                                     limit=settings.KPI_RECOMPUTE_BATCH_DAYS)
