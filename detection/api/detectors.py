"""Detectors, their training runs and model versions."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from detection import engine, services
from detection.access import Need, check_access, object_for
from detection.models import Dataset, Detector, ModelVersion

SENSITIVITY_HELP = "A preset (low 0.1%, medium 1%, high 5% false alarms) or a rate in (0, 0.5)."


@extend_schema_field(
    {"oneOf": [{"type": "string", "enum": ["low", "medium", "high"]}, {"type": "number"}]}
)
class SensitivityField(serializers.Field):
    """A preset name or a target false-alarm rate; checked by the engine."""

    default_error_messages = {"invalid": "Sensitivity must be low, medium, high or a number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class DetectorInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    dataset = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    features = serializers.ListField(child=serializers.CharField(), allow_empty=False)
    algorithm = serializers.CharField(default=engine.DEFAULT_ALGORITHM)
    params = serializers.DictField(required=False, default=dict)
    sensitivity = SensitivityField(required=False, default="medium", help_text=SENSITIVITY_HELP)
    missing_policy = serializers.ChoiceField(
        choices=Detector.MissingPolicy.choices, default=Detector.MissingPolicy.REJECT
    )


class VersionBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "number", "status", "progress"]


class DetectorOutputSerializer(serializers.ModelSerializer):
    sensitivity = serializers.SerializerMethodField()
    threshold = serializers.SerializerMethodField()
    active_version = VersionBriefSerializer(read_only=True)

    class Meta:
        model = Detector
        fields = [
            "id",
            "project",
            "name",
            "dataset",
            "features",
            "algorithm",
            "params",
            "sensitivity",
            "false_alarm_rate",
            "threshold",
            "missing_policy",
            "active_version",
            "created_at",
            "updated_at",
        ]

    def get_sensitivity(self, detector: Detector) -> str | float:
        for name, rate in engine.SENSITIVITY_PRESETS.items():
            if abs(rate - detector.false_alarm_rate) < 1e-12:
                return name
        return detector.false_alarm_rate

    def get_threshold(self, detector: Detector) -> float:
        return round(engine.threshold_for(detector.false_alarm_rate), 3)


class ModelVersionSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "detector",
            "number",
            "status",
            "progress",
            "algorithm",
            "params",
            "features",
            "training_metrics",
            "evaluation_metrics",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]


def _dataset(project_id: int, dataset_id: int | None) -> Dataset | None:
    if dataset_id is None:
        return None
    dataset = Dataset.objects.filter(pk=dataset_id, project_id=project_id).first()
    if dataset is None:
        raise serializers.ValidationError(
            {"dataset": [f"No dataset {dataset_id} in this project."]}
        )
    return dataset


def _detectors():
    return Detector.objects.select_related("active_version")


class DetectorListView(APIView):
    @extend_schema(responses=DetectorOutputSerializer(many=True))
    def get(self, request, project_id: int):
        check_access(request.user, project_id)
        detectors = _detectors().filter(project_id=project_id)
        return Response(DetectorOutputSerializer(detectors, many=True).data)

    @extend_schema(request=DetectorInputSerializer, responses={201: DetectorOutputSerializer})
    def post(self, request, project_id: int):
        membership = check_access(request.user, project_id, Need.WRITE)
        given = DetectorInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        data["dataset"] = _dataset(project_id, data.get("dataset"))
        detector = services.detector_create(project=membership.project, user=request.user, **data)
        return Response(DetectorOutputSerializer(detector).data, status=status.HTTP_201_CREATED)


class DetectorDetailView(APIView):
    @extend_schema(responses=DetectorOutputSerializer)
    def get(self, request, detector_id: int):
        detector = object_for(request.user, _detectors(), detector_id)
        return Response(DetectorOutputSerializer(detector).data)

    @extend_schema(
        request=DetectorInputSerializer(partial=True), responses=DetectorOutputSerializer
    )
    def patch(self, request, detector_id: int):
        detector = object_for(request.user, _detectors(), detector_id, Need.WRITE)
        given = DetectorInputSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        changes = dict(given.validated_data)
        if "dataset" in changes:
            changes["dataset"] = _dataset(detector.project_id, changes["dataset"])
        detector = services.detector_update(detector=detector, **changes)
        return Response(DetectorOutputSerializer(detector).data)

    @extend_schema(responses={204: None})
    def delete(self, request, detector_id: int):
        detector = object_for(request.user, Detector.objects.all(), detector_id, Need.WRITE)
        detector.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class DetectorTrainView(APIView):
    @extend_schema(request=None, responses={202: ModelVersionSerializer})
    def post(self, request, detector_id: int):
        detector = object_for(request.user, Detector.objects.all(), detector_id, Need.WRITE)
        version = services.detector_train(detector=detector, user=request.user)
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_202_ACCEPTED)


class ModelVersionListView(APIView):
    @extend_schema(responses=ModelVersionSerializer(many=True))
    def get(self, request, detector_id: int):
        detector = object_for(request.user, Detector.objects.all(), detector_id)
        return Response(ModelVersionSerializer(detector.versions.all(), many=True).data)


class ModelVersionDetailView(APIView):
    @extend_schema(responses=ModelVersionSerializer)
    def get(self, request, detector_id: int, number: int):
        detector = object_for(request.user, Detector.objects.all(), detector_id)
        version = get_object_or_404(detector.versions, number=number)
        return Response(ModelVersionSerializer(version).data)


class ModelVersionActivateView(APIView):
    @extend_schema(
        request=None,
        responses={200: DetectorOutputSerializer, 400: OpenApiResponse(description="Not ready")},
    )
    def post(self, request, detector_id: int, number: int):
        detector = object_for(request.user, Detector.objects.all(), detector_id, Need.WRITE)
        version = get_object_or_404(detector.versions, number=number)
        services.model_version_activate(version=version)
        return Response(DetectorOutputSerializer(_detectors().get(pk=detector.pk)).data)


class AlgorithmListView(APIView):
    """The algorithms a detector can use, with their parameters and defaults."""

    @extend_schema(responses={200: OpenApiResponse(description="Algorithms and parameters")})
    def get(self, request):
        return Response(
            [
                {
                    "name": spec.name,
                    "label": spec.label,
                    "description": spec.description,
                    "default": spec.name == engine.DEFAULT_ALGORITHM,
                    "params": {
                        name: {
                            "kind": p.kind,
                            "default": p.default,
                            "accepts": p.describe(),
                            "help": p.help,
                        }
                        for name, p in spec.params.items()
                    },
                }
                for spec in engine.ALGORITHMS.values()
            ]
        )
