"""Each detector ranks clear outliers high, and our fast scoring paths equal scikit-learn's."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from detection.engine.registry import make_detector


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 5))
    outliers = rng.normal(size=(20, 5)) * 0.5 + rng.choice([-6, 6], size=(20, 5))
    return X, np.vstack([X[:100], outliers]), np.r_[np.zeros(100), np.ones(20)]


@pytest.mark.parametrize(
    "algorithm", ["isolation_forest", "ocsvm", "lof", "robust_z", "iqr", "ecod", "knn", "ensemble"]
)
def test_outliers_score_higher(data, algorithm):
    X, X_test, y = data
    detector = make_detector(algorithm, None).fit(X)
    assert roc_auc_score(y, detector.score(X_test)) > 0.95


def test_ocsvm_numpy_scoring_equals_scikit_learn(data):
    X, X_test, _ = data
    detector = make_detector("ocsvm", None).fit(X)
    standardised = (X_test - detector.mean) * detector.inv_std
    reference = -detector.estimator.decision_function(standardised) / detector.norm
    assert np.abs(detector.score(X_test) - reference).max() < 1e-9


def test_lof_direct_neighbour_search_equals_scikit_learn(data):
    X, X_test, _ = data
    detector = make_detector("lof", {"n_neighbors": 15}).fit(X)
    assert np.abs(detector.score(X_test) + detector.estimator.score_samples(X_test)).max() < 1e-9


def test_isolation_forest_one_row_and_batch_agree_with_scikit_learn(data):
    X, X_test, _ = data
    detector = make_detector("isolation_forest", {"max_features": 0.6}).fit(X)
    reference = -detector.estimator.score_samples(X_test)
    assert np.abs(detector.score(X_test) - reference).max() < 1e-9
    assert abs(detector.score(X_test[:1])[0] - reference[0]) < 1e-9


def test_ocsvm_caps_its_training_rows(data):
    X, _, _ = data
    detector = make_detector("ocsvm", {"max_train_rows": 100}).fit(X)
    assert detector.estimator.shape_fit_[0] == 100


def test_knn_keeps_a_bounded_reference(data):
    X, _, _ = data
    detector = make_detector("knn", {"reference_rows": 50}).fit(X)
    assert detector.reference.shape == (50, 5) and detector.k == 5


def test_fit_is_deterministic(data):
    X, X_test, _ = data
    small = {"member_params": {"isolation_forest": {"n_estimators": 20}}}
    a = make_detector("ensemble", small, random_state=3).fit(X).score(X_test)
    b = make_detector("ensemble", small, random_state=3).fit(X).score(X_test)
    assert np.array_equal(a, b)
