"""Writes of scoring: rules and settings (which start a background rescore), scores and their
breakdowns, and the automatic forward moves that thresholds cause."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from funnelcrm.celery import TRANSIENT_ERRORS

from ..actors import Actor, SystemActor, is_user
from ..models import Lead
from ..services import leads_promote
from ..sql import IdBatch, local_settings
from ..stages import Stage
from .engine import scores_write
from .models import LeadScoreItem, RescoreRun, ScoringRule, ScoringSettings, ScoringSettingsChange

SETTINGS_FIELDS = ("mql_threshold", "sql_threshold", "sql_auto_promote", "half_life_days")
BATCH_SIZE = 2000

# A rescore of this many leads or more runs with these PostgreSQL settings. Plans that follow the
# batch through the indexes, so that a batch costs what its leads cost whatever the size of the
# tables: without fresh statistics (after a bulk load, or with autovacuum off) the planner scans
# whole tables for a batch of a few thousand leads. No JIT compilation, which the statements'
# estimated cost triggers and which costs more than it saves. Memory for their sorts and hashes.
MANY_LEADS = 100
MANY_LEADS_SETTINGS = {"enable_seqscan": "off", "jit": "off", "work_mem": "64MB"}


def scoring_settings_get() -> ScoringSettings:
    settings, _ = ScoringSettings.objects.get_or_create(pk=1)
    return settings


def _ensure_admin(actor: Actor) -> None:
    if is_user(actor) and not actor.has_perm("leads.change_scoringrule"):
        raise PermissionDenied("Only admins configure scoring.")


# --- configuration ------------------------------------------------------------------------------


@transaction.atomic
def scoring_settings_update(*, actor: Actor, **changes) -> ScoringSettings:
    """Change thresholds or decay; keeps the history and rescores every lead in the background."""
    _ensure_admin(actor)
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"Unknown scoring settings: {sorted(unknown)}")
    settings = ScoringSettings.objects.select_for_update().get(pk=scoring_settings_get().pk)
    before = model_to_dict(settings, fields=SETTINGS_FIELDS)
    for name, value in changes.items():
        setattr(settings, name, value)
    settings.full_clean()
    after = model_to_dict(settings, fields=SETTINGS_FIELDS)
    if after == before:
        return settings
    settings.save(update_fields=[*changes, "updated_at"])
    ScoringSettingsChange.objects.create(
        changed_by=actor if is_user(actor) else None, before=before, after=after
    )
    rescore_run_request(reason="scoring settings changed")
    return settings


@transaction.atomic
def scoring_rule_save(*, actor: Actor, rule: ScoringRule) -> ScoringRule:
    """Create or change a rule; every lead is rescored in the background."""
    _ensure_admin(actor)
    rule.full_clean()
    rule.save()
    rescore_run_request(reason=f"rule '{rule.name}' saved")
    return rule


@transaction.atomic
def scoring_rule_delete(*, actor: Actor, rule: ScoringRule) -> None:
    _ensure_admin(actor)
    name = rule.name
    rule.delete()
    rescore_run_request(reason=f"rule '{name}' deleted")


# --- scores -------------------------------------------------------------------------------------


@transaction.atomic
def leads_rescore(*, lead_ids: Iterable[int], now: datetime | None = None) -> int:
    """Recompute the scores and breakdowns of these leads, then apply the thresholds.

    Idempotent: the breakdown is replaced, not added to, and promotions only move leads still
    below the target stage. Returns how many leads were promoted.
    """
    now = now or timezone.now()
    batch = IdBatch(lead_ids)  # one parameter, however many leads
    with local_settings(MANY_LEADS_SETTINGS if len(batch) >= MANY_LEADS else {}):
        return _leads_rescore(batch, now)


def _leads_rescore(batch: IdBatch, now: datetime) -> int:
    if not _rows_lock(batch):
        return 0
    rules = list(ScoringRule.objects.filter(active=True))
    if not rules:
        # Nothing scores: clear any old breakdown. A score of 0 reaches no threshold (both >= 1).
        LeadScoreItem.objects.filter(batch.contains("lead_id")).delete()
        Lead.objects.filter(batch.contains("pk")).exclude(score=0).update(score=0, scored_at=now)
        return 0
    settings = scoring_settings_get()
    reached = scores_write(
        batch=batch,
        rules=rules,
        half_life_days=settings.half_life_days,
        now=now,
        report_from=settings.mql_threshold,
    )
    return _thresholds_apply(reached=reached, settings=settings, now=now)


def _rows_lock(batch: IdBatch) -> int:
    """Concurrent rescores of the same leads take turns: lock the rows first, always in pk order,
    so that the second one replaces the first one's breakdown instead of colliding with it.
    Returns how many of the leads exist."""
    locked = Lead.objects.select_for_update().filter(batch.contains("pk")).order_by("pk")
    if connection.vendor != "postgresql":
        return len(locked.values_list("pk", flat=True))
    sql, params = locked.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:  # counted in the database: no ids come back
        cursor.execute(f"SELECT count(*) FROM ({sql}) AS locked", params)  # noqa: S608
        return cursor.fetchone()[0]


def _thresholds_apply(
    *, reached: list[tuple[int, int]], settings: ScoringSettings, now: datetime
) -> int:
    """Scores move leads forward, never back. `reached`: (id, score) of the leads in stage lead
    or mql at or above the MQL threshold."""
    reach_mql = [pk for pk, _ in reached]
    reach_sql = [pk for pk, score in reached if score >= settings.sql_threshold]
    promoted = 0
    if settings.sql_auto_promote and reach_sql:
        promoted += len(
            leads_promote(
                lead_ids=reach_sql,
                from_stages=[Stage.LEAD, Stage.MQL],
                to_stage=Stage.SQL,
                actor=SystemActor.SCORING,
                at=now,
            )
        )
    if reach_mql:
        promoted += len(
            leads_promote(
                lead_ids=reach_mql,
                from_stages=[Stage.LEAD],
                to_stage=Stage.MQL,
                actor=SystemActor.SCORING,
                at=now,
            )
        )
    if reach_sql and not settings.sql_auto_promote:
        Lead.objects.filter(
            IdBatch(reach_sql).contains("pk"), stage=Stage.MQL, ready_for_sales_at__isnull=True
        ).update(ready_for_sales_at=now)
    return promoted


def lead_rescore(*, lead: Lead, now: datetime | None = None) -> Lead:
    leads_rescore(lead_ids=[lead.pk], now=now)
    lead.refresh_from_db()
    return lead


# --- background rescoring -----------------------------------------------------------------------


def rescore_run_request(*, reason: str) -> RescoreRun:
    """Queue a rescore of every lead, after the current transaction commits. A run queued in the
    last minute and not started yet covers this request too (ten rule edits, one rescore); an
    older queued run may have lost its task, so it is not relied on."""
    from ..tasks import rescore_run_task

    pending = RescoreRun.objects.filter(
        status=RescoreRun.Status.QUEUED, requested_at__gte=timezone.now() - timedelta(minutes=1)
    ).first()
    if pending:
        return pending
    run = RescoreRun.objects.create(reason=reason[:200])
    transaction.on_commit(lambda: rescore_run_task.delay(run.pk))
    return run


def rescore_run_execute(
    *, run_id: int, batch_size: int = BATCH_SIZE, progress: Callable[[int, int], None] | None = None
) -> RescoreRun:
    """Rescore every lead in batches, recording progress after each. Safe to run twice or twice
    at once: only one execution claims a queued run; the others return it untouched."""
    with transaction.atomic():
        run = RescoreRun.objects.select_for_update().get(pk=run_id)
        if run.status != RescoreRun.Status.QUEUED:
            return run
        now = timezone.now()
        run.status, run.started_at = RescoreRun.Status.RUNNING, now
        run.total, run.done, run.promoted = Lead.objects.count(), 0, 0
        run.save(update_fields=["status", "started_at", "total", "done", "promoted"])
    try:
        last_pk = 0
        while True:
            ids = list(
                Lead.objects.filter(pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            promoted = leads_rescore(lead_ids=ids, now=now)
            last_pk = ids[-1]
            run.done += len(ids)
            run.total = max(run.total, run.done)  # leads created during the run
            run.promoted += promoted
            run.save(update_fields=["done", "total", "promoted"])
            if progress:
                progress(run.done, run.total)
    except Exception as exc:
        # A transient error (the database briefly gone) puts the run back in the queue, for the
        # task's retry to claim and start over (rescoring is idempotent); anything else fails it.
        transient = isinstance(exc, TRANSIENT_ERRORS)
        if transient and not connection.in_atomic_block and not connection.is_usable():
            connection.close()  # a dropped connection: the save below opens a new one
        run.status = RescoreRun.Status.QUEUED if transient else RescoreRun.Status.FAILED
        run.error, run.finished_at = repr(exc), None if transient else timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    run.status, run.finished_at = RescoreRun.Status.DONE, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run


LOST_RETRY = "retry of #{pk}: its worker stopped"


def rescore_runs_reconcile(*, running_for: timedelta, queued_for: timedelta) -> dict:
    """Runs whose task was lost (beat calls this every few minutes):
    - running longer than `running_for` (more than the task's hard time limit, so no worker is
      still on it): its worker died. The run is marked failed, and a new run is requested unless
      a later one exists or this run was itself such a retry (a run that kills its worker every
      time is left failed for an admin to see);
    - queued longer than `queued_for`: its message may be gone, so it is sent again (a run is
      claimed once, so a duplicate message does nothing).
    Returns {"failed": [ids], "retried": [ids], "requeued": [ids]}."""
    from ..tasks import rescore_run_task

    now = timezone.now()
    failed, retried = [], []
    with transaction.atomic():
        dead = RescoreRun.objects.filter(
            status=RescoreRun.Status.RUNNING, started_at__lt=now - running_for
        ).order_by("pk")
        if connection.vendor == "postgresql":
            dead = dead.select_for_update(skip_locked=True)
        for run in dead:
            run.status, run.finished_at = RescoreRun.Status.FAILED, now
            run.error = f"worker lost: still running {now - run.started_at} after it started"
            run.save(update_fields=["status", "error", "finished_at"])
            failed.append(run.pk)
            later = RescoreRun.objects.filter(requested_at__gt=run.requested_at).exists()
            if not later and not run.reason.startswith("retry of #"):
                retried.append(rescore_run_request(reason=LOST_RETRY.format(pk=run.pk)).pk)
    requeued = list(RescoreRun.objects.filter(
        status=RescoreRun.Status.QUEUED, requested_at__lt=now - queued_for
    ).order_by("pk").values_list("pk", flat=True))
    for pk in requeued:
        rescore_run_task.delay(pk)
    return {"failed": failed, "retried": retried, "requeued": requeued}


def rescore_run_latest() -> RescoreRun | None:
    return RescoreRun.objects.order_by("-requested_at", "-id").first()
