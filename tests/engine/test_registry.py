"""Parameter validation names the bad parameter and what is allowed."""

import pytest

from detection.engine import ALGORITHMS, DEFAULT_ALGORITHM, ConfigError, validate_params


def test_defaults_are_filled_in():
    assert validate_params("isolation_forest") == {
        "n_estimators": 100,
        "max_samples": 256,
        "max_features": 1.0,
    }
    assert DEFAULT_ALGORITHM in ALGORITHMS
    for name, spec in ALGORITHMS.items():
        assert spec.label and spec.description
        validate_params(name)


@pytest.mark.parametrize(
    ("algorithm", "params", "param", "message"),
    [
        ("forest", {}, "algorithm", "unknown algorithm 'forest': choose from isolation_forest"),
        (
            "isolation_forest",
            {"trees": 5},
            "trees",
            "unknown parameter 'trees' for isolation_forest (allowed: n_estimators",
        ),
        (
            "isolation_forest",
            {"n_estimators": 5},
            "n_estimators",
            "must be an int in [10, 1000], got 5",
        ),
        ("isolation_forest", {"n_estimators": "many"}, "n_estimators", "got 'many'"),
        ("isolation_forest", {"n_estimators": True}, "n_estimators", "got True"),
        ("isolation_forest", {"max_features": 0}, "max_features", "a float in (0.0, 1.0]"),
        (
            "ocsvm",
            {"gamma": "wide"},
            "gamma",
            "a float in (0.0, 1000000.0] or one of 'scale', 'auto', got 'wide'",
        ),
        ("ocsvm", {"nu": 1.5}, "nu", "got 1.5"),
        ("lof", {"n_neighbors": 1}, "n_neighbors", "an int in [2, 500]"),
        ("robust_z", {"aggregate": "sum"}, "aggregate", "one of 'max', 'mean', got 'sum'"),
        ("ecod", {"k": 1}, "k", "allowed: none"),
        ("ensemble", {"members": ["isolation_forest"]}, "members", "at least 2"),
        (
            "ensemble",
            {"members": ["isolation_forest", "magic"]},
            "members",
            "unknown ensemble member 'magic'",
        ),
        ("ensemble", {"members": ["ecod", "ecod"]}, "members", "must be distinct"),
        ("ensemble", {"members": ["ecod", "ensemble"]}, "members", "unknown ensemble member"),
        ("ensemble", {"member_params": {"lof": {}}}, "member_params", "not an ensemble member"),
        (
            "ensemble",
            {"member_params": {"isolation_forest": {"n_estimators": 0}}},
            "isolation_forest.n_estimators",
            "ensemble member isolation_forest: parameter 'n_estimators'",
        ),
    ],
)
def test_errors_name_the_parameter(algorithm, params, param, message):
    with pytest.raises(ConfigError) as caught:
        validate_params(algorithm, params)
    assert caught.value.param == param
    assert message in str(caught.value)


def test_whole_floats_pass_as_ints_and_choices_as_numbers():
    assert validate_params("isolation_forest", {"n_estimators": 50.0})["n_estimators"] == 50
    assert validate_params("ocsvm", {"gamma": 0.5})["gamma"] == 0.5
    assert validate_params("knn", {"n_neighbors": 7})["n_neighbors"] == 7


def test_the_default_ensemble_is_iek_with_its_member_defaults():
    params = validate_params("ensemble")
    assert params["members"] == ["isolation_forest", "ecod", "knn"]
    assert params["member_params"]["isolation_forest"]["n_estimators"] == 64
    assert params["member_params"]["knn"]["reference_rows"] == 500
    assert params["member_params"]["knn"]["n_neighbors"] == "auto"
    assert params["combine"] == "mean"
    # a member parameter given by the caller wins; the other defaults stay
    given = validate_params(
        "ensemble", {"member_params": {"isolation_forest": {"max_samples": 128}}}
    )["member_params"]["isolation_forest"]
    assert given["n_estimators"] == 64 and given["max_samples"] == 128
    # a standalone detector keeps its own defaults
    assert validate_params("isolation_forest")["n_estimators"] == 100
    assert validate_params("knn")["reference_rows"] == 1000
