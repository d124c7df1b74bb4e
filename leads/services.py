"""Writes to leads. Every door (pages, API, admin, imports, tasks, demo data) calls these, so each
lifecycle rule of PRODUCT.md lives here and nowhere else.

Concurrency: every write locks the lead row (`select_for_update` on PostgreSQL; on SQLite the
IMMEDIATE transaction takes the database write lock at BEGIN), re-reads it, checks the caller's
version, and bumps the version. Two writers of one lead are therefore serialised, and a writer
holding a stale version gets `LeadVersionConflict` instead of overwriting the other's change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.attribution import Touch, touch_first_fields, touch_last_fields, touch_resolve

from .actors import Actor, SystemActor, actor_fields, is_user
from .exceptions import LeadVersionConflict, LifecycleRuleError
from .models import Account, Activity, ActivityType, Lead, StageTransition
from .scoring.engine import ACCOUNT_FIELDS_SCORED, LEAD_FIELDS_SCORED
from .selectors import lead_is_visible
from .sql import IdBatch
from .stages import (
    EXIT_FROM,
    EXIT_STAGES,
    FUNNEL,
    OPEN_STAGES,
    REACHED_FIELD,
    TERMINAL_STAGES,
    Stage,
    funnel_index,
)

# A client's clock may run a little ahead of ours; anything further ahead is a mistake.
CLOCK_SKEW = timedelta(minutes=5)

LEAD_EDITABLE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "account",
    "first_touch_channel",
    "first_touch_campaign",
    "cta",
    "deal_amount",
)


# --- helpers ------------------------------------------------------------------------------------


def _has_perm(actor: Actor, perm: str) -> bool:
    return is_user(actor) and actor.is_active and actor.has_perm(perm)


def _ensure_can_change(actor: Actor, lead: Lead) -> None:
    if not is_user(actor):
        return  # system actors (scoring, import) work on every lead
    if not actor.has_perm("leads.change_lead") or not lead_is_visible(user=actor, lead=lead):
        raise PermissionDenied("You may not change this lead.")


def _lock(lead: Lead, actor: Actor, expected_version: int | None) -> Lead:
    locked = Lead.objects.select_for_update().get(pk=lead.pk)
    _ensure_can_change(actor, locked)
    if expected_version is not None and locked.version != expected_version:
        raise LeadVersionConflict(
            lead_id=locked.pk, expected_version=expected_version, current_version=locked.version
        )
    return locked


def _refresh_callers_copy(lead: Lead, saved: Lead) -> None:
    """Services work on a freshly locked copy; bring the caller's instance up to date with it so
    that a caller reusing its `lead` never acts on stale fields or a stale version."""
    if lead is saved:
        return
    for field in Lead._meta.concrete_fields:
        setattr(lead, field.attname, getattr(saved, field.attname))


def _clean_email(email: str) -> str:
    return (email or "").strip()


def _check_email_free(email: str, *, exclude_pk: int | None = None) -> None:
    taken = Lead.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError({"email": "A lead with this email already exists."})


def _full_clean(lead: Lead, exclude: list[str] | None = None) -> None:
    # Uniqueness is checked case-insensitively above and by the database constraint.
    lead.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


def _write_transition(
    *, lead: Lead, from_stage: str, to_stage: str, at: datetime, actor: Actor, note: str = "",
    reason: str = "",
) -> StageTransition:
    transition = StageTransition(
        lead=lead,
        from_stage=from_stage,
        to_stage=to_stage,
        at=at,
        note=note,
        reason=reason,
        **actor_fields(actor),
    )
    transition.save(force_insert=True)
    _kpis_dirty(at=[at])
    return transition


# The KPI snapshot fields a lead's slice depends on (reports/snapshots.py: first touch, owner).
SNAPSHOT_SLICE_FIELDS = frozenset({"first_touch_channel", "first_touch_campaign", "owner"})


def _kpis_dirty(*, at=(), lead: Lead | None = None) -> None:
    """Mark the KPI snapshot days this write touches dirty (recomputed after commit)."""
    from reports.snapshots import kpis_mark_dirty_at, kpis_mark_lead_dirty

    kpis_mark_dirty_at(at)
    if lead is not None:
        kpis_mark_lead_dirty(lead)


def _event_time(at: datetime | None) -> datetime | None:
    """When something happened: now by default. A time a little ahead of our clock (a client's
    skew) is taken as now, so no row is ever dated in the future; further ahead returns None."""
    now = timezone.now()
    if at is None:
        return now
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    if at > now + CLOCK_SKEW:
        return None
    return min(at, now)


def _move_time(lead: Lead, at: datetime | None) -> datetime:
    """When the move happens. History is append-only: a move may not predate the lead's last one."""
    at = _event_time(at)
    if at is None:
        raise LifecycleRuleError("at_in_future", "A stage move cannot be dated in the future.")
    floor = max(
        d
        for d in (
            lead.transitions.aggregate(last=Max("at"))["last"],
            *(getattr(lead, f) for f in REACHED_FIELD.values()),
        )
        if d is not None
    )
    if at < floor:
        raise LifecycleRuleError(
            "at_before_history",
            f"A stage move cannot be dated before the lead's latest change ({floor.isoformat()}).",
        )
    return at


# --- creating and editing -----------------------------------------------------------------------


@transaction.atomic
def lead_create(
    *,
    actor: Actor,
    email: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    job_title: str = "",
    account=None,
    owner=None,
    channel: str | None = None,
    campaign=None,
    utm: dict[str, str] | None = None,
    cta: str = "",
    landing_page: str = "",
    deal_amount=None,
    at: datetime | None = None,
) -> Lead:
    """Create a lead in stage `lead`, with the transition that records its entry.

    A user who creates a lead owns it unless they may reassign leads and name another owner.
    `at` backdates the lead's creation (demo data, imports); it defaults to now.
    Its first and last touch are resolved from `campaign`, `utm` and `channel` by
    `campaigns.attribution.touch_resolve`.
    """
    if is_user(actor):
        if not actor.has_perm("leads.add_lead"):
            raise PermissionDenied("You may not create leads.")
        if owner is None:
            owner = actor
        elif owner != actor and not actor.has_perm("leads.reassign_lead"):
            raise PermissionDenied("You may not create leads for another owner.")
    at = _event_time(at)
    if at is None:
        raise ValidationError({"at": "A lead cannot be created in the future."})

    email = _clean_email(email)
    touch = touch_resolve(
        utm=utm, campaign=campaign, channel=channel, cta=cta, landing_page=landing_page
    )
    lead = Lead(
        email=email,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        job_title=job_title,
        account=account,
        owner=owner,
        deal_amount=deal_amount,
        stage=Stage.LEAD,
        became_lead_at=at,
        **touch_first_fields(touch, at=at),
    )
    _full_clean(lead)
    _check_email_free(email)
    try:
        with transaction.atomic():
            lead.save(force_insert=True)
    except IntegrityError as exc:  # a concurrent create of the same email won the race
        if "email" in str(exc).lower() or "lead_email_unique_ci" in str(exc):
            raise ValidationError({"email": "A lead with this email already exists."}) from exc
        raise
    _write_transition(lead=lead, from_stage="", to_stage=Stage.LEAD, at=at, actor=actor)
    _rescore(lead)
    return lead


@transaction.atomic
def lead_update(
    *, lead: Lead, actor: Actor, data: dict[str, Any], expected_version: int | None = None
) -> Lead:
    """Change a lead's contact and deal fields. Stage, owner, score and the first-reached dates
    are not editable here: they change only through their own services."""
    unknown = set(data) - set(LEAD_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed here."))
    locked = _lock(lead, actor, expected_version)
    changed = []
    for field, value in data.items():
        if field == "email":
            value = _clean_email(value)
        if getattr(locked, field) != value:
            setattr(locked, field, value)
            changed.append(field)
    if not changed:
        return locked
    _full_clean(locked)
    if "email" in changed:
        _check_email_free(locked.email, exclude_pk=locked.pk)
    locked.version += 1
    locked.save(update_fields=[*changed, "version", "updated_at"])
    if set(changed) & SNAPSHOT_SLICE_FIELDS:
        _kpis_dirty(lead=locked)
    if set(changed) & LEAD_FIELDS_SCORED:
        _rescore(locked)
    _refresh_callers_copy(lead, locked)
    return locked


@transaction.atomic
def lead_touch_record(
    *, lead: Lead, touch: Touch, actor: Actor, at: datetime | None = None
) -> Lead:
    """A lead came back (a form submitted again, a re-imported row): its last touch moves to this
    touch. Its first touch and UTM parameters are from its creation and never change here."""
    locked = _lock(lead, actor, expected_version=None)
    at = _event_time(at) or timezone.now()
    fields = touch_last_fields(touch, at=at)
    if locked.last_touch_at is not None and at < locked.last_touch_at:
        return locked  # an older touch arriving late does not replace a newer one
    for field, value in fields.items():
        setattr(locked, field, value)
    locked.version += 1
    locked.save(update_fields=[*fields, "version", "updated_at"])
    _refresh_callers_copy(lead, locked)
    return locked


@transaction.atomic
def lead_assign_owner(
    *, lead: Lead, owner, actor: Actor, expected_version: int | None = None
) -> Lead:
    if is_user(actor) and not actor.has_perm("leads.reassign_lead"):
        raise PermissionDenied("You may not reassign leads.")
    locked = _lock(lead, actor, expected_version)
    if locked.owner_id == (owner.pk if owner else None):
        return locked
    locked.owner = owner
    locked.version += 1
    locked.save(update_fields=["owner", "version", "updated_at"])
    _kpis_dirty(lead=locked)
    _refresh_callers_copy(lead, locked)
    return locked


# --- accounts -----------------------------------------------------------------------------------


@transaction.atomic
def account_create(
    *,
    actor: Actor,
    name: str,
    domain: str = "",
    industry: str = "",
    employees: int | None = None,
    country: str = "",
    churned_at: datetime | None = None,
) -> Account:
    if is_user(actor) and not actor.has_perm("leads.add_account"):
        raise PermissionDenied("You may not create accounts.")
    account = account_build(
        name=name, domain=domain, industry=industry, employees=employees, country=country,
        churned_at=churned_at,
    )
    account.save(force_insert=True)
    return account


def account_build(
    *,
    name: str,
    domain: str = "",
    industry: str = "",
    employees: int | None = None,
    country: str = "",
    churned_at: datetime | None = None,
) -> Account:
    """A new, validated, unsaved account: `account_create` saves one, imports save many at once."""
    account = Account(
        name=name.strip(),
        domain=domain.strip().lower(),
        industry=industry.strip(),
        employees=employees,
        country=country.strip().upper(),
        churned_at=churned_at,
    )
    account.full_clean()
    return account


ACCOUNT_EDITABLE_FIELDS = ("name", "domain", "industry", "employees", "country", "churned_at")


@transaction.atomic
def account_update(*, account: Account, actor: Actor, data: dict[str, Any]) -> Account:
    """Change an account; when a field that fit rules read changes, its leads are rescored."""
    if is_user(actor) and not actor.has_perm("leads.change_account"):
        raise PermissionDenied("You may not change accounts.")
    unknown = set(data) - set(ACCOUNT_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed here."))
    locked = Account.objects.select_for_update().get(pk=account.pk)
    changed = [f for f, v in data.items() if getattr(locked, f) != v]
    if not changed:
        return locked
    for field in changed:
        setattr(locked, field, data[field])
    locked.full_clean()
    locked.save(update_fields=[*changed, "updated_at"])
    if set(changed) & ACCOUNT_FIELDS_SCORED:
        from .scoring.services import leads_rescore

        leads_rescore(lead_ids=locked.leads.values_list("pk", flat=True))
    return locked


# --- the lifecycle ------------------------------------------------------------------------------


def _check_move(
    lead: Lead, to_stage: Stage, actor: Actor, note: str, reason: str, reopen_only: bool
) -> str:
    """Apply PRODUCT.md's lifecycle rules. Returns the kind of move: forward, backward, exit,
    reopen. Raises LifecycleRuleError naming the rule that forbids it."""
    from_stage = Stage(lead.stage)
    if reopen_only and from_stage not in TERMINAL_STAGES:
        raise LifecycleRuleError(
            "not_closed", "Only a won, lost or disqualified lead can be reopened."
        )
    if to_stage == from_stage:
        raise LifecycleRuleError("same_stage", f"The lead is already in stage {to_stage.label}.")

    if from_stage in TERMINAL_STAGES:
        if to_stage not in OPEN_STAGES:
            raise LifecycleRuleError(
                "closed_lead",
                f"A {from_stage.label.lower()} lead can only be reopened to an open stage "
                "(lead, MQL, SQL or opportunity).",
            )
        if not _has_perm(actor, "leads.reopen_lead"):
            raise LifecycleRuleError(
                "reopen_requires_manager",
                f"Only a manager can reopen a {from_stage.label.lower()} lead.",
            )
        if not note.strip():
            raise LifecycleRuleError(
                "reopen_requires_note", "Reopening a closed lead needs a note saying why."
            )
        return "reopen"

    if to_stage in EXIT_STAGES:
        if from_stage not in EXIT_FROM[to_stage]:
            allowed = ", ".join(Stage(s).label for s in EXIT_FROM[to_stage])
            raise LifecycleRuleError(
                f"{to_stage.value}_not_allowed_from_stage",
                f"A lead can be marked {to_stage.label.lower()} only from {allowed}, "
                f"not from {from_stage.label}.",
            )
        if not reason.strip():
            raise LifecycleRuleError(
                "reason_required", f"Marking a lead {to_stage.label.lower()} needs a reason."
            )
        return "exit"

    if funnel_index(to_stage) > funnel_index(from_stage):
        return "forward"

    if not _has_perm(actor, "leads.move_lead_backward"):
        raise LifecycleRuleError(
            "backward_move_not_permitted",
            f"Moving a lead back from {from_stage.label} to {to_stage.label} needs the "
            "permission to move leads backward.",
        )
    if not note.strip():
        raise LifecycleRuleError(
            "backward_move_requires_note", "Moving a lead backward needs a note saying why."
        )
    return "backward"


@transaction.atomic
def lead_move_to_stage(
    *,
    lead: Lead,
    to_stage: str,
    actor: Actor,
    note: str = "",
    reason: str = "",
    at: datetime | None = None,
    expected_version: int | None = None,
    _reopen_only: bool = False,
) -> Lead:
    """Move a lead to another stage under PRODUCT.md's lifecycle rules, and record the move.

    - Forward moves are free; stages skipped on the way are stamped with the same time.
    - First-reached dates are written once and never overwritten or erased.
    - Backward moves need `leads.move_lead_backward` and a note.
    - lost (from sql or opportunity) and disqualified (from lead, mql or sql) need a reason.
    - won, lost and disqualified leads are reopened only with `leads.reopen_lead` (managers),
      with a note, to an open stage; a stage never reached before is stamped as on a forward move.
    - A stale `expected_version` raises LeadVersionConflict and changes nothing.

    Writes exactly one StageTransition and returns the updated lead.
    """
    try:
        target = Stage(to_stage)
    except ValueError:
        raise LifecycleRuleError("unknown_stage", f"'{to_stage}' is not a stage.") from None
    locked = _lock(lead, actor, expected_version)
    kind = _check_move(locked, target, actor, note, reason, _reopen_only)
    at = _move_time(locked, at)

    from_stage = locked.stage
    changed = ["stage"]
    locked.stage = target
    if kind in ("forward", "reopen"):
        # A reopen to a stage the lead never reached (disqualified from lead, reopened to sql)
        # reaches it now: stamp it and the stages before it, as a forward move would.
        for stage in FUNNEL[: funnel_index(target) + 1]:
            field = REACHED_FIELD[stage]
            if getattr(locked, field) is None:
                setattr(locked, field, at)
                changed.append(field)
    if target in TERMINAL_STAGES:
        locked.closed_at = at
        locked.exit_reason = reason.strip() if target in EXIT_STAGES else ""
        changed += ["closed_at", "exit_reason"]
    elif kind == "reopen":
        locked.closed_at = None
        locked.exit_reason = ""
        changed += ["closed_at", "exit_reason"]

    locked.version += 1
    locked.save(update_fields=[*changed, "version", "updated_at"])
    _write_transition(
        lead=locked,
        from_stage=from_stage,
        to_stage=target,
        at=at,
        actor=actor,
        note=note.strip(),
        reason=reason.strip(),
    )
    _refresh_callers_copy(lead, locked)
    return locked


@transaction.atomic
def leads_promote(
    *, lead_ids, from_stages, to_stage: str, actor: SystemActor, at: datetime
) -> list[int]:
    """Automatic forward move of many leads at once (scoring), under the same rules as a forward
    `lead_move_to_stage`: skipped stages are stamped with `at`, first-reached dates are never
    overwritten, and each promoted lead gets exactly one StageTransition.

    Only leads still in `from_stages` are moved, re-checked under row locks, so a second run (or a
    concurrent one) promotes nobody twice. Returns the ids promoted.
    """
    target = Stage(to_stage)
    if any(funnel_index(s) >= funnel_index(target) for s in from_stages):
        raise LifecycleRuleError("automatic_moves_forward_only", "Automatic moves only go forward.")
    rows = list(
        Lead.objects.select_for_update()
        .filter(IdBatch(lead_ids).contains("pk"), stage__in=list(from_stages))
        .order_by("pk")
        .values_list("pk", "stage")
    )
    if not rows:
        return []
    ids = [pk for pk, _ in rows]
    stamps = {
        REACHED_FIELD[s]: Coalesce(F(REACHED_FIELD[s]), Value(at))
        for s in FUNNEL[: funnel_index(target) + 1]
    }
    Lead.objects.filter(IdBatch(ids).contains("pk")).update(
        stage=target, version=F("version") + 1, updated_at=timezone.now(), **stamps
    )
    StageTransition.objects.bulk_create(
        StageTransition(
            lead_id=pk, from_stage=stage, to_stage=target, at=at, **actor_fields(actor)
        )
        for pk, stage in rows
    )
    _kpis_dirty(at=[at])
    return ids


def lead_mark_lost(*, lead: Lead, reason: str, actor: Actor, note: str = "", **kwargs) -> Lead:
    return lead_move_to_stage(
        lead=lead, to_stage=Stage.LOST, actor=actor, note=note, reason=reason, **kwargs
    )


def lead_disqualify(*, lead: Lead, reason: str, actor: Actor, note: str = "", **kwargs) -> Lead:
    return lead_move_to_stage(
        lead=lead, to_stage=Stage.DISQUALIFIED, actor=actor, note=note, reason=reason, **kwargs
    )


def lead_reopen(*, lead: Lead, to_stage: str, actor: Actor, note: str = "", **kwargs) -> Lead:
    return lead_move_to_stage(
        lead=lead, to_stage=to_stage, actor=actor, note=note, _reopen_only=True, **kwargs
    )


# --- activities ---------------------------------------------------------------------------------


@transaction.atomic
def activity_create(
    *,
    lead: Lead,
    type: str,
    actor: Actor,
    at: datetime | None = None,
    payload: dict | None = None,
) -> Activity:
    if type not in ActivityType.values:
        raise ValidationError({"type": f"'{type}' is not an activity type."})
    _ensure_can_change(actor, lead)
    at = _event_time(at)
    if at is None:
        raise ValidationError({"at": "An activity cannot be dated in the future."})
    fields = actor_fields(actor)
    activity = Activity(lead=lead, type=type, at=at, payload=payload or {}, **fields)
    activity.save(force_insert=True)
    _rescore(lead)
    return activity


def _rescore(lead: Lead) -> None:
    from .scoring.services import lead_rescore

    lead_rescore(lead=lead)


# --- saved lead views (the lead list's named filters, one set per user) -------------------------


@transaction.atomic
def saved_lead_view_create(*, owner, name: str, query: str):
    """Save the lead list's current filter and sort (`query`, a normalised query string) under a
    name unique to its owner, ignoring case. Errors name the field: {"name": ...}."""
    from .models import SavedLeadView

    name = " ".join(name.split())
    max_length = SavedLeadView._meta.get_field("name").max_length
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    if len(name) > max_length:
        raise ValidationError({"name": f"Keep the name to {max_length} characters or fewer."})
    if len(query) > SavedLeadView._meta.get_field("query").max_length:
        raise ValidationError({"query": "These filters are too long to save as a view."})
    taken = ValidationError({"name": f'You already have a view named "{name}". Pick another name.'})
    if SavedLeadView.objects.filter(owner=owner, name__iexact=name).exists():
        raise taken
    try:
        with transaction.atomic():
            return SavedLeadView.objects.create(owner=owner, name=name, query=query)
    except IntegrityError:  # saved at the same moment by another request of the same user
        raise taken


@transaction.atomic
def saved_lead_view_delete(*, actor, view_id: int) -> str:
    """Delete one of the actor's own views and return its name. Another user's view, like a
    missing one, raises SavedLeadView.DoesNotExist: no one learns that it exists."""
    from .models import SavedLeadView

    view = SavedLeadView.objects.get(owner=actor, pk=view_id)
    view.delete()
    return view.name
