"""Engine speed: one-row latency and batch throughput per detector, ours next to scikit-learn's.

Each detector is trained once through the real pipeline on normal rows of a dataset (shuttle by
default, 9 features; `--data synthetic --features 5` for Gaussian rows), then timed three ways:
  - model: our scoring of the fitted model (level-layout forest, numpy kernels) against
    scikit-learn's own scoring of the *same* fitted estimator (`score_samples` /
    `decision_function`), one row and a batch, interleaved so machine noise hits both alike;
  - pipeline: `Pipeline.score_one` (validation, scaling, calibration, explanation) and
    `Pipeline.score(...)` + `.explanations()` for a batch, in wall-clock time and in CPU time of
    the scoring thread (`time.thread_time`, BLAS limited to `--blas-threads`, default 1).
    CPU time is the single-core figure: on a shared, busy machine wall time also counts the
    time other processes hold the core.
Detectors without a library peer (statistical, ECOD, kNN, the ensemble) show "-" there.

The default detector then gets a breakdown (CPU ms per 10,000 rows for each member, the
calibrators and combination, the explanations, freeing the previous batch) and one-row
percentiles. With `--against REF` (a git revision, e.g. HEAD) the engine as of REF is
extracted with `git archive` into a temporary folder and its default pipeline is timed in
alternation with the working tree's, on the same data: the before/after of a change.

The last line printed is one JSON object (if_one_row_speedup, default_one_row_ms,
default_batch_rows_per_s, default_batch_rows_per_s_cpu, default_breakdown_ms, ...).
Run from the repository root: .venv/bin/python bench/engine.py [--train-rows N] [--batch-rows N]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
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


def load_data(
    train_rows: int, batch_rows: int, data: str, features: int
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    if data == "shuttle":
        for path in (SHUTTLE, FALLBACK_SHUTTLE):
            if path.exists():
                X, y, names = read_labelled_csv(path)
                normal = X[y == 0]
                rng = np.random.default_rng(0)
                n_train = min(train_rows, normal.shape[0])
                train = normal[rng.choice(normal.shape[0], n_train, False)]
                batch = X[rng.choice(X.shape[0], batch_rows, replace=X.shape[0] < batch_rows)]
                return train, batch, names, f"shuttle ({X.shape[1]} features)"
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(features)]
    return (
        rng.normal(size=(train_rows, features)),
        rng.normal(size=(batch_rows, features)) * 1.5,
        names,
        f"synthetic ({features} features)",
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


def cpu_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median thread-CPU seconds per call of each fn, the fns taking turns. The result of a call
    is kept until the same fn runs again, so freeing it is timed too (as in a server loop)."""
    kept: dict[str, object] = {}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():
        kept[name] = fn()  # warm up
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.thread_time()
            kept[name] = fn()  # the previous result is freed here, inside the timing
            samples[name].append(time.thread_time() - t0)
    return {name: statistics.median(v) for name, v in samples.items()}


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
    build_pipeline(name, feature_names=names).fit(train[:200])  # imports out of the fit time
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
    cpu = cpu_times({"batch": lambda: pipeline.score(batch).explanations()}, repeats=5)["batch"]
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
        "pipeline_batch_rows_per_s_cpu": round(n / cpu),
    }


def default_breakdown(pipeline, batch: np.ndarray, repeats: int = 9) -> dict:
    """CPU ms per batch for each step of the default pipeline, and one-row percentiles."""
    det = pipeline.detector
    scaled = pipeline.preprocessor.scale(batch)
    steps: dict[str, Callable[[], object]] = {
        f"member {m.name}": (lambda m=m: m.score(scaled)) for m in det.members
    }
    raws = [m.score(scaled) for m in det.members]

    def calibrate() -> object:
        wide = [c.score(r, 400.0) for c, r in zip(det.calibrators, raws, strict=True)]
        return pipeline.calibrator.score(np.vstack(wide).mean(axis=0))

    steps["calibration (members + combined)"] = calibrate
    scored = pipeline.score(batch)

    def explain() -> object:
        scored._explanations = None
        return scored.explanations()

    steps["explanations"] = explain
    steps["score + explanations (all, incl. freeing the last batch)"] = lambda: pipeline.score(
        batch
    ).explanations()
    cpu = cpu_times(steps, repeats)
    row = batch[0].tolist()
    pipeline.score_one(row)
    one = []
    for i in range(2000):
        r = batch[i % batch.shape[0]].tolist()
        t0 = time.perf_counter()
        pipeline.score_one(r)
        one.append(time.perf_counter() - t0)
    one.sort()
    return {
        "cpu_ms": {k: round(v * 1e3, 2) for k, v in cpu.items()},
        "one_row_ms_p50": round(one[len(one) // 2] * 1e3, 4),
        "one_row_ms_p95": round(one[int(len(one) * 0.95)] * 1e3, 4),
        "one_row_ms_p99": round(one[int(len(one) * 0.99)] * 1e3, 4),
    }


def engine_at(ref: str):
    """The detection.engine package as of git revision `ref`, imported under another name."""
    folder = Path(tempfile.mkdtemp(prefix="engine-ref-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "detection/engine"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    package = folder / "engine_at_ref"
    (folder / "detection" / "engine").rename(package)
    sys.path.insert(0, str(folder))
    return importlib.import_module("engine_at_ref")


def compare_with(ref: str, train, batch, names, repeats: int = 9) -> dict:
    """Default pipeline of REF against the working tree, same data, alternating."""
    old = engine_at(ref)
    pipes = {
        ref: old.build_pipeline(feature_names=names).fit(train),
        "now": build_pipeline(feature_names=names).fit(train),
    }
    n = batch.shape[0]
    cpu = cpu_times(
        {k: (lambda p=p: p.score(batch).explanations()) for k, p in pipes.items()}, repeats
    )
    out: dict[str, dict] = {}
    for key, p in pipes.items():
        scaled = p.preprocessor.scale(batch)
        members = cpu_times(
            {m.name: (lambda m=m, s=scaled: m.score(s)) for m in p.detector.members}, 5
        )
        row = batch[0].tolist()
        one, _ = race(lambda p=p, row=row: p.score_one(row), None)
        out[key] = {
            "batch_rows_per_s_cpu": round(n / cpu[key]),
            "batch_ms_cpu": round(cpu[key] * 1e3, 1),
            "members_ms_cpu": {k: round(v * 1e3, 1) for k, v in members.items()},
            "one_row_ms": round(one * 1e3, 4),
        }
    out["speedup"] = round(cpu[ref] / cpu["now"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=10_000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--detectors", default=",".join(ALGORITHMS))
    parser.add_argument("--data", choices=("shuttle", "synthetic"), default="shuttle")
    parser.add_argument("--features", type=int, default=5, help="columns of synthetic data")
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--against", metavar="REF", help="also time the engine at git REF")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    threadpool_limits(args.blas_threads)
    train, batch, names, source = load_data(
        args.train_rows, args.batch_rows, args.data, args.features
    )
    print(f"data: {source}; train {train.shape[0]} rows, batch {batch.shape[0]} rows")
    head = (
        f"{'detector':<18}{'fit s':>7} | {'1 row ours':>11}{'sklearn':>10}{'x':>7} | "
        f"{'batch ours/s':>13}{'sklearn/s':>11}{'x':>6} | {'score_one':>10}"
        f"{'pipeline/s':>11}{'CPU/s':>10}"
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
            f"{cell(r['pipeline_batch_rows_per_s'], ','):>11}"
            f"{cell(r['pipeline_batch_rows_per_s_cpu'], ','):>10}",
            flush=True,
        )
    print(
        "model columns: our scoring vs scikit-learn's on the same fitted estimator; "
        "pipeline columns: score_one / score+explanations per second, all included "
        "(pipeline/s wall clock, CPU/s per CPU-second of the scoring thread)."
    )
    summary = {
        "data": source,
        "train_rows": int(train.shape[0]),
        "batch_rows": int(batch.shape[0]),
        "blas_threads": args.blas_threads,
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
        summary["default_batch_rows_per_s_cpu"] = default["pipeline_batch_rows_per_s_cpu"]
        pipeline = build_pipeline(feature_names=names).fit(train)
        gc.collect()
        breakdown = default_breakdown(pipeline, batch)
        summary["default_breakdown_ms"] = breakdown["cpu_ms"]
        summary["default_one_row_ms_p95"] = breakdown["one_row_ms_p95"]
        print()
        print(f"default ({DEFAULT_ALGORITHM}), CPU ms per {batch.shape[0]:,} rows (medians):")
        for step, ms in breakdown["cpu_ms"].items():
            print(f"  {step:<58}{ms:>8.2f}")
        print(
            f"  score_one: p50 {breakdown['one_row_ms_p50']:.3f} ms, "
            f"p95 {breakdown['one_row_ms_p95']:.3f} ms, p99 {breakdown['one_row_ms_p99']:.3f} ms"
        )
    if args.against:
        compared = compare_with(args.against, train, batch, names)
        summary["against"] = {"ref": args.against, **compared}
        print()
        print(f"default pipeline, {args.against} vs working tree (CPU, alternating):")
        for key in (args.against, "now"):
            c = compared[key]
            members = ", ".join(f"{k} {v} ms" for k, v in c["members_ms_cpu"].items())
            print(
                f"  {key:<6} {c['batch_rows_per_s_cpu']:>9,} rows/s ({c['batch_ms_cpu']} ms), "
                f"one row {c['one_row_ms']:.3f} ms; members: {members}"
            )
        print(f"  speedup {compared['speedup']}x")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
