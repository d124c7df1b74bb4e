"""Rescore runs that lose their worker or their message (leads/scoring/services.py,
`rescore_runs_reconcile`; beat, every five minutes): nothing stays "running" or "queued" forever,
and the scores end up right. And a transient database error mid-run is retried by the task."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from leads.models import Lead
from leads.scoring import services
from leads.scoring.models import RescoreRun, RuleKind, ScoringRule
from leads.tasks import rescore_run_task, rescore_runs_reconcile_task, scoring_decay_task
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

RUNNING_FOR = timedelta(seconds=rescore_run_task.time_limit + 60)


@pytest.fixture
def vps():
    """Three leads that score 40 once rescored (the rule is written directly, so that nothing
    rescored them yet)."""
    leads = [LeadFactory(job_title="VP Sales", owner=None) for _ in range(3)]
    ScoringRule.objects.create(name="VPs", kind=RuleKind.FIT, field="job_title",
                               operator="contains", value="vp", points=40)
    return leads


def scores() -> list[int]:
    return list(Lead.objects.order_by("pk").values_list("score", flat=True))


def stuck_run(*, started_ago: timedelta, reason: str = "rule edit") -> RescoreRun:
    """A run a worker claimed `started_ago` and never finished."""
    run = RescoreRun.objects.create(reason=reason)
    started = timezone.now() - started_ago
    RescoreRun.objects.filter(pk=run.pk).update(
        status=RescoreRun.Status.RUNNING, started_at=started, requested_at=started, total=3, done=1)
    run.refresh_from_db()
    return run


def test_a_run_whose_worker_died_is_failed_and_retried_once(
    vps, django_capture_on_commit_callbacks
):
    run = stuck_run(started_ago=RUNNING_FOR + timedelta(minutes=1))
    assert scores() == [0, 0, 0]

    with django_capture_on_commit_callbacks(execute=True):  # eager: the retry's task runs
        rescore_runs_reconcile_task.apply().get()

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("worker lost")
    retry = RescoreRun.objects.exclude(pk=run.pk).get()
    assert (retry.status, retry.reason) == ("done", f"retry of #{run.pk}: its worker stopped")
    assert scores() == [40, 40, 40]

    # A retry that dies too is failed and left for an admin: no endless retries.
    RescoreRun.objects.filter(pk=retry.pk).update(
        status="running", started_at=timezone.now() - RUNNING_FOR - timedelta(minutes=1))
    rescore_runs_reconcile_task.apply().get()
    assert RescoreRun.objects.get(pk=retry.pk).status == "failed"
    assert RescoreRun.objects.count() == 2


def test_a_run_still_within_its_time_limit_is_left_running(vps):
    run = stuck_run(started_ago=RUNNING_FOR - timedelta(minutes=2))

    rescore_runs_reconcile_task.apply().get()

    run.refresh_from_db()
    assert (run.status, run.done) == ("running", 1)
    assert RescoreRun.objects.count() == 1


def test_a_dead_run_with_a_later_run_is_failed_without_a_retry(vps):
    run = stuck_run(started_ago=RUNNING_FOR + timedelta(minutes=1))
    later = RescoreRun.objects.create(reason="later edit", status="done")

    rescore_runs_reconcile_task.apply().get()

    assert RescoreRun.objects.get(pk=run.pk).status == "failed"
    assert set(RescoreRun.objects.values_list("pk", flat=True)) == {run.pk, later.pk}


def test_a_queued_run_whose_message_was_lost_is_sent_again(vps):
    run = RescoreRun.objects.create(reason="rule edit")  # its task never reached a worker
    RescoreRun.objects.filter(pk=run.pk).update(requested_at=timezone.now() - timedelta(minutes=11))
    fresh = RescoreRun.objects.create(reason="just now")

    rescore_runs_reconcile_task.apply().get()

    assert RescoreRun.objects.get(pk=run.pk).status == "done"
    assert RescoreRun.objects.get(pk=fresh.pk).status == "queued"  # its own task is on its way
    assert scores() == [40, 40, 40]


def test_a_transient_error_mid_run_is_retried_and_a_bug_fails_the_run(vps, monkeypatch):
    real = services.leads_rescore
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("could not receive data from server")
        return real(**kwargs)

    monkeypatch.setattr(services, "leads_rescore", flaky)
    run = RescoreRun.objects.create(reason="rule edit")

    rescore_run_task.apply(args=[run.pk], throw=False).get()

    run.refresh_from_db()
    assert (run.status, run.done, run.total) == ("done", 3, 3)
    assert "could not receive data" in run.error  # the retried error stays visible
    assert scores() == [40, 40, 40]

    def broken(**kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(services, "leads_rescore", broken)
    run = RescoreRun.objects.create(reason="another edit")
    result = rescore_run_task.apply(args=[run.pk], throw=False)
    run.refresh_from_db()
    assert result.state == "FAILURE"
    assert (run.status, run.error) == ("failed", "ValueError('a bug')")


def test_the_nightly_decay_requests_one_run_even_if_delivered_twice(
    vps, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as queued:
        scoring_decay_task.apply().get()
        scoring_decay_task.apply().get()  # a redelivery

    assert len(queued) == 1

    assert list(RescoreRun.objects.values_list("reason", "status")) == [("nightly decay", "done")]
    assert scores() == [40, 40, 40]
