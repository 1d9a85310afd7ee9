"""Scoring points with a detector's active model, and storing them.

`points_score` answers without storing. `points_ingest` is the one way points are stored: score,
insert in bulk, announce them (the `points_stored` signal, inside the transaction, so the alerts
app evaluates its rules in the same transaction), and broadcast to the dashboard after commit.
A lone point, with no receiver connected and no transaction open, is one statement that commits
by itself; `point_ingest` stores the API's one point, through the engine's one-row path then.
"""

import contextlib
import functools
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat

import numpy as np
import orjson
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from detection import engine
from detection.engine import jsontext
from detection.events import send_detector_event_on_commit
from detection.models import Detector, JobStatus, ModelVersion, ScoredPoint
from detection.rawsql import prepared_cursor
from detection.signals import points_stored

# Fitted pipelines by model version id, per process: loading a model file costs milliseconds,
# scoring one point microseconds. Versions never change once ready, so no invalidation is needed.
_CACHE_SIZE = 64
_pipelines: OrderedDict[tuple[int, str], engine.Pipeline] = OrderedDict()
_pipelines_lock = threading.Lock()
# At most this many points of one request go to the live dashboard (all anomalies are counted).
BROADCAST_POINTS = 200


class NoReadyModel(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "no_model"
    default_detail = "The detector has no ready model yet: train it first."


class ModelOutdated(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "model_outdated"
    default_detail = "The detector's model file cannot be read by this version: train it again."


def pipeline_for(version: ModelVersion) -> engine.Pipeline:
    # Keyed by the artifact's name too: a database may reuse the id of a deleted version.
    key = (version.pk, version.artifact.name)
    with _pipelines_lock:
        pipeline = _pipelines.get(key)
        if pipeline is not None:
            _pipelines.move_to_end(key)
            return pipeline
    try:
        with version.artifact.open("rb") as handle:
            pipeline = engine.load_pipeline(handle.read())
    except engine.ModelFormatError as error:
        # Written by an older engine (after an upgrade): say so rather than fail with a 500.
        raise ModelOutdated(
            f"Model version {version.number} cannot be loaded ({error}): train the detector "
            "again to make a model this version can read."
        ) from None
    except FileNotFoundError:
        raise ModelOutdated(
            f"The file of model version {version.number} is missing from storage: train the "
            "detector again."
        ) from None
    with _pipelines_lock:
        _pipelines[key] = pipeline
        while len(_pipelines) > _CACHE_SIZE:
            _pipelines.popitem(last=False)
    return pipeline


def active_version(detector: Detector) -> ModelVersion:
    version = detector.active_version
    if version is None or version.status != JobStatus.READY:
        raise NoReadyModel(
            f"Detector “{detector.name}” has no ready model yet: train it first"
            + (
                " (a training run is in progress)."
                if detector.versions.filter(
                    status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
                ).exists()
                else "."
            )
        )
    return version


class ScoringConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The detector changed while the points were being scored: send them again."


@dataclass
class Scored:
    """A scored batch with the version that scored it; `answers`, when asked of points_ingest,
    are the API's answers for the stored points (scored_results with their ids)."""

    version: ModelVersion
    batch: engine.ScoreBatch
    is_anomaly: np.ndarray
    threshold: float
    answers: list[orjson.Fragment] | None = None


def points_score(*, detector: Detector, matrix: np.ndarray) -> Scored:
    """Score rows without storing them; the detector's current sensitivity decides is_anomaly."""
    version = active_version(detector)
    pipeline = pipeline_for(version)
    batch = pipeline.score(matrix)
    threshold = engine.threshold_for(detector.false_alarm_rate)
    return Scored(version, batch, batch.score >= threshold, threshold)


def _answer_score(score: float) -> float:
    """A lone point's score as the API answers it: np.round(score, 3), as the batch's array is
    rounded (rint(score * 1000) / 1000), in plain Python."""
    return round(score * 1000.0) / 1000.0


def _lone_answer(
    score: float,
    band: str,
    is_anomaly: bool,
    explanation_json: str,
    version_number: int,
    point_id: int | None,
) -> orjson.Fragment:
    """A lone point's answer as JSON text, "id" last when it was stored."""
    answer = {
        "score": _answer_score(score),
        "band": band,
        "is_anomaly": is_anomaly,
        "explanation": orjson.Fragment(explanation_json),
        "model_version": version_number,
    }
    if point_id is not None:
        answer["id"] = point_id
    return orjson.Fragment(orjson.dumps(answer))


def point_score(*, detector: Detector, row: np.ndarray) -> dict:
    """One point without storing it, as `scored_results` gives it, through the engine's one-row
    path: the batch's numbers without the cost of numpy operations on a 1-row matrix."""
    version = active_version(detector)
    result = pipeline_for(version).score_one(row)
    score = result["score"]
    return {
        "score": _answer_score(score),
        "band": result["band"],
        "is_anomaly": score >= engine.threshold_for(detector.false_alarm_rate),
        "explanation": result["explanation"],
        "model_version": version.number,
    }


def scored_results(scored: Scored, ids: list[int] | None = None) -> list[orjson.Fragment]:
    """The API's answer for each point, as JSON text (orjson.Fragment, copied as is by the
    renderer): {"score", "band", "is_anomaly", "explanation", "model_version"} and "id" when
    stored. Written a column at a time: a dict per point would cost more than scoring it."""
    batch = scored.batch
    if len(batch.score) == 1:  # a lone point: one dict costs less than the columns' machinery
        return [
            _lone_answer(
                float(batch.score[0]),
                str(batch.band[0]),
                bool(scored.is_anomaly[0]),
                batch.explanations_json()[0],
                scored.version.number,
                None if ids is None else ids[0],
            )
        ]
    bands = batch.band.tolist()
    band_json = {band: jsontext.string(band) for band in set(bands)}
    keys = ["score", "band", "is_anomaly", "explanation", "model_version"]
    columns = [
        jsontext.numbers(batch.score.round(3)),
        [band_json[band] for band in bands],
        jsontext.numbers(scored.is_anomaly),
        batch.explanations_json(),
        jsontext.number(scored.version.number),
    ]
    if ids is not None:
        keys.append("id")
        columns.append(jsontext.numbers(ids))
    return list(map(orjson.Fragment, jsontext.objects(keys, columns)))


def points_ingest(
    *,
    detector: Detector,
    matrix: np.ndarray,
    times: list[datetime] | None,
    source: str,
    with_answers: bool = False,
) -> tuple[Scored, list[int]]:
    """Score and store points; returns the scores and the new point ids (in input order), and
    with `with_answers` the API's answers in `Scored.answers`.

    The points are scored ROWS_PER_PART at a time (the last part is LAST_PART_ROWS, and on
    PostgreSQL the first is FIRST_PART_ROWS). The first part is scored before the
    transaction: a request of one part (most are) holds no lock while it is scored, which
    matters on SQLite, where writers take turns. Further parts are scored as they are stored,
    so the database stores one part (PostgreSQL's server, SQLite's writer thread) while the
    next is scored here, and each part's answers are written while it is stored: the ids are
    drawn before the first row goes in.
    """
    version = active_version(detector)
    pipeline = pipeline_for(version)
    threshold = engine.threshold_for(detector.false_alarm_rate)
    now = timezone.now()
    if times is None:
        times = [now] * matrix.shape[0]
    parts = _ScoredParts(
        detector, version, pipeline, threshold, matrix, times, now, source, with_answers
    )
    if _one_statement_commits(len(times)):
        with _writer_turn():
            point_id = _insert_one(detector, version, next(parts.rows()))
        return _announce(parts, [point_id])
    with transaction.atomic():
        return _announce(parts, _insert(parts))  # _insert holds the detector and version first


def point_ingest(
    *, detector: Detector, row: np.ndarray, time: datetime | None, source: str
) -> orjson.Fragment:
    """Score and store one point; its answer as `scored_results` gives it, with its id.

    When the point can be one statement that commits by itself (_one_statement_commits), it is
    scored through the engine's one-row path and its row built here, with no ScoreBatch: for a
    lone point the batch's arrays cost more than the insert's own Python (bench/api.py). Else
    it goes through points_ingest.
    """
    if not _one_statement_commits(1):
        times = None if time is None else [time]
        scored, _ = points_ingest(
            detector=detector, matrix=row[None], times=times, source=source, with_answers=True
        )
        return scored.answers[0]
    version = active_version(detector)
    result = pipeline_for(version).score_one(row)
    score, band = float(result["score"]), result["band"]
    is_anomaly = score >= engine.threshold_for(detector.false_alarm_rate)
    explanation = orjson.dumps(result["explanation"]).decode()
    now = timezone.now()
    event_time = now if time is None else time
    received = _db_time(now)
    stored = (
        detector.pk,
        version.pk,
        received if time is None else _db_time(time),
        received,
        _values_json(detector, row[None])[0],
        score,
        float(result["raw"]),
        is_anomaly,
        band,
        explanation,
        "",
        source,
    )
    with _writer_turn():
        point_id = _insert_one(detector, version, stored)
    send_detector_event_on_commit(
        detector,
        "points",
        lambda: {
            "count": 1,
            "anomalies": int(is_anomaly),
            "points": [_broadcast_point(point_id, event_time, score, band, is_anomaly)],
        },
    )
    return _lone_answer(score, band, is_anomaly, explanation, version.number, point_id)


def _one_statement_commits(count: int) -> bool:
    """Whether the point can be stored without a transaction of its own: one point is one
    statement (_insert_one), which commits by itself when no transaction is open and no
    receiver of `points_stored` writes with it. On PostgreSQL that saves the BEGIN and COMMIT
    round trips, two of a stored point's four; on SQLite, the turns of the GIL between BEGIN,
    INSERT and COMMIT while the write lock is held (bench/api.py). Once a receiver is connected
    (the alerts app's rules), every store takes the transaction again."""
    return (
        count == 1
        and connection.vendor in ("postgresql", "sqlite")
        and connection.get_autocommit()
        and not points_stored.has_listeners(Detector)
    )


def _writer_turn():
    """SQLite's writers take turns (anomaly_project/sqlite), also for a write in autocommit."""
    turn = getattr(connection, "writer_turn", None)
    return turn() if turn is not None else contextlib.nullcontext()


def _announce(parts: "_ScoredParts", ids: list[int]) -> tuple[Scored, list[int]]:
    """Tell the receivers of `points_stored` (inside the transaction) and, after commit, the
    detector's live listeners."""
    batch = engine.ScoreBatch.concatenate(parts.batches)
    scored = Scored(parts.version, batch, batch.score >= parts.threshold, parts.threshold)
    if parts.with_answers:
        scored.answers = parts.answers if parts.answers is not None else scored_results(scored, ids)
    detector, times = parts.detector, parts.times_given
    points_stored.send(sender=Detector, detector=detector, scored=scored, ids=ids, times=times)
    send_detector_event_on_commit(
        detector, "points", lambda: _broadcast_payload(scored, ids, times)
    )
    return scored, ids


def _hold(detector: Detector, version: ModelVersion) -> None:
    """Lock the detector and version rows until commit, and make sure they still exist.

    Points carry no database constraint to either (see ScoredPoint): this one check replaces a
    check per row. A deletion locks the row first (detection/receivers.py) so it waits for these
    points and then deletes them too. FOR KEY SHARE lets concurrent batches and edits of the
    detector go on. SQLite has no row locks, but its writers take turns (BEGIN IMMEDIATE).
    """
    with connection.cursor() as cursor:
        cursor.execute(_held_sql(), [detector.pk, version.pk])
        if cursor.fetchone() is None:
            raise _conflict(detector, version)


def _held_sql() -> str:
    lock = " FOR KEY SHARE" if connection.features.has_select_for_update else ""
    return (
        f"SELECT d.id FROM {Detector._meta.db_table} d "
        f"JOIN {ModelVersion._meta.db_table} v ON v.detector_id = d.id "
        f"WHERE d.id = %s AND v.id = %s{lock}"
    )


def _conflict(detector: Detector, version: ModelVersion) -> ScoringConflict:
    return ScoringConflict(
        f"Detector “{detector.name}” or its model version {version.number} was deleted "
        "while the points were being scored; nothing was stored."
    )


def _broadcast_payload(scored: Scored, ids: list[int], times: list[datetime]) -> dict:
    batch = scored.batch
    anomalies = int(scored.is_anomaly.sum())
    start = max(0, len(ids) - BROADCAST_POINTS)
    points = [
        _broadcast_point(
            ids[i],
            times[i],
            float(batch.score[i]),
            str(batch.band[i]),
            bool(scored.is_anomaly[i]),
        )
        for i in range(start, len(ids))
    ]
    return {"count": len(ids), "anomalies": anomalies, "points": points}


def _broadcast_point(point_id: int, time: datetime, score: float, band: str, is_anomaly: bool):
    """One point as the live dashboard gets it."""
    return {
        "id": point_id,
        "time": time.isoformat(),
        "score": round(score, 2),
        "band": band,
        "is_anomaly": is_anomaly,
    }


_COLUMNS = (
    "detector_id",
    "model_version_id",
    "event_time",
    "received_at",
    "values",
    "score",
    "raw_score",
    "is_anomaly",
    "band",
    "explanation",
    "label",
    "source",
)


# Points are scored and turned into rows this many at a time (see points_ingest). The last
# part is smaller: the database stores it after this thread is done. With a last part of 400,
# the wait for PostgreSQL's server at the COPY's end went from 16-19 ms to 10-11 in three runs
# of four, and for SQLite's writer from 12-14 ms to about 3 (docs/BENCHMARKS.md). On PostgreSQL
# the first part is smaller too: the server, which stores rows as they arrive (COPY), has
# nothing to do until the first part is scored; a 10,000-point batch was stored 6-15 ms sooner
# with a first part of 500 (bench/api.py). On SQLite a whole first part is scored before the
# transaction, without holding the write lock, and its writer takes whole INSERTs of up to 2000
# rows.
ROWS_PER_PART = 2000
FIRST_PART_ROWS = 500
LAST_PART_ROWS = 400


def _part_slices(count: int, first: int, last: int | None = None) -> list[slice]:
    """The parts of `count` rows: `first` rows (at most ROWS_PER_PART), then ROWS_PER_PART at a
    time; with `last`, a final part longer than that is split to end with `last` rows."""
    first = min(first, ROWS_PER_PART, count)
    parts = [slice(0, first)] + [
        slice(start, min(start + ROWS_PER_PART, count))
        for start in range(first, count, ROWS_PER_PART)
    ]
    end = parts[-1]
    if last is not None and len(parts) > 1 and end.stop - end.start > last:
        parts[-1:] = [slice(end.start, end.stop - last), slice(end.stop - last, end.stop)]
    return parts


class _ScoredParts:
    """The rows to insert, in _COLUMNS order, built a part at a time as they are asked for; the
    first part is scored when this is made, the others when their rows are asked for.
    `batches` holds each part's scores once its rows are out; `answers`, each part's answers
    once its rows are out, when they are asked for with ids and `with_answers`."""

    def __init__(
        self, detector, version, pipeline, threshold, matrix, times, now, source, with_answers
    ):
        self.detector, self.version, self.pipeline = detector, version, pipeline
        self.threshold, self.matrix, self.source = threshold, matrix, source
        self.with_answers = with_answers
        self.answers: list[orjson.Fragment] | None = None
        self.times_given = times
        self.times, self.received = times, now
        if connection.vendor == "sqlite":  # its driver would format the same `now` once per row
            adapt = connection.ops.adapt_datetimefield_value
            self.received = adapt(now)
            self.times = [self.received if t is now else adapt(t) for t in times]
        self.batches: list[engine.ScoreBatch] = []
        first = FIRST_PART_ROWS if connection.vendor == "postgresql" else ROWS_PER_PART
        self._parts = _part_slices(len(times), first, LAST_PART_ROWS)
        self._first = self._score(self.matrix[self._parts[0]])

    def _score(self, matrix: np.ndarray) -> engine.ScoreBatch:
        batch = self.pipeline.score(matrix)
        batch.explanations_json()
        return batch

    def rows(self, ids: list[int] | None = None) -> Iterator[tuple]:
        """With `ids`, each row starts with its id."""
        return itertools.chain.from_iterable(self.parts(ids))

    def parts(self, ids: list[int] | None = None) -> Iterator[Iterator[tuple]]:
        """The rows a part at a time; a part's answers are written when the next part is asked
        for, that is while the database stores the part."""
        answering = ids is not None and self.with_answers
        if answering:
            self.answers = []
        for part in self._parts:
            matrix = self.matrix[part]
            batch = self._first if part.start == 0 else self._score(matrix)
            self.batches.append(batch)
            is_anomaly = batch.score >= self.threshold
            # zip in C: repeat() never ends, and every list here has the part's length
            yield zip(
                *([] if ids is None else [ids[part]]),
                repeat(self.detector.pk),
                repeat(self.version.pk),
                self.times[part],
                repeat(self.received),
                _values_json(self.detector, matrix),
                batch.score.tolist(),
                batch.raw.tolist(),
                is_anomaly.tolist(),
                batch.band.tolist(),
                batch.explanations_json(),
                repeat(""),
                repeat(self.source),
                strict=False,
            )
            if answering:  # while the database stores this part
                part_scored = Scored(self.version, batch, is_anomaly, self.threshold)
                self.answers += scored_results(part_scored, ids[part])


def _insert(parts: _ScoredParts) -> list[int]:
    """Insert the points in bulk and return their ids in input order.

    The ORM's bulk_create builds a model instance per row, which costs more than scoring them;
    these rows are plain tuples, their JSON columns written as text a column at a time.
    """
    table = ScoredPoint._meta.db_table
    count = len(parts.times)
    if connection.vendor == "postgresql" and count == 1:  # holds the rows in the same statement
        return [_insert_one(parts.detector, parts.version, next(parts.rows()))]
    _hold(parts.detector, parts.version)
    if connection.vendor == "postgresql":
        return _insert_postgresql(table, parts, count)
    if connection.vendor == "sqlite":
        return _insert_sqlite(table, parts, count)
    objects = ScoredPoint.objects.bulk_create(
        [ScoredPoint(**dict(zip(_COLUMNS, row, strict=True))) for row in parts.rows()],
        batch_size=1000,
    )
    return [obj.pk for obj in objects]


def _db_time(value: datetime):
    """A time as the insert statements take it: SQLite's driver gets Django's text for it."""
    if connection.vendor == "sqlite":
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _values_json(detector: Detector, matrix: np.ndarray) -> list[str]:
    """Each row's values as a JSON object keyed by feature (null where missing). Finite floats
    only reach here: points_matrix refuses infinities."""
    if matrix.shape[0] == 1:  # a lone point: one dict, the same text as the columns give
        values = [None if v != v else v for v in matrix[0].tolist()]  # NaN is missing
        return [orjson.dumps(dict(zip(detector.features, values, strict=True))).decode()]
    missing = np.isnan(matrix)
    values = np.where(missing, None, matrix) if missing.any() else matrix
    return jsontext.objects(
        detector.features, [jsontext.numbers(values[:, j]) for j in range(values.shape[1])]
    )


# Rows per INSERT statement on SQLite (fewer if its variable limit is lower).
SQLITE_ROWS_PER_INSERT = 2000


def _insert_sqlite(table: str, parts: _ScoredParts, count: int) -> list[int]:
    # Many rows per INSERT: executemany runs the statement once per row, and each run has its
    # own start-up and AUTOINCREMENT bookkeeping (a third of the time for 10k points).
    per_statement = min(
        SQLITE_ROWS_PER_INSERT, connection.features.max_query_params // (len(_COLUMNS) + 1)
    )
    row = "(" + ", ".join(["?"] * (len(_COLUMNS) + 1)) + ")"
    columns = ", ".join(f'"{c}"' for c in ("id", *_COLUMNS))
    # The sqlite3 connection itself, in the same transaction: Django's cursor would rewrite
    # every %s of these long statements into ? with a regex (14 ms for 10k points).
    raw = connection.connection
    ids = _next_sqlite_ids(raw, table, count)

    def insert(chunk: tuple[tuple, ...]) -> None:
        sql = f'INSERT INTO "{table}" ({columns}) VALUES ' + ", ".join([row] * len(chunk))
        raw.execute(sql, list(itertools.chain.from_iterable(chunk)))

    if count <= per_statement:  # one statement: nothing to overlap
        insert(tuple(parts.rows(ids)))
        return ids
    # SQLite inserts with the GIL released, so a second thread runs the statements while this
    # one writes the answers, scores the next part and builds its rows. Nothing else uses the
    # connection meanwhile: this thread only waits for the writer at the end.
    writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-insert")
    inserts = []
    try:
        for part in parts.parts(ids):
            for chunk in itertools.batched(part, per_statement):
                inserts.append(writer.submit(insert, chunk))
    except BaseException:
        writer.shutdown(wait=True, cancel_futures=True)  # before the atomic block rolls back
        raise
    writer.shutdown(wait=True)
    for done in inserts:
        done.result()  # the first failure, if any, is raised here (and the atomic block undoes)
    return ids


def _next_sqlite_ids(raw, table: str, count: int) -> list[int]:
    """The ids SQLite would give the next `count` rows of an AUTOINCREMENT table: one more than
    the larger of its largest id and the largest it ever gave (sqlite_sequence). The write lock
    is held from BEGIN IMMEDIATE to commit, so no other writer takes them first; the rows are
    inserted with these ids, and SQLite moves sqlite_sequence past them."""
    (last,) = raw.execute(
        f'SELECT max(coalesce((SELECT max("id") FROM "{table}"), 0), '
        "coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))",
        [table],
    ).fetchone()
    return list(range(last + 1, last + count + 1))


# Column types of the binary COPY: "id", then _COLUMNS. The json columns are sent as text:
# json's binary form is its text, which the engine has already written.
_PG_COPY_TYPES = (
    "int8",
    "int8",
    "int8",
    "timestamptz",
    "timestamptz",
    "text",
    "float8",
    "float8",
    "bool",
    "text",
    "text",
    "text",
    "text",
)


def _insert_one(detector: Detector, version: ModelVersion, row: tuple) -> int:
    """One point (`row` in _COLUMNS order): the rows held (_hold) and the point inserted in one
    statement, one round trip to PostgreSQL instead of four (hold, sequence, ids, COPY). On
    PostgreSQL the statement is prepared on the connection (prepared_cursor): parsing and
    planning it took 0.3 ms, more than running it."""
    with prepared_cursor() as cursor:
        cursor.execute(_insert_one_sql(connection.vendor), [detector.pk, version.pk, *row])
        rows = cursor.fetchall()  # to the statement's end: SQLite commits it there
    if not rows:
        raise _conflict(detector, version)
    return rows[0][0]


@functools.cache  # built once per database vendor, not once per stored point
def _insert_one_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(c) for c in _COLUMNS)
    values = ", ".join(["%s"] * len(_COLUMNS))
    return (
        f"WITH held AS ({_held_sql()}) "
        f"INSERT INTO {q(ScoredPoint._meta.db_table)} ({columns}) "
        f"SELECT {values} FROM held RETURNING {q('id')}"
    )


def _insert_postgresql(table: str, parts: _ScoredParts, count: int) -> list[int]:
    # A binary COPY is the fastest way in (10k points: 0.17 s against 0.7 s for INSERT ... SELECT
    # FROM unnest(arrays)), but returns no ids: they are drawn from the table's identity sequence
    # first, as an INSERT would draw them, and given to the rows in input order.
    q = connection.ops.quote_name
    columns = ", ".join(q(c) for c in ("id", *_COLUMNS))
    with connection.cursor() as cursor:
        # The sequence's name once, not once per row in the SELECT list (25 ms for 10k rows).
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT nextval(%s) AS id FROM generate_series(1, %s) ORDER BY id",
            [sequence, count],
        )
        ids = [row[0] for row in cursor.fetchall()]
        raw = cursor.cursor  # psycopg's own cursor
        with raw.copy(f"COPY {q(table)} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_PG_COPY_TYPES)
            for row in parts.rows(ids):
                copy.write_row(row)
    return ids


@transaction.atomic
def point_label(*, point: ScoredPoint, label: str, user) -> ScoredPoint:
    """Record (or clear, with "") a person's verdict on a point."""
    point.label = label
    point.labelled_at = timezone.now() if label else None
    point.labelled_by = user if label else None
    point.save(update_fields=["label", "labelled_at", "labelled_by"])
    send_detector_event_on_commit(point.detector, "label", {"point": point.pk, "label": label})
    return point
