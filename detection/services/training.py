"""Detectors and their training: create, train in the background, activate, roll back, sweep.

A training run is a ModelVersion row written first (queued); a Celery task claims it (running),
reports progress and a heartbeat while the engine fits, then stores the model file and metrics
(ready) or the error (failed). The detector's active version changes only on success, so a
failed run leaves the previous model serving.
"""

import io
import logging
import secrets
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from detection import engine
from detection.events import send_detector_event
from detection.models import Dataset, Detector, JobStatus, ModelVersion, Project
from detection.services.datasets import dataset_labels, dataset_matrix

logger = logging.getLogger(__name__)


def _clean_config(
    *, dataset: Dataset | None, features: list[str], algorithm: str, params: dict | None
) -> dict:
    """Check a detector's configuration against the engine; errors name the field at fault."""
    if not features:
        raise ValidationError({"features": ["Choose at least one feature."]})
    if len(set(features)) != len(features):
        raise ValidationError({"features": ["A feature is listed twice."]})
    if dataset is not None:
        unknown = [f for f in features if f not in dataset.feature_columns]
        if unknown:
            raise ValidationError(
                {
                    "features": [
                        f"`{name}` is not a numeric column of dataset “{dataset.name}” "
                        f"(numeric columns: {', '.join(dataset.feature_columns)})"
                        for name in unknown
                    ]
                }
            )
    if algorithm not in engine.ALGORITHMS:
        raise ValidationError(
            {
                "algorithm": [
                    f"unknown algorithm {algorithm!r}: use one of {', '.join(engine.ALGORITHMS)}"
                ]
            }
        )
    try:
        return engine.validate_params(algorithm, params or {})
    except engine.ConfigError as error:
        field = f"params.{error.param}" if getattr(error, "param", None) else "params"
        raise ValidationError({field: [str(error)]}) from None


def _clean_rate(sensitivity) -> float:
    try:
        return engine.rate_for(sensitivity)
    except engine.EngineError as error:
        raise ValidationError({"sensitivity": [str(error)]}) from None


@transaction.atomic
def detector_create(
    *,
    project: Project,
    user,
    name: str,
    dataset: Dataset | None,
    features: list[str],
    algorithm: str = engine.DEFAULT_ALGORITHM,
    params: dict | None = None,
    sensitivity: str | float = "medium",
    missing_policy: str = Detector.MissingPolicy.REJECT,
) -> Detector:
    if dataset is not None and dataset.project_id != project.pk:
        raise ValidationError({"dataset": ["The dataset belongs to another project."]})
    clean = _clean_config(dataset=dataset, features=features, algorithm=algorithm, params=params)
    detector = Detector.objects.create(
        project=project,
        name=name.strip(),
        dataset=dataset,
        features=list(features),
        algorithm=algorithm,
        params=clean,
        false_alarm_rate=_clean_rate(sensitivity),
        missing_policy=missing_policy,
        created_by=user,
    )
    if project.default_detector_id is None:
        Project.objects.filter(pk=project.pk).update(default_detector=detector)
        project.default_detector = detector
    return detector


@transaction.atomic
def detector_update(*, detector: Detector, **changes) -> Detector:
    """Change name, sensitivity, missing policy or the training configuration.

    A new algorithm, parameters, features or dataset take effect at the next training run; the
    active model keeps serving until then. Sensitivity takes effect at once (no retraining).
    """
    if "sensitivity" in changes:
        detector.false_alarm_rate = _clean_rate(changes.pop("sensitivity"))
    config_keys = {"dataset", "features", "algorithm", "params"}
    if config_keys & changes.keys():
        merged = {key: changes.get(key, getattr(detector, key)) for key in config_keys}
        if merged["dataset"] is not None and merged["dataset"].project_id != detector.project_id:
            raise ValidationError({"dataset": ["The dataset belongs to another project."]})
        changes["params"] = _clean_config(**merged)
    for key, value in changes.items():
        setattr(detector, key, value.strip() if key == "name" else value)
    detector.save()
    return detector


@transaction.atomic
def detector_train(*, detector: Detector, user=None, enqueue: bool = True) -> ModelVersion:
    """Queue a training run of the detector's current configuration on its dataset.

    With enqueue=False no task is sent: the caller runs `model_version_run` itself.
    """
    if detector.dataset_id is None:
        raise ValidationError({"dataset": ["The detector has no dataset to train on."]})
    # Lock the detector row so two concurrent requests cannot take the same version number.
    Detector.objects.select_for_update().filter(pk=detector.pk).first()
    last = detector.versions.aggregate(n=Max("number"))["n"] or 0
    version = ModelVersion.objects.create(
        detector=detector,
        number=last + 1,
        algorithm=detector.algorithm,
        params=detector.params,
        features=detector.features,
        created_by=user,
    )
    if enqueue:
        from detection.tasks import train_model_version_task

        transaction.on_commit(lambda: train_model_version_task.delay(version.pk))
    return version


def _report_progress(version: ModelVersion, progress: int) -> None:
    now = timezone.now()
    ModelVersion.objects.filter(pk=version.pk, status=JobStatus.RUNNING).update(
        progress=progress, heartbeat_at=now
    )
    send_detector_event(
        version.detector,
        "training",
        {
            "version": version.pk,
            "number": version.number,
            "status": "running",
            "progress": progress,
        },
    )


def _evaluation_metrics(pipeline, X: np.ndarray, labels: np.ndarray) -> dict | None:
    """How well the fitted model separates the dataset's labelled anomalies (in-sample)."""
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    keep = ~np.isnan(labels)
    y = labels[keep].astype(int)
    if y.size == 0 or y.min() == y.max():
        return None
    batch = pipeline.score(X[keep])
    flagged = batch.is_anomaly
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, flagged, average="binary", zero_division=0
    )
    normal = y == 0
    return {
        "roc_auc": round(float(roc_auc_score(y, batch.score)), 4),
        "average_precision": round(float(average_precision_score(y, batch.score)), 4),
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "false_alarm_rate": round(float(flagged[normal].mean()), 5) if normal.any() else None,
        "labelled_rows": int(y.size),
        "anomalies": int(y.sum()),
    }


def model_version_run(*, version_id: int) -> ModelVersion | None:
    """Do one training run: claim it, fit, store. Called by the Celery task; never raises for
    a bad dataset or configuration, which end as a failed version with the error."""
    now = timezone.now()
    claimed = ModelVersion.objects.filter(pk=version_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, progress=0
    )
    if not claimed:
        logger.info("model version %s is not queued (already taken or gone)", version_id)
        return None
    version = ModelVersion.objects.select_related("detector__dataset").get(pk=version_id)
    detector = version.detector
    try:
        if detector.dataset is None:
            raise engine.InputError("the detector's dataset was deleted")
        X = dataset_matrix(dataset=detector.dataset, features=version.features)
        pipeline = engine.build_pipeline(
            version.algorithm,
            version.params,
            feature_names=version.features,
            sensitivity=detector.false_alarm_rate,
            missing=detector.missing_policy,
        )
        pipeline.fit(X, progress=lambda pct: _report_progress(version, min(pct, 99)))
        labels = dataset_labels(dataset=detector.dataset)
        evaluation = _evaluation_metrics(pipeline, X, labels) if labels is not None else None
        buffer = io.BytesIO()
        engine.save_pipeline(pipeline, buffer)
        artifact = ContentFile(buffer.getvalue())
    except (engine.EngineError, ValidationError, ValueError, MemoryError) as error:
        return _fail(version, _message(error))
    except Exception as error:  # an unexpected fault still ends the run, visibly
        logger.exception("training of %s failed", version)
        return _fail(version, f"unexpected error: {error!r}")

    with transaction.atomic():
        # A random part keeps names unique even where the database reuses ids.
        name = f"detector-{detector.pk}-v{version.number}-{secrets.token_hex(4)}.skops"
        version.artifact.save(name, artifact, save=False)
        version.training_metrics = pipeline.training_summary
        version.evaluation_metrics = evaluation
        version.status = JobStatus.READY
        version.progress = 100
        version.finished_at = timezone.now()
        version.error = ""
        version.save(
            update_fields=[
                "artifact",
                "training_metrics",
                "evaluation_metrics",
                "status",
                "progress",
                "finished_at",
                "error",
            ]
        )
        Detector.objects.filter(pk=detector.pk).update(active_version=version)
    send_detector_event(
        detector,
        "training",
        {"version": version.pk, "number": version.number, "status": "ready", "progress": 100},
    )
    return version


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        detail = error.detail
        if isinstance(detail, dict):
            return "; ".join(
                f"{k}: {v[0] if isinstance(v, list) else v}" for k, v in detail.items()
            )
        return str(detail[0] if isinstance(detail, list) else detail)
    return str(error)


def _fail(version: ModelVersion, message: str) -> ModelVersion:
    ModelVersion.objects.filter(pk=version.pk).update(
        status=JobStatus.FAILED, error=message, finished_at=timezone.now()
    )
    version.refresh_from_db()
    send_detector_event(
        version.detector,
        "training",
        {"version": version.pk, "number": version.number, "status": "failed", "error": message},
    )
    return version


@transaction.atomic
def model_version_activate(*, version: ModelVersion) -> Detector:
    """Serve this version from now on (also how a rollback is done)."""
    if version.status != JobStatus.READY:
        raise ValidationError(
            {"version": [f"version {version.number} is {version.status}, not ready"]}
        )
    Detector.objects.filter(pk=version.detector_id).update(active_version=version)
    version.detector.active_version = version
    return version.detector


def model_versions_sweep(*, now=None) -> int:
    """Mark running versions whose worker went silent as failed; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS)
    stale = ModelVersion.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    count = stale.update(
        status=JobStatus.FAILED,
        error=f"the worker stopped reporting for over {settings.JOB_HEARTBEAT_TIMEOUT_SECONDS} s "
        "(killed or lost); train again",
        finished_at=now,
    )
    if count:
        logger.warning("marked %d stalled training run(s) as failed", count)
    return count
