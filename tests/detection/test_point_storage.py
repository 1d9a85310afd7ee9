"""Stored points stay tied to their detector and model version without database constraints.

Points are written in bulk with no foreign-key constraint (one check per row cost PostgreSQL
70 ms for 10,000 points): the batch locks the detector and version rows once, and a deletion
locks them first. These stories check that deletions still reach every point.
"""

import contextlib
import os
import tempfile
import threading

import numpy as np
import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import pq

from detection import events, services
from detection.engine import Pipeline
from detection.models import Detector, ModelVersion, ScoredPoint
from detection.services.scoring import ScoringConflict
from detection.signals import points_stored

SCALE = os.environ.get("TEST_TIER") == "scale"


def normal_points(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.normal(20, 1, n), 1000 + rng.normal(0, 0.5, n), rng.normal(5, 0.2, n)]
    )


def ingest(detector: Detector, n: int = 50):
    return services.points_ingest(
        detector=detector, matrix=normal_points(n), times=None, source=ScoredPoint.Source.API
    )


@pytest.mark.django_db
def test_it_deletes_the_points_with_their_detector(trained_detector):
    ingest(trained_detector)
    other = ScoredPoint.objects.count()
    assert other == 50
    trained_detector.delete()
    assert ScoredPoint.objects.count() == 0


@pytest.mark.django_db
def test_it_unlinks_the_points_of_a_deleted_model_version(trained_detector):
    _, ids = ingest(trained_detector)
    version = trained_detector.active_version
    version.delete()
    unlinked = ScoredPoint.objects.filter(pk__in=ids)
    assert unlinked.count() == 50
    assert set(unlinked.values_list("model_version_id", flat=True)) == {None}


@pytest.mark.django_db
def test_it_finds_a_deleted_versions_points_through_their_detector(trained_detector):
    # Points have no index on their version: the update must name the detector, whose index
    # finds them, or it reads every detector's points.
    _, ids = ingest(trained_detector)
    with CaptureQueriesContext(connection) as queries:
        ModelVersion.objects.filter(pk=trained_detector.active_version_id).delete()
    updates = [
        q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "scoredpoint" in q["sql"]
    ]
    assert len(updates) == 1
    assert '"detector_id" IN' in updates[0] and '"model_version_id" IN' in updates[0]
    assert set(
        ScoredPoint.objects.filter(pk__in=ids).values_list("model_version_id", flat=True)
    ) == {None}


@pytest.mark.django_db
def test_it_stores_nothing_when_the_detector_is_deleted_while_scoring(trained_detector):
    # The request loaded the detector and its model; the row went before the points were written.
    stale = Detector.objects.select_related("active_version").get(pk=trained_detector.pk)
    Detector.objects.filter(pk=trained_detector.pk).delete()
    with pytest.raises(ScoringConflict, match="was deleted while the points were being scored"):
        ingest(stale)
    assert ScoredPoint.objects.count() == 0


@pytest.mark.skipif(not SCALE, reason="row locks are PostgreSQL's; SQLite writers take turns")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("deleted", ["detector", "model version"])
@pytest.mark.parametrize("n", [1, 200], ids=["one point", "a batch"])  # one INSERT, or a COPY
def test_it_waits_for_a_batch_being_stored_and_then_deletes_its_points(
    trained_detector, deleted, n
):
    detector_id = trained_detector.pk
    version_id = trained_detector.active_version_id
    inside, release = threading.Event(), threading.Event()
    errors = []

    def hold_the_batch_open(sender, **kwargs):  # in the batch's transaction, after the insert
        inside.set()
        release.wait(10)

    def in_thread(work):
        def run():
            try:
                work()
            except Exception as error:  # reported by the test below
                errors.append(error)
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def delete():
        if deleted == "detector":
            Detector.objects.get(pk=detector_id).delete()
        else:
            ModelVersion.objects.get(pk=version_id).delete()

    points_stored.connect(hold_the_batch_open, dispatch_uid="hold-the-batch-open")
    try:
        batch = in_thread(lambda: ingest(Detector.objects.get(pk=detector_id), n=n))
        assert inside.wait(10), errors
        deletion = in_thread(delete)
        deletion.join(0.5)
        assert deletion.is_alive(), "the deletion did not wait for the batch being stored"
        release.set()
        batch.join(10)
        deletion.join(10)
    finally:
        release.set()
        points_stored.disconnect(dispatch_uid="hold-the-batch-open")
    assert errors == []
    stored = ScoredPoint.objects.filter(detector_id=detector_id)
    if deleted == "detector":
        assert not Detector.objects.filter(pk=detector_id).exists()
        assert stored.count() == 0
    else:
        assert stored.count() == n
        assert set(stored.values_list("model_version_id", flat=True)) == {None}


@contextlib.contextmanager
def protocol_messages():
    """The messages this thread's PostgreSQL connection sends ("F") and receives ("B"), from
    libpq's own trace of the wire protocol."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    messages: list[str] = []
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield messages
        finally:
            pgconn.untrace()
            trace.seek(0)
            messages.extend(trace.read().decode().splitlines())


def round_trips(messages: list[str]) -> int:
    """Each simple Query or extended-protocol Sync is answered by ReadyForQuery."""
    return sum(1 for m in messages if m.startswith("B") and "ReadyForQuery" in m)


@pytest.mark.skipif(not SCALE, reason="transactions over the wire: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_one_point_is_stored_by_one_statement_that_commits_itself(trained_detector):
    detector = Detector.objects.get(pk=trained_detector.pk)
    stored, trips = [], []
    for seed in range(5):
        with protocol_messages() as messages:
            scored, ids = services.points_ingest(
                detector=detector,
                matrix=normal_points(1, seed=seed),
                times=None,
                source=ScoredPoint.Source.STREAM,
            )
        assert not [m for m in messages if '"BEGIN"' in m or '"COMMIT"' in m], messages
        trips.append(round_trips(messages))
        stored.append((scored, ids[0]))
    # Once prepared (psycopg prepares a statement at its third use, settings.py), the insert
    # is one round trip: no parse and plan, no BEGIN, no COMMIT.
    assert trips[-2:] == [1, 1], trips
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        assert any("INSERT INTO" in row[0] for row in cursor.fetchall())
    for (scored, point_id), seed in zip(stored, range(5), strict=True):
        point = ScoredPoint.objects.get(pk=point_id)
        values = normal_points(1, seed=seed)[0]
        assert list(point.values.values()) == pytest.approx(values.tolist())
        assert point.score == pytest.approx(float(scored.batch.score[0]))
        assert point.explanation == scored.batch.explanations()[0]
        assert (point.band, point.source, point.label) == (
            scored.batch.band[0],
            ScoredPoint.Source.STREAM,
            "",
        )


@pytest.mark.skipif(not SCALE, reason="transactions over the wire: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_one_point_takes_a_transaction_when_a_receiver_writes_with_it(trained_detector):
    detector = Detector.objects.get(pk=trained_detector.pk)
    seen = []

    def receiver(sender, ids, **kwargs):
        seen.append((connection.in_atomic_block, ScoredPoint.objects.filter(pk__in=ids).count()))
        raise RuntimeError("the receiver failed")

    points_stored.connect(receiver, dispatch_uid="failing-receiver")
    try:
        with protocol_messages() as messages, pytest.raises(RuntimeError, match="receiver"):
            ingest(detector, n=1)
    finally:
        points_stored.disconnect(dispatch_uid="failing-receiver")
    assert seen == [(True, 1)]  # inside the transaction, which saw its own point
    assert [m for m in messages if m.startswith("F") and '"BEGIN"' in m]
    assert [m for m in messages if m.startswith("F") and '"ROLLBACK"' in m]
    assert ScoredPoint.objects.count() == 0  # rolled back with the receiver's failure


@pytest.mark.django_db(transaction=True)
def test_a_batch_takes_the_ids_after_every_id_ever_given(trained_detector, monkeypatch):
    # The ids are drawn before the rows go in (SQLite: from the table and sqlite_sequence).
    # Small parts so that the batch goes through the writer thread in several statements.
    from detection.services import scoring

    monkeypatch.setattr(scoring, "ROWS_PER_PART", 200)
    monkeypatch.setattr(scoring, "FIRST_PART_ROWS", 100)
    monkeypatch.setattr(scoring, "LAST_PART_ROWS", 50)
    monkeypatch.setattr(scoring, "SQLITE_ROWS_PER_INSERT", 150)
    detector = Detector.objects.select_related("active_version").get(pk=trained_detector.pk)
    _, first = ingest(detector, n=700)
    assert first == list(range(first[0], first[0] + 700))
    ScoredPoint.objects.filter(pk__gt=first[0]).delete()  # the largest ids are gone
    _, second = ingest(detector, n=700)
    assert second == list(range(first[-1] + 1, first[-1] + 701))  # none given twice
    _, (lone,) = ingest(detector, n=1)  # numbered by the database itself
    assert lone == second[-1] + 1
    stored = ScoredPoint.objects.filter(pk__in=second).order_by("pk")
    scores = [p.score for p in stored]
    expected, _ = ingest(detector, n=700)
    assert scores == pytest.approx(expected.batch.score.tolist(), abs=1e-9)


@pytest.mark.skipif(SCALE, reason="the embedded tier's SQLite")
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_one_point_is_one_statement_too(trained_detector):
    detector = Detector.objects.select_related("active_version").get(pk=trained_detector.pk)
    with CaptureQueriesContext(connection) as queries:
        scored, ids = ingest(detector, n=1)
    assert [q["sql"].split(" ", 2)[:2] for q in queries] == [["WITH", "held"]]
    point = ScoredPoint.objects.get(pk=ids[0])
    assert list(point.values.values()) == pytest.approx(normal_points(1)[0].tolist())
    assert point.explanation == scored.batch.explanations()[0]
    Detector.objects.filter(pk=detector.pk).delete()
    with pytest.raises(ScoringConflict, match="was deleted while the points were being scored"):
        ingest(detector, n=1)
    assert ScoredPoint.objects.count() == 0


@pytest.fixture
def live_layer(monkeypatch) -> InMemoryChannelLayer:
    """An in-memory channel layer for the live events, whatever the tier's layer is."""
    layer = InMemoryChannelLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    return layer


def _listen(layer: InMemoryChannelLayer, detector: Detector):
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.detector_group(detector.pk), channel)
    return lambda: async_to_sync(layer.receive)(channel)["payload"]


_STORED = ("values", "score", "raw_score", "is_anomaly", "band", "explanation", "label", "source")


@pytest.mark.django_db(transaction=True)
def test_a_lone_point_is_stored_and_answered_as_through_the_batch_path(
    trained_detector, live_layer, monkeypatch
):
    detector = Detector.objects.select_related("active_version").get(pk=trained_detector.pk)
    receive = _listen(live_layer, detector)
    calls = []

    def receiver(sender, ids, **kwargs):  # connected, it sends the point through points_ingest
        calls.append(ids)

    def point_ingest(row):
        answer = services.point_ingest(
            detector=detector, row=row, time=None, source=ScoredPoint.Source.API
        )
        return orjson.loads(orjson.dumps(answer))  # JSON text, as the renderer copies it

    hot = np.array([45.0, 1000.3, 5.0])  # an anomaly, last
    for row in [*normal_points(3), hot]:
        with monkeypatch.context() as patched:
            # Without a receiver, the one-row path: no batch is scored.
            patched.setattr(Pipeline, "score", lambda *a: pytest.fail("scored as a batch"))
            alone = point_ingest(row)
        alone_event = receive()
        points_stored.connect(receiver, dispatch_uid="recorder")
        try:
            batched = point_ingest(row)
        finally:
            points_stored.disconnect(dispatch_uid="recorder")
        batched_event = receive()
        assert calls[-1] == [batched["id"]]
        assert alone["id"] != batched["id"]
        assert {**alone, "id": None} == {**batched, "id": None}
        for event in (alone_event, batched_event):
            for point in event["points"]:
                point.pop("id"), point.pop("time")
        assert alone_event == batched_event
        first, second = (
            ScoredPoint.objects.values(*_STORED, "model_version_id").get(pk=answer["id"])
            for answer in (alone, batched)
        )
        assert first == second
    assert alone["is_anomaly"] and alone_event["anomalies"] == 1  # the last one


@pytest.mark.django_db(transaction=True)
def test_a_lone_point_of_a_deleted_detector_is_refused_and_not_stored(trained_detector):
    # The request loaded the detector and its model; the row went before the point was written.
    stale = Detector.objects.select_related("active_version").get(pk=trained_detector.pk)
    services.pipeline_for(stale.active_version)
    Detector.objects.filter(pk=trained_detector.pk).delete()
    with pytest.raises(ScoringConflict, match="was deleted while the points were being scored"):
        services.point_ingest(
            detector=stale, row=normal_points(1)[0], time=None, source=ScoredPoint.Source.API
        )
    assert ScoredPoint.objects.count() == 0
