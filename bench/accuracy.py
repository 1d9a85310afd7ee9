"""Engine accuracy: our detectors and the default next to the usual library peers, same protocol.

For every labelled CSV in the folder (a `label` column, 1 = anomaly), every method is fitted
unsupervised on all rows (labels unseen) and scores all rows; ROC-AUC and average precision (AP)
of those scores are reported per dataset, with their mean over the datasets.

- Ours: `detection.engine.evaluate_folder` for every registered algorithm (the default is the
  ensemble), once per seed (`--seeds`, default 0-4), metrics averaged over the seeds. The same
  call runs the calibration check of each detector: fit on a random half of the label-0 rows,
  share of the other half flagged at the medium preset (target 1%, accepted 0.5-2%); the
  default's shares are printed per dataset and seed.
- Peers, as shipped: scikit-learn's IsolationForest (100 trees, AUC and AP averaged over seeds
  0-4), OneClassSVM (defaults: RBF, gamma="scale", nu=0.5; on standardised data, since an RBF
  kernel on raw units is meaningless) and LocalOutlierFactor (20 neighbours; -negative_outlier_
  factor_); PyOD's ECOD, COPOD, HBOS and KNN with their defaults (decision_scores_).

The last line printed is one JSON object: {"default", "mean_roc_auc": {method: x}, "datasets":
{dataset: {method: {"roc_auc", "average_precision"}}}, "calibration", "default_beats_all_peers",
"min_dataset_auc", ...}. Run from the repository root:

    .venv/bin/python bench/accuracy.py [FOLDER] [--seeds 0,1,2,3,4] [--quick]

(`--quick`: seed 0 only, no One-Class SVM peer; its quadratic fit takes most of a full run.)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detection.engine import DEFAULT_ALGORITHM, evaluate_folder  # noqa: E402
from detection.engine.evaluation import read_labelled_csv  # noqa: E402

DEFAULT_FOLDER = ROOT.parent / "shared" / "datasets" / "tabular"
TARGET_LOW, TARGET_HIGH = 0.005, 0.02
IFOREST_SEEDS = (0, 1, 2, 3, 4)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- peers -------------------------------------------------------------------------------------


def _iforest(X: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    return -IsolationForest(n_estimators=100, random_state=seed).fit(X).score_samples(X)


def _ocsvm(X: np.ndarray) -> np.ndarray:
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import OneClassSVM

    Z = StandardScaler().fit_transform(X)
    return -OneClassSVM().fit(Z).decision_function(Z)


def _lof(X: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import LocalOutlierFactor

    lof = LocalOutlierFactor()
    lof.fit(X)
    return -lof.negative_outlier_factor_


def _pyod(name: str):
    def run(X: np.ndarray) -> np.ndarray:
        import pyod.models.copod
        import pyod.models.ecod
        import pyod.models.hbos
        import pyod.models.knn

        model = {
            "ECOD": pyod.models.ecod.ECOD,
            "COPOD": pyod.models.copod.COPOD,
            "HBOS": pyod.models.hbos.HBOS,
            "KNN": pyod.models.knn.KNN,
        }[name]()
        return np.asarray(model.fit(X).decision_scores_, dtype=np.float64)

    return run


#: key -> (label, scorer or None for the seed-averaged Isolation Forest)
PEERS = {
    "peer:iforest": ("scikit-learn IsolationForest (100 trees, seeds 0-4)", None),
    "peer:ocsvm": ("scikit-learn OneClassSVM (standardised)", _ocsvm),
    "peer:lof": ("scikit-learn LocalOutlierFactor (20)", _lof),
    "peer:pyod_ecod": ("PyOD ECOD", _pyod("ECOD")),
    "peer:pyod_copod": ("PyOD COPOD", _pyod("COPOD")),
    "peer:pyod_hbos": ("PyOD HBOS", _pyod("HBOS")),
    "peer:pyod_knn": ("PyOD KNN", _pyod("KNN")),
}


def _metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
    }


def run_peers(files: list[Path], skip: set[str]) -> dict[str, dict[str, dict[str, float]]]:
    """{dataset: {peer: {roc_auc, average_precision, seconds}}}"""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for file in files:
        X, y, _ = read_labelled_csv(file)
        rows: dict[str, dict[str, float]] = {}
        for key, (_, scorer) in PEERS.items():
            if key in skip:
                continue
            started = time.perf_counter()
            if scorer is None:
                runs = [_metrics(y, _iforest(X, seed)) for seed in IFOREST_SEEDS]
                result = {m: float(np.mean([r[m] for r in runs])) for m in runs[0]}
            else:
                result = _metrics(y, scorer(X))
            result["seconds"] = round(time.perf_counter() - started, 2)
            rows[key] = result
        out[file.stem] = rows
        log(f"peers: {file.stem} done")
    return out


# --- ours --------------------------------------------------------------------------------------


def run_ours(folder: Path, seeds: list[int]) -> tuple[dict, dict]:
    """Seed-averaged metrics {dataset: {algorithm: {...}}} and the default's calibration shares
    {dataset: [share per seed]}."""
    per_seed = []
    for seed in seeds:
        started = time.perf_counter()
        per_seed.append(evaluate_folder(folder, random_state=seed))
        log(f"ours: seed {seed} done in {time.perf_counter() - started:.0f} s")
    datasets: dict[str, dict[str, dict[str, float]]] = {}
    shares: dict[str, list[float]] = {}
    for dataset in per_seed[0]["datasets"]:
        datasets[dataset] = {}
        for algorithm in per_seed[0]["datasets"][dataset]:
            runs = [r["datasets"][dataset][algorithm] for r in per_seed]
            datasets[dataset][algorithm] = {
                "roc_auc": float(np.mean([r["roc_auc"] for r in runs])),
                "average_precision": float(np.mean([r["average_precision"] for r in runs])),
            }
        shares[dataset] = [
            r["datasets"][dataset][DEFAULT_ALGORITHM]["false_alarm_rate"] for r in per_seed
        ]
    return datasets, shares


# --- report ------------------------------------------------------------------------------------


def table(title: str, metric: str, datasets: dict, methods: list[str], labels: dict) -> list[str]:
    names = list(datasets)
    width = max(len(labels[m]) for m in methods) + 2
    lines = [f"## {title}", ""]
    lines.append(f"| {'method':<{width}} | " + " | ".join(f"{d[:11]:>11}" for d in names) + " |")
    lines[-1] += f" {'mean':>7} | {'min':>6} |"
    lines.append("|" + "-" * (width + 2) + "|" + "|".join("-" * 12 + ":" for _ in names) + "|")
    lines[-1] += "-" * 8 + ":|" + "-" * 7 + ":|"
    for m in methods:
        values = [datasets[d][m][metric] for d in names]
        lines.append(
            f"| {labels[m]:<{width}} | "
            + " | ".join(f"{v:>11.4f}" for v in values)
            + f" | **{np.mean(values):.4f}** | {min(values):.3f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER))
    parser.add_argument("--seeds", default="0,1,2,3,4", help="seeds for our detectors")
    parser.add_argument("--quick", action="store_true", help="seed 0, no One-Class SVM peer")
    args = parser.parse_args()
    folder = Path(args.folder)
    if not folder.is_dir() and Path("/work/shared/datasets/tabular").is_dir():
        folder = Path("/work/shared/datasets/tabular")
    files = sorted(folder.glob("*.csv"))
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    skip = {"peer:ocsvm"} if args.quick else set()

    started = time.perf_counter()
    ours, shares = run_ours(folder, seeds)
    peers = run_peers(files, skip)
    elapsed = time.perf_counter() - started

    datasets = {d: {**ours[d], **peers[d]} for d in ours}
    ours_keys = list(next(iter(ours.values())))
    peer_keys = [k for k in PEERS if k not in skip]
    labels = {k: (f"{k} (default)" if k == DEFAULT_ALGORITHM else k) for k in ours_keys}
    labels.update({k: PEERS[k][0] for k in peer_keys})
    methods = [DEFAULT_ALGORITHM] + [k for k in ours_keys if k != DEFAULT_ALGORITHM] + peer_keys

    seeds_text = ",".join(str(s) for s in seeds)
    print(f"Datasets: {', '.join(f.stem for f in files)} ({folder})")
    print(f"Ours: seeds {seeds_text}, averaged; peers as listed. {elapsed:.0f} s in all.")
    print()
    for line in table("ROC-AUC", "roc_auc", datasets, methods, labels):
        print(line)
    print()
    for line in table("Average precision", "average_precision", datasets, methods, labels):
        print(line)
    print()

    in_range = {d: [TARGET_LOW <= s <= TARGET_HIGH for s in values] for d, values in shares.items()}
    per_seed_in_range = [sum(in_range[d][i] for d in shares) for i in range(len(seeds))]
    print("## Calibration of the default (medium preset, target 1%, accepted 0.5-2%)")
    print()
    print("Share of unseen normal rows flagged; fit on a random half of the label-0 rows.")
    print()
    print("| dataset | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
    print("|---|" + "---:|" * (len(seeds) + 1))
    for d, values in shares.items():
        cells = " | ".join(
            f"{v * 100:.2f}%" + ("" if ok else " *")
            for v, ok in zip(values, in_range[d], strict=True)
        )
        print(f"| {d} | {cells} | {np.mean(values) * 100:.2f}% |")
    print(
        "| in range (of "
        + str(len(shares))
        + ") | "
        + " | ".join(str(c) for c in per_seed_in_range)
        + " | |"
    )
    print("(* outside 0.5-2%)")
    print()

    mean_auc = {m: float(np.mean([datasets[d][m]["roc_auc"] for d in datasets])) for m in methods}
    best_peer = max(peer_keys, key=lambda k: mean_auc[k])
    default_auc = mean_auc[DEFAULT_ALGORITHM]
    beats = all(default_auc > mean_auc[k] for k in peer_keys)
    min_auc = min(datasets[d][DEFAULT_ALGORITHM]["roc_auc"] for d in datasets)
    print(
        f"Default ({DEFAULT_ALGORITHM}): mean ROC-AUC {default_auc:.4f} "
        f"({'>=' if default_auc >= 0.91 else '<'} 0.91), lowest dataset {min_auc:.4f} "
        f"({'>=' if min_auc >= 0.6 else '<'} 0.60); best peer {labels[best_peer]} "
        f"{mean_auc[best_peer]:.4f}: {'beats every peer' if beats else 'does NOT beat every peer'}."
    )
    summary = {
        "default": DEFAULT_ALGORITHM,
        "mean_roc_auc": {m: round(v, 4) for m, v in mean_auc.items()},
        "mean_average_precision": {
            m: round(float(np.mean([datasets[d][m]["average_precision"] for d in datasets])), 4)
            for m in methods
        },
        "datasets": {
            d: {
                m: {k: round(v, 4) for k, v in datasets[d][m].items() if k != "seconds"}
                for m in methods
            }
            for d in datasets
        },
        "calibration": {
            "target": 0.01,
            "accepted": [TARGET_LOW, TARGET_HIGH],
            "seeds": seeds,
            "shares": {d: [round(v, 4) for v in values] for d, values in shares.items()},
            "in_range_per_seed": per_seed_in_range,
            "in_range_min": min(per_seed_in_range),
            "datasets": len(shares),
        },
        "default_beats_all_peers": beats,
        "best_peer": best_peer,
        "min_dataset_auc": round(min_auc, 4),
        "seeds": seeds,
        "peer_seconds": {
            k: round(sum(peers[d][k]["seconds"] for d in peers), 1) for k in peer_keys
        },
        "seconds": round(elapsed, 1),
        "python": platform.python_version(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
