"""Alice uploads her plant's readings; bob (a viewer) may look; charlie may not even see them.

The `media` (MEDIA_ROOT in tmp_path) and `eager_celery` fixtures are in tests/detection/conftest.py.
"""

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.urls import reverse

from detection import services
from detection.models import Dataset, JobStatus
from detection.uploads import LimitedUploadHandler, StopUpload

pytestmark = pytest.mark.django_db

READINGS = (
    "timestamp,temp,pressure,label\n"
    "2026-03-01 00:00:00,20.5,1001,0\n"
    "2026-03-01 00:01:00,,1002,0\n"
    "2026-03-01 00:02:00,21.5,1003,1\n"
    "2026-03-01 00:03:00,22.0,1004,0\n"
)


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def upload(client, project, filename: str, content: bytes | str, **fields):
    data = content.encode() if isinstance(content, str) else content
    body = {"file": SimpleUploadedFile(filename, data), **fields}
    return client.post(reverse("api-dataset-list", args=[project.pk]), body)


def uploaded_dataset(client, project, name="plant.csv", content=READINGS, **fields) -> Dataset:
    response = upload(client, project, name, content, **fields)
    assert response.status_code == 201, response.json()
    return Dataset.objects.get(pk=response.json()["id"])


def test_it_stores_alices_csv_as_parquet_with_its_schema(alice_client, project, media):
    response = upload(alice_client, project, "plant.csv", READINGS, name="March")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "March"
    assert body["original_filename"] == "plant.csv"
    assert body["source_format"] == "csv"
    assert body["row_count"] == 4
    assert body["size_bytes"] == len(READINGS)
    assert body["columns"] == [
        {"name": "timestamp", "kind": "datetime", "missing": 0},
        {"name": "temp", "kind": "number", "missing": 1},
        {"name": "pressure", "kind": "number", "missing": 0},
        {"name": "label", "kind": "number", "missing": 0},
    ]
    assert body["feature_columns"] == ["temp", "pressure"]
    assert (body["label_column"], body["timestamp_column"]) == ("label", "timestamp")
    assert body["profile_status"] == "queued"
    assert body["project"] == project.pk

    [stored] = stored_files(media)
    assert stored.suffix == ".parquet"
    assert stored.parent == media / "projects" / str(project.pk) / "datasets"
    table = pq.read_table(stored)
    assert table.column_names == ["timestamp", "temp", "pressure", "label"]
    assert table["temp"].to_pylist() == [20.5, None, 21.5, 22.0]

    listed = alice_client.get(reverse("api-dataset-list", args=[project.pk])).json()
    assert [d["id"] for d in listed] == [body["id"]]


def test_it_reads_json_records_json_columns_and_parquet(alice_client, project, media):
    records = [{"temp": 20.5, "is_anomaly": False}, {"temp": 30.0, "is_anomaly": True}]
    columns = {"temp": [20.5, 30.0], "load": [0.1, None]}
    buffer = io.BytesIO()
    pq.write_table(pa.table({"temp": [1.5, 2.5], "Label": [0, 1]}), buffer)
    for name, content, label, features in [
        ("records.json", json.dumps(records), "is_anomaly", ["temp"]),
        ("columns.json", json.dumps(columns), None, ["temp", "load"]),
        ("table.parquet", buffer.getvalue(), "Label", ["temp"]),
    ]:
        response = upload(alice_client, project, name, content)
        assert response.status_code == 201, (name, response.json())
        body = response.json()
        assert body["source_format"] == name.rsplit(".")[-1]
        assert body["label_column"] == label
        assert body["feature_columns"] == features
        assert body["row_count"] == 2
    assert len(stored_files(media)) == 3


def test_it_takes_the_label_and_timestamp_columns_alice_names(alice_client, project, media):
    content = "at,temp,y\n1767225600,20,0\n1767225660,21,1\n"
    dataset = uploaded_dataset(
        alice_client, project, "t.csv", content, label_column="y", timestamp_column="at"
    )
    assert (dataset.label_column, dataset.timestamp_column) == ("y", "at")
    assert dataset.feature_columns == ["temp"]
    times = services.dataset_timestamps(dataset=dataset)
    assert times.dtype == np.dtype("datetime64[us]")
    assert str(times[1]) == "2026-01-01T00:01:00.000000"
    assert services.dataset_labels(dataset=dataset).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("name", "content", "fields", "message", "field"),
    [
        (
            "temps.csv",
            "temp,label\n" + "".join(f"{v},0\n" for v in [*range(16), "abc", 17]),
            {},
            "column `temp` row 17: 'abc' is not a number",
            "temp",
        ),
        (
            "ragged.csv",
            "a,b,c\n1,2,3\n4,5,6\n7,8,9\n1,2,3,4\n",
            {},
            "row 4 (line 5) has 4 fields, the header has 3",
            "file",
        ),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\xff\xd8\xff", {}, "the file is not UTF-8 text", "file"),
        ("empty.csv", b"", {}, "the file is empty", "file"),
        ("numbers.csv", "1,2\n3,4\n", {}, "the file has no header", "file"),
        ("twice.csv", "a,a\n1,2\n", {}, "the column name `a` appears twice", "file"),
        ("odd.json", '"just a string"', {}, "the JSON is neither records nor columns", "file"),
        ("bad.parquet", b"PAR1 not really", {}, "the file is not a readable Parquet file", "file"),
        ("ok.csv", "a,b\n1,0\n", {"label_column": "c"}, "there is no column `c`", "label_column"),
        (
            "ok.csv",
            "a,b\n1,3\n",
            {"label_column": "b"},
            "column `b` row 1: '3' is not 0 or 1",
            "label_column",
        ),
        (
            "ok.csv",
            "when,a\nmonday,1\n",
            {"timestamp_column": "when"},
            "column `when` holds text, not dates or times",
            "timestamp_column",
        ),
        ("words.csv", "who,what\nann,tea\n", {}, "no numeric feature column", "file"),
    ],
)
def test_it_refuses_a_bad_file_and_keeps_nothing(
    alice_client, project, media, name, content, fields, message, field
):
    response = upload(alice_client, project, name, content, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_file"
    assert error["message"].startswith("The file cannot be used: ")
    assert message in error["message"]
    assert field in error["fields"]
    assert Dataset.objects.count() == 0
    assert stored_files(media) == []


def test_it_puts_each_columns_problems_under_its_name(alice_client, project, media):
    rows = "".join(f"{t},{p}\n" for t, p in [(1, 2), ("abc", 3), (4, "?"), (5, 6), (7, 8)])
    response = upload(alice_client, project, "two.csv", "temp,pressure\n" + rows)
    assert response.json()["error"]["fields"] == {
        "temp": ["row 2: 'abc' is not a number"],
        "pressure": ["row 3: '?' is not a number"],
    }


def test_it_asks_for_the_file_field(alice_client, project, media):
    response = alice_client.post(reverse("api-dataset-list", args=[project.pk]), {"name": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "file": ["Attach the table as the multipart field `file`."]
    }


def test_it_refuses_a_file_over_the_limit_while_streaming(alice_client, project, media, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    content = "a,b\n" + "1,2\n" * 2000  # 8 KB: read up to the limit, then cut off
    response = upload(alice_client, project, "big.csv", content)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert error["message"].startswith("The file is 7.9 KB;")
    assert error["message"].endswith("the limit is 1000 bytes (DATASET_MAX_UPLOAD_MB).")
    assert Dataset.objects.count() == 0
    assert stored_files(media) == []


def test_it_refuses_a_declared_oversize_upload_unread(alice_client, project, media, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    content = b"a\n" + b"1\n" * (1024 * 1024 + 40_000)  # about 2.1 MB, past limit + allowance
    response = upload(alice_client, project, "big.csv", content)
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "The file is 2.1 MB; the limit is 2 MB (DATASET_MAX_UPLOAD_MB)."
    )
    assert Dataset.objects.count() == 0


def test_it_stops_a_stream_at_the_first_chunk_past_the_limit():
    handler = LimitedUploadHandler(limit=10)
    handler.new_file("file", "a.csv", "text/csv", None)
    handler.receive_data_chunk(b"a,b\n1,2\n", 0)
    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"3,4\n", 8)
    assert handler.too_large
    assert handler.message() == (
        "The file is larger than 10 bytes; the limit is 10 bytes (DATASET_MAX_UPLOAD_MB)."
    )
    handler.file.close()


def test_it_lets_bob_read_but_not_upload_or_delete(alice_client, bob_client, project, media):
    dataset = uploaded_dataset(alice_client, project)
    response = upload(bob_client, project, "mine.csv", READINGS)
    assert response.status_code == 403
    assert "viewer" in response.json()["error"]["message"]
    assert bob_client.get(reverse("api-dataset-list", args=[project.pk])).status_code == 200
    assert bob_client.get(reverse("api-dataset-detail", args=[dataset.pk])).status_code == 200
    assert bob_client.delete(reverse("api-dataset-detail", args=[dataset.pk])).status_code == 403
    profile = reverse("api-dataset-profile", args=[dataset.pk])
    assert bob_client.get(profile).status_code == 202
    assert bob_client.post(profile).status_code == 403
    assert Dataset.objects.count() == 1


def test_it_hides_alices_datasets_from_charlie(alice_client, charlie_client, project, media):
    dataset = uploaded_dataset(alice_client, project)
    for url in [
        reverse("api-dataset-detail", args=[dataset.pk]),
        reverse("api-dataset-profile", args=[dataset.pk]),
        reverse("api-dataset-list", args=[project.pk]),
    ]:
        response = charlie_client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert (
        charlie_client.delete(reverse("api-dataset-detail", args=[dataset.pk])).status_code == 404
    )
    assert upload(charlie_client, project, "x.csv", READINGS).status_code == 404
    assert Dataset.objects.count() == 1


def test_it_deletes_the_dataset_and_then_its_file(
    alice_client, project, media, django_capture_on_commit_callbacks
):
    dataset = uploaded_dataset(alice_client, project)
    assert len(stored_files(media)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.delete(reverse("api-dataset-detail", args=[dataset.pk]))
    assert response.status_code == 204
    assert not Dataset.objects.exists()
    assert stored_files(media) == []
    assert alice_client.get(reverse("api-dataset-detail", args=[dataset.pk])).status_code == 404


def test_it_profiles_the_upload_in_the_background(
    alice_client, project, media, eager_celery, django_capture_on_commit_callbacks
):
    x = list(range(1, 11))
    content = "x,y,label\n" + "".join(f"{v},{2 * v + 1},{int(v > 8)}\n" for v in x)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(alice_client, project, "known.csv", content)
    assert response.status_code == 201
    assert len(callbacks) == 1  # the profile task, queued once the row committed

    response = alice_client.get(reverse("api-dataset-profile", args=[response.json()["id"]]))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    profile = body["profile"]
    stats = profile["features"]["x"]
    assert stats["count"] == 10 and stats["missing"] == 0
    assert stats["mean"] == pytest.approx(5.5)
    assert stats["std"] == pytest.approx(3.0276503540974917)
    assert stats["quantiles"]["p50"] == pytest.approx(5.5)
    assert stats["quantiles"]["p5"] == pytest.approx(1.45)
    assert sum(stats["histogram"]["counts"]) == 10
    assert len(stats["histogram"]["edges"]) == len(stats["histogram"]["counts"]) + 1
    assert profile["correlations"]["columns"] == ["x", "y"]
    assert profile["correlations"]["matrix"][0][1] == pytest.approx(1.0)
    assert profile["label"]["counts"] == {"0": 8, "1": 2}


def test_it_reports_a_queued_and_a_failed_profile(alice_client, project, media):
    dataset = uploaded_dataset(alice_client, project)
    url = reverse("api-dataset-profile", args=[dataset.pk])
    queued = alice_client.get(url)
    assert queued.status_code == 202
    assert queued.json() == {"dataset": dataset.pk, "status": "queued", "profile": None}

    dataset.file.storage.delete(dataset.file.name)  # the stored file went missing
    dataset = services.dataset_profile_compute(dataset=dataset)
    assert dataset.profile_status == JobStatus.FAILED
    failed = alice_client.get(url)
    assert failed.status_code == 409
    assert failed.json()["error"]["code"] == "profile_failed"
    assert failed.json()["error"]["message"].startswith("The profile could not be computed: ")

    again = alice_client.post(url)
    assert again.status_code == 202
    assert again.json()["status"] == "queued"


def test_it_computes_a_profile_once(alice_client, project, media):
    dataset = uploaded_dataset(alice_client, project)
    assert services.dataset_profile_compute(dataset=dataset).profile_status == JobStatus.READY
    Dataset.objects.filter(pk=dataset.pk).update(profile={"untouched": True})
    services.dataset_profile_compute(dataset=dataset)  # not queued any more: left alone
    dataset.refresh_from_db()
    assert dataset.profile == {"untouched": True}


def test_it_leaves_no_file_when_the_row_cannot_be_saved(alice, project, media, monkeypatch):
    def refuse(*args, **kwargs):
        raise IntegrityError("the database said no")

    monkeypatch.setattr(Dataset, "save", refuse)
    with pytest.raises(IntegrityError):
        services.dataset_create(
            project=project,
            user=alice,
            uploaded_file=SimpleUploadedFile("plant.csv", READINGS.encode()),
        )
    assert stored_files(media) == []


def test_it_gives_training_the_numbers(alice_client, project, media):
    dataset = uploaded_dataset(alice_client, project)
    matrix = services.dataset_matrix(dataset=dataset, features=["pressure", "temp"])
    assert matrix.dtype == np.float64
    assert matrix.shape == (4, 2)
    assert matrix[:, 0].tolist() == [1001, 1002, 1003, 1004]
    assert np.isnan(matrix[1, 1])
    assert services.dataset_labels(dataset=dataset).tolist() == [0, 0, 1, 0]

    with pytest.raises(services.DatasetError, match="no column `humidity`"):
        services.dataset_matrix(dataset=dataset, features=["temp", "humidity"])
    with pytest.raises(services.DatasetError, match="not numbers: `timestamp` \\(datetime\\)"):
        services.dataset_matrix(dataset=dataset, features=["timestamp"])


def test_it_imports_a_file_from_the_command_line(project, media, tmp_path):
    path = tmp_path / "plant.csv"
    path.write_text(READINGS)
    out = io.StringIO()
    call_command("import_dataset", str(path), "--project", str(project.pk), "--profile", stdout=out)
    dataset = Dataset.objects.get()
    text = out.getvalue()
    assert f"Dataset {dataset.pk} “plant”: 4 rows" in text
    assert "temp: number, 1 missing  (feature)" in text
    assert "label: number, 0 missing  (label)" in text
    assert "Profile: ready" in text

    path.write_text("temp\n1\n2\nabc\n")
    with pytest.raises(CommandError, match="column `temp` row 3: 'abc' is not a number"):
        call_command("import_dataset", str(path), "--project", str(project.pk), stdout=out)
    assert Dataset.objects.count() == 1


def test_it_documents_the_multipart_upload(alice_client):
    schema = alice_client.get("/api/schema/?format=json").json()
    upload_op = schema["paths"]["/api/v1/projects/{project_id}/datasets/"]["post"]
    body = upload_op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["$ref"].endswith("/DatasetInput")
    assert set(upload_op["responses"]) >= {"201", "400", "403", "404", "413"}
    profile_op = schema["paths"]["/api/v1/datasets/{dataset_id}/profile/"]["get"]
    assert set(profile_op["responses"]) >= {"200", "202", "409"}


def test_it_limits_a_browser_upload_before_the_csrf_check_reads_it(alice, project, media, settings):
    """Session auth reads request.POST for the CSRF token: the limit must already be in place."""
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    url = reverse("api-dataset-list", args=[project.pk])
    refused = client.post(url, {"file": SimpleUploadedFile("p.csv", READINGS.encode())})
    assert refused.status_code == 403  # no token: CSRF still guards the upload
    accepted = client.post(
        url,
        {"file": SimpleUploadedFile("p.csv", READINGS.encode()), "csrfmiddlewaretoken": token},
    )
    assert accepted.status_code == 201

    settings.DATASET_MAX_UPLOAD_BYTES = 100
    big = SimpleUploadedFile("big.csv", READINGS.encode() * 10)
    response = client.post(url, {"file": big}, headers={"X-CSRFToken": token})
    assert response.status_code == 413
    assert Dataset.objects.count() == 1


def test_it_shows_datasets_in_the_admin(admin_client, alice_client, project, media):
    dataset = uploaded_dataset(alice_client, project)
    changelist = admin_client.get(reverse("admin:detection_dataset_changelist"))
    assert changelist.status_code == 200
    assert "plant" in changelist.text
    change = admin_client.get(reverse("admin:detection_dataset_change", args=[dataset.pk]))
    assert change.status_code == 200
    assert admin_client.get(reverse("admin:detection_dataset_add")).status_code == 403
