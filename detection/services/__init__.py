"""Write operations of the detection app, one module per entity; import them from here."""

from detection.services.datasets import (
    DatasetError,
    dataset_create,
    dataset_delete,
    dataset_labels,
    dataset_matrix,
    dataset_profile_compute,
    dataset_profile_request,
    dataset_table,
    dataset_timestamps,
)
from detection.services.jobs import scoring_job_create, scoring_job_run, scoring_jobs_sweep
from detection.services.projects import (
    api_token_create,
    api_token_revoke,
    project_create,
    project_update,
)
from detection.services.scoring import (
    ModelOutdated,
    NoReadyModel,
    pipeline_for,
    point_ingest,
    point_label,
    point_score,
    points_ingest,
    points_score,
    scored_results,
)
from detection.services.training import (
    detector_create,
    detector_train,
    detector_update,
    model_version_activate,
    model_version_run,
    model_versions_sweep,
)

__all__ = [
    "api_token_create",
    "api_token_revoke",
    "DatasetError",
    "ModelOutdated",
    "NoReadyModel",
    "dataset_create",
    "dataset_delete",
    "dataset_labels",
    "dataset_matrix",
    "dataset_profile_compute",
    "dataset_profile_request",
    "dataset_table",
    "dataset_timestamps",
    "detector_create",
    "detector_train",
    "detector_update",
    "model_version_activate",
    "model_version_run",
    "model_versions_sweep",
    "pipeline_for",
    "point_ingest",
    "point_label",
    "point_score",
    "points_ingest",
    "points_score",
    "project_create",
    "scoring_job_create",
    "scoring_job_run",
    "scoring_jobs_sweep",
    "project_update",
    "scored_results",
]
