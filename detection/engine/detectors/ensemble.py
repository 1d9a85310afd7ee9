"""An ensemble of any detectors, combining calibrated member scores.

Members live on different raw scales (path lengths, tail log-probabilities, z-scores), so each
member gets its own calibrator from its own held-out scores, and the ensemble combines those
0-100 scores (like with like). The mean of calibrated scores is not itself calibrated (three
members at 50 are rarer together than one), so the pipeline calibrates the combination once more,
on the combined held-out scores: each training row's member scores, held out as each member
does it (leave-one-out, out-of-bag or cross-fitted), through the members' final calibrators.

An earlier version calibrated held-out member scores with calibrators fitted on the other folds
(cross-calibration) so that no row was scored by a calibrator that saw it. With a fitted tail
from the 20th largest score, a row is no longer capped by its own presence, and cross-calibration
did harm: a row beyond its fold calibrator's range was extrapolated far (a combined held-out score
of 160 on a cardio split where new rows topped out at 50), which bent the fitted tail of the
combined score and made the ensemble flag too little. Over 20 random splits of the 8 benchmark
datasets this version kept 7.0 of 8 within 0.5-2% at the 1% target on average, the other 6.8,
and it is simpler and cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..calibration import Calibrator
from .base import Detector, Step

#: Member scores are combined up to this (p = 1e-16) rather than clipped at 100.
MEMBER_CAP = 400.0
#: Batches of at least this many rows score their members side by side in threads: members
#: work in numpy and BLAS, which release the GIL, so a big batch uses more than one core
#: (10,000 rows: Isolation Forest 16 ms and kNN 14 ms, together about 18 ms on 2 AMD cores;
#: 47-49 against 61-63 ms in all on 2 Intel ones). Below it the threads gain nothing: 2,000
#: rows took 10-14 ms either way, and a stored batch, scored 2,000 rows at a time while the
#: database writes the last part on the other core, was stored 2-65 ms sooner without them
#: (docs/BENCHMARKS.md, 2026-12-03, afternoon).
PARALLEL_ROWS = 4000


class EnsembleDetector(Detector):
    """Mean (default) or max of the members' calibrated scores.

    Combined before the 0-100 clip (up to MEMBER_CAP) so that points beyond every member's
    scale still rank by how far beyond they are; explanations show the clipped member scores.
    """

    name = "ensemble"
    label = "ensemble"
    default_missing = "reject"

    def __init__(
        self, *, members: Sequence[Detector], combine: str = "mean", random_state: int = 0
    ) -> None:
        super().__init__(random_state=random_state, combine=combine)
        self.members = list(members)
        self.min_rows = max(m.min_rows for m in self.members)
        self.calibrators: list[Calibrator] = []

    def fresh(self) -> EnsembleDetector:
        return EnsembleDetector(
            members=[m.fresh() for m in self.members],
            combine=self.params["combine"],
            random_state=self.random_state,
        )

    def fit_steps(self, n_folds: int) -> int:
        return sum(m.fit_steps(n_folds) for m in self.members)

    def fit_held_out(
        self, X: np.ndarray, folds: Sequence[np.ndarray], step: Step = None
    ) -> np.ndarray:
        self.calibrators = []
        calibrated = []
        for member in self.members:
            held_out = member.fit_held_out(X, folds, step)
            calibrator = Calibrator.fit(held_out)
            self.calibrators.append(calibrator)
            # The same member calibrator that scores new rows: held-out and new rows go through
            # one function, and above the 20th largest score it is the fitted Pareto tail for
            # both (so no held-out row is capped at the empirical maximum).
            calibrated.append(calibrator.score(held_out, MEMBER_CAP))
        return self._combine(calibrated)

    def fit(self, X: np.ndarray) -> EnsembleDetector:
        from ..calibration import N_FOLDS, make_folds

        self.fit_held_out(X, make_folds(X.shape[0], N_FOLDS, self.random_state))
        return self

    def _combine(self, scores: list[np.ndarray]) -> np.ndarray:
        stacked = np.vstack(scores)
        if self.params["combine"] == "max":
            return stacked.max(axis=0)
        return stacked.mean(axis=0)

    def score_with_members(self, X: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        first, *others = self.members
        if X.shape[0] >= PARALLEL_ROWS and others:
            with ThreadPoolExecutor(len(others), thread_name_prefix="ensemble") as pool:
                scoring = [pool.submit(m.score, X) for m in others]
                raw = [first.score(X)] + [job.result() for job in scoring]
        else:
            raw = [m.score(X) for m in self.members]
        wide = [cal.score(r, MEMBER_CAP) for r, cal in zip(raw, self.calibrators, strict=True)]
        members = {m.name: np.minimum(s, 100.0) for m, s in zip(self.members, wide, strict=True)}
        return self._combine(wide), members

    def score_one_with_members(self, X: np.ndarray) -> tuple[float, dict[str, float]]:
        # The same steps as score_with_members, through the calibrators' one-value path.
        wide = [
            cal.score_one(float(m.score(X)[0]), MEMBER_CAP)
            for m, cal in zip(self.members, self.calibrators, strict=True)
        ]
        members = {m.name: min(s, 100.0) for m, s in zip(self.members, wide, strict=True)}
        combined = max(wide) if self.params["combine"] == "max" else sum(wide) / len(wide)
        return combined, members

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.score_with_members(X)[0]
