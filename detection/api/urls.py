from django.urls import path

from detection.api import projects

urlpatterns = [
    path("projects/", projects.ProjectListView.as_view(), name="api-project-list"),
    path(
        "projects/<int:project_id>/", projects.ProjectDetailView.as_view(), name="api-project-detail"
    ),
]
