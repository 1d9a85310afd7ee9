"""Bad input never breaks the API: every case below gets a 4xx whose message names the problem,
and no rejected request changes the database or leaves a file behind.

One test walks the whole table (training a detector per case would cost a minute); a failure
lists every case that misbehaved.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection import services
from tests.detection.conftest import FEATURES

pytestmark = pytest.mark.django_db

OK_POINT = [20.0, 1000.0, 5.0]


@dataclass
class Case:
    name: str
    url: str  # a URL name; {detector}, {untrained}, {point}, {project} and {other} are filled in
    body: object = None
    raw: str | bytes | None = None  # sent as is, with `content_type`
    content_type: str = "application/json"
    method: str = "post"
    query: dict = field(default_factory=dict)
    files: dict | None = None
    status: int = 400
    words: str = ""


def csv_file(text: str | bytes, name: str = "data.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text if isinstance(text, bytes) else text.encode())


CASES = [
    # --- scoring one point or a batch
    Case("NaN literal", "score", raw='{"point": [NaN, 1000, 5]}', words="NaN"),
    Case("Infinity literal", "score", raw='{"point": [Infinity, 1000, 5]}', words="Infinity"),
    Case("minus Infinity", "score", raw='{"point": [-Infinity, 1000, 5]}', words="Infinity"),
    Case("overflowing number", "score", raw='{"point": [1e400, 1000, 5]}', words="infinite"),
    Case("string value", "score", {"point": ["abc", 1000, 5]}, words="'abc' is a string"),
    Case("numeric string", "score", {"point": ["20.5", 1000, 5]}, words="is a string"),
    Case("boolean value", "score", {"point": [True, 1000, 5]}, words="boolean"),
    Case("null under reject", "score", {"point": [None, 1000, 5]}, words="rejects missing"),
    Case("nested array value", "score", {"point": [[20], 1000, 5]}, words="not a number"),
    Case("too few values", "score", {"point": [20, 1000]}, words="has 2 values; the detector"),
    Case("too many values", "score", {"point": [20, 1000, 5, 1]}, words="has 4 values"),
    Case(
        "unknown feature name",
        "score",
        {"point": {"temp": 1, "pressure": 2, "flux": 3}},
        words="unknown feature name(s) 'flux'",
    ),
    Case(
        "missing feature name",
        "score",
        {"point": {"temp": 1, "pressure": 2}},
        words="missing feature(s) 'flow'",
    ),
    Case("empty body", "score", raw="", words="point"),
    Case("malformed JSON", "score", raw='{"point": [1, 2', words="JSON parse error"),
    Case(
        "wrong content type",
        "score",
        raw="point=1",
        content_type="text/plain",
        status=415,
        words="text/plain",
    ),
    Case("body is a list", "score", [OK_POINT], words="expected a JSON object"),
    Case(
        "point and points",
        "score",
        {"point": OK_POINT, "points": [OK_POINT]},
        words="either `point`",
    ),
    Case("empty points", "score", {"points": []}, words="empty"),
    Case("points not a list", "score", {"points": 5}, words="expected a list"),
    Case("point is a number", "score", {"point": 5}, words="got a number"),
    Case(
        "persist not boolean",
        "score",
        {"point": OK_POINT, "persist": "yes"},
        words="persist: must be true or false",
    ),
    Case("misspelt field", "score", {"pionts": [OK_POINT]}, words="pionts: unknown field"),
    Case("too many points", "score", {"points": [OK_POINT] * 6}, words="limit is 5"),
    Case(
        "no ready model", "score-untrained", {"point": OK_POINT}, status=409, words="train it first"
    ),
    # --- the stream
    Case(
        "bad event time",
        "stream",
        {"points": [{"time": "yesterday", "values": OK_POINT}]},
        words="not ISO 8601",
    ),
    Case(
        "boolean event time",
        "stream",
        {"points": [{"time": True, "values": OK_POINT}]},
        words="not a boolean",
    ),
    Case("stream item without values", "stream", {"points": [{"time": 1}]}, words="`values`"),
    Case(
        "stream item with extra keys",
        "stream",
        {"points": [{"values": OK_POINT, "colour": "red"}]},
        words="`values`",
    ),
    # --- listing points
    Case("negative limit", "points", method="get", query={"limit": -1}, words="limit"),
    Case("huge limit", "points", method="get", query={"limit": 10**9}, words="limit"),
    Case("limit not a number", "points", method="get", query={"limit": "ten"}, words="limit"),
    Case("forged cursor", "points", method="get", query={"cursor": "bm9wZQ=="}, words="cursor"),
    Case("since not a date", "points", method="get", query={"since": "soon"}, words="since"),
    Case("unknown band", "points", method="get", query={"band": "purple"}, words="band"),
    Case(
        "anomalous not boolean",
        "points",
        method="get",
        query={"anomalous": "maybe"},
        words="anomalous",
    ),
    Case(
        "since after until",
        "points",
        method="get",
        query={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        words="after `until`",
    ),
    # --- labels
    Case("unknown label", "label", {"label": "weird"}, words="label"),
    Case("label missing", "label", {}, words="label"),
    # --- datasets
    Case("ragged CSV row", "datasets", files={"file": csv_file("a,b\n1,2\n3,4,5\n")}, words="row"),
    Case(
        "binary file named .csv",
        "datasets",
        files={"file": csv_file(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)},
        words="file",
    ),
    Case(
        "text in a number column",
        "datasets",
        files={"file": csv_file("temp,flow\n" + "1,2\n" * 20 + "abc,3\n")},
        words="'abc' is not a number",
    ),
    Case("empty file", "datasets", files={"file": csv_file("")}, words="empty"),
    Case("no file", "datasets", files={}, words="`file`"),
    Case(
        "file over the size limit",
        "datasets",
        files={"file": csv_file("a,b\n" + "1,2\n" * 5000)},
        status=413,
        words="limit",
    ),
    Case(
        "label column that is not 0/1",
        "datasets",
        files={"file": csv_file("a,b\n1,2\n3,4\n"), "label_column": "b"},
        words="b",
    ),
    # --- detectors and training
    Case(
        "feature not in the dataset",
        "detectors",
        {"name": "x", "dataset": "{dataset}", "features": ["temp", "nope"]},
        words="`nope` is not a numeric column",
    ),
    Case(
        "bad parameter",
        "detectors",
        {
            "name": "x",
            "dataset": "{dataset}",
            "features": FEATURES,
            "algorithm": "isolation_forest",
            "params": {"n_estimators": 0},
        },
        words="n_estimators",
    ),
    Case(
        "sensitivity out of range",
        "detectors",
        {"name": "x", "dataset": "{dataset}", "features": FEATURES, "sensitivity": 2.0},
        words="sensitivity",
    ),
    Case(
        "dataset of another project",
        "detectors",
        {"name": "x", "dataset": "{other}", "features": FEATURES},
        words="No dataset",
    ),
    Case("train without a dataset", "train-datasetless", None, words="no dataset"),
    # --- scoring jobs
    Case("job without a file", "jobs", files={}, words="`file`"),
]


def _snapshot(media) -> dict:
    rows = {
        model._meta.label: list(model.objects.order_by("pk").values_list("pk", flat=True))
        for model in apps.get_app_config("detection").get_models()
    }
    files = sorted(str(p) for p in media.rglob("*") if p.is_file()) if media.exists() else []
    return {"rows": rows, "files": files}


@pytest.fixture
def world(trained_detector, project, alice, dataset, media):
    """A trained detector, an untrained one, one without a dataset, a stored point, and a
    dataset in a project alice does not belong to."""
    untrained = services.detector_create(
        project=project, user=alice, name="untrained", dataset=dataset, features=FEATURES
    )
    datasetless = services.detector_create(
        project=project, user=alice, name="no data", dataset=None, features=FEATURES
    )
    services.points_ingest(
        detector=trained_detector, matrix=np.array([OK_POINT]), times=None, source="api"
    )
    dora = get_user_model().objects.create_user("dora")
    other_project = services.project_create(owner=dora, name="Dora's")
    other = services.dataset_create(
        project=other_project,
        user=dora,
        uploaded_file=csv_file("temp,pressure,flow\n" + "1,2,3\n" * 3),
    )
    point = trained_detector.points.first()
    return {
        "detector": trained_detector,
        "untrained": untrained,
        "datasetless": datasetless,
        "point": point,
        "project": project,
        "dataset": dataset,
        "other": other,
    }


def _url(case: Case, w: dict) -> str:
    routes = {
        "score": ("api-score", w["detector"].pk),
        "score-untrained": ("api-score", w["untrained"].pk),
        "stream": ("api-stream", w["detector"].pk),
        "points": ("api-points", w["detector"].pk),
        "label": ("api-point-label", w["point"].pk),
        "datasets": ("api-dataset-list", w["project"].pk),
        "detectors": ("api-detector-list", w["project"].pk),
        "train-datasetless": ("api-detector-train", w["datasetless"].pk),
        "jobs": ("api-job-list", w["detector"].pk),
    }
    name, pk = routes[case.url]
    return reverse(name, args=[pk])


def _fill(body, w: dict):
    if isinstance(body, dict):
        return {k: _fill(v, w) for k, v in body.items()}
    if body == "{dataset}":
        return w["dataset"].pk
    if body == "{other}":
        return w["other"].pk
    return body


def _send(client, case: Case, w: dict):
    url = _url(case, w)
    if case.method == "get":
        return client.get(url, case.query)
    if case.files is not None:
        return client.post(url, case.files)
    if case.raw is not None:
        return client.post(url, case.raw, content_type=case.content_type)
    return client.post(url, _fill(case.body, w), content_type="application/json")


def test_it_rejects_every_bad_input_cleanly(world, alice_client, media, settings):
    settings.SCORE_MAX_POINTS = 5
    settings.DATASET_MAX_UPLOAD_BYTES = 10_000
    assert len(CASES) >= 40
    problems = []
    for case in CASES:
        before = _snapshot(media)
        for upload in (case.files or {}).values():
            if hasattr(upload, "seek"):
                upload.seek(0)
        response = _send(alice_client, case, world)
        after = _snapshot(media)
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"{case.name}: {response.status_code} without the error body")
            continue
        if response.status_code != case.status:
            problems.append(f"{case.name}: {response.status_code} ({error['message']})")
        if case.words not in error["message"]:
            problems.append(f"{case.name}: message {error['message']!r} lacks {case.words!r}")
        if before != after:
            problems.append(f"{case.name}: the request changed the database or stored files")
    assert not problems, "\n".join(problems)
