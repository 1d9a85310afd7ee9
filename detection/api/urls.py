from django.urls import path

from detection.api import views

urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="api-project-list"),
    path(
        "projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="api-project-detail"
    ),
]
