"""On PostgreSQL, scored points keep their JSON columns as text (see BulkJSONField).

The field's type changed in code, which migrations cannot see, so the columns are altered here;
on a new database 0004 has already made them text and this changes nothing.
"""

from django.db import migrations

COLUMNS = ('"values"', '"explanation"')


def to_text(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        alters = ", ".join(f"ALTER COLUMN {c} TYPE text" for c in COLUMNS)
        schema_editor.execute(f"ALTER TABLE detection_scoredpoint {alters}")


def to_json(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        alters = ", ".join(f"ALTER COLUMN {c} TYPE json USING {c}::json" for c in COLUMNS)
        schema_editor.execute(f"ALTER TABLE detection_scoredpoint {alters}")


class Migration(migrations.Migration):
    dependencies = [
        ("detection", "0004_bulk_point_columns"),
    ]

    operations = [migrations.RunPython(to_text, to_json)]
