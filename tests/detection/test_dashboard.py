"""The dashboard's pages: alice (owner) works in them, bob (viewer) looks, charlie gets 404s.

Stored points are written straight to the table with known scores, times and labels, so the
counts and the sensitivity preview can be checked to the point; only the label and training
buttons go through the services for real.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from detection import engine, services
from detection.models import Detector, JobStatus, ModelVersion, ScoredPoint
from detection.services.dashboard import sensitivity_preview
from tests.detection.conftest import readings_csv

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def hx(target: str) -> dict:
    return {**HX, "HX-Target": target}


def ready_version(detector: Detector, number: int = 1) -> ModelVersion:
    """A ready version without a model file: the pages never load the model."""
    version = ModelVersion.objects.create(
        detector=detector,
        number=number,
        status=JobStatus.READY,
        progress=100,
        algorithm=detector.algorithm,
        features=detector.features,
        training_metrics={"n_rows": 400, "fit_seconds": 1.2},
        evaluation_metrics={"roc_auc": 0.97, "f1": 0.81},
    )
    Detector.objects.filter(pk=detector.pk).update(active_version=version)
    detector.refresh_from_db()
    return version


def store(detector, when: datetime, score: float, label: str = "", **values) -> ScoredPoint:
    flagged = score >= engine.threshold_for(detector.false_alarm_rate)
    return ScoredPoint.objects.create(
        detector=detector,
        event_time=when,
        received_at=when,
        values=values or {"temp": 20.0, "pressure": 1000.0, "flow": 5.0},
        score=score,
        raw_score=score / 100,
        is_anomaly=flagged,
        band=engine.band_for(score),
        explanation={
            "features": [
                {
                    "name": "temp",
                    "value": 29.5,
                    "contribution": 0.8,
                    "expected": 20.0,
                    "low": 18.4,
                    "high": 21.6,
                },
                {
                    "name": "flow",
                    "value": 4.7,
                    "contribution": -0.2,
                    "expected": 5.0,
                    "low": 4.7,
                    "high": 5.3,
                },
            ],
            "members": {"isolation_forest": score, "ecod": score - 3},
            "text": "value of `temp` 29.5 is far above its usual 18.4-21.6",
        },
        label=label,
        source=ScoredPoint.Source.STREAM,
    )


@pytest.fixture
def history(detector):
    """Two days of points at medium sensitivity (threshold 50), some labelled."""
    ready_version(detector)
    day1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    points = [
        store(detector, day1, 10),
        store(detector, day1 + timedelta(minutes=1), 40, label="not_anomaly"),
        store(detector, day1 + timedelta(minutes=2), 55, label="anomaly"),
        store(detector, day1 + timedelta(minutes=3), 80),
        store(detector, day2, 30, label="missed"),
        store(detector, day2 + timedelta(minutes=1), 60, label="expected"),
        store(detector, day2 + timedelta(minutes=2), 95, label="anomaly"),
    ]
    return points


# --- The overview ------------------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_log_in(client, detector):
    for url in [
        reverse("project-list"),
        reverse("detector-detail", args=[detector.pk]),
        reverse("dataset-detail", args=[detector.dataset_id]),
        reverse("dataset-upload", args=[detector.project_id]),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_shows_alice_her_detectors_with_state_and_band_counts(alice_client, detector):
    ready_version(detector)
    now = timezone.now()
    store(detector, now - timedelta(minutes=5), 95)  # critical, last hour
    store(detector, now - timedelta(minutes=6), 10)  # none, last hour
    store(detector, now - timedelta(hours=3), 60)  # minor, last day only
    store(detector, now - timedelta(days=3), 99)  # outside both
    page = alice_client.get(reverse("project-list"))
    assert page.status_code == 200
    overview = page.context["projects"][0]
    summary = overview.detectors[0]
    assert summary.state.key == "ready"
    assert summary.hour == {"critical": 1, "none": 1}
    assert summary.day == {"critical": 1, "none": 1, "minor": 1}
    html = page.text
    assert "Hall 3" in html and "Ready (v1)" in html
    assert 'ws-connect="/ws/overview/"' in html
    assert "Live updates paused - refreshing every few seconds" in html
    # The feed: the anomalies, newest first, with their explanation.
    assert [p.score for p in page.context["feed"]] == [95, 60, 99]
    assert "<code>temp</code>" in html


def test_it_shows_a_training_detector_with_its_progress(alice_client, detector):
    ModelVersion.objects.create(
        detector=detector, number=1, status=JobStatus.RUNNING, progress=40, algorithm="ensemble"
    )
    page = alice_client.get(reverse("project-list"))
    assert "Training v1 (40%)" in page.text


def test_it_renders_the_overview_sections_for_htmx(alice_client, charlie_client, history):
    table = alice_client.get(reverse("project-list"), headers=hx("project-table"))
    assert table.text.lstrip().startswith('<div id="project-table"')
    assert "<html" not in table.text
    feed = alice_client.get(reverse("project-list"), headers=hx("anomaly-feed"))
    assert feed.text.lstrip().startswith('<ol id="anomaly-feed"')
    assert feed.text.count('class="feed-item') == 4
    assert (
        charlie_client.get(reverse("project-list"), headers=hx("anomaly-feed")).text.count(
            "feed-item"
        )
        == 0
    )


# --- Projects ----------------------------------------------------------------------------------


def test_it_offers_alice_a_detector_form_with_the_datasets_columns(alice_client, dataset):
    page = alice_client.get(reverse("project-detail", args=[dataset.project_id]))
    assert page.status_code == 200
    form = page.context["form"]
    assert [value for value, _ in form.fields["features"].choices] == ["temp", "pressure", "flow"]
    assert form["algorithm"].value() == engine.DEFAULT_ALGORITHM
    html = page.text
    for name in ("temp", "pressure", "flow"):
        assert f'value="{name}"' in html
    assert f'value="{engine.DEFAULT_ALGORITHM}" selected' in html
    assert "Upload a dataset" in html


def test_it_hides_the_write_forms_from_bob_and_the_project_from_charlie(
    bob_client, charlie_client, dataset
):
    page = bob_client.get(reverse("project-detail", args=[dataset.project_id]))
    assert page.status_code == 200
    assert "New detector" not in page.text and "Upload a dataset" not in page.text
    url = reverse("project-detail", args=[dataset.project_id])
    assert charlie_client.get(url).status_code == 404


def test_it_swaps_the_feature_choices_when_the_dataset_changes(alice_client, alice, dataset):
    other = services.dataset_create(
        project=dataset.project,
        user=alice,
        uploaded_file=SimpleUploadedFile("line.csv", b"speed,load\n1,2\n3,4\n5,6\n"),
    )
    url = reverse("detector-create", args=[dataset.project_id])
    response = alice_client.get(url, {"dataset": other.pk, "name": "Line"}, headers=HX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="detector-form"')
    assert 'value="speed"' in response.text and 'value="temp"' not in response.text
    assert 'value="Line"' in response.text


def test_it_creates_a_detector_from_the_form(alice_client, dataset):
    url = reverse("detector-create", args=[dataset.project_id])
    response = alice_client.post(
        url,
        {
            "name": "Hall 4",
            "dataset": dataset.pk,
            "features": ["temp", "flow"],
            "algorithm": "robust_z",
            "sensitivity": "high",
        },
    )
    detector = Detector.objects.get(name="Hall 4")
    assert response.status_code == 302
    assert response["Location"] == reverse("detector-detail", args=[detector.pk])
    assert detector.features == ["temp", "flow"]
    assert detector.algorithm == "robust_z"
    assert detector.false_alarm_rate == engine.SENSITIVITY_PRESETS["high"]


def test_it_names_what_is_missing_in_the_detector_form(alice_client, bob_client, dataset):
    url = reverse("detector-create", args=[dataset.project_id])
    response = alice_client.post(url, {"name": "Hall 4", "dataset": dataset.pk})
    assert response.status_code == 200
    assert "Choose at least one feature." in response.text
    assert not Detector.objects.exists()
    refused = bob_client.post(url, {"name": "x", "dataset": dataset.pk, "features": ["temp"]})
    assert refused.status_code == 403


# --- Datasets ----------------------------------------------------------------------------------


def upload(client, project, name: str, content: bytes, headers=None):
    return client.post(
        reverse("dataset-upload", args=[project.pk]),
        {"file": SimpleUploadedFile(name, content, content_type="text/csv"), "name": ""},
        headers=headers or {},
    )


def test_it_uploads_a_dataset_from_the_page(alice_client, project, media):
    assert alice_client.get(reverse("dataset-upload", args=[project.pk])).status_code == 200
    response = upload(alice_client, project, "plant.csv", readings_csv(50), headers=HX)
    assert response.status_code == 200
    dataset = project.datasets.get()
    assert response["HX-Redirect"] == reverse("dataset-detail", args=[dataset.pk])
    assert dataset.row_count == 50 and dataset.label_column == "label"

    plain = upload(alice_client, project, "again.csv", readings_csv(50))
    assert plain.status_code == 302


def test_it_shows_each_columns_problems_with_the_upload(alice_client, project, media):
    broken = b"temp,pressure,flow\n20.1,1000,5\nhot,1001,5\n20.3,1002,5\n20.2,n/a?,5\n21,1003,x\n"
    response = upload(alice_client, project, "broken.csv", broken, headers=HX)
    assert response.status_code == 200  # the form comes back, with the problems
    html = response.text
    assert html.lstrip().startswith('<form id="upload-form"')
    assert "The file cannot be used" in html
    assert 'data-column="temp"' in html and "row 2" in html
    assert not project.datasets.exists()


def test_it_names_the_size_limit_of_an_upload(alice_client, project, media, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 1024
    response = upload(alice_client, project, "big.csv", readings_csv(400), headers=HX)
    assert response.status_code == 200
    assert "the limit is 1 KB (DATASET_MAX_UPLOAD_MB)" in response.text
    assert not project.datasets.exists()


def test_it_refuses_bobs_upload(bob_client, project, media):
    assert upload(bob_client, project, "plant.csv", readings_csv(20)).status_code == 403
    assert not project.datasets.exists()


def test_it_checks_the_csrf_token_of_an_upload(alice, project, media):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert upload(client, project, "plant.csv", readings_csv(20)).status_code == 403


def test_it_shows_the_profile_once_it_is_ready(alice_client, charlie_client, dataset):
    url = reverse("dataset-detail", args=[dataset.pk])
    waiting = alice_client.get(url, headers=hx("dataset-profile"))
    assert "Computing the profile" in waiting.text
    assert 'hx-trigger="every 1s"' in waiting.text

    services.dataset_profile_compute(dataset=dataset)
    page = alice_client.get(url)
    assert page.status_code == 200
    html = page.text
    assert html.count("data-histogram=") == 3
    assert 'data-histogram="{&quot;edges&quot;:' in html
    assert 'class="heatmap"' in html and "corr-p5" in html  # each feature with itself
    assert 'hx-trigger="every 1s"' not in html
    assert charlie_client.get(url).status_code == 404


# --- The detector page -------------------------------------------------------------------------


def test_it_shows_the_chart_anomalies_versions_and_sensitivity(alice_client, history, detector):
    page = alice_client.get(reverse("detector-detail", args=[detector.pk]))
    assert page.status_code == 200
    chart = page.context["chart"]
    assert [p["s"] for p in chart["points"]] == [10, 40, 55, 80, 30, 60, 95]  # oldest first
    assert chart["threshold"] == 50.0
    assert chart["points"][0]["v"][0] == 20.0  # raw value of the top feature
    assert chart["features"][0] == "temp"
    html = page.text
    assert 'id="chart-data" type="application/json"' in html
    assert f'ws-connect="/ws/detectors/{detector.pk}/"' in html
    assert html.count('class="anomaly-row"') == 4
    assert "<code>temp</code> 29.5 is far above" in html
    assert 'aria-pressed="true"' in html  # the labelled ones
    assert "ROC AUC 0.97" in html
    assert 'id="threshold"' in html and "Save sensitivity" in html


def test_it_disables_writes_for_bob_and_hides_the_detector_from_charlie(
    bob_client, charlie_client, history, detector
):
    page = bob_client.get(reverse("detector-detail", args=[detector.pk]))
    assert page.status_code == 200
    html = page.text
    assert "Train again" not in html
    assert "Viewers can preview, not save." in html
    assert 'aria-pressed="false" disabled' in html
    assert charlie_client.get(reverse("detector-detail", args=[detector.pk])).status_code == 404
    assert charlie_client.get(reverse("detector-points", args=[detector.pk])).status_code == 404


def test_it_queues_training_and_polls_its_progress(alice_client, bob_client, detector):
    url = reverse("detector-train", args=[detector.pk])
    assert bob_client.post(url, headers=HX).status_code == 403
    response = alice_client.post(url, headers=HX)  # no worker here: it stays queued
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith('<section class="card" id="versions"')
    assert 'hx-trigger="every 1s"' in html
    assert '<progress class="train-progress" max="100" value="0"' in html
    assert 'id="detector-state" hx-swap-oob="true"' in html

    ModelVersion.objects.filter(detector=detector).update(status=JobStatus.RUNNING, progress=60)
    poll = alice_client.get(reverse("detector-detail", args=[detector.pk]), headers=hx("versions"))
    assert 'value="60"' in poll.text and "Training v1 (60%)" in poll.text

    ModelVersion.objects.filter(detector=detector).update(status=JobStatus.READY, progress=100)
    Detector.objects.filter(pk=detector.pk).update(active_version=detector.versions.get())
    done = alice_client.get(reverse("detector-detail", args=[detector.pk]), headers=hx("versions"))
    assert 'value="100"' in done.text and 'hx-trigger="every 1s"' not in done.text
    assert "Ready (v1)" in done.text


def test_it_activates_an_earlier_version(alice_client, detector):
    first = ready_version(detector, 1)
    ready_version(detector, 2)
    url = reverse("version-activate", args=[detector.pk, 1])
    response = alice_client.post(url, headers=HX)
    assert response.status_code == 200
    detector.refresh_from_db()
    assert detector.active_version == first


def test_it_labels_a_point_in_place(alice_client, bob_client, history):
    point = history[3]  # score 80, unlabelled
    url = reverse("point-label", args=[point.pk])
    assert bob_client.post(url, {"label": "anomaly"}, headers=HX).status_code == 403

    response = alice_client.post(url, {"label": "expected", "open": "1"}, headers=HX)
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith(f'<tr id="point-{point.pk}"')
    assert 'class="label-expected" aria-pressed="true"' in html
    assert '<details class="explain" open>' in html
    point.refresh_from_db()
    assert point.label == "expected" and point.labelled_by.username == "alice"

    # Pressing the pressed button again clears the label (its value is empty).
    assert 'name="label" value=""' in html
    alice_client.post(url, {"label": ""}, headers=HX)
    point.refresh_from_db()
    assert point.label == "" and point.labelled_at is None

    assert alice_client.post(url, {"label": "nonsense"}).status_code == 400


def test_it_serves_new_points_for_the_chart_as_json(alice_client, history, detector):
    url = reverse("detector-points", args=[detector.pk])
    body = alice_client.get(url, {"after": history[4].pk, "raw": ["flow", "nope"]}).json()
    assert body["threshold"] == 50.0
    assert [p["id"] for p in body["points"]] == [history[5].pk, history[6].pk]
    assert body["points"][0]["v"] == [5.0]
    assert body["points"][1]["a"] is True and body["points"][1]["b"] == "critical"


# --- Sensitivity -------------------------------------------------------------------------------


def test_it_previews_a_threshold_on_the_stored_history(history, detector):
    preview = sensitivity_preview(detector=detector, sensitivity=engine.rate_for("medium"))
    assert preview.threshold == pytest.approx(50.0)
    assert preview.total == 7
    assert [(d.day.isoformat(), d.total, d.flagged) for d in preview.days] == [
        ("2026-03-01", 4, 2),
        ("2026-03-02", 3, 2),
    ]
    assert [p.score for p in preview.points] == [95, 60, 80, 55]
    # Labelled: anomaly 55 (TP), anomaly 95 (TP), missed 30 (FN), expected 60 (FP),
    # not_anomaly 40 (TN).
    metrics = preview.metrics
    assert (metrics.true_positives, metrics.false_positives) == (2, 1)
    assert (metrics.false_negatives, metrics.true_negatives) == (1, 1)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.f1 == pytest.approx(2 / 3)

    strict = sensitivity_preview(detector=detector, sensitivity=10 ** (-85 / 25))  # threshold 85
    assert strict.flagged == 1 and strict.current == 4
    assert strict.metrics.precision == 1.0 and strict.metrics.recall == pytest.approx(1 / 3)

    lenient = sensitivity_preview(detector=detector, sensitivity=10 ** (-25 / 25))  # 25
    assert lenient.flagged == 6
    assert lenient.metrics.recall == 1.0 and lenient.metrics.precision == pytest.approx(3 / 5)


def test_it_says_no_labels_yet_and_no_points_yet(alice_client, detector):
    ready_version(detector)
    url = reverse("detector-sensitivity", args=[detector.pk])
    empty = alice_client.get(url, {"threshold": 50}, headers=HX)
    assert "No stored points yet" in empty.text
    store(detector, datetime(2026, 3, 1, tzinfo=UTC), 70)
    unlabelled = alice_client.get(url, {"threshold": 50}, headers=HX)
    assert "No labels yet" in unlabelled.text
    assert sensitivity_preview(detector=detector, sensitivity=0.01).metrics is None


def test_it_renders_the_preview_for_the_slider(alice_client, bob_client, history, detector):
    url = reverse("detector-sensitivity", args=[detector.pk])
    for client in (alice_client, bob_client):  # a viewer may preview
        response = client.get(url, {"threshold": 85}, headers=HX)
        assert response.status_code == 200
        html = response.text
        assert html.lstrip().startswith('<div id="sensitivity-preview"')
        assert '<strong id="preview-flagged">1</strong> of 7' in html
        assert "Precision" in html and "100%" in html and "33%" in html


def test_it_saves_the_sensitivity(alice_client, bob_client, history, detector):
    url = reverse("detector-sensitivity", args=[detector.pk])
    assert bob_client.post(url, {"threshold": 75}, headers=HX).status_code == 403
    response = alice_client.post(url, {"threshold": 75}, headers=HX)
    assert response.status_code == 200
    assert 'data-threshold="75.000"' in response.text
    assert "Saved: it applies to new points." in response.text
    detector.refresh_from_db()
    assert detector.false_alarm_rate == engine.SENSITIVITY_PRESETS["low"]

    alice_client.post(url, {"threshold": 60})
    detector.refresh_from_db()
    assert detector.false_alarm_rate == pytest.approx(10 ** (-60 / 25))
    assert alice_client.post(url, {"threshold": 3}, headers=HX).status_code == 200
    detector.refresh_from_db()
    assert detector.false_alarm_rate == pytest.approx(10 ** (-60 / 25))  # unchanged
