from celery import shared_task

from funnelcrm.celery import reliable

from .services import idempotency_keys_purge


@shared_task(ignore_result=True, **reliable(soft_time_limit=240, time_limit=300))
def idempotency_keys_purge_task() -> int:
    """Beat, hourly: delete the expired idempotency keys (safe to run twice or at once)."""
    return idempotency_keys_purge()
