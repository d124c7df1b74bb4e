"""The lifecycle rules of PRODUCT.md, through the service every door calls."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from leads.actors import SystemActor
from leads.exceptions import LeadVersionConflict, LifecycleRuleError
from leads.models import Lead, StageTransition
from leads.services import (
    lead_create,
    lead_disqualify,
    lead_mark_lost,
    lead_move_to_stage,
    lead_reopen,
    lead_update,
)

pytestmark = pytest.mark.django_db


def _at(days_ago: float):
    return timezone.now() - timedelta(days=days_ago)


def _dates(lead):
    lead.refresh_from_db()
    return (
        lead.became_lead_at,
        lead.became_mql_at,
        lead.became_sql_at,
        lead.became_opportunity_at,
        lead.became_won_at,
    )


# --- creation -----------------------------------------------------------------------------------


def test_create_starts_in_lead_with_entry_transition_and_owner(rep):
    lead = lead_create(actor=rep, email="Jane@Example.com", first_name="Jane")

    assert lead.stage == "lead"
    assert lead.owner == rep
    assert lead.became_lead_at is not None
    assert lead.became_mql_at is None
    (entry,) = lead.transitions.all()
    assert (entry.from_stage, entry.to_stage, entry.actor_user) == ("", "lead", rep)


def test_email_is_unique_case_insensitively(rep, lead_factory):
    lead_factory(email="jane@example.com", owner=rep)

    with pytest.raises(ValidationError) as excinfo:
        lead_create(actor=rep, email="JANE@example.COM")

    assert "email" in excinfo.value.message_dict


def test_database_refuses_duplicate_email_in_other_case(lead_factory):
    lead = lead_factory(email="dup@example.com")
    clone = Lead(email="DUP@example.com", became_lead_at=lead.became_lead_at)

    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()


# --- forward moves ------------------------------------------------------------------------------


def test_forward_move_stamps_first_reached_date_and_writes_one_transition(lead, rep):
    when = _at(1)
    read_version = lead.version

    moved = lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, at=when)

    assert moved.stage == "mql"
    assert moved.became_mql_at == when
    assert moved.version == read_version + 1
    assert (lead.stage, lead.version) == ("mql", moved.version)  # caller's copy is fresh
    assert lead.transitions.count() == 2
    last = lead.transitions.first()
    assert (last.from_stage, last.to_stage, last.at, last.actor_user) == ("lead", "mql", when, rep)


def test_skipping_stages_stamps_each_skipped_stage_with_the_same_time(lead, rep):
    when = _at(2)

    lead_move_to_stage(lead=lead, to_stage="opportunity", actor=rep, at=when)

    became_lead, mql, sql, opp, won = _dates(lead)
    assert mql == sql == opp == when
    assert won is None
    assert lead.transitions.count() == 2  # one move, one transition


def test_won_from_lead_stamps_every_stage_and_closes(lead, rep):
    when = _at(1)

    lead_move_to_stage(lead=lead, to_stage="won", actor=rep, at=when)

    lead.refresh_from_db()
    assert _dates(lead)[1:] == (when, when, when, when)
    assert lead.closed_at == when


def test_first_reached_dates_are_never_overwritten(lead, manager):
    first_sql = _at(10)
    lead_move_to_stage(lead=lead, to_stage="sql", actor=manager, at=first_sql)
    lead_move_to_stage(lead=lead, to_stage="mql", actor=manager, note="not ready", at=_at(8))

    opportunity_at = _at(5)
    lead_move_to_stage(lead=lead, to_stage="opportunity", actor=manager, at=opportunity_at)

    lead.refresh_from_db()
    assert lead.became_mql_at == first_sql
    assert lead.became_sql_at == first_sql  # not restamped by the second pass through sql
    assert lead.became_opportunity_at == opportunity_at


# --- backward moves -----------------------------------------------------------------------------


def test_backward_move_without_permission_is_refused(lead, rep):
    lead_move_to_stage(lead=lead, to_stage="sql", actor=rep, at=_at(3))

    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, note="recycle")

    assert excinfo.value.rule == "backward_move_not_permitted"
    lead.refresh_from_db()
    assert lead.stage == "sql"
    assert lead.transitions.count() == 2


def test_backward_move_needs_a_note(lead, manager):
    lead_move_to_stage(lead=lead, to_stage="sql", actor=manager, at=_at(3))

    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_move_to_stage(lead=lead, to_stage="mql", actor=manager, note="  ")

    assert excinfo.value.rule == "backward_move_requires_note"


def test_backward_move_keeps_first_reached_dates(lead, manager):
    reached = _at(3)
    lead_move_to_stage(lead=lead, to_stage="opportunity", actor=manager, at=reached)

    lead_move_to_stage(lead=lead, to_stage="mql", actor=manager, note="budget frozen")

    lead.refresh_from_db()
    assert lead.stage == "mql"
    assert (lead.became_sql_at, lead.became_opportunity_at) == (reached, reached)
    assert lead.transitions.first().note == "budget frozen"


def test_system_actor_never_moves_backward(lead):
    lead_move_to_stage(lead=lead, to_stage="sql", actor=SystemActor.SCORING, at=_at(2))

    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_move_to_stage(lead=lead, to_stage="mql", actor=SystemActor.SCORING, note="x")

    assert excinfo.value.rule == "backward_move_not_permitted"


# --- exits --------------------------------------------------------------------------------------


@pytest.mark.parametrize("exit_stage", ["lost", "disqualified"])
def test_exit_needs_a_reason(lead, rep, exit_stage):
    lead_move_to_stage(lead=lead, to_stage="sql", actor=rep, at=_at(2))

    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_move_to_stage(lead=lead, to_stage=exit_stage, actor=rep, reason="")

    assert excinfo.value.rule == "reason_required"


@pytest.mark.parametrize(
    ("from_stage", "exit_stage", "allowed"),
    [
        ("lead", "lost", False),
        ("mql", "lost", False),
        ("sql", "lost", True),
        ("opportunity", "lost", True),
        ("lead", "disqualified", True),
        ("mql", "disqualified", True),
        ("sql", "disqualified", True),
        ("opportunity", "disqualified", False),
    ],
)
def test_exits_only_from_their_stages(lead, rep, from_stage, exit_stage, allowed):
    if from_stage != "lead":
        lead_move_to_stage(lead=lead, to_stage=from_stage, actor=rep, at=_at(2))

    if allowed:
        moved = lead_move_to_stage(lead=lead, to_stage=exit_stage, actor=rep, reason="No budget")
        assert moved.stage == exit_stage
        assert moved.exit_reason == "No budget"
        assert moved.closed_at is not None
        assert lead.transitions.first().reason == "No budget"
    else:
        with pytest.raises(LifecycleRuleError) as excinfo:
            lead_move_to_stage(lead=lead, to_stage=exit_stage, actor=rep, reason="No budget")
        assert excinfo.value.rule == f"{exit_stage}_not_allowed_from_stage"


def test_exit_helpers_call_the_same_rules(lead, rep):
    with pytest.raises(LifecycleRuleError):
        lead_mark_lost(lead=lead, reason="Competitor", actor=rep)

    lead = lead_disqualify(lead=lead, reason="Not in target market", actor=rep)

    assert lead.stage == "disqualified"
    assert lead.exit_reason == "Not in target market"


# --- terminal stages and reopening --------------------------------------------------------------


@pytest.mark.parametrize("terminal", ["won", "lost", "disqualified"])
def test_only_a_manager_reopens_a_closed_lead(lead, rep, manager, terminal):
    lead_move_to_stage(lead=lead, to_stage="sql", actor=rep, at=_at(3))
    lead_move_to_stage(lead=lead, to_stage=terminal, actor=rep, reason="why", at=_at(2))

    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_reopen(lead=lead, to_stage="sql", actor=rep)
    assert excinfo.value.rule == "reopen_requires_manager"

    reopened = lead_reopen(lead=lead, to_stage="sql", actor=manager, note="came back")
    assert reopened.stage == "sql"
    assert reopened.closed_at is None
    assert reopened.exit_reason == ""


def test_reopen_keeps_won_date(lead, manager):
    won_at = _at(2)
    lead_move_to_stage(lead=lead, to_stage="won", actor=manager, at=won_at)

    lead_reopen(lead=lead, to_stage="opportunity", actor=manager, note="deal revived")

    lead.refresh_from_db()
    assert lead.became_won_at == won_at


def test_closed_lead_cannot_jump_to_another_terminal_stage(lead, manager):
    lead_move_to_stage(lead=lead, to_stage="sql", actor=manager, at=_at(3))
    lead_mark_lost(lead=lead, reason="Competitor", actor=manager, at=_at(2))

    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_move_to_stage(lead=lead, to_stage="won", actor=manager)

    assert excinfo.value.rule == "closed_lead"


def test_reopen_of_an_open_lead_is_refused(lead, manager):
    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_reopen(lead=lead, to_stage="mql", actor=manager, note="x")

    assert excinfo.value.rule == "not_closed"


# --- other guards -------------------------------------------------------------------------------


def test_same_stage_and_unknown_stage_are_refused(lead, rep):
    with pytest.raises(LifecycleRuleError) as same:
        lead_move_to_stage(lead=lead, to_stage="lead", actor=rep)
    with pytest.raises(LifecycleRuleError) as unknown:
        lead_move_to_stage(lead=lead, to_stage="customer", actor=rep)

    assert (same.value.rule, unknown.value.rule) == ("same_stage", "unknown_stage")
    assert lead.transitions.count() == 1


def test_move_cannot_predate_history_or_be_in_the_future(lead, rep):
    lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, at=_at(5))

    with pytest.raises(LifecycleRuleError) as past:
        lead_move_to_stage(lead=lead, to_stage="sql", actor=rep, at=_at(6))
    with pytest.raises(LifecycleRuleError) as future:
        lead_move_to_stage(lead=lead, to_stage="sql", actor=rep, at=_at(-1))

    assert (past.value.rule, future.value.rule) == ("at_before_history", "at_in_future")


def test_rep_cannot_move_another_reps_lead(lead, other_rep):
    with pytest.raises(PermissionDenied):
        lead_move_to_stage(lead=lead, to_stage="mql", actor=other_rep)

    lead.refresh_from_db()
    assert lead.stage == "lead"


def test_stale_version_raises_conflict_and_changes_nothing(lead, rep):
    read_version = lead.version
    lead_update(lead=lead, actor=rep, data={"job_title": "CTO"}, expected_version=read_version)

    with pytest.raises(LeadVersionConflict) as excinfo:
        lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, expected_version=read_version)

    assert excinfo.value.current_version == read_version + 1
    lead.refresh_from_db()
    assert lead.stage == "lead"
    assert lead.transitions.count() == 1


def test_update_refuses_lifecycle_fields(lead, rep):
    with pytest.raises(ValidationError) as excinfo:
        lead_update(lead=lead, actor=rep, data={"stage": "won", "became_won_at": timezone.now()})

    assert set(excinfo.value.message_dict) == {"stage", "became_won_at"}


# --- the audit trail ----------------------------------------------------------------------------


def test_transitions_cannot_be_edited_or_deleted(lead):
    transition = lead.transitions.get()

    transition.note = "rewritten"
    with pytest.raises(TypeError):
        transition.save()
    with pytest.raises(TypeError):
        transition.delete()
    with pytest.raises(TypeError):
        StageTransition.objects.filter(pk=transition.pk).update(note="x")
    with pytest.raises(TypeError):
        StageTransition.objects.all().delete()


def test_database_refuses_a_raw_update_of_a_transition(lead):
    from django.db import DatabaseError, connection

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE leads_stagetransition SET note = 'forged'")


def test_database_enforces_first_reached_order(lead):
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(
            became_mql_at=lead.became_lead_at - timedelta(days=1)
        )


def test_database_refuses_a_stage_without_its_date(lead):
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(stage="sql")


def test_reopen_needs_a_note(lead, manager):
    lead_disqualify(lead=lead, reason="Not in target market", actor=manager, at=_at(2))

    with pytest.raises(LifecycleRuleError) as excinfo:
        lead_reopen(lead=lead, to_stage="lead", actor=manager, note=" ")

    assert excinfo.value.rule == "reopen_requires_note"
    lead.refresh_from_db()
    assert lead.stage == "disqualified"


@pytest.mark.parametrize(
    ("closed_from", "terminal", "reopen_to"),
    [
        ("lead", "disqualified", "sql"),
        ("mql", "disqualified", "opportunity"),
        ("sql", "lost", "opportunity"),
        ("opportunity", "lost", "opportunity"),
        ("sql", "won", "mql"),
    ],
)
def test_reopen_to_a_stage_never_reached_stamps_it(lead, manager, closed_from, terminal, reopen_to):
    # given: a lead closed from some stage
    if closed_from != "lead":
        lead_move_to_stage(lead=lead, to_stage=closed_from, actor=manager, at=_at(5))
    lead_move_to_stage(lead=lead, to_stage=terminal, actor=manager, reason="why", at=_at(4))
    before = _dates(lead)
    reopen_at = _at(1)

    # when: a manager reopens it, perhaps further down the funnel than it ever got
    reopened = lead_reopen(lead=lead, to_stage=reopen_to, actor=manager, note="back", at=reopen_at)

    # then: it is there, every stage up to it has a date, and no earlier date changed
    after = _dates(lead)
    assert reopened.stage == reopen_to
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        if old is not None:
            assert new == old
        elif i <= ["lead", "mql", "sql", "opportunity", "won"].index(reopen_to):
            assert new == reopen_at
    assert lead.transitions.first().note == "back"


def test_history_cannot_be_bulk_deleted_through_a_related_manager(lead):
    with pytest.raises(TypeError):
        StageTransition._base_manager.filter(lead=lead).delete()
    with pytest.raises(TypeError):
        lead.transitions.all().delete()

    assert lead.transitions.count() == 1


def test_a_time_slightly_ahead_of_our_clock_is_stored_as_now(lead, rep):
    # A client clock a minute fast must not leave a future date that a later move would undercut.
    ahead = timezone.now() + timedelta(minutes=2)

    moved = lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, at=ahead)

    assert moved.became_mql_at <= timezone.now()
    assert lead.transitions.first().at == moved.became_mql_at
