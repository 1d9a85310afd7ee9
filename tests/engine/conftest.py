"""Engine fixtures: plain numpy data, no database."""

import numpy as np
import pytest

FEATURES = ["cpu", "mem", "disk", "net"]


@pytest.fixture(scope="session")
def normal_data():
    """600 rows of correlated normal data with different scales per feature."""
    rng = np.random.default_rng(42)
    base = rng.normal(size=(600, 4))
    base[:, 1] += 0.5 * base[:, 0]
    return base * np.array([0.3, 10.0, 1.0, 100.0]) + np.array([2.7, 50.0, 0.0, 1000.0])


@pytest.fixture(scope="session")
def fitted(normal_data):
    """One fitted pipeline per algorithm (small forests to keep the run quick)."""
    from detection.engine import ALGORITHMS, build_pipeline

    small = {"isolation_forest": {"n_estimators": 50}}
    pipelines = {}
    for name in ALGORITHMS:
        params = small.get(name)
        if name == "ensemble":
            params = {"member_params": {"isolation_forest": {"n_estimators": 50}}}
        pipelines[name] = build_pipeline(name, params, feature_names=FEATURES).fit(normal_data)
    return pipelines
