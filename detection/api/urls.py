from django.urls import path

from detection.api import datasets, detectors, jobs, projects, scoring

# The per-point endpoints come first: Django tries the patterns in order, and each one passed
# costs a regular-expression match (in 13th place, ~10% of what a one-point request's own work
# costs).
urlpatterns = [
    path("detectors/<int:detector_id>/score/", scoring.ScoreView.as_view(), name="api-score"),
    path("detectors/<int:detector_id>/stream/", scoring.StreamView.as_view(), name="api-stream"),
    path("projects/", projects.ProjectListView.as_view(), name="api-project-list"),
    path(
        "projects/<int:project_id>/",
        projects.ProjectDetailView.as_view(),
        name="api-project-detail",
    ),
    path(
        "projects/<int:project_id>/datasets/",
        datasets.DatasetListView.as_view(),
        name="api-dataset-list",
    ),
    path(
        "datasets/<int:dataset_id>/",
        datasets.DatasetDetailView.as_view(),
        name="api-dataset-detail",
    ),
    path(
        "datasets/<int:dataset_id>/profile/",
        datasets.DatasetProfileView.as_view(),
        name="api-dataset-profile",
    ),
    path("algorithms/", detectors.AlgorithmListView.as_view(), name="api-algorithms"),
    path(
        "projects/<int:project_id>/detectors/",
        detectors.DetectorListView.as_view(),
        name="api-detector-list",
    ),
    path(
        "detectors/<int:detector_id>/",
        detectors.DetectorDetailView.as_view(),
        name="api-detector-detail",
    ),
    path(
        "detectors/<int:detector_id>/train/",
        detectors.DetectorTrainView.as_view(),
        name="api-detector-train",
    ),
    path(
        "detectors/<int:detector_id>/versions/",
        detectors.ModelVersionListView.as_view(),
        name="api-version-list",
    ),
    path(
        "detectors/<int:detector_id>/versions/<int:number>/",
        detectors.ModelVersionDetailView.as_view(),
        name="api-version-detail",
    ),
    path(
        "detectors/<int:detector_id>/versions/<int:number>/activate/",
        detectors.ModelVersionActivateView.as_view(),
        name="api-version-activate",
    ),
    path("detectors/<int:detector_id>/points/", scoring.PointListView.as_view(), name="api-points"),
    path("points/<int:point_id>/label/", scoring.PointLabelView.as_view(), name="api-point-label"),
    path("detectors/<int:detector_id>/jobs/", jobs.JobListView.as_view(), name="api-job-list"),
    path("jobs/<int:job_id>/", jobs.JobDetailView.as_view(), name="api-job-detail"),
    path("jobs/<int:job_id>/result/", jobs.JobResultView.as_view(), name="api-job-result"),
]
