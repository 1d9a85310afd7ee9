"""Model instances from a fixed SQL statement, for the lookups every API request makes.

The ORM's query compiler cost more than everything else a one-point scoring request does, and
`Model.objects.raw()` still maps columns to fields and looks up each column's converters on every
call (a quarter of a millisecond). A `RowLookup` does that once per process and then only runs
the statement and converts the values, as the ORM would (booleans, aware datetimes, ...).
"""

from collections.abc import Callable, Sequence

from django.db import connection
from django.db.models import Model


class RowLookup:
    """`build_sql()` selects every concrete column of `model` in field order, then the
    `extra` columns, which become attributes of the same names; `one(params)` returns the
    first row's instance, or None."""

    def __init__(
        self, model: type[Model], build_sql: Callable[[], str], extra: Sequence[str] = ()
    ) -> None:
        self.model, self.build_sql, self.extra = model, build_sql, tuple(extra)
        self._prepared: tuple | None = None

    def _prepare(self) -> tuple:
        fields = self.model._meta.concrete_fields
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(self.model._meta.db_table)
            functions = connection.ops.get_db_converters(column) + field.get_db_converters(
                connection
            )
            if functions:
                converters.append((index, column, functions))
        return self.build_sql(), [field.attname for field in fields], converters

    def one(self, params: Sequence) -> Model | None:
        if self._prepared is None:
            self._prepared = self._prepare()
        sql, names, converters = self._prepared
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row[: len(names)])
        for index, column, functions in converters:
            for convert in functions:
                values[index] = convert(values[index], column, connection)
        instance = self.model.from_db(connection.alias, names, values)
        for name, value in zip(self.extra, row[len(names) :], strict=True):
            setattr(instance, name, value)
        return instance
