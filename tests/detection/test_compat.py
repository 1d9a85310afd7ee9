"""The original system's endpoints, called the way its clients call them (shared/seed/).

Alice trains with /api/train and detects with the README's payloads; bob (a viewer) detects
without storing; charlie (a stranger) never sees alice's project; anonymous callers get nothing.
"""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.models import Dataset, Detector, ScoredPoint
from detection.services import compat

pytestmark = pytest.mark.django_db

DETECT_KEYS = {
    "status", "timestamp", "algorithm", "is_anomaly", "anomaly_detected", "confidence",
    "anomaly_score", "alert_level", "description",
}
PREDICT_KEYS = {"status", "prediction", "is_anomaly", "confidence", "timestamp", "feature_count"}
ERROR_KEYS = {"status", "message", "error"}
README_EXAMPLE = {"features": [1.2, 3.4, 5.6]}
OUTLIER = {"features": [9.0, -6.0, 30.0]}


def training_rows(n: int = 120, seed: int = 3) -> list[list[float]]:
    """Readings around the README's example point (1.2, 3.4, 5.6)."""
    rng = np.random.default_rng(seed)
    rows = np.column_stack([rng.normal(1.2, 0.2, n), rng.normal(3.4, 0.3, n),
                            rng.normal(5.6, 0.4, n)])
    return rows.round(4).tolist()


def post(client, name, body, **extra):
    return client.post(reverse(name), body, content_type="application/json", **extra)


def train(client, body=None):
    return post(client, "legacy-train", body or {"algorithm": "isolation_forest",
                                                 "data": training_rows()})


def assert_legacy_error(response, status_code, code=None):
    assert response.status_code == status_code, response.content
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == "error"
    assert body["message"] and body["message"] == body["error"]["message"]
    assert set(body["error"]) == {"code", "message", "fields"}
    if code:
        assert body["error"]["code"] == code
    return body


def _trained(client, project, algorithm):
    response = train(client, {"algorithm": algorithm, "data": training_rows()})
    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    return project.default_detector


@pytest.fixture
def readme_model(alice_client, project, media):
    """Alice's project with the README's model: an Isolation Forest on 3 features."""
    return _trained(alice_client, project, "isolation_forest")


@pytest.fixture
def legacy_model(alice_client, project, media):
    """The same through the original's "statistical" algorithm (our robust z-score), which
    trains in milliseconds: most stories here are about the endpoints, not the model."""
    return _trained(alice_client, project, "statistical")


def test_it_trains_a_model_the_original_way(alice_client, project, media):
    response = train(alice_client)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"status", "message", "training_samples", "training_time", "timestamp",
                         "model"}
    assert body["status"] == "success" and body["training_samples"] == 120
    model = body["model"]
    assert set(model) == {"id", "name", "project", "algorithm", "version", "features",
                          "training_rows"}
    assert model["algorithm"] == "isolation_forest" and model["version"] == 1
    assert model["features"] == ["f0", "f1", "f2"] and model["training_rows"] == 120
    project.refresh_from_db()
    detector = project.default_detector
    assert detector.pk == model["id"] and detector.name == "Legacy isolation_forest (3 features)"
    assert detector.active_version.status == "ready"
    assert detector.dataset.row_count == 120 and detector.params["n_estimators"] == 100


def test_it_answers_the_readme_detect_example(readme_model, alice_client):
    response = post(alice_client, "legacy-detect", README_EXAMPLE)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == DETECT_KEYS
    assert body["status"] == "success" and body["algorithm"] == "isolation_forest"
    assert body["is_anomaly"] is False and body["anomaly_detected"] is False
    assert body["alert_level"] in {"normal", "low"}
    assert 0 <= body["confidence"] < 1 and 0 <= body["anomaly_score"] <= 100
    assert body["timestamp"].endswith("Z")
    point = ScoredPoint.objects.get()
    assert point.source == "api" and point.values == {"f0": 1.2, "f1": 3.4, "f2": 5.6}
    assert abs(point.score - body["anomaly_score"]) < 1e-3


def test_it_flags_an_outlier_with_the_original_alert_levels(legacy_model, alice_client):
    body = post(alice_client, "legacy-detect", OUTLIER).json()
    assert body["is_anomaly"] is True and body["anomaly_detected"] is True
    assert body["alert_level"] in {"medium", "high", "critical"}
    assert body["confidence"] == compat.confidence_of(body["anomaly_score"]) >= 0.99
    assert "f2" in body["description"]


def test_it_answers_the_readme_predict_example(readme_model, alice_client):
    normal = post(alice_client, "legacy-predict", README_EXAMPLE)
    assert normal.status_code == 200, normal.json()
    assert set(normal.json()) == PREDICT_KEYS
    assert normal.json()["prediction"] == 1 and normal.json()["feature_count"] == 3
    outlier = post(alice_client, "legacy-predict", OUTLIER).json()
    assert outlier["prediction"] == -1 and outlier["is_anomaly"] is True
    assert ScoredPoint.objects.count() == 2


def test_it_reports_its_status(legacy_model, alice_client, charlie_client):
    body = alice_client.get(reverse("legacy-status")).json()
    assert set(body) == {"status", "service", "version", "timestamp", "database",
                         "models_loaded", "model_loaded", "default_detector"}
    assert body["status"] == "success" and body["database"] == "ok"
    assert body["models_loaded"] == 1 and body["model_loaded"] is True
    assert body["default_detector"]["id"] == legacy_model.pk
    assert body["default_detector"]["state"] == "ready"
    assert body["default_detector"]["features"] == ["f0", "f1", "f2"]
    stranger = charlie_client.get(reverse("legacy-status")).json()
    assert stranger["default_detector"] is None and stranger["models_loaded"] == 0


def test_it_lists_models_and_algorithms(legacy_model, detector, alice_client):
    body = alice_client.get(reverse("legacy-models")).json()
    assert set(body) == {"status", "project", "default_model", "models", "available_algorithms"}
    assert body["default_model"] == legacy_model.pk
    states = {m["id"]: (m["state"], m["is_default"], m["version"]) for m in body["models"]}
    assert states == {legacy_model.pk: ("ready", True, 1), detector.pk: ("untrained", False, None)}
    assert {"isolation_forest", "ocsvm", "ensemble"} <= {
        a["name"] for a in body["available_algorithms"]
    }


def test_it_lists_results_after_detections(legacy_model, alice_client):
    post(alice_client, "legacy-detect", README_EXAMPLE)
    post(alice_client, "legacy-predict", OUTLIER)
    response = alice_client.get(reverse("legacy-results"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"status", "total", "results"} and body["total"] == 2
    newest, oldest = body["results"]
    assert set(newest) == {"timestamp", "is_anomaly", "anomaly_score", "confidence",
                           "alert_level", "description", "features"}
    assert newest["features"] == [9.0, -6.0, 30.0] and newest["is_anomaly"] is True
    assert oldest["features"] == [1.2, 3.4, 5.6] and oldest["is_anomaly"] is False
    assert alice_client.get(reverse("legacy-results"), {"limit": 1}).json()["total"] == 1


def test_it_refuses_a_bad_results_limit(legacy_model, alice_client):
    for limit in ("0", "1001", "many"):
        response = alice_client.get(reverse("legacy-results"), {"limit": limit})
        assert "limit" in assert_legacy_error(response, 400)["error"]["fields"]


def csv_upload(text: str, name: str = "points.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def batch(client, upload, **data):
    return client.post(reverse("legacy-batch-detect"), {"file": upload, **data})


def test_it_scores_a_csv_batch_and_stores_it(legacy_model, alice_client):
    upload = csv_upload("f0,f1,f2\n1.2,3.4,5.6\n1.1,3.5,5.5\n9,-6,30\n")
    response = batch(alice_client, upload)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"status", "total", "anomalies", "total_processed", "anomalies_found",
                         "results"}
    assert body["total"] == body["total_processed"] == 3
    assert body["anomalies"] == body["anomalies_found"] == 1
    assert [r["row"] for r in body["results"]] == [1, 2, 3]
    assert set(body["results"][0]) == {"row", "is_anomaly", "anomaly_score", "confidence",
                                       "alert_level", "description"}
    assert [r["is_anomaly"] for r in body["results"]] == [False, False, True]
    assert list(ScoredPoint.objects.values_list("source", flat=True)) == ["batch"] * 3


def test_it_scores_a_headerless_csv_of_the_detectors_width(legacy_model, alice_client):
    response = batch(alice_client, csv_upload("1.2,3.4,5.6\n9,-6,30\n"))
    assert response.status_code == 200, response.json()
    assert [r["is_anomaly"] for r in response.json()["results"]] == [False, True]


BAD_FILES = {
    "ragged": (b"f0,f1,f2\n1,2,3\n4,5\n", "file", "row 2"),
    "binary": (b"f0,f1,f2\n1,2,3\x00\x01\x02\n", "file", "binary"),
    "unknown column": (b"f0,f1,f2,extra\n1,2,3,4\n", "extra", "not a feature"),
    "missing column": (b"f0,f1\n1,2\n", "file", "'f2'"),
    "headerless width": (b"1,2\n3,4\n", "file", "no header and 2 columns"),
    "text value": (b"f0,f1,f2\n1,2,abc\n4,5,6\n7,8,9\n", "f2", "row 1"),
}


def test_it_refuses_a_bad_batch_file_whole(legacy_model, alice_client):
    for case, (content, field, words) in BAD_FILES.items():
        upload = SimpleUploadedFile("points.csv", content, content_type="text/csv")
        body = assert_legacy_error(batch(alice_client, upload), 400)
        assert words in " ".join(body["error"]["fields"][field]), (case, body)
    assert not ScoredPoint.objects.exists()


def test_it_takes_event_times_from_a_timestamp_column(legacy_model, alice_client):
    upload = csv_upload("timestamp,f0,f1,f2\n2026-03-01T10:00:00Z,1.2,3.4,5.6\n"
                        "2026-03-01T10:01:00Z,9,-6,30\n")
    assert batch(alice_client, upload).status_code == 200
    results = alice_client.get(reverse("legacy-results")).json()["results"]
    assert [r["timestamp"] for r in results] == ["2026-03-01T10:01:00Z", "2026-03-01T10:00:00Z"]
    assert results[1]["anomaly_score"] >= 0 and results[1]["alert_level"] == "normal"


def test_it_refuses_a_batch_over_the_row_limit(legacy_model, alice_client, settings):
    settings.SCORE_MAX_POINTS = 2
    response = batch(alice_client, csv_upload("f0,f1,f2\n1,2,3\n1,2,3\n1,2,3\n"))
    assert "SCORE_MAX_POINTS" in assert_legacy_error(response, 413, "too_large")["message"]
    assert not ScoredPoint.objects.exists()


def test_it_asks_for_the_file(legacy_model, alice_client):
    response = alice_client.post(reverse("legacy-batch-detect"), {})
    assert "file" in assert_legacy_error(response, 400)["error"]["fields"]


BAD_FEATURES = {
    "width": ({"features": [1.2, 3.4]}, "2 values given; the detector"),
    "string": ({"features": [1.2, "3.4", 5.6]}, "features: index 1 (`f1`): '3.4' is a string"),
    "boolean": ({"features": [True, 3.4, 5.6]}, "features: index 0 (`f0`): true is a boolean"),
    "null": ({"features": [1.2, None, 5.6]}, "features: index 1 (`f1`): the value is missing"),
    "empty": ({"features": []}, "the list is empty"),
    "not a list": ({"features": "1.2,3.4,5.6"}, "expected an array of numbers"),
    "missing": ({"algorithm": "isolation_forest"}, "this field is required"),
    "project": ({"features": [1.2, 3.4, 5.6], "project": "mine"}, "must be a project id"),
}


@pytest.mark.parametrize("endpoint", ["legacy-detect", "legacy-predict"])
def test_it_refuses_bad_features_and_stores_nothing(legacy_model, alice_client, endpoint):
    for case, (body, words) in BAD_FEATURES.items():
        error = assert_legacy_error(post(alice_client, endpoint, body), 400, "invalid")
        assert words in error["message"], (case, error)
    assert not ScoredPoint.objects.exists()


def test_it_refuses_a_body_that_is_not_json(legacy_model, alice_client):
    for data in ("{features: [1, 2, 3]", '{"features": [NaN, 1, 2]}'):
        response = post(alice_client, "legacy-detect", data)
        assert_legacy_error(response, 400, "parse_error")
    response = alice_client.post(reverse("legacy-detect"), "features=1",
                                 content_type="application/x-www-form-urlencoded")
    assert_legacy_error(response, 415)
    assert not ScoredPoint.objects.exists()


def test_it_lets_bob_detect_without_storing(legacy_model, bob_client):
    response = post(bob_client, "legacy-detect", README_EXAMPLE)
    assert response.status_code == 200 and set(response.json()) == DETECT_KEYS
    assert post(bob_client, "legacy-predict", OUTLIER).json()["prediction"] == -1
    assert batch(bob_client, csv_upload("1.2,3.4,5.6\n")).json()["total"] == 1
    assert not ScoredPoint.objects.exists()
    assert bob_client.get(reverse("legacy-results")).json()["total"] == 0
    assert bob_client.get(reverse("legacy-status")).json()["model_loaded"] is True


def test_it_refuses_training_to_bob(legacy_model, bob_client):
    body = assert_legacy_error(train(bob_client), 403, "permission_denied")
    assert "viewer" in body["message"]
    assert Detector.objects.count() == 1


def test_it_hides_alices_project_from_charlie(legacy_model, charlie_client, project):
    query = f"?project={project.pk}"
    assert_legacy_error(post(charlie_client, "legacy-detect", {**README_EXAMPLE,
                                                               "project": project.pk}), 404)
    assert_legacy_error(charlie_client.get(reverse("legacy-results") + query), 404)
    assert_legacy_error(charlie_client.get(reverse("legacy-models") + query), 404)
    assert_legacy_error(charlie_client.get(reverse("legacy-status") + query), 404)
    assert_legacy_error(train(charlie_client, {"data": training_rows(), "project": project.pk}),
                        404)
    # Without `project` charlie's own (empty) world answers.
    body = assert_legacy_error(post(charlie_client, "legacy-detect", README_EXAMPLE), 404,
                               "no_default_detector")
    assert "/api/train" in body["message"]
    assert_legacy_error(train(charlie_client), 404, "no_project")
    assert not ScoredPoint.objects.exists()


@pytest.mark.parametrize(
    ("method", "name"),
    [("get", "legacy-status"), ("post", "legacy-detect"), ("post", "legacy-predict"),
     ("get", "legacy-models"), ("post", "legacy-train"), ("get", "legacy-results"),
     ("post", "legacy-batch-detect")],
)
def test_it_requires_a_signed_in_caller(client, method, name):
    response = getattr(client, method)(reverse(name))
    assert_legacy_error(response, response.status_code)
    assert response.status_code in (401, 403)


def test_it_accepts_a_token(legacy_model, alice):
    from django.test import Client
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=alice)
    client = Client(headers={"Authorization": f"Token {token.key}"})
    assert post(client, "legacy-detect", README_EXAMPLE).status_code == 200


def test_it_says_to_train_first(detector, alice_client):
    response = post(alice_client, "legacy-detect", {"features": [20.0, 1000.0, 5.0]})
    assert "train it first" in assert_legacy_error(response, 409, "no_model")["message"]


def test_it_scores_with_the_named_algorithm_when_one_is_ready(legacy_model, alice_client):
    response = train(alice_client)
    assert response.status_code == 200, response.json()
    detect = post(alice_client, "legacy-detect", README_EXAMPLE).json()
    assert detect["algorithm"] == "isolation_forest"  # the new default
    named = post(alice_client, "legacy-detect", {**README_EXAMPLE, "algorithm": "statistical"})
    assert named.json()["algorithm"] == "robust_z"
    unknown = post(alice_client, "legacy-detect", {**README_EXAMPLE, "algorithm": "xgboost"})
    assert unknown.json()["algorithm"] == "isolation_forest"
    assert set(ScoredPoint.objects.values_list("detector__algorithm", flat=True)) == {
        "robust_z", "isolation_forest"
    }


def test_it_trains_on_objects_with_their_numeric_keys(alice_client, project, media):
    rows = [{"host": f"h{i % 3}", "cpu": 20 + i % 7, "mem": 50.0 + (i * 7) % 11}
            for i in range(60)]
    response = train(alice_client, {"training_data": rows})  # the original code's field name
    assert response.status_code == 200, response.json()
    model = response.json()["model"]
    assert model["features"] == ["cpu", "mem"] and model["algorithm"] == "isolation_forest"
    ok = post(alice_client, "legacy-detect", {"features": {"cpu": 22, "mem": 53.0}})
    assert ok.status_code == 200, ok.json()


@pytest.mark.parametrize(
    ("body", "status_code", "words"),
    [
        ({"data": [[1.0, 2.0]] * 5}, 400, "at least 10"),
        ({"data": [[1.0, 2.0]] * 11 + [[1.0]]}, 400, "row 11 has 1 values"),
        ({"data": [[1.0, 2.0]] * 11 + [[1.0, "x"]]}, 400, "row 11, feature `f1`: 'x'"),
        ({"data": [{"a": "x"}] * 12}, 400, "no numeric feature column"),
        ({"data": [{"a": 1.0}] * 11 + [{"a": None}]}, 400, "missing"),
        ({"data": [[1.0, 2.0]] * 12, "algorithm": "xgboost"}, 400, "unknown algorithm"),
        ({"algorithm": "isolation_forest"}, 400, "this field is required"),
        ({"data": [[1.0, 2.0]] * 21}, 413, "the limit is 20"),
    ],
    ids=["few", "ragged", "string", "no-numbers", "missing", "algorithm", "no-data", "too-many"],
)
def test_it_refuses_bad_training_data_and_keeps_nothing(
    alice_client, project, media, monkeypatch, body, status_code, words
):
    monkeypatch.setattr(compat, "TRAIN_MAX_ROWS", 20)
    error = assert_legacy_error(train(alice_client, body), status_code)
    assert words in error["message"]
    assert not Dataset.objects.exists() and not Detector.objects.exists()


def test_it_says_why_training_failed_and_keeps_nothing(legacy_model, alice_client):
    response = train(alice_client, {"algorithm": "lof", "data": training_rows(12)})
    assert "needs at least" in assert_legacy_error(response, 422, "training_failed")["message"]
    assert Detector.objects.get() == legacy_model and Dataset.objects.count() == 1
    legacy_model.project.refresh_from_db()
    assert legacy_model.project.default_detector == legacy_model


def test_it_documents_the_endpoints_as_legacy(alice_client):
    schema = alice_client.get("/api/schema/?format=json").json()
    for path, method in [("/api/status", "get"), ("/api/detect", "post"), ("/predict", "post"),
                         ("/api/models", "get"), ("/api/train", "post"),
                         ("/api/results", "get"), ("/api/batch-detect", "post")]:
        operation = schema["paths"][path][method]
        assert operation["tags"] == ["legacy"] and operation["deprecated"] is True
