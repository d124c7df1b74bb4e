"""Thin task wrappers: ids in, a service call, nothing returned. Options: README, "Celery
tasks" (`funnelcrm.celery.reliable`)."""

from datetime import timedelta

from celery import shared_task

from funnelcrm.celery import reliable

from .scoring.services import rescore_run_execute, rescore_run_request, rescore_runs_reconcile

RESCORE = reliable(soft_time_limit=25 * 60, time_limit=30 * 60)


@shared_task(ignore_result=True, **RESCORE)
def rescore_run_task(run_id: int) -> None:
    rescore_run_execute(run_id=run_id)


@shared_task(ignore_result=True, **reliable(soft_time_limit=50, time_limit=60))
def scoring_decay_task() -> None:
    """Nightly: engagement points decay with time, so every score is recomputed, by a rescore run
    (a run queued in the last minute covers this one too, so a redelivery adds none)."""
    rescore_run_request(reason="nightly decay")


@shared_task(ignore_result=True, **reliable(soft_time_limit=50, time_limit=60))
def rescore_runs_reconcile_task() -> None:
    """Beat, every five minutes: fail (and retry once) the runs whose worker died, resend the
    runs whose message was lost."""
    rescore_runs_reconcile(
        running_for=timedelta(seconds=rescore_run_task.time_limit + 60),
        queued_for=timedelta(minutes=10),
    )
