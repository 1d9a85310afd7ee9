"""Saving and loading pipelines with skops (never pickle).

A saved file is skops' zip archive plus one extra member, ``engine_header.json``, holding the
format version and the library versions that wrote it. The header is read first, without
deserialising anything, so a file from another format version fails with a clear message
before skops is asked to trust any type. Then every type in the file must be on our own list
(our classes and the few scikit-learn internals our detectors hold); anything else is refused.
"""

from __future__ import annotations

import io
import json
import platform
import zipfile
from pathlib import Path
from typing import BinaryIO

from .errors import ModelFormatError

#: 2: the Isolation Forest is stored level by level (FastForest.features/thresholds) and kNN
#: keeps which training rows form its reference; version 1 files must be retrained.
FORMAT_VERSION = 2
HEADER_NAME = "engine_header.json"

_OWN = "detection.engine."
TRUSTED_TYPES = frozenset(
    {
        _OWN + "pipeline.Pipeline",
        _OWN + "preprocessing.Preprocessor",
        _OWN + "explain.Explainer",
        _OWN + "calibration.Calibrator",
        _OWN + "fast_forest.FastForest",
        _OWN + "detectors.isolation_forest.IsolationForestDetector",
        _OWN + "detectors.ocsvm.OneClassSVMDetector",
        _OWN + "detectors.lof.LOFDetector",
        _OWN + "detectors.statistical.RobustZDetector",
        _OWN + "detectors.statistical.IQRDetector",
        _OWN + "detectors.ecod.ECODDetector",
        _OWN + "detectors.knn.KNNDetector",
        _OWN + "detectors.ensemble.EnsembleDetector",
        # scikit-learn internals held by fitted OneClassSVM / LocalOutlierFactor estimators
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance32",
    }
)


def library_versions() -> dict[str, str]:
    import numpy
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
    }


def dumps_pipeline(pipeline) -> bytes:
    """The pipeline as the bytes of a model file."""
    import skops.io as sio

    if not getattr(pipeline, "is_fitted", False):
        raise ModelFormatError("only a trained pipeline can be saved: call fit() first")
    buffer = io.BytesIO(sio.dumps(pipeline))
    header = {"format_version": FORMAT_VERSION, "versions": library_versions()}
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(HEADER_NAME, json.dumps(header))
    return buffer.getvalue()


def save_pipeline(pipeline, path_or_fileobj: str | Path | BinaryIO) -> None:
    """Write a fitted pipeline to a path or a binary file object."""
    data = dumps_pipeline(pipeline)
    if hasattr(path_or_fileobj, "write"):
        path_or_fileobj.write(data)
    else:
        Path(path_or_fileobj).write_bytes(data)


def read_header(data: bytes) -> dict:
    """The header of a model file; ModelFormatError if it is not one of ours."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if HEADER_NAME not in archive.namelist():
                raise ModelFormatError(
                    "not an engine model file: it has no engine header (was it written by "
                    "save_pipeline?)"
                )
            header = json.loads(archive.read(HEADER_NAME))
    except zipfile.BadZipFile as exc:
        raise ModelFormatError(f"not an engine model file: not a skops archive ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"model file header is unreadable ({exc})") from exc
    if not isinstance(header, dict):
        raise ModelFormatError("model file header is unreadable (not an object)")
    return header


def loads_pipeline(data: bytes):
    """A pipeline from the bytes of a model file."""
    import skops.io as sio

    from .pipeline import Pipeline

    header = read_header(data)
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        written = header.get("versions", {})
        raise ModelFormatError(
            f"model file has format version {version}, this engine reads version "
            f"{FORMAT_VERSION} (written with {written or 'unknown libraries'}); retrain the "
            "detector to get a model this version can load"
        )
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted errors on damaged archives
        raise ModelFormatError(f"model file is damaged ({exc})") from exc
    unknown = sorted(set(untrusted) - TRUSTED_TYPES)
    if unknown:
        raise ModelFormatError(
            f"model file contains unknown type(s) {', '.join(unknown)}; refusing to load it"
        )
    try:
        pipeline = sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise ModelFormatError(f"model file could not be loaded ({exc})") from exc
    if not isinstance(pipeline, Pipeline):
        raise ModelFormatError(
            f"model file holds a {type(pipeline).__name__}, not an engine pipeline"
        )
    return pipeline


def load_pipeline(path_or_bytes: str | Path | bytes | BinaryIO):
    """Load a pipeline from a path, the file's bytes or a binary file object."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    elif hasattr(path_or_bytes, "read"):
        data = path_or_bytes.read()
    else:
        data = Path(path_or_bytes).read_bytes()
    return loads_pipeline(data)
