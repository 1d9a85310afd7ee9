"""The detection engine: numpy and scikit-learn only, never Django or our apps.

Typical use::

    pipeline = build_pipeline("isolation_forest", feature_names=["cpu", "mem"])
    pipeline.fit(X_train)
    batch = pipeline.score(X)        # batch.score (0-100), batch.band, batch.explanations()
    pipeline.score_one([2.1, 0.4])   # one row as a dict, in microseconds
    save_pipeline(pipeline, path); load_pipeline(path)
"""

from .calibration import (
    BANDS,
    SENSITIVITY_PRESETS,
    band_for,
    bands_for,
    rate_for,
    threshold_for,
)
from .errors import ConfigError, EngineError, InputError, ModelFormatError
from .evaluation import evaluate_folder, format_evaluation
from .persistence import FORMAT_VERSION, load_pipeline, save_pipeline
from .pipeline import MIN_TRAIN_ROWS, Pipeline, ScoreBatch, build_pipeline
from .registry import ALGORITHMS, DEFAULT_ALGORITHM, validate_params

__all__ = [
    "ALGORITHMS",
    "BANDS",
    "DEFAULT_ALGORITHM",
    "FORMAT_VERSION",
    "MIN_TRAIN_ROWS",
    "SENSITIVITY_PRESETS",
    "ConfigError",
    "EngineError",
    "InputError",
    "ModelFormatError",
    "Pipeline",
    "ScoreBatch",
    "band_for",
    "bands_for",
    "build_pipeline",
    "evaluate_folder",
    "format_evaluation",
    "load_pipeline",
    "rate_for",
    "save_pipeline",
    "threshold_for",
    "validate_params",
]
