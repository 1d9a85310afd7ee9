"""An ensemble of any detectors, combining calibrated member scores.

Members live on different raw scales (path lengths, tail log-probabilities, z-scores), so each
member gets its own calibrator from its own held-out scores, and the ensemble combines those
0-100 scores (like with like). The pipeline then calibrates the combination once more, so the
ensemble's score keeps the shared meaning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..calibration import Calibrator
from .base import Detector, Step

#: Member scores are combined up to this (p = 1e-16) rather than clipped at 100.
MEMBER_CAP = 400.0


def _cross_calibrate(held_out: np.ndarray, folds: Sequence[np.ndarray]) -> np.ndarray:
    """Calibrated member scores of the held-out rows, each from a calibrator that did not see it.

    Calibrating a row with a calibrator fitted on itself caps its score at the empirical
    maximum, while new rows can reach the fitted tail; the combined score of new rows would then
    be rarer in the data than in the held-out set, and the ensemble would flag too often.
    """
    out = np.empty_like(held_out)
    for test_idx in folds:
        rest = np.ones(held_out.shape[0], dtype=bool)
        rest[test_idx] = False
        out[test_idx] = Calibrator.fit(held_out[rest]).score(held_out[test_idx], MEMBER_CAP)
    return out


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
            self.calibrators.append(Calibrator.fit(held_out))
            calibrated.append(_cross_calibrate(held_out, folds))
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
        wide = [
            cal.score(m.score(X), MEMBER_CAP)
            for m, cal in zip(self.members, self.calibrators, strict=True)
        ]
        members = {m.name: np.minimum(s, 100.0) for m, s in zip(self.members, wide, strict=True)}
        return self._combine(wide), members

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.score_with_members(X)[0]
