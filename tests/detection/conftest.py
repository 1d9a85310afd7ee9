"""Fixtures for the detection domain: stored files under a temporary MEDIA_ROOT, eager Celery,
and alice's plant readings as a dataset, a detector and a trained detector."""

from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anomaly_project.celery import app as celery_app
from detection import engine, services

FEATURES = ["temp", "pressure", "flow"]


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def eager_celery():
    """Tasks run in the test's process when they are sent (Celery reads its settings once)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def readings_csv(n: int = 400, seed: int = 7, anomalies: int = 8) -> bytes:
    """Correlated plant readings; the last `anomalies` rows are far off and labelled 1."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(20, 1.0, n)
    pressure = 1000 + 3 * (temp - 20) + rng.normal(0, 0.5, n)
    flow = rng.normal(5, 0.2, n)
    label = np.zeros(n, dtype=int)
    temp[-anomalies:] += 9
    label[-anomalies:] = 1
    lines = ["temp,pressure,flow,label"]
    lines += [
        f"{t:.4f},{p:.4f},{f:.4f},{y}"
        for t, p, f, y in zip(temp, pressure, flow, label, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def dataset(project, alice, media):
    upload = SimpleUploadedFile("plant.csv", readings_csv(), content_type="text/csv")
    return services.dataset_create(project=project, user=alice, uploaded_file=upload)


@pytest.fixture
def detector(project, alice, dataset):
    return services.detector_create(
        project=project,
        user=alice,
        name="Hall 3",
        dataset=dataset,
        features=FEATURES,
        algorithm=engine.DEFAULT_ALGORITHM,
    )


@pytest.fixture
def trained_detector(detector, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        version = services.detector_train(detector=detector)
    version.refresh_from_db()
    assert version.status == "ready", version.error
    detector.refresh_from_db()
    return detector
