"""Engine speed: one-row latency and batch throughput per detector, ours next to scikit-learn's.

Each detector is trained once through the real pipeline on normal rows of a dataset (shuttle by
default, else a synthetic 10k x 8), then timed three ways:
  - model: our scoring of the fitted model (flattened forest, numpy kernels) against
    scikit-learn's own scoring of the *same* fitted estimator (`score_samples` /
    `decision_function`), one row and a batch, interleaved so machine noise hits both alike;
  - pipeline: `Pipeline.score_one` (validation, scaling, calibration, explanation) and
    `Pipeline.score(...)` + `.explanations()` for a batch.
Detectors without a library peer (statistical, ECOD, kNN, the ensemble) show "-" there.

The last line printed is one JSON object (if_one_row_speedup, default_one_row_ms, ...).
Run from the repository root: .venv/bin/python bench/engine.py [--train-rows N] [--batch-rows N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detection.engine import ALGORITHMS, DEFAULT_ALGORITHM, build_pipeline  # noqa: E402
from detection.engine.evaluation import read_labelled_csv  # noqa: E402

SHUTTLE = ROOT.parent / "shared" / "datasets" / "tabular" / "shuttle.csv"
FALLBACK_SHUTTLE = Path("/work/shared/datasets/tabular/shuttle.csv")


def load_data(train_rows: int, batch_rows: int) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    for path in (SHUTTLE, FALLBACK_SHUTTLE):
        if path.exists():
            X, y, names = read_labelled_csv(path)
            normal = X[y == 0]
            rng = np.random.default_rng(0)
            train = normal[rng.choice(normal.shape[0], min(train_rows, normal.shape[0]), False)]
            batch = X[rng.choice(X.shape[0], batch_rows, replace=X.shape[0] < batch_rows)]
            return train, batch, names, f"shuttle ({X.shape[1]} features)"
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(8)]
    return (
        rng.normal(size=(train_rows, 8)),
        rng.normal(size=(batch_rows, 8)) * 1.5,
        names,
        "synthetic (8 features)",
    )


def per_call(fn: Callable[[], object], budget: float = 0.15) -> Callable[[], float]:
    """A timer for fn: each call runs fn enough times to fill ~budget seconds, returns s/call."""
    fn()  # warm up
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < 0.02:
        fn()
        n += 1
    number = max(1, int(n * budget / 0.02))

    def timed() -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number

    return timed


def race(ours: Callable[[], object], theirs: Callable[[], object] | None, repeats: int = 7):
    """Median seconds per call of ours and theirs, measured in alternating rounds."""
    a = per_call(ours)
    b = per_call(theirs) if theirs is not None else None
    mine, peer = [], []
    for _ in range(repeats):
        mine.append(a())
        if b is not None:
            peer.append(b())
    return statistics.median(mine), (statistics.median(peer) if peer else None)


def sklearn_peer(pipeline, detector_name: str):
    """(one-row, batch) callables scoring the same fitted estimator through scikit-learn."""
    det = pipeline.detector
    est = getattr(det, "estimator", None)
    if est is None:
        return None
    if detector_name == "ocsvm":
        return lambda X: est.decision_function(det._standardise(X))
    return est.score_samples


def ours_model(pipeline):
    det = pipeline.detector
    if pipeline.algorithm == "isolation_forest":
        return lambda x: det.forest.score_one(x[0]), det.forest.score_samples
    return det.score, det.score


def bench_detector(name: str, train: np.ndarray, batch: np.ndarray, names: list[str]) -> dict:
    """Fit one detector through the pipeline and time it (see the module docstring)."""
    t0 = time.perf_counter()
    pipeline = build_pipeline(name, feature_names=names).fit(train)
    fit_s = time.perf_counter() - t0
    scaled = pipeline.preprocessor.scale(batch)
    one = scaled[:1]
    mine_one, mine_batch = ours_model(pipeline)
    peer = sklearn_peer(pipeline, name)
    one_ours, one_peer = race(lambda: mine_one(one), (lambda: peer(one)) if peer else None)
    batch_ours, batch_peer = race(
        lambda: mine_batch(scaled), (lambda: peer(scaled)) if peer else None, repeats=3
    )
    row = batch[0].tolist()
    pipe_one, _ = race(lambda: pipeline.score_one(row), None)
    pipe_batch, _ = race(lambda: pipeline.score(batch).explanations(), None, repeats=3)
    n = batch.shape[0]
    return {
        "fit_seconds": round(fit_s, 3),
        "one_row_us": round(one_ours * 1e6, 2),
        "sklearn_one_row_us": round(one_peer * 1e6, 2) if one_peer else None,
        "one_row_speedup": round(one_peer / one_ours, 1) if one_peer else None,
        "batch_rows_per_s": round(n / batch_ours),
        "sklearn_batch_rows_per_s": round(n / batch_peer) if batch_peer else None,
        "batch_speedup": round(batch_peer / batch_ours, 2) if batch_peer else None,
        "pipeline_one_row_us": round(pipe_one * 1e6, 1),
        "pipeline_batch_rows_per_s": round(n / pipe_batch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=10_000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--detectors", default=",".join(ALGORITHMS))
    args = parser.parse_args()

    train, batch, names, source = load_data(args.train_rows, args.batch_rows)
    print(f"data: {source}; train {train.shape[0]} rows, batch {batch.shape[0]} rows")
    head = (
        f"{'detector':<18}{'fit s':>7} | {'1 row ours':>11}{'sklearn':>10}{'x':>7} | "
        f"{'batch ours/s':>13}{'sklearn/s':>11}{'x':>6} | {'score_one':>10}"
        f"{'pipeline/s':>11}"
    )
    print(head)
    print("-" * len(head))
    results: dict[str, dict] = {}
    for name in args.detectors.split(","):
        r = bench_detector(name, train, batch, names)
        results[name] = r
        fit_s = r["fit_seconds"]

        def cell(value, spec: str, unit: str = "") -> str:
            return f"{value:{spec}}{unit}" if value is not None else "-"

        print(
            f"{name:<18}{fit_s:>7.2f} | {cell(r['one_row_us'], '.1f', 'us'):>11}"
            f"{cell(r['sklearn_one_row_us'], '.1f', 'us'):>10}"
            f"{cell(r['one_row_speedup'], '.1f', 'x'):>7} | "
            f"{cell(r['batch_rows_per_s'], ','):>13}{cell(r['sklearn_batch_rows_per_s'], ','):>11}"
            f"{cell(r['batch_speedup'], '.2f', 'x'):>6} | "
            f"{cell(r['pipeline_one_row_us'], '.1f', 'us'):>10}"
            f"{cell(r['pipeline_batch_rows_per_s'], ','):>11}",
            flush=True,
        )
    print(
        "model columns: our scoring vs scikit-learn's on the same fitted estimator; "
        "pipeline columns: score_one / score+explanations per second, all included."
    )
    summary = {
        "data": source,
        "train_rows": int(train.shape[0]),
        "batch_rows": int(batch.shape[0]),
        "default": DEFAULT_ALGORITHM,
        "detectors": results,
    }
    if "isolation_forest" in results:
        summary["if_one_row_speedup"] = results["isolation_forest"]["one_row_speedup"]
        summary["if_batch_speedup"] = results["isolation_forest"]["batch_speedup"]
    if DEFAULT_ALGORITHM in results:
        default = results[DEFAULT_ALGORITHM]
        summary["default_one_row_ms"] = round(default["pipeline_one_row_us"] / 1000, 4)
        summary["default_batch_rows_per_s"] = default["pipeline_batch_rows_per_s"]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
