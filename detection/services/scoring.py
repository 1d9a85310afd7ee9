"""Scoring points with a detector's active model, and storing them.

`points_score` answers without storing. `points_ingest` is the one way points are stored: score,
insert in bulk, announce them (the `points_stored` signal, inside the transaction, so the alerts
app evaluates its rules in the same transaction), and broadcast to the dashboard after commit.
"""

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from detection import engine
from detection.events import send_detector_event_on_commit
from detection.models import Detector, JobStatus, ModelVersion, ScoredPoint
from detection.signals import points_stored

# Fitted pipelines by model version id, per process: loading a model file costs milliseconds,
# scoring one point microseconds. Versions never change once ready, so no invalidation is needed.
_CACHE_SIZE = 64
_pipelines: OrderedDict[int, engine.Pipeline] = OrderedDict()
_pipelines_lock = threading.Lock()
# At most this many points of one request go to the live dashboard (all anomalies are counted).
BROADCAST_POINTS = 200


class NoReadyModel(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "no_model"
    default_detail = "The detector has no ready model yet: train it first."


def pipeline_for(version: ModelVersion) -> engine.Pipeline:
    with _pipelines_lock:
        pipeline = _pipelines.get(version.pk)
        if pipeline is not None:
            _pipelines.move_to_end(version.pk)
            return pipeline
    with version.artifact.open("rb") as handle:
        pipeline = engine.load_pipeline(handle.read())
    with _pipelines_lock:
        _pipelines[version.pk] = pipeline
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


@dataclass
class Scored:
    """A scored batch with the version that scored it."""

    version: ModelVersion
    batch: engine.ScoreBatch
    is_anomaly: np.ndarray
    threshold: float


def points_score(*, detector: Detector, matrix: np.ndarray) -> Scored:
    """Score rows without storing them; the detector's current sensitivity decides is_anomaly."""
    version = active_version(detector)
    pipeline = pipeline_for(version)
    batch = pipeline.score(matrix)
    threshold = engine.threshold_for(detector.false_alarm_rate)
    return Scored(version, batch, batch.score >= threshold, threshold)


def scored_dicts(scored: Scored, ids: list[int] | None = None) -> list[dict]:
    """The API's per-point answer."""
    batch = scored.batch
    rows = zip(
        batch.score.round(3).tolist(),
        batch.band.tolist(),
        scored.is_anomaly.tolist(),
        batch.explanations(),
        strict=True,
    )
    number = scored.version.number
    out = [
        {"score": s, "band": b, "is_anomaly": a, "explanation": e, "model_version": number}
        for s, b, a, e in rows
    ]
    if ids is not None:
        for item, point_id in zip(out, ids, strict=True):
            item["id"] = point_id
    return out


def points_ingest(
    *,
    detector: Detector,
    matrix: np.ndarray,
    times: list[datetime] | None,
    source: str,
) -> tuple[Scored, list[int]]:
    """Score and store points; returns the scores and the new point ids (in input order)."""
    scored = points_score(detector=detector, matrix=matrix)
    now = timezone.now()
    if times is None:
        times = [now] * matrix.shape[0]
    with transaction.atomic():
        ids = _insert(detector, scored, matrix, times, now, source)
        points_stored.send(sender=Detector, detector=detector, scored=scored, ids=ids, times=times)
        send_detector_event_on_commit(detector, "points", _broadcast_payload(scored, ids, times))
    return scored, ids


def _broadcast_payload(scored: Scored, ids: list[int], times: list[datetime]) -> dict:
    batch = scored.batch
    anomalies = int(scored.is_anomaly.sum())
    start = max(0, len(ids) - BROADCAST_POINTS)
    points = [
        {
            "id": ids[i],
            "time": times[i].isoformat(),
            "score": round(float(batch.score[i]), 2),
            "band": str(batch.band[i]),
            "is_anomaly": bool(scored.is_anomaly[i]),
        }
        for i in range(start, len(ids))
    ]
    return {"count": len(ids), "anomalies": anomalies, "points": points}


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


def _insert(detector, scored, matrix, times, now, source) -> list[int]:
    """Insert the points in one statement per chunk and return their ids in order.

    The ORM's bulk_create builds a model instance per row, which costs more than scoring them;
    these rows are plain tuples with their JSON already encoded.
    """
    batch = scored.batch
    features = detector.features if len(detector.features) == matrix.shape[1] else None
    dumps = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
    values_json = [
        dumps(dict(zip(features, row, strict=True)))
        for row in np.where(np.isnan(matrix), None, matrix).tolist()
    ]
    explanations = [dumps(e) for e in batch.explanations()]
    rows = list(
        zip(
            [detector.pk] * len(times),
            [scored.version.pk] * len(times),
            times,
            [now] * len(times),
            values_json,
            batch.score.tolist(),
            batch.raw.tolist(),
            scored.is_anomaly.tolist(),
            batch.band.tolist(),
            explanations,
            [""] * len(times),
            [source] * len(times),
            strict=True,
        )
    )
    table = ScoredPoint._meta.db_table
    if connection.vendor == "postgresql":
        return _insert_postgresql(table, rows)
    if connection.vendor == "sqlite":
        return _insert_sqlite(table, rows)
    objects = ScoredPoint.objects.bulk_create(
        [ScoredPoint(**dict(zip(_COLUMNS, row, strict=True))) for row in rows], batch_size=1000
    )
    return [obj.pk for obj in objects]


def _insert_sqlite(table: str, rows: list[tuple]) -> list[int]:
    # The write lock is held from BEGIN IMMEDIATE to commit, so no other writer interleaves and
    # SQLite hands out consecutive rowids (max + 1 each time): the ids are the last n.
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    with connection.cursor() as cursor:
        cursor.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders})', rows)
        cursor.execute("SELECT last_insert_rowid()")
        last = cursor.fetchone()[0]
    return list(range(last - len(rows) + 1, last + 1))


_PG_TYPES = (
    "bigint",
    "bigint",
    "timestamptz",
    "timestamptz",
    "jsonb",
    "float8",
    "float8",
    "boolean",
    "text",
    "jsonb",
    "text",
    "text",
)


def _insert_postgresql(table: str, rows: list[tuple]) -> list[int]:
    # One INSERT ... SELECT FROM unnest(arrays) per chunk; RETURNING keeps input order via
    # WITH ORDINALITY.
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    arrays = ", ".join(f"%s::{t}[]" for t in _PG_TYPES)
    sql = (
        f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM unnest({arrays}) '
        f"WITH ORDINALITY AS u({columns}, ord) ORDER BY ord RETURNING id"
    )
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            cursor.execute(sql, [list(col) for col in zip(*chunk, strict=True)])
            ids.extend(row[0] for row in cursor.fetchall())
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
