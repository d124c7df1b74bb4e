"""The database itself refuses to edit stage transitions, whatever door a write comes through.

Deletes are refused on PostgreSQL too (TRUNCATE, used by test flushes and restores, is not a row
delete). SQLite has no TRUNCATE, so there only updates are refused in the database; the ORM refuses
deletes everywhere and leads cannot be deleted while they have transitions (PROTECT).
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION leads_stagetransition_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'stage transitions are immutable (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER leads_stagetransition_no_update BEFORE UPDATE OR DELETE ON leads_stagetransition
    FOR EACH ROW EXECUTE FUNCTION leads_stagetransition_immutable();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS leads_stagetransition_no_update ON leads_stagetransition;
DROP FUNCTION IF EXISTS leads_stagetransition_immutable();
"""
SQLITE_FORWARD = """
CREATE TRIGGER leads_stagetransition_no_update BEFORE UPDATE ON leads_stagetransition
BEGIN
    SELECT RAISE(ABORT, 'stage transitions are immutable (UPDATE refused)');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS leads_stagetransition_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
