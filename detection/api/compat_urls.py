"""The original system's endpoints, at the root as its clients call them (legacy)."""

from django.urls import path

from detection.api import compat

urlpatterns = [
    path("api/status", compat.StatusView.as_view(), name="legacy-status"),
    path("api/detect", compat.DetectView.as_view(), name="legacy-detect"),
    path("predict", compat.PredictView.as_view(), name="legacy-predict"),
    path("api/models", compat.ModelsView.as_view(), name="legacy-models"),
    path("api/train", compat.TrainView.as_view(), name="legacy-train"),
    path("api/results", compat.ResultsView.as_view(), name="legacy-results"),
    path("api/batch-detect", compat.BatchDetectView.as_view(), name="legacy-batch-detect"),
]
