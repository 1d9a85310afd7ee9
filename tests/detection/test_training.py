"""Alice trains a detector on her readings; versions, activation, rollback and failures."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from detection import services
from detection.models import JobStatus, ModelVersion
from tests.detection.conftest import FEATURES

pytestmark = pytest.mark.django_db


def test_it_trains_a_version_and_makes_it_active(trained_detector):
    version = trained_detector.active_version
    assert version.number == 1
    assert version.status == JobStatus.READY and version.progress == 100
    assert version.artifact.name.endswith(".skops")
    assert version.training_metrics["n_rows"] == 400
    assert version.training_metrics["n_features"] == 3
    # The dataset has labels, so the run also says how well the model finds them.
    assert version.evaluation_metrics["anomalies"] == 8
    assert version.evaluation_metrics["roc_auc"] > 0.95
    assert version.duration_seconds is not None


def test_it_reports_progress_while_training(detector, eager_celery, monkeypatch):
    seen: list[int] = []
    original = services.training._report_progress

    def spy(version, progress):
        original(version, progress)
        seen.append(ModelVersion.objects.get(pk=version.pk).progress)

    monkeypatch.setattr(services.training, "_report_progress", spy)
    version = ModelVersion.objects.create(
        detector=detector,
        number=1,
        algorithm=detector.algorithm,
        params=detector.params,
        features=detector.features,
    )
    services.model_version_run(version_id=version.pk)
    assert len(seen) >= 3
    assert (
        seen == sorted(seen) and seen[-1] < 100 <= ModelVersion.objects.get(pk=version.pk).progress
    )


def test_it_keeps_the_old_model_serving_when_training_fails(
    trained_detector, eager_celery, django_capture_on_commit_callbacks
):
    first = trained_detector.active_version
    # The stored dataset file is gone, so the run cannot read its rows.
    trained_detector.dataset.file.delete(save=False)
    with django_capture_on_commit_callbacks(execute=True):
        second = services.detector_train(detector=trained_detector)
    second.refresh_from_db()
    trained_detector.refresh_from_db()
    assert second.status == JobStatus.FAILED
    assert second.error
    assert trained_detector.active_version == first


def test_it_rolls_back_to_an_earlier_version(
    trained_detector, alice_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.detector_train(detector=trained_detector)
    trained_detector.refresh_from_db()
    assert trained_detector.active_version.number == 2
    url = reverse("api-version-activate", args=[trained_detector.pk, 1])
    response = alice_client.post(url)
    assert response.status_code == 200
    assert response.json()["active_version"]["number"] == 1


def test_it_refuses_to_activate_a_failed_version(detector, alice_client):
    ModelVersion.objects.create(
        detector=detector,
        number=1,
        status=JobStatus.FAILED,
        algorithm="isolation_forest",
        features=FEATURES,
        error="boom",
    )
    response = alice_client.post(reverse("api-version-activate", args=[detector.pk, 1]))
    assert response.status_code == 400
    assert "failed" in response.json()["error"]["message"]


def test_it_sweeps_runs_whose_worker_went_silent(detector, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 60
    now = timezone.now()
    stale = ModelVersion.objects.create(
        detector=detector,
        number=1,
        status=JobStatus.RUNNING,
        algorithm="isolation_forest",
        features=FEATURES,
        heartbeat_at=now - timedelta(seconds=61),
    )
    alive = ModelVersion.objects.create(
        detector=detector,
        number=2,
        status=JobStatus.RUNNING,
        algorithm="isolation_forest",
        features=FEATURES,
        heartbeat_at=now - timedelta(seconds=5),
    )
    assert services.model_versions_sweep(now=now) == 1
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == JobStatus.FAILED and "stopped reporting" in stale.error
    assert alive.status == JobStatus.RUNNING


def test_it_does_not_run_a_version_twice(trained_detector):
    version = trained_detector.active_version
    assert services.model_version_run(version_id=version.pk) is None
    version.refresh_from_db()
    assert version.status == JobStatus.READY


def test_it_trains_through_the_api(
    detector, alice_client, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("api-detector-train", args=[detector.pk]))
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    versions = alice_client.get(reverse("api-version-list", args=[detector.pk])).json()
    assert versions[0]["status"] == "ready"
    assert versions[0]["training_metrics"]["calibration"]


def test_it_lets_only_writers_train(detector, bob_client, charlie_client):
    assert bob_client.post(reverse("api-detector-train", args=[detector.pk])).status_code == 403
    assert charlie_client.post(reverse("api-detector-train", args=[detector.pk])).status_code == 404
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"features": ["temp", "nope"]}, "features", "`nope` is not a numeric column"),
        ({"algorithm": "magic"}, "algorithm", "unknown algorithm 'magic'"),
        ({"params": {"n_estimators": -3}}, "params.n_estimators", "n_estimators"),
        ({"params": {"bogus": 1}}, "params.bogus", "bogus"),
        ({"sensitivity": "extreme"}, "sensitivity", "extreme"),
        ({"sensitivity": 0.9}, "sensitivity", "0.9"),
        ({"features": []}, "features", ""),
    ],
)
def test_it_names_the_bad_detector_setting(project, dataset, alice_client, change, field, words):
    body = {
        "name": "x",
        "dataset": dataset.pk,
        "features": FEATURES,
        "algorithm": "isolation_forest",
        **change,
    }
    url = reverse("api-detector-list", args=[project.pk])
    response = alice_client.post(url, body, content_type="application/json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert words in error["message"]
