"""Preprocessing -> detector -> calibrator -> threshold -> explainer, as one object to fit,
score, save and load."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import orjson

from .calibration import (
    N_FOLDS,
    Calibrator,
    band_for,
    bands_for,
    make_folds,
    rate_for,
    threshold_for,
)
from .detectors import Detector
from .errors import ConfigError, InputError
from .explain import Explainer, gc_paused
from .preprocessing import MISSING_POLICIES, Preprocessor, as_matrix
from .registry import DEFAULT_ALGORITHM, default_missing, label_of, make_detector, validate_params

#: Fewest rows any pipeline trains on: below this a held-out tail estimate means nothing.
MIN_TRAIN_ROWS = 10


class ScoreBatch:
    """Scores of a batch: numpy arrays plus explanations built on demand."""

    def __init__(
        self,
        pipeline: Pipeline,
        X: np.ndarray,
        raw: np.ndarray,
        score: np.ndarray,
        members: dict[str, np.ndarray],
        missing: np.ndarray | None,
    ) -> None:
        self.raw = raw
        self.score = score
        self.threshold = pipeline.threshold
        self.is_anomaly = score >= self.threshold
        self.band = bands_for(score)
        self.members = members
        self._pipeline = pipeline
        self._X = X
        self._missing = missing
        self._explanations: list[dict] | None = None
        self._explanations_json: list[str] | None = None

    def __len__(self) -> int:
        return self.score.shape[0]

    @classmethod
    def concatenate(cls, parts: Sequence[ScoreBatch]) -> ScoreBatch:
        """One batch of the rows of several, in order (all scored by one pipeline); the
        explanations each part has already written are kept."""
        if not parts:
            raise ValueError("no batches to concatenate")
        if len(parts) == 1:  # most stored requests: nothing to join
            return parts[0]
        first = parts[0]
        if any(part._pipeline is not first._pipeline for part in parts):
            raise ValueError("batches scored by different pipelines cannot be concatenated")
        missing = None  # as fill_missing gives it: None when no value is missing
        if any(part._missing is not None for part in parts):
            missing = np.concatenate(
                [
                    np.zeros(part._X.shape, bool) if part._missing is None else part._missing
                    for part in parts
                ]
            )
        joined = cls(
            first._pipeline,
            np.concatenate([part._X for part in parts]),
            np.concatenate([part.raw for part in parts]),
            np.concatenate([part.score for part in parts]),
            {m: np.concatenate([part.members[m] for part in parts]) for m in first.members},
            missing,
        )
        if all(part._explanations_json is not None for part in parts):
            joined._explanations_json = [t for part in parts for t in part._explanations_json]
        return joined

    def explanations_json(self) -> list[str]:
        """One explanation per row as JSON text (computed once, vectorised): what a caller that
        stores or sends them needs, without a dict per row."""
        if self._explanations_json is None:
            p = self._pipeline
            self._explanations_json = p.explainer.explain_json(
                self._X,
                self.score,
                self.threshold,
                self.members,
                p.member_labels,
                self._missing,
            )
        return self._explanations_json

    def explanations(self) -> list[dict]:
        """One explanation dict per row: the JSON texts, parsed once."""
        if self._explanations is None:
            loads = orjson.loads
            with gc_paused():
                self._explanations = [loads(text) for text in self.explanations_json()]
        return self._explanations

    def explain(self, i: int) -> dict:
        return self.explanations()[i]

    def to_dicts(self) -> list[dict]:
        """Rows as plain dicts (score, band, is_anomaly, raw, explanation)."""
        return [
            {"score": s, "band": b, "is_anomaly": a, "raw": r, "explanation": e}
            for s, b, a, r, e in zip(
                self.score.tolist(),
                self.band.tolist(),
                self.is_anomaly.tolist(),
                self.raw.tolist(),
                self.explanations(),
                strict=True,
            )
        ]


class Pipeline:
    """A detector with everything around it. Build with `build_pipeline`."""

    def __init__(
        self,
        algorithm: str,
        params: dict,
        detector: Detector,
        feature_names: Sequence[str],
        sensitivity: str | float,
        missing: str,
        random_state: int,
    ) -> None:
        self.algorithm = algorithm
        self.params = params
        self.detector = detector
        self.feature_names = list(feature_names)
        self.missing = missing
        self.random_state = random_state
        self.preprocessor = Preprocessor(self.feature_names, missing)
        self.explainer = Explainer(self.feature_names)
        self.calibrator: Calibrator | None = None
        self.training_summary: dict = {}
        self.set_sensitivity(sensitivity)
        if algorithm == "ensemble":
            self.member_labels = {m.name: m.label for m in detector.members}
        else:
            self.member_labels = {algorithm: label_of(algorithm)}

    @property
    def label(self) -> str:
        return label_of(self.algorithm)

    @property
    def is_fitted(self) -> bool:
        return self.calibrator is not None

    def set_sensitivity(self, sensitivity: str | float) -> None:
        """Change the false-alarm target; only the threshold moves, no refit."""
        self.false_alarm_rate = rate_for(sensitivity)
        self.sensitivity = sensitivity
        self.threshold = threshold_for(sensitivity)
        if self.training_summary:
            self.training_summary["sensitivity"] = sensitivity
            self.training_summary["threshold"] = self.threshold

    def rows_needed(self) -> int:
        """Fewest training rows: every calibration fold's training part must fit the detector."""
        n = MIN_TRAIN_ROWS
        while n - math.ceil(n / N_FOLDS) < self.detector.min_rows:  # largest fold held out
            n += 1
        return n

    def fit(self, X, progress: Callable[[int], None] | None = None) -> Pipeline:
        """Train on rows of normal (mostly normal) data; `progress` gets 0..100 a few times."""
        started = time.perf_counter()
        last = [-100]

        def report(pct: int) -> None:
            if progress is not None and (pct - last[0] >= 10 or pct == 100):
                last[0] = pct
                progress(pct)

        report(0)
        X = as_matrix(X, self.feature_names, action="train on")
        n = X.shape[0]
        needed = self.rows_needed()
        if n < needed:
            if needed == MIN_TRAIN_ROWS:
                message = f"need at least {needed} rows to train, got {n}"
            else:
                message = (
                    f"{self.label} needs at least {needed} rows to train ({self.detector.min_rows}"
                    f" in each of the {N_FOLDS} calibration folds), got {n}"
                )
            raise InputError(message)
        filled = self.preprocessor.fit(X)
        scaled = self.preprocessor.scale(filled)
        self.explainer.fit(filled)
        report(5)

        steps = self.detector.fit_steps(N_FOLDS)
        done = [0]

        def step() -> None:
            done[0] += 1
            report(5 + int(90 * done[0] / steps))

        folds = make_folds(n, N_FOLDS, self.random_state)
        held_out = self.detector.fit_held_out(scaled, folds, step)
        self.calibrator = Calibrator.fit(held_out)
        held_out_scores = self.calibrator.score(held_out)
        constant = [
            name
            for name, c in zip(self.feature_names, self.preprocessor.constant, strict=True)
            if c
        ]
        self.training_summary = {
            "algorithm": self.algorithm,
            "params": self.params,
            "n_rows": n,
            "n_features": len(self.feature_names),
            "fit_seconds": round(time.perf_counter() - started, 4),
            "sensitivity": self.sensitivity,
            "threshold": self.threshold,
            "missing": self.missing,
            "constant_columns": constant,
            "calibration": {
                **self.calibrator.summary(),
                "held_out_share_at_medium": float((held_out_scores >= 50.0).mean()),
            },
        }
        report(100)
        return self

    def _check_fitted(self) -> None:
        if self.calibrator is None:
            raise InputError("the pipeline is not trained yet: call fit() first")

    def score(self, X) -> ScoreBatch:
        """Score a batch of rows (n, d). A single row goes through the one-row path (see
        `score_one`): the same numbers, to rounding, for a fraction of the time."""
        self._check_fitted()
        X = as_matrix(X, self.feature_names, action="score")
        filled, missing = self.preprocessor.fill_missing(X)
        if filled.shape[0] == 1:
            return self._one_row_batch(filled, missing)
        raw, members = self.detector.score_with_members(self.preprocessor.scale(filled))
        score = self.calibrator.score(raw)
        if members is None:
            members = {self.algorithm: score}
        return ScoreBatch(self, filled, raw, score, members, missing)

    def score_one(self, row) -> dict:
        """Score one row (a sequence of d numbers): score, band, is_anomaly, raw, explanation."""
        self._check_fitted()
        arr = np.asarray(row) if not isinstance(row, np.ndarray) else row
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        elif arr.ndim != 2 or arr.shape[0] != 1:
            raise InputError(
                f"score_one takes one row of {len(self.feature_names)} values, "
                f"got shape {arr.shape}"
            )
        X = as_matrix(arr, self.feature_names, action="score")
        values = X[0].tolist()
        if all(v - v == 0.0 for v in values):  # all finite (numpy's check costs more): no policy
            raw, score, _, explanation = self._score_values(values, None)
        else:
            filled, missing = self.preprocessor.fill_missing(X)
            raw, score, _, explanation = self._score_row(filled, missing)
        return {
            "score": score,
            "band": band_for(score),
            "is_anomaly": score >= self.threshold,
            "raw": raw,
            "explanation": explanation,
        }

    def _score_row(
        self, filled: np.ndarray, missing: np.ndarray | None
    ) -> tuple[float, float, dict[str, float], dict]:
        """Raw score, score, member scores and explanation of a 1-row matrix, in plain Python
        where numpy's per-call cost on one row would exceed the work."""
        return self._score_values(
            filled[0].tolist(), None if missing is None else missing[0].tolist()
        )

    def _score_values(
        self, values: list[float], missing: list[bool] | None
    ) -> tuple[float, float, dict[str, float], dict]:
        """`_score_row` of one filled row's values and its missing-value flags."""
        raw, members = self.detector.score_one_with_members(self.preprocessor.scale_one(values))
        score = self.calibrator.score_one(raw)
        if members is None:
            members = {self.algorithm: score}
        explanation = self.explainer.explain_one(
            values,
            score,
            self.threshold,
            members,
            self.member_labels,
            missing,
        )
        return raw, score, members, explanation

    def _one_row_batch(self, filled: np.ndarray, missing: np.ndarray | None) -> ScoreBatch:
        raw, score, members, explanation = self._score_row(filled, missing)
        batch = ScoreBatch(
            self,
            filled,
            np.array([raw]),
            np.array([score]),
            {name: np.array([value]) for name, value in members.items()},
            missing,
        )
        batch._explanations = [explanation]
        batch._explanations_json = [orjson.dumps(explanation).decode()]
        return batch


def build_pipeline(
    algorithm: str = DEFAULT_ALGORITHM,
    params: dict | None = None,
    *,
    feature_names: Sequence[str],
    sensitivity: str | float = "medium",
    missing: str | None = None,
    random_state: int = 0,
) -> Pipeline:
    """An unfitted pipeline; raises ConfigError naming any bad argument."""
    names = list(feature_names) if not isinstance(feature_names, str) else None
    if not names or not all(isinstance(f, str) and f for f in names):
        raise ConfigError(
            "feature_names must be a non-empty list of non-empty strings", param="feature_names"
        )
    if len(set(names)) != len(names):
        dup = next(f for f in names if names.count(f) > 1)
        raise ConfigError(f"feature name {dup!r} appears twice", param="feature_names")
    clean = validate_params(algorithm, params)
    detector = make_detector(algorithm, clean, random_state)
    if missing is None:
        missing = default_missing(detector)
    elif missing not in MISSING_POLICIES:
        raise ConfigError(
            f"unknown missing-value policy {missing!r}: use 'reject' or 'impute'", param="missing"
        )
    return Pipeline(algorithm, clean, detector, names, sensitivity, missing, random_state)
