"""Batch files scored in the background: a ScoringJob row first, a task does the work.

The file is checked like a dataset upload (detection.tabular), its columns must include the
detector's features, and it is scored in chunks with progress and a heartbeat. The result is a
CSV of the input's timestamp and feature columns plus score, band, is_anomaly and the
explanation sentence; with `persist` the points are also stored (source "batch").
"""

import csv
import logging
import os
import tempfile
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from detection.models import Detector, JobStatus, ScoredPoint, ScoringJob
from detection.services.scoring import active_version, points_ingest, points_score
from detection.uploads import local_path

logger = logging.getLogger(__name__)

CHUNK_ROWS = 10_000


class JobInputError(ValueError):
    """The file cannot be scored by this detector; the message says why."""


def scoring_job_create(
    *, detector: Detector, user, uploaded_file: File, persist: bool, enqueue: bool = True
) -> ScoringJob:
    """Store the file and queue the job (unless enqueue=False: the caller runs it).

    Raises NoReadyModel when there is nothing to score with.
    """
    active_version(detector)
    job = ScoringJob(
        detector=detector,
        persist=persist,
        original_filename=os.path.basename(uploaded_file.name or "")[:255],
        created_by=user,
    )
    job.input_file.save(job.original_filename or "points.csv", uploaded_file, save=False)
    try:
        with transaction.atomic():
            job.save()
            if enqueue:
                from detection.tasks import scoring_job_task

                transaction.on_commit(lambda: scoring_job_task.delay(job.pk))
    except BaseException:
        job.input_file.delete(save=False)
        raise
    return job


def scoring_job_run(*, job_id: int) -> ScoringJob | None:
    """Score the job's file; claims it first so two workers never run it twice."""
    now = timezone.now()
    claimed = ScoringJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    job = ScoringJob.objects.select_related("detector__active_version").get(pk=job_id)
    try:
        result_path = _score_file(job)
    except Exception as error:
        if not isinstance(error, JobInputError | ValueError):
            logger.exception("scoring job %s failed", job_id)
        ScoringJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, error=_message(error), finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    try:
        with open(result_path, "rb") as handle:
            stem = os.path.splitext(job.original_filename or "points")[0]
            job.result_file.save(f"{stem}-scored.csv", File(handle), save=False)
    finally:
        os.unlink(result_path)
    job.status = JobStatus.READY
    job.progress = 100
    job.finished_at = timezone.now()
    job.save(update_fields=["result_file", "status", "progress", "finished_at"])
    job.refresh_from_db()  # counts were written by queryset updates along the way
    return job


def _message(error: Exception) -> str:
    from detection.tabular import TableError

    if isinstance(error, TableError):
        return error.message
    detail = getattr(error, "detail", None)
    return str(detail if detail is not None else error)


def _score_file(job: ScoringJob) -> str:
    from detection.tabular import column_values, read_table

    detector = job.detector
    with job.input_file.open("rb") as stored, local_path(stored) as path:
        parsed = read_table(path, filename=job.original_filename)
    missing = [f for f in detector.features if f not in {c["name"] for c in parsed.columns}]
    if missing:
        raise JobInputError(
            f"the file has no column {', '.join(f'`{m}`' for m in missing)}; the detector "
            f"reads {', '.join(f'`{f}`' for f in detector.features)}"
        )
    matrix = np.column_stack([column_values(parsed.table, f) for f in detector.features])
    times = _times(parsed)
    n = matrix.shape[0]
    ScoringJob.objects.filter(pk=job.pk).update(rows_total=n)

    handle, result_path = tempfile.mkstemp(suffix=".csv")
    anomalies = 0
    with os.fdopen(handle, "w", newline="") as out:
        writer = csv.writer(out)
        time_header = [parsed.timestamp_column] if times is not None else []
        writer.writerow(
            [*time_header, *detector.features, "score", "band", "is_anomaly", "explanation"]
        )
        for start in range(0, n, CHUNK_ROWS):
            chunk = matrix[start : start + CHUNK_ROWS]
            chunk_times = times[start : start + CHUNK_ROWS] if times is not None else None
            if job.persist:
                scored, _ = points_ingest(
                    detector=detector,
                    matrix=chunk,
                    times=chunk_times,
                    source=ScoredPoint.Source.BATCH,
                )
            else:
                scored = points_score(detector=detector, matrix=chunk)
            texts = [e["text"] for e in scored.batch.explanations()]
            for i, row in enumerate(chunk.tolist()):
                stamp = [chunk_times[i].isoformat()] if chunk_times is not None else []
                writer.writerow(
                    [
                        *stamp,
                        *("" if v != v else v for v in row),
                        round(float(scored.batch.score[i]), 3),
                        scored.batch.band[i],
                        int(scored.is_anomaly[i]),
                        texts[i],
                    ]
                )
            anomalies += int(scored.is_anomaly.sum())
            done = min(n, start + CHUNK_ROWS)
            ScoringJob.objects.filter(pk=job.pk).update(
                rows_done=done,
                anomalies=anomalies,
                progress=min(99, 100 * done // n),
                heartbeat_at=timezone.now(),
                model_version=scored.version,
            )
    return result_path


def _times(parsed) -> list[datetime] | None:
    if not parsed.timestamp_column:
        return None
    import pyarrow as pa

    column = parsed.table[parsed.timestamp_column].cast(pa.timestamp("us"))
    return [
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))
        for us in column.cast(pa.int64()).to_numpy(zero_copy_only=False)
    ]


def scoring_jobs_sweep(*, now=None) -> int:
    """Mark running jobs whose worker went silent as failed; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS)
    return ScoringJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
        status=JobStatus.FAILED,
        error=f"the worker stopped reporting for over {settings.JOB_HEARTBEAT_TIMEOUT_SECONDS} s "
        "(killed or lost); submit the file again",
        finished_at=now,
    )
