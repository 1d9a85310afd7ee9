"""Detectors: ``fit(X)``, ``score(X) -> raw`` (higher = more anomalous)."""

from .base import Detector
from .ecod import ECODDetector
from .ensemble import EnsembleDetector
from .isolation_forest import IsolationForestDetector
from .knn import KNNDetector
from .lof import LOFDetector
from .ocsvm import OneClassSVMDetector
from .statistical import IQRDetector, RobustZDetector

__all__ = [
    "Detector",
    "ECODDetector",
    "EnsembleDetector",
    "IQRDetector",
    "IsolationForestDetector",
    "KNNDetector",
    "LOFDetector",
    "OneClassSVMDetector",
    "RobustZDetector",
]
