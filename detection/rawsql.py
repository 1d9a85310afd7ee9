"""Model instances from a fixed SQL statement, for the lookups every API request makes.

The ORM's query compiler cost more than everything else a one-point scoring request does, and
`Model.objects.raw()` still maps columns to fields and looks up each column's converters on every
call (a quarter of a millisecond). A `RowLookup` does that once per process and then only runs
the statement and converts the values, as the ORM would (booleans, aware datetimes, ...).
Its instances are made by `loaded_instance`, as `Model.from_db` makes them, without running
`Model.__init__` where nothing depends on it.
"""

from collections.abc import Callable, Sequence

from django.db import connection
from django.db.models import Field, Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

_FROM_DB = Model.from_db.__func__


def loaded_instance(model: type[Model], db: str, attnames: Sequence[str], values: Sequence):
    """`model.from_db(db, attnames, values)`: an instance loaded from the database with those
    fields (the others deferred). Unless the model has its own `from_db` or a pre_init or
    post_init receiver, the values go straight into the instance's __dict__, where
    `Model.__init__` would put them one field at a time after building the deferred fields'
    list: 10 us of a one-point scoring request per instance (two or three per request:
    docs/BENCHMARKS.md). tests/detection/test_rawsql.py checks that both give the same instance."""
    if (
        model.from_db.__func__ is not _FROM_DB
        or pre_init.has_listeners(model)
        or post_init.has_listeners(model)
    ):
        return model.from_db(db, attnames, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    state = instance._state = ModelState()
    state.adding = False
    state.db = db
    return instance


def selected_fields(model: type[Model], names: Sequence[str] | None = None) -> list[Field]:
    """The concrete fields of `model` in field order: all of them, or those named (the primary
    key always). The columns a `RowLookup` statement selects for that model."""
    fields = model._meta.concrete_fields
    if names is None:
        return list(fields)
    return [field for field in fields if field.primary_key or field.name in names]


class RowLookup:
    """`build_sql()` selects the columns of each of `models` (a model, or a pair of a model and
    the names of the fields to load) in the order `selected_fields` gives, one model after the
    other, then the `extra` columns, which become attributes of the last model's instance. A
    field not loaded is deferred, as with `QuerySet.only()`. `one(params)` returns the first
    row as a tuple with an instance per model (None for a model whose primary key is NULL, as
    from an outer join), or None without a row."""

    def __init__(
        self,
        models: Sequence[type[Model] | tuple[type[Model], Sequence[str]]],
        build_sql: Callable[[], str],
        extra: Sequence[str] = (),
    ) -> None:
        self.models = tuple(item if isinstance(item, tuple) else (item, None) for item in models)
        self.build_sql, self.extra = build_sql, tuple(extra)
        self._prepared: tuple | None = None

    def _prepare(self) -> tuple:
        parts, start = [], 0
        for model, names in self.models:
            fields = selected_fields(model, names)
            converters = []
            for index, field in enumerate(fields):
                column = field.get_col(model._meta.db_table)
                functions = connection.ops.get_db_converters(column) + field.get_db_converters(
                    connection
                )
                if functions:
                    converters.append((index, column, functions))
            pk_index = next(i for i, field in enumerate(fields) if field.primary_key)
            attnames = [field.attname for field in fields]
            parts.append((model, start, start + len(fields), pk_index, attnames, converters))
            start += len(fields)
        return self.build_sql(), parts, start

    def one(self, params: Sequence) -> tuple[Model | None, ...] | None:
        if self._prepared is None:
            self._prepared = self._prepare()
        sql, parts, extra_start = self._prepared
        with prepared_cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        instances = []
        for model, start, stop, pk_index, names, converters in parts:
            values = list(row[start:stop])
            if values[pk_index] is None:
                instances.append(None)
                continue
            for index, column, functions in converters:
                for convert in functions:
                    values[index] = convert(values[index], column, connection)
            instances.append(loaded_instance(model, connection.alias, names, values))
        if instances[-1] is not None:
            for name, value in zip(self.extra, row[extra_start:], strict=True):
                setattr(instances[-1], name, value)
        return tuple(instances)


def prepared_cursor():
    """Django's cursor; on PostgreSQL with prepared statements on (`prepare_threshold` in the
    database's OPTIONS: settings.py), one that binds on the server, so psycopg prepares the
    statements it runs often on each kept connection. Parsing and planning the
    token-and-detector statement took about 0.3 ms of a scoring request, more than running it
    (bench/api.py). For fixed statements with typed parameters only: a str parameter is sent
    untyped and the server infers its type from where it is used."""
    if connection.vendor != "postgresql" or (
        connection.settings_dict["OPTIONS"].get("prepare_threshold") is None
    ):
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = ServerBindingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)
