"""RowLookup gives the instances the ORM gives, from a statement built once."""

import pytest
from django.db import connection
from django.db.models.signals import post_init

from detection.models import Detector
from detection.rawsql import RowLookup, loaded_instance, selected_fields

pytestmark = pytest.mark.django_db


def _sql() -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in Detector._meta.concrete_fields)
    return f"SELECT {columns}, 40 + 2 FROM {q(Detector._meta.db_table)} WHERE {q('id')} = %s"


def test_it_converts_every_column_as_the_orm_does(trained_detector):
    lookup = RowLookup([Detector], _sql, extra=["answer"])
    (got,) = lookup.one([trained_detector.pk])
    want = Detector.objects.get(pk=trained_detector.pk)
    for field in Detector._meta.concrete_fields:
        value = getattr(got, field.attname)
        assert value == getattr(want, field.attname), field.name
        assert type(value) is type(getattr(want, field.attname)), field.name
    assert isinstance(got.features, list) and got.created_at.tzinfo is not None  # JSON, aware
    assert got.answer == 42
    assert got._state.adding is False and got._state.db == "default"
    assert lookup.one([trained_detector.pk + 1000]) is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_postgresql_prepares_the_statement_on_a_kept_connection(trained_detector):
    lookup = RowLookup([Detector], _sql, extra=["answer"])
    answers = [lookup.one([trained_detector.pk])[0].name for _ in range(3)]
    assert answers == [trained_detector.name] * 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert _sql().replace("%s", "$1") in prepared  # from its second use (settings.py)


def test_fields_not_named_are_deferred_and_load_on_first_use(
    trained_detector, django_assert_num_queries
):
    fields = selected_fields(Detector, ["name", "features"])
    assert [f.name for f in fields] == ["id", "name", "features"]  # the key always, field order

    def sql() -> str:
        q = connection.ops.quote_name
        columns = ", ".join(q(f.column) for f in fields)
        return f"SELECT {columns} FROM {q(Detector._meta.db_table)} WHERE {q('id')} = %s"

    lookup = RowLookup([(Detector, ["name", "features"])], sql)
    (got,) = lookup.one([trained_detector.pk])
    assert (got.pk, got.name, got.features) == (
        trained_detector.pk,
        trained_detector.name,
        trained_detector.features,
    )
    assert "params" in got.get_deferred_fields() and "name" not in got.get_deferred_fields()
    with django_assert_num_queries(1):
        assert got.params == trained_detector.params


def _rows(trained_detector, user):
    """(model, attnames, values) as the database gives them: every field, and a few."""
    version = trained_detector.active_version
    cases = []
    for instance in (trained_detector, version, user):
        fields = instance._meta.concrete_fields
        names = [f.attname for f in fields]
        values = [getattr(instance, name) for name in names]
        cases.append((type(instance), names, values))
        cases.append((type(instance), names[:1] + names[-2:], values[:1] + values[-2:]))
    return cases


def test_loaded_instance_is_the_instance_from_db_makes(trained_detector, alice):
    for model, names, values in _rows(trained_detector, alice):
        ours = loaded_instance(model, "default", names, values)
        orms = model.from_db("default", names, values)
        assert type(ours) is model
        assert _fields(ours) == _fields(orms), model
        assert ours.get_deferred_fields() == orms.get_deferred_fields(), model
        assert (ours._state.adding, ours._state.db) == (False, "default")


def _fields(instance) -> dict:
    return {k: v for k, v in instance.__dict__.items() if k != "_state"}


def test_loaded_instance_skips_init_unless_a_receiver_listens(trained_detector, alice, monkeypatch):
    (model, names, values), *_ = _rows(trained_detector, alice)

    def no_init(self, *args, **kwargs):
        raise AssertionError("Model.__init__ ran")

    monkeypatch.setattr(model, "__init__", no_init)
    assert loaded_instance(model, "default", names, values).pk == trained_detector.pk
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=model)
    try:
        with pytest.raises(AssertionError, match="Model.__init__ ran"):
            loaded_instance(model, "default", names, values)  # the ORM's way, with __init__
    finally:
        post_init.disconnect(receiver, sender=model)
