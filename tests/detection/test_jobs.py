"""Alice scores a file of readings in the background and downloads the results."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection import services
from detection.models import JobStatus, ScoredPoint, ScoringJob

pytestmark = pytest.mark.django_db

POINTS = (
    "timestamp,temp,pressure,flow\n"
    "2026-03-01T10:00:00Z,20.1,1000.2,5.0\n"
    "2026-03-01T10:01:00Z,45.0,1000.1,5.1\n"
    "2026-03-01T10:02:00Z,19.8,999.5,4.9\n"
)


def submit(client, detector, content: str, name="points.csv", **fields):
    upload = SimpleUploadedFile(name, content.encode(), content_type="text/csv")
    return client.post(reverse("api-job-list", args=[detector.pk]), {"file": upload, **fields})


def test_it_scores_a_file_and_offers_the_results(
    trained_detector, alice_client, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(alice_client, trained_detector, POINTS)
    assert response.status_code == 202, response.json()
    job = alice_client.get(reverse("api-job-detail", args=[response.json()["id"]])).json()
    assert job["status"] == "ready" and job["progress"] == 100
    assert job["rows_total"] == 3 and job["anomalies"] == 1
    result = alice_client.get(job["result_url"])
    assert result.status_code == 200
    assert result["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(result.streaming_content).decode())))
    assert [r["is_anomaly"] for r in rows] == ["0", "1", "0"]
    assert rows[1]["timestamp"].startswith("2026-03-01T10:01:00")
    assert "temp" in rows[1]["explanation"]
    assert not ScoredPoint.objects.exists()  # not asked to store them


def test_it_stores_the_points_when_asked(
    trained_detector, alice_client, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(alice_client, trained_detector, POINTS, persist="true")
    points = ScoredPoint.objects.order_by("event_time")
    assert [p.source for p in points] == ["batch"] * 3
    assert points[1].is_anomaly and points[1].event_time.minute == 1


def test_it_fails_the_job_when_a_feature_column_is_missing(
    trained_detector, alice_client, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(alice_client, trained_detector, "temp,flow\n1,2\n")
    job = ScoringJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.FAILED
    assert "no column `pressure`" in job.error
    result = alice_client.get(reverse("api-job-result", args=[job.pk]))
    assert result.status_code == 409
    assert "no column `pressure`" in result.json()["error"]["message"]


def test_it_refuses_a_job_without_a_model(detector, alice_client, media):
    response = submit(alice_client, detector, POINTS)
    assert response.status_code == 409
    assert not ScoringJob.objects.exists()
    assert not [p for p in media.rglob("*") if p.is_file() and "jobs" in str(p)]


def test_it_keeps_jobs_to_the_project(trained_detector, bob_client, charlie_client, alice, media):
    upload = SimpleUploadedFile("p.csv", POINTS.encode())
    job = services.scoring_job_create(
        detector=trained_detector, user=alice, uploaded_file=upload, persist=False
    )
    assert submit(bob_client, trained_detector, POINTS).status_code == 403
    assert charlie_client.get(reverse("api-job-detail", args=[job.pk])).status_code == 404
    assert bob_client.get(reverse("api-job-detail", args=[job.pk])).status_code == 200
