"""Algorithm names -> detector classes, their parameters and how to check them.

The web side renders forms from `ALGORITHMS` and calls `validate_params` before saving a
detector, so every error names the parameter and what would have been accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .detectors import (
    Detector,
    ECODDetector,
    EnsembleDetector,
    IQRDetector,
    IsolationForestDetector,
    KNNDetector,
    LOFDetector,
    OneClassSVMDetector,
    RobustZDetector,
)
from .errors import ConfigError


@dataclass(frozen=True)
class Param:
    """One parameter: its kind ("int", "float", "str", "members", "dict"), default, limits.

    A number may also accept named choices (``gamma="scale"``); a "str" accepts only choices.
    """

    kind: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    exclusive_minimum: bool = False
    help: str = ""

    def describe(self) -> str:
        """What is accepted, for error messages: "an int in [10, 1000]"."""
        options = []
        if self.kind in ("int", "float"):
            article = "an" if self.kind == "int" else "a"
            opening = "(" if self.exclusive_minimum else "["
            options.append(f"{article} {self.kind} in {opening}{self.minimum}, {self.maximum}]")
        if self.choices:
            options.append("one of " + ", ".join(repr(c) for c in self.choices))
        return " or ".join(options)


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    label: str
    detector: type[Detector]
    params: dict[str, Param]
    description: str


_AGGREGATE = Param("str", "max", choices=("max", "mean"), help="combine features by max or mean")

ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in [
        AlgorithmSpec(
            "isolation_forest",
            "Isolation Forest",
            IsolationForestDetector,
            {
                "n_estimators": Param("int", 100, 10, 1000, help="number of trees"),
                "max_samples": Param("int", 256, 2, 100_000, help="rows drawn per tree"),
                "max_features": Param(
                    "float",
                    1.0,
                    0.0,
                    1.0,
                    exclusive_minimum=True,
                    help="share of features drawn per tree",
                ),
            },
            "Random trees isolate points; rare points are isolated in few splits.",
        ),
        AlgorithmSpec(
            "ocsvm",
            "One-Class SVM",
            OneClassSVMDetector,
            {
                "nu": Param(
                    "float",
                    0.5,
                    0.0,
                    1.0,
                    exclusive_minimum=True,
                    help="bound on the share of support vectors",
                ),
                "gamma": Param(
                    "float",
                    "scale",
                    0.0,
                    1e6,
                    choices=("scale", "auto"),
                    exclusive_minimum=True,
                    help="RBF kernel width",
                ),
                "max_train_rows": Param(
                    "int", 2000, 100, 100_000, help="random rows used to fit (the fit is quadratic)"
                ),
            },
            "A smooth boundary (RBF kernel) around the normal data.",
        ),
        AlgorithmSpec(
            "robust_z",
            "robust z-score",
            RobustZDetector,
            {"aggregate": _AGGREGATE},
            "How many robust standard deviations (median/MAD) each value is from its median.",
        ),
        AlgorithmSpec(
            "iqr",
            "IQR",
            IQRDetector,
            {"aggregate": _AGGREGATE},
            "How far each value lies outside its interquartile box.",
        ),
        AlgorithmSpec(
            "lof",
            "Local Outlier Factor",
            LOFDetector,
            {"n_neighbors": Param("int", 20, 2, 500, help="neighbours compared")},
            "Density compared with the nearest neighbours' density.",
        ),
        AlgorithmSpec(
            "knn",
            "k-nearest neighbours",
            KNNDetector,
            {
                "n_neighbors": Param(
                    "int",
                    "auto",
                    1,
                    500,
                    choices=("auto",),
                    help="k; auto = 2.5% of the reference rows, 5 to 50",
                ),
                "reference_rows": Param(
                    "int", 1000, 10, 100_000, help="random training rows kept to measure distances"
                ),
            },
            "Distance to the k-th nearest of a sample of training rows.",
        ),
        AlgorithmSpec(
            "ecod",
            "ECOD",
            ECODDetector,
            {},
            "Empirical tail probability of each value, summed over features.",
        ),
        AlgorithmSpec(
            "ensemble",
            "Ensemble",
            EnsembleDetector,
            {
                "members": Param(
                    "members",
                    ["isolation_forest", "ecod", "knn"],
                    help="algorithms combined",
                ),
                "member_params": Param("dict", {}, help="parameters per member algorithm"),
                "combine": Param(
                    "str",
                    "mean",
                    choices=("mean", "max"),
                    help="combine calibrated member scores by mean or max",
                ),
            },
            "Several detectors' calibrated scores combined.",
        ),
    ]
}

#: The default detector is the ensemble with its default members: Isolation Forest + ECOD + kNN,
#: calibrated member scores averaged ("IEK"). From the accuracy study
#: (/work/scratch/research/REPORT.md): mean ROC-AUC 0.913 over the 8 benchmark datasets, above
#: every single-detector peer (Isolation Forest 0.902, ECOD 0.888, OCSVM 0.873), with a smaller
#: seed-to-seed spread; the three members see different things (axis-parallel isolation,
#: per-feature tails, distance to the data).
DEFAULT_ALGORITHM = "ensemble"

#: Member parameters an ensemble uses unless told otherwise, chosen for batch speed at equal
#: accuracy (bench/engine.py, bench/accuracy.py). The study used 200 trees and a 1000-row kNN
#: reference; scoring cost is linear in both, and together they were 80% of the scoring time.
#: Mean ROC-AUC over the 8 datasets, 10 seeds each (fit on all rows): 200 trees + 1000 rows
#: 0.9131, 100 + 1000 0.9129, 100 + 500 0.9131, 64 + 500 0.9133 (per-seed means 0.9119-0.9155,
#: per-dataset seed spread as with 100 trees). The mean of three members leaves the forest's
#: own seed noise diluted, so the extra trees bought nothing measurable; 64 trees + 500 rows
#: score 10,000 rows about 1.7x faster than 100 + 1000. k stays 2.5% of the reference (12).
ENSEMBLE_MEMBER_DEFAULTS: dict[str, dict] = {
    "isolation_forest": {"n_estimators": 64},
    "knn": {"reference_rows": 500},
}


def _check_value(algorithm: str, key: str, spec: Param, value: Any) -> Any:
    where = f"parameter {key!r} of {algorithm}"
    if spec.choices and isinstance(value, str):
        if value in spec.choices:
            return value
        raise ConfigError(f"{where} must be {spec.describe()}, got {value!r}", param=key)
    if spec.kind in ("int", "float"):
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if spec.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not is_number or (spec.kind == "int" and not isinstance(value, int)):
            raise ConfigError(f"{where} must be {spec.describe()}, got {value!r}", param=key)
        low_ok = (
            spec.minimum is None
            or value > spec.minimum
            or (value == spec.minimum and not spec.exclusive_minimum)
        )
        high_ok = spec.maximum is None or value <= spec.maximum
        if not (low_ok and high_ok) or value != value:
            raise ConfigError(f"{where} must be {spec.describe()}, got {value!r}", param=key)
        return int(value) if spec.kind == "int" else float(value)
    if spec.kind == "str":
        raise ConfigError(f"{where} must be {spec.describe()}, got {value!r}", param=key)
    return value


def _check_members(members: Any) -> list[str]:
    if (
        not isinstance(members, (list, tuple))
        or len(members) < 2
        or not all(isinstance(m, str) for m in members)
    ):
        raise ConfigError(
            "parameter 'members' of ensemble must be a list of at least 2 algorithm names, "
            f"got {members!r}",
            param="members",
        )
    for m in members:
        if m not in ALGORITHMS or m == "ensemble":
            choices = ", ".join(n for n in ALGORITHMS if n != "ensemble")
            raise ConfigError(
                f"unknown ensemble member {m!r}: choose from {choices}", param="members"
            )
    if len(set(members)) != len(members):
        raise ConfigError(f"ensemble members must be distinct, got {members!r}", param="members")
    return list(members)


def validate_params(algorithm: str, params: dict | None = None) -> dict:
    """Check `params` for `algorithm` and return them complete with defaults.

    Raises ConfigError naming the bad parameter ("algorithm" for an unknown name) and what
    is allowed.
    """
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"unknown algorithm {algorithm!r}: choose from {', '.join(ALGORITHMS)}",
            param="algorithm",
        )
    spec = ALGORITHMS[algorithm]
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        allowed = ", ".join(spec.params) or "none"
        raise ConfigError(
            f"unknown parameter {unknown[0]!r} for {algorithm} (allowed: {allowed})",
            param=unknown[0],
        )
    clean: dict[str, Any] = {}
    for key, pspec in spec.params.items():
        if key not in params:
            default = pspec.default
            clean[key] = (
                list(default)
                if isinstance(default, list)
                else (dict(default) if isinstance(default, dict) else default)
            )
            continue
        value = params[key]
        if pspec.kind == "members":
            clean[key] = _check_members(value)
        elif pspec.kind == "dict":
            if not isinstance(value, dict):
                raise ConfigError(
                    f"parameter {key!r} of {algorithm} must be a mapping of member name to "
                    f"its parameters, got {value!r}",
                    param=key,
                )
            clean[key] = value
        else:
            clean[key] = _check_value(algorithm, key, pspec, value)
    if algorithm == "ensemble":
        member_params = clean["member_params"]
        stray = sorted(set(member_params) - set(clean["members"]))
        if stray:
            raise ConfigError(
                f"member_params names {stray[0]!r}, which is not an ensemble member",
                param="member_params",
            )
        checked = {}
        for member in clean["members"]:
            try:
                given = {
                    **ENSEMBLE_MEMBER_DEFAULTS.get(member, {}),
                    **member_params.get(member, {}),
                }
                checked[member] = validate_params(member, given)
            except ConfigError as exc:
                raise ConfigError(
                    f"ensemble member {member}: {exc}", param=f"{member}.{exc.param}"
                ) from exc
        clean["member_params"] = checked
    return clean


def label_of(algorithm: str) -> str:
    return ALGORITHMS[algorithm].label


def make_detector(algorithm: str, params: dict | None, random_state: int = 0) -> Detector:
    """A fresh detector from a name and (validated) parameters."""
    clean = validate_params(algorithm, params)
    if algorithm == "ensemble":
        members = [
            make_detector(m, clean["member_params"][m], random_state) for m in clean["members"]
        ]
        return EnsembleDetector(
            members=members, combine=clean["combine"], random_state=random_state
        )
    return ALGORITHMS[algorithm].detector(random_state=random_state, **clean)


def default_missing(detector: Detector) -> str:
    """The detector's own missing-value policy; an ensemble rejects if any member does."""
    if isinstance(detector, EnsembleDetector):
        policies = {default_missing(m) for m in detector.members}
        return "reject" if "reject" in policies else "impute"
    return detector.default_missing
