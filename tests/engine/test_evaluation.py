"""Evaluation over a folder of labelled CSVs, in the JSON shape the command prints."""

import json

import numpy as np
import pytest

from detection.engine import DEFAULT_ALGORITHM, InputError, evaluate_folder, format_evaluation

KEYS = {"roc_auc", "average_precision", "f1", "false_alarm_rate"}


def write_dataset(path, seed):
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(400, 3))
    odd = rng.normal(size=(12, 3)) + 7
    X = np.vstack([normal, odd])
    y = np.r_[np.zeros(400), np.ones(12)].astype(int)
    lines = ["x,y,label,z".replace(",label,z", ",z,label")]
    lines += [f"{a},{b},{c},{lab}" for (a, b, c), lab in zip(X.tolist(), y.tolist(), strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_it_scores_every_dataset_with_every_detector(tmp_path):
    write_dataset(tmp_path / "alpha.csv", 1)
    write_dataset(tmp_path / "beta.csv", 2)
    small_default = {"member_params": {"isolation_forest": {"n_estimators": 20}}}
    result = evaluate_folder(
        tmp_path,
        detectors={
            "robust_z": ("robust_z", None),
            "ecod": ("ecod", None),
            DEFAULT_ALGORITHM: (DEFAULT_ALGORITHM, small_default),
        },
    )
    json.dumps(result)  # plain JSON
    assert result["default"] == DEFAULT_ALGORITHM
    assert set(result["datasets"]) == {"alpha", "beta"}
    assert set(result["mean"]) == {"robust_z", "ecod", DEFAULT_ALGORITHM}
    for rows in result["datasets"].values():
        for metrics in rows.values():
            assert set(metrics) >= KEYS and {"precision", "recall"} <= set(metrics)
            assert metrics["roc_auc"] > 0.95
            assert metrics["false_alarm_rate"] <= 0.05
    assert set(result["mean"]["ecod"]) == KEYS
    table = format_evaluation(result)
    assert "alpha" in table and "mean" in table and "ROC-AUC" in table


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no CSV files"):
        evaluate_folder(tmp_path)


def test_a_csv_without_labels_is_an_error(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no `label` column"):
        evaluate_folder(tmp_path)
