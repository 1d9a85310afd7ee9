from django.conf import settings
from django.db import models

from detection.fields import BulkJSONField


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


# Roles that may change a project's objects; owners alone manage members and delete the project.
WRITE_ROLES = frozenset({Role.OWNER, Role.EDITOR})


class Project(models.Model):
    """A workspace. Every dataset, detector, point, alert and report belongs to one."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    # The detector that the original system's endpoints (/api/detect, /predict, ...) score with.
    default_detector = models.ForeignKey(
        "Detector", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="unique_membership"),
        ]
        ordering = ["project", "user"]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES

    @property
    def can_manage(self) -> bool:
        return self.role == Role.OWNER


def dataset_upload_path(instance: "Dataset", filename: str) -> str:
    return f"projects/{instance.project_id}/datasets/{filename}"


def artifact_upload_path(instance: "ModelVersion", filename: str) -> str:
    return f"projects/{instance.detector.project_id}/models/{filename}"


def job_upload_path(instance: "ScoringJob", filename: str) -> str:
    return f"projects/{instance.detector.project_id}/jobs/{filename}"


class JobStatus(models.TextChoices):
    """The life of any background work: a row is written first, a task moves it along."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Dataset(models.Model):
    """An uploaded table, stored as Parquet, with its inferred column schema and profile."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSON = "json", "JSON"
        PARQUET = "parquet", "Parquet"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    original_filename = models.CharField(max_length=255, blank=True)
    source_format = models.CharField(max_length=10, choices=Format.choices)
    file = models.FileField(upload_to=dataset_upload_path, max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    row_count = models.PositiveIntegerField(default=0)
    # [{"name", "kind": number|text|boolean|datetime, "missing": int}], in file order.
    columns = models.JSONField(default=list)
    label_column = models.CharField(max_length=200, blank=True)
    timestamp_column = models.CharField(max_length=200, blank=True)
    profile = models.JSONField(null=True, blank=True)
    profile_status = models.CharField(
        max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    profile_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def feature_columns(self) -> list[str]:
        """Numeric columns that are neither the label nor the timestamp."""
        skip = {self.label_column, self.timestamp_column}
        return [c["name"] for c in self.columns if c["kind"] == "number" and c["name"] not in skip]


class Detector(models.Model):
    """What to watch (features), how (algorithm and parameters) and how touchy (sensitivity)."""

    class MissingPolicy(models.TextChoices):
        REJECT = "reject", "Reject points with missing values"
        IMPUTE = "impute", "Fill missing values with the training median"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="detectors")
    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="detectors"
    )
    features = models.JSONField(default=list)
    algorithm = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    # The target share of normal points flagged: presets low 0.001, medium 0.01, high 0.05.
    false_alarm_rate = models.FloatField(default=0.01)
    missing_policy = models.CharField(
        max_length=10, choices=MissingPolicy.choices, default=MissingPolicy.REJECT
    )
    active_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """One training run of a detector and, when it succeeds, the model it produced."""

    detector = models.ForeignKey(Detector, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    # What was trained, frozen at the time: the detector may change afterwards.
    algorithm = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=list)
    artifact = models.FileField(upload_to=artifact_upload_path, max_length=500, blank=True)
    training_metrics = models.JSONField(default=dict, blank=True)
    evaluation_metrics = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["detector", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["detector", "number"], name="unique_version_number"),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="version_status_beat")]

    def __str__(self) -> str:
        return f"{self.detector} v{self.number}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Label(models.TextChoices):
    """Feedback on a point, in ThirdEye's vocabulary."""

    ANOMALY = "anomaly", "Anomaly"
    EXPECTED = "expected", "Expected"
    NOT_ANOMALY = "not_anomaly", "Not an anomaly"
    MISSED = "missed", "Missed anomaly"


def unlink_points(collector, field, sub_objs, using):
    """SET_NULL for the points of deleted model versions, found through their detectors.

    Points have no index on `model_version` (see ScoredPoint), so Django's own SET_NULL would
    read the whole table for every deleted version. A point's version is always one of its own
    detector's, so the deleted versions' detectors (the collector holds the versions) narrow
    the update to those detectors' points, through the (detector, event_time) index. When the
    detector goes too, its points are deleted before this update runs, and it finds none."""
    detectors = {version.detector_id for version in collector.data.get(ModelVersion, ())}
    if detectors:
        sub_objs = sub_objs.filter(detector_id__in=detectors)
    collector.add_field_update(field, None, sub_objs)


unlink_points.lazy_sub_objs = True  # as SET_NULL: the update is a query, not a list of points


class ScoredPoint(models.Model):
    class Source(models.TextChoices):
        API = "api", "API"
        STREAM = "stream", "Stream"
        BATCH = "batch", "Batch file"
        REPLAY = "replay", "Replay"

    # Points are stored tens of thousands a second, so every per-row cost on insert counts:
    # - No index on `detector` alone: (detector, event_time) below serves every lookup by it.
    # - No index on `model_version`: it took a quarter of PostgreSQL's CPU time to store a batch
    #   (docs/BENCHMARKS.md), and only a version's deletion looks points up by it, which
    #   unlink_points does through the detector's index instead.
    # - No database constraint on `detector` and `model_version`: PostgreSQL checks one per row
    #   at commit (70 ms for 10,000 points). points_ingest instead locks both rows once while it
    #   writes, and deleting either first waits for that lock (detection/receivers.py), so the
    #   deletions below still reach every point.
    detector = models.ForeignKey(
        Detector,
        on_delete=models.CASCADE,
        related_name="points",
        db_index=False,
        db_constraint=False,
    )
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        on_delete=unlink_points,
        related_name="points",
        db_index=False,
        db_constraint=False,
    )
    event_time = models.DateTimeField()
    received_at = models.DateTimeField()
    values = BulkJSONField()
    score = models.FloatField()
    raw_score = models.FloatField()
    is_anomaly = models.BooleanField()
    band = models.CharField(max_length=10)
    explanation = BulkJSONField()
    label = models.CharField(max_length=12, choices=Label.choices, blank=True)
    labelled_at = models.DateTimeField(null=True, blank=True)
    labelled_by = models.ForeignKey(  # almost always null: not worth an index
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    source = models.CharField(max_length=10, choices=Source.choices)

    class Meta:
        ordering = ["-event_time", "-id"]
        indexes = [
            models.Index(fields=["detector", "event_time"], name="point_detector_time"),
            models.Index(
                fields=["detector", "event_time"],
                condition=models.Q(is_anomaly=True),
                name="point_detector_anomaly_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.detector} @ {self.event_time:%Y-%m-%d %H:%M:%S}: {self.score:.0f}"


class ScoringJob(models.Model):
    """A batch file scored in the background, with a CSV of results to download."""

    detector = models.ForeignKey(Detector, on_delete=models.CASCADE, related_name="jobs")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    input_file = models.FileField(upload_to=job_upload_path, max_length=500)
    original_filename = models.CharField(max_length=255, blank=True)
    result_file = models.FileField(upload_to=job_upload_path, max_length=500, blank=True)
    persist = models.BooleanField(default=False)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    anomalies = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"job {self.pk} for {self.detector}"
