"""The original system's endpoints, kept for its clients (legacy; docs/API.md says how they map).

Thin: the mapping lives in detection.services.compat. Authentication is the v1 API's (session or
`Authorization: Token <key>`). Every error carries the original's `{"status": "error",
"message"}` next to our `{"error": {"code", "message", "fields"}}`.
"""

from dataclasses import asdict

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from detection.services import compat
from detection.uploads import human_size, limit_upload, raise_if_too_large

# --- Serializers (documentation of the bodies, and the exact output field sets) ----------------


class LegacyErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class LegacyErrorSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='Always "error".')
    message = serializers.CharField(help_text="What went wrong, naming the field at fault.")
    error = LegacyErrorDetailSerializer()


ERRORS = {
    400: OpenApiResponse(LegacyErrorSerializer, description="Invalid input; `fields` says where."),
    403: OpenApiResponse(LegacyErrorSerializer, description="Not signed in, or a viewer writing."),
    404: OpenApiResponse(LegacyErrorSerializer, description="No such project, or no default "
                                                            "detector to score with."),
}
NOT_TRAINED = {
    409: OpenApiResponse(LegacyErrorSerializer, description="The default detector has no ready "
                                                            "model: train it first."),
}
PROJECT_HELP = (
    "A project id. Without it: your first project (lowest id) that has a default detector."
)
PROJECT_PARAMETER = OpenApiParameter("project", int, required=False, description=PROJECT_HELP)
ALERT_LEVEL_HELP = "normal, low, medium, high or critical (our bands none .. critical)."


class LegacyDetectRequestSerializer(serializers.Serializer):
    features = serializers.ListField(
        child=serializers.FloatField(),
        help_text="Exactly the detector's number of values, in its feature order (an object "
        "keyed by feature name is accepted too).",
    )
    algorithm = serializers.CharField(
        required=False,
        help_text="Score with a ready detector of this algorithm and width when the project "
        "has one; else the default detector scores (the answer names which).",
    )
    project = serializers.IntegerField(required=False, help_text=PROJECT_HELP)


class LegacyDetectResponseSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success".')
    timestamp = serializers.CharField(help_text="ISO 8601, UTC.")
    algorithm = serializers.CharField(help_text="The algorithm of the model that scored.")
    is_anomaly = serializers.BooleanField()
    anomaly_detected = serializers.BooleanField(help_text="The same as is_anomaly.")
    confidence = serializers.FloatField(
        help_text="1 - 10^(-anomaly_score/25): how surely a normal point would not score this "
        "high (0..1)."
    )
    anomaly_score = serializers.FloatField(help_text="The calibrated score, 0-100.")
    alert_level = serializers.CharField(help_text=ALERT_LEVEL_HELP)
    description = serializers.CharField(help_text="The explanation in one sentence.")


class LegacyPredictResponseSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success".')
    prediction = serializers.IntegerField(help_text="-1 for an anomaly, 1 for a normal point.")
    is_anomaly = serializers.BooleanField()
    confidence = serializers.FloatField(help_text="As in /api/detect.")
    timestamp = serializers.CharField(help_text="ISO 8601, UTC.")
    feature_count = serializers.IntegerField()


class LegacyTrainRequestSerializer(serializers.Serializer):
    algorithm = serializers.CharField(
        required=False,
        default=compat.DEFAULT_TRAIN_ALGORITHM,
        help_text="One of ours (see /api/models) or the original's one_class_svm, statistical.",
    )
    data = serializers.ListField(
        child=serializers.JSONField(),
        help_text="Rows: arrays of numbers (columns f0, f1, ...) or objects (their numeric "
        f"keys become the features); {compat.TRAIN_MAX_ROWS} rows at most. `training_data` is "
        "accepted for it too.",
    )
    project = serializers.IntegerField(required=False, help_text=PROJECT_HELP)


class LegacyTrainedModelSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The detector's id (also in /api/v1/).")
    name = serializers.CharField()
    project = serializers.IntegerField()
    algorithm = serializers.CharField()
    version = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())
    training_rows = serializers.IntegerField()


class LegacyTrainResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    message = serializers.CharField()
    training_samples = serializers.IntegerField()
    training_time = serializers.FloatField(help_text="Seconds.")
    timestamp = serializers.CharField()
    model = LegacyTrainedModelSerializer()


class LegacyModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    algorithm = serializers.CharField()
    features = serializers.ListField(child=serializers.CharField())
    feature_count = serializers.IntegerField()
    state = serializers.CharField(help_text="ready, training or untrained.")
    version = serializers.IntegerField(allow_null=True, help_text="The active version.")
    trained_at = serializers.CharField(allow_null=True)
    is_default = serializers.BooleanField()


class LegacyAlgorithmSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()


class LegacyModelsResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    project = serializers.IntegerField(allow_null=True)
    default_model = serializers.IntegerField(allow_null=True)
    models = LegacyModelSerializer(many=True)
    available_algorithms = LegacyAlgorithmSerializer(many=True)


class LegacyDefaultDetectorSerializer(LegacyModelSerializer):
    is_default = None
    project = serializers.IntegerField()


class LegacyStatusResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    service = serializers.CharField()
    version = serializers.CharField()
    timestamp = serializers.CharField()
    database = serializers.CharField()
    models_loaded = serializers.IntegerField(help_text="Detectors with a ready model.")
    model_loaded = serializers.BooleanField(help_text="The default detector is ready.")
    default_detector = LegacyDefaultDetectorSerializer(allow_null=True)


class LegacyResultsQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=compat.RESULTS_MAX, default=100)
    project = serializers.IntegerField(required=False, min_value=1, help_text=PROJECT_HELP)


class LegacyResultSerializer(serializers.Serializer):
    timestamp = serializers.CharField()
    is_anomaly = serializers.BooleanField()
    anomaly_score = serializers.FloatField()
    confidence = serializers.FloatField()
    alert_level = serializers.CharField(help_text=ALERT_LEVEL_HELP)
    description = serializers.CharField()
    features = serializers.ListField(child=serializers.FloatField(allow_null=True))


class LegacyResultsResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    total = serializers.IntegerField()
    results = LegacyResultSerializer(many=True)


class LegacyBatchRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with a header naming the detector's features (an optional timestamp "
        "column gives event times), or without a header and exactly the detector's width."
    )
    project = serializers.IntegerField(required=False, help_text=PROJECT_HELP)


class LegacyBatchRowSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The data row, from 1.")
    is_anomaly = serializers.BooleanField()
    anomaly_score = serializers.FloatField()
    confidence = serializers.FloatField()
    alert_level = serializers.CharField(help_text=ALERT_LEVEL_HELP)
    description = serializers.CharField()


class LegacyBatchResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    total = serializers.IntegerField()
    anomalies = serializers.IntegerField()
    total_processed = serializers.IntegerField(help_text="The same as total (the original's).")
    anomalies_found = serializers.IntegerField(help_text="The same as anomalies.")
    results = LegacyBatchRowSerializer(many=True)


# --- Views -------------------------------------------------------------------------------------


def legacy_schema(summary: str, **kwargs):
    return extend_schema(tags=["legacy"], deprecated=True, summary=summary, **kwargs)


class LegacyView(APIView):
    """Errors in both shapes: the original's status/message and our error object."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        error = response.data.get("error") if isinstance(response.data, dict) else None
        if isinstance(error, dict):
            message = error.get("message", "")
            response.data = {"status": "error", "message": message, **response.data}
        return response


def _json_body(request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError({"body": ["expected a JSON object, e.g. {\"features\": [1.2, 3.4]}"]})
    return data


def _check_body_size(request) -> None:
    """A JSON body larger than an upload may be is refused before it is parsed."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.DATASET_MAX_UPLOAD_BYTES:
        raise compat.TooLarge(
            f"The body is {human_size(length)}; the limit is "
            f"{human_size(settings.DATASET_MAX_UPLOAD_BYTES)} (DATASET_MAX_UPLOAD_MB)."
        )


def _project(request, data=None) -> int | None:
    value = (data or {}).get("project")
    if value is None:
        value = request.query_params.get("project")
    return compat.project_param(value)


class StatusView(LegacyView):
    """Whether the service answers, and the default detector legacy calls would use."""

    @legacy_schema(
        "Service status (the original's /api/status)",
        parameters=[PROJECT_PARAMETER],
        responses={200: LegacyStatusResponseSerializer, **ERRORS},
    )
    def get(self, request):
        membership = compat.legacy_membership(
            user=request.user, project_id=_project(request), fallback=True
        )
        body = compat.legacy_status(project=membership.project if membership else None)
        return Response(LegacyStatusResponseSerializer(body).data)


class DetectView(LegacyView):
    """Score one point; a writer's point is stored (source api), a viewer's is not."""

    parser_classes = [JSONParser]
    response_serializer = LegacyDetectResponseSerializer

    @legacy_schema(
        "Score one point with the default detector (the original's /api/detect)",
        request=LegacyDetectRequestSerializer,
        responses={200: LegacyDetectResponseSerializer, **ERRORS, **NOT_TRAINED},
        description="Stored as a point (source api) when you may write to the project; a "
        "viewer's point is scored but not stored.",
    )
    def post(self, request):
        return self._score(request)

    def _score(self, request):
        data = _json_body(request)
        detection = compat.legacy_detect(
            user=request.user,
            project_id=_project(request, data),
            features=data.get("features"),
            algorithm=data.get("algorithm"),
        )
        body = {"status": "success", **asdict(detection)}
        return Response(self.response_serializer(body).data)


class PredictView(DetectView):
    """As /api/detect, answered the way the original /predict did."""

    response_serializer = LegacyPredictResponseSerializer

    @legacy_schema(
        "Score one point, scikit-learn style (the original's /predict)",
        request=LegacyDetectRequestSerializer,
        responses={200: LegacyPredictResponseSerializer, **ERRORS, **NOT_TRAINED},
        description="As /api/detect; `prediction` is -1 for an anomaly and 1 for normal.",
    )
    def post(self, request):
        return self._score(request)


class TrainView(LegacyView):
    """Train a detector on the payload, in the request, and make it the default."""

    parser_classes = [JSONParser]

    @legacy_schema(
        "Train a model and make it the default detector (the original's /api/train)",
        request=LegacyTrainRequestSerializer,
        responses={
            200: LegacyTrainResponseSerializer,
            **ERRORS,
            413: OpenApiResponse(LegacyErrorSerializer, description="Too many rows."),
            422: OpenApiResponse(LegacyErrorSerializer, description="The training failed."),
        },
        description="Creates a dataset and a detector from `data`, trains it before answering "
        "and makes it the project's default detector. Owners and editors only.",
    )
    def post(self, request):
        _check_body_size(request)
        data = _json_body(request)
        membership = compat.training_membership(
            user=request.user, project_id=_project(request, data)
        )
        body = compat.legacy_train(
            membership=membership,
            user=request.user,
            algorithm=data.get("algorithm"),
            data=data.get("data", data.get("training_data")),
        )
        return Response(LegacyTrainResponseSerializer(body).data)


class ModelsView(LegacyView):
    """The project's detectors as models, and the algorithms available."""

    @legacy_schema(
        "The project's detectors as models, and the algorithms (the original's /api/models)",
        parameters=[PROJECT_PARAMETER],
        responses={200: LegacyModelsResponseSerializer, **ERRORS},
    )
    def get(self, request):
        membership = compat.legacy_membership(
            user=request.user, project_id=_project(request), fallback=True
        )
        body = compat.legacy_models(project=membership.project if membership else None)
        return Response(LegacyModelsResponseSerializer(body).data)


class ResultsView(LegacyView):
    """The default detector's latest stored points, newest first."""

    @legacy_schema(
        "The default detector's latest stored points (the original's /api/results)",
        parameters=[LegacyResultsQuerySerializer],
        responses={200: LegacyResultsResponseSerializer, **ERRORS},
    )
    def get(self, request):
        query = LegacyResultsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        membership = compat.scoring_membership(
            user=request.user, project_id=query.validated_data.get("project")
        )
        results = compat.legacy_results(
            project=membership.project, limit=query.validated_data["limit"]
        )
        body = {"status": "success", "total": len(results), "results": results}
        return Response(LegacyResultsResponseSerializer(body).data)


class BatchDetectView(LegacyView):
    """Score every row of a file at once; stored (source batch) for writers."""

    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (session auth's CSRF check reads request.POST).
        if request.method == "POST":
            limit_upload(request)
        return super().initialize_request(request, *args, **kwargs)

    @legacy_schema(
        "Score every row of a CSV file (the original's /api/batch-detect)",
        request={"multipart/form-data": LegacyBatchRequestSerializer},
        responses={
            200: LegacyBatchResponseSerializer,
            **ERRORS,
            **NOT_TRAINED,
            413: OpenApiResponse(LegacyErrorSerializer, description="Too many rows or bytes."),
        },
        description="Scored at once; stored (source batch) when you may write to the project. "
        "A file with any problem is refused whole.",
    )
    def post(self, request):
        data = request.data
        raise_if_too_large(request)
        membership = compat.scoring_membership(
            user=request.user, project_id=_project(request, data)
        )
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["attach the CSV as the multipart field `file`"]})
        body = compat.legacy_batch(membership=membership, uploaded_file=upload)
        return Response(LegacyBatchResponseSerializer(body).data)
