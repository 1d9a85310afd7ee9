"""The flattened forest scores exactly like scikit-learn's own IsolationForest."""

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from detection.engine.fast_forest import FastForest


@pytest.mark.parametrize(
    ("n", "d", "params"),
    [
        (500, 3, {}),
        (3000, 8, {"max_samples": 128}),
        (2000, 12, {"max_features": 0.5}),
        (1000, 5, {"max_samples": 0.3, "n_estimators": 30}),
        (200, 1, {"n_estimators": 10}),
        (40, 6, {"max_features": 0.34, "max_samples": 17}),
    ],
)
def test_it_matches_score_samples(n, d, params):
    rng = np.random.default_rng(n + d)
    X = rng.standard_t(3, size=(n, d)) * rng.uniform(0.1, 100, size=d)
    model = IsolationForest(random_state=d, **params).fit(X)
    forest = FastForest.from_sklearn(model)
    X_new = np.vstack([X[:50], rng.normal(size=(300, d)) * X.std(axis=0) * 3, X.max(0), X.min(0)])
    expected = model.score_samples(X_new)
    assert np.abs(forest.score_samples(X_new) - expected).max() < 1e-9
    one = np.array([forest.score_one(row) for row in X_new[:60]])
    assert np.abs(one - expected[:60]).max() < 1e-9


def test_it_matches_on_values_sitting_on_thresholds():
    """float32 rounding and <= at split points must agree with scikit-learn."""
    rng = np.random.default_rng(7)
    X = rng.integers(0, 5, size=(400, 4)).astype(float)
    model = IsolationForest(n_estimators=40, random_state=0).fit(X)
    forest = FastForest.from_sklearn(model)
    thresholds = np.unique(np.concatenate([e.tree_.threshold for e in model.estimators_]))
    probe = np.resize(thresholds[thresholds > -2], (200, 4))
    assert np.abs(forest.score_samples(probe) - model.score_samples(probe)).max() < 1e-9


def test_a_single_training_row_scores_like_scikit_learn():
    model = IsolationForest(n_estimators=5, random_state=0).fit(np.ones((1, 2)))
    forest = FastForest.from_sklearn(model)
    X = np.array([[1.0, 1.0], [5.0, -3.0]])
    assert np.allclose(forest.score_samples(X), model.score_samples(X))
    assert forest.score_one(X[1]) == model.score_samples(X[1:])[0]


def test_per_tree_path_lengths_add_up_to_the_score():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 4))
    model = IsolationForest(n_estimators=30, random_state=1).fit(X)
    forest = FastForest.from_sklearn(model)
    lengths = forest.path_lengths(X[:100])
    assert lengths.shape == (100, 30)
    assert np.allclose(forest._finish(lengths.sum(axis=1)), model.score_samples(X[:100]))
