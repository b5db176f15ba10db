"""The points ledger is append-only: the database itself refuses UPDATE and DELETE.

PostgreSQL only (production and CI); TRUNCATE, which the test suite uses to reset
tables, is not a row operation and stays possible for the owner.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION members_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the points ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER members_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON members_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION members_ledger_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS members_ledgerentry_append_only ON members_ledgerentry;
DROP FUNCTION IF EXISTS members_ledger_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
