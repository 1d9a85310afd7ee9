"""Datasets: create from an uploaded file (parsed, checked, stored as Parquet), profile, delete; and
the readers that training and scoring use to get numbers out of a stored dataset.

pandas and pyarrow load on first use, not when Django starts: most processes never need them.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.files import File
from django.db import transaction
from django.utils.text import slugify

from detection.models import Dataset, JobStatus, Project
from detection.uploads import local_path

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


class DatasetError(ValueError):
    """A request a stored dataset cannot answer (an unknown feature, say); the message says why."""


# --- Writes ----------------------------------------------------------------------------------


def dataset_create(
    *,
    project: Project,
    user,
    uploaded_file: File,
    name: str | None = None,
    label_column: str | None = None,
    timestamp_column: str | None = None,
) -> Dataset:
    """Parse and check the file, store it as Parquet, insert the row, queue the profile.

    Raises detection.tabular.TableError naming every problem; then nothing is stored. Parsing
    runs outside any transaction (on SQLite a transaction holds the write lock); the Parquet file
    is written to storage next, then the row is inserted in a transaction, and the file is deleted
    again when that fails.
    """
    import pyarrow.parquet as pq

    from detection import tabular

    filename = os.path.basename(uploaded_file.name or "")
    try:
        with local_path(uploaded_file) as path:
            parsed = tabular.read_table(
                path,
                filename=filename,
                content_type=getattr(uploaded_file, "content_type", None) or "",
                label_column=label_column or None,
                timestamp_column=timestamp_column or None,
            )
            size = os.path.getsize(path)
    except tabular.TableError:
        _release_arrow_memory()
        raise

    dataset = Dataset(
        project=project,
        name=((name or "").strip() or Path(filename).stem or "dataset")[:200],
        original_filename=filename[:255],
        source_format=parsed.source_format,
        size_bytes=size,
        row_count=parsed.row_count,
        columns=parsed.columns,
        label_column=parsed.label_column or "",
        timestamp_column=parsed.timestamp_column or "",
        profile_status=JobStatus.QUEUED,
        created_by=user,
    )
    stem = slugify(dataset.name)[:60] or "dataset"
    with tempfile.TemporaryDirectory(prefix="dataset-") as folder:
        out = Path(folder) / "table.parquet"
        pq.write_table(parsed.table, out, compression="zstd")
        del parsed
        _release_arrow_memory()
        with out.open("rb") as f:
            dataset.file.save(f"{stem}-{secrets.token_hex(4)}.parquet", File(f), save=False)
    try:
        _dataset_insert(dataset=dataset)
    except BaseException:
        dataset.file.delete(save=False)
        raise
    return dataset


@transaction.atomic
def _dataset_insert(*, dataset: Dataset) -> None:
    dataset.save()
    _schedule_profile(dataset_id=dataset.pk)


def _schedule_profile(*, dataset_id: int) -> None:
    from detection.tasks import dataset_profile_task

    # robust: a broker that is down is logged, it does not fail the request that committed;
    # the dataset then stays queued and POST .../profile/ queues it again.
    transaction.on_commit(lambda: dataset_profile_task.delay(dataset_id), robust=True)


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """Delete the row now; detection.receivers deletes its stored file once that commits."""
    dataset.delete()


@transaction.atomic
def dataset_profile_request(*, dataset: Dataset) -> Dataset:
    """Queue the profile (again): after a failure, or when a queued task was lost."""
    Dataset.objects.filter(pk=dataset.pk).update(profile_status=JobStatus.QUEUED, profile_error="")
    _schedule_profile(dataset_id=dataset.pk)
    dataset.refresh_from_db(fields=["profile_status", "profile_error"])
    return dataset


def dataset_profile_compute(*, dataset: Dataset) -> Dataset:
    """Compute and store the profile: queued -> running -> ready, or failed with the error.

    Not one transaction: each status change commits at once so that pages and the API see it.
    A dataset that is not queued (another worker has it, or it is done) is left alone.
    """
    from detection import tabular

    claimed = Dataset.objects.filter(pk=dataset.pk, profile_status=JobStatus.QUEUED).update(
        profile_status=JobStatus.RUNNING, profile_error=""
    )
    if not claimed:
        dataset.refresh_from_db()
        return dataset
    running = Dataset.objects.filter(pk=dataset.pk, profile_status=JobStatus.RUNNING)
    try:
        profile = tabular.profile_table(
            dataset_table(dataset=dataset),
            features=dataset.feature_columns,
            label_column=dataset.label_column or None,
            timestamp_column=dataset.timestamp_column or None,
        )
    except Exception as exc:
        logger.exception("Profile of dataset %s failed", dataset.pk)
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        running.update(profile_status=JobStatus.FAILED, profile_error=error)
    else:
        running.update(profile_status=JobStatus.READY, profile=profile, profile_error="")
    finally:
        _release_arrow_memory()
    dataset.refresh_from_db()
    return dataset


# --- Reads -----------------------------------------------------------------------------------


def dataset_table(*, dataset: Dataset, columns: list[str] | None = None) -> pa.Table:
    """The stored table (or some of its columns) as Arrow."""
    import pyarrow.parquet as pq

    with dataset.file.open("rb") as f:
        return pq.read_table(f, columns=columns)


def dataset_matrix(*, dataset: Dataset, features: list[str]) -> np.ndarray:
    """The features as a float64 array of shape (rows, features), NaN where a value is missing."""
    import numpy as np

    from detection.tabular import column_values

    if not features:
        raise DatasetError("Choose at least one feature.")
    kinds = {c["name"]: c["kind"] for c in dataset.columns}
    unknown = [f for f in features if f not in kinds]
    if unknown:
        raise DatasetError(
            f"Dataset “{dataset.name}” has no column {_names(unknown)}; "
            f"its numeric features are {_names(dataset.feature_columns) or 'none'}."
        )
    not_numbers = [f for f in features if kinds[f] not in ("number", "boolean")]
    if not_numbers:
        shown = ", ".join(f"`{f}` ({kinds[f]})" for f in not_numbers)
        raise DatasetError(f"These columns are not numbers: {shown}.")
    table = dataset_table(dataset=dataset, columns=list(dict.fromkeys(features)))
    return np.column_stack([column_values(table, f) for f in features]).astype(
        np.float64, copy=False
    )


def dataset_labels(*, dataset: Dataset) -> np.ndarray | None:
    """The label column as int8 0/1 (1 = anomaly), or None when the dataset has no label."""
    import numpy as np

    from detection.tabular import column_values

    if not dataset.label_column:
        return None
    table = dataset_table(dataset=dataset, columns=[dataset.label_column])
    return column_values(table, dataset.label_column).astype(np.int8)


def dataset_timestamps(*, dataset: Dataset) -> np.ndarray | None:
    """The timestamp column as numpy datetime64[us] in UTC, or None when there is none."""
    import pyarrow as pa

    if not dataset.timestamp_column:
        return None
    table = dataset_table(dataset=dataset, columns=[dataset.timestamp_column])
    column = table[dataset.timestamp_column]
    naive = column.cast(pa.timestamp("us"))  # UTC wall time without the zone
    return naive.to_numpy()


def _release_arrow_memory() -> None:
    """Hand Arrow's freed buffers back to the system: a web process that parsed a large upload
    would otherwise keep hundreds of MB it no longer uses."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)
