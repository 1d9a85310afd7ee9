"""Every scored point gets an explanation of one shape; the shifted feature comes first."""

import numpy as np
import orjson
import pytest

from detection.engine import ALGORITHMS
from detection.engine.explain import fmt

from .conftest import FEATURES


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@pytest.mark.parametrize(("feature", "shift"), [(0, 8.0), (2, -6.0), (3, 10.0)])
def test_the_shifted_feature_is_named_first(fitted, normal_data, algorithm, feature, shift):
    pipeline = fitted[algorithm]
    point = np.median(normal_data, axis=0)
    point[feature] += shift * normal_data[:, feature].std()
    result = pipeline.score_one(point)
    explanation = result["explanation"]
    top = explanation["features"][0]
    assert top["name"] == FEATURES[feature]
    assert (top["contribution"] > 0) == (shift > 0)
    direction = "above" if shift > 0 else "below"
    assert (
        f"value of `{FEATURES[feature]}` {fmt(point[feature])} is far {direction}"
        in (explanation["text"])
    )
    if algorithm != "isolation_forest":
        # An Isolation Forest cannot tell "far outside the range" from "just outside" (the
        # point follows the most extreme training rows down each tree), so it is not asked to
        # flag a single-feature shift; the explanation still names the feature.
        assert result["is_anomaly"] and result["band"] in ("major", "critical")


def test_explanations_have_one_shape_for_every_detector(fitted, normal_data):
    X = normal_data[:20]
    for name, pipeline in fitted.items():
        batch = pipeline.score(X)
        explanations = batch.explanations()
        assert len(explanations) == 20
        for e in explanations:
            assert set(e) == {"features", "members", "text"}
            assert len(e["features"]) == 3
            for f in e["features"]:
                assert set(f) == {"name", "value", "contribution", "expected", "low", "high"}
                assert f["low"] <= f["expected"] <= f["high"]
            assert isinstance(e["text"], str) and e["text"]
        expected_members = pipeline.params["members"] if name == "ensemble" else [name]
        assert list(explanations[0]["members"]) == expected_members
        assert batch.explain(3) == explanations[3]


def test_ensemble_text_says_which_members_agree(fitted, normal_data):
    point = np.median(normal_data, axis=0)
    point[1] += 12 * normal_data[:, 1].std()
    explanation = fitted["ensemble"].score_one(point)["explanation"]
    members = explanation["members"]
    assert members["ecod"] >= 50 and members["knn"] >= 50
    if members["isolation_forest"] >= 50:
        assert explanation["text"].endswith("Isolation Forest, ECOD and k-nearest neighbours agree")
    else:
        assert explanation["text"].endswith(
            "flagged by ECOD and k-nearest neighbours, not by Isolation Forest"
        )


def test_an_ordinary_point_reads_as_ordinary(fitted, normal_data):
    point = np.median(normal_data, axis=0)
    result = fitted["isolation_forest"].score_one(point)
    assert not result["is_anomaly"]
    assert result["explanation"]["text"] == "all values are within their usual ranges"


def test_contributions_are_signed_shares(fitted, normal_data):
    batch = fitted["iqr"].score(normal_data[:50] * 1.5)
    for e in batch.explanations():
        assert sum(abs(f["contribution"]) for f in e["features"]) <= 1.0 + 1e-9


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (9.3, "9.3"),
        (2.1, "2.1"),
        (1234.5678, "1235"),
        (0.012345, "0.0123"),
        (-3.0, "-3"),
        (0, "0"),
        (1.5e7, "1.5e+07"),
        (None, "missing"),
    ],
)
def test_numbers_read_short(value, text):
    assert fmt(value) == text


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_score_one_equals_the_batch_path(fitted, normal_data, algorithm):
    """score_one takes plain-Python shortcuts; they must give the batch's numbers."""
    pipeline = fitted[algorithm]
    rng = np.random.default_rng(9)
    X = normal_data[:30] + rng.normal(size=(30, 4)) * normal_data.std(axis=0) * 2
    X[5, 1] = normal_data[:, 1].max() * 3
    batch = pipeline.score(X)
    for i in range(len(X)):
        one = pipeline.score_one(X[i])
        assert one["score"] == pytest.approx(batch.score[i], abs=1e-9)
        assert one["raw"] == pytest.approx(batch.raw[i], abs=1e-9)
        assert one["band"] == batch.band[i] and one["is_anomaly"] == batch.is_anomaly[i]
        expected = batch.explain(i)
        assert one["explanation"]["text"] == expected["text"]
        for got, want in zip(one["explanation"]["features"], expected["features"], strict=True):
            assert got["name"] == want["name"]
            assert got["value"] == want["value"]
            assert got["contribution"] == pytest.approx(want["contribution"], abs=1e-3)
            assert (got["expected"], got["low"], got["high"]) == (
                want["expected"],
                want["low"],
                want["high"],
            )
        assert one["explanation"]["members"] == pytest.approx(expected["members"])


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_a_batch_of_one_row_equals_that_row_of_a_bigger_batch(fitted, normal_data, algorithm):
    """A 1-row batch takes the one-row path; stored points and API answers come from it."""
    pipeline = fitted[algorithm]
    rng = np.random.default_rng(10)
    X = normal_data[:20] + rng.normal(size=(20, 4)) * normal_data.std(axis=0) * 2
    batch = pipeline.score(X)
    for i in range(len(X)):
        one = pipeline.score(X[i : i + 1])
        assert len(one) == 1
        assert one.score[0] == pytest.approx(batch.score[i], abs=1e-9)
        assert one.raw[0] == pytest.approx(batch.raw[i], abs=1e-9)
        assert one.band[0] == batch.band[i] and one.is_anomaly[0] == batch.is_anomaly[i]
        for name, values in batch.members.items():
            assert one.members[name][0] == pytest.approx(values[i], abs=1e-9)
        got = orjson.loads(one.explanations_json()[0])
        assert got == one.explanations()[0]
        want = orjson.loads(batch.explanations_json()[i])
        assert list(got) == list(want) and got["text"] == want["text"]
        for g, w in zip(got["features"], want["features"], strict=True):
            assert g == {**w, "contribution": pytest.approx(w["contribution"], abs=1e-3)}
        assert got["members"] == pytest.approx(want["members"])


def test_score_one_matches_batch_with_missing_values(normal_data):
    from detection.engine import build_pipeline

    pipeline = build_pipeline("ecod", feature_names=FEATURES, missing="impute").fit(normal_data)
    row = [float("nan"), 500.0, 0.1, None]
    one = pipeline.score_one(row)
    batch = pipeline.score([row])
    assert one["score"] == pytest.approx(batch.score[0])
    assert one["explanation"] == batch.explain(0)
    assert one["explanation"]["features"][0]["name"] == "mem"
    named = {f["name"]: f["value"] for f in one["explanation"]["features"]}
    assert named.get("cpu") is None and named.get("net") is None


def test_batch_number_formatting_equals_fmt():
    from detection.engine.explain import _format_many

    rng = np.random.default_rng(1)
    values = rng.normal(size=5000) * 10 ** rng.uniform(-5, 8, 5000)
    values = np.concatenate([values, [0.0, -0.0, 1e6, 999999.99, 1e-3, 9.99e-4, 100.0, 2.675]])
    assert _format_many(values.tolist()) == [fmt(v) for v in values.tolist()]


def test_top_columns_are_a_stable_sort():
    from detection.engine.explain import _top_columns

    rng = np.random.default_rng(2)
    size = np.abs(np.round(rng.normal(size=(500, 12)), 1))  # many ties
    size[:50] = 0.0
    expected = np.argsort(-size, axis=1, kind="stable")[:, :3]
    assert np.array_equal(_top_columns(size, 3), expected)


def test_training_statistics_are_shown_to_4_significant_digits(normal_data):
    from detection.engine import build_pipeline

    pipeline = build_pipeline("robust_z", feature_names=FEATURES).fit(normal_data / 3.0)
    feature = pipeline.score(normal_data[:5] / 3.0).explain(0)["features"][0]
    for key in ("expected", "low", "high"):
        assert feature[key] == float(f"{feature[key]:.4g}")
    column = FEATURES.index(feature["name"])
    median = float(pipeline.explainer.expected[column])
    assert feature["expected"] == float(f"{median:.4g}") != median


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_explanation_texts_are_what_orjson_writes_for_them(fitted, normal_data, algorithm):
    """The batch writes its explanations as JSON text directly; the text must be the canonical
    encoding of the dict it stands for, so stored and answered JSON never depend on the path."""
    X = normal_data[:200] * np.linspace(0.2, 3.0, 200)[:, None]
    texts = fitted[algorithm].score(X).explanations_json()
    assert len(texts) == 200
    for text in texts:
        assert orjson.dumps(orjson.loads(text)).decode() == text


def test_explanation_texts_escape_names_and_keep_missing_values():
    from detection.engine import build_pipeline

    names = ['flow "in"', "back\\slash", "température"]
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3)) * [1.0, 10.0, 0.01] + [5.0, -100.0, 0.3]
    pipeline = build_pipeline("ecod", feature_names=names, missing="impute").fit(X)
    rows = [[50.0, -100.0, 0.3], [float("nan"), -400.0, 0.3], [5.0, 0.0, None]]
    batch = pipeline.score(rows)
    for i, text in enumerate(batch.explanations_json()):
        explanation = orjson.loads(text)
        assert orjson.dumps(explanation).decode() == text
        assert explanation == pipeline.score_one(rows[i])["explanation"]
        assert len(explanation["features"]) == 3
    lead = orjson.loads(batch.explanations_json()[0])["features"][0]
    assert lead["name"] == 'flow "in"' and lead["value"] == 50.0
    assert (
        'value of `flow "in"` 50 is far above' in orjson.loads(batch.explanations_json()[0])["text"]
    )
    missing = orjson.loads(batch.explanations_json()[1])["features"]
    assert {f["name"]: f["value"] for f in missing}['flow "in"'] is None


def test_two_features_give_two_entries(normal_data):
    from detection.engine import build_pipeline

    pipeline = build_pipeline("iqr", feature_names=["a", "b"]).fit(normal_data[:, :2])
    batch = pipeline.score(normal_data[:10, :2] * 4)
    assert all(len(e["features"]) == 2 for e in batch.explanations())
    assert batch.explanations_json()[0] == orjson.dumps(batch.explanations()[0]).decode()


def test_one_row_scaling_is_the_batch_scaling_to_the_last_bit(fitted, normal_data):
    """The one-row path scales in plain Python; the members must see the very same numbers."""
    preprocessor = fitted["ensemble"].preprocessor
    rng = np.random.default_rng(11)
    X = normal_data[:40] + rng.normal(size=(40, 4)) * normal_data.std(axis=0) * 3
    X[0] = normal_data[0] * 1e20  # beyond the clip limit on both sides
    X[1] = -normal_data[1] * 1e20
    batch = preprocessor.scale(X)
    for i in range(len(X)):
        one = preprocessor.scale_one(X[i].tolist())
        assert one.shape == (1, X.shape[1]) and one.dtype == np.float64
        assert np.array_equal(one[0], batch[i])
