"""Thin task wrappers: ids in, a service call, nothing returned."""

from celery import shared_task

from .scoring.models import RescoreRun
from .scoring.services import rescore_run_execute


@shared_task(acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def rescore_run_task(run_id: int) -> None:
    rescore_run_execute(run_id=run_id)


@shared_task(acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def scoring_decay_task() -> None:
    """Nightly: engagement points decay with time, so every score is recomputed."""
    run = RescoreRun.objects.create(reason="nightly decay")
    rescore_run_execute(run_id=run.pk)
