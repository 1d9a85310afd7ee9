"""The 0-100 score means the same for every detector: P(normal >= s) = 10^(-s/25)."""

import numpy as np
import pytest

from detection.engine import (
    BANDS,
    SENSITIVITY_PRESETS,
    ConfigError,
    band_for,
    bands_for,
    build_pipeline,
    threshold_for,
)
from detection.engine.calibration import Calibrator


def test_thresholds_follow_the_false_alarm_rate():
    assert threshold_for("medium") == 50.0
    assert threshold_for("low") == 75.0
    assert threshold_for(0.1) == 25.0
    assert threshold_for("high") == pytest.approx(32.53, abs=0.01)
    assert SENSITIVITY_PRESETS == {"low": 0.001, "medium": 0.01, "high": 0.05}


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, "none"),
        (24.99, "none"),
        (25, "warning"),
        (49.9, "warning"),
        (50, "minor"),
        (74.9, "minor"),
        (75, "major"),
        (89.99, "major"),
        (90, "critical"),
        (100, "critical"),
    ],
)
def test_bands(score, band):
    assert band_for(score) == band
    assert bands_for(np.array([score]))[0] == band
    assert [name for name, _ in BANDS] == ["none", "warning", "minor", "major", "critical"]


def test_calibrator_on_a_known_distribution():
    """Held-out scores from Exp(1): P(S >= r) = e^-r, so the score at r is 25 r / ln 10."""
    rng = np.random.default_rng(1)
    cal = Calibrator.fit(rng.exponential(size=20_000))
    for r in (np.log(10), np.log(100), np.log(1000)):  # 10%, 1%, 0.1%
        expected = 25 * r / np.log(10)
        assert cal.score(np.array([r]))[0] == pytest.approx(expected, abs=2.5)
    # beyond the largest held-out value the tail keeps rising, up to the 100 ceiling
    far = cal.score(np.array([7.0, 8.0, 50.0]))
    assert far[0] < far[1] <= 100 and far[2] == 100
    assert cal.score(np.array([-5.0]))[0] == 0


def test_calibrator_scores_are_monotone_even_with_ties():
    rng = np.random.default_rng(2)
    held_out = np.round(rng.gamma(2.0, size=500), 1)
    cal = Calibrator.fit(held_out)
    grid = np.linspace(-1, 30, 2000)
    assert (np.diff(cal.score(grid)) >= 0).all()


def test_calibrator_with_all_scores_equal():
    cal = Calibrator.fit(np.zeros(50))
    assert cal.score(np.array([0.0]))[0] < 25
    assert cal.score(np.array([1.0]))[0] == 100


@pytest.mark.parametrize("algorithm", ["robust_z", "isolation_forest"])
def test_unseen_normal_points_are_flagged_at_the_target_rate(algorithm):
    """Fit on N(0, 1) data; about 1% of new N(0, 1) points reach the medium threshold."""
    rng = np.random.default_rng(3)
    names = ["a", "b", "c"]
    pipeline = build_pipeline(
        algorithm, {"n_estimators": 50} if algorithm != "robust_z" else None, feature_names=names
    ).fit(rng.normal(size=(4000, 3)))
    batch = pipeline.score(rng.normal(size=(40_000, 3)))
    assert 0.006 <= batch.is_anomaly.mean() <= 0.016
    share_low = (batch.score >= threshold_for("low")).mean()
    assert share_low <= 0.003
    share_10 = (batch.score >= 25).mean()
    assert 0.08 <= share_10 <= 0.12


def test_changing_sensitivity_moves_only_the_threshold(normal_data):
    pipeline = build_pipeline("robust_z", feature_names=["cpu", "mem", "disk", "net"])
    pipeline.fit(normal_data)
    rng = np.random.default_rng(0)
    X = normal_data[:200] + rng.normal(size=(200, 4)) * normal_data.std(axis=0)
    before = pipeline.score(X)
    pipeline.set_sensitivity("high")
    after = pipeline.score(X)
    assert np.array_equal(before.score, after.score)
    assert after.threshold == threshold_for("high")
    assert after.is_anomaly.sum() >= before.is_anomaly.sum()
    assert pipeline.training_summary["threshold"] == threshold_for("high")
    with pytest.raises(ConfigError) as caught:
        pipeline.set_sensitivity(0)
    assert caught.value.param == "sensitivity"


def test_ensemble_scores_share_the_meaning(fitted):
    """Every detector, ensembles included, puts ~1% of held-out training rows at >= 50."""
    for name, pipeline in fitted.items():
        cal = pipeline.training_summary["calibration"]
        assert 0.0 <= cal["held_out_share_at_medium"] <= 0.03, name


def test_fit_reports_progress_a_few_times(normal_data):
    calls = []
    pipeline = build_pipeline(feature_names=["cpu", "mem", "disk", "net"])
    pipeline.fit(normal_data, progress=calls.append)
    assert calls[0] == 0 and calls[-1] == 100
    assert calls == sorted(calls) and 3 <= len(calls) <= 12
    summary = pipeline.training_summary
    assert summary["n_rows"] == 600 and summary["n_features"] == 4
    assert summary["threshold"] == 50.0 and summary["fit_seconds"] > 0
    assert summary["calibration"]["held_out_rows"] == 600


def test_batch_lookup_equals_np_interp():
    rng = np.random.default_rng(4)
    cal = Calibrator.fit(rng.gamma(2.0, size=5000))
    probe = np.concatenate([rng.gamma(2.0, size=3000), cal.knots, cal.knots + 1e-9, [-3.0]])
    expected = np.interp(probe, cal.knots, cal.log10_p, left=0.0)
    assert np.allclose(cal._interp(probe), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "held_out",
    [
        np.random.default_rng(6).gamma(2.0, size=3000),  # Pareto tail
        np.random.default_rng(7).uniform(size=400),  # bounded tail, with an end point
        np.round(np.random.default_rng(8).gamma(2.0, size=500), 1),  # ties
        np.zeros(50),  # exponential tail from the only value
        np.arange(10.0),  # too few for a Pareto fit
    ],
    ids=["gamma", "uniform", "ties", "constant", "ten"],
)
def test_one_value_equals_the_array_path(held_out):
    cal = Calibrator.fit(held_out)
    rng = np.random.default_rng(9)
    top = float(held_out.max())
    probe = np.concatenate(
        [
            rng.choice(held_out, 300) + rng.normal(size=300) * 0.1,
            cal.knots,
            cal.knots + 1e-9,
            [cal.tail_start, -3.0, top + 0.5, top * 3 + 10, 1e6, np.inf, -np.inf],
        ]
    )
    for cap in (100.0, 1000.0):
        expected = cal.score(probe, cap)
        got = np.array([cal.score_one(float(r), cap) for r in probe])
        assert np.allclose(got, expected, rtol=0, atol=1e-9), probe[~np.isclose(got, expected)]
    assert np.isnan(cal.score_one(float("nan")))


def test_the_fitted_tail_starts_at_the_20th_largest_score():
    rng = np.random.default_rng(5)
    held_out = rng.exponential(size=300)
    cal = Calibrator.fit(held_out)
    anchor = np.sort(held_out)[-20]
    assert cal.tail_start == anchor
    # continuous at the anchor, still rising beyond the largest score
    below, at, above = cal.score(np.array([anchor - 1e-9, anchor, anchor + 1e-9]))
    assert abs(at - below) < 1e-6 and abs(above - at) < 1e-6
    assert cal.score(np.array([held_out.max() * 1.5]))[0] > cal.score(np.array([anchor]))[0]


def test_small_samples_put_the_1_percent_point_near_1_percent():
    """On Exp(1) held-out scores of 222 rows, the true exceedance of the 50 threshold averages
    close to 1% over many samples (the empirical tail alone swings 0.25-2x per sample)."""
    rng = np.random.default_rng(6)
    exceedances = []
    for _ in range(60):
        cal = Calibrator.fit(rng.exponential(size=222))
        grid = np.linspace(0, 15, 30001)
        threshold = grid[np.argmax(cal.score(grid) >= 50)]
        exceedances.append(np.exp(-threshold))  # P(Exp(1) >= t)
    exceedances = np.array(exceedances)
    assert 0.008 <= exceedances.mean() <= 0.014
    assert np.mean((exceedances >= 0.005) & (exceedances <= 0.02)) >= 0.7


def test_the_default_flags_about_1_percent_of_new_normal_rows():
    rng = np.random.default_rng(7)
    pipeline = build_pipeline(feature_names=["a", "b", "c"]).fit(rng.normal(size=(3000, 3)))
    share = pipeline.score(rng.normal(size=(30_000, 3))).is_anomaly.mean()
    assert 0.005 <= share <= 0.02
    assert 0.005 <= pipeline.training_summary["calibration"]["held_out_share_at_medium"] <= 0.02
