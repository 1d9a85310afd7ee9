"""The sensitivity preview: what a detector would have flagged in its stored history at another
sensitivity, before that sensitivity is saved.

Scores are calibrated, so a sensitivity (a false-alarm rate) is a threshold on the stored score:
a point would have been flagged iff score >= engine.threshold_for(rate). No model is loaded and
nothing is re-scored; the counts come from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate

from detection import engine
from detection.models import Detector, Label, ScoredPoint

PREVIEW_DAYS = 14
PREVIEW_POINTS = 10
POSITIVE = (Label.ANOMALY, Label.MISSED)
NEGATIVE = (Label.EXPECTED, Label.NOT_ANOMALY)


@dataclass
class Day:
    day: date
    total: int
    flagged: int  # at the proposed threshold
    current: int  # at the detector's saved threshold


@dataclass
class Metrics:
    """Precision, recall and F1 of the proposed threshold against people's labels."""

    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def labelled(self) -> int:
        return (
            self.true_positives + self.false_positives + self.false_negatives + self.true_negatives
        )

    @property
    def precision(self) -> float | None:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Preview:
    rate: float
    threshold: float
    current_threshold: float
    since: date | None
    total: int = 0
    flagged: int = 0
    current: int = 0
    days: list[Day] = field(default_factory=list)
    points: list[ScoredPoint] = field(default_factory=list)  # the most recent flagged ones
    metrics: Metrics | None = None

    @property
    def change(self) -> int:
        return self.flagged - self.current

    @property
    def busiest(self) -> int:
        return max([1, *(max(d.flagged, d.current) for d in self.days)])


def sensitivity_preview(
    *,
    detector: Detector,
    sensitivity: str | float,
    days: int = PREVIEW_DAYS,
    points: int = PREVIEW_POINTS,
) -> Preview:
    """Counts per day over the last `days` days of stored points (up to the newest one), the
    most recent points that would be flagged, and metrics where people labelled points.

    Raises engine.EngineError for a sensitivity out of range.
    """
    rate = engine.rate_for(sensitivity)
    threshold = engine.threshold_for(rate)
    current_threshold = engine.threshold_for(detector.false_alarm_rate)
    stored = ScoredPoint.objects.filter(detector=detector)
    newest = stored.aggregate(newest=Max("event_time"))["newest"]
    preview = Preview(rate, threshold, current_threshold, None)
    if newest is None:
        return preview
    start = newest - timedelta(days=days)
    window = stored.filter(event_time__gt=start)
    preview.since = start.date()
    is_flagged = Q(score__gte=threshold)
    per_day = (
        window.annotate(day=TruncDate("event_time"))
        .values("day")
        .annotate(
            total=Count("id"),
            flagged=Count("id", filter=is_flagged),
            current=Count("id", filter=Q(score__gte=current_threshold)),
        )
        .order_by("day")
    )
    preview.days = [Day(r["day"], r["total"], r["flagged"], r["current"]) for r in per_day]
    preview.total = sum(d.total for d in preview.days)
    preview.flagged = sum(d.flagged for d in preview.days)
    preview.current = sum(d.current for d in preview.days)
    preview.points = list(window.filter(is_flagged).order_by("-event_time", "-id")[:points])

    # Labels count wherever they are, not only in the window: they are few and precious.
    labelled = (
        stored.exclude(label="")
        .values("label")
        .annotate(flagged=Count("id", filter=is_flagged), total=Count("id"))
        .order_by()
    )
    tp = fp = fn = tn = 0
    for row in labelled:
        if row["label"] in POSITIVE:
            tp += row["flagged"]
            fn += row["total"] - row["flagged"]
        elif row["label"] in NEGATIVE:
            fp += row["flagged"]
            tn += row["total"] - row["flagged"]
    if tp + fp + fn + tn:
        preview.metrics = Metrics(tp, fp, fn, tn)
    return preview
