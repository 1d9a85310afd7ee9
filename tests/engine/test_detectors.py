"""Each detector ranks clear outliers high, and our fast scoring paths equal scikit-learn's."""

import math

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


def test_ecod_branch_free_search_counts_like_searchsorted():
    """Ties (integer data), values on and beyond the training range, constant columns."""
    rng = np.random.default_rng(11)
    X = rng.integers(0, 6, size=(300, 3)).astype(float)
    X[:, 2] = 4.0  # constant
    detector = make_detector("ecod", None).fit(X)
    probe = np.vstack(
        [X[:40], rng.normal(3, 4, size=(200, 3)), np.round(rng.normal(3, 4, (60, 3)))]
    )
    at_most, at_least = detector._counts(probe)
    for j in range(3):
        grid = detector.grid[j]
        assert np.array_equal(at_most[:, j], np.searchsorted(grid, probe[:, j], side="right"))
        assert np.array_equal(
            at_least[:, j], grid.size - np.searchsorted(grid, probe[:, j], side="left")
        )
    one_by_one = np.array([detector.score(row[None])[0] for row in probe])
    assert np.allclose(detector.score(probe), one_by_one, rtol=1e-12)


def test_ecod_leave_one_out_equals_a_refit_without_the_row():
    rng = np.random.default_rng(12)
    X = rng.standard_t(4, size=(120, 3))
    detector = make_detector("ecod", None).fit(X)
    loo = detector.leave_one_out(X)
    for i in range(0, 120, 7):
        refit = make_detector("ecod", None).fit(np.delete(X, i, axis=0))
        # tail scales beyond the range move a little when an extreme row leaves; others are exact
        assert loo[i] == pytest.approx(refit.score(X[i : i + 1])[0], rel=0.02)


def test_knn_selection_equals_a_full_sort_with_ties_and_duplicates():
    rng = np.random.default_rng(13)
    X = rng.standard_t(3, size=(3000, 4))
    X[:400] = np.round(X[:400])  # many equal distances
    X[400:500] = X[400]  # 100 duplicates of one row
    detector = make_detector("knn", {"reference_rows": 1000}).fit(X)
    probe = np.vstack([X[:600], rng.normal(size=(300, 4)) * 3])
    distances = np.sqrt(((probe[:, None, :] - detector.reference[None]) ** 2).sum(axis=2))
    expected = np.sort(distances, axis=1)[:, detector.k - 1]
    scores = detector.score(probe)
    assert np.allclose(scores, expected, rtol=1e-6, atol=1e-6)
    # one row at a time (its own path): the very same values
    assert np.array_equal([detector.score(row[None])[0] for row in probe], scores)
    # leave-one-out: a reference row does not count itself
    loo = detector.leave_one_out(X)
    for i in detector.reference_index[:50]:
        others = detector.reference[detector.reference_index != i]
        d = np.sort(np.sqrt(((others - X[i]) ** 2).sum(axis=1)))[detector.k - 1]
        assert loo[i] == pytest.approx(d, rel=1e-6, abs=1e-6)


def test_isolation_forest_serves_a_plain_forest_and_holds_out_unseen_trees():
    from sklearn.ensemble import IsolationForest

    from detection.engine.detectors.isolation_forest import _MARGIN
    from detection.engine.fast_forest import FastForest

    rng = np.random.default_rng(14)
    X = rng.normal(size=(700, 3))
    detector = make_detector("isolation_forest", {"n_estimators": 40})
    held_out = detector.fit_held_out(X, folds=[])
    plain = IsolationForest(n_estimators=40, max_samples=256, random_state=0).fit(X)
    assert np.allclose(detector.score(X[:50]), -plain.score_samples(X[:50]))
    # a row's held-out score: the served formula over 40 trees that never sampled it
    grown = IsolationForest(
        n_estimators=math.ceil(40 / (1 - 256 / 700) * _MARGIN) + 10,
        max_samples=256,
        random_state=0,
    ).fit(X)
    lengths = FastForest.from_sklearn(grown).path_lengths(X[:20])
    for i in range(20):
        unseen = [t for t, s in enumerate(grown.estimators_samples_) if i not in set(s)][:40]
        assert len(unseen) == 40
        expected = -detector.forest._finish(np.array([lengths[i, unseen].sum()]))[0]
        assert held_out[i] == pytest.approx(expected, rel=1e-12)


def test_small_data_trees_sample_half_the_rows():
    detector = make_detector("isolation_forest", None)
    X = np.random.default_rng(15).normal(size=(300, 2))
    held_out = detector.fit_held_out(X, folds=[])
    assert detector.estimator.max_samples_ == 150 and np.isfinite(held_out).all()


def test_a_big_batch_scores_its_members_in_threads_with_the_same_result(
    fitted, normal_data, monkeypatch
):
    from detection.engine.detectors import ensemble

    pipeline = fitted["ensemble"]
    rng = np.random.default_rng(5)
    n = ensemble.PARALLEL_ROWS + 500
    X = normal_data[rng.integers(0, len(normal_data), n)] * rng.uniform(0.5, 2.0, (n, 1))
    threads = []
    real_pool = ensemble.ThreadPoolExecutor

    def counting_pool(*args, **kwargs):
        threads.append(args)
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(ensemble, "ThreadPoolExecutor", counting_pool)
    parallel = pipeline.detector.score_with_members(X)
    assert threads, f"{n} rows should be scored in threads"
    monkeypatch.setattr(ensemble, "PARALLEL_ROWS", 10**9)
    threads.clear()
    serial = pipeline.detector.score_with_members(X)
    assert not threads
    np.testing.assert_array_equal(parallel[0], serial[0])
    for name, values in serial[1].items():
        np.testing.assert_array_equal(parallel[1][name], values)
