"""Recomputes that survive a dead worker: every recompute goes through the dirty-day ledger
(`KPIDirtyDay`, reports/snapshots.py), and a beat job finishes what a lost task left.

- `snapshots_recompute_range` marks every day of a range dirty and commits that first, then
  recomputes the dirty days batch by batch, each batch deleting its days in its own transaction.
  A worker killed halfway leaves exactly the days it had not finished still dirty.
- `dirty_reconcile` (beat, every minute) recomputes the days marked dirty more than
  `KPI_DIRTY_STALE_AFTER` seconds ago that no running recompute holds: those whose task was lost
  (the broker dropped it, the worker died, the on-commit hook never sent it). A day that a live
  recompute has claimed is locked and skipped (SKIP LOCKED on PostgreSQL), so the reconcile never
  recomputes a day twice at once; fresh days are left to the task their writer queued.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from .models import KPIDirtyDay
from .snapshots import dirty_recompute, kpis_mark_dirty

logger = logging.getLogger(__name__)


def dirty_drain(*, limit: int, marked_before=None) -> int:
    """Recompute dirty days, `limit` per transaction, until none is left to claim."""
    total = 0
    while done := dirty_recompute(limit=limit, marked_before=marked_before):
        total += done
    return total


def snapshots_recompute_range(*, since: date, until: date, limit: int) -> int:
    """Recompute every period touching [since, until] (and whatever else is dirty); returns the
    days recomputed. Safe to run twice or twenty times at once: the runs share out the claimed
    days and take turns on the grain locks."""
    if since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    with transaction.atomic():
        kpis_mark_dirty(
            (since + timedelta(days=n) for n in range((until - since).days + 1)), queue=False
        )
    return dirty_drain(limit=limit)


def dirty_reconcile(*, stale_after: timedelta, limit: int) -> int:
    """Recompute the dirty days whose recompute was lost; returns how many."""
    marked_before = timezone.now() - stale_after
    stale = KPIDirtyDay.objects.filter(marked_at__lt=marked_before).count()
    if not stale:
        return 0
    logger.warning("kpi reconcile: %d dirty day(s) older than %s, recomputing", stale, stale_after)
    return dirty_drain(limit=limit, marked_before=marked_before)
