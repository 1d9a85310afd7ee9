"""The original system's endpoints (/api/detect, /predict, /api/train, ...) mapped onto ours.

The original served one global model. Here every call lands on a project (the `project` the client
names, else the caller's first project, lowest id, that has a default detector) and is scored by
that project's default detector. Results are translated into the original's field names:

- `anomaly_score`: our calibrated 0-100 score;
- `confidence`: 1 - 10^(-score/25), how surely a normal point would NOT score this high (0..1);
- `alert_level`: our bands none/warning/minor/major/critical as normal/low/medium/high/critical;
- `description`: the explanation's sentence; `prediction`: -1 anomaly, 1 normal (scikit-learn's).

Points are stored (source api, or batch for files) only when the caller may write to the project:
a viewer's detections are scored and answered but not stored, so old read-only clients still work.
Training runs in the request, as the original answered after training, on a dataset built from
the payload so that every check of an upload applies.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import (
    APIException,
    PermissionDenied,
    ValidationError,
)

from detection import engine
from detection.access import check_access
from detection.models import (
    WRITE_ROLES,
    Detector,
    JobStatus,
    Membership,
    ModelVersion,
    Project,
    ScoredPoint,
)
from detection.services.datasets import dataset_create, dataset_delete
from detection.services.points import points_matrix
from detection.services.scoring import Scored, active_version, points_ingest, points_score
from detection.services.training import detector_create, model_version_run

SERVICE_NAME = "anomaly-detection"
# The original's algorithm names that ours spell differently.
ALGORITHM_ALIASES = {"one_class_svm": "ocsvm", "statistical": "robust_z"}
# What /api/train trains when the client names no algorithm: the original's first model.
DEFAULT_TRAIN_ALGORITHM = "isolation_forest"
TRAIN_MAX_ROWS = 100_000
ALERT_LEVELS = {
    "none": "normal",
    "warning": "low",
    "minor": "medium",
    "major": "high",
    "critical": "critical",
}
RESULTS_MAX = 1000


class NoDefaultDetector(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "no_default_detector"
    default_detail = "There is no default detector to score with."


class NoProject(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "no_project"
    default_detail = "You are not a member of any project."


class TooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The request is too large."


class TrainingFailed(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "training_failed"
    default_detail = "Training failed."


# --- Which project, which detector -------------------------------------------------------------


def project_param(value) -> int | None:
    """The optional `project` (an id) from a body field or query parameter."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    raise ValidationError(
        {"project": [f"must be a project id (a positive integer), not {value!r}"]}
    )


def _memberships(user):
    return (
        Membership.objects.select_related("project__default_detector__active_version")
        .filter(user=user)
        .order_by("project_id")
    )


def legacy_membership(*, user, project_id: int | None, fallback: bool = False) -> Membership | None:
    """The caller's membership of the named project (404 for a stranger), else of their first
    project with a default detector; with `fallback`, else of their first project at all."""
    if project_id is not None:
        check_access(user, project_id)
        return _memberships(user).get(project_id=project_id)
    found = _memberships(user).filter(project__default_detector__isnull=False).first()
    if found is None and fallback:
        found = _memberships(user).first()
    return found


def scoring_membership(*, user, project_id: int | None) -> Membership:
    """Like `legacy_membership`, but the project must have a default detector."""
    membership = legacy_membership(user=user, project_id=project_id)
    if membership is None:
        raise NoDefaultDetector(
            "None of your projects has a default detector: train one with POST /api/train "
            "(or create a detector in the dashboard), or pass `project` with a project id."
        )
    if membership.project.default_detector is None:
        raise NoDefaultDetector(
            f"Project “{membership.project.name}” ({membership.project.pk}) has no default "
            "detector: train one with POST /api/train or choose one in the dashboard."
        )
    return membership


def training_membership(*, user, project_id: int | None) -> Membership:
    """Where /api/train trains: the named project, else the project /api/detect would use (so
    that train-then-detect works without `project`), else the caller's first writable project."""
    if project_id is not None:
        membership = legacy_membership(user=user, project_id=project_id)
    else:
        membership = legacy_membership(user=user, project_id=None) or (
            _memberships(user).filter(role__in=WRITE_ROLES).first()
        )
        if membership is None:
            if _memberships(user).exists():
                raise PermissionDenied(
                    "Your role in each of your projects is viewer: it cannot train models. "
                    "Ask an owner for the editor role."
                )
            raise NoProject(
                "You are not a member of any project: create one in the dashboard (or with "
                "POST /api/v1/projects/), then train again."
            )
    if not membership.can_write:
        raise PermissionDenied(
            f"Your role in project “{membership.project.name}” ({membership.project.pk}) is "
            f"{membership.role}: it cannot train models. Pass `project` with the id of a project "
            "where you are an owner or editor."
        )
    return membership


def algorithm_name(value) -> str:
    """Our name for an algorithm given in the original's or our spelling."""
    if not isinstance(value, str):
        raise ValidationError({"algorithm": ["must be an algorithm name (a string)"]})
    name = ALGORITHM_ALIASES.get(value.strip().lower(), value.strip().lower())
    if name not in engine.ALGORITHMS:
        accepted = [*engine.ALGORITHMS, *ALGORITHM_ALIASES]
        raise ValidationError(
            {"algorithm": [f"unknown algorithm {value!r}: use one of {', '.join(accepted)}"]}
        )
    return name


def _ready_detectors(project: Project):
    return Detector.objects.select_related("active_version").filter(
        project=project, active_version__status=JobStatus.READY
    )


def scoring_detector(*, project: Project, algorithm=None, width: int | None = None) -> Detector:
    """The project's default detector; or, when `algorithm` names one, a ready detector of that
    algorithm with `width` features (the default first, then the newest)."""
    default = project.default_detector
    if algorithm is not None:
        if not isinstance(algorithm, str):
            raise ValidationError({"algorithm": ["must be an algorithm name (a string)"]})
        name = ALGORITHM_ALIASES.get(algorithm.strip().lower(), algorithm.strip().lower())
        candidates = [
            d for d in _ready_detectors(project).order_by("-id")
            if d.active_version.algorithm == name and len(d.features) == width
        ]
        if candidates:
            return next((d for d in candidates if d.pk == project.default_detector_id),
                        candidates[0])
    return Detector.objects.select_related("active_version").get(pk=default.pk)


# --- Translating results -----------------------------------------------------------------------


def confidence_of(score: float) -> float:
    """1 - 10^(-score/25): the calibrated chance that a normal point scores below this one."""
    return round(1.0 - 10.0 ** (-float(score) / 25.0), 4)


def alert_level_of(band: str) -> str:
    return ALERT_LEVELS.get(band, "normal")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _legacy_rows(scored: Scored) -> list[dict]:
    batch = scored.batch
    return [
        {
            "is_anomaly": bool(anomalous),
            "anomaly_score": round(float(score), 3) + 0.0,  # never -0.0
            "confidence": confidence_of(score),
            "alert_level": alert_level_of(band),
            "description": explanation.get("text", ""),
        }
        for score, band, anomalous, explanation in zip(
            batch.score.tolist(), batch.band.tolist(), scored.is_anomaly.tolist(),
            batch.explanations(), strict=True,
        )
    ]


# --- /api/detect and /predict ------------------------------------------------------------------


def _feature_problem(value) -> str | None:
    if isinstance(value, bool):
        return f"{str(value).lower()} is a boolean, not a number"
    if isinstance(value, str):
        return f"{value!r} is a string, not a number"
    if value is None:
        return "the value is missing (null)"
    if isinstance(value, float) and not math.isfinite(value):
        return "the value is not finite"
    if isinstance(value, int) and abs(value) > 1e308:
        return "the value is too large for a 64-bit float"
    if not isinstance(value, int | float):
        return f"expected a number, got {'an array' if isinstance(value, list) else 'an object'}"
    return None


def features_matrix(features, detector: Detector) -> np.ndarray:
    """One row from the original's `features` (an array in the detector's feature order, or an
    object keyed by feature name); errors name the index at fault."""
    names = detector.features
    allow_missing = detector.missing_policy == Detector.MissingPolicy.IMPUTE
    expects = f"the detector “{detector.name}” expects {len(names)} ({', '.join(names)})"
    if isinstance(features, list):
        if not features:
            raise ValidationError({"features": [f"the list is empty; {expects}"]})
        if len(features) != len(names):
            given = f"{len(features)} value{'' if len(features) == 1 else 's'} given"
            raise ValidationError({"features": [f"{given}; {expects}"]})
        for i, value in enumerate(features):
            problem = _feature_problem(value)
            if problem and not (value is None and allow_missing):
                raise ValidationError({"features": [f"index {i} (`{names[i]}`): {problem}"]})
    elif not isinstance(features, dict):
        raise ValidationError(
            {"features": [f"expected an array of numbers, got {type(features).__name__}; "
                          f"{expects}"]}
        )
    try:
        return points_matrix([features], names, allow_missing=allow_missing)
    except ValidationError as error:
        raise ValidationError({"features": error.detail["points"]}) from None


@dataclass
class Detection:
    """One scored point in the original's terms (every field either endpoint answers with)."""

    timestamp: str
    algorithm: str
    is_anomaly: bool
    anomaly_detected: bool
    confidence: float
    anomaly_score: float
    alert_level: str
    description: str
    prediction: int
    feature_count: int


def legacy_detect(*, user, project_id: int | None, features, algorithm=None) -> Detection:
    """Score one point with the project's default detector (or the named algorithm's); store it
    (source api) when the caller may write to the project."""
    if features is None:
        raise ValidationError(
            {"features": ["this field is required: an array of numbers, e.g. [1.2, 3.4, 5.6]"]}
        )
    membership = scoring_membership(user=user, project_id=project_id)
    width = len(features) if isinstance(features, list | dict) else None
    detector = scoring_detector(project=membership.project, algorithm=algorithm, width=width)
    active_version(detector)  # 409 "train it first" before any complaint about the values
    matrix = features_matrix(features, detector)
    moment = timezone.now()
    if membership.can_write:
        scored, _ = points_ingest(
            detector=detector, matrix=matrix, times=[moment], source=ScoredPoint.Source.API
        )
    else:
        scored = points_score(detector=detector, matrix=matrix)
    row = _legacy_rows(scored)[0]
    return Detection(
        timestamp=iso(moment),
        algorithm=scored.version.algorithm,
        anomaly_detected=row["is_anomaly"],
        prediction=-1 if row["is_anomaly"] else 1,
        feature_count=matrix.shape[1],
        **row,
    )


# --- /api/results ------------------------------------------------------------------------------


def _values_in_order(point: ScoredPoint, detector: Detector) -> list:
    values = point.values or {}
    for names in (getattr(point.model_version, "features", None), detector.features):
        if names and set(names) == set(values):
            return [values[name] for name in names]
    return list(values.values())


def legacy_results(*, project: Project, limit: int = 100) -> list[dict]:
    """The default detector's latest stored points, newest first, in the original's shape."""
    detector = project.default_detector
    points = (
        ScoredPoint.objects.filter(detector=detector)
        .select_related("model_version")
        .order_by("-event_time", "-id")[: max(1, min(limit, RESULTS_MAX))]
    )
    return [
        {
            "timestamp": iso(point.event_time),
            "is_anomaly": point.is_anomaly,
            "anomaly_score": round(point.score, 3) + 0.0,
            "confidence": confidence_of(point.score),
            "alert_level": alert_level_of(point.band),
            "description": (point.explanation or {}).get("text", ""),
            "features": _values_in_order(point, detector),
        }
        for point in points
    ]


# --- /api/models and /api/status ---------------------------------------------------------------


def _state(detector: Detector, training: set[int]) -> str:
    version = detector.active_version
    if version is not None and version.status == JobStatus.READY:
        return "ready"
    return "training" if detector.pk in training else "untrained"


def _training_ids(project: Project) -> set[int]:
    return set(
        ModelVersion.objects.filter(
            detector__project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).values_list("detector_id", flat=True)
    )


def _model(detector: Detector, training: set[int], default_id: int | None) -> dict:
    version = detector.active_version
    ready = version is not None and version.status == JobStatus.READY
    return {
        "id": detector.pk,
        "name": detector.name,
        "algorithm": version.algorithm if ready else detector.algorithm,
        "features": list(version.features if ready else detector.features),
        "feature_count": len(version.features if ready else detector.features),
        "state": _state(detector, training),
        "version": version.number if ready else None,
        "trained_at": iso(version.finished_at) if ready and version.finished_at else None,
        "is_default": detector.pk == default_id,
    }


def available_algorithms() -> list[dict]:
    return [
        {"name": spec.name, "label": spec.label, "description": spec.description}
        for spec in engine.ALGORITHMS.values()
    ]


def legacy_models(*, project: Project | None) -> dict:
    """The project's detectors (as models) and the algorithms a model can be trained with."""
    models = []
    if project is not None:
        training = _training_ids(project)
        detectors = (
            Detector.objects.select_related("active_version").filter(project=project).order_by("id")
        )
        models = [_model(d, training, project.default_detector_id) for d in detectors]
    return {
        "status": "success",
        "project": project.pk if project else None,
        "default_model": project.default_detector_id if project else None,
        "models": models,
        "available_algorithms": available_algorithms(),
    }


def legacy_status(*, project: Project | None) -> dict:
    default = None
    models_loaded = 0
    if project is not None:
        models_loaded = _ready_detectors(project).count()
        if project.default_detector is not None:
            detector = Detector.objects.select_related("active_version").get(
                pk=project.default_detector_id
            )
            default = {**_model(detector, _training_ids(project), detector.pk),
                       "project": project.pk}
            default.pop("is_default")
    return {
        "status": "success",
        "service": SERVICE_NAME,
        "version": settings.SPECTACULAR_SETTINGS.get("VERSION", ""),
        "timestamp": iso(timezone.now()),
        "database": "ok",  # the membership lookup above has just answered
        "models_loaded": models_loaded,
        "model_loaded": bool(default and default["state"] == "ready"),
        "default_detector": default,
    }


# --- /api/train --------------------------------------------------------------------------------


def _training_file(data) -> SimpleUploadedFile:
    """The payload as a file for `dataset_create`: arrays become a CSV with columns f0..f{d-1},
    objects a JSON list of records (their numeric keys become the features)."""
    if not isinstance(data, list):
        raise ValidationError({"data": ["expected a list of rows (arrays of numbers or objects)"]})
    if len(data) > TRAIN_MAX_ROWS:
        raise TooLarge(f"{len(data)} rows to train on; the limit is {TRAIN_MAX_ROWS}: "
                       "upload larger data as a dataset (POST /api/v1/projects/<id>/datasets/).")
    if len(data) < engine.MIN_TRAIN_ROWS:
        raise ValidationError(
            {"data": [f"{len(data)} rows given; training needs at least {engine.MIN_TRAIN_ROWS}"]}
        )
    if all(type(row) is list for row in data):
        width = len(data[0])
        if width == 0:
            raise ValidationError({"data": ["row 0 is empty: each row needs at least 1 number"]})
        names = [f"f{j}" for j in range(width)]
        try:
            matrix = points_matrix(data, names, allow_missing=False)
        except ValidationError as error:
            messages = [m.replace("point ", "row ", 1).replace("the detector expects", "row 0 has")
                        for m in error.detail["points"]]
            raise ValidationError({"data": messages}) from None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([repr(v) for v in row] for row in matrix.tolist())
        return SimpleUploadedFile("legacy-training.csv", out.getvalue().encode(), "text/csv")
    if all(type(row) is dict for row in data):
        body = json.dumps(data, allow_nan=False).encode()
        return SimpleUploadedFile("legacy-training.json", body, "application/json")
    kinds = {type(row).__name__ for row in data}
    raise ValidationError(
        {"data": [f"every row must be an array of numbers, or every row an object; got {kinds}"]}
    )


@transaction.atomic
def _version_queue(*, detector: Detector, user) -> ModelVersion:
    """A queued version row, as detector_train writes it, but without sending the Celery task:
    this request runs the training itself."""
    Detector.objects.select_for_update().filter(pk=detector.pk).first()
    last = detector.versions.aggregate(n=Max("number"))["n"] or 0
    return ModelVersion.objects.create(
        detector=detector, number=last + 1, algorithm=detector.algorithm,
        params=detector.params, features=detector.features, created_by=user,
    )


def legacy_train(*, membership: Membership, user, algorithm=None, data=None) -> dict:
    """Build a dataset from the payload, create a detector on all its numeric columns, train it
    here and now, and make it the project's default. A failure leaves nothing behind."""
    from detection.tabular import TableError

    name = algorithm_name(DEFAULT_TRAIN_ALGORITHM if algorithm is None else algorithm)
    if data is None:
        raise ValidationError({"data": ["this field is required: a list of rows to train on"]})
    upload = _training_file(data)
    project = membership.project
    try:
        dataset = dataset_create(
            project=project, user=user, uploaded_file=upload, name=f"Legacy training data ({name})"
        )
    except TableError as error:
        raise ValidationError({"data": error.errors}) from None
    detector = None
    try:
        features = dataset.feature_columns
        gaps = [f"`{c['name']}` ({c['missing']})" for c in dataset.columns
                if c["name"] in features and c["missing"]]
        if gaps:
            raise ValidationError(
                {"data": [f"values are missing in {', '.join(gaps)}; every row needs every "
                          "feature"]}
            )
        detector = detector_create(
            project=project, user=user, name=f"Legacy {name} ({len(features)} features)",
            dataset=dataset, features=features, algorithm=name,
        )
        version = _version_queue(detector=detector, user=user)
        started = time.monotonic()
        version = model_version_run(version_id=version.pk)
        elapsed = time.monotonic() - started
        if version is None or version.status != JobStatus.READY:
            raise TrainingFailed(f"Training failed: {version.error if version else 'not run'}")
        Project.objects.filter(pk=project.pk).update(default_detector=detector)
    except BaseException:
        if detector is not None:
            detector.delete()
        dataset_delete(dataset=dataset)
        raise
    return {
        "status": "success",
        "message": f"Model trained on {dataset.row_count} rows and made the default detector "
        f"of project “{project.name}”.",
        "training_samples": dataset.row_count,
        "training_time": round(elapsed, 3),
        "timestamp": iso(version.finished_at or timezone.now()),
        "model": {
            "id": detector.pk,
            "name": detector.name,
            "project": project.pk,
            "algorithm": version.algorithm,
            "version": version.number,
            "features": list(version.features),
            "training_rows": dataset.row_count,
        },
    }


# --- /api/batch-detect -------------------------------------------------------------------------


@contextmanager
def _local_copy(uploaded_file) -> Iterator[str]:
    if hasattr(uploaded_file, "temporary_file_path"):
        yield uploaded_file.temporary_file_path()
        return
    with tempfile.NamedTemporaryFile(suffix=".upload") as copy:
        for chunk in uploaded_file.chunks():
            copy.write(chunk)
        copy.flush()
        yield copy.name


def _first_line(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(65536)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return next((line for line in text.splitlines() if line.strip()), "")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@contextmanager
def _with_header(path: str, detector: Detector) -> Iterator[str]:
    """The CSV with a header naming the detector's features when it has none (its first row is
    all numbers and exactly the detector's width); else the file as it is."""
    line = _first_line(path)
    delimiter = max((",", ";", "\t"), key=line.count) if "," not in line else ","
    cells = next(csv.reader([line], delimiter=delimiter), [])
    if not cells or not all(_is_number(c.strip()) for c in cells):
        yield path
        return
    width = len(detector.features)
    if len(cells) != width:
        raise ValidationError(
            {"file": [f"the file has no header and {len(cells)} columns; the detector "
                      f"“{detector.name}” expects {width} ({', '.join(detector.features)}): "
                      "send exactly that many values a row, or add a header naming the columns"]}
        )
    fd, copy = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
            out.write(delimiter.join(detector.features).encode() + b"\n")
            while chunk := source.read(1 << 20):
                out.write(chunk)
        yield copy
    finally:
        os.unlink(copy)


def _file_matrix(path: str, detector: Detector, filename: str, content_type: str):
    """(matrix, event times or None) from the file, or a 400 naming each problem."""
    from detection import tabular

    fmt = tabular.guess_format(path, filename, content_type)
    try:
        if fmt == "csv":
            with _with_header(path, detector) as readable:
                parsed = tabular.read_table(readable, filename=filename, source_format="csv")
        else:
            parsed = tabular.read_table(path, filename=filename, source_format=fmt)
    except tabular.TableError as error:
        raise ValidationError(error.fields or {"file": error.errors}) from None
    features = detector.features
    kinds = {c["name"]: c["kind"] for c in parsed.columns}
    timestamp = parsed.timestamp_column if parsed.timestamp_column not in features else None
    unknown = [n for n in kinds if n not in features and n != timestamp]
    problems: dict[str, list[str]] = {}
    for n in unknown:
        problems[n] = [f"is not a feature of detector “{detector.name}” "
                       f"(its features: {', '.join(features)}); remove the column"]
    missing = [f for f in features if f not in kinds]
    if missing:
        problems["file"] = [f"no column for feature(s) {', '.join(map(repr, missing))}"]
    for f in features:
        if f in kinds and kinds[f] != "number":
            problems[f] = [f"holds {kinds[f]} values; the detector needs numbers"]
    if problems:
        raise ValidationError(problems)
    if parsed.row_count > settings.SCORE_MAX_POINTS:
        raise TooLarge(f"{parsed.row_count} rows in the file; the limit is "
                       f"{settings.SCORE_MAX_POINTS} (SCORE_MAX_POINTS): use a scoring job "
                       "(the dashboard or /api/v1/) for larger files.")
    matrix = np.column_stack([tabular.column_values(parsed.table, f) for f in features])
    if detector.missing_policy != Detector.MissingPolicy.IMPUTE and np.isnan(matrix).any():
        rows, cols = np.nonzero(np.isnan(matrix))
        raise ValidationError(
            {features[cols[0]]: [f"row {rows[0] + 1}: the value is missing; this detector "
                                 f"rejects missing values ({rows.size} missing in all)"]}
        )
    times = parsed.table[timestamp].to_pylist() if timestamp else None
    return matrix, times


def legacy_batch(*, membership: Membership, uploaded_file) -> dict:
    """Score every row of a file with the default detector; store them (source batch) when the
    caller may write to the project. A file with any problem is refused whole."""
    detector = Detector.objects.select_related("active_version").get(
        pk=membership.project.default_detector_id
    )
    active_version(detector)
    filename = os.path.basename(uploaded_file.name or "")
    content_type = getattr(uploaded_file, "content_type", None) or ""
    with _local_copy(uploaded_file) as path:
        matrix, times = _file_matrix(path, detector, filename, content_type)
    if membership.can_write:
        scored, _ = points_ingest(
            detector=detector, matrix=matrix, times=times, source=ScoredPoint.Source.BATCH
        )
    else:
        scored = points_score(detector=detector, matrix=matrix)
    results = [{"row": i, **row} for i, row in enumerate(_legacy_rows(scored), start=1)]
    anomalies = int(scored.is_anomaly.sum())
    return {
        "status": "success",
        "total": len(results),
        "anomalies": anomalies,
        "total_processed": len(results),
        "anomalies_found": anomalies,
        "results": results,
    }
