"""Model fields of our own."""

import json

from django.db import models


class BulkJSONField(models.JSONField):
    """A JSONField for documents written in bulk and read whole, never queried inside.

    Scored points store two of these per row, tens of thousands of rows a second, and every
    writer encodes them with a JSON library (the engine's column-wise writer in bulk, Django's
    encoder otherwise), so the database is spared checking them again on every write:
      - PostgreSQL: `text`. With `jsonb` a binary COPY of 10,000 points took twice as long, and
        even `json` parses each document to validate it (a fifth of the server's work for those
        points). Lookups inside the document (`values__temp`) are not supported; in SQL, cast
        the column (`values::json->>'temp'`).
      - SQLite: no JSON_VALID check constraint (it re-parsed 6 MB of JSON per 10,000 points, a
        third of the insert time).
    """

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "text"
        return super().db_type(connection)

    def db_check(self, connection):
        if connection.vendor == "sqlite":
            return None
        return super().db_check(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        return json.dumps(value, cls=self.encoder)  # text, as SQLite's backend sends it
