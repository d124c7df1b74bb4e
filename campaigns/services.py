"""Writes to campaigns, daily metrics and nurture workflows. Every door (admin, API, imports, demo
data) calls these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from leads.actors import Actor, is_user

from .models import (
    METRIC_FIELDS,
    Campaign,
    CampaignStatus,
    DailyMetric,
    NurtureEnrolment,
    NurtureWorkflow,
    form_key_new,
)

CAMPAIGN_EDITABLE_FIELDS = (
    "name", "channel", "owner", "status", "starts_on", "ends_on", "budget", "utm_campaign",
    "utm_source", "utm_medium", "landing_page_url",
)


def _require(actor: Actor, perm: str, message: str) -> None:
    if is_user(actor) and not (actor.is_active and actor.has_perm(perm)):
        raise PermissionDenied(message)


def _campaign_clean(campaign: Campaign, *, exclude_pk: int | None = None) -> None:
    campaign.full_clean(validate_unique=False)
    taken = Campaign.objects.filter(utm_campaign__iexact=campaign.utm_campaign)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        # utm_campaign is matched ignoring case (attribution.py), so it is unique ignoring case.
        raise ValidationError({"utm_campaign": "Another campaign already uses this UTM campaign."})


# --- campaigns ----------------------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    actor: Actor,
    name: str,
    channel: str,
    utm_campaign: str,
    owner=None,
    status: str = CampaignStatus.DRAFT,
    starts_on: date | None = None,
    ends_on: date | None = None,
    budget: Decimal | None = None,
    utm_source: str = "",
    utm_medium: str = "",
    landing_page_url: str = "",
) -> Campaign:
    _require(actor, "campaigns.add_campaign", "You may not create campaigns.")
    if owner is None and is_user(actor):
        owner = actor
    campaign = Campaign(
        name=name.strip(),
        channel=channel,
        owner=owner,
        status=status,
        starts_on=starts_on,
        ends_on=ends_on,
        budget=budget,
        utm_campaign=utm_campaign.strip().lower(),
        utm_source=utm_source.strip(),
        utm_medium=utm_medium.strip(),
        landing_page_url=landing_page_url.strip(),
    )
    _campaign_clean(campaign)
    campaign.save(force_insert=True)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor: Actor, data: dict[str, Any]) -> Campaign:
    _require(actor, "campaigns.change_campaign", "You may not change campaigns.")
    unknown = set(data) - set(CAMPAIGN_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed here."))
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if "utm_campaign" in data:
        data = {**data, "utm_campaign": data["utm_campaign"].strip().lower()}
    changed = [f for f, v in data.items() if getattr(locked, f) != v]
    if not changed:
        return locked
    for field in changed:
        setattr(locked, field, data[field])
    _campaign_clean(locked, exclude_pk=locked.pk)
    locked.save(update_fields=[*changed, "updated_at"])
    return locked


@transaction.atomic
def campaign_form_key_rotate(*, campaign: Campaign, actor: Actor) -> Campaign:
    """A new web-to-lead key: the old one stops working at once (a leaked key, a retired form)."""
    _require(actor, "campaigns.change_campaign", "You may not change campaigns.")
    campaign.form_key = form_key_new()
    campaign.save(update_fields=["form_key", "updated_at"])
    return campaign


# --- daily metrics ------------------------------------------------------------------------------


@transaction.atomic
def daily_metric_upsert(
    *,
    actor: Actor,
    date: date,
    channel: str,
    campaign: Campaign | None = None,
    values: dict[str, Any],
) -> tuple[DailyMetric, bool]:
    """Set one day's figures for a channel or a campaign: re-sending a day replaces its figures,
    it never adds to them. A figure not given is unknown (null), so a row sent again with fewer
    columns clears the ones it leaves out. Returns the row and whether it was created."""
    _require(actor, "campaigns.change_dailymetric", "You may not change marketing metrics.")
    metric = (
        DailyMetric.objects.select_for_update()
        .filter(date=date, channel=channel, campaign=campaign)
        .first()
    )
    created = metric is None
    if created:
        metric = DailyMetric(date=date, channel=channel, campaign=campaign)
    _metric_fill(metric, values)
    metric.save()
    _kpis_dirty([metric.date])
    return metric, created


@transaction.atomic
def daily_metric_delete(*, actor: Actor, metric: DailyMetric) -> None:
    """Remove a day's figures (a row loaded by mistake): the day becomes unknown again."""
    _require(actor, "campaigns.delete_dailymetric", "You may not delete marketing metrics.")
    DailyMetric.objects.filter(pk=metric.pk).delete()
    _kpis_dirty([metric.date])


def _metric_fill(metric: DailyMetric, values: dict[str, Any], *, exclude=None) -> None:
    """The figures replace the old ones; one left out is unknown (null). Checked by the model."""
    unknown = set(values) - set(METRIC_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Not a daily metric."))
    for field in METRIC_FIELDS:
        setattr(metric, field, values.get(field))
    metric.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


MetricRow = tuple[date, str, Campaign | None, dict[str, Any]]  # date, channel, campaign, values


@transaction.atomic
def daily_metrics_bulk_upsert(*, actor: Actor, rows: Iterable[MetricRow]) -> tuple[int, int]:
    """`daily_metric_upsert` for many rows at once (demo data, large loads): the same rules, written
    in batches instead of three queries a row. Returns (created, updated)."""
    _require(actor, "campaigns.change_dailymetric", "You may not change marketing metrics.")
    rows = list(rows)
    if not rows:
        return 0, 0
    dates = [row[0] for row in rows]
    existing = {
        (m.date, m.channel, m.campaign_id): m
        for m in DailyMetric.objects.select_for_update().filter(
            date__range=(min(dates), max(dates))
        )
    }
    new, changed, now = [], {}, timezone.now()
    for day, channel, campaign, values in rows:
        key = (day, channel, campaign.pk if campaign else None)
        metric = existing.get(key)
        if metric is None:
            metric = existing[key] = DailyMetric(date=day, channel=channel, campaign=campaign)
            new.append(metric)
        elif metric.pk is not None:
            metric.updated_at = now
            changed[metric.pk] = metric
        # The campaign is a saved instance: no query per row for its existence; clean() still
        # checks that it belongs to the row's channel.
        _metric_fill(metric, values, exclude=["campaign"])
    DailyMetric.objects.bulk_create(new, batch_size=500)
    _kpis_dirty({m.date for m in (*new, *changed.values())})
    DailyMetric.objects.bulk_update(
        changed.values(), [*METRIC_FIELDS, "updated_at"], batch_size=500
    )
    return len(new), len(changed)


# --- nurture ------------------------------------------------------------------------------------


@transaction.atomic
def nurture_workflow_create(
    *, actor: Actor, name: str, goal: str, campaign: Campaign | None = None
) -> NurtureWorkflow:
    _require(actor, "campaigns.add_nurtureworkflow", "You may not create nurture workflows.")
    workflow = NurtureWorkflow(name=name.strip(), goal=goal.strip(), campaign=campaign)
    workflow.full_clean()
    workflow.save(force_insert=True)
    return workflow


NURTURE_WORKFLOW_EDITABLE_FIELDS = ("name", "goal", "campaign", "is_active")


@transaction.atomic
def nurture_workflow_update(
    *, workflow: NurtureWorkflow, actor: Actor, data: dict[str, Any]
) -> NurtureWorkflow:
    """Rename a workflow, restate its goal, link it to a campaign, or (de)activate it. Its
    enrolments, the goal-rate history, stay as they are."""
    _require(actor, "campaigns.change_nurtureworkflow", "You may not change nurture workflows.")
    unknown = set(data) - set(NURTURE_WORKFLOW_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed here."))
    locked = NurtureWorkflow.objects.select_for_update().get(pk=workflow.pk)
    data = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()}
    changed = [f for f, v in data.items() if getattr(locked, f) != v]
    if not changed:
        return locked
    for field in changed:
        setattr(locked, field, data[field])
    locked.full_clean()
    locked.save(update_fields=changed)
    return locked


@transaction.atomic
def nurture_enrol(
    *, actor: Actor, workflow: NurtureWorkflow, lead, at: datetime | None = None
) -> NurtureEnrolment:
    """Enrol a lead in a workflow; enrolling it again returns its existing enrolment."""
    _require(actor, "campaigns.add_nurtureenrolment", "You may not enrol leads.")
    enrolment, _ = NurtureEnrolment.objects.get_or_create(
        workflow=workflow, lead=lead, defaults={"entered_at": at or timezone.now()}
    )
    return enrolment


@transaction.atomic
def nurture_enrolment_close(
    *,
    actor: Actor,
    enrolment: NurtureEnrolment,
    goal_reached_at: datetime | None = None,
    exited_at: datetime | None = None,
) -> NurtureEnrolment:
    """Record that an enrolled lead reached the goal and/or left the workflow. Each time is
    written once: a second report does not move it."""
    _require(actor, "campaigns.change_nurtureenrolment", "You may not change enrolments.")
    locked = NurtureEnrolment.objects.select_for_update().get(pk=enrolment.pk)
    changed = []
    for field, value in (("goal_reached_at", goal_reached_at), ("exited_at", exited_at)):
        if value is not None and getattr(locked, field) is None:
            setattr(locked, field, value)
            changed.append(field)
    if changed:
        locked.full_clean(validate_unique=False)
        locked.save(update_fields=changed)
    return locked


def _kpis_dirty(days) -> None:
    """Visitors feed the KPI snapshots: the days written are recomputed after commit."""
    from reports.snapshots import kpis_mark_dirty

    kpis_mark_dirty(days)
