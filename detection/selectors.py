"""Read queries of the dashboard: what the pages and the live pushes show.

Writes live in detection.services; these only read, and shape rows for the templates (state of a
detector, counts per band, points for the chart, explanations with bar geometry).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from detection import engine
from detection.models import (
    Dataset,
    Detector,
    JobStatus,
    Membership,
    ModelVersion,
    ScoredPoint,
)

BANDS = [name for name, _ in engine.BANDS]
ALERT_BANDS = BANDS[1:]  # the bands worth a coloured count: warning and up
CHART_POINTS = 500  # the chart keeps at most this many points
RAW_FEATURES = 3  # raw values of this many top features on demand
RECENT_ANOMALIES = 20
FEED_ITEMS = 20
BUSY = (JobStatus.QUEUED, JobStatus.RUNNING)


# --- Detectors and their state ---------------------------------------------------------------


@dataclass
class DetectorState:
    """What a person wants to know at a glance: can it score, and is it training?"""

    key: str  # untrained | training | ready | failed
    label: str
    progress: int | None = None
    latest: ModelVersion | None = None

    @property
    def training(self) -> bool:
        return self.key == "training"


def detector_state(detector: Detector, latest: ModelVersion | None) -> DetectorState:
    """From the detector's newest version and its active one."""
    active = detector.active_version
    ready = active is not None and active.status == JobStatus.READY
    if latest is not None and latest.status in BUSY:
        verb = "queued" if latest.status == JobStatus.QUEUED else f"{latest.progress}%"
        return DetectorState(
            "training", f"Training v{latest.number} ({verb})", latest.progress, latest
        )
    if ready:
        return DetectorState("ready", f"Ready (v{active.number})", None, latest)
    if latest is not None and latest.status == JobStatus.FAILED:
        return DetectorState("failed", f"Training v{latest.number} failed", None, latest)
    return DetectorState("untrained", "Not trained yet", None, latest)


def latest_versions(detector_ids: list[int]) -> dict[int, ModelVersion]:
    """The newest version of each detector (one query)."""
    latest: dict[int, ModelVersion] = {}
    versions = (
        ModelVersion.objects.filter(detector_id__in=detector_ids)
        .order_by("detector_id", "-number")
        .defer("training_metrics", "evaluation_metrics", "params")
    )
    for version in versions:
        latest.setdefault(version.detector_id, version)
    return latest


@dataclass
class DetectorSummary:
    detector: Detector
    state: DetectorState
    hour: dict[str, int] = field(default_factory=dict)
    day: dict[str, int] = field(default_factory=dict)

    @property
    def hour_total(self) -> int:
        return sum(self.hour.values())

    @property
    def day_total(self) -> int:
        return sum(self.day.values())

    @property
    def hour_bands(self) -> list[tuple[str, int]]:
        return [(band, self.hour.get(band, 0)) for band in ALERT_BANDS]

    @property
    def day_bands(self) -> list[tuple[str, int]]:
        return [(band, self.day.get(band, 0)) for band in ALERT_BANDS]


def band_counts(detector_ids: list[int], *, now=None) -> dict[int, tuple[dict, dict]]:
    """Points per band in the last hour and the last day, per detector (by event time)."""
    now = now or timezone.now()
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
    out: dict[int, tuple[dict, dict]] = {pk: ({}, {}) for pk in detector_ids}
    rows = (
        ScoredPoint.objects.filter(detector_id__in=detector_ids, event_time__gte=day_ago)
        .values("detector_id", "band")
        .annotate(day=Count("id"), hour=Count("id", filter=Q(event_time__gte=hour_ago)))
        .order_by()
    )
    for row in rows:
        hour, day = out[row["detector_id"]]
        day[row["band"]] = row["day"]
        if row["hour"]:
            hour[row["band"]] = row["hour"]
    return out


def detector_summaries(detectors: list[Detector]) -> list[DetectorSummary]:
    ids = [d.pk for d in detectors]
    latest = latest_versions(ids)
    counts = band_counts(ids)
    return [
        DetectorSummary(d, detector_state(d, latest.get(d.pk)), *counts[d.pk]) for d in detectors
    ]


@dataclass
class ProjectSummary:
    membership: Membership
    detectors: list[DetectorSummary]
    datasets: int

    @property
    def project(self):
        return self.membership.project


def overview(user) -> list[ProjectSummary]:
    """The user's projects, each with its detectors' state and band counts."""
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("project")
        .annotate(dataset_count=Count("project__datasets", distinct=True))
        .order_by("project__name", "project_id")
    )
    project_ids = [m.project_id for m in memberships]
    detectors = list(
        Detector.objects.filter(project_id__in=project_ids)
        .select_related("active_version")
        .order_by("name", "id")
    )
    summaries = detector_summaries(detectors)
    by_project: dict[int, list[DetectorSummary]] = {pk: [] for pk in project_ids}
    for summary in summaries:
        by_project[summary.detector.project_id].append(summary)
    return [ProjectSummary(m, by_project[m.project_id], m.dataset_count) for m in memberships]


def anomaly_feed(user, *, limit: int = FEED_ITEMS) -> list[ScoredPoint]:
    """The newest anomalies across the user's detectors."""
    detector_ids = list(
        Detector.objects.filter(project__memberships__user=user).values_list("pk", flat=True)
    )
    return feed_items(
        ScoredPoint.objects.filter(detector_id__in=detector_ids, is_anomaly=True)
        .select_related("detector")
        .order_by("-event_time", "-id")[:limit]
    )


def feed_points(ids: list[int]) -> list[ScoredPoint]:
    """Points by id for a live push, newest first."""
    return feed_items(
        ScoredPoint.objects.filter(pk__in=ids)
        .select_related("detector")
        .order_by("-event_time", "-id")
    )


def feed_items(points) -> list[ScoredPoint]:
    points = list(points)
    for point in points:
        decorate(point)
    return points


# --- The detector page -----------------------------------------------------------------------


def versions(detector: Detector, *, limit: int = 10) -> list[ModelVersion]:
    return list(detector.versions.order_by("-number")[:limit])


def recent_anomalies(detector: Detector, *, limit: int = RECENT_ANOMALIES) -> list[ScoredPoint]:
    return feed_items(
        ScoredPoint.objects.filter(detector=detector, is_anomaly=True)
        .select_related("detector")
        .order_by("-event_time", "-id")[:limit]
    )


def top_features(detector: Detector, anomalies: list[ScoredPoint]) -> list[str]:
    """Features that lead the explanations of recent anomalies, most often first; topped up with
    the detector's own order."""
    counts = Counter()
    for point in anomalies:
        features = point.explanation.get("features") or []
        if features and features[0].get("name") in detector.features:
            counts[features[0]["name"]] += 1
    ranked = [name for name, _ in counts.most_common()]
    ranked += [name for name in detector.features if name not in ranked]
    return ranked[:RAW_FEATURES]


def chart_points(
    detector: Detector,
    *,
    after: int | None = None,
    limit: int = CHART_POINTS,
    features: list[str] | None = None,
) -> list[dict]:
    """The newest points for the chart, oldest first: {id, t (ms), s, b, a[, v]}."""
    points = ScoredPoint.objects.filter(detector=detector)
    if after is not None:
        points = points.filter(pk__gt=after)
    fields = ["pk", "event_time", "score", "band", "is_anomaly"]
    if features:
        fields.append("values")
    rows = list(points.order_by("-event_time", "-id").values_list(*fields)[:limit])
    rows.reverse()
    out = []
    for row in rows:
        item = {
            "id": row[0],
            "t": int(row[1].timestamp() * 1000),
            "s": round(row[2], 2),
            "b": row[3],
            "a": row[4],
        }
        if features:
            item["v"] = [row[5].get(name) for name in features]
        out.append(item)
    return out


def point_values(ids: list[int], features: list[str]) -> dict[int, list]:
    """Raw values of the given features, by point id (for a live push with raw values on)."""
    rows = ScoredPoint.objects.filter(pk__in=ids).values_list("pk", "values")
    return {pk: [values.get(name) for name in features] for pk, values in rows}


# --- Explanations, shaped for the templates --------------------------------------------------


def decorate(point: ScoredPoint) -> ScoredPoint:
    """Attach `reason` (the sentence) and `contributions` (features with bar geometry)."""
    explanation = point.explanation or {}
    point.reason = explanation.get("text", "")
    point.contributions = [contribution_bar(f) for f in explanation.get("features") or []]
    point.members = sorted((explanation.get("members") or {}).items())
    return point


def contribution_bar(feature: dict) -> dict:
    """A feature's signed share as a bar from the middle of a 100-wide box: right is above
    the usual value, left below."""
    share = max(-1.0, min(1.0, float(feature.get("contribution") or 0.0)))
    width = round(abs(share) * 50, 1)
    return {
        **feature,
        "share": share,
        "percent": round(abs(share) * 100),
        "direction": "up" if share >= 0 else "down",
        "x": 50 if share >= 0 else round(50 - width, 1),
        "width": width,
    }


# --- Datasets --------------------------------------------------------------------------------


def dataset_summaries(project_id: int) -> list[Dataset]:
    return list(Dataset.objects.filter(project_id=project_id).defer("profile"))


def correlation_cells(profile: dict) -> list[tuple[str, list[dict]]]:
    """The correlation matrix as rows of cells with a colour class by sign and strength."""
    correlations = (profile or {}).get("correlations") or {}
    names = correlations.get("columns") or []
    matrix = correlations.get("matrix") or []
    rows = []
    for name, values in zip(names, matrix, strict=False):
        cells = []
        for other, value in zip(names, values, strict=False):
            if value is None:
                css = "corr-na"
            else:
                step = min(5, int(abs(value) * 5 + 0.5))
                css = f"corr-{'p' if value >= 0 else 'n'}{step}"
            cells.append({"column": other, "value": value, "css": css})
        rows.append((name, cells))
    return rows


def feature_table(profile: dict) -> list[dict]:
    """One row per feature: the summary numbers of the profile."""
    rows = []
    for name, stats in ((profile or {}).get("features") or {}).items():
        quantiles = stats.get("quantiles") or {}
        rows.append({"name": name, **stats, "median": quantiles.get("p50")})
    return rows


def versions_context(detector: Detector, can_write: bool) -> dict:
    """What the versions partial needs (the page, its polling and the push alike)."""
    shown = versions(detector)
    state = detector_state(detector, shown[0] if shown else None)
    return {"detector": detector, "versions": shown, "state": state, "can_write": can_write}
