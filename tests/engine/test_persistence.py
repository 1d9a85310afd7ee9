"""Saved with skops, loaded back identical; foreign or outdated files fail clearly."""

import io
import json
import zipfile

import numpy as np
import pytest
import skops.io as sio

from detection.engine import FORMAT_VERSION, ModelFormatError, load_pipeline, save_pipeline
from detection.engine.persistence import HEADER_NAME, dumps_pipeline


def _rewrite_header(data: bytes, header: dict) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            if item.filename != HEADER_NAME:
                target.writestr(item, source.read(item.filename))
        target.writestr(HEADER_NAME, json.dumps(header))
    return out.getvalue()


@pytest.mark.parametrize(
    "algorithm",
    ["isolation_forest", "ocsvm", "lof", "robust_z", "iqr", "ecod", "knn", "ensemble"],
)
def test_round_trip_gives_identical_scores(fitted, normal_data, tmp_path, algorithm):
    pipeline = fitted[algorithm]
    path = tmp_path / "model.skops"
    save_pipeline(pipeline, path)
    loaded = load_pipeline(path)
    X = normal_data[:100] * 1.3
    before, after = pipeline.score(X), loaded.score(X)
    assert np.array_equal(before.score, after.score)
    assert np.array_equal(before.raw, after.raw)
    assert before.explanations() == after.explanations()
    assert loaded.training_summary == pipeline.training_summary
    assert loaded.score_one(X[0]) == pipeline.score_one(X[0])


def test_it_writes_to_file_objects_and_reads_bytes(fitted):
    buffer = io.BytesIO()
    save_pipeline(fitted["robust_z"], buffer)
    loaded = load_pipeline(buffer.getvalue())
    assert loaded.feature_names == fitted["robust_z"].feature_names


def test_the_file_carries_format_and_library_versions(fitted):
    data = dumps_pipeline(fitted["iqr"])
    header = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(HEADER_NAME))
    assert header["format_version"] == FORMAT_VERSION
    assert set(header["versions"]) == {"python", "numpy", "scikit-learn", "skops"}


def test_a_file_from_another_format_version_is_refused(fitted):
    data = _rewrite_header(
        dumps_pipeline(fitted["iqr"]), {"format_version": 999, "versions": {"numpy": "9"}}
    )
    with pytest.raises(ModelFormatError, match="format version 999, this engine reads version"):
        load_pipeline(data)


class Intruder:
    """A type no engine model holds."""


def test_a_file_with_an_unknown_type_is_refused(fitted):
    pipeline = fitted["iqr"]
    pipeline.extra = Intruder()
    try:
        data = dumps_pipeline(pipeline)
    finally:
        del pipeline.extra
    with pytest.raises(ModelFormatError, match=r"unknown type\(s\) .*test_persistence.Intruder"):
        load_pipeline(data)


def test_a_plain_skops_file_is_not_a_model(fitted):
    with pytest.raises(ModelFormatError, match="no engine header"):
        load_pipeline(sio.dumps({"a": 1}))


def test_garbage_is_not_a_model():
    with pytest.raises(ModelFormatError, match="not a skops archive"):
        load_pipeline(b"definitely not a zip")


def test_nothing_is_pickled(fitted):
    data = dumps_pipeline(fitted["ensemble"])
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert not any(name.endswith((".pkl", ".pickle")) for name in names)


def test_an_untrained_pipeline_is_not_saved(tmp_path):
    from detection.engine import build_pipeline

    with pytest.raises(ModelFormatError, match="only a trained pipeline"):
        save_pipeline(build_pipeline("iqr", feature_names=["a"]), tmp_path / "m.skops")
