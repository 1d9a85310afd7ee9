"""Accuracy and calibration of every detector on a folder of labelled CSV files.

Protocol (per dataset, per detector):
- detection: fit unsupervised on all rows (labels unseen), then ROC-AUC and average precision
  of the raw scores, and precision/recall/F1 of the medium-sensitivity flags;
- calibration: fit on a random half of the label-0 rows and report the share of the other
  half flagged at the medium preset ("false_alarm_rate"), to compare with its 1% target.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .calibration import SENSITIVITY_PRESETS
from .errors import InputError
from .pipeline import build_pipeline
from .registry import ALGORITHMS, DEFAULT_ALGORITHM

METRICS = ("roc_auc", "average_precision", "precision", "recall", "f1", "false_alarm_rate")
MEAN_METRICS = ("roc_auc", "average_precision", "f1", "false_alarm_rate")
LABEL = "label"


def read_labelled_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Feature matrix, 0/1 labels and feature names of a CSV with a `label` column."""
    path = Path(path)
    with path.open(newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header or LABEL not in header:
        raise InputError(f"{path.name}: no `{LABEL}` column in the header")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    label_at = header.index(LABEL)
    names = [h for i, h in enumerate(header) if i != label_at]
    X = np.delete(data, label_at, axis=1)
    y = (data[:, label_at] != 0).astype(int)
    return X, y, names


def _detector_table(detectors) -> dict[str, tuple[str, dict | None]]:
    """{key: (algorithm, params)}; the default is always included under its own name."""
    if detectors is None:
        table = {name: (name, None) for name in ALGORITHMS}
    elif isinstance(detectors, Mapping):
        table = {k: (v[0], v[1]) for k, v in detectors.items()}
    else:
        table = {name: (name, None) for name in detectors}
    table.setdefault(DEFAULT_ALGORITHM, (DEFAULT_ALGORITHM, None))
    return table


def evaluate_dataset(
    X: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    algorithm: str,
    params: dict | None = None,
    random_state: int = 0,
) -> dict[str, float]:
    """The metrics of one detector on one labelled dataset."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    pipeline = build_pipeline(
        algorithm,
        params,
        feature_names=names,
        sensitivity="medium",
        missing="impute",
        random_state=random_state,
    )
    batch = pipeline.fit(X).score(X)
    flagged = batch.is_anomaly
    true_pos = int((flagged & (y == 1)).sum())
    precision = true_pos / max(int(flagged.sum()), 1)
    recall = true_pos / max(int(y.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = len(set(y.tolist())) == 2
    result = {
        "roc_auc": float(roc_auc_score(y, batch.raw)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, batch.raw)) if both else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_alarm_rate": calibration_check(X[y == 0], names, algorithm, params, random_state),
    }
    return {k: round(v, 4) for k, v in result.items()}


def calibration_check(
    normal: np.ndarray,
    names: Sequence[str],
    algorithm: str,
    params: dict | None = None,
    random_state: int = 0,
) -> float:
    """Share of unseen normal rows flagged at medium after fitting on the other half."""
    rng = np.random.default_rng(random_state)
    order = rng.permutation(normal.shape[0])
    half = normal.shape[0] // 2
    pipeline = build_pipeline(
        algorithm,
        params,
        feature_names=names,
        sensitivity="medium",
        missing="impute",
        random_state=random_state,
    )
    pipeline.fit(normal[order[:half]])
    return float(pipeline.score(normal[order[half:]]).is_anomaly.mean())


def evaluate_folder(path: str | Path, detectors=None, random_state: int = 0) -> dict:
    """Score every labelled CSV in `path` with every detector (and the default).

    `detectors`: None (all registered algorithms), a list of algorithm names, or a mapping
    {name: (algorithm, params)} to compare variants. Returns
    ``{"default", "target_false_alarm_rate", "mean": {det: {...}},
    "datasets": {ds: {det: {...}}}}``.
    """
    folder = Path(path)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise InputError(f"no CSV files in {folder}")
    table = _detector_table(detectors)
    datasets: dict[str, dict[str, dict[str, float]]] = {}
    for file in files:
        X, y, names = read_labelled_csv(file)
        datasets[file.stem] = {
            key: evaluate_dataset(X, y, names, algorithm, params, random_state)
            for key, (algorithm, params) in table.items()
        }
    mean = {
        key: {
            metric: round(float(np.nanmean([datasets[d][key][metric] for d in datasets])), 4)
            for metric in MEAN_METRICS
        }
        for key in table
    }
    return {
        "default": DEFAULT_ALGORITHM,
        "target_false_alarm_rate": SENSITIVITY_PRESETS["medium"],
        "mean": mean,
        "datasets": datasets,
    }


def format_evaluation(result: dict) -> str:
    """A plain-text table: one block per dataset plus the means."""
    columns = ("roc_auc", "average_precision", "f1", "false_alarm_rate")
    heads = ("ROC-AUC", "AP", "F1", "false alarms")
    lines = []
    blocks = list(result["datasets"].items()) + [("mean", result["mean"])]
    for dataset, rows in blocks:
        lines.append(f"{dataset}")
        lines.append(f"  {'detector':<20}" + "".join(f"{h:>14}" for h in heads))
        for det, metrics in rows.items():
            mark = " *" if det == result["default"] else ""
            cells = "".join(f"{metrics[c]:>14.4f}" for c in columns)
            lines.append(f"  {det + mark:<20}{cells}")
        lines.append("")
    target = result.get("target_false_alarm_rate", 0.01)
    lines.append(
        f"* default. false alarms: share of unseen normal rows flagged at medium "
        f"(target {target:.0%})."
    )
    return "\n".join(lines)
