"""Two people moving one lead at once: one wins, the other gets a clear conflict, nothing is lost.

These tests use real threads, each with its own database connection, so they need committed data
(`transaction=True`) and exercise the database's own locking.
"""

from collections import Counter

import pytest
from django.db import OperationalError, connection

from leads.exceptions import LeadVersionConflict, LifecycleRuleError
from leads.models import Lead
from leads.services import lead_move_to_stage, lead_update
from tests.factories import LeadFactory
from tests.threads import run_at_once

THREADS = 8


def _kinds(results) -> Counter:
    return Counter(type(r).__name__ for r in results)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_with_the_same_version_have_exactly_one_winner(rep):
    # given: N people who all read the lead at the same version
    lead = LeadFactory(owner=rep)
    read_version = lead.version

    # when: they all move it at once
    def move(i):
        copy = Lead.objects.get(pk=lead.pk)
        return lead_move_to_stage(
            lead=copy, to_stage="mql" if i % 2 else "sql", actor=rep,
            expected_version=read_version,
        )

    results = run_at_once(move, THREADS)

    # then: one wins, every other one is told of the conflict, and the history matches
    kinds = _kinds(results)
    assert kinds == Counter({"Lead": 1, "LeadVersionConflict": THREADS - 1})
    lead.refresh_from_db()
    assert lead.version == read_version + 1
    assert lead.transitions.count() == 1 + kinds["Lead"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_without_a_version_are_serialised(rep):
    lead = LeadFactory(owner=rep)

    def move(i):
        return lead_move_to_stage(lead=Lead.objects.get(pk=lead.pk), to_stage="mql", actor=rep)

    results = run_at_once(move, THREADS)

    # The first move wins; the rest see the lead already in mql instead of writing a second move.
    successes = [r for r in results if isinstance(r, Lead)]
    refused = [r for r in results if isinstance(r, LifecycleRuleError)]
    assert len(successes) == 1
    assert len(refused) == THREADS - 1
    assert {r.rule for r in refused} == {"same_stage"}
    assert lead.transitions.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_of_different_fields_lose_no_write(rep):
    lead = LeadFactory(owner=rep)
    fields = ["first_name", "last_name", "phone", "job_title"]

    def edit(i):
        return lead_update(
            lead=Lead.objects.get(pk=lead.pk), actor=rep, data={fields[i]: f"value {i}"}
        )

    results = run_at_once(edit, len(fields))

    assert _kinds(results) == Counter({"Lead": len(fields)})
    lead.refresh_from_db()
    assert [getattr(lead, f) for f in fields] == [f"value {i}" for i in range(len(fields))]
    assert lead.version == 1 + len(fields)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_wait_instead_of_failing_with_database_locked(rep):
    # On SQLite, IMMEDIATE transactions queue writers; on PostgreSQL, row locks do. Either way no
    # writer fails, and every write is there afterwards.
    leads = [LeadFactory(owner=rep) for _ in range(THREADS)]
    shared_lead = LeadFactory(owner=rep)
    edits_each = 15

    def write(i):
        lead = Lead.objects.get(pk=leads[i].pk)
        for n in range(edits_each):
            lead = lead_update(lead=lead, actor=rep, data={"job_title": f"title {n}"},
                               expected_version=lead.version)
        lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, expected_version=lead.version)
        # Everyone also writes to one shared lead without a version: serialised, never locked out.
        shared = Lead.objects.get(pk=shared_lead.pk)
        return lead_update(lead=shared, actor=rep, data={"phone": f"+49 {i}"})

    results = run_at_once(write, THREADS)

    errors = [r for r in results if isinstance(r, Exception)]
    assert not [e for e in errors if isinstance(e, OperationalError)], errors
    assert errors == []
    for lead in leads:
        lead.refresh_from_db()
        assert lead.stage == "mql"
        assert lead.job_title == f"title {edits_each - 1}"
    shared_lead.refresh_from_db()
    assert shared_lead.version == 1 + THREADS
    assert shared_lead.phone in {f"+49 {i}" for i in range(THREADS)}


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-specific settings")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_conflict_message_tells_the_user_what_to_do(rep, db):
    lead = LeadFactory(owner=rep)
    with pytest.raises(LeadVersionConflict) as excinfo:
        lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, expected_version=99)
    assert "Reload it and try again" in str(excinfo.value)
