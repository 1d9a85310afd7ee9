"""Model fields of our own."""

from django.db import models


class BulkJSONField(models.JSONField):
    """A JSONField for documents written in bulk and read whole, never queried inside.

    Scored points store two of these per row, tens of thousands of rows a second, so the database
    is spared work on every write:
      - PostgreSQL: `json` (the text as sent) rather than `jsonb`. A binary COPY of 10,000 points
        took twice as long when the server had to convert both columns to jsonb. Lookups inside
        the document (`values__temp`) need jsonb and are not supported.
      - SQLite: no JSON_VALID check constraint. Every writer encodes with a JSON library (orjson in
        bulk, Django's encoder otherwise); the check re-parsed 6 MB of JSON per 10,000 points, a
        third of the insert time.
    """

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def db_check(self, connection):
        if connection.vendor == "sqlite":
            return None
        return super().db_check(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        from django.db.backends.postgresql.operations import get_json_dumps
        from psycopg.types.json import Json

        if not prepared:
            value = self.get_prep_value(value)
        return Json(value, dumps=get_json_dumps(self.encoder))

    def from_db_value(self, value, expression, connection):
        # psycopg decodes `json` columns itself (Django only asks it for jsonb as text).
        if value is not None and not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)
