from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from detection import views

urlpatterns = [
    # Pages without their own icon link (the browsable API's) make browsers ask for this.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    # The overview (the user's projects, detectors and live anomalies) is the home page.
    path("", views.project_list, name="project-list"),
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path(
        "projects/<int:project_id>/detectors/new/",
        views.detector_create,
        name="detector-create",
    ),
    path("projects/<int:project_id>/datasets/new/", views.dataset_upload, name="dataset-upload"),
    path("datasets/<int:dataset_id>/", views.dataset_detail, name="dataset-detail"),
    path("detectors/<int:detector_id>/", views.detector_detail, name="detector-detail"),
    path("detectors/<int:detector_id>/points/", views.detector_points, name="detector-points"),
    path("detectors/<int:detector_id>/train/", views.detector_train, name="detector-train"),
    path(
        "detectors/<int:detector_id>/versions/<int:number>/activate/",
        views.version_activate,
        name="version-activate",
    ),
    path(
        "detectors/<int:detector_id>/sensitivity/",
        views.detector_sensitivity,
        name="detector-sensitivity",
    ),
    path("points/<int:point_id>/label/", views.point_label, name="point-label"),
    path("account/token/", views.api_token, name="api-token"),
]
