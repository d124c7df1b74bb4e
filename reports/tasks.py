from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError, OperationalError
from django.utils import timezone

from .services import worker_heartbeat_record

# Transient database trouble (a lost connection, a lock timeout, a failover) is retried with
# backoff; the work is idempotent, and acks_late hands it to another worker if this one dies.
RETRY = {
    "autoretry_for": (OperationalError, DatabaseError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(bind=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def worker_heartbeat_task(self, name: str = "worker") -> None:
    worker_heartbeat_record(hostname=self.request.hostname or "", name=name)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=540, time_limit=600, **RETRY)
def kpis_recompute_dirty_task() -> int:
    """Recompute the periods of the days marked dirty, until none is left."""
    from .snapshots import dirty_recompute

    total = 0
    while done := dirty_recompute():
        total += done
    return total


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1740, time_limit=1800, **RETRY)
def kpis_recompute_range_task(since: str, until: str | None = None) -> int:
    from datetime import date

    from .snapshots import snapshots_recompute_all

    return snapshots_recompute_all(
        since=date.fromisoformat(since), until=date.fromisoformat(until) if until else None
    )


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1740, time_limit=1800, **RETRY)
def kpis_recompute_recent_task(days: int = 35) -> int:
    """Beat's schedule: the recent periods, whatever was marked dirty."""
    from .snapshots import snapshots_recompute_all

    today = timezone.localdate()
    return snapshots_recompute_all(since=today - timedelta(days=days), until=today)
