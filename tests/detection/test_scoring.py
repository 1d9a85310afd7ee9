"""Scoring through the API: one point, a batch, stored or not; the stream; points and labels."""

import io
import json
import zipfile

import numpy as np
import orjson
import pytest
from django.http import Http404
from django.test import Client
from django.urls import reverse

from detection import services
from detection.access import Need, detector_for
from detection.models import ScoredPoint
from detection.services import scoring as scoring_service
from tests.detection.conftest import FEATURES

pytestmark = pytest.mark.django_db

NORMAL = {"temp": 20.1, "pressure": 1000.3, "flow": 5.0}
HOT = {"temp": 45.0, "pressure": 1000.3, "flow": 5.0}


def score(client, detector, body):
    return client.post(
        reverse("api-score", args=[detector.pk]), body, content_type="application/json"
    )


def test_it_scores_one_point_without_storing_it(trained_detector, bob_client):
    response = score(bob_client, trained_detector, {"point": HOT})
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["is_anomaly"] is True
    assert result["score"] >= 50
    assert result["band"] in {"minor", "major", "critical"}
    assert result["model_version"] == 1
    assert result["explanation"]["features"][0]["name"] == "temp"
    assert "temp" in result["explanation"]["text"]
    assert "id" not in result
    assert not ScoredPoint.objects.exists()


def test_it_scores_a_batch_of_arrays_and_objects_alike(trained_detector, alice_client):
    objects = score(alice_client, trained_detector, {"points": [NORMAL, HOT]}).json()
    arrays = score(
        alice_client, trained_detector, {"points": [list(NORMAL.values()), list(HOT.values())]}
    ).json()
    assert [r["score"] for r in objects["results"]] == [r["score"] for r in arrays["results"]]
    assert [r["is_anomaly"] for r in arrays["results"]] == [False, True]
    assert arrays["count"] == 2 and arrays["anomalies"] == 1


def test_it_stores_points_when_asked(trained_detector, alice_client):
    response = score(alice_client, trained_detector, {"points": [NORMAL, HOT], "persist": True})
    results = response.json()["results"]
    stored = ScoredPoint.objects.order_by("id")
    assert [p.pk for p in stored] == [r["id"] for r in results]
    hot = stored[1]
    assert hot.values == HOT
    assert hot.is_anomaly and hot.source == "api"
    assert hot.model_version == trained_detector.active_version
    assert hot.explanation["features"][0]["name"] == "temp"
    assert abs(hot.score - results[1]["score"]) < 1e-3


def test_it_stores_a_single_point_like_a_point_of_a_batch(trained_detector, alice_client):
    # One point takes its own paths (the engine's one-row path; one INSERT on PostgreSQL).
    one = score(alice_client, trained_detector, {"point": HOT, "persist": True}).json()
    batch = score(alice_client, trained_detector, {"points": [NORMAL, HOT], "persist": True})
    hot = batch.json()["results"][1]
    single, in_batch = (ScoredPoint.objects.get(pk=r["id"]) for r in (one, hot))
    assert single.pk < in_batch.pk
    for field in ("values", "band", "is_anomaly", "source", "label", "model_version_id"):
        assert getattr(single, field) == getattr(in_batch, field), field
    assert single.score == pytest.approx(in_batch.score, abs=1e-9)
    assert single.raw_score == pytest.approx(in_batch.raw_score, abs=1e-9)
    assert single.explanation["text"] == in_batch.explanation["text"]
    assert single.event_time == single.received_at and single.event_time.tzinfo is not None
    assert one["id"] == single.pk and one["score"] == pytest.approx(single.score, abs=1e-3)


def test_it_refuses_storing_for_a_viewer(trained_detector, bob_client):
    response = score(bob_client, trained_detector, {"point": HOT, "persist": True})
    assert response.status_code == 403
    assert not ScoredPoint.objects.exists()


def test_it_hides_the_detector_from_charlie(trained_detector, charlie_client):
    assert score(charlie_client, trained_detector, {"point": HOT}).status_code == 404


def test_it_applies_a_new_sensitivity_without_retraining(trained_detector, alice_client):
    borderline = {"points": [{"temp": 23.2, "pressure": 1000.3, "flow": 5.0}]}
    before = score(alice_client, trained_detector, borderline).json()["results"][0]
    url = reverse("api-detector-detail", args=[trained_detector.pk])
    lenient = 10 ** (-(before["score"] + 5) / 25)  # threshold just above this point's score
    strict = 10 ** (-(before["score"] - 5) / 25)  # threshold just below it
    alice_client.patch(url, {"sensitivity": lenient}, content_type="application/json")
    assert (
        score(alice_client, trained_detector, borderline).json()["results"][0]["is_anomaly"]
        is False
    )
    alice_client.patch(url, {"sensitivity": strict}, content_type="application/json")
    assert (
        score(alice_client, trained_detector, borderline).json()["results"][0]["is_anomaly"] is True
    )


def test_it_streams_points_with_their_times(trained_detector, alice_client):
    body = {
        "points": [
            {"time": "2026-03-01T10:00:00Z", "values": NORMAL},
            {"time": 1772359260, "values": list(HOT.values())},
        ]
    }
    response = alice_client.post(
        reverse("api-stream", args=[trained_detector.pk]), body, content_type="application/json"
    )
    assert response.status_code == 201, response.json()
    points = ScoredPoint.objects.order_by("event_time")
    assert [p.source for p in points] == ["stream", "stream"]
    assert points[0].event_time.isoformat() == "2026-03-01T10:00:00+00:00"
    assert points[1].event_time.isoformat() == "2026-03-01T10:01:00+00:00"


def _stream(client, detector, n: int):
    body = {
        "points": [
            {
                "time": f"2026-03-01T10:{i // 60:02d}:{i % 60:02d}Z",
                "values": HOT if i % 5 == 0 else NORMAL,
            }
            for i in range(n)
        ]
    }
    response = client.post(
        reverse("api-stream", args=[detector.pk]), body, content_type="application/json"
    )
    assert response.status_code == 201


def test_it_pages_through_points_with_a_cursor(trained_detector, alice_client):
    _stream(alice_client, trained_detector, 25)
    url = reverse("api-points", args=[trained_detector.pk])
    seen, page = [], alice_client.get(url, {"limit": 10}).json()
    while True:
        seen += [p["event_time"] for p in page["results"]]
        if not page["next"]:
            break
        page = alice_client.get(page["next"]).json()
    assert len(seen) == 25 and seen == sorted(seen, reverse=True)


def test_it_filters_points(trained_detector, alice_client):
    _stream(alice_client, trained_detector, 20)
    url = reverse("api-points", args=[trained_detector.pk])
    anomalous = alice_client.get(url, {"anomalous": "true"}).json()["results"]
    assert len(anomalous) == 4 and all(p["is_anomaly"] for p in anomalous)
    window = alice_client.get(
        url, {"since": "2026-03-01T10:00:05Z", "until": "2026-03-01T10:00:10Z"}
    ).json()["results"]
    assert len(window) == 5
    bands = {p["band"] for p in anomalous}
    only = alice_client.get(url, {"band": sorted(bands)}).json()["results"]
    assert {p["band"] for p in only} == bands


def test_it_labels_a_point(trained_detector, alice_client, bob_client):
    _stream(alice_client, trained_detector, 5)
    point = ScoredPoint.objects.filter(is_anomaly=True).first()
    url = reverse("api-point-label", args=[point.pk])
    assert (
        bob_client.post(url, {"label": "expected"}, content_type="application/json").status_code
        == 403
    )
    response = alice_client.post(url, {"label": "expected"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["label"] == "expected"
    point.refresh_from_db()
    assert point.label == "expected" and point.labelled_at is not None
    labelled = alice_client.get(
        reverse("api-points", args=[trained_detector.pk]), {"label": "expected"}
    ).json()["results"]
    assert [p["id"] for p in labelled] == [point.pk]


def test_it_says_when_there_is_no_model_yet(detector, alice_client):
    response = score(alice_client, detector, {"point": NORMAL})
    assert response.status_code == 409
    assert "train it first" in response.json()["error"]["message"]


def test_it_answers_one_point_as_it_answers_it_in_a_batch(trained_detector, alice_client):
    """A lone point takes the engine's one-row path; its answer must match the batch's."""
    rng = np.random.default_rng(3)
    points = [
        [round(20 + rng.normal() * spread, 3), round(1000 + rng.normal() * spread, 3), 5.0]
        for spread in (0.5, 2, 6, 12)
        for _ in range(10)
    ]
    batch = score(alice_client, trained_detector, {"points": points}).json()["results"]
    alone = [score(alice_client, trained_detector, {"point": p}).json() for p in points]
    assert alone == batch
    assert {r["is_anomaly"] for r in alone} == {True, False}


@pytest.mark.parametrize(
    ("name", "body", "queries"),
    [
        ("api-score", {"point": NORMAL}, 1),  # the token with its user, the detector and the role
        # and the point's insert, in a savepoint (the test runs in a transaction)
        ("api-score", {"point": NORMAL, "persist": True}, 4),
        ("api-stream", {"points": [{"values": NORMAL}]}, 4),
    ],
)
def test_it_checks_token_and_access_in_one_query(
    trained_detector, alice, client, django_assert_num_queries, name, body, queries
):
    """Also: nothing on the way reads a detector field the lookup deferred (each would cost a
    query of its own)."""
    key = services.api_token_create(user=alice).key
    url = reverse(name, args=[trained_detector.pk])
    headers = {"Authorization": f"Token {key}"}
    client.post(url, body, content_type="application/json", headers=headers)  # loads the model
    with django_assert_num_queries(queries):
        response = client.post(url, body, content_type="application/json", headers=headers)
    assert response.status_code in (200, 201)


@pytest.mark.parametrize(
    ("who", "persist", "missing", "status"),
    [
        ("alice", False, False, 200),
        ("alice", True, False, 200),
        ("bob", False, False, 200),
        ("bob", True, False, 403),  # a viewer cannot store points
        ("charlie", False, False, 404),  # a stranger is not told the detector exists
        ("alice", False, True, 404),
        ("alice", True, True, 404),
    ],
)
def test_a_token_gets_the_answers_a_session_gets(
    trained_detector, request, who, persist, missing, status
):
    user = request.getfixturevalue(who)
    key = services.api_token_create(user=user).key
    url = reverse("api-score", args=[trained_detector.pk + (1000 if missing else 0)])
    body = {"point": NORMAL, "persist": persist}
    by_token = Client().post(
        url, body, content_type="application/json", headers={"Authorization": f"Token {key}"}
    )
    session = Client()
    session.force_login(user)
    by_session = session.post(url, body, content_type="application/json")
    assert (by_token.status_code, by_session.status_code) == (status, status)
    token_body, session_body = by_token.json(), by_session.json()
    if persist and status == 200:
        assert token_body.pop("id") != session_body.pop("id")
    assert token_body == session_body


def test_the_stream_and_the_points_take_a_token(trained_detector, alice):
    key = services.api_token_create(user=alice).key
    client = Client(headers={"Authorization": f"Token {key}"})
    streamed = client.post(
        reverse("api-stream", args=[trained_detector.pk]),
        {"points": [{"time": "2026-12-01T10:00:00Z", "values": NORMAL}]},
        content_type="application/json",
    )
    assert streamed.status_code == 201, streamed.json()
    listed = client.get(reverse("api-points", args=[trained_detector.pk]))
    assert [p["id"] for p in listed.json()["results"]] == [streamed.json()["results"][0]["id"]]


def test_it_loads_the_rest_of_the_model_version_when_asked(trained_detector, alice):
    detector = detector_for(alice, trained_detector.pk, Need.WRITE)
    version = detector.active_version
    assert (version.number, version.status) == (1, "ready")
    assert version.training_metrics == trained_detector.active_version.training_metrics


def test_it_tells_a_missing_detector_from_a_strangers_as_before(trained_detector, charlie):
    with pytest.raises(Http404, match="No such project"):
        detector_for(charlie, trained_detector.pk)
    with pytest.raises(Http404, match="Not found"):
        detector_for(charlie, trained_detector.pk + 1000)


def test_it_stores_a_large_batch_with_gaps_in_order(
    project, alice, dataset, alice_client, monkeypatch
):
    # Scored in parts (only the first has a gap), and the answers are written part by part
    # while the rows are stored: on PostgreSQL 200, 500, 500, 200 and 100 rows; on SQLite 500,
    # 500, 400 and 100, in 6 multi-row INSERTs of at most 400 rows.
    monkeypatch.setattr(scoring_service, "FIRST_PART_ROWS", 200)
    monkeypatch.setattr(scoring_service, "ROWS_PER_PART", 500)
    monkeypatch.setattr(scoring_service, "LAST_PART_ROWS", 100)
    monkeypatch.setattr(scoring_service, "SQLITE_ROWS_PER_INSERT", 400)
    detector = services.detector_create(
        project=project,
        user=alice,
        name="Imputing",
        dataset=dataset,
        features=FEATURES,
        algorithm="robust_z",
        missing_policy="impute",
    )
    version = services.detector_train(detector=detector, enqueue=False)
    services.model_version_run(version_id=version.pk)
    rng = np.random.default_rng(4)
    points = [[20 + rng.normal(), 1000 + rng.normal(), 5.0] for _ in range(1500)]
    points[7][1] = None
    response = score(alice_client, detector, {"points": points, "persist": True})
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    ids = [r["id"] for r in results]
    assert ids == sorted(ids) and len(set(ids)) == 1500
    stored = {p.pk: p for p in ScoredPoint.objects.filter(detector=detector)}
    assert sorted(stored) == ids
    assert stored[ids[7]].values == dict(zip(FEATURES, points[7], strict=True))
    assert stored[ids[7]].values["pressure"] is None
    for i, point in enumerate(points):
        assert stored[ids[i]].explanation == results[i]["explanation"]
        assert stored[ids[i]].values["temp"] == point[0]
        assert stored[ids[i]].score == pytest.approx(results[i]["score"], abs=1e-3)
        assert stored[ids[i]].band == results[i]["band"]
        assert stored[ids[i]].is_anomaly == results[i]["is_anomaly"]
    assert {r["model_version"] for r in results} == {version.number}


def test_a_batch_is_scored_in_parts_the_first_one_small():
    first, step = scoring_service.FIRST_PART_ROWS, scoring_service.ROWS_PER_PART

    def slices(count):
        return scoring_service._part_slices(count, first)

    assert slices(1) == [slice(0, 1)]
    assert slices(first) == [slice(0, first)]
    assert slices(first + 1) == [slice(0, first), slice(first, first + 1)]
    assert scoring_service._part_slices(5000, 10_000) == [
        slice(0, step),
        slice(step, 2 * step),
        slice(2 * step, 5000),
    ]
    parts = slices(10_000)
    assert parts[0] == slice(0, first)
    covered = [i for part in parts for i in range(10_000)[part]]
    assert covered == list(range(10_000))
    assert all(part.stop - part.start == step for part in parts[1:-1])


def test_the_last_part_is_small_too():
    first, step = scoring_service.FIRST_PART_ROWS, scoring_service.ROWS_PER_PART
    last = scoring_service.LAST_PART_ROWS

    def slices(count):
        return scoring_service._part_slices(count, first, last)

    assert slices(first) == [slice(0, first)]  # one part: nothing to overlap
    assert slices(first + last) == [slice(0, first), slice(first, first + last)]
    assert slices(first + last + 1) == [
        slice(0, first),
        slice(first, first + 1),
        slice(first + 1, first + last + 1),
    ]
    parts = slices(10_000)
    covered = [i for part in parts for i in range(10_000)[part]]
    assert covered == list(range(10_000))
    assert parts[0] == slice(0, first) and parts[-1] == slice(10_000 - last, 10_000)
    assert all(0 < part.stop - part.start <= step for part in parts)


def test_it_asks_for_retraining_when_the_model_file_is_outdated(trained_detector, alice_client):
    version = trained_detector.active_version
    path = version.artifact.path
    # An upgrade that changed the engine's file format: the header says another version.
    with open(path, "rb") as f:
        data = io.BytesIO(f.read())
    out = io.BytesIO()
    with zipfile.ZipFile(data) as old, zipfile.ZipFile(out, "w") as new:
        for item in old.infolist():
            content = old.read(item)
            if item.filename == "engine_header.json":
                header = json.loads(content)
                header["format_version"] = 0
                content = json.dumps(header).encode()
            new.writestr(item, content)
    with open(path, "wb") as f:
        f.write(out.getvalue())
    services.scoring._pipelines.clear()

    response = score(alice_client, trained_detector, {"point": NORMAL})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "model_outdated"
    assert "train the detector again" in error["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [300, 1], ids=["columns", "a lone point"])
def test_it_writes_each_answer_as_the_json_of_its_dict(trained_detector, rows):
    rng = np.random.default_rng(8)
    matrix = np.column_stack(
        [rng.normal(20, 1, 300), 1000 + rng.normal(0, 0.5, 300), rng.normal(5, 0.2, 300)]
    )
    matrix[::25] *= 1.5  # some anomalies
    if rows == 1:
        matrix = matrix[:1]
    for store in (False, True):
        if store:
            scored, ids = services.points_ingest(
                detector=trained_detector, matrix=matrix, times=None, source="api"
            )
        else:
            scored, ids = services.points_score(detector=trained_detector, matrix=matrix), None
        batch = scored.batch
        expected = [
            {
                "score": float(batch.score.round(3)[i]),
                "band": str(batch.band[i]),
                "is_anomaly": bool(scored.is_anomaly[i]),
                "explanation": batch.explanations()[i],
                "model_version": scored.version.number,
                **({"id": ids[i]} if store else {}),
            }
            for i in range(len(matrix))
        ]
        got = services.scored_results(scored, ids)
        assert orjson.dumps(got) == orjson.dumps(expected)
        if rows > 1:
            assert any(e["is_anomaly"] for e in expected) and not all(
                e["is_anomaly"] for e in expected
            )
        if store:
            stored = ScoredPoint.objects.filter(pk__in=ids).order_by("pk")
            for point, row in zip(stored, matrix.tolist(), strict=True):  # the values as sent
                assert list(point.values.values()) == row


def test_a_lone_points_stored_values_are_the_text_the_columns_give():
    detector = type("D", (), {"features": ["temp", "pressure", "flow"]})()
    rows = np.array([[20.125, np.nan, 1e-7], [1e21, -0.0, 5.0], [3.0, 1000.0000001, np.nan]])
    by_columns = scoring_service._values_json(detector, rows)
    alone = [scoring_service._values_json(detector, rows[i : i + 1])[0] for i in range(3)]
    assert alone == by_columns
    assert orjson.loads(alone[0]) == {"temp": 20.125, "pressure": None, "flow": 1e-7}
