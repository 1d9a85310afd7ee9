from django.urls import path

from detection import views

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path("account/token/", views.api_token, name="api-token"),
]
