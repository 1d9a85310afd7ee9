"""Bad input is refused with a message that names the problem (and the column and row)."""

import numpy as np
import pytest

from detection.engine import ConfigError, InputError, build_pipeline
from detection.engine.preprocessing import Preprocessor

from .conftest import FEATURES

NAN, INF = float("nan"), float("inf")


def rows(n=50, seed=0):
    return np.random.default_rng(seed).normal(size=(n, len(FEATURES)))


def with_value(X, r, c, value):
    X = X.astype(object) if isinstance(value, str) or value is None else X.copy()
    X[r, c] = value
    return X


@pytest.fixture(scope="module")
def rejecting():
    return build_pipeline("robust_z", feature_names=FEATURES, missing="reject").fit(rows(60))


@pytest.fixture(scope="module")
def imputing():
    return build_pipeline("robust_z", feature_names=FEATURES, missing="impute").fit(rows(60))


@pytest.mark.parametrize(
    ("data", "message", "column", "row"),
    [
        (with_value(rows(3), 2, 1, NAN), "missing value (NaN) in column `mem` at row 2", "mem", 2),
        (with_value(rows(3), 1, 3, INF), "infinite value in column `net` at row 1", "net", 1),
        (with_value(rows(3), 0, 0, -INF), "infinite value in column `cpu` at row 0", "cpu", 0),
        (
            with_value(rows(3), 1, 2, None),
            "missing value (NaN) in column `disk` at row 1",
            "disk",
            1,
        ),
        (
            with_value(rows(3), 2, 2, "high"),
            "non-numeric value 'high' in column `disk` at row 2",
            "disk",
            2,
        ),
        (rows(3)[:, :3], "expected 4 feature columns (cpu, mem, disk, net), got 3", None, None),
        (rows(3)[:, 0], "expected a 2-D array", None, None),
        (np.empty((0, 4)), "no rows to score", None, None),
        ([], "no rows to score", None, None),
        (
            np.array([["a", "b", "c", "d"]]),
            "non-numeric value 'a' (text) in column `cpu`",
            "cpu",
            0,
        ),
        (np.ones((2, 4), dtype=bool), "holds booleans", "cpu", None),
        (np.ones((2, 4), dtype=complex), "complex", "cpu", 0),
        ([[1, 2, 3, 4], [1, 2]], "rows must all have 4 values", None, None),
    ],
)
def test_it_names_the_problem_when_scoring(rejecting, data, message, column, row):
    with pytest.raises(InputError) as caught:
        rejecting.score(data)
    assert message in str(caught.value)
    assert caught.value.column == column
    assert caught.value.row == row


def test_it_imputes_nan_with_the_training_median_but_still_rejects_inf(imputing):
    X = with_value(rows(3), 1, 0, NAN)
    batch = imputing.score(X)
    assert np.isfinite(batch.score).all()
    explanation = batch.explain(1)
    cpu = [f for f in explanation["features"] if f["name"] == "cpu"]
    assert not cpu or cpu[0]["value"] is None  # a filled value is never shown as data
    with pytest.raises(InputError, match="infinite value in column `mem` at row 0"):
        imputing.score(with_value(rows(3), 0, 1, INF))


def test_it_accepts_json_like_rows_with_none_under_impute(imputing):
    batch = imputing.score([[1, 2.5, None, 4], [0, 0, 0, 0]])
    assert len(batch) == 2


def test_training_rejects_nan_under_reject_and_names_it():
    X = with_value(rows(40), 7, 3, NAN)
    with pytest.raises(InputError, match="column `net` at row 7") as caught:
        build_pipeline("isolation_forest", feature_names=FEATURES).fit(X)
    assert "'impute'" in str(caught.value)


def test_training_imputes_under_impute():
    X = with_value(rows(40), 7, 3, NAN)
    pipeline = build_pipeline("isolation_forest", feature_names=FEATURES, missing="impute")
    assert pipeline.fit(X).score(X).score.shape == (40,)


def test_training_refuses_an_all_missing_column():
    X = rows(40)
    X[:, 2] = NAN
    with pytest.raises(InputError, match="column `disk` has no values"):
        build_pipeline("ecod", feature_names=FEATURES, missing="impute").fit(X)


@pytest.mark.parametrize(
    ("algorithm", "params", "n", "message"),
    [
        ("robust_z", None, 1, "need at least 10 rows to train, got 1"),
        ("isolation_forest", None, 0, "no rows to train on"),
        (
            "lof",
            {"n_neighbors": 20},
            25,
            "Local Outlier Factor needs at least 27 rows to train "
            "(21 in each of the 5 calibration folds), got 25",
        ),
        (
            "ensemble",
            {"members": ["lof", "ecod"], "member_params": {"lof": {"n_neighbors": 30}}},
            30,
            "needs at least 39 rows to train (31 in each",
        ),
    ],
)
def test_it_says_how_many_rows_a_detector_needs(algorithm, params, n, message):
    pipeline = build_pipeline(algorithm, params, feature_names=FEATURES)
    with pytest.raises(InputError) as caught:
        pipeline.fit(rows(n) if n else np.empty((0, 4)))
    assert message in str(caught.value)


def test_lof_trains_on_exactly_the_rows_it_needs():
    build_pipeline("lof", {"n_neighbors": 20}, feature_names=FEATURES).fit(rows(27))


def test_one_row_is_scored_but_not_trained_on(rejecting):
    result = rejecting.score_one([0.1, 0.2, 0.3, 0.4])
    assert set(result) == {"score", "band", "is_anomaly", "raw", "explanation"}
    with pytest.raises(InputError, match="score_one takes one row of 4 values"):
        rejecting.score_one(rows(2))
    with pytest.raises(InputError, match="expected 4 feature columns"):
        rejecting.score_one([1.0, 2.0])


def test_one_row_applies_the_missing_value_policy_only_when_a_value_is_not_finite(
    rejecting, imputing, monkeypatch
):
    finite = [0.1, 0.2, 0.3, 0.4]
    want = rejecting.score([finite]).score[0]
    with monkeypatch.context() as patched:  # a finite row needs no policy, so no numpy check
        patched.setattr(
            Preprocessor, "fill_missing", lambda *a: pytest.fail("fill_missing was called")
        )
        assert rejecting.score_one(finite)["score"] == pytest.approx(want)
    with pytest.raises(InputError, match="infinite value in column `mem` at row 0"):
        rejecting.score_one([0.1, INF, 0.3, 0.4])
    with pytest.raises(InputError, match="missing value \\(NaN\\) in column `net` at row 0"):
        rejecting.score_one([0.1, 0.2, 0.3, NAN])
    imputed = imputing.score_one([0.1, 0.2, NAN, 0.4])
    assert imputed["score"] == pytest.approx(imputing.score([[0.1, 0.2, NAN, 0.4]]).score[0])


@pytest.mark.parametrize(
    "algorithm", ["isolation_forest", "ocsvm", "lof", "robust_z", "iqr", "ecod", "ensemble"]
)
def test_constant_columns_have_no_influence(algorithm):
    X = rows(80)
    X[:, 1] = 5.0  # constant
    pipeline = build_pipeline(algorithm, feature_names=FEATURES, missing="impute").fit(X)
    assert pipeline.training_summary["constant_columns"] == ["mem"]
    probe = X[:5].copy()
    moved = probe.copy()
    moved[:, 1] = 1e6  # a change in a constant column
    with np.errstate(all="raise"):  # and nothing divides by zero
        a, b = pipeline.score(probe), pipeline.score(moved)
    assert np.array_equal(a.score, b.score)
    assert all(
        f["name"] != "mem" or f["contribution"] == 0
        for e in b.explanations()
        for f in e["features"]
    )


def test_every_column_constant_still_trains_and_scores():
    X = np.ones((30, 4))
    small = {"member_params": {"isolation_forest": {"n_estimators": 20}}}
    pipeline = build_pipeline("ensemble", small, feature_names=FEATURES).fit(X)
    assert (pipeline.score(X).score < 50).all()


def test_scoring_before_training_is_an_error():
    with pytest.raises(InputError, match="not trained yet"):
        build_pipeline("iqr", feature_names=FEATURES).score(rows(2))


@pytest.mark.parametrize(
    ("kwargs", "param", "message"),
    [
        ({"feature_names": []}, "feature_names", "non-empty list"),
        ({"feature_names": ["a", "a"]}, "feature_names", "'a' appears twice"),
        ({"feature_names": FEATURES, "missing": "drop"}, "missing", "use 'reject' or 'impute'"),
        (
            {"feature_names": FEATURES, "sensitivity": "extreme"},
            "sensitivity",
            "unknown sensitivity 'extreme'",
        ),
        ({"feature_names": FEATURES, "sensitivity": 0.9}, "sensitivity", "out of range"),
    ],
)
def test_build_pipeline_names_the_bad_argument(kwargs, param, message):
    with pytest.raises(ConfigError) as caught:
        build_pipeline("isolation_forest", **kwargs)
    assert caught.value.param == param
    assert message in str(caught.value)


def test_batches_scored_in_parts_concatenate_to_the_whole(normal_data):
    from detection.engine import ScoreBatch, build_pipeline

    pipeline = build_pipeline("ensemble", feature_names=FEATURES, missing="impute").fit(normal_data)
    X = normal_data[:90] * 1.4
    X[5, 2] = np.nan  # a gap in the first part only
    whole = pipeline.score(X)
    parts = [pipeline.score(X[i : i + 40]) for i in range(0, 90, 40)]
    joined_fresh = ScoreBatch.concatenate(parts)  # explains its rows itself when asked
    for part in parts:
        part.explanations_json()
    joined = ScoreBatch.concatenate(parts)  # keeps the texts the parts wrote
    assert joined_fresh.explanations_json() == whole.explanations_json()
    np.testing.assert_array_equal(joined.score, whole.score)
    np.testing.assert_array_equal(joined.raw, whole.raw)
    np.testing.assert_array_equal(joined.band, whole.band)
    for name, values in whole.members.items():
        np.testing.assert_array_equal(joined.members[name], values)
    assert joined.explanations_json() == whole.explanations_json()
    assert joined.explanations()[5] == whole.explanations()[5]
    with pytest.raises(ValueError, match="no batches"):
        ScoreBatch.concatenate([])
